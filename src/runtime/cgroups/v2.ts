// cgroup v2: one unified hierarchy; CPU times in microseconds, I/O per device in io.stat.
import { join } from 'node:path';
import { readKeyed, readNumber, readText, type BlkioEntry, type CgroupUsage, type ReadText } from './usage.ts';

/** The CPU part alone (all a `precpu_stats` needs). */
export function readCpuV2(dir: string, read: ReadText = readText): CgroupUsage['cpu'] {
  const cpu = readKeyed(join(dir, 'cpu.stat'), read);
  return {
    total: (cpu.usage_usec ?? 0) * 1000,
    kernel: (cpu.system_usec ?? 0) * 1000,
    user: (cpu.user_usec ?? 0) * 1000,
    throttling: { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: (cpu.throttled_usec ?? 0) * 1000 },
  };
}

export function readV2(dir: string, read: ReadText = readText): CgroupUsage {
  const io = readIo(join(dir, 'io.stat'), read);
  return {
    cpu: readCpuV2(dir, read),
    memory: {
      usage: readNumber(join(dir, 'memory.current'), read) ?? 0,
      maxUsage: readNumber(join(dir, 'memory.peak'), read),
      limit: readNumber(join(dir, 'memory.max'), read),
      stats: readKeyed(join(dir, 'memory.stat'), read),
    },
    pids: { current: readNumber(join(dir, 'pids.current'), read) ?? 0, limit: readNumber(join(dir, 'pids.max'), read) },
    blkio: io,
  };
}

/** io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 …") as v1's Read/Write entries, as dockerd reports v2. */
function readIo(path: string, read: ReadText): CgroupUsage['blkio'] {
  const serviceBytes: BlkioEntry[] = [];
  const serviced: BlkioEntry[] = [];
  try {
    for (const line of read(path).split('\n')) {
      const [dev, ...pairs] = line.trim().split(/\s+/);
      const m = /^(\d+):(\d+)$/.exec(dev ?? '');
      if (!m) continue;
      const kv = Object.fromEntries(pairs.map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]));
      const [major, minor] = [Number(m[1]), Number(m[2])];
      serviceBytes.push({ major, minor, op: 'read', value: kv.rbytes ?? 0 }, { major, minor, op: 'write', value: kv.wbytes ?? 0 });
      serviced.push({ major, minor, op: 'read', value: kv.rios ?? 0 }, { major, minor, op: 'write', value: kv.wios ?? 0 });
    }
  } catch {
    // no io controller enabled
  }
  return { serviceBytes, serviced };
}
