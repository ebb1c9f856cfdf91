// Metadata is only ever replaced whole: write a temp file in the same
// directory, fsync it, rename it over the old one, fsync the directory. A crash
// at any point leaves either the old or the new version, never a torn file.
import { closeSync, fsyncSync, openSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * `durable: false` skips the fsyncs: the rename alone still makes the write
 * atomic for a crash of the process (kill -9), only not for one of the host.
 * For records a host crash makes moot anyway.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, durable = true): Promise<void> {
  const tmp = tempName(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (durable) await syncDir(dirname(path));
}

export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempName(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  syncDirSync(dirname(path));
}

const TEMP_RE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Deletes the temp files of atomic writes in `dir` (not below it). A kill -9
 * between open and rename leaves one behind; nothing ever reads it, so each
 * owner of a metadata directory sweeps it on start, before any new write.
 */
export async function removeTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) if (TEMP_RE.test(n)) await unlink(join(dir, n)).catch(() => {});
}

export async function writeJsonAtomic(path: string, value: unknown, durable = true): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value), 0o644, durable);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
