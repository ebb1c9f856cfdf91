// Secrets and configs backed by an environment variable or inline content
// have no file of their own: they are written under the project's state
// directory and bound into the container like file-backed ones. The state is
// the client's (this machine's), which is where compose reads the variable.
import { mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';
import type { Project } from './model.ts';

export function projectStateDir(project: string, env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'berth', 'compose', project);
}

/** Writes the content of every environment/inline-backed secret and config used by a service; keys are `secret:<name>`/`config:<name>`. */
export function writeFileObjects(project: Project, env: Record<string, string | undefined> = process.env, o: { dryRun?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const used = new Set<string>();
  for (const s of Object.values(project.services)) {
    for (const r of s.secrets ?? []) used.add(`secret:${r.source}`);
    for (const r of s.configs ?? []) used.add(`config:${r.source}`);
  }
  for (const key of used) {
    const [kind, name] = key.split(':') as ['secret' | 'config', string];
    const top = kind === 'secret' ? project.secrets[name] : project.configs[name];
    if (!top || top.file || top.external) continue;
    let content: string;
    if (top.environment !== undefined) {
      const v = project.environment[top.environment] ?? env[top.environment];
      if (v === undefined) throw new Error(`environment variable ${top.environment} of ${kind} ${name} is not set`);
      content = v;
    } else {
      content = top.content ?? '';
    }
    const dir = join(projectStateDir(project.name, env), `${kind}s`);
    // Names are the file's keys, checked by the schema; basename-only all the same.
    const path = join(dir, name.replace(/[/\\]/g, '_'));
    out[key] = path;
    if (o.dryRun) continue;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomicSync(path, content, 0o444);
  }
  return out;
}

export function removeProjectState(project: string, env: Record<string, string | undefined> = process.env): void {
  rmSync(projectStateDir(project, env), { recursive: true, force: true });
}
