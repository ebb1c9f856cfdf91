// The cost of a named volume on a container's run: `run --rm -v name:/data
// busybox true` beside the same run without it, interleaved so both see the
// same machine, through berth's CLI and the docker CLI against one berth
// daemon. Prints medians and the difference (target: within 10 ms).
//   node_modules/.bin/node bench/volumes.ts [iterations]
import { existsSync } from 'node:fs';
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { median, time } from './measure.ts';

const N = Number(process.argv[2] ?? 30);

const d = await startSeededDaemon();
try {
  const clients: [string, string, string[], NodeJS.ProcessEnv][] = [['berth', BERTH, ['-H', d.host], process.env]];
  if (DOCKER && existsSync(DOCKER)) clients.push(['docker CLI → berthd', DOCKER, [], { ...process.env, DOCKER_HOST: d.host }]);
  const rows: string[] = [];
  for (const [label, cli, prefix, env] of clients) {
    const plain = [...prefix, 'run', '--rm', 'busybox', 'true'];
    const withVol = [...prefix, 'run', '--rm', '-v', 'benchvol:/data', 'busybox', 'true'];
    time(cli, plain, env); // warm caches; the volume exists from here on, as on a second run
    time(cli, withVol, env);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < N; i++) {
      a.push(time(cli, plain, env));
      b.push(time(cli, withVol, env));
    }
    const ma = median(a);
    const mb = median(b);
    // Each pair ran back to back: the median of their differences is less
    // swayed by a shared machine's load than the difference of medians.
    const paired = median(b.map((x, i) => x - a[i]));
    const sign = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(1);
    rows.push(`| ${label} | ${ma.toFixed(1)} ms | ${mb.toFixed(1)} ms | ${sign(mb - ma)} ms | ${sign(paired)} ms | ${(mb / ma).toFixed(3)} |`);
  }
  process.stdout.write(`medians of ${N} interleaved runs\n| client | run --rm busybox true | run --rm -v benchvol:/data busybox true | difference of medians | median paired difference | ratio |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
} finally {
  await d.destroy();
}
