// The CLI's side of `cp`: a local file or tree as a tar (to a container), and
// a container's tar extracted into a local directory (from one), with the
// docker CLI's naming (go-archive's TarResourceRebase, RebaseArchiveEntries)
// and its Untar rules (NoLchown, NoOverwriteDirNonDir). The tar comes from a
// daemon, so it is treated as hostile: every name and hard link is resolved
// inside the destination directory, symlinks in it clamped there
// (files/rootpath.ts), and nothing is ever written through a symlink.
// Regular files of a tree are written by worker threads (files/file-writes.ts),
// as the daemon writes them: creating files is most of an extraction's time.
// Runs in the CLI's startup snapshot: no process state read at load time.
import {
  closeSync, constants as C, fchmodSync, fstatSync, futimesSync, linkSync, lstatSync, lutimesSync, mkdirSync,
  openSync, read, readdirSync, readlinkSync, readSync, rmSync, symlinkSync, utimesSync, chmodSync, writevSync, type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { cleanInRoot, isWithin, resolveInRoot } from '../files/rootpath.ts';
import { fitsUstar, paxEntry, TAR_END, ustarHeader, ustarPlaceholder, type UstarFields } from '../files/tar-format.ts';
import { SlabWriter, type SlabSink } from '../files/tar-slabs.ts';
import { SlabReader, type Piece } from '../files/slab-reads.ts';
import { FileWrites, MAX_BODY, type FileBody } from '../files/file-writes.ts';
import type { BodyWriter } from './transport.ts';

/** go-archive's strings.Replace(name, old, new, 1) rebase; an old base of `/` replaces nothing but adds the new one. */
export function rebaseName(name: string, oldBase: string, newBase: string): string {
  const old = oldBase === '/' ? '' : oldBase;
  const i = name.indexOf(old);
  return i < 0 ? name : name.slice(0, i) + newBase + name.slice(i + old.length);
}

/** Go's filepath.Split after Clean, keeping a trailing `.` (go-archive's SplitPathDirEntry). */
export function splitPathDirEntry(p: string): [string, string] {
  let cleaned = posix.normalize(p);
  if (cleaned.length > 1) cleaned = cleaned.replace(/\/+$/, '');
  if (posix.basename(p) === '.' || p === '.' || p.endsWith('/.')) cleaned = cleaned === '.' ? '.' : cleaned.endsWith('/.') ? cleaned : cleaned + '/.';
  const dir = posix.dirname(cleaned);
  const base = cleaned === '/' ? '/' : posix.basename(cleaned);
  return [dir, base];
}

const SMALL_FILE = 1 << 20;
/**
 * Files read or written on the main thread before the worker threads are
 * used: a copy of a few files does not pay for starting them (~30 ms of CPU each).
 */
const INLINE_FILES = 16;
/** Slabs of a tar with a reader thread: one being planned, some being read, some being sent. */
const READ_SLABS = 8;
const MAX_OCTAL = 0o7777777;
const readAsync = promisify(read);

/**
 * A tar of the local resource `path` (not followed if it is a symlink),
 * named as go-archive's TarResourceRebase names it, each name passed through
 * `rename` (the copy's rebase): a body writer for the upload. Files are read
 * straight into a few reused slabs (files/tar-slabs.ts) — past the first
 * few, by a reader thread (files/slab-reads.ts) while this thread walks on
 * and the socket sends; before that a small one in synchronous calls,
 * cheaper than a thread-pool round trip each — and each slab goes out as
 * one HTTP chunk, in order.
 */
/** `skip`: paths under `path` left out with everything below them (compose watch's ignore patterns). */
export function packResource(path: string, rename: (name: string) => string, skip?: (abs: string) => boolean): BodyWriter {
  return async (write) => {
    const reader = new SlabReader();
    /** The pieces planned in each slab, by its SharedArrayBuffer. */
    const plans = new Map<ArrayBufferLike, Piece[]>();
    // Slabs go out in order, each once its pieces are read; after a failure none goes.
    let chain = Promise.resolve();
    let failed: Error | undefined;
    const sink: SlabSink = (bytes, done) => {
      const pieces = plans.get(bytes.buffer);
      plans.delete(bytes.buffer);
      const ready = pieces ? reader.read(bytes.buffer as SharedArrayBuffer, pieces) : undefined;
      ready?.catch(() => {});
      chain = chain.then(() => ready).then(
        () => (failed ? done(failed) : write(bytes, done)),
        (err: Error) => { failed ??= err; done(err); },
      );
    };
    const out = new SlabWriter(sink, { slabs: READ_SLABS, alloc: (n) => Buffer.from(new SharedArrayBuffer(n)) });
    let files = 0;
    const [dir, base] = splitPathDirEntry(path);
    const top = base === '.' ? dir : posix.join(dir, base);
    const links = new Map<string, string>();
    const block = Buffer.alloc(512);

    const header = async (f: UstarFields): Promise<void> => {
      const records: Array<[string, string]> = [];
      const h = { ...f };
      if (!fitsUstar(h.name)) {
        records.push(['path', h.name]);
        h.name = ustarPlaceholder(h.name);
      }
      if (h.linkname !== undefined && !fitsUstar(h.linkname)) {
        records.push(['linkpath', h.linkname]);
        h.linkname = ustarPlaceholder(h.linkname);
      }
      if (h.uid > MAX_OCTAL) records.push(['uid', String(h.uid)]);
      if (h.gid > MAX_OCTAL) records.push(['gid', String(h.gid)]);
      if (h.mtime < 0 || h.mtime > 0o77777777777) records.push(['mtime', String(h.mtime)]);
      if (records.length > 0) await out.put(paxEntry(records, f.name, Math.max(0, h.mtime)));
      h.uid = Math.min(h.uid, MAX_OCTAL);
      h.gid = Math.min(h.gid, MAX_OCTAL);
      h.mtime = Math.max(0, Math.min(h.mtime, 0o77777777777));
      await out.put(ustarHeader(h, block));
    };

    const file = async (abs: string, f: UstarFields, size: number): Promise<void> => {
      if (++files > INLINE_FILES) {
        // The size is the walk's: a file that changes meanwhile is cut or padded (slab-reads.ts).
        await header({ ...f, size });
        await out.fill(size, (buf, off, len, pos) => {
          const pieces = plans.get(buf.buffer) ?? [];
          plans.set(buf.buffer, pieces);
          pieces.push({ path: abs, pos, len, off });
          return len;
        });
        return;
      }
      const fd = openSync(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) return;
        await header({ ...f, size: st.size });
        // Exactly the size in the header: a file that shrank meanwhile is padded, one that grew is cut.
        await out.fill(st.size, st.size <= SMALL_FILE
          ? (buf, off, len, pos) => readSync(fd, buf, off, len, pos)
          : async (buf, off, len, pos) => (await readAsync(fd, buf, off, len, pos)).bytesRead);
      } finally {
        closeSync(fd);
      }
    };

    const visit = async (abs: string, name: string, st: Stats): Promise<void> => {
      const f: UstarFields = { name: rename(name), type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        await header({ ...f, name: f.name.endsWith('/') ? f.name : f.name + '/', type: 'directory' });
        for (const child of readdirSync(abs).sort()) {
          const childAbs = `${abs}/${child}`;
          if (skip?.(childAbs)) continue;
          await visit(childAbs, name === '.' ? `./${child}` : name.endsWith('/') ? name + child : `${name}/${child}`, lstatSync(childAbs));
        }
        return;
      }
      if (st.nlink > 1 && !st.isSymbolicLink()) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) return header({ ...f, type: 'link', linkname: first });
        links.set(key, f.name);
      }
      if (st.isSymbolicLink()) return header({ ...f, type: 'symlink', linkname: readlinkSync(abs) });
      if (st.isFile()) return file(abs, f, st.size);
      // Devices, fifos and sockets are left out.
    };

    try {
      await visit(top, base === '/' ? '/' : base, lstatSync(top));
      await out.put(TAR_END);
      await out.flush();
    } finally {
      await chain;
      await reader.close();
    }
  };
}

/** go-archive's Untar breakout and overwrite errors, in its words. */
export class UntarError extends Error {}

/**
 * Extracts `input` into the directory `dest` as go-archive's Untar does for
 * `docker cp` (no lchown; a directory never replaced by a non-directory nor
 * the reverse). `rename` rebases each entry's name first.
 */
export async function extractTar(input: Readable, dest: string, rename: (name: string) => string = (n) => n): Promise<void> {
  const ex = new Untar(posix.resolve(dest), rename);
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      // A failed entry destroys the extract and so its stream: reported once, through `done`.
      stream.on('error', () => {});
      ex.place(h, stream as unknown as Readable).then(() => next(), (err: Error) => {
        stream.resume();
        next(err);
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  try {
    await done;
  } catch (err) {
    // Nothing is written after a failed extraction has answered.
    await ex.abandon();
    throw err;
  }
  await ex.finish();
}

/** File content is written in one writev per this many bytes. */
const WRITE_BATCH = 1 << 20;

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * One extraction. Per entry it costs the system calls tar(1) spends and no
 * more: the entry is created first (O_EXCL, mkdir) and only an EEXIST makes
 * it look at what is there; a parent directory, once resolved in the root
 * (symlinks clamped there), is remembered until a symlink that may have led
 * to it is replaced.
 */
class Untar {
  /** Cleaned in-tar directory path -> host path that was a real directory inside the root. */
  private readonly dirs = new Map<string, string>();
  /** Host paths of directories this extraction made: nothing but what it placed is in them (short of another process). */
  private readonly fresh = new Set<string>();
  /** Host paths this extraction placed an entry at (or handed to the writer threads). */
  private readonly placed = new Set<string>();
  private readonly writes = new FileWrites((message, cause) => new UntarError(message, { cause }));
  private files = 0;
  private readonly dirTimes: Array<[string, Date]> = [];
  private readonly root: string;
  private readonly rename: (n: string) => string;

  constructor(root: string, rename: (n: string) => string) {
    this.root = root;
    this.rename = rename;
  }

  private async parentOf(clean: string): Promise<string> {
    const parentClean = posix.dirname(clean);
    let parent = this.dirs.get(parentClean);
    if (parent !== undefined) return parent;
    // A file still in flight could be a component of the path: it is made first, so the walk sees what tar order made.
    await this.settle();
    parent = resolveInRoot(this.root, parentClean);
    if (!isWithin(this.root, parent)) throw new UntarError(`${JSON.stringify(parentClean)} is outside of ${JSON.stringify(this.root)}`);
    const st = lstatSync(parent, { throwIfNoEntry: false });
    // A non-directory parent fails at the entry's creation (ENOTDIR), as before.
    if (!st) {
      mkdirSync(parent, { recursive: true, mode: 0o777 });
      this.fresh.add(parent);
    }
    if (!st || st.isDirectory()) this.dirs.set(parentClean, parent);
    return parent;
  }

  /**
   * Waits for the files in flight; one that found its path taken meanwhile
   * (by another process) is placed over it now, as any existing entry is.
   */
  private async settle(): Promise<void> {
    for (const f of await this.writes.settle()) {
      writeFile(this.create(f.path, () => openSync(f.path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, f.mode)), f.chunks, f.mode, f.mtime);
    }
  }

  /** Nothing is written after this returns. */
  abandon(): Promise<void> {
    return this.writes.abandon();
  }

  /** What is at `path` (an EEXIST): refused if a directory and non-directory would swap, else removed unless a directory. */
  private clear(path: string, isDirEntry: boolean): Stats | undefined {
    const existing = lstatSync(path, { throwIfNoEntry: false });
    if (!existing) return undefined;
    if (existing.isDirectory() && !isDirEntry) {
      throw new UntarError(`cannot overwrite directory ${JSON.stringify(path)} with non-directory in ${JSON.stringify(this.root)}`);
    }
    if (!existing.isDirectory() && isDirEntry) {
      throw new UntarError(`cannot overwrite non-directory ${JSON.stringify(path)} with directory in ${JSON.stringify(this.root)}`);
    }
    if (!existing.isDirectory()) {
      rmSync(path, { force: true });
      // A directory resolved through the symlink removed is no longer where that name leads.
      if (existing.isSymbolicLink()) this.dirs.clear();
    }
    return existing;
  }

  /** Runs `make`; on EEXIST clears the way (or refuses) and runs it again. */
  private create<T>(path: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    this.clear(path, false);
    return make();
  }

  async place(h: tar.Header, stream: Readable): Promise<void> {
    const root = this.root;
    const raw = this.rename(h.name);
    const rel = posix.normalize(raw).replace(/^\/+/, '');
    if (rel === '..' || rel.startsWith('../')) throw new UntarError(`${JSON.stringify(raw)} is outside of ${JSON.stringify(root)}`);
    const clean = cleanInRoot(rel);
    const parent = clean === '/' ? '' : await this.parentOf(clean);
    const path = clean === '/' ? root : `${parent}/${posix.basename(clean)}`;
    if (!isWithin(root, path)) throw new UntarError(`${JSON.stringify(raw)} is outside of ${JSON.stringify(root)}`);
    if (path === root && h.type !== 'directory') throw new UntarError('refusing to act on a non-directory entry as the archive root');
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date();
    // An entry at the path of a file in flight comes after it.
    if (this.writes.has(path)) await this.settle();
    const isFile = h.type === 'file' || h.type === 'contiguous-file';
    if (isFile && this.fresh.has(parent) && !this.placed.has(path) && (h.size ?? 0) <= MAX_BODY && ++this.files > INLINE_FILES) {
      // A new name in a directory this extraction made: written off the main thread.
      return this.writeLater(path, raw, mode, mtime, stream);
    }
    this.placed.add(path);
    switch (h.type) {
      case 'directory': {
        stream.resume();
        try {
          mkdirSync(path, { mode });
          this.fresh.add(path);
        } catch (err) {
          if (errnoOf(err) !== 'EEXIST') throw err;
          // An existing directory stays (its content too); a non-directory is refused.
          if (this.clear(path, true) === undefined) {
            mkdirSync(path, { mode });
            this.fresh.add(path);
          }
        }
        // mkdir's mode went through the umask; tar's is exact.
        chmodSync(path, mode);
        this.dirs.set(clean, path);
        this.dirTimes.push([path, mtime]);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        const fd = this.create(path, () => openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode));
        try {
          let batch: Buffer[] = [];
          let size = 0;
          for await (const chunk of stream) {
            batch.push(chunk as Buffer);
            size += (chunk as Buffer).length;
            if (size >= WRITE_BATCH) {
              writeAll(fd, batch);
              batch = [];
              size = 0;
            }
          }
          writeFile(fd, batch, mode, mtime);
        } catch (err) {
          closeSync(fd);
          throw err;
        }
        return;
      }
      case 'symlink':
        stream.resume();
        this.create(path, () => symlinkSync(h.linkname ?? '', path));
        lutimesSync(path, mtime, mtime);
        return;
      case 'link': {
        stream.resume();
        // The target may be a file in flight, or lie under one's name.
        await this.settle();
        const target = resolveInRoot(root, cleanInRoot(h.linkname ?? ''), false);
        if (!isWithin(root, target) || target === root) throw new UntarError(`invalid hardlink ${JSON.stringify(h.linkname)} -> ${JSON.stringify(raw)}`);
        this.create(path, () => linkSync(target, path));
        return;
      }
      default:
        // Devices and fifos need privileges a CLI user may not have; docker's Untar would try. Left out.
        stream.resume();
    }
  }

  /** Reads the file's body and hands it to the writer threads. */
  private async writeLater(path: string, name: string, mode: number, mtime: Date, stream: Readable): Promise<void> {
    this.placed.add(path);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const t = mtime.getTime() / 1000;
    const body: FileBody = { path, name, shown: name, size, mode, atime: t, mtime: t };
    await this.writes.add(body, chunks);
  }

  /** Directory mtimes last (their content changed them), deepest first. */
  async finish(): Promise<void> {
    await this.settle();
    for (const [p, mtime] of this.dirTimes.reverse()) {
      if (lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) utimesSync(p, mtime, mtime);
    }
  }
}

/** Writes the rest of a new file's content, its exact mode and times, and closes it. */
function writeFile(fd: number, bufs: Buffer[], mode: number, mtime: Date | number): void {
  try {
    if (bufs.length > 0) writeAll(fd, bufs);
    fchmodSync(fd, mode);
    futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `bufs` at the file's offset, in as few writev calls as the kernel takes. */
function writeAll(fd: number, bufs: Buffer[]): void {
  let left = bufs.reduce((n, b) => n + b.length, 0);
  while (left > 0) {
    const n = writevSync(fd, bufs);
    left -= n;
    if (left === 0) return;
    let skip = n;
    while (skip >= bufs[0].length) skip -= (bufs.shift() as Buffer).length;
    bufs = [bufs[0].subarray(skip), ...bufs.slice(1)];
  }
}
