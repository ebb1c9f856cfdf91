// A cgroup's files kept open between readings. A stats sample reads a dozen
// of them, every second per stream and twice per one-off answer; an open
// (a path walk through cgroupfs) and a close cost more than the read, and a
// cgroup file read again from offset 0 is generated afresh by the kernel.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { ReadText } from './usage.ts';

/** Larger than any cgroup file a sample reads (memory.stat is a few KiB); a fuller read falls back to a whole-file read. */
const scratch = Buffer.allocUnsafe(64 * 1024);

export class KeptCgroupFiles {
  private readonly fds = new Map<string, number>();

  /** The file's current text; throws as a read does (the cgroup gone, no such controller). */
  readonly read: ReadText = (path) => {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.fds.set(path, fd);
    }
    let n: number;
    try {
      n = readSync(fd, scratch, 0, scratch.length, 0);
    } catch (err) {
      this.fds.delete(path);
      closeSync(fd);
      throw err;
    }
    return n === scratch.length ? readFileSync(path, 'utf8') : scratch.toString('utf8', 0, n);
  };

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
