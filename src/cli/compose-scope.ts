// Which project a compose command acts on. Commands that only look at what
// runs (ps, logs, exec, …) need just its name, so as docker compose does:
// `-p` alone names it without reading a file; otherwise the compose file is
// loaded (its `name:` or its directory), and when there is none
// COMPOSE_PROJECT_NAME still names the project.
import type { Command } from 'commander';
import { loadProject } from '../compose/load/index.ts';
import type { Project } from '../compose/model.ts';
import { projectFlags, projectLoadOptions } from './compose-project.ts';
import { CliError } from './context.ts';

export interface ComposeScope {
  name: string;
  /** The loaded project, when a compose file was read. */
  project?: Project;
  /** Service names the compose file defines, when one was loaded. */
  services?: string[];
}

/** `needModel`: the command works from the compose file (run), so the file is always read. */
export async function composeScope(cmd: Command, o: { needModel?: boolean } = {}): Promise<ComposeScope> {
  const flags = projectFlags(cmd);
  if (flags.projectName && !flags.file?.length && !o.needModel) return { name: flags.projectName };
  try {
    const project = await loadProject(projectLoadOptions(flags));
    return { name: project.name, project, services: Object.keys(project.services) };
  } catch (err) {
    if (o.needModel) throw err;
    const fromEnv = process.env.COMPOSE_PROJECT_NAME;
    if (fromEnv) return { name: fromEnv };
    throw err;
  }
}

/** `--ansi` and the terminal: whether output may carry colours. */
export function ansiEnabled(cmd: Command, stream: NodeJS.WriteStream = process.stdout): boolean {
  const ansi = projectFlags(cmd).ansi ?? 'auto';
  return ansi === 'always' || (ansi === 'auto' && stream.isTTY === true);
}

/** `--index N` as cobra parses an int flag, with its wording for anything else. */
export function indexFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw new CliError(`invalid argument ${JSON.stringify(v)} for "--index" flag: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`, 1);
  return Number(v);
}
