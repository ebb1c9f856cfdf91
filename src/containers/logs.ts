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
import { isUtf8 } from 'node:buffer';
import { watch, type BigIntStats } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LogEntry } from '../api/stream-frames.ts';
import { isLogTime, parseLogTime } from '../api/timestamps.ts';

export type { LogEntry };

export interface LogReadOptions {
  stdout: boolean;
  stderr: boolean;
  /** Unix seconds with fraction; 0 or absent = from the beginning. Inclusive. */
  since?: number;
  /** Unix seconds with fraction; 0 or absent = no end. Inclusive. */
  until?: number;
  /**
   * Exact forms of since/until in nanoseconds (see parseTimestampNs); they win
   * over the numbers, whose sub-microsecond digits a double cannot hold.
   */
  sinceNs?: bigint;
  untilNs?: bigint;
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
const NS = 1_000_000_000n;
const EMPTY = Buffer.alloc(0);

// ---------- timestamps ----------

/**
 * Unix seconds (a double) as nanoseconds, widened by the double's precision
 * (~0.24 µs today) in direction `dir`: since/until are inclusive, so a time
 * that came from a nanosecond timestamp must still include that entry.
 */
function secondsToNs(s: number, dir: -1 | 1): bigint {
  const whole = Math.floor(s);
  const ns = BigInt(whole) * NS + BigInt(Math.round((s - whole) * 1e9));
  const ulp = Math.abs(s) > 0 ? Math.pow(2, Math.floor(Math.log2(Math.abs(s))) - 52) : 0;
  return ns + BigInt(dir) * BigInt(Math.ceil(ulp * 1e9));
}

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

/** Reads the next chunk of `f` (not past `limit`); its complete lines, or null at the end. */
async function readLines(f: LogFile, limit: number): Promise<Buffer[] | null> {
  const want = Math.min(CHUNK, limit - f.offset);
  if (want <= 0) return null;
  const buf = Buffer.allocUnsafe(want);
  const { bytesRead } = await f.fh.read(buf, 0, want, f.offset);
  if (bytesRead === 0) return null;
  f.offset += bytesRead;
  const data = buf.subarray(0, bytesRead);
  f.seen = Buffer.from(bytesRead >= SEEN ? data.subarray(bytesRead - SEEN) : Buffer.concat([f.seen, data]).subarray(-SEEN));
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
    const piece = data.subarray(start, nl);
    start = nl + 1;
    if (f.skipping) {
      f.skipping = false;
      continue;
    }
    lines.push(f.partial.length ? Buffer.concat([f.partial, piece]) : piece);
    f.partial = EMPTY;
  }
  if (start < data.length && !f.skipping) {
    const rest = data.subarray(start);
    if (f.partial.length + rest.length > MAX_LINE) {
      f.partial = EMPTY;
      f.skipping = true;
    } else {
      f.partial = f.partial.length ? Buffer.concat([f.partial, rest]) : Buffer.from(rest);
    }
  }
  return lines;
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

// ---------- entries ----------

interface RawEntry {
  log?: unknown;
  stream?: unknown;
  time?: unknown;
  attrs?: unknown;
}

/** since/until as dockerd's forwarder applies them, then the stream selection. */
class EntryFilter {
  private sinceNs: bigint | undefined;
  private readonly untilNs: bigint | undefined;
  private readonly o: LogReadOptions;
  /** An entry after `until` was seen: nothing more is to be sent. */
  done = false;

  constructor(o: LogReadOptions) {
    this.o = o;
    const since = o.sinceNs ?? (o.since ? secondsToNs(o.since, -1) : undefined);
    const until = o.untilNs ?? (o.until ? secondsToNs(o.until, 1) : undefined);
    this.sinceNs = since !== undefined && since !== 0n ? since : undefined;
    this.untilNs = until !== undefined && until !== 0n ? until : undefined;
  }

  /** The entries of `lines` to send; sets `done` at the first entry after until. */
  take(lines: Buffer[]): LogEntry[] {
    const out: LogEntry[] = [];
    for (const raw of lines) {
      if (this.done) break;
      const e = this.accept(raw);
      if (e) out.push(e);
    }
    return out;
  }

  private accept(raw: Buffer): LogEntry | undefined {
    if (raw.length === 0) return undefined;
    const e = decodeEntry(raw);
    if (!e) return undefined; // a corrupt line: skipped, as dockerd skips syntax errors
    if (this.sinceNs !== undefined || this.untilNs !== undefined) {
      const timeNs = parseLogTime(e.time);
      if (timeNs === undefined) return undefined;
      e.timeNs = timeNs;
      if (this.sinceNs !== undefined) {
        if (timeNs < this.sinceNs) return undefined;
        this.sinceNs = undefined; // timestamps need not be monotonic: only the start is cut
      }
      if (this.untilNs !== undefined && timeNs > this.untilNs) {
        this.done = true;
        return undefined;
      }
    } else if (!isLogTime(e.time)) {
      return undefined;
    }
    if (e.stream === 'stdout' ? !this.o.stdout : !this.o.stderr) return undefined;
    return e;
  }
}

// ---------- decoding a line ----------

const HEAD = Buffer.from('{"log":"');
const STDOUT_MID = Buffer.from('","stream":"stdout","time":"');
const STDERR_MID = Buffer.from('","stream":"stderr","time":"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * One line of the file as an entry. The shim writes every line in one shape,
 * {"log":"…","stream":"…","time":"…"[,"attrs":{…}]}: that shape is read
 * straight from the bytes, the log's escapes undone without a JSON.parse
 * (two thirds of a read's time went to JSON.parse and its strings). Any
 * other shape — a file written by something else, or hand-edited — goes
 * through JSON.parse as before.
 */
function decodeEntry(raw: Buffer): LogEntry | undefined {
  if (raw.length > HEAD.length && raw.compare(HEAD, 0, HEAD.length, 0, HEAD.length) === 0) {
    const end = stringEnd(raw, HEAD.length);
    if (end > 0) {
      const stream = raw.compare(STDOUT_MID, 0, STDOUT_MID.length, end, end + STDOUT_MID.length) === 0 ? 'stdout'
        : raw.compare(STDERR_MID, 0, STDERR_MID.length, end, end + STDERR_MID.length) === 0 ? 'stderr' : undefined;
      const t = end + STDOUT_MID.length;
      const tEnd = stream ? raw.indexOf(QUOTE, t) : -1;
      // The time has no escapes; what follows it must be the end of the object.
      if (tEnd > 0 && raw[tEnd + 1] === 0x7d && tEnd + 2 === raw.length) {
        const line = unescapeJson(raw, HEAD.length, end);
        if (line) return { stream: stream as 'stdout' | 'stderr', time: raw.toString('latin1', t, tEnd), line };
      }
    }
  }
  return decodeSlow(raw);
}

/** Where the JSON string starting at `from` (after its opening quote) ends: its closing quote, or -1. */
function stringEnd(b: Buffer, from: number): number {
  for (let i = b.indexOf(QUOTE, from); i >= 0; i = b.indexOf(QUOTE, i + 1)) {
    let k = i - 1;
    while (k >= from && b[k] === BACKSLASH) k--;
    if ((i - 1 - k) % 2 === 0) return i; // an even run of backslashes: the quote is not escaped
  }
  return -1;
}

const SIMPLE_ESCAPES: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };

/** The bytes of the JSON string b[from, to) with its escapes undone; undefined for a \u escape or a bad one (the slow path reads those). */
function unescapeJson(b: Buffer, from: number, to: number): Buffer | undefined {
  // Bytes the shim did not write (it escapes invalid UTF-8 as \ufffd) take the slow path, which replaces them as Go's decoder does.
  if (!isUtf8(b.subarray(from, to))) return undefined;
  let bs = b.indexOf(BACKSLASH, from);
  if (bs < 0 || bs >= to) return Buffer.from(b.subarray(from, to));
  const out = Buffer.allocUnsafe(to - from);
  let n = 0;
  let i = from;
  while (bs >= 0 && bs < to) {
    n += b.copy(out, n, i, bs);
    const c = SIMPLE_ESCAPES[b[bs + 1]];
    if (c === undefined) return undefined;
    out[n++] = c;
    i = bs + 2;
    bs = b.indexOf(BACKSLASH, i);
  }
  n += b.copy(out, n, i, to);
  return out.subarray(0, n);
}

function decodeSlow(raw: Buffer): LogEntry | undefined {
  let j: RawEntry;
  try {
    j = JSON.parse(raw.toString('utf8')) as RawEntry;
  } catch {
    return undefined;
  }
  if (j === null || typeof j !== 'object' || typeof j.time !== 'string') return undefined;
  if (j.stream !== 'stdout' && j.stream !== 'stderr') return undefined;
  const entry: LogEntry = { stream: j.stream, time: j.time, line: Buffer.from(typeof j.log === 'string' ? j.log : '', 'utf8') };
  if (j.attrs && typeof j.attrs === 'object') {
    const attrs: Record<string, string> = {};
    let any = false;
    for (const [k, v] of Object.entries(j.attrs as Record<string, unknown>)) {
      if (typeof v === 'string') {
        attrs[k] = v;
        any = true;
      }
    }
    if (any) entry.attrs = attrs;
  }
  return entry;
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
export async function* readLogBatches(logPath: string, o: LogReadOptions): AsyncGenerator<LogEntry[], void, undefined> {
  const signal = o.signal;
  if (!logPath || signal?.aborted) return;
  const filter = new EntryFilter(o);
  const handles = new Handles();
  const waker = new Waker();
  let watcher: DirWatch | undefined;
  let stopping = false;
  let finished = false;
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
        const lines = await readLines(f, f.size);
        if (lines === null) break;
        if (signal?.aborted) return;
        const batch = filter.take(lines);
        if (batch.length) yield batch;
        if (signal?.aborted || filter.done) return;
      }
      // A rotated file is complete: anything after its last newline is garbage. The
      // newest keeps its torn line, which a follower completes.
      if (i < files.length - 1) await handles.close(f);
    }
    if (!o.follow) return;

    // ----- following -----
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
    const drain = async function* (f: LogFile): AsyncGenerator<LogEntry[], boolean, undefined> {
      for (;;) {
        const lines = await readLines(f, Number.MAX_SAFE_INTEGER);
        if (lines === null) return true;
        if (signal?.aborted) return false;
        const batch = filter.take(lines);
        if (batch.length) yield batch;
        if (signal?.aborted || filter.done) return false;
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
    await handles.closeAll();
  }
}
