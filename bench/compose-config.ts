// Loading a compose project (issue #16): `berth compose config -q` beside
// Debian's docker-compose 1.29 `config -q` in the same run, on the same
// 10-service project (three dependency levels, anchors and `<<`, .env
// interpolation, an env_file, builds, ports, volumes, healthchecks, an
// override file). Neither needs a daemon: this is the cost every compose
// command pays before its first API call. Runs alternate between the tools;
// the medians and their ratio are printed.
//
//   node_modules/.bin/node bench/compose-config.ts [rounds]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH } from '../test/helpers/daemon.ts';
import { median, time } from './measure.ts';

const ROUNDS = Number(process.argv[2] ?? 9);
const PEER = '/usr/bin/docker-compose';

function project(dir: string): void {
  const services: string[] = [];
  for (let i = 0; i < 10; i++) {
    // Level 0: s0-s3; level 1: s4-s7 on level 0; level 2: s8-s9 on level 1.
    const deps = i >= 8 ? [`s${i - 4}`, `s${i - 3}`] : i >= 4 ? [`s${i - 4}`] : [];
    services.push([
      `  s${i}:`,
      '    <<: *common',
      i % 3 === 0 ? `    build: ./app${i}` : '    image: "busybox:${TAG:-latest}"',
      `    command: sh -c "echo ${i} && sleep 3600"`,
      `    ports: ["${8000 + i}:80", "127.0.0.1:${9000 + i}:9000/udp"]`,
      `    volumes: ["./data${i}:/data:ro", "vol${i % 3}:/v", "/anon"]`,
      '    env_file: common.env',
      `    environment: [INDEX=${i}, "GREETING=\${GREETING:?set in .env}"]`,
      ...(deps.length ? [`    depends_on: [${deps.join(', ')}]`] : []),
      '    healthcheck: {test: "true", interval: 5s, timeout: 2s, retries: 3}',
    ].join('\n'));
  }
  writeFileSync(join(dir, 'compose.yaml'), [
    'x-common: &common',
    '  restart: unless-stopped',
    '  labels: [com.example.bench=compose-config]',
    '  networks: [front, back]',
    'services:',
    ...services,
    'networks:',
    '  front: {}',
    '  back: {}',
    'volumes:',
    '  vol0: {}',
    '  vol1: {}',
    '  vol2: {}',
    '',
  ].join('\n'));
  // docker-compose 1.29 checks that a build context exists.
  for (let i = 0; i < 10; i += 3) {
    mkdirSync(join(dir, `app${i}`));
    writeFileSync(join(dir, `app${i}`, 'Dockerfile'), 'FROM busybox\n');
  }
  writeFileSync(join(dir, 'compose.override.yaml'), 'services:\n  s0:\n    environment: [OVERRIDDEN=1]\n  s9:\n    ports: ["8999:99"]\n');
  writeFileSync(join(dir, '.env'), 'TAG=1.36\nGREETING=hello\nCOMPOSE_PROJECT_NAME=bench\n');
  writeFileSync(join(dir, 'common.env'), 'A=1\nB="two words"\n');
}

const dir = mkdtempSync(join(tmpdir(), 'berth-bench-cconfig-'));
try {
  project(dir);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  const files = ['-f', join(dir, 'compose.yaml'), '-f', join(dir, 'compose.override.yaml')];
  // Both must accept the project before anything is timed.
  time(BERTH, ['compose', ...files, 'config', '-q'], env);
  time(PEER, [...files, 'config', '-q'], env);
  const berth: number[] = [];
  const peer: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    berth.push(time(BERTH, ['compose', ...files, 'config', '-q'], env));
    peer.push(time(PEER, [...files, 'config', '-q'], env));
  }
  const b = median(berth);
  const p = median(peer);
  console.log(`compose config -q, 10 services + override, ${ROUNDS} rounds (median wall ms)`);
  console.log(`  berth compose     ${b.toFixed(0)}`);
  console.log(`  docker-compose    ${p.toFixed(0)}  (1.29, ${PEER})`);
  console.log(`  berth / docker-compose = ${(b / p).toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
