// Serves a byte range of an open file on an HTTP response without allocating
// per chunk. A blob GET used to go through fs.createReadStream, which allocates
// a fresh buffer for every read: at pull speeds that is hundreds of MiB of
// short-lived external memory a second, which V8 answers with a full
// mark-compact every few tens of milliseconds, and which glibc's malloc keeps
// as resident memory afterwards. Here each response reads into two buffers
// taken from a small shared pool, in turn: one is being written to the socket
// while the next chunk is read into the other. A buffer is only reused after
// the socket has reported its write done, which is also the backpressure.
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/** Bytes per read and per socket write. */
export const CHUNK = 256 * 1024;
/** Idle buffers kept for reuse (2 per concurrent response); beyond that they go to the GC. */
const POOL_MAX = 64;
const pool: Buffer[] = [];

function take(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function give(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

function prematureClose(): Error {
  return Object.assign(new Error('client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Writes bytes `start`..`end` (inclusive) of `fh` to `res` and ends it. The
 * caller sets status and headers. Rejects if the client goes away or the file
 * is shorter than the range; the handle stays open (the caller closes it).
 */
export async function sendRange(fh: FileHandle, start: number, end: number, res: ServerResponse): Promise<void> {
  let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let closed = false;
  const onClose = (): void => {
    closed = true;
    settle?.reject(prematureClose());
  };
  res.on('close', onClose);
  const write = (chunk: Buffer): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (closed || res.destroyed) return reject(prematureClose());
      settle = { resolve, reject };
      res.write(chunk, (err) => {
        settle = undefined;
        // A failed socket write (ECANCELED, EPIPE, ECONNRESET) means the client went away.
        if (err) reject(Object.assign(prematureClose(), { cause: err }));
        else resolve();
      });
    });
  const limit = end + 1;
  const read = async (buf: Buffer, pos: number): Promise<number> => {
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, limit - pos), pos);
    if (bytesRead === 0) throw new Error(`file ended at ${pos}, before the ${limit} bytes it was to serve`);
    return bytesRead;
  };

  let a = take();
  let b = take();
  // Only buffers no read or write can still touch go back to the pool: after
  // an error a write may still be queued in the socket, so both are dropped.
  let reusable = false;
  try {
    let pos = start;
    let n = await read(a, pos);
    pos += n;
    for (;;) {
      const written = write(n === CHUNK ? a : a.subarray(0, n));
      if (pos >= limit) {
        await written;
        break;
      }
      const [, m] = await Promise.all([written, read(b, pos)]);
      pos += m;
      n = m;
      [a, b] = [b, a];
    }
    reusable = true;
  } finally {
    res.off('close', onClose);
    if (reusable) {
      give(a);
      give(b);
    }
  }
  res.end();
}
