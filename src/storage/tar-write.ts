// Tars of directory trees: `docker export` of a container's root filesystem
// (createTar), `cp` out of a container (writeTar: the same tar, written
// through reused slabs) and the OCI layer diff of an overlay upper directory
// (createLayerDiff, for commit). Entries are sorted depth-first, named
// relative to the root (`bin/`, `bin/sh`), symlinks are stored as symlinks
// and never followed, hard links are found by (dev, ino), and device nodes
// and fifos are stored as such; sockets are skipped (as Docker does).
//
// xattrs are read with one `getfattr -R` over the whole tree before the walk
// (tree-xattrs.ts) and written as binary-safe PAX `SCHILY.xattr.*` records. overlayfs' own
// trusted.overlay.* attributes and the host-specific security.selinux label
// are never exported. Pass { xattrs: false } to createTar to skip the
// getfattr pass.
import { closeSync, constants as C, fstat, fstatSync, lstatSync, openSync, read, readSync, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import type { ScopedRoot } from '../files/rootpath.ts';
import { SlabWriter, type ReadInto, type SlabSink } from '../files/tar-slabs.ts';
import { TAR_END, ustarHeader, type UstarFields } from '../files/tar-format.ts';
import {
  ArchiveError, devMajor, devMinor, encodePaxRecords, paxHeaderBlock, XATTR_PREFIX,
} from './tarutil.ts';
import { readAllXattrs, treeXattrs, type XattrMap } from './tree-xattrs.ts';

export interface CreateTarOptions {
  /** Export extended attributes (default true; needs getfattr from the attr package). */
  xattrs?: boolean;
  /** Stops the walk, its reads and getfattr; the stream is destroyed with the reason. */
  signal?: AbortSignal;
  /**
   * `cp` out of a container (GET /containers/{id}/archive): the resource
   * itself is in the tar under this name — a directory as `name/` followed by
   * `name/…`, anything else (a symlink too, never followed) as one entry.
   * Without it the tree's content is named relative to it, with no root entry.
   */
  name?: string;
  /** The mounts of the tree's root: a directory a mount is shown over is archived from the mount's source. */
  scope?: ScopedRoot;
  /** The owners written for the owners on disk (a remapped container's files, shown as inside it). */
  idMap?: IdShift;
}

/** Owner IDs from one side of a user namespace's maps to the other. */
export type IdShift = (uid: number, gid: number) => { uid: number; gid: number };

const READ_CHUNK = 256 * 1024;
const fstatAsync = promisify(fstat);
const readAsync = promisify(read);
/** Files up to this size are read in one synchronous read. */
const SMALL_FILE = 1 << 20;
const MAX_OCTAL_ID = 0o7777777;
const MAX_USTAR_MTIME = 0x7fffffff; // tar-stream writes mtime through a 32-bit int

function exportable(name: string): boolean {
  return !name.startsWith('trusted.overlay.') && name !== 'security.selinux';
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** A name for the ustar header when the real one travels in a PAX record. */
function placeholder(name: string): string {
  const dir = name.endsWith('/');
  let s = name.replace(/[^\x20-\x7e]/g, '_');
  if (s.length > 100) s = s.slice(0, dir ? 99 : 100) + (dir ? '/' : '');
  return s;
}

interface EntryInfo {
  name: string;
  type: tar.Header['type'];
  /** Full st_mode (type bits included: tar-stream replaces a mode of 0). */
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const S_IFREG = 0o100000;

class TreePacker {
  private readonly root: string;
  /** tar-stream's packer (export, diff), or reused slabs written straight to a socket (cp). */
  private readonly pack: tar.Pack | SlabWriter;
  private readonly diff: boolean;
  private readonly xattrs: XattrMap | undefined;
  /** dev:ino -> name of the first entry of a multiply linked inode. */
  private readonly links = new Map<string, string>();
  private readonly signal: AbortSignal;
  private readonly scope: ScopedRoot | undefined;
  /** The slab writer's header block, reused. */
  private readonly header = Buffer.alloc(512);

  private readonly idMap?: IdShift;

  constructor(root: string, pack: tar.Pack | SlabWriter, diff: boolean, xattrs: XattrMap | undefined, signal: AbortSignal, scope?: ScopedRoot, idMap?: IdShift) {
    this.idMap = idMap;
    this.root = root;
    this.pack = pack;
    this.diff = diff;
    this.xattrs = xattrs;
    this.signal = signal;
    this.scope = scope;
  }

  async run(name?: string): Promise<void> {
    if (name !== undefined) {
      // The resource itself, under its name; `/` names its content `/bin`, `/etc`, ….
      await this.entry(this.root, '', name, name === '/');
      return;
    }
    const st = await lstat(this.root);
    if (!st.isDirectory()) throw new ArchiveError(`${this.root} is not a directory`);
    await this.walk(this.root, '');
  }

  private async walk(abs: string, rel: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(abs);
    } catch (err) {
      // A directory removed while a running container's rootfs is exported.
      if (rel !== '' && ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')) return;
      throw err;
    }
    names.sort();
    for (const name of names) {
      this.signal.throwIfAborted();
      await this.entry(`${abs}/${name}`, rel, name);
    }
  }

  private async entry(abs: string, parentRel: string, name: string, isSlash = false): Promise<void> {
    const rel = isSlash ? '' : parentRel === '/' ? `/${name}` : parentRel ? `${parentRel}/${name}` : name;
    // A mount point shows the mount's content (its source may be a file: a bind of one).
    abs = this.scope?.mountOver(abs)?.source ?? abs;
    // Synchronous: one lstat is far cheaper than a thread-pool round trip for it.
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    const attrs = this.xattrs?.get(abs) ?? [];
    const mtimeSec = Math.floor(st.mtimeMs / 1000);
    const base = { mode: st.mode, uid: st.uid, gid: st.gid, mtimeSec };

    if (this.diff) {
      if (st.isCharacterDevice() && st.rdev === 0) {
        // An overlay whiteout: the OCI form is an empty `.wh.NAME` file.
        const wh = parentRel ? `${parentRel}/.wh.${name}` : `.wh.${name}`;
        await this.emit({ ...base, name: wh, type: 'file', mode: S_IFREG | 0o600, size: 0 }, []);
        return;
      }
      for (const [k] of attrs) {
        if (k === 'trusted.overlay.redirect' || k === 'trusted.overlay.metacopy') {
          throw new ArchiveError(`${rel}: overlay ${k.slice(16)} entries cannot be diffed (mount overlays with redirect_dir=off,metacopy=off)`);
        }
      }
    }
    const xattrs = attrs.filter(([k]) => exportable(k));

    if (st.isDirectory()) {
      await this.emit({ ...base, name: rel + '/', type: 'directory' }, xattrs);
      const opaque = this.diff && attrs.some(([k, v]) => k === 'trusted.overlay.opaque' && v.toString('latin1') === 'y');
      if (opaque) {
        await this.emit({ ...base, name: `${rel}/.wh..wh..opq`, type: 'file', mode: S_IFREG | (st.mode & 0o777), size: 0 }, []);
      }
      await this.walk(abs, isSlash ? '/' : rel);
      return;
    }

    if (st.nlink > 1) {
      const big = await lstat(abs, { bigint: true }).catch(() => undefined);
      if (big) {
        const key = `${big.dev}:${big.ino}`;
        const first = this.links.get(key);
        if (first !== undefined) {
          await this.emit({ ...base, name: rel, type: 'link', linkname: first, size: 0 }, []);
          return;
        }
        this.links.set(key, rel);
      }
    }

    if (st.isFile()) {
      await this.file(abs, rel, st, xattrs);
    } else if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await readlink(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      await this.emit({ ...base, name: rel, type: 'symlink', linkname: target }, xattrs);
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await this.emit({
        ...base, name: rel, type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev),
      }, xattrs);
    } else if (st.isFIFO()) {
      await this.emit({ ...base, name: rel, type: 'fifo' }, xattrs);
    }
    // Sockets are not archived.
  }

  private async file(abs: string, rel: string, st: Stats, xattrs: Array<[string, Buffer]>): Promise<void> {
    if (st.size === 0) {
      await this.emit({ name: rel, type: 'file', mode: st.mode, uid: st.uid, gid: st.gid, mtimeSec: Math.floor(st.mtimeMs / 1000), size: 0 }, xattrs);
      return;
    }
    if (this.pack instanceof SlabWriter) return this.fileToSlabs(this.pack, abs, rel, st, xattrs);
    if (st.size <= SMALL_FILE && (await this.smallFile(abs, rel, xattrs))) return;
    let fh: FileHandle;
    try {
      // O_NOFOLLOW and O_NONBLOCK: a symlink or fifo swapped in meanwhile is neither followed nor waited on.
      fh = await open(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return;
      throw err;
    }
    try {
      const fst = await fh.stat();
      if (!fst.isFile()) return;
      const size = fst.size;
      await this.emit(
        { name: rel, type: 'file', mode: fst.mode, uid: fst.uid, gid: fst.gid, mtimeSec: Math.floor(fst.mtimeMs / 1000), size },
        xattrs,
        async (sink) => {
          // Exactly `size` bytes: a file that shrinks meanwhile is padded
          // with zeros, one that grows is cut, so the tar stays valid.
          let off = 0;
          while (off < size) {
            this.signal.throwIfAborted();
            const n = Math.min(READ_CHUNK, size - off);
            const buf = Buffer.allocUnsafe(n);
            const { bytesRead } = await fh.read(buf, 0, n, off);
            if (bytesRead < n) buf.fill(0, bytesRead);
            off += n;
            await sink(buf);
          }
        },
      );
    } finally {
      await fh.close();
    }
  }

  /**
   * A file read straight into the slabs: a small one in synchronous calls
   * (a thread-pool round trip per open, fstat, read and close costs more
   * than the calls on a busy machine), a big one in asynchronous reads that
   * leave the event loop free for other requests.
   */
  private async fileToSlabs(out: SlabWriter, abs: string, rel: string, st: Stats, xattrs: Array<[string, Buffer]>): Promise<void> {
    let fd: number;
    try {
      // O_NOFOLLOW and O_NONBLOCK: a symlink or fifo swapped in meanwhile is neither followed nor waited on.
      fd = openSync(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return;
      throw err;
    }
    try {
      const fst = st.size <= SMALL_FILE ? fstatSync(fd) : await fstatAsync(fd);
      if (!fst.isFile()) return;
      const read: ReadInto = fst.size <= SMALL_FILE
        ? (buf, off, len, pos) => readSync(fd, buf, off, len, pos)
        : async (buf, off, len, pos) => (await readAsync(fd, buf, off, len, pos)).bytesRead;
      // Exactly `size` bytes: a file that shrinks meanwhile is padded with zeros, one that grows is cut.
      await this.emit({ name: rel, type: 'file', mode: fst.mode, uid: fst.uid, gid: fst.gid, mtimeSec: Math.floor(fst.mtimeMs / 1000), size: fst.size }, xattrs, { read });
    } finally {
      closeSync(fd);
    }
  }

  /**
   * A small file read whole in synchronous calls (open, fstat, read, close
   * would be four thread-pool round trips, which cost more than the reads on
   * a busy machine). False: it grew past SMALL_FILE meanwhile, read it as a
   * big one.
   */
  private async smallFile(abs: string, rel: string, xattrs: Array<[string, Buffer]>): Promise<boolean> {
    let fd: number;
    try {
      fd = openSync(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return true;
      throw err;
    }
    let data: Buffer;
    let fst: Stats;
    try {
      fst = fstatSync(fd);
      if (!fst.isFile()) return true;
      if (fst.size > SMALL_FILE) return false;
      data = Buffer.allocUnsafe(fst.size);
      let off = 0;
      while (off < fst.size) {
        const n = readSync(fd, data, off, fst.size - off, off);
        if (n === 0) break;
        off += n;
      }
      // A file that shrank meanwhile is padded, so the tar stays valid.
      if (off < fst.size) data.fill(0, off);
    } finally {
      closeSync(fd);
    }
    await this.emit({ name: rel, type: 'file', mode: fst.mode, uid: fst.uid, gid: fst.gid, mtimeSec: Math.floor(fst.mtimeMs / 1000), size: fst.size }, xattrs, data);
    return true;
  }

  /**
   * Adds one entry. Whatever ustar cannot hold (long or non-ASCII names, big
   * ids, mtimes outside 1970..2038, xattrs) goes into a PAX header written
   * here byte-exactly; the ustar header then carries placeholders, so
   * tar-stream never adds a PAX header of its own.
   */
  private async emit(
    e: EntryInfo,
    xattrs: Array<[string, Buffer]>,
    body?: Buffer | ((write: (chunk: Buffer) => Promise<void>) => Promise<void>) | { read: ReadInto },
  ): Promise<void> {
    if (this.idMap) e = { ...e, ...this.idMap(e.uid, e.gid) };
    const records: Array<[string, Buffer | string]> = [];
    let name = e.name;
    let linkname = e.linkname;
    if (!isAscii(name) || name.length > 100) {
      records.push(['path', name]);
      name = placeholder(name);
    }
    if (linkname !== undefined && (!isAscii(linkname) || linkname.length > 100)) {
      records.push(['linkpath', linkname]);
      linkname = placeholder(linkname);
    }
    if (e.uid > MAX_OCTAL_ID) records.push(['uid', String(e.uid)]);
    if (e.gid > MAX_OCTAL_ID) records.push(['gid', String(e.gid)]);
    let mtimeSec = e.mtimeSec;
    if (mtimeSec < 0 || mtimeSec > MAX_USTAR_MTIME) {
      records.push(['mtime', String(mtimeSec)]);
      mtimeSec = Math.max(0, Math.min(mtimeSec, MAX_USTAR_MTIME));
    }
    for (const [k, v] of xattrs) records.push([XATTR_PREFIX + k, v]);
    const out = this.pack;
    if (out instanceof SlabWriter) {
      this.signal.throwIfAborted();
      if (records.length > 0) {
        const pax = encodePaxRecords(records);
        await out.put(paxHeaderBlock(`PaxHeaders/${placeholder(posix.basename(e.name)).slice(0, 80)}`, pax.length, mtimeSec));
        await out.put(pax);
        await out.pad(pax.length);
      }
      const size = e.size ?? 0;
      await out.put(ustarHeader({
        name, type: e.type as UstarFields['type'], mode: e.mode, uid: Math.min(e.uid, MAX_OCTAL_ID), gid: Math.min(e.gid, MAX_OCTAL_ID),
        mtime: mtimeSec, size, linkname, devmajor: e.devmajor, devminor: e.devminor,
      }, this.header));
      if (!size || !body) return;
      if (Buffer.isBuffer(body)) {
        await out.put(body);
        await out.pad(size);
      } else if (typeof body === 'object') {
        await out.fill(size, body.read);
      } else {
        throw new Error('tar-write: a streamed body for a slab writer');
      }
      return;
    }
    if (records.length > 0) {
      const pax = encodePaxRecords(records);
      out.push(paxHeaderBlock(`PaxHeaders/${placeholder(posix.basename(e.name)).slice(0, 80)}`, pax.length, mtimeSec));
      out.push(pax);
      const pad = (512 - (pax.length % 512)) % 512;
      if (pad) out.push(Buffer.alloc(pad));
    }
    const header: Partial<tar.Header> & { name: string } = {
      name,
      type: e.type,
      mode: e.mode,
      uid: Math.min(e.uid, MAX_OCTAL_ID),
      gid: Math.min(e.gid, MAX_OCTAL_ID),
      mtime: new Date(mtimeSec * 1000),
      size: e.size ?? 0,
    };
    if (linkname !== undefined) header.linkname = linkname;
    if (e.devmajor !== undefined) header.devmajor = e.devmajor;
    if (e.devminor !== undefined) header.devminor = e.devminor;

    this.signal.throwIfAborted();
    let onAbort = (): void => {};
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (!body || !header.size) {
        out.entry(header, Buffer.alloc(0), done);
        return;
      }
      if (Buffer.isBuffer(body)) {
        out.entry(header, body, done);
        return;
      }
      const sink = out.entry(header, done);
      // Settles a body waiting for 'drain' that will never come: the tar
      // was destroyed (its consumer went away) or the walk was aborted.
      const finished = new Promise<never>((_res, rej) => {
        sink.once('error', rej);
        sink.once('close', () => rej(new ArchiveError('tar stream closed')));
        onAbort = () => rej(this.signal.reason);
        this.signal.addEventListener('abort', onAbort, { once: true });
      });
      finished.catch(() => {});
      const write = async (chunk: Buffer) => {
        if (!sink.write(chunk)) await Promise.race([new Promise<void>((r) => sink.once('drain', () => r())), finished]);
      };
      (body as (w: typeof write) => Promise<void>)(write).then(() => sink.end(undefined), (err: Error) => {
        sink.destroy(err);
        reject(err);
      });
    }).finally(() => this.signal.removeEventListener('abort', onAbort));
  }
}

/**
 * The tar that `start` writes, as a stream. Destroying the stream before its
 * end (its consumer went away) aborts `start`: the walk stops, getfattr is
 * killed and the open file is closed, instead of all of them waiting forever
 * for a reader that never comes (and the file handle being closed by the GC,
 * which Node treats as a fatal error).
 */
function packToReadable(start: (pack: tar.Pack, signal: AbortSignal) => Promise<void>, outer?: AbortSignal): Readable {
  const pack = tar.pack();
  const ac = new AbortController();
  const signal = outer ? AbortSignal.any([ac.signal, outer]) : ac.signal;
  const out = Readable.from(pack, { objectMode: false });
  out.once('close', () => ac.abort(new ArchiveError('tar stream closed')));
  signal.addEventListener('abort', () => out.destroy(signal.reason instanceof Error ? signal.reason : undefined), { once: true });
  start(pack, signal).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}

/** A tar of the tree at `dir` (for `docker export`). */
export function createTar(dir: string, opts: CreateTarOptions = {}): Readable {
  const root = posix.resolve(dir);
  return packToReadable(async (pack, signal) => {
    const xattrs = await treeXattrs(root, opts, signal);
    await new TreePacker(root, pack, false, xattrs, signal, opts.scope, opts.idMap).run(opts.name);
  }, opts.signal);
}

/**
 * `cp` out of a container: the tar of createTar (same entries, same
 * options), written to `sink` through a few reused slabs instead of a stream
 * of fresh buffers. Resolves once the sink has taken the whole tar; rejects
 * (and stops the walk) when the signal aborts or a write fails.
 */
export async function writeTar(dir: string, sink: SlabSink, opts: CreateTarOptions = {}): Promise<void> {
  const root = posix.resolve(dir);
  const signal = opts.signal ?? new AbortController().signal;
  const out = new SlabWriter(sink, { signal });
  const xattrs = await treeXattrs(root, opts, signal);
  await new TreePacker(root, out, false, xattrs, signal, opts.scope, opts.idMap).run(opts.name);
  await out.put(TAR_END);
  await out.flush();
}

/**
 * The OCI layer diff of an overlay upper directory: its content as in
 * createTar, whiteouts (0:0 character devices) as `.wh.NAME` files and opaque
 * directories (trusted.overlay.opaque=y) followed by a `.wh..wh..opq` entry.
 * The overlay must not be mounted with redirect_dir or metacopy.
 */
export function createLayerDiff(upperDir: string): Readable {
  const root = posix.resolve(upperDir);
  return packToReadable(async (pack, signal) => {
    const xattrs = await readAllXattrs(root, signal);
    await new TreePacker(root, pack, true, xattrs, signal).run();
  });
}
