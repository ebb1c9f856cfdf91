// Reading a container's json-file log as dockerd does for GET /containers/{id}/logs.
//
// berth-shim writes one JSON object per line ({"log","stream","time"[,"attrs"]})
// to container.log and, with max-size/max-file, rotates it: container.log.1 is
// the newest rotated file, container.log.N the oldest (max-file=1 truncates in
// place instead). The reader:
//   - takes a consistent snapshot of the files (retrying if a rotation happens
//     while it opens them) and reads them oldest first;
//   - applies --tail by scanning backwards from the end of the newest files
//     (never parsing what it skips), counting entries across files as docker
//     does: every line counts, whatever its stream or time;
//   - applies --since/--until as dockerd's forwarder does: since is inclusive
//     and only skips until the first entry at or after it (timestamps need not
//     be monotonic); the first entry after until ends the stream;
//   - bounds a non-following read by the sizes seen at the snapshot, so a busy
//     writer cannot keep it going forever; a torn last line (a write in
//     progress) is left out until it is complete;
//   - follows the newest file with fs.watch on its directory plus a polling
//     fallback, finishing the old file and continuing with the new ones when
//     it is rotated (also when several rotations happened in between), and
//     starting over when it is truncated (noticed by size, or by the last bytes
//     read changing when it was rewritten past the read position meanwhile).
// Every file handle and watcher is released when the iteration ends, however
// it ends (completion, break/return, abort, error).
import { watch, type BigIntStats } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LogEntry } from '../api/stream-frames.ts';
import { BufferPool, LogEncoder, type LogFormat } from './log-encode.ts';
import { EntryFilter, type EntrySelection } from './log-entry.ts';

export type { LogEntry, LogFormat };

export interface LogReadOptions extends EntrySelection {
  /** The last N entries across all files; 'all', absent or negative = everything; 0 = nothing old. */
  tail?: number | 'all';
  follow: boolean;
  signal?: AbortSignal;
  /** Resolves when the container has stopped: what is left is drained, then the stream ends. */
  followUntil?: Promise<void>;
}


const CHUNK = 256 * 1024;
/** Longest line kept; entries are at most 16 KiB of output (~100 KiB escaped). Longer = garbage. */
const MAX_LINE = 1024 * 1024;
/** Poll interval when fs.watch is unavailable, and the safety re-check when it is. */
const POLL_MS = 200;
const WATCHED_POLL_MS = 1000;
const SNAPSHOT_TRIES = 5;
/** How many of the last bytes read are kept to notice a truncate-and-rewrite. */
const SEEN = 64;
const EMPTY = Buffer.alloc(0);

// ---------- files ----------

interface LogFile {
  path: string;
  fh: FileHandle;
  dev: bigint;
  ino: bigint;
  /** Size when opened: the end of what a snapshot covers. */
  size: number;
  /** Next byte to read. */
  offset: number;
  /** Bytes of an incomplete last line. */
  partial: Buffer;
  /** Dropping an over-long line until its newline. */
  skipping: boolean;
  /** The last bytes read (ending at offset): if they change, the file was truncated and rewritten. */
  seen: Buffer;
}

const isENOENT = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

async function statPath(path: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(path, { bigint: true });
  } catch (err) {
    if (isENOENT(err)) return undefined;
    throw err;
  }
}

/**
 * Keeps track of every handle opened, so that whatever way the reader ends,
 * nothing is left open.
 */
class Handles {
  readonly open = new Set<LogFile>();

  async openLog(path: string): Promise<LogFile | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isENOENT(err)) return undefined;
      throw err;
    }
    const f: LogFile = { path, fh, dev: 0n, ino: 0n, size: 0, offset: 0, partial: EMPTY, skipping: false, seen: EMPTY };
    this.open.add(f);
    const st = await fh.stat({ bigint: true });
    f.dev = st.dev;
    f.ino = st.ino;
    f.size = Number(st.size);
    return f;
  }

  async close(f: LogFile): Promise<void> {
    if (!this.open.delete(f)) return;
    await f.fh.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((f) => this.close(f)));
  }
}

/** Rotated files next to the log (name.1, name.2, …), oldest (highest number) first. */
async function rotatedPaths(logPath: string): Promise<string[]> {
  const dir = dirname(logPath);
  const prefix = basename(logPath) + '.';
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isENOENT(err) || (err as NodeJS.ErrnoException)?.code === 'ENOTDIR') return [];
    throw err;
  }
  const nums: number[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const rest = n.slice(prefix.length);
    if (/^[1-9]\d*$/.test(rest)) nums.push(Number(rest));
  }
  return nums.sort((a, b) => b - a).map((i) => join(dir, `${prefix}${i}`));
}

/**
 * Opens the log's files, oldest first, as one consistent set: after opening,
 * every path must still name the file opened, otherwise a rotation moved
 * things meanwhile and it tries again.
 */
async function openChain(h: Handles, logPath: string): Promise<LogFile[]> {
  for (let attempt = 1; ; attempt++) {
    const paths = [...(await rotatedPaths(logPath)), logPath];
    const files: LogFile[] = [];
    let consistent = true;
    for (const p of paths) {
      const f = await h.openLog(p);
      if (f) files.push(f);
      else if (p !== logPath) consistent = false; // a rotated file vanished: rotation in progress
    }
    if (consistent) {
      for (const f of files) {
        const st = await statPath(f.path);
        if (!st || st.ino !== f.ino || st.dev !== f.dev) {
          consistent = false;
          break;
        }
      }
    }
    if (consistent || attempt >= SNAPSHOT_TRIES) return files;
    for (const f of files) await h.close(f);
  }
}

/**
 * Where the last `need` complete lines of `f` (within its snapshot size) begin:
 * the byte after the (need+1)-th newline from the end, or 0 with `found` < need
 * when the file has fewer lines. Bytes after the last newline (a torn line) are
 * not a line. Reads backwards in chunks, so only the tail of the file is read.
 */
async function tailScan(f: LogFile, need: number): Promise<{ offset: number; found: number }> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = f.size;
  let seen = 0;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const { bytesRead } = await f.fh.read(buf, 0, len, pos);
    const view = buf.subarray(0, bytesRead);
    let j = bytesRead - 1;
    while (j >= 0) {
      const nl = view.lastIndexOf(0x0a, j);
      if (nl < 0) break;
      if (++seen === need + 1) return { offset: pos + nl + 1, found: need };
      j = nl - 1;
    }
  }
  return { offset: 0, found: seen };
}

/**
 * The two buffers a reader reads into, in turn: a chunk is decoded (and
 * nothing of it kept) while the next is read into the other one. Reused,
 * the kernel copies into pages already mapped: a fresh buffer per chunk
 * doubled the cost of the reads.
 */
class ReadBuffers {
  private readonly bufs: Buffer[] = [EMPTY, EMPTY];
  private i = 0;
  /** Reads of the follow: small and far apart; a fresh buffer each, none kept. */
  fresh = false;

  next(size: number): Buffer {
    if (this.fresh) return Buffer.allocUnsafe(size);
    this.i ^= 1;
    // Room for a torn line ahead of the next full chunk, so a buffer is not outgrown at every read.
    if (this.bufs[this.i].length < size) this.bufs[this.i] = Buffer.allocUnsafe(size < CHUNK ? size : size + 64 * 1024);
    return this.bufs[this.i];
  }

  release(): void {
    this.bufs[0] = this.bufs[1] = EMPTY;
    this.fresh = true;
  }
}

/**
 * Reads the next chunk of `f` (not past `limit`): its complete lines as one
 * buffer (each ending in a newline; empty when none completed), or null at
 * the end. The torn line before it is read into the same buffer, ahead of
 * the new bytes, so a chunk is never concatenated.
 */
async function readChunk(f: LogFile, limit: number, bufs: ReadBuffers): Promise<Buffer | null> {
  const want = Math.min(CHUNK, limit - f.offset);
  if (want <= 0) return null;
  const keep = f.partial.length;
  const buf = bufs.next(keep + want);
  const { bytesRead } = await f.fh.read(buf, keep, want, f.offset);
  if (bytesRead === 0) return null;
  f.offset += bytesRead;
  const data = buf.subarray(keep, keep + bytesRead);
  f.seen = Buffer.from(bytesRead >= SEEN ? data.subarray(bytesRead - SEEN) : Buffer.concat([f.seen, data]).subarray(-SEEN));
  let all = buf.subarray(0, keep + bytesRead);
  if (keep) f.partial.copy(buf, 0);
  if (f.skipping) {
    // The rest of an over-long line is dropped up to its newline (nothing was kept of it).
    const nl = data.indexOf(0x0a);
    if (nl < 0) return EMPTY;
    f.skipping = false;
    all = data.subarray(nl + 1);
  }
  const last = all.lastIndexOf(0x0a);
  const rest = all.subarray(last + 1);
  if (rest.length > MAX_LINE) {
    f.partial = EMPTY;
    f.skipping = true;
  } else {
    f.partial = rest.length ? Buffer.from(rest) : EMPTY;
  }
  return all.subarray(0, last + 1);
}

/** What is left of a torn line is dropped when a file is finished (rotated away, truncated). */
function dropPartial(f: LogFile): void {
  f.partial = EMPTY;
  f.skipping = false;
}

/**
 * Whether `f` was truncated since it was read (max-file=1 truncates in place):
 * it is shorter than what was read, or the bytes before the read position are
 * not the ones read there (truncated, then rewritten past that point).
 */
async function truncated(f: LogFile): Promise<boolean> {
  const st = await f.fh.stat({ bigint: true });
  if (Number(st.size) < f.offset) return true;
  const n = f.seen.length;
  if (n === 0 || f.offset < n) return false;
  const buf = Buffer.allocUnsafe(n);
  const { bytesRead } = await f.fh.read(buf, 0, n, f.offset - n);
  return bytesRead < n || !buf.equals(f.seen);
}

function normalizeTail(tail: number | 'all' | undefined): number {
  if (tail === undefined || tail === 'all' || !Number.isFinite(tail) || tail < 0) return -1;
  return Math.floor(tail);
}

// ---------- waiting for changes ----------

/** A wake-up flag: notify() before wait() is not lost. */
class Waker {
  private pending = false;
  private wake: (() => void) | undefined;

  notify(): void {
    this.pending = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  clear(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const fire = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(fire, ms);
      this.wake = fire;
    });
  }
}

/** Watches the log's directory for changes to the log and its rotated files. */
class DirWatch {
  private w: ReturnType<typeof watch> | undefined;

  constructor(logPath: string, onChange: () => void) {
    const base = basename(logPath);
    try {
      const w = watch(dirname(logPath), { persistent: false }, (_event, name) => {
        if (!name || name === base || name.startsWith(base + '.')) onChange();
      });
      w.on('error', () => {
        this.close(); // e.g. the directory went away: polling takes over
        onChange();
      });
      this.w = w;
    } catch {
      this.w = undefined; // no inotify (limits, filesystem): poll
    }
  }

  get active(): boolean {
    return this.w !== undefined;
  }

  close(): void {
    const w = this.w;
    this.w = undefined;
    try {
      w?.close();
    } catch {
      // already closed
    }
  }
}

// ---------- the reader ----------

/**
 * The entries of a json-file log, oldest first, as dockerd sends them for
 * GET /containers/{id}/logs (see the file comment for the semantics).
 * Ending the iteration early (break, return(), the signal) releases everything.
 */
export async function* readLogs(logPath: string, o: LogReadOptions): AsyncGenerator<LogEntry, void, undefined> {
  for await (const batch of readLogBatches(logPath, o)) yield* batch;
}

/** readLogs' entries in the batches they were read in (one per chunk of the file): a caller sending them on writes once per batch. */
export function readLogBatches(logPath: string, o: LogReadOptions): AsyncGenerator<LogEntry[], void, undefined> {
  return readChunks(logPath, o, new EntryFilter(o));
}

/**
 * What GET /containers/{id}/logs sends for the entries readLogs would give:
 * stdcopy frames (or a TTY container's bare entries) formatted as `fmt` says,
 * one buffer per chunk of the file, built without an object per entry
 * (log-encode.ts).
 */
export function readLogFrames(logPath: string, o: LogReadOptions, fmt: LogFormat): AsyncGenerator<Buffer, void, undefined> {
  return readChunks(logPath, o, new LogEncoder(new EntryFilter(o), fmt));
}

/** A pool for readLogFrames' output (LogFormat.pool): buffers the size a chunk's frames need. */
export function logFramePool(): BufferPool {
  return new BufferPool(CHUNK + 64 * 1024 + 64);
}

/** What turns chunks of complete lines into what a reader yields; `done` once nothing more is to be sent (until). */
interface ChunkSink<T> {
  take(chunk: Buffer): T | undefined;
  readonly done: boolean;
}

async function* readChunks<T>(logPath: string, o: LogReadOptions, sink: ChunkSink<T>): AsyncGenerator<T, void, undefined> {
  const signal = o.signal;
  if (!logPath || signal?.aborted) return;
  const handles = new Handles();
  const waker = new Waker();
  let watcher: DirWatch | undefined;
  let stopping = false;
  let finished = false;
  let ahead: Promise<Buffer | null> | undefined;
  const bufs = new ReadBuffers();
  const onAbort = () => waker.notify();
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    // ----- what is there now -----
    const files = await openChain(handles, logPath);
    const tail = normalizeTail(o.tail);
    let start = 0;
    if (tail >= 0) {
      let need = tail;
      start = files.length - 1;
      for (let i = files.length - 1; i >= 0; i--) {
        const { offset, found } = await tailScan(files[i], need);
        start = i;
        files[i].offset = offset;
        if (found >= need) break;
        need -= found;
        files[i].offset = 0;
      }
    }
    for (let i = 0; i < files.length - 1; i++) if (i < start) await handles.close(files[i]);

    for (let i = Math.max(start, 0); i < files.length; i++) {
      const f = files[i];
      for (;;) {
        const chunk = await (ahead ?? readChunk(f, f.size, bufs));
        ahead = undefined;
        if (chunk === null) break;
        if (signal?.aborted) return;
        // The next chunk is read (in libuv's pool) while this one is decoded.
        ahead = readChunk(f, f.size, bufs);
        const out = chunk.length ? sink.take(chunk) : undefined;
        if (out !== undefined) yield out;
        if (signal?.aborted || sink.done) return;
      }
      // A rotated file is complete: anything after its last newline is garbage. The
      // newest keeps its torn line, which a follower completes.
      if (i < files.length - 1) await handles.close(f);
    }
    if (!o.follow) return;

    // ----- following -----
    bufs.release();
    let cur: LogFile | undefined = files[files.length - 1];
    watcher = new DirWatch(logPath, () => waker.notify());
    o.followUntil?.then(
      () => {
        if (finished) return;
        stopping = true;
        waker.notify();
      },
      () => {
        if (finished) return;
        stopping = true;
        waker.notify();
      },
    );

    // Reads `f` from where it is to its current end.
    const drain = async function* (f: LogFile): AsyncGenerator<T, boolean, undefined> {
      for (;;) {
        const chunk = await readChunk(f, Number.MAX_SAFE_INTEGER, bufs);
        if (chunk === null) return true;
        if (signal?.aborted) return false;
        const out = chunk.length ? sink.take(chunk) : undefined;
        if (out !== undefined) yield out;
        if (signal?.aborted || sink.done) return false;
      }
    };

    for (;;) {
      if (signal?.aborted) return;
      const last = stopping; // this pass started after the container stopped: it is the final one
      waker.clear();

      if (cur) {
        if (await truncated(cur)) {
          cur.offset = 0; // start over
          cur.seen = EMPTY;
          dropPartial(cur);
        }
        if (!(yield* drain(cur))) return;
      }

      const st = await statPath(logPath);
      if (st && (!cur || st.ino !== cur.ino || st.dev !== cur.dev)) {
        // Rotated (or created): the old file is complete once the new one exists.
        if (cur && !(yield* drain(cur))) return;
        const chain = await openChain(handles, logPath);
        const old = cur;
        const at = old ? chain.findIndex((f) => f.ino === old.ino && f.dev === old.dev) : -1;
        // Files after ours are newer; if ours is gone (deleted by rotation), all are.
        for (let i = 0; i <= at; i++) await handles.close(chain[i]);
        const newer = chain.slice(at + 1);
        if (newer.length > 0) {
          // (None newer: the log was renamed again meanwhile; keep ours and look again.)
          if (old) {
            dropPartial(old);
            await handles.close(old);
          }
          cur = newer[newer.length - 1];
          for (const f of newer) {
            if (!(yield* drain(f))) return;
            if (f !== cur) await handles.close(f);
          }
        }
      }

      if (last) return;
      await waker.wait(watcher.active ? WATCHED_POLL_MS : POLL_MS);
    }
  } finally {
    finished = true;
    signal?.removeEventListener('abort', onAbort);
    watcher?.close();
    // A read ahead still running when the reader ends: closing waits for it; its outcome is not wanted.
    ahead?.catch(() => {});
    await handles.closeAll();
  }
}
