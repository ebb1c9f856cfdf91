// Device nodes in a container: the host's every device for --privileged,
// those --device names (a directory gives all the devices under it), and the
// device cgroup rules that let the container use them (--device-cgroup-rule
// adds its own), as moby's oci_linux.go and pkg/devices do.
import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.ts';

/** linux.devices of the OCI spec. */
export interface OciDevice { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; uid: number; gid: number }
/** linux.resources.devices of the OCI spec. */
export interface DeviceRule { allow: boolean; type?: string; major?: number; minor?: number; access: string }
/** HostConfig.Devices' entries. */
export interface DeviceMapping { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }

/** /dev entries moby's HostDevices skips: pseudo-terminals, shared memory and what the runtime mounts itself. */
const SKIPPED = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

function major(rdev: number): number { return Math.floor(rdev / 256) & 0xfff; }
function minor(rdev: number): number { return (rdev & 0xff) | ((rdev >> 12) & 0xfff00); }

function deviceOf(path: string, st: Stats, inContainer: string): OciDevice | undefined {
  if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
  return { path: inContainer, type: st.isBlockDevice() ? 'b' : 'c', major: major(st.rdev), minor: minor(st.rdev), fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** Every device node under `dir` (default /dev), at the same path in the container. */
export function hostDevices(dir = '/dev', base = dir, into = dir): OciDevice[] {
  const out: OciDevice[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (dir === base && SKIPPED.has(name)) continue;
    const p = join(dir, name);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...hostDevices(p, base, join(into, name)));
    else if (dir !== base || name !== 'console') {
      const d = deviceOf(p, st, join(into, name));
      if (d) out.push(d);
    }
  }
  return out;
}

/** The devices a --device mapping adds: the node, or every node under a directory. */
export function mappedDevices(m: DeviceMapping): OciDevice[] {
  let st: Stats;
  try {
    st = statSync(m.PathOnHost);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message;
    throw new InvalidArgumentError(`error gathering device information while adding custom device "${m.PathOnHost}": ${why}`);
  }
  if (st.isDirectory()) return hostDevices(m.PathOnHost, m.PathOnHost, m.PathInContainer || m.PathOnHost);
  const d = deviceOf(m.PathOnHost, st, m.PathInContainer || m.PathOnHost);
  if (!d) throw new InvalidArgumentError(`error gathering device information while adding custom device "${m.PathOnHost}": not a device node`);
  return [d];
}

/** dockerd's checks of HostConfig.Devices and DeviceCgroupRules at create. */
export function checkDevices(devices: DeviceMapping[] | null | undefined, rules: string[] | null | undefined): void {
  for (const m of devices ?? []) {
    if (!/^[rwm]{1,3}$/.test(m.CgroupPermissions || 'rwm') || new Set(m.CgroupPermissions).size !== m.CgroupPermissions.length) {
      throw new InvalidArgumentError(`invalid device mode: ${m.CgroupPermissions}`);
    }
    if (m.PathInContainer && !m.PathInContainer.startsWith('/')) throw new InvalidArgumentError(`invalid device path: ${m.PathInContainer}`);
    mappedDevices(m);
  }
  for (const r of rules ?? []) parseRule(r);
}

const RULE_RE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

function parseRule(rule: string): DeviceRule {
  const m = RULE_RE.exec(rule);
  if (!m) throw new InvalidArgumentError(`invalid device cgroup rule format: '${rule}'`);
  return {
    allow: true,
    type: m[1],
    ...(m[2] !== '*' ? { major: Number(m[2]) } : {}),
    ...(m[3] !== '*' ? { minor: Number(m[3]) } : {}),
    access: m[4],
  };
}

/** The device cgroup rules: `base` (Docker's default list), then one per mapped device, then --device-cgroup-rule's. */
export function deviceRules(base: DeviceRule[], devices: { dev: OciDevice; access: string }[], rules: string[] | null | undefined): DeviceRule[] {
  return [
    ...base,
    ...devices.map(({ dev, access }) => ({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access })),
    ...(rules ?? []).map(parseRule),
  ];
}
