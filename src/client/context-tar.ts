// The CLI's side of a build context: the context directory as a tar stream,
// without what .dockerignore excludes (the Dockerfile and .dockerignore are
// always sent, as the docker CLI does), plus extra entries — a Dockerfile
// from outside the context or from stdin, and build secrets (the API has no
// other channel for them; the daemon moves them out before the build).
// Files are streamed one at a time: memory stays bounded for any size.
// Runs in the CLI's startup snapshot: no process state read at load time.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { IgnoreMatcher } from '../api/dockerignore.ts';

export interface ExtraEntry {
  name: string;
  data: Buffer;
  mode?: number;
}

export interface PackOptions {
  /** The context directory; none for a context of only the extra entries. */
  dir?: string;
  ignore?: IgnoreMatcher;
  /** Context-relative paths that are sent even when excluded. */
  keep: string[];
  extra: ExtraEntry[];
  /** Regular files left out of the tar: the daemon has them from an earlier context. */
  skip?: ReadonlySet<string>;
}

const SMALL_FILE = 256 * 1024;

/** One tar entry from a buffer or a stream; rejects if the stream fails. */
export function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body?: Buffer | Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!body || Buffer.isBuffer(body)) {
      pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      return;
    }
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    body.on('error', (err) => {
      sink.destroy(err);
      reject(err);
    });
    body.pipe(sink);
  });
}

interface ContextEntry {
  rel: string;
  abs: string;
  st: Stats;
}

/** The entries of the context tar, in tar order (the Dockerfile and ignore files always; others unless excluded). */
function* contextEntries(o: PackOptions, abs: string, rel: string): Generator<ContextEntry> {
  // Sync calls: a context is thousands of small files, and one syscall each is
  // far cheaper than a promise round trip each.
  const names = readdirSync(abs).sort();
  for (const name of names) {
    const childRel = rel ? `${rel}/${name}` : name;
    const childAbs = `${abs}/${name}`;
    const st = lstatSync(childAbs);
    const excluded = (o.ignore?.excludes(childRel) ?? false) && !o.keep.includes(childRel);
    if (st.isDirectory()) {
      const keepsInside = o.keep.some((k) => k.startsWith(childRel + '/'));
      if (excluded && !o.ignore?.hasExceptions && !keepsInside) continue;
      if (!excluded) yield { rel: childRel, abs: childAbs, st };
      yield* contextEntries(o, childAbs, childRel);
      continue;
    }
    // Devices, fifos and sockets are not part of a build context.
    if (!excluded && (st.isSymbolicLink() || st.isFile())) yield { rel: childRel, abs: childAbs, st };
  }
}

async function walk(pack: tar.Pack, o: PackOptions, dir: string): Promise<void> {
  for (const { rel, abs, st } of contextEntries(o, dir, '')) {
    const common = { mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
    if (st.isDirectory()) {
      await addEntry(pack, { ...common, name: rel + '/', type: 'directory' });
    } else if (st.isSymbolicLink()) {
      await addEntry(pack, { ...common, name: rel, type: 'symlink', linkname: readlinkSync(abs) });
    } else if (!o.skip?.has(rel)) {
      // Small files in one read; big ones streamed, so memory stays bounded.
      const body = st.size === 0 ? undefined : st.size <= SMALL_FILE ? readFileSync(abs) : createReadStream(abs);
      if (Buffer.isBuffer(body) && body.length !== st.size) throw new Error(`${rel} changed while it was read`);
      await addEntry(pack, { ...common, name: rel, type: 'file', size: st.size }, body);
    }
  }
}

/**
 * What the context tar of `o` would hold, from lstat alone: a file's inode,
 * size, mode and times (ctime changes with any write, and cannot be set back)
 * stand for its bytes. A file changed too recently for its times to be
 * trusted (they come from a coarse clock) is `fresh`: it is never taken as
 * unchanged, and a context with one is not `settled`. The ignore rules are
 * the caller's to add to the key.
 */
export interface ContextSurvey {
  fingerprint: string;
  settled: boolean;
  /** Each regular file's stat key, by context path (fresh ones left out). */
  files: Record<string, string>;
}

/** Longer than the coarse clock's tick that stamps file times. */
const SETTLE_MS = 250;

export function surveyContext(o: PackOptions): ContextSurvey {
  const h = createHash('sha256');
  h.update(JSON.stringify(o.keep) + '\n');
  const settledBefore = Date.now() - SETTLE_MS;
  let settled = true;
  const files: Record<string, string> = {};
  if (o.dir) {
    for (const { rel, abs, st } of contextEntries(o, o.dir, '')) {
      const link = st.isSymbolicLink() ? readlinkSync(abs) : '';
      const key = `${st.mode}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`;
      h.update(`${rel}\0${key}\0${link}\n`);
      const fresh = Math.max(st.ctimeMs, st.mtimeMs) >= settledBefore;
      if (fresh) settled = false;
      else if (st.isFile()) files[rel] = key;
    }
  }
  // Extra entries are stamped with the time they are sent: such a tar is never the same twice.
  return { fingerprint: h.digest('hex'), settled: settled && o.extra.length === 0, files };
}

/** The context as a tar stream; errors (an unreadable file) end the stream with that error. */
export function packContext(o: PackOptions): Readable {
  const pack = tar.pack();
  (async () => {
    if (o.dir) await walk(pack, o, o.dir);
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    for (const e of o.extra) {
      await addEntry(pack, { name: e.name, type: 'file', mode: e.mode ?? 0o644, uid: 0, gid: 0, mtime: now, size: e.data.length }, e.data);
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return Readable.from(batched(pack), { objectMode: false });
}

/**
 * tar-stream yields every header and small file body as a chunk of its own;
 * sent as they come, a context of 1,000 files costs thousands of socket
 * writes (and HTTP chunk headers) on each side.
 */
async function* batched(source: AsyncIterable<unknown>, size = 256 << 10): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let bytes = 0;
  for await (const c of source) {
    const chunk = c as Buffer;
    parts.push(chunk);
    bytes += chunk.length;
    if (bytes >= size) {
      yield Buffer.concat(parts, bytes);
      parts = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield Buffer.concat(parts, bytes);
}
