// The resource and healthcheck flags `run`/`create` share with `update`
// (resources) and only with each other (healthchecks), parsed as the docker
// CLI parses them, into the Engine API's fields.
import type { Command } from 'commander';
import { parseGoDuration, ramInBytes } from '../api/units.ts';
import { CliError } from './context.ts';
import { collect } from './options.ts';

export interface ResourceFlags {
  blkioWeight?: string; blkioWeightDevice?: string[]; cpuPeriod?: string; cpuQuota?: string; cpuRtPeriod?: string; cpuRtRuntime?: string;
  cpusetCpus?: string; cpusetMems?: string; kernelMemory?: string; memoryReservation?: string; memorySwap?: string; memorySwappiness?: string;
  oomKillDisable?: boolean; device?: string[]; deviceCgroupRule?: string[]; deviceReadBps?: string[]; deviceWriteBps?: string[]; deviceReadIops?: string[]; deviceWriteIops?: string[];
}

export interface HealthFlags {
  healthCmd?: string; healthInterval?: string; healthTimeout?: string; healthRetries?: string; healthStartPeriod?: string;
  healthStartInterval?: string; healthcheck?: boolean;
}

/** The resource flags `update` takes as well (-m, --cpus, -c and --pids-limit are each command's own). */
export function addResourceOptions(cmd: Command, forUpdate = false): Command {
  cmd
    .option('--blkio-weight <n>', 'Block IO (relative weight), between 10 and 1000, or 0 to disable')
    .option('--cpu-period <n>', 'Limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <n>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpu-rt-period <n>', 'Limit the CPU real-time period in microseconds')
    .option('--cpu-rt-runtime <n>', 'Limit the CPU real-time runtime in microseconds')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--cpuset-mems <list>', 'MEMs in which to allow execution (0-3, 0,1)')
    .option('--kernel-memory <bytes>', 'Kernel memory limit (deprecated)')
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap");
  if (forUpdate) return cmd;
  return cmd
    .option('--blkio-weight-device <device:weight>', 'Block IO weight (relative device weight)', collect)
    .option('--device <device>', 'Add a host device to the container', collect)
    .option('--device-cgroup-rule <rule>', 'Add a rule to the cgroup allowed devices list', collect)
    .option('--device-read-bps <device:rate>', 'Limit read rate (bytes per second) from a device', collect)
    .option('--device-write-bps <device:rate>', 'Limit write rate (bytes per second) to a device', collect)
    .option('--device-read-iops <device:rate>', 'Limit read rate (IO per second) from a device', collect)
    .option('--device-write-iops <device:rate>', 'Limit write rate (IO per second) to a device', collect)
    .option('--memory-swappiness <n>', 'Tune container memory swappiness (0 to 100)', '-1')
    .option('--oom-kill-disable', 'Disable OOM Killer')
    .option('--health-cmd <command>', 'Command to run to check health')
    .option('--health-interval <duration>', 'Time between running the check (ms|s|m|h) (default 0s)')
    .option('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)')
    .option('--health-retries <n>', 'Consecutive failures needed to report unhealthy')
    .option('--health-start-period <duration>', 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)')
    .option('--health-start-interval <duration>', 'Time between running the check during the start period (ms|s|m|h) (default 0s)')
    .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK');
}

export function integerFlag(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[-+]?\d+$/.test(v)) throw new CliError(`invalid argument "${v}" for "--${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`, 125);
  return Number(v);
}

/** `--cpus`: a rational number (Go's big.Rat: `1.5`, `3/2`, `2e-1`) in nano-CPUs, as the docker CLI's NanoCPUs. */
export function cpusFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\/(\d+))?\s*$/.exec(v);
  const n = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!Number.isFinite(n)) throw new CliError(`invalid argument "${v}" for "--cpus" flag: failed to parse ${v} as a rational number`, 125);
  const nano = n * 1e9;
  if (Math.abs(nano - Math.round(nano)) > 1e-6) throw new CliError(`invalid argument "${v}" for "--cpus" flag: value is too precise`, 125);
  return Math.round(nano);
}

export function bytesFlag(flag: string, v: string | undefined, allowUnlimited = false): number | undefined {
  if (v === undefined) return undefined;
  if (allowUnlimited && v === '-1') return -1;
  try {
    return ramInBytes(v);
  } catch {
    throw new CliError(`invalid argument "${v}" for "--${flag}" flag: invalid size: '${v}'`, 125);
  }
}

function durationFlag(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  try {
    return parseGoDuration(v);
  } catch (err) {
    throw new CliError(`invalid argument "${v}" for "--${flag}" flag: ${(err as Error).message}`, 125);
  }
}

/** "/dev/sda:10mb" (rate: a size for bps, a number for iops). */
function throttleList(flag: string, list: string[] | undefined, iops: boolean): { Path: string; Rate: number }[] | undefined {
  if (!list?.length) return undefined;
  return list.map((spec) => {
    const i = spec.lastIndexOf(':');
    const path = spec.slice(0, i);
    const rate = spec.slice(i + 1);
    if (i <= 0 || !path.startsWith('/dev/')) throw new CliError(`invalid argument "${spec}" for "--${flag}" flag: bad format: ${spec}`, 125);
    let n: number;
    try {
      n = iops ? Number(rate) : ramInBytes(rate);
    } catch {
      n = NaN;
    }
    if (!Number.isInteger(n) || n < 0) throw new CliError(`invalid argument "${spec}" for "--${flag}" flag: invalid rate for device: ${spec}. The correct format is <device-path>:<number>${iops ? '' : '[<unit>]'}. Number must be a positive integer.${iops ? '' : ' Unit is optional and can be kb, mb, or gb'}`, 125);
    return { Path: path, Rate: n };
  });
}

const DEVICE_MODE = /^(?!.*(.).*\1)[rwm]{1,3}$/;

/** `--device /dev/x[:/dev/y][:rwm]`, as the docker CLI's parseLinuxDevice and validateDevice. */
function parseDevice(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = spec.split(':');
  if (parts.length > 3) throw new CliError(`invalid argument "${spec}" for "--device" flag: invalid device specification: ${spec}`, 125);
  let [src, dst, perms] = [parts[0], '', 'rwm'];
  if (parts.length === 3) perms = parts[2];
  if (parts.length >= 2) {
    if (parts.length === 2 && DEVICE_MODE.test(parts[1])) perms = parts[1];
    else dst = parts[1];
  }
  if (!DEVICE_MODE.test(perms)) throw new CliError(`invalid argument "${spec}" for "--device" flag: bad mode specified: ${perms}`, 125);
  if (dst && !dst.startsWith('/')) throw new CliError(`invalid argument "${spec}" for "--device" flag: bad format for path: ${dst}`, 125);
  return { PathOnHost: src, PathInContainer: dst || src, CgroupPermissions: perms };
}

/** The resource fields the flags set (only those given). */
export function resourceFields(f: ResourceFlags): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    BlkioWeight: integerFlag('blkio-weight', f.blkioWeight),
    CpuPeriod: integerFlag('cpu-period', f.cpuPeriod),
    CpuQuota: integerFlag('cpu-quota', f.cpuQuota),
    CpuRealtimePeriod: integerFlag('cpu-rt-period', f.cpuRtPeriod),
    CpuRealtimeRuntime: integerFlag('cpu-rt-runtime', f.cpuRtRuntime),
    CpusetCpus: f.cpusetCpus,
    CpusetMems: f.cpusetMems,
    KernelMemory: bytesFlag('kernel-memory', f.kernelMemory),
    MemoryReservation: bytesFlag('memory-reservation', f.memoryReservation),
    MemorySwap: bytesFlag('memory-swap', f.memorySwap, true),
    MemorySwappiness: f.memorySwappiness !== undefined && f.memorySwappiness !== '-1' ? integerFlag('memory-swappiness', f.memorySwappiness) : undefined,
    OomKillDisable: f.oomKillDisable === true ? true : undefined,
    BlkioWeightDevice: f.blkioWeightDevice?.map((spec) => {
      const i = spec.lastIndexOf(':');
      const w = Number(spec.slice(i + 1));
      if (i <= 0 || !Number.isInteger(w)) throw new CliError(`invalid argument "${spec}" for "--blkio-weight-device" flag: invalid weight for device: ${spec}`, 125);
      return { Path: spec.slice(0, i), Weight: w };
    }),
    Devices: f.device?.map(parseDevice),
    DeviceCgroupRules: f.deviceCgroupRule?.map((r) => {
      if (!/^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.test(r)) throw new CliError(`invalid argument "${r}" for "--device-cgroup-rule" flag: invalid device cgroup format '${r}'`, 125);
      return r;
    }),
    BlkioDeviceReadBps: throttleList('device-read-bps', f.deviceReadBps, false),
    BlkioDeviceWriteBps: throttleList('device-write-bps', f.deviceWriteBps, false),
    BlkioDeviceReadIOps: throttleList('device-read-iops', f.deviceReadIops, true),
    BlkioDeviceWriteIOps: throttleList('device-write-iops', f.deviceWriteIops, true),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** Config.Healthcheck from the flags, as the docker CLI builds it; undefined when none is given. */
export function healthcheckField(f: HealthFlags): Record<string, unknown> | undefined {
  const given = f.healthCmd !== undefined || f.healthInterval !== undefined || f.healthTimeout !== undefined
    || f.healthRetries !== undefined || f.healthStartPeriod !== undefined || f.healthStartInterval !== undefined;
  if (f.healthcheck === false) {
    if (given) throw new CliError('--no-healthcheck conflicts with --health-* options', 125);
    return { Test: ['NONE'] };
  }
  if (!given) return undefined;
  const d = (flag: string, v: string | undefined) => {
    const ns = durationFlag(flag, v) ?? 0;
    if (ns < 0) throw new CliError(`--${flag} cannot be negative`, 125);
    return ns;
  };
  const retries = integerFlag('health-retries', f.healthRetries) ?? 0;
  if (retries < 0) throw new CliError('--health-retries cannot be negative', 125);
  return {
    ...(f.healthCmd ? { Test: ['CMD-SHELL', f.healthCmd] } : {}),
    Interval: d('health-interval', f.healthInterval),
    Timeout: d('health-timeout', f.healthTimeout),
    StartPeriod: d('health-start-period', f.healthStartPeriod),
    StartInterval: d('health-start-interval', f.healthStartInterval),
    Retries: retries,
  };
}
