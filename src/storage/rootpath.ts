// Resolving a path inside a root directory as if the root were "/": symlinks
// are followed, but an absolute target or a `..` that would climb above the
// root is clamped at the root. Everything that reads or writes inside an image
// or container filesystem goes through here, so a hostile symlink can never
// point the engine at a file of the host.
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

const MAX_SYMLINKS = 255;

export class PathEscapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathEscapeError';
  }
}

/** Lexically cleans `p` as an absolute path below "/" (no `..` can leave it). */
export function cleanInRoot(p: string): string {
  return posix.normalize('/' + p).replace(/\/+$/, '') || '/';
}

/**
 * Returns the host path for `unsafePath` inside `root`, following symlinks of
 * every component within the root. With `followFinal` false the last component
 * is not followed (for lstat, unlink, or replacing an entry).
 */
export function resolveInRoot(root: string, unsafePath: string, followFinal = true): string {
  const rootClean = posix.normalize(root).replace(/\/+$/, '') || '/';
  let pending = cleanInRoot(unsafePath).split('/').filter(Boolean);
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = rootClean + '/' + [...resolved, part].join('/');
    const isFinal = pending.length === 0;
    let target: string | undefined;
    if (!isFinal || followFinal) {
      try {
        if (lstatSync(candidate).isSymbolicLink()) target = readlinkSync(candidate);
      } catch {
        // A missing component resolves lexically; the caller creates or fails.
      }
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new PathEscapeError(`too many levels of symbolic links: ${unsafePath}`);
    if (target.startsWith('/')) resolved = [];
    pending = [...target.split('/').filter(Boolean), ...pending];
  }
  return resolved.length === 0 ? rootClean : rootClean + '/' + resolved.join('/');
}

/** True when `p` (already absolute and normalized) is `root` or below it. */
export function isWithin(root: string, p: string): boolean {
  const r = posix.normalize(root).replace(/\/+$/, '');
  const n = posix.normalize(p);
  return n === r || n.startsWith(r + '/');
}
