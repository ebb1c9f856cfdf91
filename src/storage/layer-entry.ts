// A layer tar's entries as the unpack takes them (layer-apply.ts): the
// options an unpack is given, a header validated and normalized with its raw
// PAX records, the whiteout names, and the small filesystem checks every
// kind of entry uses.
import {
  closeSync, constants as C, lstatSync, openSync, readFileSync, type Stats,
} from 'node:fs';
import type { Readable } from 'node:stream';
import type tar from 'tar-stream';
import type { ScopedRoot } from '../files/rootpath.ts';
import { ArchiveError, XATTR_PREFIX } from './tarutil.ts';

export interface ApplyOptions {
  /**
   * true (default): whiteouts become overlayfs whiteouts (0:0 character
   * devices, `trusted.overlay.opaque=y`), for a layer directory used as an
   * overlay lower dir. false: whiteouts delete what they name in `dir`, for
   * flattening layers into one tree.
   */
  overlayWhiteouts?: boolean;
  /** false: extended attributes in the tar are ignored (a build context's are never used). */
  xattrs?: boolean;
  /**
   * A file that may already hold a regular-file entry (by its cleaned path):
   * when its metadata is what the header says, and its bytes too unless
   * `sameContent` (the caller read the entry from it), it is hard-linked
   * instead of written — creating inodes is what an unpack spends its time
   * on. The caller promises the file is never changed in place and has no
   * extended attributes.
   */
  linkFrom?: (clean: string) => { path: string; sameContent: boolean } | undefined;
  /**
   * Filled with the sha256 (hex) of each regular file the tar wrote or
   * linked, by its path on the host; a path something else replaced is
   * dropped. A build's COPY checksums come from here instead of rereading.
   */
  fileDigests?: Map<string, string>;
  /**
   * `cp` into a container (PUT /containers/{id}/archive): entries are placed
   * below the in-scope directory `into` of `scope` (a root with mounts), and
   * their parents, symlinks and hard link targets resolve in the whole scope
   * as in a chroot; `.wh.` names are plain files, not whiteouts.
   */
  copy?: {
    scope: ScopedRoot;
    into: string;
    /** An entry may not replace a directory with a non-directory or the reverse (dockerd's NoOverwriteDirNonDir). */
    noOverwriteDirNonDir?: boolean;
    /** Every entry is owned by this user instead of the tar's ids (`cp -a` into a container with a User). */
    owner?: { uid: number; gid: number };
    /** The owners on disk for the tar's (or `owner`'s): a remapped container's IDs, as its host range. */
    idMap?: (uid: number, gid: number) => { uid: number; gid: number };
  };
  /** false: the diff ID is not computed (a copy has no use for it). */
  digest?: boolean;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar stream, `sha256:<hex>`. */
  diffId: string;
  /** Bytes of regular file content written. */
  size: number;
}

export const WH_PREFIX = '.wh.';
export const WH_META_PREFIX = '.wh..wh.';
export const WH_OPAQUE = '.wh..wh..opq';

export const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
export const EUID = process.geteuid?.() ?? -1;
export const EGID = process.getegid?.() ?? -1;

export interface Meta {
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
}

export interface Header {
  name: string;
  type: string;
  linkname: string;
  size: number;
  devmajor: number;
  devminor: number;
  meta: Meta;
  xattrs: Map<string, Buffer>;
}


export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function lstatOrUndefined(p: string): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}

export function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + '/');
}

function intField(v: number | null | undefined, what: string, name: string, max = 0xffffffff): number {
  const n = v ?? 0;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new ArchiveError(`${name}: invalid ${what} in tar header`);
  return n;
}

function paxNumber(v: Buffer | undefined): number | undefined {
  if (!v) return undefined;
  const s = v.toString('latin1');
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(s)) return undefined;
  return Number(s);
}

/** Validates and normalizes a tar-stream header plus the raw PAX records for it. */
export function normalizeHeader(h: tar.Header, pax: Map<string, Buffer>): Header {
  const name = h.name ?? '';
  const uid = paxNumber(pax.get('uid')) ?? h.uid;
  const gid = paxNumber(pax.get('gid')) ?? h.gid;
  const mtimeSec = paxNumber(pax.get('mtime')) ?? (h.mtime instanceof Date ? h.mtime.getTime() / 1000 : NaN);
  if (!Number.isFinite(mtimeSec)) throw new ArchiveError(`${name}: invalid mtime in tar header`);
  const atimeSec = paxNumber(pax.get('atime')) ?? mtimeSec;
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of pax) {
    if (k.startsWith(XATTR_PREFIX) && k.length > XATTR_PREFIX.length) xattrs.set(k.slice(XATTR_PREFIX.length), v);
  }
  return {
    name,
    type: h.type ?? 'unknown',
    linkname: h.linkname ?? '',
    size: intField(h.size, 'size', name, Number.MAX_SAFE_INTEGER),
    devmajor: intField(h.devmajor, 'device major', name),
    devminor: intField(h.devminor, 'device minor', name),
    meta: {
      mode: intField(h.mode, 'mode', name) & 0o7777,
      uid: intField(uid, 'uid', name, 0xfffffffe),
      gid: intField(gid, 'gid', name, 0xfffffffe),
      atime: Number.isFinite(atimeSec) ? atimeSec : mtimeSec,
      mtime: mtimeSec,
    },
    xattrs,
  };
}

/** `path` is a regular file with exactly the entry's size, mode, owner and mtime. */
export function holdsEntry(path: string, h: Header): boolean {
  const st = lstatOrUndefined(path);
  if (!st?.isFile() || st.size !== h.size || (st.mode & 0o7777) !== h.meta.mode) return false;
  if (isRoot && (st.uid !== h.meta.uid || st.gid !== h.meta.gid)) return false;
  return st.mtimeMs === h.meta.mtime * 1000;
}

export function sameBytes(path: string, data: Buffer): boolean {
  const fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    return readFileSync(fd).equals(data);
  } finally {
    closeSync(fd);
  }
}

/** Never follows or reuses what is at the path: a new inode or EEXIST. */
export const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

/** A new file's descriptor, or undefined when something is at `p` already. */
export function createExclusive(p: string): number | undefined {
  try {
    return openSync(p, CREATE_FLAGS, 0o600);
  } catch (err) {
    if (errno(err) === 'EEXIST') return undefined;
    throw err;
  }
}

export async function drain(stream: Readable): Promise<void> {
  // tar-stream skips the rest of an entry once its stream is resumed.
  stream.resume();
}
