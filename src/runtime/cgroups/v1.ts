// cgroup v1: each controller in its own hierarchy (cpu, cpuacct, memory, pids, blkio).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKeyed, readNumber, type BlkioEntry, type CgroupUsage } from './usage.ts';

/** cpuacct.stat counts in USER_HZ, which is 100 on every Linux the runtimes support. */
const NS_PER_TICK = 1e9 / 100;
/** A v1 memory.limit_in_bytes at or above this means "no limit" (PAGE_COUNTER_MAX rounded to pages). */
const V1_UNLIMITED = 2 ** 62;

export function readV1(dirs: Map<string, string>): CgroupUsage {
  const at = (controller: string, file: string) => join(dirs.get(controller) ?? '/nonexistent', file);
  const acct = readKeyed(at('cpuacct', 'cpuacct.stat'));
  const cpuStat = readKeyed(at('cpu', 'cpu.stat'));
  const limit = readNumber(at('memory', 'memory.limit_in_bytes'));
  return {
    cpu: {
      total: readNumber(at('cpuacct', 'cpuacct.usage')) ?? 0,
      percpu: readList(at('cpuacct', 'cpuacct.usage_percpu')),
      kernel: (acct.system ?? 0) * NS_PER_TICK,
      user: (acct.user ?? 0) * NS_PER_TICK,
      throttling: { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTime: cpuStat.throttled_time ?? 0 },
    },
    memory: {
      usage: readNumber(at('memory', 'memory.usage_in_bytes')) ?? 0,
      maxUsage: readNumber(at('memory', 'memory.max_usage_in_bytes')),
      failcnt: readNumber(at('memory', 'memory.failcnt')),
      limit: limit !== undefined && limit < V1_UNLIMITED ? limit : undefined,
      stats: readKeyed(at('memory', 'memory.stat')),
    },
    pids: { current: readNumber(at('pids', 'pids.current')) ?? 0, limit: readNumber(at('pids', 'pids.max')) },
    blkio: {
      serviceBytes: readBlkio(at('blkio', 'blkio.throttle.io_service_bytes')),
      serviced: readBlkio(at('blkio', 'blkio.throttle.io_serviced')),
    },
  };
}

function readList(path: string): number[] | undefined {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return undefined;
  }
}

/** "8:0 Read 4096" lines; the "Total" lines are left out, as dockerd does. */
function readBlkio(path: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
      if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
    }
  } catch {
    // no blkio controller
  }
  return out;
}
