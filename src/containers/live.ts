// What a container has while the daemon is connected to it: its shim
// connection, its output as events, and stdin sent before it started (an
// attach comes before the start), handed to the shim once it is there.
import { EventEmitter } from 'node:events';
import type { ShimConnection } from '../runtime/shim.ts';

interface Live {
  conn?: ShimConnection;
  /** 'stdout' | 'stderr' (Buffer), 'exited' (before cleanup), 'end' (no more output for this run). */
  output: EventEmitter;
  pendingStdin: Buffer[];
  pendingStdinClose: boolean;
}

export class LiveTable {
  private readonly live = new Map<string, Live>();

  of(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { output: new EventEmitter(), pendingStdin: [], pendingStdinClose: false };
      l.output.setMaxListeners(0);
      this.live.set(id, l);
    }
    return l;
  }

  conn(id: string): ShimConnection | undefined {
    return this.live.get(id)?.conn;
  }

  /** Sends stdin to the container; kept until it starts when attached early. */
  writeStdin(id: string, data: Buffer): void {
    const l = this.of(id);
    if (l.conn) l.conn.writeStdin(data);
    else l.pendingStdin.push(data);
  }

  closeStdin(id: string): void {
    const l = this.of(id);
    if (l.conn) l.conn.closeStdin();
    else l.pendingStdinClose = true;
  }

  /** The stdin kept for a container that was not running yet, to its new shim. */
  flushPending(id: string, conn: ShimConnection): void {
    const l = this.of(id);
    for (const chunk of l.pendingStdin.splice(0)) conn.writeStdin(chunk);
    if (l.pendingStdinClose) {
      conn.closeStdin();
      l.pendingStdinClose = false;
    }
  }

  delete(id: string): void {
    this.live.delete(id);
  }

  /** Every shim connection closed (daemon shutdown; the containers go on). */
  closeAll(): void {
    for (const l of this.live.values()) l.conn?.close();
  }
}
