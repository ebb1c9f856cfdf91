// Docker's multiplexed stream format (stdcopy), used by logs, attach and exec
// when the container has no TTY: each write is a frame of an 8-byte header —
// the stream (0 stdin, 1 stdout, 2 stderr, 3 "system error"), three zero
// bytes, the payload length as a big-endian uint32 — then the payload.
// Also the per-entry formatting dockerd applies to log lines.
import { parseLogTime } from './timestamps.ts';

/** One line of a container's log, as the log reader yields it. */
export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** The timestamp exactly as written in the file. */
  time: string;
  /** The same, as nanoseconds since the Unix epoch, when the reader needed it (since/until). */
  timeNs?: bigint;
  line: Buffer;
  attrs?: Record<string, string>;
}

/** 0 stdin, 1 stdout, 2 stderr, 3 dockerd's systemerr (e.g. "Error grabbing logs: …"). */
export type StreamType = 0 | 1 | 2 | 3;

export interface Frame {
  stream: StreamType;
  payload: Buffer;
}

const HEADER = 8;
const EMPTY = Buffer.alloc(0);

export function encodeFrame(stream: StreamType, payload: Buffer): Buffer {
  if (payload.length > 0xffffffff) throw new RangeError('frame payload larger than 4 GiB');
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out[0] = stream;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  out.writeUInt32BE(payload.length, 4);
  payload.copy(out, HEADER);
  return out;
}

/** Several frames in one buffer, in order. */
export function encodeFrames(frames: Frame[]): Buffer {
  let size = 0;
  for (const f of frames) size += HEADER + f.payload.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const f of frames) {
    out[at] = f.stream;
    out[at + 1] = 0;
    out[at + 2] = 0;
    out[at + 3] = 0;
    out.writeUInt32BE(f.payload.length, at + 4);
    at += HEADER + f.payload.copy(out, at + HEADER);
  }
  return out;
}

/**
 * Reassembles frames from chunks split anywhere (inside a header, inside a
 * payload, several frames per chunk). Buffers chunks without re-concatenating
 * them on every push, so a large payload arriving in many pieces is copied
 * once. A header with an unknown stream type throws, as docker's stdcopy
 * fails with "Unrecognized input header".
 */
export class FrameDecoder {
  /** Received chunks not consumed yet: chunks[head..]. */
  private chunks: Buffer[] = [];
  private head = 0;
  private length = 0;

  /** Bytes received that do not make a complete frame yet. */
  get buffered(): number {
    return this.length;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.length >= HEADER) {
      const header = this.copyOut(HEADER, false);
      const stream = header[0];
      if (stream > 3) throw new Error(`Unrecognized input header: ${stream}`);
      const size = header.readUInt32BE(4);
      if (this.length < HEADER + size) break;
      this.copyOut(HEADER, true);
      frames.push({ stream: stream as StreamType, payload: this.copyOut(size, true) });
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return frames;
  }

  /** Call at the end of the stream: throws if it stopped in the middle of a frame. */
  end(): void {
    if (this.length) throw new Error(`stream ended inside a frame (${this.length} bytes left)`);
  }

  /** The next `n` bytes (n <= length), consumed or not; no copy when one chunk holds them. */
  private copyOut(n: number, consume: boolean): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[this.head];
    if (first.length >= n) {
      if (consume) {
        this.length -= n;
        if (first.length === n) this.chunks[this.head++] = EMPTY;
        else this.chunks[this.head] = first.subarray(n);
      }
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (let i = this.head; at < n; i++) {
      const c = this.chunks[i];
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (!consume) continue;
      if (k === c.length) this.chunks[this.head++] = EMPTY;
      else this.chunks[this.head] = c.subarray(k);
    }
    if (consume) this.length -= n;
    return out;
  }
}

/**
 * Demultiplexes frames from chunks split anywhere into runs of payload bytes
 * per stream, for a client that writes the streams on (docker's stdcopy):
 * the payloads of consecutive frames of one stream are moved together inside
 * the chunk (over the headers between them) and handed on as one buffer, so
 * a chunk of a thousand log frames costs one write, not a thousand objects
 * and a concatenation. The chunk is changed in place: it must be the
 * caller's to change (a socket's or response's 'data'). Streams 0 and 3
 * (stdin, dockerd's system error) are handed on as 1. A header with an
 * unknown stream type throws, as docker's stdcopy fails with "Unrecognized
 * input header".
 */
export class FrameDemuxer {
  private readonly header = Buffer.alloc(HEADER);
  /** Bytes of a header split between chunks, collected so far. */
  private have = 0;
  /** Payload bytes of the current frame still to come. */
  private left = 0;
  private stream: 1 | 2 = 1;
  private readonly emit: (stream: 1 | 2, bytes: Buffer) => void;

  constructor(emit: (stream: 1 | 2, bytes: Buffer) => void) {
    this.emit = emit;
  }

  /** Whether the stream so far ended on a frame boundary. */
  get atBoundary(): boolean {
    return this.have === 0 && this.left === 0;
  }

  push(c: Buffer): void {
    const len = c.length;
    let i = 0;
    // c[from, w) is the run of payload bytes of `runStream` not handed on yet.
    let from = 0;
    let w = 0;
    let runStream: 1 | 2 = this.stream;
    while (i < len) {
      if (this.left > 0) {
        if (this.stream !== runStream) {
          if (w > from) this.emit(runStream, c.subarray(from, w));
          from = w;
          runStream = this.stream;
        }
        const k = this.left < len - i ? this.left : len - i;
        if (w !== i) c.copyWithin(w, i, i + k);
        w += k;
        i += k;
        this.left -= k;
        continue;
      }
      let type: number;
      let size: number;
      if (this.have === 0 && len - i >= HEADER) {
        type = c[i];
        size = c.readUInt32BE(i + 4);
        i += HEADER;
      } else {
        const k = Math.min(HEADER - this.have, len - i);
        c.copy(this.header, this.have, i, i + k);
        this.have += k;
        i += k;
        if (this.have < HEADER) break;
        this.have = 0;
        type = this.header[0];
        size = this.header.readUInt32BE(4);
      }
      if (type > 3) throw new Error(`Unrecognized input header: ${type}`);
      this.stream = type === 2 ? 2 : 1;
      this.left = size;
    }
    if (w > from) this.emit(runStream, c.subarray(from, w));
  }
}

const TIME_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/**
 * A log timestamp as dockerd prints it for --timestamps: Go's
 * jsonmessage.RFC3339NanoFixed ("2006-01-02T15:04:05.000000000Z07:00"), i.e.
 * always nine fraction digits, in the zone the file gave.
 */
export function formatTimestamp(e: Pick<LogEntry, 'time' | 'timeNs'>): string {
  const m = TIME_RE.exec(e.time);
  if (m) {
    const zone = m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3];
    return `${m[1]}.${(m[2] ?? '').slice(0, 9).padEnd(9, '0')}${zone}`;
  }
  const ns = e.timeNs ?? parseLogTime(e.time) ?? 0n;
  const ms = Number(ns / 1_000_000n) - (ns % 1_000_000n < 0n ? 1 : 0);
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** Go's url.QueryEscape (what dockerd applies to --details keys and values). */
function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e) {
      out += String.fromCharCode(b);
    } else if (b === 0x20) out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * One log entry as dockerd writes it (WriteLogStream): with `details`, the
 * entry's attributes sorted by key as "k=v,k2=v2" (query-escaped) and a space
 * — a lone space when there are none; with `timestamps`, the RFC3339NanoFixed
 * time and a space before that; then the line as logged.
 */
export function formatLogLine(e: LogEntry, o: { timestamps: boolean; details: boolean }): Buffer {
  let prefix = '';
  if (o.timestamps) prefix += formatTimestamp(e) + ' ';
  if (o.details) {
    const attrs = Object.keys(e.attrs ?? {})
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))) // Go compares bytes
      .map((k) => `${queryEscape(k)}=${queryEscape((e.attrs as Record<string, string>)[k])}`);
    prefix += attrs.join(',') + ' ';
  }
  return prefix ? Buffer.concat([Buffer.from(prefix, 'utf8'), e.line]) : e.line;
}
