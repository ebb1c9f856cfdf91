// Host cgroup layout. On a hybrid host (cgroup v1 hierarchies beside a
// cgroup2 mount) a controller that no v1 hierarchy holds stays on cgroup2.
// runc copes, but crun refuses such a host outright ("cgroups in hybrid mode
// not supported"). Mounting the missing v1 hierarchies, as Debian's
// cgroupfs-mount did for dockerd, gives both runtimes the layout they expect.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { mountTable } from '../mountinfo.ts';

/** Mounts v1 hierarchies for controllers left on cgroup2 of a hybrid host; returns their names. */
export function completeHybridCgroups(root = '/sys/fs/cgroup'): string[] {
  const all = mountTable();
  const v1 = all.filter((m) => m.fstype === 'cgroup');
  const v2 = all.find((m) => m.fstype === 'cgroup2' && m.point.startsWith(root + '/'));
  if (v1.length === 0 || !v2) return [];
  const taken = new Set(v1.flatMap((m) => m.superOptions));
  const left = readFileSync(join(v2.point, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter((c) => c && !taken.has(c));
  for (const c of left) {
    if (!/^[a-z_]+$/.test(c)) continue;
    const point = join(root, c);
    mkdirSync(point, { recursive: true });
    execFileSync('mount', ['-t', 'cgroup', '-o', c, 'cgroup', point], { stdio: 'ignore' });
  }
  return left;
}

/**
 * Removes this daemon's cgroup parent from every hierarchy where it is empty
 * (rmdir fails on one that still holds a running container, which is left).
 */
export function removeEmptyParent(name: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return;
  for (const m of mountTable()) {
    if (m.fstype !== 'cgroup' && m.fstype !== 'cgroup2') continue;
    try {
      rmdirSync(join(m.point, name));
    } catch {
      // busy or absent: nothing to do
    }
  }
}
