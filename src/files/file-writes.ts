// Regular files of an unpack written off the main thread, in batches: the
// daemon's layer and `cp` unpacks (storage/layer-extractor.ts) and the CLI's
// `cp` out of a container (client/local-archive.ts).
// Creating a file is what an unpack spends its time on (creat(2) through
// overlayfs: 0.6-1 ms each on a loaded disk). Done on the main thread it
// stops the tar from being read meanwhile; done in libuv's thread pool it
// cost five round trips per file (open, writev, fchmod, futimes, close: a
// futex wake, an eventfd and an epoll wakeup each), which on this 2-core
// machine were most of the daemon's main-thread time. Here the main thread
// copies each file's body into a shared slab and a batch of files goes to a
// worker thread as one message; the worker makes them with plain system calls
// (open O_CREAT|O_EXCL|O_NOFOLLOW with the final mode when the umask allows,
// write, fchown and fchmod only when needed, futimes, close), as `tar -x` does.
//
// The caller keeps the tar's order: it hands over only a new name in a
// directory this unpack made (so nothing can be there but what this tar put
// there, and the name is not one of those), and waits for settle() before any
// entry that could touch a file in flight (a hard link, a symlink, a removal,
// the end). The path is the one the caller resolved inside the root; the
// final component is never followed (O_NOFOLLOW) and never reused (O_EXCL).
// Runs in the CLI's startup snapshot too: no process state is read and no
// thread module loaded until the first file is handed over.
import { readFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';

export interface FileBody {
  path: string;
  /** The entry's name in the tar, and the path a user knows it by, for messages. */
  name: string;
  shown: string;
  size: number;
  mode: number;
  /** undefined: the owner is left as created (not root). */
  owner?: { uid: number; gid: number };
  atime: number;
  mtime: number;
}

/** A file handed back by settle(): it found its path taken, and carries its bytes. */
export interface CollidedFile extends FileBody {
  chunks: Buffer[];
}

/** A batch's bytes: a file at most this large fits any slab. */
export const MAX_BODY = 4 << 20;
const SLAB = MAX_BODY;
/** A batch goes out once it holds this many files (or its slab is full). */
const BATCH_FILES = 64;
/** Batches in flight per unpack: enough to keep the workers busy, little memory. */
const WINDOW_BATCHES = 4;
/** Worker threads shared by every unpack of the process. */
const WORKERS = 2;
/** An idle worker is stopped after this long (its ~10 MiB go back, and with the last one the kept slabs). */
const IDLE_MS = 30_000;

interface WireFile {
  path: string;
  off: number;
  size: number;
  /** -1: the create mode is the final one (umask allows it, no chown follows). */
  mode: number;
  createMode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
}

interface Reply {
  id: number;
  /** Indexes of the files that found their path taken (nothing written). */
  collided: number[];
  /** The first file that failed, with its errno code and message. */
  failed?: { index: number; code?: string; message: string };
}

/**
 * The worker's code: a script of its own (eval), so the bundle needs no
 * second entry point; it only uses node:fs. Each message is a batch; it
 * answers with the indexes of the files that found something at their path,
 * and stops at the first failure.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const C = fs.constants;
const FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
parentPort.on('message', ({ id, slab, files }) => {
  const bytes = new Uint8Array(slab);
  const collided = [];
  let failed;
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    let fd;
    try {
      fd = fs.openSync(f.path, FLAGS, f.createMode);
    } catch (err) {
      if (err.code === 'EEXIST') { collided.push(i); continue; }
      failed = { index: i, code: err.code, message: err.message };
      break;
    }
    try {
      let done = 0;
      while (done < f.size) done += fs.writeSync(fd, bytes, f.off + done, f.size - done);
      // chown before chmod: chown clears setuid/setgid bits.
      if (f.uid >= 0) fs.fchownSync(fd, f.uid, f.gid);
      if (f.mode >= 0) fs.fchmodSync(fd, f.mode);
      fs.futimesSync(fd, f.atime, f.mtime);
    } catch (err) {
      failed = { index: i, code: err.code, message: err.message };
    } finally {
      fs.closeSync(fd);
    }
    if (failed) break;
  }
  parentPort.postMessage({ id, collided, failed });
});
`;

/** The daemon's umask (process.umask() without an argument is deprecated). */
function readUmask(): number {
  const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? parseInt(m[1], 8) : 0o777;
}
let umask: number | undefined;

interface Slot {
  worker: Worker;
  busy: number;
  timer?: NodeJS.Timeout;
}

/** The shared workers and the batches they are writing. */
class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; slot: Slot; dir: string }>();
  /**
   * The worker writing in a directory, and its batches there in flight. Two
   * threads creating names in one directory serialize on its lock in the
   * kernel, and the second spins for it (14% of the daemon's CPU in a profile
   * of a 1 GiB copy): a directory's batches go to one worker, in order.
   */
  private readonly dirs = new Map<string, { slot: Slot; n: number }>();
  private nextId = 0;
  private readonly slabs: SharedArrayBuffer[] = [];

  slab(): SharedArrayBuffer {
    return this.slabs.pop() ?? new SharedArrayBuffer(SLAB);
  }

  /** A slab no batch uses any more; a few are kept for the next unpack. */
  release(slab: SharedArrayBuffer): void {
    if (this.slabs.length < WINDOW_BATCHES * WORKERS) this.slabs.push(slab);
  }

  run(slab: SharedArrayBuffer, files: WireFile[], dir: string): Promise<Reply> {
    const owner = this.dirs.get(dir);
    const slot = owner && this.slots.includes(owner.slot) ? owner.slot : this.pick();
    if (owner?.slot === slot) owner.n++;
    else this.dirs.set(dir, { slot, n: 1 });
    const id = this.nextId++;
    slot.busy++;
    clearTimeout(slot.timer);
    slot.worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot, dir });
      slot.worker.postMessage({ id, slab, files });
    });
  }

  private pick(): Slot {
    const idle = this.slots.find((s) => s.busy === 0);
    if (idle) return idle;
    if (this.slots.length < WORKERS) return this.spawn();
    return this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  private spawn(): Slot {
    const { Worker: WorkerThread } = process.getBuiltinModule('node:worker_threads');
    const worker = new WorkerThread(WORKER_SOURCE, { eval: true, name: 'berth file writes' });
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      this.done(p.dir, p.slot);
      this.idle(p.slot);
      p.resolve(r);
    });
    // A worker that dies (out of memory) fails its batches; the next batch starts a new one.
    const died = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        this.done(p.dir, p.slot);
        p.reject(err);
      }
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`file writer thread exited (${code})`)));
    this.slots.push(slot);
    return slot;
  }

  private done(dir: string, slot: Slot): void {
    const owner = this.dirs.get(dir);
    if (owner?.slot === slot && --owner.n === 0) this.dirs.delete(dir);
  }

  private idle(slot: Slot): void {
    if (--slot.busy > 0) return;
    // Nothing to write: the daemon may exit, and a worker idle for long goes.
    slot.worker.unref();
    slot.timer = setTimeout(() => {
      if (slot.busy > 0) return;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      void slot.worker.terminate();
      // The kept slabs go with the last worker.
      if (this.slots.length === 0) this.slabs.length = 0;
    }, IDLE_MS);
    slot.timer.unref();
  }
}

let pool: WorkerPool | undefined;

interface Batch {
  /** The directory of its last file: a batch holds one directory's files, or a few small ones'. */
  dir: string;
  slab: SharedArrayBuffer;
  bytes: Uint8Array;
  used: number;
  files: FileBody[];
  wire: WireFile[];
  /** The tar order of the batch's first file. */
  seq: number;
}

/** Makes the error a failed file is reported as: `message` names the entry. */
export type FailureError = (message: string, cause: unknown) => Error;

export class FileWrites {
  private readonly fail: FailureError;
  /** Paths in the batch being filled or in flight. */
  private readonly paths = new Set<string>();
  private batch: Batch | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** Files that found something at their path, in the order they were handed over. */
  private collided: { seq: number; file: CollidedFile }[] = [];
  private seq = 0;

  constructor(fail: FailureError) {
    this.fail = fail;
  }

  /** True while `path` is being written. */
  has(path: string): boolean {
    return this.paths.has(path);
  }

  /**
   * Takes `b` with its bytes (`chunks`, `b.size` of them, at most MAX_BODY):
   * they are copied, the chunks are free on return. Waits for room when
   * batches are full. Throws the failure of an earlier file.
   */
  async add(b: FileBody, chunks: Buffer[]): Promise<void> {
    this.check();
    const dir = b.path.slice(0, b.path.lastIndexOf('/'));
    // A batch ends with its directory, unless it is small: many small directories are not a message per file.
    const full = this.batch && (this.batch.used + b.size > SLAB || this.batch.files.length >= BATCH_FILES);
    if (full || (this.batch && this.batch.dir !== dir && this.batch.files.length >= BATCH_FILES / 4)) await this.send();
    pool ??= new WorkerPool();
    if (!this.batch) {
      const slab = pool.slab();
      this.batch = { dir, slab, bytes: new Uint8Array(slab), used: 0, files: [], wire: [], seq: this.seq };
    }
    const batch = this.batch;
    // A batch of several directories goes where the last one's later files will.
    batch.dir = dir;
    const off = batch.used;
    for (const c of chunks) {
      batch.bytes.set(c, batch.used);
      batch.used += c.length;
    }
    // The final mode at creation when the umask leaves it whole and no chown (which clears setuid/setgid) follows.
    umask ??= readUmask();
    const exact = !b.owner && (b.mode & ~0o777) === 0 && (b.mode & umask) === 0;
    batch.files.push(b);
    batch.wire.push({
      path: b.path, off, size: b.size, mode: exact ? -1 : b.mode, createMode: exact ? b.mode : 0o600,
      uid: b.owner?.uid ?? -1, gid: b.owner?.gid ?? -1, atime: b.atime, mtime: b.mtime,
    });
    this.paths.add(b.path);
    this.seq++;
  }

  /** Hands the batch being filled to a worker, after waiting for room. */
  private async send(): Promise<void> {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    while (this.inFlight.size >= WINDOW_BATCHES) await Promise.race(this.inFlight);
    const p = (pool as WorkerPool);
    const job: Promise<void> = p.run(batch.slab, batch.wire, batch.dir).then(
      (r) => {
        for (const i of r.collided) {
          const f = batch.files[i];
          const w = batch.wire[i];
          // Its bytes leave the slab, which goes back to the pool.
          this.collided.push({ seq: batch.seq + i, file: { ...f, chunks: [Buffer.from(batch.bytes.subarray(w.off, w.off + w.size))] } });
        }
        if (r.failed) {
          const f = batch.files[r.failed.index];
          const cause = Object.assign(new Error(r.failed.message), { code: r.failed.code });
          this.failure ??= this.fail(`${f.name}: ${r.failed.message}`, cause);
        }
      },
      (err: unknown) => { this.failure ??= this.fail(`${batch.files[0].name}: ${(err as Error).message}`, err); },
    ).finally(() => {
      for (const f of batch.files) this.paths.delete(f.path);
      p.release(batch.slab);
      this.inFlight.delete(job);
    });
    this.inFlight.add(job);
  }

  /**
   * Writes every file handed over and waits for them. Returns those that
   * found their path taken (something else made it meanwhile), for the caller
   * to place as it places an entry over an existing one; throws the first failure.
   */
  async settle(): Promise<CollidedFile[]> {
    await this.send();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.check();
    // Batches finish in any order; the tar's is kept.
    const out = this.collided.sort((a, b) => a.seq - b.seq).map((c) => c.file);
    this.collided = [];
    return out;
  }

  /** Drops the batch not yet sent and waits for those in flight, ignoring failures: nothing is written after this returns. */
  async abandon(): Promise<void> {
    if (this.batch) {
      for (const f of this.batch.files) this.paths.delete(f.path);
      pool?.release(this.batch.slab);
      this.batch = undefined;
    }
    while (this.inFlight.size > 0) await Promise.allSettled(this.inFlight);
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
