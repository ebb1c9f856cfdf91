// Content-addressed blob store (OCI layout: blobs/sha256/<hex>), split by
// capability as containerd's content store is: Provider reads, Ingester
// writes, Manager lists and deletes. A blob only appears under its digest after
// its bytes were verified and synced; writers stage in ingest/.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, NotFoundError } from '../errors.ts';

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

export function parseDigest(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new InvalidArgumentError(`invalid digest: ${JSON.stringify(digest)}`);
  return m[1];
}

export function sha256(data: string | Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export interface ContentProvider {
  readBlob(digest: string): Promise<Buffer>;
  openBlob(digest: string): ReadStream;
  has(digest: string): Promise<boolean>;
  size(digest: string): Promise<number>;
}

export interface ContentIngester {
  /** Writes `data` and returns its digest; verifies it when `expected` is given. */
  writeBlob(data: Uint8Array, expected?: string): Promise<string>;
  ingest(stream: Readable, expected?: string): Promise<{ digest: string; size: number }>;
}

export interface ContentManager {
  list(): Promise<string[]>;
  delete(digest: string): Promise<void>;
}

export class ContentStore implements ContentProvider, ContentIngester, ContentManager {
  private readonly blobs: string;
  private readonly ingestDir: string;

  constructor(root: string) {
    this.blobs = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await mkdir(this.blobs, { recursive: true });
    // Unfinished ingests of a previous run are never referenced.
    await rm(this.ingestDir, { recursive: true, force: true });
    await mkdir(this.ingestDir, { recursive: true });
  }

  /** A fresh path in the staging dir (same filesystem, swept on start) for scratch files. */
  tempPath(): string {
    return join(this.ingestDir, 'tmp-' + randomBytes(8).toString('hex'));
  }

  path(digest: string): string {
    return join(this.blobs, parseDigest(digest));
  }

  async has(digest: string): Promise<boolean> {
    return stat(this.path(digest)).then(() => true, () => false);
  }

  async size(digest: string): Promise<number> {
    try {
      return (await stat(this.path(digest))).size;
    } catch {
      throw new NotFoundError(`content ${digest} not found`);
    }
  }

  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch {
      throw new NotFoundError(`content ${digest} not found`);
    }
  }

  openBlob(digest: string): ReadStream {
    return createReadStream(this.path(digest));
  }

  async writeBlob(data: Uint8Array, expected?: string): Promise<string> {
    const digest = sha256(data);
    if (expected !== undefined && expected !== digest) throw new InvalidArgumentError(`digest mismatch: expected ${expected}, got ${digest}`);
    if (await this.has(digest)) return digest;
    const tmp = join(this.ingestDir, randomBytes(8).toString('hex'));
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path(digest));
    return digest;
  }

  /** Stores the stream as a blob; `created` says it was not in the store before. */
  async ingest(stream: Readable, expected?: string): Promise<{ digest: string; size: number; created: boolean }> {
    const tmp = join(this.ingestDir, randomBytes(8).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    try {
      await pipeline(stream, createWriteStream(tmp, { mode: 0o644 }));
      const digest = 'sha256:' + hash.digest('hex');
      if (expected !== undefined && expected !== digest) throw new InvalidArgumentError(`digest mismatch: expected ${expected}, got ${digest}`);
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const created = !(await this.has(digest));
      await rename(tmp, this.path(digest));
      return { digest, size, created };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Moves a scratch file (from tempPath(), same filesystem) whose sha256 the
   * caller computed while writing it into the store under that digest.
   */
  async adopt(tmp: string, digest: string): Promise<void> {
    const dest = this.path(digest);
    if (await this.has(digest)) {
      await rm(tmp, { force: true });
      return;
    }
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
  }

  async list(): Promise<string[]> {
    return (await readdir(this.blobs)).filter((f) => /^[a-f0-9]{64}$/.test(f)).map((f) => 'sha256:' + f);
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }
}
