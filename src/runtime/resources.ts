// A container's cgroup limits: dockerd's checks of the HostConfig's resource
// fields (daemon_unix.go's verifyPlatformContainerResources, same wording),
// and their translation to the OCI spec's linux.resources and to the flags of
// `runc update`/`crun update` for a running container.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';
import type { HostConfig } from '../api/container.ts';

/** The resource fields of a HostConfig (and of POST /containers/{id}/update's body). */
export interface Resources {
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  MemorySwappiness?: number | null;
  KernelMemory?: number;
  OomKillDisable?: boolean | null;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  NanoCpus?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  BlkioWeightDevice?: { Path: string; Weight: number }[] | null;
  BlkioDeviceReadBps?: ThrottleDevice[] | null;
  BlkioDeviceWriteBps?: ThrottleDevice[] | null;
  BlkioDeviceReadIOps?: ThrottleDevice[] | null;
  BlkioDeviceWriteIOps?: ThrottleDevice[] | null;
}
interface ThrottleDevice { Path: string; Rate: number }

const MIN_MEMORY = 6 * 1024 * 1024;
const CFS_PERIOD = 100_000;

/** Throws dockerd's 400 for limits it refuses; returns its warnings. */
export function checkResources(r: Resources): string[] {
  const warnings: string[] = [];
  const memory = r.Memory ?? 0;
  const swap = r.MemorySwap ?? 0;
  if (memory < 0 || swap < -1 || (r.MemoryReservation ?? 0) < 0) throw new InvalidArgumentError('invalid memory limit: negative values are not allowed');
  if (memory > 0 && memory < MIN_MEMORY) throw new InvalidArgumentError('Minimum memory limit allowed is 6MB');
  if (swap > 0 && memory === 0) throw new InvalidArgumentError('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (swap > 0 && swap < memory) throw new InvalidArgumentError('Minimum memoryswap limit should be larger than memory limit, see usage');
  const swappiness = r.MemorySwappiness;
  if (swappiness != null && swappiness !== -1 && (swappiness < 0 || swappiness > 100)) {
    throw new InvalidArgumentError(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  }
  const reservation = r.MemoryReservation ?? 0;
  if (reservation > 0 && reservation < MIN_MEMORY) throw new InvalidArgumentError('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw new InvalidArgumentError('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (r.KernelMemory) warnings.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
  if (r.OomKillDisable && memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  const nano = r.NanoCpus ?? 0;
  if (nano > 0 && (r.CpuPeriod ?? 0) > 0) throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && (r.CpuQuota ?? 0) > 0) throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  // os.cpus() reads /proc/cpuinfo and /proc/stat: only when a limit asks (not at every create).
  const ncpu = nano !== 0 || r.CpusetCpus ? cpus().length : 0;
  if (nano < 0 || nano > ncpu * 1e9) {
    throw new InvalidArgumentError(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  }
  if ((r.CpuShares ?? 0) < 0) throw new InvalidArgumentError(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`);
  const period = r.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    throw new InvalidArgumentError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  const quota = r.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw new InvalidArgumentError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if ((r.CpuRealtimePeriod ?? 0) > 0 && (r.CpuRealtimeRuntime ?? 0) > (r.CpuRealtimePeriod ?? 0)) {
    throw new InvalidArgumentError('cpu-rt-runtime cannot be higher than cpu-rt-period');
  }
  checkCpuset('cpus', r.CpusetCpus, ncpu);
  checkCpuset('mems', r.CpusetMems);
  const weight = r.BlkioWeight ?? 0;
  if (weight > 0 && (weight < 10 || weight > 1000)) throw new InvalidArgumentError('Range of blkio weight is from 10 to 1000');
  for (const d of r.BlkioWeightDevice ?? []) {
    if (d.Weight < 10 || d.Weight > 1000) throw new InvalidArgumentError(`invalid weight for device: ${d.Path}`);
  }
  return warnings;
}

/** "0-2,4": a cpuset list, every member available on this host. */
function checkCpuset(kind: 'cpus' | 'mems', value: string | undefined, available?: number): void {
  if (!value) return;
  const members: number[] = [];
  for (const part of value.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) throw new InvalidArgumentError(`Invalid value ${value} for cpuset ${kind}`);
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) members.push(i);
  }
  if (available !== undefined && members.some((i) => i >= available)) {
    throw new InvalidArgumentError(`Requested CPUs are not available - requested ${value}, available: 0-${available - 1}`);
  }
}

/** The cgroup quota and period a limit asks for: NanoCpus over the default period, or CpuQuota/CpuPeriod as given. */
function cpuQuota(r: Resources): { quota?: number; period?: number } {
  if (r.NanoCpus) return { quota: Math.round((r.NanoCpus / 1e9) * CFS_PERIOD), period: CFS_PERIOD };
  return { ...(r.CpuQuota ? { quota: r.CpuQuota } : {}), ...(r.CpuPeriod ? { period: r.CpuPeriod } : {}) };
}

function device(path: string): { major: number; minor: number } {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new InvalidArgumentError(`no such device: ${path}`);
  }
  if (!st.isBlockDevice() && !st.isCharacterDevice()) throw new InvalidArgumentError(`${path} is not a device`);
  return { major: Math.floor(st.rdev / 256) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
}

/** linux.resources of the OCI spec, without devices (the spec builder owns those). */
export function linuxResources(h: HostConfig & Resources): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const memory: Record<string, unknown> = {};
  if (h.Memory) memory.limit = h.Memory;
  if (h.MemorySwap) memory.swap = h.MemorySwap;
  if (h.MemoryReservation) memory.reservation = h.MemoryReservation;
  if (h.KernelMemory) memory.kernel = h.KernelMemory;
  if (h.MemorySwappiness != null && h.MemorySwappiness >= 0) memory.swappiness = h.MemorySwappiness;
  if (h.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) out.memory = memory;
  const cpu: Record<string, unknown> = {
    ...(h.CpuShares ? { shares: h.CpuShares } : {}),
    ...cpuQuota(h),
    ...(h.CpuRealtimePeriod ? { realtimePeriod: h.CpuRealtimePeriod } : {}),
    ...(h.CpuRealtimeRuntime ? { realtimeRuntime: h.CpuRealtimeRuntime } : {}),
    ...(h.CpusetCpus ? { cpus: h.CpusetCpus } : {}),
    ...(h.CpusetMems ? { mems: h.CpusetMems } : {}),
  };
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (h.PidsLimit && h.PidsLimit > 0) out.pids = { limit: h.PidsLimit };
  const rate = (list: ThrottleDevice[] | null | undefined) => (list ?? []).map((d) => ({ ...device(d.Path), rate: d.Rate }));
  const blockIO: Record<string, unknown> = {
    ...(h.BlkioWeight ? { weight: h.BlkioWeight } : {}),
    ...(h.BlkioWeightDevice?.length ? { weightDevice: h.BlkioWeightDevice.map((d) => ({ ...device(d.Path), weight: d.Weight })) } : {}),
    ...(h.BlkioDeviceReadBps?.length ? { throttleReadBpsDevice: rate(h.BlkioDeviceReadBps) } : {}),
    ...(h.BlkioDeviceWriteBps?.length ? { throttleWriteBpsDevice: rate(h.BlkioDeviceWriteBps) } : {}),
    ...(h.BlkioDeviceReadIOps?.length ? { throttleReadIOPSDevice: rate(h.BlkioDeviceReadIOps) } : {}),
    ...(h.BlkioDeviceWriteIOps?.length ? { throttleWriteIOPSDevice: rate(h.BlkioDeviceWriteIOps) } : {}),
  };
  if (Object.keys(blockIO).length) out.blockIO = blockIO;
  return out;
}

/** The flags of `runc update` (crun takes the same) that set what `r` changes. */
export function updateFlags(r: Resources): string[] {
  const flags: string[] = [];
  const add = (flag: string, v: number | string | undefined | null) => {
    if (v !== undefined && v !== null && v !== 0 && v !== '') flags.push(`--${flag}=${v}`);
  };
  add('memory', r.Memory);
  add('memory-swap', r.MemorySwap);
  add('memory-reservation', r.MemoryReservation);
  add('kernel-memory', r.KernelMemory);
  add('cpu-share', r.CpuShares);
  const q = cpuQuota(r);
  add('cpu-quota', q.quota);
  add('cpu-period', q.period);
  add('cpu-rt-period', r.CpuRealtimePeriod);
  add('cpu-rt-runtime', r.CpuRealtimeRuntime);
  add('cpuset-cpus', r.CpusetCpus);
  add('cpuset-mems', r.CpusetMems);
  if (r.PidsLimit !== undefined && r.PidsLimit !== null && r.PidsLimit !== 0) flags.push(`--pids-limit=${r.PidsLimit > 0 ? r.PidsLimit : -1}`);
  add('blkio-weight', r.BlkioWeight);
  return flags;
}

/** The files that tell whether this host's cgroups can enforce each limit (v1 hierarchy files, or v2 controllers). */
function hostCan(v1: string[], v2: string[]): boolean {
  for (const f of v1) if (existsSync(`/sys/fs/cgroup/${f}`)) return true;
  // cgroup v2: a controller's file appears in child groups only; the root lists the controllers.
  try {
    const controllers = readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/);
    return v2.some((c) => controllers.includes(c));
  } catch {
    return false;
  }
}

/**
 * Drops the limits this host's cgroups cannot enforce, with dockerd's warning
 * for each (verifyPlatformContainerResources), instead of failing the start.
 */
export function discardUnsupported(r: Resources, warnings: string[]): void {
  const drop = (has: boolean, set: boolean, clear: () => void, message: string) => {
    if (set && !has) {
      warnings.push(message);
      clear();
    }
  };
  const blkioWeight = hostCan(['blkio/blkio.weight', 'blkio/blkio.bfq.weight'], []);
  drop(blkioWeight, (r.BlkioWeight ?? 0) > 0, () => { r.BlkioWeight = 0; }, 'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
  drop(hostCan(['blkio/blkio.weight_device', 'blkio/blkio.bfq.weight_device'], []), (r.BlkioWeightDevice?.length ?? 0) > 0, () => { r.BlkioWeightDevice = []; },
    'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.');
  const throttle = hostCan(['blkio/blkio.throttle.read_bps_device'], ['io']);
  for (const [key, what] of [['BlkioDeviceReadBps', 'BPS Block I/O read limit'], ['BlkioDeviceWriteBps', 'BPS Block I/O write limit'],
    ['BlkioDeviceReadIOps', 'IOPS Block read limit'], ['BlkioDeviceWriteIOps', 'IOPS Block write limit']] as const) {
    drop(throttle, (r[key]?.length ?? 0) > 0, () => { r[key] = []; }, `Your kernel does not support ${what} or the cgroup is not mounted. Block I/O ${what.replace(/^(BPS|IOPS) Block( I\/O)? /, '$1 ')} discarded.`);
  }
  drop(hostCan(['memory/memory.swappiness'], []), r.MemorySwappiness != null && r.MemorySwappiness >= 0, () => { r.MemorySwappiness = null; },
    'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
  drop(hostCan(['memory/memory.oom_control'], []), r.OomKillDisable === true, () => { r.OomKillDisable = false; },
    'Your kernel does not support OomKillDisable. OomKillDisable discarded.');
  drop(hostCan(['memory/memory.soft_limit_in_bytes'], ['memory']), (r.MemoryReservation ?? 0) > 0, () => { r.MemoryReservation = 0; },
    'Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.');
  if (((r.CpuRealtimePeriod ?? 0) > 0 || (r.CpuRealtimeRuntime ?? 0) > 0) && !hostCan(['cpu/cpu.rt_period_us'], [])) {
    throw new InvalidArgumentError('Your kernel does not support cgroup cpu real-time period');
  }
}
