// The two batches (run -d ×50, rm -f ×50, ten at a time) on one berthd, for
// looking inside them rather than comparing (bench/speed.ts's `batch` set):
//   PROBE_PROF=<dir>  berthd runs with --cpu-prof into <dir> (written at its stop)
//   PROBE_WAIT=<ms>   a pause after the daemon's pid is printed (to attach strace or perf)
//   PROBE_DURS=1      each command's duration, in the order they ended
//   node_modules/.bin/node bench/batch-probe.ts [rounds]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { BERTH, startSeededDaemon } from '../test/helpers/daemon.ts';
const PROF = process.env.PROBE_PROF;
const ROUNDS = Number(process.argv[2] ?? 2);
if (PROF) process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${PROF}`;
const d = await startSeededDaemon();
delete process.env.NODE_OPTIONS;
const durs: number[] = [];
const cli = (args: string[]) => new Promise<void>((res, rej) => {
  const t0 = performance.now();
  const p = spawn(BERTH, ['-H', d.host, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  p.on('exit', (c) => { durs.push(performance.now() - t0); c === 0 ? res() : rej(new Error(`${args.join(' ')}: ${c}`)); });
});
const show = (l: string) => { console.log(l, durs.splice(0).map((x) => x.toFixed(0)).join(' ')); };
async function ten(names: string[], f: (n: string) => string[]): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < names.length; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => cli(f(n))));
  return performance.now() - t0;
}
console.log(`daemon pid ${d.pid}`);
if (process.env.PROBE_WAIT) await new Promise((r) => setTimeout(r, Number(process.env.PROBE_WAIT)));
try {
  await cli(['run', '--rm', 'busybox', 'true']);
  for (let k = 0; k < 3; k++) await cli(['version']);
  await new Promise((r) => setTimeout(r, 2000));
  for (let r = 0; r < ROUNDS; r++) {
    const names = Array.from({ length: 50 }, (_, k) => `p${r}x${k}`);
    durs.length = 0;
    const a = await ten(names, (n) => ['run', '-d', '--name', n, 'busybox', 'sleep', '3600']);
    if (process.env.PROBE_DURS) show('run');
    const b = await ten(names, (n) => ['rm', '-f', n]);
    if (process.env.PROBE_DURS) show('rm');
    console.log(`round ${r}: run -d ×50 ${a.toFixed(0)} ms, rm -f ×50 ${b.toFixed(0)} ms, load ${loadavg()[0].toFixed(2)}`);
  }
} finally {
  await d.destroy();
}
