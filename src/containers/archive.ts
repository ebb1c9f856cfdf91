// `docker cp`'s side in the daemon: HEAD/GET/PUT /containers/{id}/archive.
// A path is resolved as dockerd resolves it in the container's filesystem
// view: inside the container's root, with its volumes and binds (rec.Mounts)
// at their destinations, symlinks followed as if the root were "/" — so a
// symlink to `/` or to a host path names the container's file, never the
// host's. Tars go in and out through the storage layer's tar code with that
// scope (files/rootpath.ts ScopedRoot): no name, symlink or hard link in
// an uploaded tar reaches outside the container's root or its mounts.
import { existsSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ContainerRecord } from '../api/container.ts';
import type { MountPoint } from '../api/mount.ts';
import { ArchiveError, archiveRequestError, InvalidArgumentError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import { resolveUser } from '../runtime/user.ts';
import { applyLayer, writeTar } from '../storage/archive.ts';
import type { SlabSink } from '../files/tar-slabs.ts';
import { PathEscapeError, resolveInRoot, ScopedRoot, type ScopeMount } from '../files/rootpath.ts';
import type { WithMountPoints } from './mounts.ts';
import type { RootfsAccess } from './rootfs-access.ts';
import type { ContainerService } from './service.ts';

/** The X-Docker-Container-Path-Stat header's JSON (dockerd's container.PathStat). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits, as the docker CLI reads them. */
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface ExtractOptions {
  noOverwriteDirNonDir: boolean;
  copyUIDGID: boolean;
}

/** A resolved path: where it is in the container and on the host, and what is mounted there. */
interface Located {
  /** Cleaned in-container path, symlinks followed. */
  clean: string;
  host: string;
  scope: ScopedRoot;
}

export class ContainerArchive {
  private readonly containers: ContainerService;
  private readonly rootfs: RootfsAccess;
  private readonly events: EventBus;

  constructor(containers: ContainerService, rootfs: RootfsAccess, events: EventBus) {
    this.containers = containers;
    this.rootfs = rootfs;
    this.events = events;
  }

  /** HEAD: the stat of `path` (its last component not followed). */
  async stat(ref: string, path: string): Promise<PathStat> {
    const c = this.containers.get(ref);
    return this.containers.frozenDuring(c, () => this.rootfs.with(c, async (dir) => (await this.locateStat(c, ref, dir, path)).stat));
  }

  /**
   * GET: the stat of `path`, and the function that writes its tar to a
   * sink, handed to `send`; the container's filesystem stays available until
   * `send` is done (or its client left: `signal` stops the walk).
   */
  async archive(ref: string, path: string, signal: AbortSignal, send: (stat: PathStat, tar: (sink: SlabSink) => Promise<void>) => Promise<void>): Promise<void> {
    const c = this.containers.get(ref);
    await this.containers.frozenDuring(c, () => this.rootfs.with(c, async (dir, ids) => {
      const { stat, at } = await this.locateStat(c, ref, dir, path);
      const tar = (sink: SlabSink) => writeTar(at.host, sink, { name: baseName(absPath(path)), scope: at.scope, signal, idMap: ids?.toContainer });
      this.events.publish('container', 'archive-path', c.Id, { image: c.Config.Image ?? '', name: c.Name.slice(1) });
      await send(stat, tar);
    }));
  }

  /** PUT: extracts the tar `input` into the directory `path`. */
  async extract(ref: string, path: string, input: Readable, o: ExtractOptions): Promise<void> {
    const c = this.containers.get(ref);
    try {
      await this.containers.frozenDuring(c, () => this.rootfs.with(c, async (dir, ids) => {
        const scope = scopeOf(c, dir);
        // The last component is followed too: extracting to a symlink to a directory is allowed.
        const at = locate(scope, absPath(path), true);
        const st = await lstat(at.host).catch((err: NodeJS.ErrnoException) => {
          throw statFailure(err, absPath(path), path, ref);
        });
        if (!st.isDirectory()) throw new InvalidArgumentError('extraction point is not a directory');
        const mount = scope.mountHolding(at.clean);
        if (mount) {
          const mp = mountPoints(c).find((m) => m.Destination !== undefined && posix.normalize(m.Destination) === mount.destination);
          if (mp && mp.RW === false) throw new InvalidArgumentError('mounted volume is marked read-only');
        } else if (c.HostConfig.ReadonlyRootfs) {
          throw new InvalidArgumentError('container rootfs is marked read-only');
        }
        let owner: { uid: number; gid: number } | undefined;
        if (o.copyUIDGID && c.Config.User) {
          const u = resolveUser(dir, c.Config.User);
          owner = { uid: u.uid, gid: u.gid };
        }
        await applyLayer(at.host, input, {
          digest: false,
          copy: { scope, into: at.clean, noOverwriteDirNonDir: o.noOverwriteDirNonDir, owner, idMap: ids?.toHost },
        });
      }));
    } catch (err) {
      input.resume();
      if (err instanceof ArchiveError) throw archiveRequestError(err);
      throw err;
    }
    this.events.publish('container', 'extract-to-dir', c.Id, { image: c.Config.Image ?? '', name: c.Name.slice(1) });
  }

  private async locateStat(c: ContainerRecord, ref: string, dir: string, path: string): Promise<{ stat: PathStat; at: Located }> {
    const scope = scopeOf(c, dir);
    const abs = absPath(path);
    const at = locate(scope, abs, assertsDirectory(abs));
    let st;
    try {
      st = await lstat(at.host, { bigint: true });
    } catch (err) {
      throw statFailure(err as NodeJS.ErrnoException, abs, path, ref);
    }
    if (assertsDirectory(abs) && !st.isDirectory()) throw new InvalidArgumentError(`lstat ${abs}: not a directory`);
    let linkTarget = '';
    if (st.isSymbolicLink()) linkTarget = scope.resolve(abs, true);
    const stat: PathStat = {
      name: baseName(abs),
      size: Number(st.size),
      mode: goFileMode(Number(st.mode)),
      mtime: goTime(st.mtimeNs),
      linkTarget,
    };
    return { stat, at };
  }
}

/** The header value: base64 of the stat's JSON. */
export function encodePathStat(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

function fileNotFound(path: string, ref: string): NotFoundError {
  return new NotFoundError(`Could not find the file ${path} in container ${ref}`);
}

/** A path that cannot be looked up is the client's mistake (404 or 400, in Go's words); anything else is the daemon's. */
function statFailure(err: NodeJS.ErrnoException, abs: string, path: string, ref: string): Error {
  switch (err.code) {
    case 'ENOENT': return fileNotFound(path, ref);
    case 'ENOTDIR': return new InvalidArgumentError(`lstat ${abs}: not a directory`);
    case 'ENAMETOOLONG': return new InvalidArgumentError(`lstat ${abs}: file name too long`);
    case 'ELOOP': return new InvalidArgumentError(`lstat ${abs}: too many levels of symbolic links`);
    default: return err;
  }
}

/** A hostile or impossible tar is the client's mistake; a failing disk is not. */
function mountPoints(c: ContainerRecord): MountPoint[] {
  return c.Mounts ?? [];
}

/**
 * The container's root at `dir` with its volumes and binds at their
 * destinations, and the files the daemon writes for it (hostname, hosts,
 * resolv.conf) over theirs, as dockerd's view of a container has them.
 */
function scopeOf(c: ContainerRecord, dir: string): ScopedRoot {
  const mounts: ScopeMount[] = [];
  for (const [destination, source] of [['/etc/hostname', c.HostnamePath], ['/etc/hosts', c.HostsPath], ['/etc/resolv.conf', c.ResolvConfPath]]) {
    if (source && existsSync(source)) mounts.push({ destination, source });
  }
  const points = (c as WithMountPoints).berthMountPoints ?? [];
  for (const m of mountPoints(c)) {
    // A tmpfs (no source) is the container's own: from outside, its mount point is all there is.
    if (!m.Source || !m.Destination || (m.Type !== 'volume' && m.Type !== 'bind')) continue;
    // A volume-subpath mount shows only that directory of the volume (inspect's Source is the volume's).
    const sub = points.find((p) => p.Destination === m.Destination)?.Spec.VolumeOptions?.Subpath;
    mounts.push({ destination: m.Destination, source: sub ? resolveInRoot(m.Source, sub) : m.Source });
  }
  return new ScopedRoot(dir, mounts);
}

/**
 * Resolves `abs` in the scope: every component before the last is followed;
 * the last only with `followFinal` (a trailing `/` or `/.` asks for it, as
 * lstat does for such a path).
 */
function locate(scope: ScopedRoot, abs: string, followFinal: boolean): Located {
  let clean: string;
  try {
    clean = scope.resolve(abs, followFinal);
  } catch (err) {
    if (err instanceof PathEscapeError) throw new InvalidArgumentError(err.message);
    throw err;
  }
  return { clean, host: scope.hostOf(clean), scope };
}

/** The path as dockerd takes it: absolute, cleaned, keeping a trailing `/` or `/.`. */
export function absPath(path: string): string {
  let out = posix.normalize('/' + path);
  if (out.length > 1) out = out.replace(/\/+$/, '');
  if (/(^|\/)\.$/.test(path) && !/(^|\/)\.$/.test(out)) out += out.endsWith('/') ? '.' : '/.';
  if (path.endsWith('/') && !out.endsWith('/')) out += '/';
  return out;
}

function assertsDirectory(p: string): boolean {
  return p.endsWith('/') || /(^|\/)\.$/.test(p);
}

/** Go's filepath.Base. */
export function baseName(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return p === '' ? '.' : '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** A Unix st_mode as Go's os.FileMode. */
export function goFileMode(mode: number): number {
  let out = mode & 0o777;
  if (mode & 0o4000) out += 2 ** 23; // ModeSetuid
  if (mode & 0o2000) out += 2 ** 22; // ModeSetgid
  if (mode & 0o1000) out += 2 ** 20; // ModeSticky
  switch (mode & 0o170000) {
    case 0o040000: return out + 2 ** 31; // ModeDir
    case 0o120000: return out + 2 ** 27; // ModeSymlink
    case 0o060000: return out + 2 ** 26; // ModeDevice
    case 0o020000: return out + 2 ** 26 + 2 ** 21; // ModeDevice|ModeCharDevice
    case 0o010000: return out + 2 ** 25; // ModeNamedPipe
    case 0o140000: return out + 2 ** 24; // ModeSocket
    default: return out;
  }
}

/** A time as Go's time.Time marshals to JSON (RFC 3339 with nanoseconds, trailing zeros cut). */
function goTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const iso = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  return `${iso}${frac ? '.' + frac : ''}Z`;
}
