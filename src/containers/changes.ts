// `docker diff` (GET /containers/{id}/changes): what the container's writable
// layer changed, read from the overlay upper directory as dockerd's overlay2
// driver reads it: a whiteout (0:0 char device) is a deletion, a path the
// lower layers have is a modification, any other an addition.
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

export async function containerChanges(m: Mount): Promise<Change[]> {
  const opt = (k: string) => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  // A container on an image without layers: everything in it was added.
  const upper = m.type === 'overlay' ? opt('upperdir') : m.source;
  const lowers = m.type === 'overlay' ? (opt('lowerdir') ?? '').split(':').filter(Boolean) : [];
  if (!upper) return [];
  const out: Change[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(upper, rel));
    } catch {
      return; // removed while we read: a running container
    }
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      let st;
      try {
        st = await lstat(join(upper, r));
      } catch {
        continue;
      }
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ Path: `/${r}`, Kind: 2 });
        continue;
      }
      out.push({ Path: `/${r}`, Kind: (await existsIn(lowers, r)) ? 0 : 1 });
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
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
