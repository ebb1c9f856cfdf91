// Reads a container's cgroup usage on cgroup v1 or v2. The cgroup is found
// from the container's init pid, so a custom --cgroup-parent or a hybrid host
// (v1 hierarchies beside cgroup2) needs no special case.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountTable, type MountEntry } from '../mountinfo.ts';
import type { CgroupUsage, ReadText } from './usage.ts';
import { readCpuV1, readV1 } from './v1.ts';
import { readCpuV2, readV2 } from './v2.ts';

/** Where each controller's cgroup of `pid` is on this host, v1 and v2 alike. */
export interface CgroupPaths {
  /** v1: controller name → directory. */
  v1: Map<string, string>;
  /** The cgroup2 directory, when the process has one on a mounted cgroup2. */
  v2?: string;
}

export function cgroupPaths(pid: number, mounts: MountEntry[] = mountTable()): CgroupPaths {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers, path] = m;
    if (controllers === '') {
      const mount = mounts.find((e) => e.fstype === 'cgroup2');
      if (mount) v2 = join(mount.point, path);
      continue;
    }
    for (const c of controllers.split(',')) {
      const mount = mounts.find((e) => e.fstype === 'cgroup' && e.superOptions.includes(c));
      if (mount) v1.set(c, join(mount.point, path));
    }
  }
  return { v1, v2 };
}

/**
 * The cgroup hierarchies' mounts, kept: they are mounted once at boot, while
 * /proc/self/mountinfo lists every container's rootfs too and rendering it
 * was two thirds of the cost of a stats sample (50 streams: ~6 % of a core).
 */
let cgroupMounts: MountEntry[] | undefined;

function mountsOfCgroups(fresh: boolean): MountEntry[] {
  if (fresh || !cgroupMounts) cgroupMounts = mountTable().filter((e) => e.fstype === 'cgroup' || e.fstype === 'cgroup2');
  return cgroupMounts;
}

/** Where the usage of the cgroup `pid` is read: v1 when the host keeps the memory controller there, else v2. */
export function usagePaths(pid: number): CgroupPaths {
  let paths = cgroupPaths(pid, mountsOfCgroups(false));
  // A hierarchy mounted since the table was kept: read it again.
  if (!paths.v1.has('memory') && !paths.v2) paths = cgroupPaths(pid, mountsOfCgroups(true));
  if (!paths.v1.has('memory') && !paths.v2) throw new Error(`no cgroup found for process ${pid}`);
  return paths;
}

/** The usage of a cgroup found by `usagePaths` (a container's does not move while it runs, so it may be kept). */
export function readUsageAt(paths: CgroupPaths, read?: ReadText): CgroupUsage {
  return paths.v1.has('memory') ? readV1(paths.v1, read) : readV2(paths.v2 ?? '/nonexistent', read);
}

/** The CPU usage alone of a cgroup found by `usagePaths`. */
export function readCpuAt(paths: CgroupPaths, read?: ReadText): CgroupUsage['cpu'] {
  return paths.v1.has('memory') ? readCpuV1(paths.v1, read) : readCpuV2(paths.v2 ?? '/nonexistent', read);
}

/** The usage of the cgroup `pid` is in. */
export function readUsage(pid: number): CgroupUsage {
  return readUsageAt(usagePaths(pid));
}


/** The file with the oom_kill counter of the cgroup runc makes at `cgroupsPath` (v1 memory.oom_control, v2 memory.events). */
export function oomEventsFile(cgroupsPath: string, mounts?: MountEntry[]): string | undefined {
  const pick = (ms: MountEntry[]): string | undefined => {
    const v1 = ms.find((e) => e.fstype === 'cgroup' && e.superOptions.includes('memory'));
    if (v1) return join(v1.point, cgroupsPath, 'memory.oom_control');
    const v2 = ms.find((e) => e.fstype === 'cgroup2');
    return v2 ? join(v2.point, cgroupsPath, 'memory.events') : undefined;
  };
  // Each start asks: the kept hierarchies, read again only if none is there yet.
  return mounts ? pick(mounts) : pick(mountsOfCgroups(false)) ?? pick(mountsOfCgroups(true));
}
