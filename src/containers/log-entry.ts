// One line of a json-file log as an entry, and the selection dockerd applies
// to entries (since/until, stdout/stderr): what logs.ts's entry reader and
// log-encode.ts's fast encoder share, so both select exactly the same lines.
import { isUtf8 } from 'node:buffer';
import type { LogEntry } from '../api/stream-frames.ts';
import { isLogTime, parseLogTime } from '../api/timestamps.ts';

export interface EntrySelection {
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
}

const NS = 1_000_000_000n;

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

/** Whole seconds (floored) and the nanoseconds past them, as numbers: exact for any log time. */
const split = (ns: bigint): [number, number] => {
  const r = ((ns % NS) + NS) % NS;
  return [Number((ns - r) / NS), Number(r)];
};

/**
 * since/until as dockerd's forwarder applies them: since is inclusive and only
 * skips until the first entry at or after it (timestamps need not be
 * monotonic); the first entry after until ends the stream. Times are compared
 * as bigints (admitNs) or, on the fast path, as whole seconds and nanoseconds
 * (admit), with one state for both.
 */
export class TimeWindow {
  private sinceNs: bigint | undefined;
  private readonly untilNs: bigint | undefined;
  private sinceS = 0;
  private sinceF = 0;
  private readonly untilS: number = 0;
  private readonly untilF: number = 0;
  /** Whether entries' times are needed at all. */
  active: boolean;
  /** An entry after `until` was seen: nothing more is to be sent. */
  done = false;

  constructor(o: EntrySelection) {
    const since = o.sinceNs ?? (o.since ? secondsToNs(o.since, -1) : undefined);
    const until = o.untilNs ?? (o.until ? secondsToNs(o.until, 1) : undefined);
    this.sinceNs = since !== undefined && since !== 0n ? since : undefined;
    this.untilNs = until !== undefined && until !== 0n ? until : undefined;
    if (this.sinceNs !== undefined) [this.sinceS, this.sinceF] = split(this.sinceNs);
    if (this.untilNs !== undefined) [this.untilS, this.untilF] = split(this.untilNs);
    this.active = this.sinceNs !== undefined || this.untilNs !== undefined;
  }

  /** Whether an entry at `ns` is sent; one after until sets `done`. */
  admitNs(ns: bigint): boolean {
    if (this.sinceNs !== undefined) {
      if (ns < this.sinceNs) return false;
      this.sinceNs = undefined; // timestamps need not be monotonic: only the start is cut
      this.active = this.untilNs !== undefined;
    }
    if (this.untilNs !== undefined && ns > this.untilNs) {
      this.done = true;
      return false;
    }
    return true;
  }

  /** admitNs for a time given as whole seconds and nanoseconds (0 ≤ frac < 1e9). */
  admit(sec: number, frac: number): boolean {
    if (this.sinceNs !== undefined) {
      if (sec < this.sinceS || (sec === this.sinceS && frac < this.sinceF)) return false;
      this.sinceNs = undefined;
      this.active = this.untilNs !== undefined;
    }
    if (this.untilNs !== undefined && (sec > this.untilS || (sec === this.untilS && frac > this.untilF))) {
      this.done = true;
      return false;
    }
    return true;
  }
}

/** The selection of entries as dockerd makes it: since/until first, then the stream. */
export class EntryFilter {
  readonly window: TimeWindow;
  readonly stdout: boolean;
  readonly stderr: boolean;

  constructor(o: EntrySelection) {
    this.window = new TimeWindow(o);
    this.stdout = o.stdout;
    this.stderr = o.stderr;
  }

  get done(): boolean {
    return this.window.done;
  }

  /** The entry of one line of the file, if it is to be sent. */
  accept(raw: Buffer): LogEntry | undefined {
    if (raw.length === 0 || this.window.done) return undefined;
    const e = decodeEntry(raw);
    if (!e) return undefined; // a corrupt line: skipped, as dockerd skips syntax errors
    if (this.window.active) {
      const timeNs = parseLogTime(e.time);
      if (timeNs === undefined) return undefined;
      e.timeNs = timeNs;
      if (!this.window.admitNs(timeNs)) return undefined;
    } else if (!isLogTime(e.time)) {
      return undefined;
    }
    if (e.stream === 'stdout' ? !this.stdout : !this.stderr) return undefined;
    return e;
  }

  /** The entries of a chunk of complete lines (each ending in a newline) to send. */
  take(chunk: Buffer): LogEntry[] | undefined {
    const out: LogEntry[] = [];
    for (let s = 0; s < chunk.length && !this.window.done;) {
      let nl = chunk.indexOf(0x0a, s);
      if (nl < 0) nl = chunk.length;
      const e = this.accept(chunk.subarray(s, nl));
      if (e) out.push(e);
      s = nl + 1;
    }
    return out.length ? out : undefined;
  }
}

// ---------- decoding a line ----------

interface RawEntry {
  log?: unknown;
  stream?: unknown;
  time?: unknown;
  attrs?: unknown;
}

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
export function decodeEntry(raw: Buffer): LogEntry | undefined {
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
