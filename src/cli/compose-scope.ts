// Which project a compose command acts on. Commands that only look at what
// runs (ps, logs, exec, …) need just its name: from the loaded compose file
// when there is one, or from -p alone, as docker compose allows.
import { basename } from 'node:path';
import type { Command } from 'commander';
import { CliError } from './context.ts';

export interface ComposeScope {
  name: string;
  /** Service names the compose file defines, when one was loaded. */
  services?: string[];
}

function composeGroup(cmd: Command): Command {
  let c: Command | null = cmd;
  while (c && c.name() !== 'compose') c = c.parent;
  return c ?? cmd;
}

/** Lower-cased and stripped of what compose does not allow, as compose normalises a directory's name. */
export function normaliseProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

export async function composeScope(cmd: Command): Promise<ComposeScope> {
  const g = composeGroup(cmd).opts<{ projectName?: string; projectDirectory?: string }>();
  const name = g.projectName ?? process.env.COMPOSE_PROJECT_NAME ?? normaliseProjectName(basename(g.projectDirectory ?? process.cwd()));
  if (!name) throw new CliError('project name must not be empty', 1);
  return { name };
}
