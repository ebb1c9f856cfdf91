// File content read into a tar's slabs (tar-slabs.ts) by a worker thread.
// The CLI's `cp` into a container packed a tree on its one thread: while it
// sat in read(2) the socket had only its kernel buffer (~200 KiB) for the
// daemon, so the daemon waited for the CLI's reads and the CLI for the
// socket, turn by turn. Here the main thread walks the tree and writes the
// headers; a file's bytes are only planned (a piece: which file, from where,
// how many, to which place of which slab); a full slab goes to the worker,
// which reads its pieces with plain system calls, as `tar -c` does, while the
// main thread plans the next slab and the socket sends the one before.
// Runs in the CLI's startup snapshot: the thread module is loaded at first use.
import type { Worker } from 'node:worker_threads';

/** Bytes `len` of the file at `path` from position `pos`, to offset `off` of the slab. */
export interface Piece {
  path: string;
  pos: number;
  len: number;
  off: number;
}

interface Reply {
  id: number;
  failed?: { path: string; code?: string; message: string };
}

/**
 * The worker's code (eval: the bundle needs no second entry point). A file
 * that is no longer a regular file, or shorter than planned, leaves zeros:
 * the header already gave its size, and the tar must stay valid (tar(1)
 * warns "file changed as we read it" and pads the same way). The final
 * component is never followed.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const C = fs.constants;
let open = { path: '', fd: -1 };
function fdOf(path) {
  if (open.path === path) return open.fd;
  if (open.fd >= 0) fs.closeSync(open.fd);
  open = { path, fd: -1 };
  const fd = fs.openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  if (!fs.fstatSync(fd).isFile()) { fs.closeSync(fd); return -1; }
  open.fd = fd;
  return fd;
}
parentPort.on('message', ({ id, slab, pieces }) => {
  const bytes = new Uint8Array(slab);
  let failed;
  for (const p of pieces) {
    let done = 0;
    try {
      const fd = fdOf(p.path);
      while (fd >= 0 && done < p.len) {
        const n = fs.readSync(fd, bytes, p.off + done, p.len - done, p.pos + done);
        if (n <= 0) break;
        done += n;
      }
    } catch (err) {
      failed = { path: p.path, code: err.code, message: err.message };
      break;
    }
    if (done < p.len) bytes.fill(0, p.off + done, p.off + p.len);
  }
  // Nothing stays open between slabs (a large file is opened once per slab it spans).
  if (open.fd >= 0) fs.closeSync(open.fd);
  open = { path: '', fd: -1 };
  parentPort.postMessage({ id, failed });
});
`;

/** One reader thread for one tar: slabs are read in the order they are handed over. */
export class SlabReader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private dead: Error | undefined;

  /** Reads `pieces` into `slab`; resolves once they are there. */
  read(slab: SharedArrayBuffer, pieces: Piece[]): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const worker = this.worker ??= this.spawn();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, slab, pieces });
    });
  }

  private spawn(): Worker {
    const { Worker: WorkerThread } = process.getBuiltinModule('node:worker_threads');
    const worker = new WorkerThread(WORKER_SOURCE, { eval: true, name: 'berth file reads' });
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.failed) p.reject(Object.assign(new Error(r.failed.message), { code: r.failed.code, path: r.failed.path }));
      else p.resolve();
    });
    const died = (err: Error) => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`file reader thread exited (${code})`)));
    return worker;
  }

  /** Stops the thread (nothing is in flight once the tar is written or failed). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.dead ??= new Error('file reader closed');
    if (w) await w.terminate();
  }
}
