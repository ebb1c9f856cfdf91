// `compose up -d` and `compose down` of a 10-service project with three
// dependency levels (2 → 4 → 4 services, each level depending on the one
// before), by berth compose and by docker-compose 1.29, both against one
// berth daemon, interleaved so both see the same machine. Prints medians and
// berth's share of docker-compose's wall time (target: at most 0.5).
//   node_modules/.bin/node bench/compose.ts [iterations]
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon } from '../test/helpers/daemon.ts';
import { median, time } from './measure.ts';

const N = Number(process.argv[2] ?? 7);
const COMPOSE = '/usr/bin/docker-compose';

function composeFile(): string {
  const lines = ['services:'];
  const level = (names: string[], deps: string[]) => {
    for (const n of names) {
      lines.push(`  ${n}:`, '    image: busybox', '    command: ["sleep", "600"]', '    stop_signal: SIGKILL');
      if (deps.length) lines.push('    depends_on:', ...deps.map((d) => `      - ${d}`));
    }
  };
  level(['db', 'cache'], []);
  level(['api1', 'api2', 'api3', 'api4'], ['db', 'cache']);
  level(['web1', 'web2', 'web3', 'web4'], ['api1', 'api2', 'api3', 'api4']);
  return lines.join('\n') + '\n';
}

const d = await startSeededDaemon();
try {
  const dir = mkdtempSync('/tmp/bench-compose-');
  writeFileSync(join(dir, 'compose.yaml'), composeFile());
  const env = { ...process.env, DOCKER_HOST: d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' };
  const tools: Array<[string, string, string[]]> = [['berth compose', BERTH, ['-H', d.host, 'compose', '-f', join(dir, 'compose.yaml'), '-p', 'bb']]];
  if (existsSync(COMPOSE)) tools.push(['docker-compose 1.29', COMPOSE, ['-f', join(dir, 'compose.yaml'), '-p', 'bc']]);
  const ups = new Map<string, number[]>(tools.map(([l]) => [l, []]));
  const downs = new Map<string, number[]>(tools.map(([l]) => [l, []]));
  for (const [, cmd, pre] of tools) {
    // Warm-up: both tools' first run pays for caches neither pays again.
    time(cmd, [...pre, 'up', '-d'], env);
    time(cmd, [...pre, 'down', '-t', '0'], env);
  }
  for (let i = 0; i < N; i++) {
    for (const [label, cmd, pre] of tools) {
      ups.get(label)!.push(time(cmd, [...pre, 'up', '-d'], env));
      downs.get(label)!.push(time(cmd, [...pre, 'down', '-t', '0'], env));
    }
  }
  const rows: string[] = [];
  const base = tools.length > 1 ? tools[1][0] : undefined;
  for (const [label] of tools) {
    const u = median(ups.get(label)!);
    const dn = median(downs.get(label)!);
    const ru = base ? (u / median(ups.get(base)!)).toFixed(2) : '-';
    const rd = base ? (dn / median(downs.get(base)!)).toFixed(2) : '-';
    rows.push(`| ${label} | ${u.toFixed(0)} ms | ${ru} | ${dn.toFixed(0)} ms | ${rd} |`);
  }
  process.stdout.write(`medians of ${N} interleaved runs, 10 services in 3 dependency levels, one berthd\n| tool | up -d | ratio to docker-compose | down | ratio to docker-compose |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
} finally {
  await d.destroy();
}
