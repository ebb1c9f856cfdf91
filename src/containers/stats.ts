// `docker stats`: one sample of a container's cgroup and network counters in
// the Engine API's StatsJSON shape, and the once-a-second stream of them.
// CPU % is computed by clients from cpu_stats against precpu_stats, so every
// answer carries the sample before it.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRecord } from '../api/container.ts';
import { NotFoundError } from '../errors.ts';
import { readCpuAt, readUsageAt, usagePaths, type CgroupPaths } from '../runtime/cgroups/reader.ts';
import { KeptCgroupFiles } from '../runtime/cgroups/kept-files.ts';
import type { BlkioEntry, CgroupUsage } from '../runtime/cgroups/usage.ts';

const ZERO_TIME = '0001-01-01T00:00:00Z';
/**
 * The window of a one-off answer. The container's CPU time is read in
 * nanoseconds (microseconds on cgroup v2) and the host's is the clock's (see
 * systemCpuUsage), so the window need not cover many of /proc/stat's 10-ms
 * ticks: what is left is the scheduler's accounting of a busy container,
 * brought up to date at each of its ticks (4 ms at HZ=250), a few percent of
 * a CPU over this window.
 */
const ONE_OFF_WINDOW_MS = 50;
/** The kernel's CFS period, in µs, when a quota is set without one. */
const CFS_PERIOD_US = 100_000;

/**
 * A container with a CPU quota runs for its quota and then waits out the rest
 * of each CFS period: its window covers two whole periods (up to a second), or a
 * busy `--cpus 0.5` container would show anything from 0 to 100 %. (One period
 * showed 65 % under load: the reads at either end are not exactly a period apart.)
 */
function windowOf(rec: ContainerRecord): number {
  const h = rec.HostConfig;
  const quota = (h.NanoCpus ?? 0) > 0 || Number(h.CpuQuota ?? 0) > 0;
  if (!quota) return ONE_OFF_WINDOW_MS;
  const period = Number(h.CpuPeriod ?? 0) || CFS_PERIOD_US;
  return Math.min(1000, Math.max(ONE_OFF_WINDOW_MS, Math.ceil((2 * period) / 1000)));
}

/** One reading of a running container's CPU time: all a `precpu_stats` is made of. */
export interface CpuSample {
  read: string;
  cpu: CgroupUsage['cpu'];
  systemCpu: number;
  onlineCpus: number;
}

/** One reading of a running container's counters. */
export interface StatsSample extends CpuSample {
  usage: CgroupUsage;
  networks?: Record<string, NetworkCounters>;
}

interface NetworkCounters {
  rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number;
  tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number;
}

/**
 * Each running container's cgroup directories, found once per start (from
 * /proc/<pid>/cgroup), and its cgroup files, kept open (KeptCgroupFiles): a
 * sample is taken every second per stats stream and twice per one-off answer.
 * A container not sampled for a while has its files closed, so a stopped or
 * removed one holds none for long.
 */
interface Sampled { run: string; paths: CgroupPaths; files: KeptCgroupFiles; used: number }
const sampled = new Map<string, Sampled>();
const UNUSED_MS = 30_000;
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = Date.now();
  for (const [id, s] of sampled) if (now - s.used > UNUSED_MS) forget(id);
  sweeper = sampled.size ? setTimeout(sweep, UNUSED_MS).unref() : undefined;
}

function sampledOf(rec: ContainerRecord, pid: number): Sampled {
  const now = Date.now();
  sweeper ??= setTimeout(sweep, UNUSED_MS).unref();
  const run = `${pid} ${rec.State.StartedAt}`;
  let s = sampled.get(rec.Id);
  if (s?.run !== run) {
    forget(rec.Id);
    s = { run, paths: usagePaths(pid), files: new KeptCgroupFiles(), used: now };
    sampled.set(rec.Id, s);
  }
  s.used = now;
  return s;
}

function forget(id: string): void {
  sampled.get(id)?.files.close();
  sampled.delete(id);
}

export function takeSample(rec: ContainerRecord): StatsSample | undefined {
  return sample(rec, (s, pid) => {
    const usage = readUsageAt(s.paths, s.files.read);
    return {
      read: new Date().toISOString().replace('Z', '000000Z'),
      usage,
      cpu: usage.cpu,
      systemCpu: systemCpuUsage(),
      onlineCpus: onlineCpus(),
      networks: rec.HostConfig.NetworkMode === 'host' ? undefined : networkCounters(pid),
    };
  });
}

/** The CPU counters alone: the first of a one-off answer's two samples is only its precpu_stats. */
export function takeCpuSample(rec: ContainerRecord): CpuSample | undefined {
  return sample(rec, (s) => ({
    read: new Date().toISOString().replace('Z', '000000Z'),
    cpu: readCpuAt(s.paths, s.files.read),
    systemCpu: systemCpuUsage(),
    onlineCpus: onlineCpus(),
  }));
}

function sample<T>(rec: ContainerRecord, take: (s: Sampled, pid: number) => T): T | undefined {
  const pid = rec.State.Running ? rec.State.Pid : 0;
  if (!pid) {
    forget(rec.Id);
    return undefined;
  }
  try {
    return take(sampledOf(rec, pid), pid);
  } catch {
    forget(rec.Id);
    return undefined; // exited between the check and the read
  }
}

/** The StatsJSON for `cur` after `pre`; no `cur` is dockerd's answer for a container that is not running. */
export function statsJSON(rec: ContainerRecord, cur: StatsSample | undefined, pre: CpuSample | undefined): Record<string, unknown> {
  const base = { name: rec.Name, id: rec.Id };
  if (!cur) {
    return {
      ...base, read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: blkio(undefined), num_procs: 0, storage_stats: {},
      cpu_stats: cpuStats(undefined), precpu_stats: cpuStats(undefined), memory_stats: {},
    };
  }
  const m = cur.usage.memory;
  const hostMemory = totalmem();
  const limit = m.limit === undefined || m.limit > hostMemory ? hostMemory : m.limit;
  return {
    ...base,
    read: cur.read,
    preread: pre?.read ?? ZERO_TIME,
    pids_stats: { current: cur.usage.pids.current, ...(cur.usage.pids.limit !== undefined ? { limit: cur.usage.pids.limit } : {}) },
    blkio_stats: blkio(cur.usage.blkio),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(cur),
    precpu_stats: cpuStats(pre),
    memory_stats: {
      usage: m.usage,
      ...(m.maxUsage !== undefined ? { max_usage: m.maxUsage } : {}),
      stats: m.stats,
      ...(m.failcnt !== undefined ? { failcnt: m.failcnt } : {}),
      limit,
    },
    ...(cur.networks ? { networks: cur.networks } : {}),
  };
}

/** A one-off answer (`stream=false`): two samples a short window apart, so CPU % means something. */
export async function oneOffStats(rec: () => ContainerRecord, oneShot: boolean, signal: AbortSignal): Promise<Record<string, unknown>> {
  if (oneShot) return statsJSON(rec(), takeSample(rec()), undefined);
  const first = takeCpuSample(rec());
  if (!first) return statsJSON(rec(), undefined, undefined);
  await sleep(windowOf(rec()), undefined, { signal });
  const second = takeSample(rec());
  return statsJSON(rec(), second, second ? first : undefined);
}

/** StatsJSON once a second until `signal` aborts, or, as dockerd's, ends when the container is removed. */
export async function* statsStream(rec: () => ContainerRecord, signal: AbortSignal): AsyncGenerator<Record<string, unknown>> {
  let pre: StatsSample | undefined;
  for (;;) {
    let r: ContainerRecord;
    try {
      r = rec();
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    const cur = takeSample(r);
    yield statsJSON(r, cur, pre);
    pre = cur;
    await sleep(1000, undefined, { signal });
  }
}

function cpuStats(s: CpuSample | undefined): Record<string, unknown> {
  const c = s?.cpu;
  return {
    cpu_usage: {
      total_usage: c?.total ?? 0,
      ...(c?.percpu ? { percpu_usage: c.percpu } : {}),
      usage_in_kernelmode: c?.kernel ?? 0,
      usage_in_usermode: c?.user ?? 0,
    },
    ...(s ? { system_cpu_usage: s.systemCpu, online_cpus: s.onlineCpus } : {}),
    throttling_data: {
      periods: c?.throttling.periods ?? 0,
      throttled_periods: c?.throttling.throttledPeriods ?? 0,
      throttled_time: c?.throttling.throttledTime ?? 0,
    },
  };
}

function blkio(b: CgroupUsage['blkio'] | undefined): Record<string, BlkioEntry[] | null> {
  const list = (e: BlkioEntry[] | undefined) => (e?.length ? e : null);
  return {
    io_service_bytes_recursive: list(b?.serviceBytes),
    io_serviced_recursive: list(b?.serviced),
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

/** The host's online CPUs (/sys/devices/system/cpu/online, as sysconf counts them for dockerd), read at most once a second. */
let online = { at: -Infinity, n: 1 };

function onlineCpus(): number {
  const now = performance.now();
  if (now - online.at < 1000) return online.n;
  let n = 0;
  for (const range of readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',')) {
    const [a, b] = range.split('-').map(Number);
    n += b === undefined ? 1 : b - a + 1;
  }
  online = { at: now, n: n || 1 };
  return online.n;
}

/**
 * The host's CPU time in nanoseconds: the monotonic clock (time since boot)
 * times the online CPUs. dockerd sums /proc/stat's first line, which every CPU
 * advances at that rate (idle included) but only in ticks of 10 ms: over a
 * short window a tick more or less is a large error in CPU %, where the clock
 * is exact. Clients only ever use differences of it.
 */
function systemCpuUsage(): number {
  return Number(process.hrtime.bigint()) * onlineCpus();
}

/** The container's interfaces but loopback, from its network namespace's /proc/net/dev. */
function networkCounters(pid: number): Record<string, NetworkCounters> | undefined {
  const out: Record<string, NetworkCounters> = {};
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = {
      rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3],
      tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11],
    };
  }
  return Object.keys(out).length ? out : undefined;
}
