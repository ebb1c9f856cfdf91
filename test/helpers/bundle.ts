// Minimal OCI bundles for tests that drive runc (or berth-shim) directly:
// a busybox root filesystem made from the host's static busybox, and a
// config.json derived from `runc spec`, so the runtime's own defaults apply.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUNC = '/usr/sbin/runc';
export const HOST_BUSYBOX = '/bin/busybox';

/** The parts of an OCI process the tests set; the rest comes from `runc spec`. */
export interface OciProcess {
  terminal?: boolean;
  args: string[];
  env?: string[];
  cwd: string;
  consoleSize?: { height: number; width: number };
  [key: string]: unknown;
}

export interface OciSpec {
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  [key: string]: unknown;
}

export interface ProcessOptions {
  args: string[];
  terminal?: boolean;
  env?: string[];
  consoleSize?: { height: number; width: number };
}

/** Fills `dir` with /bin/busybox, a symlink per applet and the usual mount points. */
export function makeBusyboxRootfs(dir: string): void {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'etc', 'root']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(HOST_BUSYBOX, join(bin, 'busybox'));
  chmodSync(join(bin, 'busybox'), 0o755);
  const list = spawnSync(HOST_BUSYBOX, ['--list'], { encoding: 'utf8' });
  if (list.status !== 0) throw new Error(`busybox --list failed: ${list.stderr}`);
  for (const applet of list.stdout.split('\n')) {
    // `busybox` itself is in the list: linking it would replace the binary.
    if (applet && applet !== 'busybox' && !applet.includes('/')) symlinkSync('busybox', join(bin, applet));
  }
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
}

let cachedSpec: string | undefined;

/** A fresh copy of `runc spec`'s default config. */
export function runtimeSpec(runc = RUNC): OciSpec {
  if (!cachedSpec) {
    const dir = mkdtempSync('/tmp/berth-spec-');
    try {
      const r = spawnSync(runc, ['spec'], { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`runc spec failed: ${r.stderr}`);
      cachedSpec = readFileSync(join(dir, 'config.json'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return JSON.parse(cachedSpec) as OciSpec;
}

/** The OCI process for `p`, on top of `runc spec`'s defaults. */
export function processSpec(p: ProcessOptions): OciProcess {
  const proc = runtimeSpec().process;
  proc.args = p.args;
  proc.terminal = p.terminal === true;
  proc.cwd = '/';
  if (p.env) proc.env = [...(proc.env ?? []), ...p.env];
  if (p.consoleSize) proc.consoleSize = p.consoleSize;
  return proc;
}

/** Writes BUNDLE/config.json for `p`; the root filesystem is BUNDLE/rootfs, writable. */
export function writeBundleConfig(bundle: string, p: ProcessOptions): OciSpec {
  const spec = runtimeSpec();
  spec.process = processSpec(p);
  spec.root = { path: 'rootfs', readonly: false };
  spec.hostname = 'box';
  mkdirSync(join(bundle, 'rootfs'), { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return spec;
}

/** Overlay mount options over a shared read-only lower dir, with this container's upper and work dirs. */
export function overlayOptions(lower: string, dir: string): { options: string; upper: string; work: string } {
  const upper = join(dir, 'upper');
  const work = join(dir, 'work');
  mkdirSync(upper, { recursive: true });
  mkdirSync(work, { recursive: true });
  return { options: `lowerdir=${lower},upperdir=${upper},workdir=${work}`, upper, work };
}

/** Whether `path` is a mount point right now (per this process's mount table). */
export function isMounted(path: string): boolean {
  const table = readFileSync('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with spaces and the like octal-escaped.
  return table.split('\n').some((line) => line.split(' ')[4] === path.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0')));
}
