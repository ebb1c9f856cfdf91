// Filesystem helpers for the store. Metadata is only ever replaced whole: the
// bytes go to a temp file in the store's tmp/ directory, which is fsynced and
// renamed over the target, then the target's directory is fsynced. A crash at
// any point leaves the old version or the new one, never a torn file; leftover
// temp files are removed when the server starts.
import { open, rename, unlink, mkdir, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export function tempPath(tmpDir: string): string {
  return join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
}

/** Writes `data` to `path` atomically (temp file in `tmpDir`, fsync, rename, fsync dir). */
export async function writeAtomic(tmpDir: string, path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPath(tmpDir);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await moveInto(tmp, path);
}

/** Renames an already synced file into place, creating the parent directory if needed. */
export async function moveInto(from: string, to: string): Promise<void> {
  const dir = dirname(to);
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      await unlink(from).catch(() => {});
      throw err;
    }
    await makeDirDurable(dir);
    try {
      await rename(from, to);
    } catch (err2) {
      await unlink(from).catch(() => {});
      throw err2;
    }
  }
  await syncDir(dir);
}

/**
 * mkdir -p, then fsyncs the parent of every directory it created, so the
 * new directories (and what is renamed into them) survive a crash.
 */
async function makeDirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // Parents of created directories, from `dir`'s parent up to first's parent.
  for (let d = dirname(dir); ; d = dirname(d)) {
    await syncDir(d);
    if (d === dirname(first) || d === dirname(d)) break;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Marks a blob as recently used so a concurrent garbage collection leaves it alone. */
export async function touch(path: string): Promise<void> {
  const now = new Date();
  await utimes(path, now, now).catch(() => {});
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
