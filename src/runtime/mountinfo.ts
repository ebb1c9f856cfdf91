// The kernel's mount table (/proc/self/mountinfo), for the few places that
// must know what is mounted: cgroup hierarchies, and a container rootfs a dead
// shim left mounted.
import { readFileSync } from 'node:fs';

export interface MountEntry {
  /** Where it is mounted (octal escapes such as \040 decoded). */
  point: string;
  fstype: string;
  superOptions: string[];
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function mountTable(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [pre, post = ''] = line.split(' - ');
    const [fstype = '', , superOpts = ''] = post.split(' ');
    return { point: unescape(pre.split(' ')[4] ?? ''), fstype, superOptions: superOpts.split(',') };
  });
}

export function isMountPoint(path: string): boolean {
  return mountTable().some((m) => m.point === path);
}
