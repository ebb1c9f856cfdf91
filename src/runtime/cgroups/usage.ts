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

/** Reads a cgroup file's text; throws when it cannot (no such controller, the cgroup gone). */
export type ReadText = (path: string) => string;

/** A fresh open and read of the file, for readings without kept files. */
export const readText: ReadText = (path) => readFileSync(path, 'utf8');

/** A file of one number; undefined when absent, 'max' or unreadable. */
export function readNumber(path: string, read: ReadText = readText): number | undefined {
  try {
    const text = read(path).trim();
    if (text === 'max' || text === '') return undefined;
    const n = Number(text);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A "key value" per line file (memory.stat, cpu.stat) as numbers. */
export function readKeyed(path: string, read: ReadText = readText): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = read(path);
  } catch {
    return out; // a controller the host does not have: no figures
  }
  // Parsed without a regular expression per line: memory.stat has dozens, read for every sample.
  for (let at = 0; at < text.length;) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', at);
    if (sp > at && sp < end) {
      const v = text.slice(sp + 1, end).trim();
      if (v !== '' && isDigits(v)) out[text.slice(at, sp)] = Number(v);
    }
    at = end + 1;
  }
  return out;
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
