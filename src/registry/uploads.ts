// Upload sessions of the registry's store (the distribution spec's blob
// uploads): uploads/<id>/{info.json,data}, resumable across restarts. A
// finished upload is verified against its digest, fsynced and moved into the
// blob store through BlobSink; nothing else in the store takes in new bytes.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RegistryError, unknownUpload } from './errors.ts';
import { isUploadId, type Digest } from './names.ts';
import { exists, isNotFound, moveInto, writeAtomic } from './fsutil.ts';

export interface UploadState {
  id: string;
  repo: string;
  size: number;
  startedAt: number;
}

interface LiveUpload {
  hash?: Hash;
  /** Bytes fed to `hash`; when it differs from the file size the digest is recomputed from disk. */
  hashed: number;
  algorithm: string;
  busy: boolean;
}

/** Writes to upload files are batched to this many bytes to keep syscalls few. */
const WRITE_BATCH = 256 * 1024;

/** The part of the blob store an upload needs to hand its blob over. */
export interface BlobSink {
  blobPath(d: Digest): string;
  touchBlob(d: Digest): Promise<void>;
  linkBlob(repo: string, d: Digest): Promise<void>;
}

export class Uploads {
  private readonly live = new Map<string, LiveUpload>();
  private readonly uploadsDir: string;
  private readonly tmpDir: string;
  private readonly blobs: BlobSink;

  constructor(uploadsDir: string, tmpDir: string, blobs: BlobSink) {
    this.uploadsDir = uploadsDir;
    this.tmpDir = tmpDir;
    this.blobs = blobs;
  }

  async create(repo: string, algorithm = 'sha256'): Promise<UploadState> {
    const id = randomBytes(16).toString('hex');
    const dir = join(this.uploadsDir, id);
    await mkdir(dir);
    const fh = await open(join(dir, 'data'), 'wx');
    await fh.close();
    const startedAt = Date.now();
    await writeAtomic(this.tmpDir, join(dir, 'info.json'), JSON.stringify({ repo, algorithm, startedAt }));
    this.live.set(id, { hash: createHash(algorithm), hashed: 0, algorithm, busy: false });
    return { id, repo, size: 0, startedAt };
  }

  /** Current state of an upload; 404 BLOB_UPLOAD_UNKNOWN when it does not exist in `repo`. */
  async get(repo: string, id: string): Promise<UploadState & { algorithm: string }> {
    if (!isUploadId(id)) throw unknownUpload();
    const dir = join(this.uploadsDir, id);
    let info: { repo?: unknown; algorithm?: unknown; startedAt?: unknown };
    try {
      info = JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as typeof info;
    } catch {
      throw unknownUpload();
    }
    if (info.repo !== repo) throw unknownUpload();
    let size: number;
    try {
      size = (await stat(join(dir, 'data'))).size;
    } catch {
      throw unknownUpload();
    }
    const algorithm = typeof info.algorithm === 'string' ? info.algorithm : 'sha256';
    return { id, repo, size, startedAt: Number(info.startedAt) || 0, algorithm };
  }

  private liveUpload(id: string, algorithm: string): LiveUpload {
    let l = this.live.get(id);
    if (!l) {
      // Upload from before a restart: the digest will be recomputed from disk.
      l = { hashed: -1, algorithm, busy: false };
      this.live.set(id, l);
    }
    return l;
  }

  /**
   * Appends a request body to an upload. `start` is where the client says the
   * chunk begins (Content-Range); it must equal the bytes received so far.
   * Bytes that arrived before a dropped connection stay, so the client can
   * ask for the offset and resume.
   */
  async append(repo: string, id: string, body: Readable, start?: number, length?: number): Promise<number> {
    const up = await this.get(repo, id);
    const l = this.liveUpload(id, up.algorithm);
    if (l.busy) throw rangeError(up, 'another request is writing to this upload');
    if (start !== undefined && start !== up.size) throw rangeError(up, `chunk starts at ${start} but ${up.size} bytes were received`);
    l.busy = true;
    try {
      let fh: FileHandle;
      try {
        fh = await open(join(this.uploadsDir, id, 'data'), 'a');
      } catch (err) {
        // Cancelled (DELETE) or purged since getUpload above.
        if (isNotFound(err)) throw unknownUpload();
        throw err;
      }
      const hashing = l.hash !== undefined && l.hashed === up.size;
      if (!hashing) l.hashed = -1;
      let written = 0;
      let batch: Buffer[] = [];
      let batchBytes = 0;
      const flush = async (): Promise<void> => {
        if (batchBytes === 0) return;
        const bufs = batch;
        batch = [];
        batchBytes = 0;
        let n = 0;
        for (const b of bufs) n += b.length;
        await fh.writev(bufs);
        if (hashing && l.hash) {
          for (const b of bufs) l.hash.update(b);
          l.hashed += n;
        }
        written += n;
      };
      try {
        for await (const chunk of body) {
          const b = chunk as Buffer;
          batch.push(b);
          batchBytes += b.length;
          if (batchBytes >= WRITE_BATCH) await flush();
        }
        await flush();
      } catch (err) {
        // The connection dropped: keep what did arrive, so the client can
        // ask for the offset (GET) and resume from there.
        await flush().catch(() => {});
        throw err;
      } finally {
        await fh.close();
      }
      // A DELETE while the body streamed in cancelled the session; its bytes went to an unlinked file.
      if (this.live.get(id) !== l) throw unknownUpload();
      if (length !== undefined && written !== length) {
        // A whole chunk of the wrong size is refused whole: the session goes
        // back to the offset the client knows, and the hash is redone from disk.
        await truncate(join(this.uploadsDir, id, 'data'), up.size);
        l.hash = undefined;
        l.hashed = -1;
        throw new RegistryError(400, 'SIZE_INVALID', `received ${written} bytes, Content-Length/Content-Range said ${length}`);
      }
      return up.size + written;
    } finally {
      l.busy = false;
    }
  }

  /**
   * Completes an upload: verifies the digest of everything received, moves the
   * file into the blob store and links it into the repository. On a digest
   * mismatch the upload is discarded and 400 DIGEST_INVALID returned.
   */
  async finish(repo: string, id: string, expected: Digest): Promise<number> {
    const up = await this.get(repo, id);
    const l = this.liveUpload(id, up.algorithm);
    if (l.busy) throw rangeError(up, 'another request is writing to this upload');
    l.busy = true;
    const dataPath = join(this.uploadsDir, id, 'data');
    try {
      let actual: string;
      if (expected.algorithm === l.algorithm && l.hash && l.hashed === up.size) {
        actual = l.hash.digest('hex');
        l.hash = undefined;
        l.hashed = -1;
      } else {
        actual = await hashFile(dataPath, expected.algorithm);
      }
      if (actual !== expected.hex) {
        await this.delete(repo, id);
        throw new RegistryError(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content', {
          expected: expected.text,
          actual: `${expected.algorithm}:${actual}`,
        });
      }
      const target = this.blobs.blobPath(expected);
      if (await exists(target)) {
        await this.blobs.touchBlob(expected);
      } else {
        const fh = await open(dataPath, 'r+');
        try { await fh.sync(); } finally { await fh.close(); }
        await moveInto(dataPath, target);
      }
      await this.blobs.linkBlob(repo, expected);
      await rm(join(this.uploadsDir, id), { recursive: true, force: true });
      this.live.delete(id);
      return up.size;
    } catch (err) {
      // The client cancelled (DELETE) the session it was completing: its data file vanished under us.
      if (isNotFound(err) && !(await exists(join(this.uploadsDir, id)))) throw unknownUpload();
      throw err;
    } finally {
      l.busy = false;
    }
  }

  async delete(repo: string, id: string): Promise<void> {
    await this.get(repo, id);
    this.live.delete(id);
    await rm(join(this.uploadsDir, id), { recursive: true, force: true });
  }

  /** Removes uploads older than `ageMs` (storage.maintenance.uploadpurging). */
  async purge(ageMs: number): Promise<number> {
    let n = 0;
    const now = Date.now();
    for (const id of await readdir(this.uploadsDir).catch(() => [] as string[])) {
      const dir = join(this.uploadsDir, id);
      try {
        const info = JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as { startedAt?: number };
        const last = Math.max(Number(info.startedAt) || 0, (await stat(join(dir, 'data'))).mtimeMs);
        if (now - last < ageMs) continue;
      } catch {
        // unreadable session: purge it
      }
      if (this.live.get(id)?.busy) continue;
      this.live.delete(id);
      await rm(dir, { recursive: true, force: true });
      n++;
    }
    return n;
  }
}

function rangeError(up: UploadState, message: string): RegistryError {
  return new RegistryError(416, 'BLOB_UPLOAD_INVALID', message, undefined, {
    Location: `/v2/${up.repo}/blobs/uploads/${up.id}`,
    Range: `0-${Math.max(0, up.size - 1)}`,
    'Docker-Upload-UUID': up.id,
  });
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
