// `up` without -d: every attached container's output, line by line, behind
// a `web-1  | ` prefix (coloured on a terminal), until the containers exit.
import type { EngineClient } from '../client/engine-client.ts';

const COLOURS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export interface Attached {
  id: string;
  /** The name shown in the prefix: the container's name without the project's (web-1). */
  label: string;
  tty: boolean;
}

/** Splits the engine's multiplexed stream (8-byte frame headers) unless the container has a TTY. */
function demux(tty: boolean, onData: (b: Buffer) => void): (chunk: Buffer) => void {
  if (tty) return onData;
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      onData(pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  };
}

export class LogPrinter {
  private readonly width: number;
  private readonly colour: boolean;
  private readonly out: NodeJS.WritableStream;
  private n = 0;

  constructor(labels: string[], out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout, colour = out.isTTY === true && !process.env.NO_COLOR) {
    this.width = Math.max(0, ...labels.map((l) => l.length));
    this.colour = colour;
    this.out = out;
  }

  prefix(label: string): string {
    const p = `${label.padEnd(this.width)}  | `;
    return this.colour ? `\x1b[${COLOURS[this.n++ % COLOURS.length]}m${p}\x1b[0m` : p;
  }

  /** Follows a container's output from its start; resolves when the stream ends (the container stopped). */
  async follow(client: EngineClient, c: Attached): Promise<void> {
    const prefix = this.prefix(c.label);
    const res = await client.stream('GET', `/containers/${c.id}/logs`, { query: { follow: true, stdout: true, stderr: true } });
    let partial = '';
    const write = demux(c.tty, (b) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length) this.out.write(lines.map((l) => prefix + l.replace(/\r$/, '') + '\n').join(''));
    });
    for await (const chunk of res) write(chunk as Buffer);
    if (partial) this.out.write(prefix + partial + '\n');
  }

  line(text: string): void {
    this.out.write(text + '\n');
  }
}
