// `docker diff` (GET /containers/{id}/changes): what the container's writable
// layer changed, read from the overlay upper directory as dockerd's overlay2
// driver reads it: a whiteout (0:0 char device) is a deletion, a path the
// lower layers have is a modification, any other an addition.
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mount } from '../storage/snapshotter.ts';

/** Docker's kinds: 0 modified, 1 added, 2 deleted. */
export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

async function existsIn(dirs: string[], rel: string): Promise<boolean> {
  for (const d of dirs) {
    try {
      await lstat(join(d, rel));
      return true;
    } catch {
      // not in this layer
    }
  }
  return false;
}

/** The names a directory has in any of the lower layers (whiteouts included, as existsIn saw them). */
async function namesBelow(dirs: string[], rel: string): Promise<Set<string>> {
  const out = new Set<string>();
  const lists = await Promise.all(dirs.map((d) => readdir(join(d, rel)).catch(() => [] as string[])));
  for (const names of lists) for (const n of names) out.add(n);
  return out;
}

export async function containerChanges(m: Mount): Promise<Change[]> {
  const opt = (k: string) => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  // A container on an image without layers: everything in it was added.
  const upper = m.type === 'overlay' ? opt('upperdir') : m.source;
  const lowers = m.type === 'overlay' ? (opt('lowerdir') ?? '').split(':').filter(Boolean) : [];
  if (!upper) return [];
  const out: Change[] = [];
  // One readdir per directory (entry types from it; an lstat only for a
  // character device, which may be a whiteout) and one per lower copy of a
  // directory that has one: a whole tree the container added needs no lookup
  // below. 10,000 changed files take tens of milliseconds, not one stat each
  // per layer.
  const walk = async (rel: string, inLower: boolean): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(join(upper, rel), { withFileTypes: true });
    } catch {
      return; // removed while we read: a running container
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const below = inLower ? await namesBelow(lowers, rel) : undefined;
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isCharacterDevice()) {
        const st = await lstat(join(upper, r)).catch(() => undefined);
        if (!st) continue;
        if (st.rdev === 0) {
          out.push({ Path: `/${r}`, Kind: 2 });
          continue;
        }
      }
      const modified = below?.has(e.name) ?? false;
      out.push({ Path: `/${r}`, Kind: modified ? 0 : 1 });
      if (e.isDirectory()) await walk(r, modified);
    }
  };
  await walk('', true);
  // The mount points of the files the daemon bind-mounts: dockerd keeps them
  // in an init layer below the container's, so they are no change of its.
  const mountpoints = new Set<string>();
  for (const f of MOUNTED_FILES) {
    const st = await lstat(join(upper, f)).catch(() => undefined);
    if (st?.isFile() && st.size === 0 && !(await existsIn(lowers, f))) mountpoints.add(`/${f}`);
  }
  const left = out.filter((c) => !mountpoints.has(c.Path));
  const etcOnlyMountpoints = mountpoints.size > 0 && !left.some((c) => c.Path.startsWith('/etc/'))
    && (await readdir(join(upper, 'etc'))).every((n) => mountpoints.has(`/etc/${n}`));
  return etcOnlyMountpoints ? left.filter((c) => !(c.Path === '/etc' && c.Kind === 0)) : left;
}

const MOUNTED_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];
