// Build contexts as the daemon receives them: a tar (plain, gzip, bzip2, xz,
// zstd) or a bare Dockerfile as the request body, or a `remote` URL — an
// http(s) Dockerfile or tarball, or a git repository (`#ref:subdir`). Every
// context is unpacked to a directory of its own, streamed (never held in
// memory), with the hostile-tar rules of layer-apply: no entry lands outside.
import { createHash } from 'node:crypto';
import { linkSync, lstatSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { InvalidArgumentError, SystemError } from '../errors.ts';
import { applyLayer } from '../storage/layer-apply.ts';
import { decompress, peek } from '../files/compression.ts';
import { cleanInRoot, resolveInRoot, isWithin } from '../files/rootpath.ts';
import { BASE_FILES_IN_CONTEXT, isGitUrl } from '../api/build-context.ts';
import { checkoutGit, GitError, GitSubdirError, parseGitRef } from './git-remote.ts';
import type { CachedContext, ContextCache } from './context-cache.ts';

export interface BuildContext {
  /** The unpacked context. */
  dir: string;
  /** Removes the unpacked context (and a git clone), or releases a cached one. */
  cleanup(): Promise<void>;
  /** The build may write to the directory (it must not be reused). */
  markDirty(): void;
  /** sha256 (hex) of files by host path, where the unpack knows them. */
  fileDigests?: ReadonlyMap<string, string>;
  /** `sha256:…` of the context tar, when the daemon keeps it for later builds. */
  digest?: string;
  /** Kept with a kept context: what its builds worked out (COPY checksums), for later builds of it. */
  memo?: Map<string, string>;
}

/** The context kept under its tar's digest (`sha256:…`, as a client names it), held until released. */
export function keptContext(digest: string, cache: ContextCache): CachedContext | undefined {
  return /^sha256:[0-9a-f]{64}$/.test(digest) ? cache.acquire(digest.slice(7)) : undefined;
}

/** A kept context as a build uses it; cleanup releases it. */
function buildContextOf(kept: CachedContext, digest: string): BuildContext {
  return { dir: kept.dir, fileDigests: kept.fileDigests, memo: kept.memo, markDirty: kept.markDirty, cleanup: kept.release, digest };
}

/** A context kept from an earlier build, named by its tar's digest (`sha256:…`). */
export function contextFromCache(digest: string, cache: ContextCache): BuildContext | undefined {
  const hit = keptContext(digest, cache);
  return hit && buildContextOf(hit, digest);
}

/** A Dockerfile sent without a tar around it is at most this big. */
const MAX_BARE_DOCKERFILE = 16 << 20;

function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  if (block.subarray(257, 262).toString('latin1') === 'ustar') return true;
  // A v7 tar has no magic: its header checksum still adds up.
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored;
}

async function newContextDir(tmpRoot: string): Promise<string> {
  await mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  return mkdtemp(join(tmpRoot, 'ctx-'));
}

/**
 * Unpacks a request body: a tar in any compression, or a bare Dockerfile
 * (saved as `dockerfileName`). With a cache, a small tar seen before reuses
 * its unpacked directory.
 */
export async function contextFromStream(
  input: Readable, dockerfileName: string, tmpRoot: string, cache?: ContextCache, base?: CachedContext,
): Promise<BuildContext> {
  const dir = await newContextDir(tmpRoot);
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const d = await decompress(input);
    const { head, stream } = await peek(d.stream, 512);
    if (head.length === 0) {
      stream.resume();
    } else if (isTarHeader(head) || (head.length >= 512 && head.every((b) => b === 0))) {
      // Buffer a small tar whole to look it up; a big one is unpacked as it arrives.
      const limit = cache?.maxContextBytes ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const it = stream[Symbol.asyncIterator]();
      let ended = false;
      while (size <= limit) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        chunks.push(r.value as Buffer);
        size += (r.value as Buffer).length;
      }
      let digest: string | undefined;
      if (cache && ended) {
        const whole = Buffer.concat(chunks);
        digest = createHash('sha256').update(whole).digest('hex');
        const hit = cache.acquire(digest);
        if (hit) {
          await cleanup();
          return buildContextOf(hit, `sha256:${digest}`);
        }
      }
      async function* all() {
        yield* chunks;
        if (!ended) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
      }
      const previous = base ? undefined : cache?.recent();
      const earlier = base ?? previous;
      const fileDigests = new Map<string, string>();
      try {
        await applyLayer(dir, Readable.from(all(), { objectMode: false }).pipe(completeTarEnd()), {
          overlayWhiteouts: false, xattrs: false, linkFrom: earlier && unchangedIn(earlier.dir), fileDigests,
        });
      } catch (err) {
        // An uncompressed context is the request itself: destroying it would
        // reset the connection before the client reads why (ENOSPC). The
        // outer catch drains it instead.
        if (d.compression === 'none') input.removeAllListeners('readable');
        else d.abort(err as Error);
        // A full disk is the daemon's trouble, not a bad context: a 500.
        const full = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC';
        throw new (full ? SystemError : InvalidArgumentError)(`failed to unpack the build context: ${(err as Error).message}`);
      } finally {
        await previous?.release();
      }
      await d.finished();
      if (base) takeBaseFiles(dir, base, fileDigests);
      if (cache && digest) {
        return buildContextOf(cache.adopt(digest, dir, size, fileDigests), `sha256:${digest}`);
      }
      return { dir, fileDigests, cleanup, markDirty: () => {} };
    } else {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of stream) {
        size += (c as Buffer).length;
        if (size > MAX_BARE_DOCKERFILE) throw new InvalidArgumentError('the build context is neither a tar archive nor a Dockerfile');
        chunks.push(c as Buffer);
      }
      await writeDockerfile(dir, dockerfileName, Buffer.concat(chunks));
    }
    return { dir, cleanup, markDirty: () => {} };
  } catch (err) {
    input.resume();
    await cleanup();
    throw err;
  }
}

/**
 * A context sent on top of an earlier one lists the files it left out (its
 * client saw them unchanged): they are linked from the earlier context, each
 * a regular file there and landing in a real directory of the new one.
 */
function takeBaseFiles(dir: string, base: CachedContext, fileDigests: Map<string, string>): void {
  const manifest = join(dir, BASE_FILES_IN_CONTEXT);
  const bad = (why: string) => new InvalidArgumentError(`invalid build context on top of an earlier one: ${why}`);
  if (!lstatSync(manifest, { throwIfNoEntry: false })?.isFile()) throw bad(`no ${BASE_FILES_IN_CONTEXT}`);
  let files: unknown;
  try {
    files = (JSON.parse(readFileSync(manifest, 'utf8')) as { files?: unknown }).files;
  } catch {
    throw bad(`${BASE_FILES_IN_CONTEXT} is not JSON`);
  }
  rmSync(manifest);
  if (!Array.isArray(files)) throw bad('no file list');
  const fromBase = unchangedIn(base.dir);
  const intoNew = unchangedIn(dir);
  const baseRoot = posix.resolve(base.dir);
  const newRoot = posix.resolve(dir);
  for (const f of files) {
    if (typeof f !== 'string' || f.includes('\0')) throw bad('a file name is not a string');
    const clean = cleanInRoot(f);
    const src = clean === '/' ? undefined : fromBase(clean);
    if (!src || !lstatSync(src.path, { throwIfNoEntry: false })?.isFile()) throw bad(`${f} is not a file of the earlier context`);
    const dst = intoNew(clean);
    if (!dst) throw bad(`the directory of ${f} is not in the context`);
    try {
      linkSync(src.path, dst.path);
    } catch (err) {
      throw bad(`${f}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? 'sent as well' : (err as Error).message}`);
    }
    const digest = base.fileDigests?.get(baseRoot + clean);
    if (digest) fileDigests.set(newRoot + clean, digest);
  }
}

/**
 * Where an earlier context (ours, never changed in place) may hold a file of
 * the new one. Only a path whose directories are real directories there:
 * a symlink in the old context must not lead a link out of it.
 */
function unchangedIn(oldDir: string): (clean: string) => { path: string; sameContent: boolean } | undefined {
  const realpath = (p: string) => {
    try { return realpathSync(p); } catch { return undefined; }
  };
  const base = realpath(oldDir);
  const realDirs = new Map<string, boolean>();
  return (clean) => {
    if (base === undefined) return undefined;
    const parent = posix.dirname(clean);
    let real = realDirs.get(parent);
    if (real === undefined) {
      const want = parent === '/' ? base : base + parent;
      real = realpath(want) === want;
      realDirs.set(parent, real);
    }
    return real ? { path: base + clean, sameContent: false } : undefined;
  };
}

/**
 * The docker CLI sends `build -f -` contexts without the last entry's padding
 * and the end-of-archive blocks (dockerd's reader takes that): complete them.
 * Zeros after a proper end are ignored.
 */
function completeTarEnd(): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      cb(null, Buffer.alloc(((512 - (total % 512)) % 512) + 1024));
    },
  });
}

async function writeDockerfile(dir: string, name: string, text: Buffer): Promise<void> {
  const p = resolveInRoot(dir, name);
  if (!isWithin(dir, p) || p === dir) throw new InvalidArgumentError(`invalid Dockerfile path: ${name}`);
  await mkdir(posix.dirname(p), { recursive: true });
  await writeFile(p, text);
}


/** A `remote=` context: a git repository, or a URL to a tarball or a Dockerfile. */
export async function contextFromRemote(remote: string, dockerfileName: string, tmpRoot: string, signal?: AbortSignal): Promise<BuildContext> {
  // Never cached: the same URL may serve other bytes next time, and they are hashed anyway.
  if (isGitUrl(remote)) return contextFromGit(remote, tmpRoot);
  if (!/^https?:\/\//.test(remote)) throw new InvalidArgumentError(`unable to prepare context: unsupported remote context: ${remote}`);
  let res: Response;
  try {
    res = await fetch(remote, { signal, redirect: 'follow' });
  } catch (err) {
    throw new InvalidArgumentError(`unable to prepare context: unable to download remote context ${remote}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) {
    throw new InvalidArgumentError(`unable to prepare context: unable to download remote context ${remote}: error fetching: ${res.status} ${res.statusText}`);
  }
  return contextFromStream(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), dockerfileName, tmpRoot);
}

/** `git clone` of `url#ref:subdir` (ref a branch, tag or commit); the context is the subdirectory. */
async function contextFromGit(remote: string, tmpRoot: string): Promise<BuildContext> {
  const g = parseGitRef(remote);
  if (!g) throw new InvalidArgumentError(`unable to prepare context: invalid git URL: ${remote}`);
  try {
    const c = await checkoutGit(g, tmpRoot);
    return { dir: c.dir, cleanup: c.cleanup, markDirty: () => {} };
  } catch (err) {
    if (err instanceof GitSubdirError) throw new InvalidArgumentError(`unable to prepare context: subdirectory ${g.subdir} of ${g.url} does not exist`);
    if (err instanceof GitError) {
      throw new InvalidArgumentError(`unable to prepare context: unable to 'git clone' to temporary context directory: error fetching: ${err.message}`);
    }
    throw err;
  }
}
