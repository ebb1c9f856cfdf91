// Regular files of an unpack written off the main thread, several at a time.
// Creating a file is what an unpack spends its time on (creat(2) through
// overlayfs: 0.6-1 ms each on a loaded disk); done one at a time on the main
// thread it also stops the tar from being read meanwhile. Here each file's
// body, read whole from the tar, goes to libuv's thread pool as one job
// (open O_CREAT|O_EXCL|O_NOFOLLOW, writev, fchown, fchmod, futimes, close),
// with a bounded number of files and bytes in flight.
//
// The caller keeps the tar's order: it hands over only a new name in a
// directory this unpack made (so nothing can be there but what this tar put
// there, and the name is not one of those), and waits for settle() before any
// entry that could touch a file in flight (a hard link, a symlink, a removal,
// the end). The path is the one the caller resolved inside the root; the
// final component is never followed (O_NOFOLLOW) and never reused (O_EXCL).
import { close, constants as C, fchmod, fchown, futimes, open, writev } from 'node:fs';
import { promisify } from 'node:util';
import { ArchiveError } from './tarutil.ts';

const openAsync = promisify(open);
const writevAsync = promisify(writev);
const fchownAsync = promisify(fchown);
const fchmodAsync = promisify(fchmod);
const futimesAsync = promisify(futimes);
const closeAsync = promisify(close);

const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

export interface FileBody {
  path: string;
  /** The entry's name in the tar, and the path a user knows it by, for messages. */
  name: string;
  shown: string;
  chunks: Buffer[];
  size: number;
  mode: number;
  /** undefined: the owner is left as created (not root). */
  owner?: { uid: number; gid: number };
  atime: number;
  mtime: number;
}

/** Files and bytes in flight: enough to keep the thread pool busy, little memory. */
export const WINDOW_FILES = 16;
export const WINDOW_BYTES = 32 << 20;
/** A file larger than this is not read whole into memory: the caller streams it. */
export const MAX_BODY = 4 << 20;

/** Writes one file; false when something is at the path already (nothing written). */
async function writeBody(b: FileBody): Promise<boolean> {
  let fd: number;
  try {
    fd = await openAsync(b.path, CREATE_FLAGS, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    let bufs = b.chunks;
    let left = b.size;
    while (left > 0) {
      const n = (await writevAsync(fd, bufs)).bytesWritten;
      left -= n;
      if (left === 0) break;
      // Short write: drop what went out and retry the rest.
      let skip = n;
      while (skip >= bufs[0].length) skip -= (bufs.shift() as Buffer).length;
      bufs = [bufs[0].subarray(skip), ...bufs.slice(1)];
    }
    // chown before chmod: chown clears setuid/setgid bits.
    if (b.owner) await fchownAsync(fd, b.owner.uid, b.owner.gid);
    await fchmodAsync(fd, b.mode);
    await futimesAsync(fd, b.atime, b.mtime);
  } finally {
    await closeAsync(fd);
  }
  return true;
}

export class FileWrites {
  private readonly inFlight = new Map<string, Promise<void>>();
  private bytes = 0;
  private failure: unknown;
  /** Files that found something at their path, in the order they were handed over. */
  private collided: FileBody[] = [];

  /** True while `path` is being written. */
  has(path: string): boolean {
    return this.inFlight.has(path);
  }

  /** Starts writing `b`, after waiting for room in the window. Throws the failure of an earlier file. */
  async add(b: FileBody): Promise<void> {
    while (this.inFlight.size > 0 && (this.inFlight.size >= WINDOW_FILES || this.bytes + b.size > WINDOW_BYTES)) {
      await Promise.race(this.inFlight.values());
    }
    this.check();
    this.bytes += b.size;
    const job = writeBody(b).then(
      (written) => { if (!written) this.collided.push(b); },
      (err: unknown) => { this.failure ??= new ArchiveError(`${b.name}: ${(err as Error).message}`, { cause: err }); },
    ).finally(() => {
      this.inFlight.delete(b.path);
      this.bytes -= b.size;
    });
    this.inFlight.set(b.path, job);
  }

  /**
   * Waits for every file in flight. Returns those that found their path taken
   * (something else made it meanwhile), for the caller to place as it places
   * an entry over an existing one; throws the first failure.
   */
  async settle(): Promise<FileBody[]> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
    this.check();
    const out = this.collided;
    this.collided = [];
    return out;
  }

  /** Waits for every file in flight, ignoring failures: nothing is written after this returns. */
  async abandon(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled(this.inFlight.values());
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
