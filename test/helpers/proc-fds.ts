// A process's open file descriptors, for tests that check nothing leaks.
import { readdirSync, readlinkSync } from 'node:fs';

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What a process's fds point at, counted by kind, for a failure message. */
export function fdTargets(pid: number): string {
  const kinds = new Map<string, number>();
  for (const f of readdirSync(`/proc/${pid}/fd`)) {
    let t: string;
    try {
      t = readlinkSync(`/proc/${pid}/fd/${f}`).replace(/\[\d+\]$/, '').replace(/\/[^/]*$/, '/…');
    } catch {
      continue;
    }
    kinds.set(t, (kinds.get(t) ?? 0) + 1);
  }
  return [...kinds].map(([k, n]) => `${n}× ${k}`).join(', ');
}
