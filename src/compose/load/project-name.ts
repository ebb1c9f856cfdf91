// The project name: -p, COMPOSE_PROJECT_NAME, the top-level `name:`, or the
// project directory's name, in that order; lower-case [a-z0-9][a-z0-9_-]*.
import { basename } from 'node:path';
import { ComposeError } from './errors.ts';

const VALID = /^[a-z0-9][a-z0-9_-]*$/;

export function invalidProjectName(v: string): ComposeError {
  return new ComposeError(`invalid project name ${JSON.stringify(v)}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`);
}

/** A directory's name made a valid project name, as compose does (lower-cased, other characters dropped). */
export function normaliseProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

export function chooseProjectName(flag: string | undefined, env: Record<string, string>, topLevel: unknown, workingDir: string): string {
  for (const explicit of [flag, env.COMPOSE_PROJECT_NAME, typeof topLevel === 'string' ? topLevel : undefined]) {
    if (explicit === undefined || explicit === '') continue;
    if (!VALID.test(explicit)) throw invalidProjectName(explicit);
    return explicit;
  }
  const name = normaliseProjectName(basename(workingDir));
  if (name === '') throw new ComposeError('project name must not be empty');
  return name;
}
