// Network benchmark: busybox httpd through a published port (127.0.0.1, DNAT)
// beside the same server straight at its container address, with wrk on
// loopback, alternating rounds; and what network setup adds to
// `run --rm busybox true` (default bridge beside --network none).
//   node_modules/.bin/node bench/network.ts [rounds] [runs]
import { spawnSync } from 'node:child_process';
import { startSeededDaemon } from '../test/helpers/daemon.ts';
import { httpd } from '../test/helpers/network.ts';
import { median } from './measure.ts';

const ROUNDS = Number(process.argv[2] ?? 15);
const RUNS = Number(process.argv[3] ?? 20);
const PORT = 18899;

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/** wrk's Requests/sec and Transfer/sec (bytes) for one URL. */
function wrk(url: string): { rps: number; bps: number } {
  const r = spawnSync('wrk', ['-t2', '-c16', '-d2s', url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk ${url}: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const t = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(r.stdout);
  if (!Number.isFinite(rps) || !t) throw new Error(`cannot read wrk output:\n${r.stdout}`);
  if (/Non-2xx|Socket errors/.test(r.stdout)) process.stderr.write(`warning (${url}): ${r.stdout}\n`);
  return { rps, bps: Number(t[1]) * (UNITS[t[2]] ?? 1) };
}

function timeRun(d: Awaited<ReturnType<typeof startSeededDaemon>>, args: string[]): number {
  const t = process.hrtime.bigint();
  const r = d.berth(['run', '--rm', ...args, 'busybox', 'true']);
  if (r.code !== 0) throw new Error(r.stderr);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const d = await startSeededDaemon();
try {
  // index.html is small (requests/s); big.bin is 1 MiB (throughput).
  httpd(d, 'benchweb', 'hello', ['-p', `${PORT}:80`]);
  d.berth(['exec', 'benchweb', 'sh', '-c', 'dd if=/dev/zero of=/www/big.bin bs=1024 count=1024 2>/dev/null']);
  const ip = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'benchweb']).stdout.trim();
  const results: Record<string, { rps: number[]; bps: number[] }> = { published: { rps: [], bps: [] }, direct: { rps: [], bps: [] } };
  for (let i = 0; i < ROUNDS; i++) {
    for (const [label, host] of [['published', `127.0.0.1:${PORT}`], ['direct', `${ip}:80`]] as const) {
      results[label].rps.push(wrk(`http://${host}/`).rps);
      results[label].bps.push(wrk(`http://${host}/big.bin`).bps);
    }
  }
  d.berth(['rm', '-f', 'benchweb']);
  timeRun(d, []);
  timeRun(d, ['--network', 'none']);
  const bridge: number[] = [];
  const none: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bridge.push(timeRun(d, []));
    none.push(timeRun(d, ['--network', 'none']));
  }
  const p = results.published;
  const q = results.direct;
  const mib = (b: number) => (b / 1024 ** 2).toFixed(1);
  process.stdout.write([
    `wrk -t2 -c16 -d2s, medians of ${ROUNDS} alternating rounds; run --rm medians of ${RUNS}, interleaved`,
    '| measure | published port (127.0.0.1) | container address | published / direct |',
    '|---|---:|---:|---:|',
    `| requests/s (index.html) | ${median(p.rps).toFixed(0)} | ${median(q.rps).toFixed(0)} | ${(median(p.rps) / median(q.rps)).toFixed(3)} |`,
    `| throughput MiB/s (1 MiB file) | ${mib(median(p.bps))} | ${mib(median(q.bps))} | ${(median(p.bps) / median(q.bps)).toFixed(3)} |`,
    '',
    '| run --rm busybox true | default bridge | --network none | extra |',
    '|---|---:|---:|---:|',
    `| median | ${median(bridge).toFixed(1)} ms | ${median(none).toFixed(1)} ms | ${(median(bridge) - median(none)).toFixed(1)} ms |`,
    '',
  ].join('\n'));
} finally {
  await d.destroy();
}
