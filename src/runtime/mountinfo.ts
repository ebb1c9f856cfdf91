// The kernel's mount table (/proc/self/mountinfo), for the few places that
// must know what is mounted: cgroup hierarchies, and a container rootfs a dead
// shim left mounted.
import { readFileSync } from 'node:fs';

export interface MountEntry {
  /** Where it is mounted (octal escapes such as \040 decoded). */
  point: string;
  fstype: string;
  superOptions: string[];
  /** The optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  optional: string[];
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function mountTable(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [pre, post = ''] = line.split(' - ');
    const [fstype = '', , superOpts = ''] = post.split(' ');
    const fields = pre.split(' ');
    return { point: unescape(fields[4] ?? ''), fstype, superOptions: superOpts.split(','), optional: fields.slice(6).filter(Boolean) };
  });
}

/**
 * The propagation of the mount `path` is on (the longest mount point above
 * it, the last one mounted there), as moby's getSourceMount.
 */
export function sourceMount(path: string): { point: string; optional: string[] } | undefined {
  let best: MountEntry | undefined;
  for (const m of mountTable()) {
    const within = m.point === '/' || path === m.point || path.startsWith(m.point + '/');
    if (within && (!best || m.point.length >= best.point.length)) best = m;
  }
  return best && { point: best.point, optional: best.optional };
}

export function isMountPoint(path: string): boolean {
  return mountTable().some((m) => m.point === path);
}
