// Build benchmark: a Dockerfile of FROM busybox, ten RUN steps, a COPY of
// 1,000 small files and one more RUN, built cold (--no-cache), fully cached,
// and after changing one copied file. berth's CLI beside the docker CLI's
// legacy builder (DOCKER_BUILDKIT=0) against the same berth daemon. Prints
// medians.
//   node_modules/.bin/node bench/build.ts [iterations]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { median } from './measure.ts';

const N = Number(process.argv[2] ?? 5);

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const ctx = mkdtempSync('/tmp/berth-bench-build-');
const lines = ['FROM busybox'];
for (let i = 1; i <= 10; i++) lines.push(`RUN echo step ${i} > /step${i}`);
lines.push('COPY files /files');
lines.push('RUN ls /files | wc -l');
writeFileSync(join(ctx, 'Dockerfile'), lines.join('\n') + '\n');
mkdirSync(join(ctx, 'files'));
for (let i = 0; i < 1000; i++) writeFileSync(join(ctx, 'files', `f${i}.txt`), `file ${i}\n`);

const d = await startSeededDaemon();
let edits = 0;
try {
  const clients: [string, string, string[], NodeJS.ProcessEnv][] = [['berth CLI', BERTH, ['-H', d.host], process.env]];
  if (DOCKER && existsSync(DOCKER)) clients.push(['docker CLI (legacy builder) → berthd', DOCKER, [], { ...process.env, DOCKER_HOST: d.host, DOCKER_BUILDKIT: '0' }]);
  const rows: string[] = [];
  for (const [label, cli, prefix, env] of clients) {
    const build = (extra: string[]) => time(cli, [...prefix, 'build', ...extra, '-t', 'bench-build', ctx], env);
    build([]); // warm: base image, page cache
    const cold: number[] = [];
    const cached: number[] = [];
    const changed: number[] = [];
    for (let i = 0; i < N; i++) {
      cold.push(build(['--no-cache']));
      cached.push(build([]));
      writeFileSync(join(ctx, 'files', 'f500.txt'), `edited ${++edits}\n`);
      changed.push(build([]));
    }
    rows.push(`| ${label} | ${(median(cold) / 1000).toFixed(2)} s | ${(median(cached) / 1000).toFixed(3)} s | ${(median(changed) / 1000).toFixed(3)} s |`);
  }
  process.stdout.write(`medians of ${N}\n| client | cold (--no-cache) | fully cached | one copied file changed |\n|---|---:|---:|---:|\n${rows.join('\n')}\n`);
} finally {
  await d.destroy();
  rmSync(ctx, { recursive: true, force: true });
}
