// A level-triggered loop: any change kicks it, a pass reads the whole state
// and fixes what differs, and kicks that arrive during a pass run one more.
// The scheduler and the agent are both this, so a missed event never
// loses work: the next kick (or the periodic one) finds the difference.
export class ReconcileLoop {
  private dirty = false;
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private ticker?: NodeJS.Timeout;
  private stopped = false;

  private readonly pass: () => Promise<void>;
  private readonly onError: (err: Error) => void;

  constructor(pass: () => Promise<void>, onError: (err: Error) => void, periodMs: number) {
    this.pass = pass;
    this.onError = onError;
    this.ticker = setInterval(() => this.kick(), periodMs);
    this.ticker.unref();
  }

  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.timer || this.running) return;
    // Coalesce a burst of watch events into one pass.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.run().finally(() => { this.running = undefined; });
    }, 20);
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        await this.pass();
      } catch (err) {
        this.onError(err as Error);
        // A failing store (etcd restarting) is tried again by the ticker, not in a spin.
        return;
      }
    }
  }

  /** Stops kicking and waits for a pass under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    await this.running;
  }
}
