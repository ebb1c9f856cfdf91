// What a cgroup has used, in one shape for v1 and v2 (the Engine API's stats
// fields, in its units), and the file readers both versions share.
import { readFileSync } from 'node:fs';

export interface BlkioEntry { major: number; minor: number; op: string; value: number }

export interface CgroupUsage {
  cpu: {
    /** Nanoseconds of CPU time, in all, per CPU, in kernel and in user mode. */
    total: number;
    percpu?: number[];
    kernel: number;
    user: number;
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: {
    usage: number;
    maxUsage?: number;
    failcnt?: number;
    /** The cgroup's limit; undefined when it has none. */
    limit?: number;
    stats: Record<string, number>;
  };
  pids: { current: number; limit?: number };
  blkio: { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] };
}

/** A file of one number; undefined when absent, 'max' or unreadable. */
export function readNumber(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text === 'max' || text === '') return undefined;
    const n = Number(text);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A "key value" per line file (memory.stat, cpu.stat) as numbers. */
export function readKeyed(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
    }
  } catch {
    // a controller the host does not have: no figures
  }
  return out;
}
