// Which compose files a project is made of: -f flags, COMPOSE_FILE, or
// compose.yaml & co. looked up from the working directory upward, with the
// override file beside it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ComposeError } from './errors.ts';

/** The names compose looks for, in its order of preference. */
export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
const OVERRIDES: Record<string, string[]> = {
  'compose.yaml': ['compose.override.yaml', 'compose.override.yml'],
  'compose.yml': ['compose.override.yml', 'compose.override.yaml'],
  'docker-compose.yml': ['docker-compose.override.yml', 'docker-compose.override.yaml'],
  'docker-compose.yaml': ['docker-compose.override.yaml', 'docker-compose.override.yml'],
};

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** The first directory from `dir` upward holding a compose file: its file and override. */
export function findDefaultFiles(dir: string): string[] {
  let d = resolve(dir);
  for (;;) {
    for (const name of DEFAULT_FILES) {
      const f = join(d, name);
      if (!isFile(f)) continue;
      const override = OVERRIDES[name].map((o) => join(d, o)).find(isFile);
      return override ? [f, override] : [f];
    }
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  throw new ComposeError('no configuration file provided: not found');
}

export interface SourceFile {
  /** Absolute path, or "-" for stdin. */
  path: string;
  text: string;
}

let stdinText: string | undefined;

export function readSource(path: string): SourceFile {
  if (path === '-') {
    // stdin can be read once; a second `-f -` sees the same text.
    stdinText ??= readFileSync(0, 'utf8');
    return { path: '-', text: stdinText };
  }
  if (!existsSync(path)) throw new ComposeError(`open ${path}: no such file or directory`);
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new ComposeError(`read ${path}: is a directory`);
    throw new ComposeError(`failed to read ${path}: ${(err as Error).message}`);
  }
}

/** A process that runs another command (the resident CLI, ADR 0010) reads that command's stdin anew. */
export function forgetStdin(): void {
  stdinText = undefined;
}
