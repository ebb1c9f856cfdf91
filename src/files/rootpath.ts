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
 * Walks `unsafePath` from "/" one component at a time, following the symlink
 * `readLink` finds at each in-root path (every component, the last one only
 * with `followFinal`); `..` and absolute targets stop at "/". Returns the
 * cleaned in-root path. The one walk every root-scoped lookup shares: a plain
 * root, a container's view through its mounts, an image's layers.
 */
export function walkInRoot(unsafePath: string, followFinal: boolean, readLink: (inRoot: string) => string | undefined): string {
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
    const candidate = '/' + [...resolved, part].join('/');
    const target = pending.length > 0 || followFinal ? readLink(candidate) : undefined;
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new PathEscapeError(`too many levels of symbolic links: ${unsafePath}`);
    if (target.startsWith('/')) resolved = [];
    pending = [...target.split('/').filter(Boolean), ...pending];
  }
  return '/' + resolved.join('/');
}

/** The target of the symlink at host path `p`; undefined if it is none or missing (a missing component resolves lexically). */
export function symlinkAt(p: string): string | undefined {
  try {
    return lstatSync(p).isSymbolicLink() ? readlinkSync(p) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Returns the host path for `unsafePath` inside `root`, following symlinks of
 * every component within the root. With `followFinal` false the last component
 * is not followed (for lstat, unlink, or replacing an entry).
 */
export function resolveInRoot(root: string, unsafePath: string, followFinal = true): string {
  const rootClean = posix.normalize(root).replace(/\/+$/, '') || '/';
  const inRoot = walkInRoot(unsafePath, followFinal, (p) => symlinkAt(rootClean === '/' ? p : rootClean + p));
  return inRoot === '/' ? rootClean : (rootClean === '/' ? '' : rootClean) + inRoot;
}

/** True when `p` (already absolute and normalized) is `root` or below it. */
export function isWithin(root: string, p: string): boolean {
  const r = posix.normalize(root).replace(/\/+$/, '');
  const n = posix.normalize(p);
  return n === r || n.startsWith(r + '/');
}

/** A directory (or file) mounted at `destination` of a root (a container's volumes and binds). */
export interface ScopeMount {
  /** Where it shows in the root: an absolute, cleaned in-root path. */
  destination: string;
  /** The host path of its content. */
  source: string;
}

/**
 * A root with mounts on it, resolved as the kernel would show it to a process
 * chrooted there: a path under a mount's destination is in that mount's
 * source, and symlinks anywhere (in the root or in a mount) are followed as
 * if the root were "/". No resolved path is ever outside the root or a mount
 * source: `..` and absolute targets are clamped at the root, and every host
 * path is a source plus components that were checked one by one.
 */
export class ScopedRoot {
  readonly root: string;
  private readonly mounts: ScopeMount[];
  /** Host path of the directory a mount hides (its mount point in the fs below it) -> the mount. */
  private readonly hidden = new Map<string, ScopeMount>();

  constructor(root: string, mounts: ScopeMount[] = []) {
    this.root = posix.normalize(root).replace(/\/+$/, '') || '/';
    // Deepest first, so the longest destination prefix wins.
    this.mounts = mounts.map((m) => ({ destination: cleanInRoot(m.destination), source: posix.normalize(m.source) }))
      .filter((m) => m.destination !== '/')
      .sort((a, b) => b.destination.length - a.destination.length);
    for (const m of this.mounts) this.hidden.set(this.hostOf(m.destination, m), m);
  }

  /** The host path of a resolved in-root path (symlinks already followed). */
  hostOf(clean: string, below?: ScopeMount): string {
    const skip = below ? this.mounts.indexOf(below) : -1;
    for (let i = skip + 1; i < this.mounts.length; i++) {
      const m = this.mounts[i];
      if (skip >= 0 && m.destination.length >= below!.destination.length) continue;
      if (clean === m.destination) return m.source;
      if (clean.startsWith(m.destination + '/')) return m.source + clean.slice(m.destination.length);
    }
    return clean === '/' ? this.root : this.root + clean;
  }

  /** The mount whose destination is exactly `clean`, if any. */
  mountAt(clean: string): ScopeMount | undefined {
    return this.mounts.find((m) => m.destination === clean);
  }

  /** The mount shown over the host path `host` (the mount point of a mount below it), if any. */
  mountOver(host: string): ScopeMount | undefined {
    return this.hidden.get(host);
  }

  /** The mounts shown over directories at or below the host path `host`, nested ones included. */
  mountsBelow(host: string): ScopeMount[] {
    const out: ScopeMount[] = [];
    for (const [hidden, m] of this.hidden) if (isWithin(host, hidden)) out.push(m);
    // A mount inside another mount's source is hidden there, not in `host`.
    for (const m of this.mounts) if (!out.includes(m) && out.some((o) => isWithin(o.source, this.hostOf(m.destination, m)))) out.push(m);
    return out;
  }

  /** The mount (or undefined: the root itself) holding the resolved in-root path `clean`. */
  mountHolding(clean: string): ScopeMount | undefined {
    return this.mounts.find((m) => clean === m.destination || clean.startsWith(m.destination + '/'));
  }

  /**
   * Resolves `unsafePath` to a cleaned in-root path, following symlinks of
   * every component within the scope (the last one too with `followFinal`).
   */
  resolve(unsafePath: string, followFinal = true): string {
    return walkInRoot(unsafePath, followFinal, (p) => symlinkAt(this.hostOf(p)));
  }


  /** The host path of `unsafePath`, resolved in the scope. */
  host(unsafePath: string, followFinal = true): string {
    return this.hostOf(this.resolve(unsafePath, followFinal));
  }

  /** True when the host path `p` is in the root or in a mount's source. */
  contains(p: string): boolean {
    return isWithin(this.root, p) || this.mounts.some((m) => isWithin(m.source, p));
  }
}
