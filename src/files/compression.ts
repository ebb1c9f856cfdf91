// Layer blobs come gzip-, zstd-, bzip2- or xz-compressed, or as plain tar;
// the format is told by magic bytes, as Docker does. gzip and zstd are
// decoded in-process (node:zlib); bzip2 and xz by the system tools.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveError } from '../errors.ts';

export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

/** Needs at least 6 bytes to tell every format apart; fewer means plain tar. */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/**
 * Reads up to `n` bytes from the start of `input` without losing them: the
 * returned stream yields the whole input again.
 */
export async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    if (input.errored) throw input.errored;
    const c = input.read() as Buffer | string | null;
    if (c !== null) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      chunks.push(b);
      len += b.length;
      continue;
    }
    if (input.readableEnded) {
      ended = true;
      break;
    }
    if (input.destroyed) throw new ArchiveError('layer stream closed before any data');
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        input.off('readable', done);
        input.off('end', done);
        input.off('close', done);
        input.off('error', fail);
        resolve();
      };
      const fail = (err: Error) => {
        done();
        reject(err);
      };
      input.on('readable', done);
      input.on('end', done);
      input.on('close', done);
      input.on('error', fail);
    });
  }
  const head = Buffer.concat(chunks);
  if (ended) return { head, stream: Readable.from(head.length ? [head] : [], { objectMode: false }) };
  if (head.length) input.unshift(head);
  return { head, stream: input };
}

export interface Decompressed {
  compression: Compression;
  /** The uncompressed tar. */
  stream: Readable;
  /** Resolves once the decompressor is finished cleanly; rejects with why not. */
  finished(): Promise<void>;
  /** Stops everything (on failure of the consumer). */
  abort(err: Error): void;
}

/** Wraps `input` so it yields the tar inside whatever compression it has. */
export async function decompress(input: Readable): Promise<Decompressed> {
  const { head, stream } = await peek(input, 6);
  const compression = detectCompression(head);
  if (compression === 'none') {
    return { compression, stream, finished: () => Promise.resolve(), abort: (err) => stream.destroy(err) };
  }
  if (compression === 'gzip' || compression === 'zstd') {
    // node:zlib loaded at the first compressed layer: an idle daemon need not keep it.
    const zlib = process.getBuiltinModule('node:zlib');
    const z = compression === 'gzip' ? zlib.createGunzip() : zlib.createZstdDecompress();
    const fed = pipeline(stream, z).catch((err: Error) => {
      throw new ArchiveError(`${compression}: ${err.message}`, { cause: err });
    });
    fed.catch(() => {});
    return {
      compression,
      stream: z,
      finished: () => fed,
      abort: (err) => {
        stream.destroy(err);
        z.destroy(err);
      },
    };
  }
  const cmd = compression; // bzip2 and xz both take -dc
  const child = spawn(cmd, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString('utf8');
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(toolMissing(cmd, err)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new ArchiveError(`${cmd} failed to decompress the layer (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
  exited.catch(() => {});
  // A failing decompressor closes its stdin early; its exit status is the
  // better error, so EPIPE on the feed only counts when the tool succeeded.
  const fed = pipeline(stream, child.stdin).catch(async (err: Error) => {
    await exited;
    throw err;
  });
  fed.catch(() => {});
  return {
    compression,
    stream: child.stdout,
    finished: async () => {
      await exited;
      await fed;
    },
    abort: (err) => {
      stream.destroy(err);
      child.stdout.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

const PACKAGE_OF: Record<string, string> = {
  setfattr: 'attr', getfattr: 'attr', mknod: 'coreutils', mkfifo: 'coreutils', sh: 'dash', bzip2: 'bzip2', xz: 'xz-utils',
};

/** The error for a tool that could not be started at all. */
export function toolMissing(cmd: string, err: unknown): ArchiveError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint = code === 'ENOENT' ? ` (install the Debian package ${PACKAGE_OF[cmd] ?? cmd})` : '';
  return new ArchiveError(`cannot run ${cmd}: ${(err as Error).message}${hint}`, { cause: err });
}
