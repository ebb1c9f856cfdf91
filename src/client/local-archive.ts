// The CLI's side of `cp`: a local file or tree as a tar (to a container), and
// a container's tar extracted into a local directory (from one), with the
// docker CLI's naming (go-archive's TarResourceRebase, RebaseArchiveEntries)
// and its Untar rules (NoLchown, NoOverwriteDirNonDir). The tar comes from a
// daemon, so it is treated as hostile: every name and hard link is resolved
// inside the destination directory, symlinks in it clamped there
// (files/rootpath.ts), and nothing is ever written through a symlink.
// Runs in the CLI's startup snapshot: no process state read at load time.
import { addEntry } from './context-tar.ts';
import {
  closeSync, constants as C, createReadStream, fchmodSync, futimesSync, linkSync, lstatSync, lutimesSync, mkdirSync,
  openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, chmodSync, writeSync, type Stats,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { coalesce } from '../files/coalesce.ts';
import { cleanInRoot, isWithin, resolveInRoot } from '../files/rootpath.ts';

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
/** Small files read ahead of the one being sent. */
const READ_AHEAD = 16;

/**
 * A tar of the local resource `path` (not followed if it is a symlink),
 * named as go-archive's TarResourceRebase names it, each name passed through
 * `rename` (the copy's rebase).
 */
export function packResource(path: string, rename: (name: string) => string): Readable {
  const pack = tar.pack();
  const [dir, base] = splitPathDirEntry(path);
  const top = base === '.' ? dir : posix.join(dir, base);
  // The tree is listed first, in tar order, so the small files ahead can be
  // read in parallel (READ_AHEAD at a time, off the event loop) while the
  // ones before them go out on the socket.
  const items: Array<{ abs: string; name: string; st: Stats }> = [];
  const list = (abs: string, name: string, st: Stats): void => {
    items.push({ abs, name, st });
    if (!st.isDirectory()) return;
    for (const child of readdirSync(abs).sort()) {
      list(`${abs}/${child}`, name === '.' ? `./${child}` : name.endsWith('/') ? name + child : `${name}/${child}`, lstatSync(`${abs}/${child}`));
    }
  };
  const links = new Map<string, string>();
  const reads = new Map<number, Promise<Buffer>>();
  const readAhead = (i: number): void => {
    const it = items[i];
    if (!it || reads.has(i) || !it.st.isFile() || it.st.size === 0 || it.st.size > SMALL_FILE || it.st.nlink > 1) return;
    const p = readFile(it.abs);
    p.catch(() => {});
    reads.set(i, p);
  };
  const put = async (i: number): Promise<void> => {
    const { abs, name, st } = items[i];
    const header: Partial<tar.Header> & { name: string } = { name: rename(name), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) return addEntry(pack, { ...header, name: header.name.endsWith('/') ? header.name : header.name + '/', type: 'directory' });
    if (st.nlink > 1 && !st.isSymbolicLink()) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) return addEntry(pack, { ...header, type: 'link', linkname: first, size: 0 });
      links.set(key, header.name);
    }
    if (st.isSymbolicLink()) return addEntry(pack, { ...header, type: 'symlink', linkname: readlinkSync(abs) });
    if (st.isFile()) {
      const ahead = reads.get(i);
      reads.delete(i);
      if (ahead || st.size <= SMALL_FILE) return addEntry(pack, { ...header, type: 'file', size: st.size }, ahead ? await ahead : readFileSync(abs));
      return addEntry(pack, { ...header, type: 'file', size: st.size }, createReadStream(abs));
    }
    // Devices, fifos and sockets are left out.
  };
  (async () => {
    list(top, base === '/' ? '/' : base, lstatSync(top));
    for (let i = 0; i < items.length; i++) {
      for (let j = i; j < i + READ_AHEAD; j++) readAhead(j);
      await put(i);
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return Readable.from(coalesce(pack), { objectMode: false });
}

/** go-archive's Untar breakout and overwrite errors, in its words. */
export class UntarError extends Error {}

/**
 * Extracts `input` into the directory `dest` as go-archive's Untar does for
 * `docker cp` (no lchown; a directory never replaced by a non-directory nor
 * the reverse). `rename` rebases each entry's name first.
 */
export async function extractTar(input: Readable, dest: string, rename: (name: string) => string = (n) => n): Promise<void> {
  const root = posix.resolve(dest);
  const extract = tar.extract();
  const dirTimes: Array<[string, Date]> = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      place(root, h, stream as unknown as Readable, rename, dirTimes).then(() => next(), (err: Error) => {
        stream.resume();
        next(err);
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  await done;
  for (const [p, mtime] of dirTimes.reverse()) {
    if (lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) utimesSync(p, mtime, mtime);
  }
}

async function place(root: string, h: tar.Header, stream: Readable, rename: (n: string) => string, dirTimes: Array<[string, Date]>): Promise<void> {
  const raw = rename(h.name);
  const rel = posix.normalize(raw).replace(/^\/+/, '');
  if (rel === '..' || rel.startsWith('../')) throw new UntarError(`${JSON.stringify(raw)} is outside of ${JSON.stringify(root)}`);
  const clean = cleanInRoot(rel);
  const parent = resolveInRoot(root, posix.dirname(clean));
  const path = clean === '/' ? root : `${parent}/${posix.basename(clean)}`;
  if (!isWithin(root, path)) throw new UntarError(`${JSON.stringify(raw)} is outside of ${JSON.stringify(root)}`);
  if (path === root && h.type !== 'directory') throw new UntarError('refusing to act on a non-directory entry as the archive root');
  if (!lstatSync(parent, { throwIfNoEntry: false })) mkdirSync(parent, { recursive: true, mode: 0o777 });
  const existing = lstatSync(path, { throwIfNoEntry: false });
  if (existing) {
    if (existing.isDirectory() && h.type !== 'directory') {
      throw new UntarError(`cannot overwrite directory ${JSON.stringify(path)} with non-directory in ${JSON.stringify(root)}`);
    }
    if (!existing.isDirectory() && h.type === 'directory') {
      throw new UntarError(`cannot overwrite non-directory ${JSON.stringify(path)} with directory in ${JSON.stringify(root)}`);
    }
    if (!existing.isDirectory()) rmSync(path, { force: true });
  }
  const mode = (h.mode ?? 0o644) & 0o7777;
  const mtime = h.mtime ?? new Date();
  switch (h.type) {
    case 'directory':
      stream.resume();
      if (!existing) mkdirSync(path, { mode });
      chmodSync(path, mode);
      dirTimes.push([path, mtime]);
      return;
    case 'file':
    case 'contiguous-file': {
      const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
      try {
        for await (const chunk of stream) writeSync(fd, chunk as Buffer);
        fchmodSync(fd, mode);
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
      return;
    }
    case 'symlink':
      stream.resume();
      symlinkSync(h.linkname ?? '', path);
      lutimesSync(path, mtime, mtime);
      return;
    case 'link': {
      stream.resume();
      const target = resolveInRoot(root, cleanInRoot(h.linkname ?? ''), false);
      if (!isWithin(root, target) || target === root) throw new UntarError(`invalid hardlink ${JSON.stringify(h.linkname)} -> ${JSON.stringify(raw)}`);
      linkSync(target, path);
      return;
    }
    default:
      // Devices and fifos need privileges a CLI user may not have; docker's Untar would try. Left out.
      stream.resume();
  }
}
