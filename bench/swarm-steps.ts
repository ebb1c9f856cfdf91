// What the swarm benches (bench/swarm.ts, bench/swarm-update.ts) share: the
// load average to report beside a figure, a docker CLI call on a test host
// that must succeed, and polling for convergence every 100 ms (the
// resolution of their convergence times).
import { readFileSync } from 'node:fs';
import type { SwarmHost } from '../test/helpers/swarm-hosts.ts';

export const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function must(h: SwarmHost, args: string[]): string {
  const r = h.docker(args, { timeout: 300_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} on ${h.name}: ${r.stderr}`);
  return r.stdout;
}

export async function until(what: string, fn: () => boolean, ms = 300_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}
