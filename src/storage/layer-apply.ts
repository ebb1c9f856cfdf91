// Unpacking a layer tar into a directory with chroot-like semantics. Every
// tar from outside is hostile, so:
//
// - entry names are cleaned into the root (`../` cannot climb out) and their
//   parent directories are resolved with resolveInRoot, so a symlink in the
//   layer (even `a -> /etc`) is followed as if the root were "/";
// - an existing final component is always unlinked and created anew, never
//   opened or followed (O_CREAT|O_EXCL|O_NOFOLLOW);
// - hard link targets are resolved the same way and must be an existing
//   non-directory inside the root; link(2) on Linux does not follow a
//   symlink, so a link to a symlink links the symlink;
// - symlink targets are stored as given; nothing here ever follows one except
//   through resolveInRoot;
// - every path handed to an external tool or to a deferred chmod/utimes is a
//   path whose components were real directories when it was recorded, and
//   every deferred operation under a path is dropped when that path is
//   removed, so no later entry can redirect it.
//
// The common entries (files, directories, symlinks, hard links) use Node's fs
// only. Device nodes, fifos and the first overlay whiteout are made by
// mknod/mkfifo, batched into one shell per flush; further whiteouts are hard
// links to the first one (the kernel's overlayfs shares whiteout inodes the
// same way). xattrs are set in batches with `setfattr --restore`.
import { createHash } from 'node:crypto';
import {
  closeSync, constants as C, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync,
  mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, chmodSync, writev, writevSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { decompress } from '../files/compression.ts';
import { cleanInRoot, isWithin, resolveInRoot, type ScopedRoot } from '../files/rootpath.ts';
import { ArchiveError, isPlainXattrName, parsePaxRecords, quoteAttrText, runTool, XATTR_PREFIX } from './tarutil.ts';
import { FileWrites, MAX_BODY, type FileBody } from './file-writes.ts';

const writevAsync = promisify(writev);

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

/** Entries up to this size are compared with a linkFrom candidate before it is linked. */
const MAX_COMPARED = 1 << 20;

export interface ApplyResult {
  /** sha256 of the uncompressed tar stream, `sha256:<hex>`. */
  diffId: string;
  /** Bytes of regular file content written. */
  size: number;
}

const WH_PREFIX = '.wh.';
const WH_META_PREFIX = '.wh..wh.';
const WH_OPAQUE = '.wh..wh..opq';

/** Batch sizes for the external tools. */
const NODE_BATCH = 256;
const XATTR_BATCH_BYTES = 1 << 20;
/** File content is written in writev batches of about this size. */
const WRITE_BATCH = 1 << 20;

const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

type Kind = 'c' | 'b' | 'p';

interface PendingNode {
  path: string;
  kind: Kind;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  /** Whiteouts keep the 0:0 root-owned mode-0 node mknod makes. */
  whiteout: boolean;
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
}

interface Header {
  name: string;
  type: string;
  linkname: string;
  size: number;
  devmajor: number;
  devminor: number;
  meta: Meta;
  xattrs: Map<string, Buffer>;
}

/** Shape of tar-stream 3.2's Extract internals that we hook for raw PAX bytes. */
interface ExtractInternals {
  _header: { type?: string | null } | null;
  _decodeLongHeader(buf: Buffer): void;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function lstatOrUndefined(p: string): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}

function isUnder(p: string, dir: string): boolean {
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
function normalizeHeader(h: tar.Header, pax: Map<string, Buffer>): Header {
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
function holdsEntry(path: string, h: Header): boolean {
  const st = lstatOrUndefined(path);
  if (!st?.isFile() || st.size !== h.size || (st.mode & 0o7777) !== h.meta.mode) return false;
  if (isRoot && (st.uid !== h.meta.uid || st.gid !== h.meta.gid)) return false;
  return st.mtimeMs === h.meta.mtime * 1000;
}

function sameBytes(path: string, data: Buffer): boolean {
  const fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    return readFileSync(fd).equals(data);
  } finally {
    closeSync(fd);
  }
}

/** Never follows or reuses what is at the path: a new inode or EEXIST. */
const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

/** A new file's descriptor, or undefined when something is at `p` already. */
function createExclusive(p: string): number | undefined {
  try {
    return openSync(p, CREATE_FLAGS, 0o600);
  } catch (err) {
    if (errno(err) === 'EEXIST') return undefined;
    throw err;
  }
}

async function drain(stream: Readable): Promise<void> {
  // tar-stream skips the rest of an entry once its stream is resumed.
  stream.resume();
}

class Extractor {
  private readonly root: string;
  private readonly overlay: boolean;
  size = 0;

  /** Cleaned in-tar directory path -> host path known to be a real directory. */
  private readonly dirCache = new Map<string, string>();
  /** Directory metadata, applied after all content (host path -> meta). */
  private readonly dirMeta = new Map<string, Meta>();
  /** xattrs to set (host path -> name -> value). */
  private readonly xattrQueue = new Map<string, Map<string, Buffer>>();
  private xattrBytes = 0;
  /** Device nodes and fifos to create. */
  private nodeQueue: PendingNode[] = [];
  private readonly nodePaths = new Set<string>();
  /** An existing whiteout of this layer that further whiteouts hard-link to. */
  private whiteoutTemplate: { path: string; pending: boolean } | undefined;
  /** Flattening mode: paths placed by this layer and their ancestors. */
  private readonly keep = new Set<string>();

  private readonly opts: ApplyOptions;
  private readonly copy: ApplyOptions['copy'];

  /** Files being written off the main thread (file-writes.ts). */
  private readonly writes = new FileWrites();
  /** Host paths of directories this unpack made (or found empty): only what this tar placed is in them. */
  private readonly freshDirs = new Set<string>();
  /** Fresh directories whose new files are the daemon's, owner and group (needsChown). */
  private readonly ownDirs = new Set<string>();
  /** Host paths this unpack placed something at. */
  private readonly placed = new Set<string>();

  constructor(root: string, opts: ApplyOptions) {
    this.root = root;
    this.overlay = opts.overlayWhiteouts !== false && !opts.copy;
    this.opts = opts;
    this.copy = opts.copy;
    if (readdirSync(root).length === 0) this.freshDirs.add(root);
  }

  /**
   * Waits for the files in flight; one that found its path taken meanwhile
   * (a container's process made it) is placed over it now, in tar order.
   */
  async settleWrites(): Promise<void> {
    for (const b of await this.writes.settle()) {
      const existing = lstatOrUndefined(b.path);
      if (existing?.isDirectory() && this.copy?.noOverwriteDirNonDir) {
        throw new ArchiveError(`cannot overwrite directory ${JSON.stringify(b.shown)} with non-directory in ${JSON.stringify(this.copy.into)}`);
      }
      if (existing) await this.remove(b.path, existing);
      const meta = { mode: b.mode, uid: b.owner?.uid ?? 0, gid: b.owner?.gid ?? 0, atime: b.atime, mtime: b.mtime };
      this.size -= b.size; // counted again by writeFile
      await this.writeFile(b.path, { name: b.name, size: b.size, meta }, b.chunks);
    }
  }

  /** Nothing is written after this returns (a failed unpack's directory may be removed). */
  abandon(): Promise<void> {
    return this.writes.abandon();
  }

  /** Host path of an entry's cleaned name, every component resolved in the root (or the copy's scope). */
  private resolve(clean: string, followFinal: boolean): string {
    if (!this.copy) return resolveInRoot(this.root, clean, followFinal);
    return this.copy.scope.host(posix.join(this.copy.into, clean), followFinal);
  }

  private inside(host: string): boolean {
    return this.copy ? this.copy.scope.contains(host) : isWithin(this.root, host);
  }

  /** The path from the tar's point of view, for messages: in-container for a copy. */
  private shown(clean: string): string {
    return this.copy ? posix.join(this.copy.into, clean) : clean;
  }

  private host(parent: string, base: string): string {
    return parent === '/' ? '/' + base : `${parent}/${base}`;
  }

  /**
   * The host path of the directory `clean` (a cleaned in-tar path), with every
   * component resolved inside the root. With `create` missing components are
   * made (0755, like Docker); without it undefined is returned for a missing
   * directory.
   */
  private async resolveDir(clean: string, create: boolean): Promise<string | undefined> {
    if (clean === '/') return this.root;
    const cached = this.dirCache.get(clean);
    if (cached !== undefined) return cached;
    let host: string;
    try {
      host = this.resolve(clean, true);
    } catch (err) {
      throw new ArchiveError(`${clean}: ${(err as Error).message}`, { cause: err });
    }
    if (!this.inside(host)) throw new ArchiveError(`${clean}: path escapes the layer`);
    // A device node still waiting for mknod, or a file in flight, must not be taken for a missing directory.
    if (this.nodeQueue.length > 0) await this.flushNodes();
    if (this.writes.has(host)) await this.settleWrites();
    const st = lstatOrUndefined(host);
    if (!st) {
      if (!create) return undefined;
      try {
        mkdirSync(host, { recursive: true, mode: 0o755 });
      } catch (err) {
        throw new ArchiveError(`${clean}: cannot create parent directory: ${(err as Error).message}`, { cause: err });
      }
    } else if (!st.isDirectory()) {
      if (!create) return undefined;
      throw new ArchiveError(`${clean}: parent is not a directory`);
    }
    this.dirCache.set(clean, host);
    return host;
  }

  private markKept(p: string): void {
    if (this.overlay || this.copy) return;
    for (let q = p; isWithin(this.root, q) && q !== this.root && !this.keep.has(q); q = posix.dirname(q)) this.keep.add(q);
  }

  /** Removes an existing entry, dropping every deferred operation below it. */
  private async remove(p: string, st: Stats): Promise<void> {
    if (this.nodeQueue.length > 0) await this.flushNodes();
    await this.settleWrites();
    this.freshDirs.clear();
    this.ownDirs.clear();
    if (st.isDirectory()) {
      rmSync(p, { recursive: true, force: true });
      this.dirCache.clear();
      for (const k of this.dirMeta.keys()) if (isUnder(k, p)) this.dirMeta.delete(k);
      for (const k of this.xattrQueue.keys()) if (isUnder(k, p)) this.xattrQueue.delete(k);
      if (this.whiteoutTemplate && isUnder(this.whiteoutTemplate.path, p)) this.whiteoutTemplate = undefined;
    } else {
      unlinkSync(p);
      if (st.isSymbolicLink()) this.dirCache.clear();
      this.xattrQueue.delete(p);
      if (this.whiteoutTemplate?.path === p) this.whiteoutTemplate = undefined;
    }
  }

  async place(raw: tar.Header, stream: Readable, pax: Map<string, Buffer>): Promise<void> {
    const h = normalizeHeader(raw, pax);
    if (this.copy?.owner) {
      h.meta.uid = this.copy.owner.uid;
      h.meta.gid = this.copy.owner.gid;
    }
    if (this.copy?.idMap) Object.assign(h.meta, this.copy.idMap(h.meta.uid, h.meta.gid));
    if (this.copy) {
      // dockerd's Untar refuses a name that climbs out of the extraction point (a layer's is clamped).
      const rel = posix.normalize(h.name.replace(/^\/+/, '') || '.');
      if (rel === '..' || rel.startsWith('../')) throw new ArchiveError(`${JSON.stringify(h.name)} is outside of ${JSON.stringify(this.copy.into)}`);
    }
    const clean = cleanInRoot(h.name);
    if (clean === '/') {
      // The root itself: the layer directory keeps its own metadata (as Docker).
      if (h.type !== 'directory') throw new ArchiveError(`${h.name}: the root of a layer must be a directory`);
      return drain(stream);
    }
    const parentClean = posix.dirname(clean);
    const base = posix.basename(clean);

    // AUFS metadata (.wh..wh.plnk and friends) is not content; only the opaque marker means something.
    const top = clean.split('/')[1];
    if (!this.copy && (top.startsWith(WH_META_PREFIX) || base.startsWith(WH_META_PREFIX)) && base !== WH_OPAQUE) return drain(stream);

    const isFile = h.type === 'file' || h.type === 'contiguous-file';
    // Anything but a new file or directory may touch a file in flight: they finish first.
    if (!isFile && h.type !== 'directory') await this.settleWrites();

    if (!this.copy && base.startsWith(WH_PREFIX)) {
      await drain(stream);
      if (base === WH_OPAQUE) return this.opaque(parentClean);
      const name = base.slice(WH_PREFIX.length);
      if (name === '' || name === '.' || name === '..') throw new ArchiveError(`${h.name}: invalid whiteout`);
      return this.whiteout(parentClean, name);
    }

    const parent = (await this.resolveDir(parentClean, true)) as string;
    const p = this.host(parent, base);
    if (!this.inside(p) || p === this.root) throw new ArchiveError(`${h.name}: path escapes the layer`);
    if (this.copy) {
      // A mount point is the mount's root: its content is the mount's, and
      // it is never replaced (the kernel would refuse: it is busy).
      const m = this.copy.scope.mountOver(p);
      if (m) {
        if (h.type !== 'directory' || !lstatOrUndefined(m.source)?.isDirectory()) {
          throw new ArchiveError(`cannot overwrite mount point ${JSON.stringify(m.destination)}`);
        }
        return drain(stream);
      }
    }
    if (this.nodePaths.has(p)) await this.flushNodes();
    if (this.writes.has(p)) await this.settleWrites();
    if (isFile && this.freshDirs.has(parent) && !this.placed.has(p) && !this.opts.linkFrom && h.size <= MAX_BODY && (h.xattrs.size === 0 || this.opts.xattrs === false)) {
      // A new name in a directory this unpack made: nothing can be there, so the file is written off the main thread.
      return this.writeLater(p, h, clean, stream);
    }
    this.placed.add(p);
    // A regular file is created first (O_EXCL, as before): only when something
    // is there already is it looked at, which saves an lstat per file of a fresh tree.
    const fd = isFile && !this.opts.linkFrom ? createExclusive(p) : undefined;
    const existing = fd === undefined ? lstatOrUndefined(p) : undefined;
    if (existing && this.copy?.noOverwriteDirNonDir) {
      const dest = JSON.stringify(this.copy.into);
      if (existing.isDirectory() && h.type !== 'directory') {
        throw new ArchiveError(`cannot overwrite directory ${JSON.stringify(this.shown(clean))} with non-directory in ${dest}`);
      }
      if (!existing.isDirectory() && h.type === 'directory') {
        throw new ArchiveError(`cannot overwrite non-directory ${JSON.stringify(this.shown(clean))} with directory in ${dest}`);
      }
    }
    this.markKept(p);
    this.opts.fileDigests?.delete(p);

    switch (h.type) {
      case 'directory': {
        await drain(stream);
        if (existing && !existing.isDirectory()) await this.remove(p, existing);
        if (!existing?.isDirectory()) {
          mkdirSync(p, { mode: 0o700 });
          this.freshDirs.add(p);
          const made = lstatSync(p);
          if (!(made.mode & 0o2000) && made.gid === EGID) this.ownDirs.add(p);
        }
        this.dirMeta.set(p, h.meta);
        this.dirCache.set(clean, p);
        break;
      }
      case 'file':
      case 'contiguous-file': {
        if (existing) await this.remove(p, existing);
        const candidate = h.xattrs.size === 0 ? this.opts.linkFrom?.(clean) : undefined;
        if (candidate && (candidate.sameContent || h.size <= MAX_COMPARED) && holdsEntry(candidate.path, h)) {
          let data: Buffer[] | undefined;
          if (!candidate.sameContent) {
            data = [];
            for await (const chunk of stream) data.push(chunk as Buffer);
          } else await drain(stream);
          const bytes = data && Buffer.concat(data);
          if (!bytes || sameBytes(candidate.path, bytes)) {
            linkSync(candidate.path, p);
            if (bytes) this.opts.fileDigests?.set(p, createHash('sha256').update(bytes).digest('hex'));
            this.size += h.size;
            return;
          }
          await this.writeFile(p, h, data as Buffer[]);
          break;
        }
        await this.writeFile(p, h, stream, fd);
        break;
      }
      case 'symlink': {
        await drain(stream);
        if (h.linkname === '') throw new ArchiveError(`${h.name}: symlink with an empty target`);
        if (existing) await this.remove(p, existing);
        symlinkSync(h.linkname, p);
        if (isRoot) lchownSync(p, h.meta.uid, h.meta.gid);
        lutimesSync(p, h.meta.atime, h.meta.mtime);
        break;
      }
      case 'link': {
        await drain(stream);
        await this.hardLink(p, h, existing);
        return; // the inode's metadata and xattrs are the target's
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(stream);
        if (existing) await this.remove(p, existing);
        const kind: Kind = h.type === 'fifo' ? 'p' : h.type === 'character-device' ? 'c' : 'b';
        this.queueNode({ path: p, kind, major: h.devmajor, minor: h.devminor, ...h.meta, whiteout: false });
        break;
      }
      default:
        throw new ArchiveError(`${h.name}: unsupported tar entry type ${h.type}`);
    }
    if (h.xattrs.size > 0 && this.opts.xattrs !== false) this.queueXattrs(p, h.xattrs);
    if (this.xattrBytes > XATTR_BATCH_BYTES) await this.flushXattrs();
  }

  /**
   * A new file is the daemon's (its euid and egid) in a directory this unpack
   * made with the daemon's group and no setgid bit (one made in a setgid
   * directory inherits both): its chown to those ids would change nothing, and
   * one thread-pool round trip fewer per file counts.
   */
  private needsChown(p: string, m: Meta): boolean {
    if (!isRoot) return false;
    return m.uid !== EUID || m.gid !== EGID || !this.ownDirs.has(posix.dirname(p));
  }

  /** Reads the file's body and hands it to the file writer threads (file-writes.ts). */
  private async writeLater(p: string, h: Header, clean: string, stream: Readable): Promise<void> {
    this.placed.add(p);
    this.markKept(p);
    this.opts.fileDigests?.delete(p);
    const chunks: Buffer[] = [];
    let size = 0;
    const digest = this.opts.fileDigests && createHash('sha256');
    for await (const chunk of stream) {
      digest?.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    if (size !== h.size) throw new ArchiveError(`${h.name}: truncated file content`);
    const body: FileBody = {
      path: p, name: h.name, shown: this.shown(clean), size, mode: h.meta.mode,
      owner: this.needsChown(p, h.meta) ? { uid: h.meta.uid, gid: h.meta.gid } : undefined, atime: h.meta.atime, mtime: h.meta.mtime,
    };
    await this.writes.add(body, chunks);
    if (digest) this.opts.fileDigests?.set(p, digest.digest('hex'));
    this.size += size;
  }

  /** `created`: the file's descriptor when it was just made by createExclusive. */
  private async writeFile(p: string, h: Pick<Header, 'name' | 'size' | 'meta'>, stream: AsyncIterable<unknown> | Iterable<Buffer>, created?: number): Promise<void> {
    const fd = created ?? openSync(p, CREATE_FLAGS, 0o600);
    try {
      let batch: Buffer[] = [];
      let batchLen = 0;
      let written = 0;
      const small = h.size <= WRITE_BATCH;
      const flush = async () => {
        let bufs = batch;
        let left = batchLen;
        batch = [];
        batchLen = 0;
        while (left > 0) {
          // A small file in one synchronous writev: the thread-pool round trip costs more than the copy.
          const n = small ? writevSync(fd, bufs) : (await writevAsync(fd, bufs)).bytesWritten;
          written += n;
          left -= n;
          if (left === 0) break;
          // Short write: drop what went out and retry the rest.
          let skip = n;
          while (skip >= bufs[0].length) skip -= (bufs.shift() as Buffer).length;
          bufs = [bufs[0].subarray(skip), ...bufs.slice(1)];
        }
      };
      const digest = this.opts.fileDigests && createHash('sha256');
      for await (const chunk of stream) {
        digest?.update(chunk as Buffer);
        batch.push(chunk as Buffer);
        batchLen += (chunk as Buffer).length;
        if (batchLen >= WRITE_BATCH) await flush();
      }
      if (batchLen > 0) await flush();
      if (written !== h.size) throw new ArchiveError(`${h.name}: truncated file content`);
      if (digest) this.opts.fileDigests?.set(p, digest.digest('hex'));
      this.size += written;
      // chown before chmod: chown clears setuid/setgid bits.
      if (isRoot) fchownSync(fd, h.meta.uid, h.meta.gid);
      fchmodSync(fd, h.meta.mode);
      futimesSync(fd, h.meta.atime, h.meta.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private async hardLink(p: string, h: Header, existing: Stats | undefined): Promise<void> {
    if (h.linkname === '') throw new ArchiveError(`${h.name}: hard link without a target`);
    let target: string;
    try {
      target = this.resolve(cleanInRoot(h.linkname), false);
    } catch (err) {
      throw new ArchiveError(`${h.name}: hard link target ${h.linkname}: ${(err as Error).message}`, { cause: err });
    }
    if (!this.inside(target) || target === this.root) {
      throw new ArchiveError(`${h.name}: hard link target ${h.linkname} is outside the layer`);
    }
    if (this.nodePaths.has(target)) await this.flushNodes();
    const st = lstatOrUndefined(target);
    if (!st) throw new ArchiveError(`${h.name}: hard link target ${h.linkname} does not exist in the layer`);
    if (st.isDirectory()) throw new ArchiveError(`${h.name}: hard link to a directory (${h.linkname})`);
    if (target === p) return; // a link to itself: already there
    if (existing) {
      if (existing.dev === st.dev && existing.ino === st.ino) return;
      await this.remove(p, existing);
    }
    linkSync(target, p);
  }

  /** `.wh.NAME` in the directory `parentClean`. */
  private async whiteout(parentClean: string, name: string): Promise<void> {
    const parent = await this.resolveDir(parentClean, this.overlay);
    if (parent === undefined) return; // flattening: nothing there to delete
    const p = this.host(parent, name);
    if (!isWithin(this.root, p) || p === this.root) throw new ArchiveError(`${parentClean}/${WH_PREFIX}${name}: path escapes the layer`);
    if (this.nodePaths.has(p)) await this.flushNodes();
    const existing = lstatOrUndefined(p);
    if (!this.overlay) {
      // Whiteouts hide lower layers only, never what this layer put there.
      if (existing && !this.keep.has(p)) await this.remove(p, existing);
      return;
    }
    // In a fresh layer directory anything already there came from this layer
    // and hides the lower path by itself.
    if (existing) return;
    const t = this.whiteoutTemplate;
    if (t) {
      if (t.pending) await this.flushNodes();
      try {
        linkSync(t.path, p);
        return;
      } catch (err) {
        // EMLINK (too many links) or a vanished template: make a new one.
        if (errno(err) !== 'EMLINK' && errno(err) !== 'ENOENT') throw err;
      }
    }
    this.queueNode({ path: p, kind: 'c', major: 0, minor: 0, mode: 0, uid: 0, gid: 0, atime: 0, mtime: 0, whiteout: true });
    this.whiteoutTemplate = { path: p, pending: true };
  }

  /** `.wh..wh..opq` in the directory `parentClean`. */
  private async opaque(parentClean: string): Promise<void> {
    const dir = await this.resolveDir(parentClean, this.overlay);
    if (dir === undefined) return;
    if (this.overlay) {
      this.queueXattrs(dir, new Map([['trusted.overlay.opaque', Buffer.from('y')]]));
      return;
    }
    // Flattening: empty the directory of everything a lower layer put there.
    const purge = async (d: string): Promise<void> => {
      for (const name of readdirSync(d)) {
        const c = `${d}/${name}`;
        const st = lstatSync(c);
        if (!this.keep.has(c)) await this.remove(c, st);
        else if (st.isDirectory()) await purge(c);
      }
    };
    await purge(dir);
  }

  private queueNode(n: PendingNode): void {
    this.nodeQueue.push(n);
    this.nodePaths.add(n.path);
  }

  private queueXattrs(p: string, attrs: Map<string, Buffer>): void {
    let m = this.xattrQueue.get(p);
    if (!m) this.xattrQueue.set(p, (m = new Map()));
    for (const [k, v] of attrs) {
      if (!isPlainXattrName(k)) continue; // not representable for setfattr; Docker would fail on most of these too
      m.set(k, v);
      this.xattrBytes += k.length + v.length * 2 + 8;
    }
  }

  /** Creates all queued device nodes and fifos with one shell. */
  async flushNodes(): Promise<void> {
    const nodes = this.nodeQueue;
    if (nodes.length === 0) return;
    this.nodeQueue = [];
    this.nodePaths.clear();
    for (let i = 0; i < nodes.length; i += NODE_BATCH) {
      const batch = nodes.slice(i, i + NODE_BATCH);
      const args = batch.flatMap((n) => [n.path, n.kind, String(n.major), String(n.minor)]);
      const script = 'while [ "$#" -gt 0 ]; do if [ "$2" = p ]; then mkfifo -m 0600 -- "$1" || exit 1; '
        + 'else mknod -m 0600 -- "$1" "$2" "$3" "$4" || exit 1; fi; shift 4; done';
      const r = await runTool('sh', ['-c', script, 'berth-mknod', ...args]);
      if (r.code !== 0) throw new ArchiveError(`cannot create device node or fifo: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    for (const n of nodes) {
      if (n.whiteout) {
        chmodSync(n.path, 0);
        continue;
      }
      if (isRoot) lchownSync(n.path, n.uid, n.gid);
      chmodSync(n.path, n.mode);
      utimesSync(n.path, n.atime, n.mtime);
    }
    if (this.whiteoutTemplate) this.whiteoutTemplate.pending = false;
  }

  /** Sets all queued xattrs with one `setfattr --restore`. */
  async flushXattrs(): Promise<void> {
    if (this.xattrQueue.size === 0) return;
    await this.settleWrites();
    await this.flushNodes();
    let dump = '';
    for (const [p, attrs] of this.xattrQueue) {
      if (attrs.size === 0) continue;
      dump += `# file: ${quoteAttrText(p)}\n`;
      for (const [k, v] of attrs) dump += v.length ? `${k}=0x${v.toString('hex')}\n` : `${k}=\n`;
      dump += '\n';
    }
    this.xattrQueue.clear();
    this.xattrBytes = 0;
    if (dump === '') return;
    const r = await runTool('setfattr', ['-h', '--restore=-'], dump);
    if (r.code === 0) return;
    // Like Docker, xattrs the filesystem does not support or will not let us
    // set (security.* without privilege, user.* on a symlink) are skipped.
    const fatal = r.stderr.split('\n').filter((l) => l.trim() && !/: (Operation not supported|Operation not permitted)$/.test(l));
    if (fatal.length > 0 || r.stderr.trim() === '') {
      throw new ArchiveError(`cannot set extended attributes: ${fatal.join('; ') || `setfattr exit ${r.code}`}`);
    }
  }

  /** Everything deferred: nodes, xattrs, then directory metadata. */
  async finish(): Promise<void> {
    await this.settleWrites();
    await this.flushNodes();
    await this.flushXattrs();
    const dirs = [...this.dirMeta].reverse();
    this.dirMeta.clear();
    for (const [p, m] of dirs) {
      const st = lstatOrUndefined(p);
      if (!st?.isDirectory()) continue;
      if (isRoot) lchownSync(p, m.uid, m.gid);
      chmodSync(p, m.mode);
      utimesSync(p, m.atime, m.mtime);
    }
  }
}

/**
 * Unpacks a layer (tar; gzip, zstd, bzip2 or xz compressed, told by magic
 * bytes) into `dir`. Returns the diff ID (sha256 of the uncompressed tar) and
 * the bytes of file content written. Throws ArchiveError on a malformed or
 * hostile tar; the caller removes `dir` then, partial content is left.
 */
export async function applyLayer(dir: string, input: Readable, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const root = posix.resolve(dir);
  const rootSt = lstatOrUndefined(root);
  if (!rootSt?.isDirectory()) {
    input.destroy();
    throw new ArchiveError(`${dir} is not a directory`);
  }
  const ex = new Extractor(root, opts);
  const dec = await decompress(input);
  const hash = createHash('sha256');
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);

  // tar-stream decodes PAX values as UTF-8, which mangles binary xattr values
  // (security.capability); keep the raw records of each PAX header for the
  // entry that follows it.
  const internals = extract as unknown as ExtractInternals;
  const decodeLong = internals._decodeLongHeader;
  if (typeof decodeLong !== 'function') throw new Error('tar-stream internals changed: cannot read raw PAX headers');
  let globalPax = new Map<string, Buffer>();
  let nextPax: Map<string, Buffer> | null = null;
  internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    const type = this._header?.type;
    if (type === 'pax-header') nextPax = new Map([...globalPax, ...parsePaxRecords(buf)]);
    else if (type === 'pax-global-header') globalPax = new Map([...globalPax, ...parsePaxRecords(buf)]);
    decodeLong.call(this, buf);
  };

  let failure: unknown;
  extract.on('entry', (header, stream, next) => {
    // Destroying the extract on a failure errors the entry stream too; the
    // failure is reported once, from here or the extract, never as an
    // unhandled 'error' that would take the daemon down.
    stream.on('error', () => {});
    const pax = nextPax ?? globalPax;
    nextPax = null;
    ex.place(header, stream as unknown as Readable, pax).then(
      () => next(),
      (err: unknown) => {
        if (!(err instanceof ArchiveError)) err = new ArchiveError(`${header.name}: ${(err as Error).message}`, { cause: err });
        failure ??= err;
        stream.resume();
        next(err as Error);
      },
    );
  });
  const extracted = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    // An entry's failure (ENOSPC writing it) closes the extract before its
    // handler has run: wait a turn so that failure, not this, is reported.
    extract.on('close', () => setImmediate(() => reject(failure ?? new ArchiveError('tar extraction stopped'))));
  });
  extracted.catch(() => {});

  const asArchiveError = (err: unknown): ArchiveError => {
    const e = failure ?? err;
    if (e instanceof ArchiveError) return e;
    if (errno(e)) return new ArchiveError(`cannot extract layer: ${(e as Error).message}`, { cause: e });
    return new ArchiveError(`invalid layer archive: ${(e as Error).message}`, { cause: e });
  };

  try {
    for await (const chunk of dec.stream) {
      if (failure !== undefined) throw failure;
      if (opts.digest !== false) hash.update(chunk as Buffer);
      if (!extract.write(chunk as Buffer)) {
        await Promise.race([new Promise<void>((resolve) => extract.once('drain', () => resolve())), extracted]);
      }
    }
    extract.end(undefined);
    await extracted;
    await dec.finished();
    await ex.finish();
  } catch (err) {
    const e = asArchiveError(err);
    dec.abort(e);
    extract.destroy(e);
    await ex.abandon();
    throw e;
  }
  return { diffId: 'sha256:' + hash.digest('hex'), size: ex.size };
}
