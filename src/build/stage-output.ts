// The classic build output when independent stages run at the same time: each
// stage's lines come out as one block, in stage order, instead of interleaved.
// One stage (the foreground) is written as it goes; the others are held until
// the foreground ends, then the held blocks of finished stages are written
// whole, lowest stage first, and the next stage still running takes over.

/** The output of one stage while it is built. */
export interface Lane {
  readonly index: number;
  held: string[];
  done: boolean;
}

export class StageOutput {
  private readonly write: (text: string) => void;
  /** Lanes opened and not yet written out completely. */
  private readonly pending: Lane[] = [];
  private foreground?: Lane;

  constructor(write: (text: string) => void) {
    this.write = write;
  }

  /** A stage starts: it writes through if no other stage does. */
  open(index: number): Lane {
    const lane: Lane = { index, held: [], done: false };
    this.pending.push(lane);
    if (!this.foreground) this.promote();
    return lane;
  }

  text(lane: Lane, text: string): void {
    if (lane === this.foreground) this.write(text);
    else lane.held.push(text);
  }

  /** A stage ended (built or failed); when it was the foreground, the next lane's turn comes. */
  close(lane: Lane): void {
    lane.done = true;
    if (lane !== this.foreground) return;
    this.pending.splice(this.pending.indexOf(lane), 1);
    this.foreground = undefined;
    this.promote();
  }

  /** Writes whatever is still held, stage order (the build is over). */
  flushAll(): void {
    this.foreground = undefined;
    for (const lane of this.pending.sort((a, b) => a.index - b.index).splice(0)) this.write(lane.held.splice(0).join(''));
  }

  /** Writes out finished lanes, lowest stage first, up to the first one still running, which becomes the foreground. */
  private promote(): void {
    this.pending.sort((a, b) => a.index - b.index);
    while (this.pending.length) {
      const next = this.pending[0];
      const text = next.held.splice(0).join('');
      if (text) this.write(text);
      if (!next.done) {
        this.foreground = next;
        return;
      }
      this.pending.shift();
    }
  }
}
