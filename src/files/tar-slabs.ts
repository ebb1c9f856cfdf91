// A tar stream built in a few reused buffers ("slabs"). `cp` moves a GiB of
// files through a process: a fresh buffer per file (and per chunk joined for
// the socket) made V8 run a full mark-compact every ~20 MB of them, about a
// third of the process's CPU. Here headers are encoded and file content is
// read straight into a slab; a full slab goes to the sink, which hands it
// back once the socket has taken its bytes, so the same few MiB carry the
// whole tar and no copy or allocation is made per file.

/** Takes a slab's bytes; calls `done` once it no longer needs them (the write completed or failed). */
export type SlabSink = (bytes: Buffer, done: (err?: Error | null) => void) => void;

/** Reads up to `len` bytes into `buf` at `off` from position `pos` of the source; 0 at its end. */
export type ReadInto = (buf: Buffer, off: number, len: number, pos: number) => number | Promise<number>;

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK);

export class SlabWriter {
  private readonly sink: SlabSink;
  private readonly size: number;
  private readonly free: Buffer[] = [];
  private readonly count: number;
  private cur: Buffer | undefined;
  private used = 0;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly signal: AbortSignal | undefined;

  /** `alloc`: makes each slab (one over a SharedArrayBuffer, for a reader thread). */
  constructor(sink: SlabSink, opts: { slabSize?: number; slabs?: number; signal?: AbortSignal; alloc?: (size: number) => Buffer } = {}) {
    this.sink = sink;
    this.size = opts.slabSize ?? 1 << 20;
    this.count = opts.slabs ?? 4;
    for (let i = 0; i < this.count; i++) this.free.push(opts.alloc ? opts.alloc(this.size) : Buffer.allocUnsafeSlow(this.size));
    this.signal = opts.signal;
    this.signal?.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  private check(): void {
    this.signal?.throwIfAborted();
    if (this.failure) throw this.failure;
  }

  /** A current slab with room: the full one goes out, and this waits while every slab is out. */
  private async room(): Promise<Buffer> {
    if (this.cur && this.used < this.size) return this.cur;
    if (this.cur) this.send();
    while (this.free.length === 0) {
      this.check();
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    this.check();
    this.cur = this.free.pop() as Buffer;
    this.used = 0;
    return this.cur;
  }

  private send(): void {
    const slab = this.cur as Buffer;
    const n = this.used;
    this.cur = undefined;
    this.used = 0;
    this.sink(slab.subarray(0, n), (err) => {
      if (err) this.failure ??= err;
      this.free.push(slab);
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }

  /** Copies `bytes` in. */
  async put(bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const slab = await this.room();
      const n = bytes.copy(slab, this.used, off);
      this.used += n;
      off += n;
    }
  }

  /** Zeros up to the next 512-byte boundary of an entry of `size` bytes. */
  async pad(size: number): Promise<void> {
    const n = (BLOCK - (size % BLOCK)) % BLOCK;
    if (n) await this.put(ZEROS.subarray(0, n));
  }

  /**
   * Exactly `size` bytes of a file, read straight into the slabs, then its
   * padding. A source that ends early is padded with zeros (a file that
   * shrank meanwhile), so the tar stays valid; the bytes read are returned.
   */
  async fill(size: number, read: ReadInto): Promise<number> {
    let done = 0;
    while (done < size) {
      const slab = await this.room();
      const len = Math.min(size - done, this.size - this.used);
      const n = await read(slab, this.used, len, done);
      if (n <= 0) break;
      this.used += n;
      done += n;
    }
    for (let left = size - done; left > 0;) {
      const n = Math.min(left, BLOCK);
      await this.put(ZEROS.subarray(0, n));
      left -= n;
    }
    await this.pad(size);
    return done;
  }

  /** Sends what is buffered and waits until the sink has taken every slab. */
  async flush(): Promise<void> {
    if (this.cur && this.used > 0) this.send();
    else if (this.cur) {
      this.free.push(this.cur);
      this.cur = undefined;
    }
    while (this.free.length < this.count) {
      this.check();
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    this.check();
  }
}
