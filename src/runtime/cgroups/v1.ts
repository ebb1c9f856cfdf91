// cgroup v1: each controller in its own hierarchy (cpu, cpuacct, memory, pids, blkio).
import { join } from 'node:path';
import { readKeyed, readNumber, readText, type BlkioEntry, type CgroupUsage, type ReadText } from './usage.ts';

/** cpuacct.stat counts in USER_HZ, which is 100 on every Linux the runtimes support. */
const NS_PER_TICK = 1e9 / 100;
/** A v1 memory.limit_in_bytes at or above this means "no limit" (PAGE_COUNTER_MAX rounded to pages). */
const V1_UNLIMITED = 2 ** 62;

function inDir(dirs: Map<string, string>) {
  return (controller: string, file: string) => join(dirs.get(controller) ?? '/nonexistent', file);
}

/** The CPU part alone (all a `precpu_stats` needs). */
export function readCpuV1(dirs: Map<string, string>, read: ReadText = readText): CgroupUsage['cpu'] {
  const at = inDir(dirs);
  const acct = readKeyed(at('cpuacct', 'cpuacct.stat'), read);
  const cpuStat = readKeyed(at('cpu', 'cpu.stat'), read);
  return {
    total: readNumber(at('cpuacct', 'cpuacct.usage'), read) ?? 0,
    percpu: readList(at('cpuacct', 'cpuacct.usage_percpu'), read),
    kernel: (acct.system ?? 0) * NS_PER_TICK,
    user: (acct.user ?? 0) * NS_PER_TICK,
    throttling: { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTime: cpuStat.throttled_time ?? 0 },
  };
}

export function readV1(dirs: Map<string, string>, read: ReadText = readText): CgroupUsage {
  const at = inDir(dirs);
  const limit = readNumber(at('memory', 'memory.limit_in_bytes'), read);
  return {
    cpu: readCpuV1(dirs, read),
    memory: {
      usage: readNumber(at('memory', 'memory.usage_in_bytes'), read) ?? 0,
      maxUsage: readNumber(at('memory', 'memory.max_usage_in_bytes'), read),
      failcnt: readNumber(at('memory', 'memory.failcnt'), read),
      limit: limit !== undefined && limit < V1_UNLIMITED ? limit : undefined,
      stats: readKeyed(at('memory', 'memory.stat'), read),
    },
    pids: { current: readNumber(at('pids', 'pids.current'), read) ?? 0, limit: readNumber(at('pids', 'pids.max'), read) },
    blkio: {
      serviceBytes: readBlkio(at('blkio', 'blkio.throttle.io_service_bytes'), read),
      serviced: readBlkio(at('blkio', 'blkio.throttle.io_serviced'), read),
    },
  };
}

function readList(path: string, read: ReadText): number[] | undefined {
  try {
    return read(path).trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return undefined;
  }
}

/** "8:0 Read 4096" lines; the "Total" lines are left out, as dockerd does. */
function readBlkio(path: string, read: ReadText): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  try {
    for (const line of read(path).split('\n')) {
      const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
      if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
    }
  } catch {
    // no blkio controller
  }
  return out;
}
