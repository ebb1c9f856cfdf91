// A json-file log's lines straight to what GET /containers/{id}/logs sends:
// one stdcopy frame per entry (8-byte header, then the entry), or the bare
// entries for a TTY container, with --timestamps and --details prefixes. The
// shim's own line shape, {"log":"…","stream":"stdout|stderr","time":"…Z"},
// is decoded from the bytes into one output buffer per chunk read: no entry
// objects, strings or buffers per line (through entries, a 100-byte line
// cost ~1 µs; here it is two string searches, one copy and a few compares).
// Any other line (with attrs, a zoned time, more than nine fraction digits,
// another key order, a chunk with bytes that are not UTF-8) takes the entry
// path (log-entry.ts) and is formatted by formatLogLine: both give the same
// bytes, as the unit tests check over random logs. Like the entry path's
// reading of the shim's shape, raw control bytes inside the log string
// (which JSON forbids and the shim never writes) are not looked for.
import { isUtf8 } from 'node:buffer';
import { formatLogLine } from '../api/stream-frames.ts';
import type { EntryFilter } from './log-entry.ts';

export interface LogFormat {
  /** A TTY container's log: the entries bare, no stdcopy headers. */
  tty: boolean;
  timestamps: boolean;
  details: boolean;
  /** Where output buffers come from; the one who sends them gives them back once written. */
  pool?: BufferPool;
}

/**
 * A few output buffers reused from one chunk to the next. A buffer given
 * back is the one written: the sender releases it from its write's callback.
 * (Fresh 256 KiB buffers cost page faults on every chunk, since the daemon's
 * malloc hands memory that large back at once, and their external memory
 * drove a tenth of a read's time into GC.)
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly size: number;
  private readonly keep: number;

  constructor(size: number, keep = 4) {
    this.size = size;
    this.keep = keep;
  }

  get(size: number): Buffer {
    if (size > this.size) return Buffer.allocUnsafe(size);
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  /** Gives back the buffer `b` (or a view of it) came from; one not from here is left to the GC. */
  release(b: Buffer): void {
    if (b.buffer.byteLength !== this.size || this.free.length >= this.keep) return;
    this.free.push(Buffer.from(b.buffer, 0, this.size));
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;
/** Little-endian 32-bit words of `s` (its length a multiple of 4): the fixed parts of a line are compared four bytes at a time. */
const words = (s: string): number[] => {
  const b = Buffer.from(s, 'latin1');
  return Array.from({ length: b.length / 4 }, (_, k) => b.readUInt32LE(4 * k));
};
const [HEAD0, HEAD1] = words('{"log":"');
/** `","stream":"stdout","time":"` and its stderr form: words 3 and 4 tell the stream. */
const [KEY0, KEY1, KEY2, OUT3, OUT4, KEY5, KEY6] = words('","stream":"stdout","time":"');
const [, , , ERR3, ERR4] = words('","stream":"stderr","time":"');

/**
 * A check of four bytes of a time at once: `pattern` has D for a digit, ?
 * for any byte, and the byte itself elsewhere. A word w matches when
 * (w & m) === e (the fixed bytes, and digits' high nibble 3) and
 * ((w + a) & m) === e (a digit's low nibble plus 6 does not carry: it is 0-9).
 */
function timeWord(pattern: string): [m: number, e: number, a: number] {
  let m = 0, e = 0, a = 0;
  for (let k = 3; k >= 0; k--) {
    const ch = pattern[k];
    m = m * 256 + (ch === 'D' ? 0xf0 : ch === '?' ? 0 : 0xff);
    e = e * 256 + (ch === 'D' ? 0x30 : ch === '?' ? 0 : ch.charCodeAt(0));
    a = a * 256 + (ch === 'D' ? 6 : 0);
  }
  return [m | 0, e | 0, a];
}
// YYYY-MM-DDTHH:MM:SS, in words from the time's start.
const [TM0, TE0, TA0] = timeWord('DDDD');
const [TM1, TE1, TA1] = timeWord('-DD-');
const [TM2, TE2, TA2] = timeWord('DDTD');
const [TM3, TE3, TA3] = timeWord('D:DD');
const [TM4, TE4, TA4] = timeWord(':DD?');
const timeOk = (w: number, m: number, e: number, a: number) => (w & m) === e && ((w + a) & m) === e;
/** The length of a Z time as --timestamps prints it (RFC3339NanoFixed), and its space. */
const STAMP = 31;
const HEADER = 8;
/** The most of a chunk searched as one string (see segment). */
const SEGMENT = 32 * 1024;
const EMPTY: Buffer = Buffer.alloc(0);
const NO_VIEW = new DataView(new ArrayBuffer(0));
/** The escape letters with a one-byte meaning (\uXXXX is decoded apart). */
const SIMPLE = new Int16Array(128).fill(-1);
for (const [k, v] of [[0x22, 0x22], [0x5c, 0x5c], [0x2f, 0x2f], [0x62, 0x08], [0x66, 0x0c], [0x6e, 0x0a], [0x72, 0x0d], [0x74, 0x09]]) SIMPLE[k] = v;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const hexVal = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);

/** The four hex digits at b[i..i+4) as a number, or -1. */
function hex4(b: Buffer, i: number): number {
  if (i + 4 > b.length) return -1;
  const a = hexVal(b[i]), c = hexVal(b[i + 1]), d = hexVal(b[i + 2]), e = hexVal(b[i + 3]);
  return (a | c | d | e) < 0 ? -1 : (a << 12) | (c << 8) | (d << 4) | e;
}

/** Days since 1970-01-01 of a proleptic Gregorian date. */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

const num2 = (b: Buffer, i: number) => (b[i] - 0x30) * 10 + b[i + 1] - 0x30;

export class LogEncoder {
  private readonly filter: EntryFilter;
  private readonly fmt: LogFormat;
  /** Bytes before an entry's payload: the header, the time and the details' space. */
  private readonly pre: number;
  private out: Buffer = EMPTY;
  private n = 0;
  // The next quote, backslash and newline at or after a position of the current chunk (its length if none).
  private qt = 0;
  private bs = 0;
  /** The current segment of the chunk, c[base, end), as a latin1 string: a string's indexOf is a V8 builtin, ~4× cheaper a call than a Buffer's. */
  private str = '';
  /** The chunk, for reading four bytes at once. */
  private dv: DataView = NO_VIEW;
  private base = 0;
  private end = 0;

  constructor(filter: EntryFilter, fmt: LogFormat) {
    this.filter = filter;
    this.fmt = fmt;
    this.pre = (fmt.tty ? 0 : HEADER) + (fmt.timestamps ? STAMP : 0) + (fmt.details ? 1 : 0);
  }

  get done(): boolean {
    return this.filter.done;
  }

  /** What a chunk of complete lines (each ending in a newline) sends, or undefined for nothing. */
  take(chunk: Buffer): Buffer | undefined {
    // The fast path's output never outgrows its input (a line is longer than its frame); the entry path grows the buffer as needed.
    this.out = this.fmt.pool ? this.fmt.pool.get(chunk.length + 64) : Buffer.allocUnsafe(chunk.length + 64);
    this.n = 0;
    const len = chunk.length;
    const fast = isUtf8(chunk);
    this.dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    for (let s = 0; s < len && !this.filter.done;) {
      if (fast && s >= this.end) this.segment(chunk, s);
      const next = fast ? this.fast(chunk, s) : -1;
      if (next > 0) {
        s = next;
        continue;
      }
      let nl = chunk.indexOf(NL, s);
      if (nl < 0) nl = len;
      this.slow(chunk.subarray(s, nl));
      s = nl + 1;
    }
    const out = this.out.subarray(0, this.n);
    this.out = EMPTY;
    this.str = '';
    this.dv = NO_VIEW;
    this.base = this.end = 0;
    return out.length ? out : undefined;
  }

  /**
   * The lines from c[s] up to about SEGMENT bytes, as the latin1 string the
   * fast path searches: strings that small are young objects, cheap to
   * collect; one string per 256 KiB chunk went to the old generation and
   * made a tenth of a read's time major GCs.
   */
  private segment(c: Buffer, s: number): void {
    let end = s + SEGMENT >= c.length ? c.length : c.lastIndexOf(NL, s + SEGMENT - 1) + 1;
    if (end <= s) {
      // A line longer than a segment: it is the segment.
      end = c.indexOf(NL, s) + 1;
      if (end <= 0) end = c.length;
    }
    this.str = c.toString('latin1', s, end);
    this.base = s;
    this.end = end;
    this.qt = this.bs = -1;
  }

  /** An entry read through log-entry.ts, formatted by formatLogLine. */
  private slow(raw: Buffer): void {
    const e = this.filter.accept(raw);
    if (!e) return;
    const line = formatLogLine(e, this.fmt);
    const need = (this.fmt.tty ? 0 : HEADER) + line.length;
    if (this.n + need > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.n + need));
      this.out.copy(bigger, 0, 0, this.n);
      this.out = bigger;
    }
    if (!this.fmt.tty) this.header(this.n, e.stream === 'stderr' ? 2 : 1, line.length);
    this.n += (this.fmt.tty ? 0 : HEADER) + line.copy(this.out, this.n + (this.fmt.tty ? 0 : HEADER));
  }

  private header(at: number, stream: number, len: number): void {
    const o = this.out;
    o[at] = stream;
    o[at + 1] = 0;
    o[at + 2] = 0;
    o[at + 3] = 0;
    o[at + 4] = len >>> 24;
    o[at + 5] = (len >>> 16) & 0xff;
    o[at + 6] = (len >>> 8) & 0xff;
    o[at + 7] = len & 0xff;
  }

  /**
   * The line at c[s] in the shim's shape, sent (or left out by the selection);
   * the index after its newline. -1 (nothing written) for any other line.
   */
  private fast(c: Buffer, s: number): number {
    // Every line of the shim's shape lies within its segment; search and read no further.
    const len = this.end;
    const base = this.base;
    if (s + 59 > len) return -1; // shorter than any line of the shim's shape
    const dv = this.dv;
    if (dv.getUint32(s, true) !== HEAD0 || dv.getUint32(s + 4, true) !== HEAD1) return -1;
    const o = this.out;
    const start = this.n;
    let w = start + this.pre;
    let i = s + 8;
    // The log string: runs of plain bytes copied, escapes decoded, up to its closing quote.
    for (;;) {
      let qt = this.qt;
      if (qt < i) this.qt = qt = (qt = this.str.indexOf('"', i - base)) < 0 ? len : qt + base;
      let bs = this.bs;
      if (bs < i) this.bs = bs = (bs = this.str.indexOf('\\', i - base)) < 0 ? len : bs + base;
      if (qt < bs) {
        if (qt >= len) return -1;
        if (qt > i) w += c.copy(o, w, i, qt);
        i = qt;
        break;
      }
      if (bs >= len - 1) return -1;
      if (bs > i) w += c.copy(o, w, i, bs);
      const e = c[bs + 1];
      const simple = e < 128 ? SIMPLE[e] : -1;
      if (simple >= 0) {
        o[w++] = simple;
        i = bs + 2;
        continue;
      }
      if (e !== 0x75) return -1; // not an escape JSON has
      let cp = hex4(c, bs + 2);
      if (cp < 0) return -1;
      i = bs + 6;
      if (cp >= 0xd800 && cp <= 0xdfff) {
        // Go's decoder: a high surrogate with a low one after it is one rune; any other surrogate is U+FFFD.
        const lo = cp <= 0xdbff && c[i] === BACKSLASH && c[i + 1] === 0x75 ? hex4(c, i + 2) : -1;
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        } else {
          cp = 0xfffd;
        }
      }
      if (cp < 0x80) o[w++] = cp;
      else if (cp < 0x800) {
        o[w++] = 0xc0 | (cp >> 6);
        o[w++] = 0x80 | (cp & 0x3f);
      } else if (cp < 0x10000) {
        o[w++] = 0xe0 | (cp >> 12);
        o[w++] = 0x80 | ((cp >> 6) & 0x3f);
        o[w++] = 0x80 | (cp & 0x3f);
      } else {
        o[w++] = 0xf0 | (cp >> 18);
        o[w++] = 0x80 | ((cp >> 12) & 0x3f);
        o[w++] = 0x80 | ((cp >> 6) & 0x3f);
        o[w++] = 0x80 | (cp & 0x3f);
      }
    }
    // ","stream":"stdout","time":" or its stderr form (attrs after the stream: the entry path).
    if (i + 51 > len) return -1;
    if (dv.getUint32(i, true) !== KEY0 || dv.getUint32(i + 4, true) !== KEY1 || dv.getUint32(i + 8, true) !== KEY2
      || dv.getUint32(i + 20, true) !== KEY5 || dv.getUint32(i + 24, true) !== KEY6) return -1;
    const w3 = dv.getUint32(i + 12, true);
    const w4 = dv.getUint32(i + 16, true);
    let stream: number;
    if (w3 === OUT3 && w4 === OUT4) stream = 1;
    else if (w3 === ERR3 && w4 === ERR4) stream = 2;
    else return -1;
    i += 18;
    const t = i + 10;
    // YYYY-MM-DDTHH:MM:SS[.fraction]Z, as the shim writes it (a zone offset: the entry path).
    if (!(timeOk(dv.getUint32(t, true), TM0, TE0, TA0) && timeOk(dv.getUint32(t + 4, true), TM1, TE1, TA1) && timeOk(dv.getUint32(t + 8, true), TM2, TE2, TA2)
      && timeOk(dv.getUint32(t + 12, true), TM3, TE3, TA3) && timeOk(dv.getUint32(t + 16, true), TM4, TE4, TA4))) return -1;
    let k = t + 19;
    let f0 = k; // the fraction's digits are c[f0, k): none without one
    if (c[k] === 0x2e) {
      f0 = ++k;
      while (k < len && isDigit(c[k])) k++;
      if (k === f0 || k - f0 > 9) return -1;
    }
    if (k + 4 > len || c[k] !== 0x5a || c[k + 1] !== QUOTE || c[k + 2] !== 0x7d || c[k + 3] !== NL) return -1;
    const end = k + 4;

    const win = this.filter.window;
    if (win.active) {
      let frac = 0;
      for (let j = 0; j < 9; j++) frac = frac * 10 + (f0 + j < k ? c[f0 + j] - 0x30 : 0);
      const y = num2(c, t) * 100 + num2(c, t + 2);
      const sec = daysFromCivil(y, num2(c, t + 5), num2(c, t + 8)) * 86400 + num2(c, t + 11) * 3600 + num2(c, t + 14) * 60 + num2(c, t + 17);
      if (!win.admit(sec, frac)) return end;
    }
    if (stream === 1 ? !this.filter.stdout : !this.filter.stderr) return end;

    let p = start;
    if (!this.fmt.tty) {
      this.header(start, stream, w - start - HEADER);
      p += HEADER;
    }
    if (this.fmt.timestamps) {
      // RFC3339NanoFixed: nine fraction digits, then the space.
      c.copy(o, p, t, t + 19);
      p += 19;
      o[p++] = 0x2e;
      for (let j = 0; j < 9; j++) o[p++] = f0 + j < k ? c[f0 + j] : 0x30;
      o[p++] = 0x5a;
      o[p++] = 0x20;
    }
    if (this.fmt.details) o[p] = 0x20; // no attrs: a lone space
    this.n = w;
    return end;
  }
}
