// What an OCI runtime says it supports (`runc features`), asked once per
// binary: dockerd reads it to decide whether read-only binds can be
// recursively read-only ("rro", which also needs Linux 5.12's mount_setattr).
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';

const cache = new Map<string, string[]>();

function mountOptions(runtimePath: string): string[] {
  let opts = cache.get(runtimePath);
  if (!opts) {
    opts = [];
    const r = spawnSync(runtimePath, ['features'], { encoding: 'utf8', timeout: 10_000 });
    try {
      const f = JSON.parse(r.stdout) as { mountOptions?: unknown };
      if (Array.isArray(f.mountOptions)) opts = f.mountOptions.filter((o): o is string => typeof o === 'string');
    } catch {
      // An old runtime without `features`: nothing beyond the basics.
    }
    cache.set(runtimePath, opts);
  }
  return opts;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/** Why "rro" cannot be used, in dockerd's words, or undefined when it can. */
export function rroUnsupported(runtimeName: string, runtimePath: string): string | undefined {
  if (!kernelAtLeast(5, 12)) return 'rro is not supported: kernel is older than 5.12?';
  return mountOptions(runtimePath).includes('rro') ? undefined : `rro is not supported by runtime "${runtimeName}"`;
}
