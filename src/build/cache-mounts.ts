// The directories of RUN --mount=type=cache, kept between builds under the
// builder's cache root, one per cache id: listed for `system df` and removed
// by `builder prune` unless a running step has one mounted.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const held = new Map<string, number>();

/** Marks a cache directory as mounted by a step until the returned release is called. */
export function holdCacheMount(dir: string): () => Promise<void> {
  held.set(dir, (held.get(dir) ?? 0) + 1);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    const n = (held.get(dir) ?? 1) - 1;
    if (n > 0) held.set(dir, n);
    else held.delete(dir);
  };
}

export interface CacheMountInfo { id: string; dir: string; bytes: number; inUse: boolean; lastUsed: number; created: number }

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(p);
    else total += await stat(p).then((s) => s.size, () => 0);
  }
  return total;
}

export async function listCacheMounts(root: string): Promise<CacheMountInfo[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: CacheMountInfo[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    out.push({ id: name, dir, bytes: await treeSize(dir), inUse: held.has(dir), lastUsed: st.mtimeMs, created: st.birthtimeMs || st.ctimeMs });
  }
  return out;
}

/** Removes the cache directories no step has mounted (and `keep` spares); returns what went. */
export async function pruneCacheMounts(root: string, keep: (m: CacheMountInfo) => boolean = () => false): Promise<CacheMountInfo[]> {
  const gone: CacheMountInfo[] = [];
  for (const m of await listCacheMounts(root)) {
    if (m.inUse || keep(m)) continue;
    await rm(m.dir, { recursive: true, force: true });
    gone.push(m);
  }
  return gone;
}
