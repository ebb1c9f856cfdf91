// Several containers' logs on one screen, as docker compose v2 prints them:
// each line prefixed with the container's short name (`web-1`), padded to
// the longest name seen so far plus one, then ` | `; coloured per container
// on a terminal. `logs` and an attached `up` both print through it.
import type { Writable } from 'node:stream';
import type { EngineClient } from '../client/engine-client.ts';
import { FrameDecoder } from '../api/stream-frames.ts';
import { parseTimestampNs } from '../api/timestamps.ts';

const ESC = '\x1b[';

/** docker compose's rainbow, in its order: cyan, yellow, green, magenta, blue, then their intense forms. */
const RAINBOW = ['36', '33', '32', '35', '34', '36;1', '33;1', '32;1', '35;1', '34;1'];

export interface LogPrinterOptions {
  /** ANSI colours (a terminal, and no --no-color). */
  color: boolean;
  /** The `name | ` prefix (no --no-log-prefix). */
  prefix: boolean;
}

interface Presenter {
  color: string | undefined;
  prefix: string;
}

export class LogPrinter {
  private readonly presenters = new Map<string, Presenter>();
  private next = 0;
  private width = 0;
  private readonly out: Writable;
  private readonly o: LogPrinterOptions;

  constructor(out: Writable, o: LogPrinterOptions) {
    this.out = out;
    this.o = o;
  }

  private paint(color: string | undefined, s: string): string {
    return color ? `${ESC}${color}m${s}${ESC}0m` : s;
  }

  /** Makes a name known, so every prefix is padded to it from the first line on. */
  register(name: string): void {
    if (this.presenters.has(name)) return;
    const color = this.o.color ? RAINBOW[this.next++ % RAINBOW.length] : undefined;
    this.presenters.set(name, { color, prefix: '' });
    this.width = Math.max(this.width, name.length + 1);
    if (!this.o.prefix) return;
    for (const [n, p] of this.presenters) p.prefix = this.paint(p.color, `${n.padEnd(this.width)} | `);
  }

  private presenter(name: string): Presenter {
    this.register(name);
    return this.presenters.get(name) as Presenter;
  }

  /** One line of a container's output (without its newline). */
  line(name: string, text: string): void {
    this.out.write(`${this.presenter(name).prefix}${text}\n`);
  }

  /** A status line: `web-1 exited with code 0`, in the container's colour. */
  status(name: string, message: string): void {
    const p = this.presenter(name);
    // compose clears the line first (a progress view may be on it); only where a terminal is.
    this.out.write(p.color ? this.paint(p.color, `\r${ESC}K${name} ${message}`) + '\n' : `${name} ${message}\n`);
  }
}

/** Splits a byte stream into lines; a last line without a newline is given at the end. */
class LineSplitter {
  private rest = '';
  private readonly decoder = new TextDecoder('utf-8');
  private readonly emit: (line: string) => void;
  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }
  push(b: Buffer): void {
    const text = this.rest + this.decoder.decode(b, { stream: true });
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.emit(l);
  }
  end(): void {
    const text = this.rest + this.decoder.decode();
    this.rest = '';
    if (text !== '') this.emit(text);
  }
}

export interface LogStreamOptions {
  follow?: boolean;
  /** "all" or a number of lines. */
  tail?: string;
  since?: string;
  until?: string;
  timestamps?: boolean;
}

/**
 * Streams one container's logs into the printer under `name` until the
 * stream ends (at once without `follow`; when the container stops with it).
 * A container with a tty sends raw bytes, one without sends frames; stdout
 * and stderr both print to the printer's stream, as compose prints them.
 */
/**
 * A --since/--until value as the API's `seconds.nanoseconds`: relative ("42m")
 * and RFC 3339 times are resolved here, as the docker client does, since an
 * engine only takes the numeric form.
 */
export function apiTime(v: string | undefined, now: Date): string | undefined {
  if (!v) return undefined;
  const ns = parseTimestampNs(v, now);
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return frac === 0n ? String(sec) : `${sec}.${String(frac < 0n ? -frac : frac).padStart(9, '0')}`;
}

export async function printContainerLogs(client: EngineClient, id: string, name: string, tty: boolean, printer: LogPrinter, o: LogStreamOptions): Promise<void> {
  const res = await client.stream('GET', `/containers/${id}/logs`, {
    query: {
      stdout: true,
      stderr: true,
      follow: o.follow === true,
      tail: o.tail && o.tail !== 'all' ? o.tail : undefined,
      since: apiTime(o.since, new Date()),
      until: apiTime(o.until, new Date()),
      timestamps: o.timestamps === true,
    },
  });
  printer.register(name);
  const lines = new LineSplitter((l) => printer.line(name, l));
  const frames = tty ? undefined : new FrameDecoder();
  await new Promise<void>((resolve) => {
    res.on('data', (c: Buffer) => {
      if (!frames) return lines.push(c);
      for (const f of frames.push(c)) lines.push(f.payload);
    });
    const done = () => {
      lines.end();
      resolve();
    };
    res.once('end', done);
    res.once('error', done);
  });
}
