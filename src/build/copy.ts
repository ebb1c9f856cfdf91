// COPY and ADD: which files a step copies (globs, .dockerignore, the
// forbidden paths outside the context), the checksum of their contents and
// metadata that keys the build cache, and writing them into a mounted image
// root. Sources are read in their root with in-root path resolution, so a
// context symlink to /etc reads the context's own `etc`, never the host's.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { posix } from 'node:path';
import { InvalidArgumentError } from '../errors.ts';
import { cleanInRoot, PathEscapeError, resolveInRoot, walkInRoot } from '../files/rootpath.ts';
import { decompress, detectCompression } from '../files/compression.ts';
import type { IgnoreMatcher } from '../api/dockerignore.ts';

/** Where sources are read from: the context (with its ignore rules) or another stage's or image's root. */
export interface SourceRoot {
  dir: string;
  ignore?: IgnoreMatcher;
  isContext: boolean;
}

/** One thing to create in the image, before ownership is resolved. */
export interface CopyEntry {
  /** Absolute path in the image. */
  dest: string;
  kind: 'file' | 'dir' | 'symlink' | 'archive';
  mode: number;
  mtimeMs: number;
  /** Host path of the content (file, archive), or the bytes (heredoc). */
  source?: string;
  data?: Buffer;
  link?: string;
  size: number;
  /** A file ADD downloaded for this step (removed after it). */
  downloaded?: boolean;
}

export class BuildStepError extends InvalidArgumentError {}

const GLOB_CHARS = /[*?[\\]/;

/** Go's filepath.Match for one path segment, as a RegExp. */
function segmentRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new BuildStepError(`syntax error in pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
}

/** A source as the user named it, made relative to its root; `..` out of the context is refused with Docker's wording. */
function cleanSource(root: SourceRoot, src: string, instruction: string): string {
  const norm = posix.normalize(src);
  // An absolute source names a path in the context too (`COPY /a` is `COPY a`).
  if (root.isContext && !posix.isAbsolute(src) && (norm === '..' || norm.startsWith('../'))) {
    throw new BuildStepError(`${instruction} failed: forbidden path outside the build context: ${src} ()`);
  }
  return cleanInRoot(norm).slice(1);
}

/**
 * Expands one source (possibly a glob) to root-relative paths that exist and
 * are not ignored. With `doubleStar` (COPY --parents, as BuildKit's include
 * patterns) a `**` segment matches any number of path components, none too.
 */
async function expandSource(root: SourceRoot, src: string, instruction: string, doubleStar = false): Promise<string[]> {
  const rel = cleanSource(root, src, instruction);
  const visible = (p: string) => !(root.ignore?.excludes(p));
  if (!GLOB_CHARS.test(rel)) {
    const host = resolveInRoot(root.dir, rel);
    const st = await lstat(host).catch(() => undefined);
    if (!st || !visible(rel)) return [];
    return [rel];
  }
  let current = [''];
  for (const seg of rel.split('/').filter(Boolean)) {
    const next: string[] = [];
    if (doubleStar && seg === '**') {
      for (const base of current) next.push(base, ...(await descendants(root.dir, base)));
    } else if (!GLOB_CHARS.test(seg)) {
      for (const base of current) {
        const p = base ? `${base}/${seg}` : seg;
        if (await lstat(resolveInRoot(root.dir, p)).catch(() => undefined)) next.push(p);
      }
    } else {
      const re = segmentRegExp(seg);
      for (const base of current) {
        const names = await readdir(resolveInRoot(root.dir, base || '/')).catch(() => [] as string[]);
        for (const n of names.sort()) if (re.test(n)) next.push(base ? `${base}/${n}` : n);
      }
    }
    current = [...new Set(next)];
  }
  return current.filter((p) => p !== '' && visible(p));
}

/** Every path below `rel` in the root, parents first; only real directories are entered. */
async function descendants(rootDir: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  const names = await readdir(resolveInRoot(rootDir, rel || '/')).catch(() => [] as string[]);
  for (const n of names.sort()) {
    const child = rel ? `${rel}/${n}` : n;
    out.push(child);
    const st = await lstat(resolveInRoot(rootDir, child, false)).catch(() => undefined);
    if (st?.isDirectory()) out.push(...(await descendants(rootDir, child)));
  }
  return out;
}

export interface PlanInput {
  root: SourceRoot;
  sources: string[];
  /** The destination as written, already expanded and made absolute against WORKDIR. */
  dest: string;
  /** The destination ends with `/` (or is `.`): always a directory. */
  destIsDir: boolean;
  /** Whether `path` is an existing directory in the image (for `COPY a /existing-dir`). */
  isDirInImage(path: string): Promise<boolean>;
  /** ADD: local archives are unpacked into the destination. */
  extractArchives: boolean;
  instruction: 'COPY' | 'ADD';
  /** --exclude patterns: matched against a source as named and against paths below a source directory. */
  exclude?: IgnoreMatcher;
  /** COPY --parents: each source keeps its path (from the root, or from a `/./` in it) under the destination. */
  parents?: boolean;
}

/** What to copy: each entry with its absolute destination, in order (parents first). */
export async function planCopy(p: PlanInput): Promise<CopyEntry[]> {
  if (p.parents) return planParents(p);
  const found: string[] = [];
  for (const s of p.sources) {
    const hits = await expandSource(p.root, s, p.instruction);
    if (hits.length === 0) {
      if (GLOB_CHARS.test(s)) continue;
      throw new BuildStepError(`${p.instruction} failed: file not found in build context or excluded by .dockerignore: stat ${s}: file does not exist`);
    }
    found.push(...hits.filter((h) => !(p.exclude?.excludes(h) || p.exclude?.excludes(posix.basename(h)))));
  }
  if (found.length === 0) throw new BuildStepError(`${p.instruction} failed: no source files were specified`);
  if (found.length > 1 && !p.destIsDir) {
    throw new BuildStepError(`When using ${p.instruction} with more than one source file, the destination must be a directory and end with a /`);
  }
  const out: CopyEntry[] = [];
  for (const rel of found) {
    const host = resolveInRoot(p.root.dir, rel);
    const st = await lstat(host);
    if (st.isDirectory()) {
      await walkDir(p.root, host, rel, p.dest, out, p.exclude, '');
      continue;
    }
    const intoDir = p.destIsDir || (await p.isDirInImage(p.dest));
    const isArchive = p.extractArchives && st.isFile() && (await isArchiveFile(host));
    if (isArchive) {
      out.push({ dest: p.dest, kind: 'archive', mode: 0o755, mtimeMs: st.mtimeMs, source: host, size: st.size });
      continue;
    }
    const dest = intoDir ? posix.join(p.dest, posix.basename(rel)) : p.dest;
    out.push(entryOf(host, st, dest));
  }
  return out;
}

/**
 * COPY --parents: every match lands at `dest/<its path>`, where its path
 * starts at the root or after the source's `/./` pivot (`x/./y/*.txt` keeps
 * `y/…`). The parent directories kept come with their modes from the source.
 */
async function planParents(p: PlanInput): Promise<CopyEntry[]> {
  const out: CopyEntry[] = [];
  const madeDirs = new Set<string>();
  let matched = 0;
  for (const s of p.sources) {
    const pivot = s.indexOf('/./');
    const base = pivot < 0 ? '' : cleanSource(p.root, s.slice(0, pivot) || '/', p.instruction);
    const hits = await expandSource(p.root, pivot < 0 ? s : s.slice(0, pivot) + '/' + s.slice(pivot + 3), p.instruction, true);
    if (hits.length === 0 && !GLOB_CHARS.test(s)) {
      throw new BuildStepError(`${p.instruction} failed: file not found in build context or excluded by .dockerignore: stat ${s}: file does not exist`);
    }
    for (const hit of hits) {
      if (p.exclude?.excludes(hit) || p.exclude?.excludes(posix.basename(hit))) continue;
      matched++;
      const kept = base && hit.startsWith(base + '/') ? hit.slice(base.length + 1) : hit;
      const parts = kept.split('/');
      for (let n = 1; n < parts.length; n++) {
        const dirRel = parts.slice(0, n).join('/');
        if (madeDirs.has(dirRel)) continue;
        madeDirs.add(dirRel);
        const st = await lstat(resolveInRoot(p.root.dir, base ? `${base}/${dirRel}` : dirRel));
        out.push({ dest: posix.join(p.dest, dirRel), kind: 'dir', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, size: 0 });
      }
      const host = resolveInRoot(p.root.dir, hit);
      const st = await lstat(host);
      if (st.isDirectory()) await walkDir(p.root, host, hit, posix.join(p.dest, kept), out, p.exclude, '');
      else out.push(await entryOf(host, st, posix.join(p.dest, kept)));
    }
  }
  if (matched === 0) throw new BuildStepError(`${p.instruction} failed: no source files were specified`);
  return out;
}

/** A tar, plain or compressed (by its first bytes). */
export async function isArchiveFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const head = buf.subarray(0, bytesRead);
    if (detectCompression(head) !== 'none') return true;
    return bytesRead === 512 && head.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}

function entryOf(host: string, st: Stats, dest: string): CopyEntry {
  if (st.isSymbolicLink()) return { dest, kind: 'symlink', mode: 0o777, mtimeMs: st.mtimeMs, link: readlinkSync(host), size: 0 };
  if (st.isDirectory()) return { dest, kind: 'dir', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, size: 0 };
  if (!st.isFile()) throw new BuildStepError(`${dest}: only regular files, directories and symlinks can be copied`);
  return { dest, kind: 'file', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, source: host, size: st.size };
}

/** A source directory: its contents (not itself) under `dest`; ignored paths are skipped, symlinks copied as symlinks. */
async function walkDir(
  root: SourceRoot, host: string, rel: string, dest: string, out: CopyEntry[], exclude: IgnoreMatcher | undefined, below: string,
): Promise<void> {
  // Sync calls: a source tree is often thousands of small files, and a promise round trip per lstat costs more than the lstat.
  const st = lstatSync(host);
  out.push({ dest, kind: 'dir', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, size: 0 });
  const names = readdirSync(host).sort();
  for (const name of names) {
    const childRel = rel ? `${rel}/${name}` : name;
    const childBelow = below ? `${below}/${name}` : name;
    const childHost = `${host}/${name}`;
    const cst = lstatSync(childHost);
    if (exclude?.excludes(childBelow)) continue;
    const excluded = root.ignore?.excludes(childRel) ?? false;
    if (cst.isDirectory()) {
      // An excluded directory may still hold re-included paths (`!dir/keep`).
      if (excluded && !root.ignore?.hasExceptions) continue;
      const sub: CopyEntry[] = [];
      await walkDir(root, childHost, childRel, posix.join(dest, name), sub, exclude, childBelow);
      if (excluded && sub.length === 1) continue;
      out.push(...sub);
      continue;
    }
    if (excluded) continue;
    out.push(entryOf(childHost, cst, posix.join(dest, name)));
  }
}

/** sha256 over every entry's path, type, mode, size, link and content: the cache key of a COPY/ADD. */
export async function checksumEntries(entries: CopyEntry[], extra: string, knownDigest?: (source: string) => string | undefined): Promise<string> {
  const h = createHash('sha256');
  h.update(extra + '\0');
  for (const e of entries) {
    h.update(`${e.kind}\0${e.dest}\0${e.mode.toString(8)}\0${e.size}\0${e.link ?? ''}\0`);
    // Each file's content enters as its own sha256, which the context unpack may already know.
    if (e.data) h.update(createHash('sha256').update(e.data).digest('hex'));
    else if (e.source && (e.kind === 'file' || e.kind === 'archive')) h.update(knownDigest?.(e.source) ?? (await fileDigest(e.source, e.size)));
  }
  return h.digest('hex');
}

async function fileDigest(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size <= SMALL_FILE) h.update(readFileSync(path));
  else for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface LayerOptions {
  uid: number;
  gid: number;
  /** --chmod: replaces the mode of every file and directory copied. */
  chmod?: number;
  /** --chown was given: unpacked archive entries take uid/gid too (as BuildKit's), instead of the tar's owners. */
  chown?: boolean;
  /** The parent image's layer directories, top first: where destinations are resolved. */
  lowers: string[];
  /**
   * Filled as the tar is made: the layer path of each file entry read from a
   * file of the build context, and that file, which the unpack may link.
   */
  contextFiles?: Map<string, string>;
}

/** What a path is in the image made of `lowers` (top first): the top-most entry, or a whiteout's absence. */
export function lookupInLayers(lowers: string[], path: string): Stats | undefined {
  for (const dir of lowers) {
    const st = lstatSync(dir + path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isCharacterDevice() && st.rdev === 0) return undefined; // whiteout
    return st;
  }
  return undefined;
}

/**
 * Resolves `path` in the image made of `lowers` as the kernel would in the
 * merged root: symlinks of every parent component are followed (clamped at
 * the root), so `COPY x /var/run/` lands where /var/run points; with
 * `followFinal` the last component too (a directory copied onto a symlink).
 */
export function resolveInLayers(lowers: string[], path: string, followFinal = false): string {
  try {
    return walkInRoot(path, followFinal, (candidate) => {
      if (!lookupInLayers(lowers, candidate)?.isSymbolicLink()) return undefined;
      // The topmost layer holding it is the one lookupInLayers saw.
      for (const dir of lowers) if (lstatSync(dir + candidate, { throwIfNoEntry: false })) return readlinkSync(dir + candidate);
      return undefined;
    });
  } catch (err) {
    if (err instanceof PathEscapeError) throw new BuildStepError(err.message);
    throw err;
  }
}

type Header = Partial<tar.Header> & { name: string };

/**
 * The layer of a COPY/ADD as a tar stream: every entry below its resolved
 * destination, preceded by its parent directories (with the attributes they
 * have in the image, so the layer does not change them). Small files are read
 * whole, big ones streamed; archives (ADD) are unpacked into the destination
 * with their names cleaned into it.
 */
export function entriesLayer(entries: CopyEntry[], o: LayerOptions): Readable {
  const pack = tar.pack();
  const emitted = new Set<string>();
  const put = (h: Header, body?: Buffer | Readable): Promise<void> => new Promise((resolve, reject) => {
    if (!body || Buffer.isBuffer(body)) {
      pack.entry(h, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      return;
    }
    const sink = pack.entry(h, (err) => (err ? reject(err) : resolve()));
    body.on('error', (err) => {
      sink.destroy(err);
      reject(err);
    });
    // The layer given up on (pack destroyed, the entry with it): the source file closes too, or its space stays taken once removed.
    sink.once('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    body.pipe(sink);
  });
  const parents = async (path: string) => {
    const chain: string[] = [];
    for (let p = posix.dirname(path); p !== '/' && !emitted.has(p); p = posix.dirname(p)) chain.unshift(p);
    for (const p of chain) {
      emitted.add(p);
      const found = lookupInLayers(o.lowers, p);
      const st = found?.isDirectory() ? found : undefined;
      await put({
        name: p.slice(1) + '/', type: 'directory',
        mode: st ? st.mode & 0o7777 : 0o755, uid: st?.uid ?? 0, gid: st?.gid ?? 0, mtime: st?.mtime ?? new Date(),
      });
    }
  };
  // Entries share few parent directories: each is resolved once, not once per entry and layer.
  const resolvedDirs = new Map<string, string>();
  const resolveDest = (path: string): string => {
    const clean = cleanInRoot(path);
    if (clean === '/') return clean;
    const parent = posix.dirname(clean);
    let dir = resolvedDirs.get(parent);
    if (dir === undefined) {
      dir = parent === '/' ? '/' : resolveInLayers(o.lowers, parent, true);
      resolvedDirs.set(parent, dir);
    }
    return posix.join(dir, posix.basename(clean));
  };
  (async () => {
    for (const e of entries) {
      // A directory copied onto a symlink to a directory goes where it points, as its files do.
      const dest = e.kind === 'dir' ? resolveInLayers(o.lowers, e.dest, true) : resolveDest(e.dest);
      const mode = o.chmod ?? e.mode;
      const common = { uid: o.uid, gid: o.gid, mtime: new Date(Math.floor(e.mtimeMs / 1000) * 1000) };
      if (e.kind === 'archive') {
        await parents(dest);
        if (dest !== '/' && !emitted.has(dest)) {
          emitted.add(dest);
          const st = lookupInLayers(o.lowers, dest);
          const existing = st?.isDirectory() ? st : undefined;
          const owner = existing ? { uid: existing.uid, gid: existing.gid } : o.chown ? { uid: o.uid, gid: o.gid } : { uid: 0, gid: 0 };
          await put({ name: dest.slice(1) + '/', type: 'directory', mode: existing ? existing.mode & 0o7777 : 0o755, ...owner, mtime: new Date() });
        }
        await repackArchive(e.source as string, dest, put, o.chown ? { uid: o.uid, gid: o.gid } : undefined);
        continue;
      }
      if (dest === '/') continue;
      await parents(dest);
      if (e.kind === 'dir') {
        emitted.add(dest);
        await put({ ...common, name: dest.slice(1) + '/', type: 'directory', mode });
      } else if (e.kind === 'symlink') {
        await put({ ...common, name: dest.slice(1), type: 'symlink', linkname: e.link, mode: 0o777 });
      } else {
        let body: Buffer | Readable | undefined = e.data;
        if (!body && e.size > 0) body = e.size <= SMALL_FILE ? readFileSync(e.source as string) : createReadStream(e.source as string);
        if (Buffer.isBuffer(body) && body.length !== e.size) throw new BuildStepError(`${e.dest}: the file changed while it was copied`);
        if (o.contextFiles && e.source !== undefined && !e.data && !e.downloaded) o.contextFiles.set(dest, e.source);
        await put({ ...common, name: dest.slice(1), type: 'file', mode, size: e.size }, body);
      }
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return Readable.from(pack, { objectMode: false });
}

const SMALL_FILE = 256 * 1024;

/** An archive's entries, renamed below `dest` (a `../` cannot leave it), into the layer; `owner` replaces the tar's. */
async function repackArchive(
  path: string, dest: string, put: (h: Header, body?: Buffer | Readable) => Promise<void>, owner?: { uid: number; gid: number },
): Promise<void> {
  const d = await decompress(createReadStream(path));
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      const inside = (n: string) => posix.join(dest, cleanInRoot(n)).slice(1);
      const name = inside(h.name);
      if (name === '' || name === dest.slice(1)) {
        stream.resume();
        next();
        return;
      }
      const header: Header = {
        name: h.type === 'directory' ? name + '/' : name, type: h.type, mode: h.mode, uid: owner?.uid ?? h.uid, gid: owner?.gid ?? h.gid, mtime: h.mtime,
        size: h.size, linkname: h.type === 'link' ? inside(h.linkname ?? '') : h.linkname, devmajor: h.devmajor, devminor: h.devminor,
      };
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        stream.resume();
        put({ ...header, size: 0 }).then(() => next(), reject);
        return;
      }
      put(header, stream as unknown as Readable).then(() => next(), reject);
    });
    extract.on('finish', () => resolve());
    extract.on('error', reject);
  });
  d.stream.pipe(extract);
  try {
    await done;
    await d.finished();
  } catch (err) {
    d.abort(err as Error);
    throw new BuildStepError(`failed to unpack ${posix.basename(path)}: ${(err as Error).message}`);
  }
}
