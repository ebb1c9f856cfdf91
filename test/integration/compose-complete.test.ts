// berth compose's round-two pieces on a real daemon through dist/berth: the
// version label, `config --hash` against what `up` labels, `restart` with and
// without --no-deps, and external secrets refused before anything is made.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type RunResult, type TestDaemon } from '../helpers/daemon.ts';

function project(text: string): string {
  const dir = mkdtempSync('/tmp/bcc-');
  writeFileSync(join(dir, 'compose.yaml'), text);
  return dir;
}

describe('berth compose: version label, config --hash, restart, external secrets', () => {
  let d: TestDaemon;
  const compose = (dir: string, name: string, args: string[], env?: NodeJS.ProcessEnv): RunResult =>
    d.berth(['compose', '--project-directory', dir, '-f', join(dir, 'compose.yaml'), '-p', name, ...args], { timeout: 120_000, env });
  const label = (c: string, key: string): string => d.berth(['inspect', '-f', `{{index .Config.Labels "${key}"}}`, c]).stdout.trim();
  const startedAt = (c: string): string => d.berth(['inspect', '-f', '{{.State.StartedAt}}', c]).stdout.trim();

  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  const app = (dbEnv: string, dependsOn: string) => `
services:
  db:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    environment: { MODE: ${dbEnv} }
  web:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on:
      db: { condition: service_started, restart: ${dependsOn} }
  side:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: [db]
`;

  test('the version label is what `compose version --short` prints; config --hash is the label up writes', () => {
    const dir = project(app('a', 'true'));
    assert.equal(compose(dir, 'ch', ['up', '-d']).code, 0);
    const short = d.berth(['compose', 'version', '--short']).stdout.trim();
    assert.match(short, /^\d+\.\d+\.\d+/);
    assert.equal(label('ch-web-1', 'com.docker.compose.version'), short);

    const all = compose(dir, 'ch', ['config', '--hash', '*']);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.split('\n').filter(Boolean);
    assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['db', 'side', 'web']);
    for (const l of lines) {
      const [svc, hash] = l.split(' ');
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(label(`ch-${svc}-1`, 'com.docker.compose.config-hash'), hash, svc);
    }
    assert.equal(compose(dir, 'ch', ['config', '--hash', 'web']).stdout, lines.find((l) => l.startsWith('web '))! + '\n');
    assert.match(compose(dir, 'ch', ['config', '--hash', 'nope']).stderr, /no such service: nope/);

    // As compose v2: depends_on is not part of the hash, the environment is.
    writeFileSync(join(dir, 'compose.yaml'), app('a', 'false'));
    assert.equal(compose(dir, 'ch', ['config', '--hash', 'web']).stdout, lines.find((l) => l.startsWith('web '))! + '\n');
    writeFileSync(join(dir, 'compose.yaml'), app('b', 'true'));
    const db2 = compose(dir, 'ch', ['config', '--hash', 'db']).stdout;
    assert.notEqual(db2, lines.find((l) => l.startsWith('db '))! + '\n');
    const up = compose(dir, 'ch', ['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, / Container ch-db-1 {2}Recreated/);
    assert.equal(label('ch-db-1', 'com.docker.compose.config-hash') + '\n', db2.split(' ')[1]);
    assert.equal(compose(dir, 'ch', ['down', '-t', '0']).code, 0);
  });

  test('restart of a service restarts its dependents that say restart: true, and with --no-deps only itself', () => {
    const dir = project(app('a', 'true'));
    assert.equal(compose(dir, 'rs', ['up', '-d']).code, 0);
    const before = { db: startedAt('rs-db-1'), web: startedAt('rs-web-1'), side: startedAt('rs-side-1') };
    const r = compose(dir, 'rs', ['restart', '-t', '0', 'db']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, / Container rs-db-1 {2}Started/);
    assert.match(r.stderr, / Container rs-web-1 {2}Started/);
    assert.doesNotMatch(r.stderr, /rs-side-1/);
    const mid = { db: startedAt('rs-db-1'), web: startedAt('rs-web-1'), side: startedAt('rs-side-1') };
    assert.notEqual(mid.db, before.db);
    assert.notEqual(mid.web, before.web, 'web declares restart: true on db');
    assert.equal(mid.side, before.side, 'side does not');

    const n = compose(dir, 'rs', ['restart', '--no-deps', '-t', '0', 'db']);
    assert.equal(n.code, 0, n.stderr);
    assert.doesNotMatch(n.stderr, /rs-web-1/);
    assert.notEqual(startedAt('rs-db-1'), mid.db);
    assert.equal(startedAt('rs-web-1'), mid.web);
    assert.equal(compose(dir, 'rs', ['down', '-t', '0']).code, 0);
  });

  test('an external secret or config is refused as compose refuses it without a swarm, before anything is created', () => {
    for (const kind of ['secret', 'config'] as const) {
      const dir = project(`
services:
  app:
    image: busybox
    command: ["true"]
    ${kind}s: [shared]
${kind}s:
  shared:
    external: true
`);
      const r = compose(dir, `ext${kind}`, ['up', '-d']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`unsupported external ${kind} shared\\n`));
      assert.equal(d.berth(['ps', '-aq', '--filter', `label=com.docker.compose.project=ext${kind}`]).stdout, '');
      assert.equal(d.berth(['network', 'ls', '-q', '--filter', `name=ext${kind}_default`]).stdout, '');
    }
  });

  test('--dry-run: up, restart and down print what they would do, compose v2\'s way, and change nothing', () => {
    const dir = project(`
services:
  db:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck: { test: ["CMD", "true"], interval: 1s }
    secrets: [token]
  web:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: { db: { condition: service_healthy } }
    volumes: [data:/data]
secrets:
  token: { environment: TOKEN }
volumes:
  data: {}
`);
    const state = mkdtempSync('/tmp/bcc-state-');
    const env = { ...process.env, TOKEN: 't0ken', XDG_STATE_HOME: state };
    const nothing = () => {
      assert.equal(d.berth(['ps', '-aq', '--filter', 'label=com.docker.compose.project=dr']).stdout, '');
      assert.equal(d.berth(['network', 'ls', '-q', '--filter', 'name=dr_default']).stdout, '');
      assert.equal(d.berth(['volume', 'ls', '-q', '--filter', 'name=dr_data']).stdout, '');
    };
    // Without -d as with it: a dry run attaches to nothing.
    for (const args of [['--dry-run', 'up', '-d'], ['--dry-run', 'up']]) {
      const r = compose(dir, 'dr', args, env);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stderr.split('\n').filter(Boolean);
      for (const l of [' DRY-RUN MODE -  Network dr_default  Created', ' DRY-RUN MODE -  Volume "dr_data"  Created', ' DRY-RUN MODE -  Container dr-db-1  Created',
        ' DRY-RUN MODE -  Container dr-web-1  Created', ' DRY-RUN MODE -  Container dr-db-1  Healthy', ' DRY-RUN MODE -  Container dr-web-1  Started']) {
        assert.ok(lines.includes(l), `${l} in:\n${r.stderr}`);
      }
      assert.ok(lines.every((l) => l.startsWith(' DRY-RUN MODE -  ')), r.stderr);
      nothing();
    }
    assert.equal(existsSync(join(state, 'berth')), false, 'no secret written');

    assert.equal(compose(dir, 'dr', ['up', '-d'], env).code, 0);
    const started = startedAt('dr-web-1');
    const rs = compose(dir, 'dr', ['--dry-run', 'restart', '-t', '0'], env);
    assert.equal(rs.code, 0, rs.stderr);
    assert.match(rs.stderr, /^ DRY-RUN MODE - {2}Container dr-web-1 {2}Started$/m);
    assert.equal(startedAt('dr-web-1'), started);
    const down = compose(dir, 'dr', ['--dry-run', 'down', '-v', '-t', '0'], env);
    assert.equal(down.code, 0, down.stderr);
    for (const l of [' DRY-RUN MODE -  Container dr-web-1  Removed', ' DRY-RUN MODE -  Container dr-db-1  Removed', ' DRY-RUN MODE -  Network dr_default  Removed']) {
      assert.ok(down.stderr.split('\n').includes(l), `${l} in:\n${down.stderr}`);
    }
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'dr-web-1', 'dr-db-1']).stdout, 'running\nrunning\n');
    assert.equal(d.berth(['volume', 'ls', '-q', '--filter', 'name=dr_data']).stdout, 'dr_data\n');
    assert.equal(existsSync(join(state, 'berth', 'compose', 'dr', 'secrets', 'token')), true, 'the real up wrote the secret; the dry down left it');
    assert.equal(compose(dir, 'dr', ['down', '-v', '-t', '0'], env).code, 0);
    nothing();
  });

  test('labels: .project.environment_file names the .env read; a recreated container carries .replace, the one it replaced', () => {
    const dir = project(`
services:
  app:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    environment:
      MODE: \${MODE}
`);
    writeFileSync(join(dir, '.env'), 'MODE=one\n');
    const first = compose(dir, 'lb', ['up', '-d']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(label('lb-app-1', 'com.docker.compose.project.environment_file'), join(dir, '.env'));
    const labels = JSON.parse(d.berth(['inspect', '-f', '{{json .Config.Labels}}', 'lb-app-1']).stdout) as Record<string, string>;
    assert.equal('com.docker.compose.replace' in labels, false, 'a first creation replaces nothing');
    writeFileSync(join(dir, '.env'), 'MODE=two\n');
    const up = compose(dir, 'lb', ['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, / Container lb-app-1 {2}Recreated/);
    assert.equal(label('lb-app-1', 'com.docker.compose.replace'), 'app-1');
    assert.equal(d.berth(['exec', 'lb-app-1', 'sh', '-c', 'echo $MODE']).stdout, 'two\n');
    // --env-file instead of .env: that file is named.
    writeFileSync(join(dir, 'other.env'), 'MODE=two\n');
    assert.equal(compose(dir, 'lb', ['--env-file', join(dir, 'other.env'), 'up', '-d', '--force-recreate']).code, 0);
    assert.equal(label('lb-app-1', 'com.docker.compose.project.environment_file'), join(dir, 'other.env'));
    assert.equal(compose(dir, 'lb', ['down', '-t', '0']).code, 0);
  });

  test('build: secrets reach RUN --mount=type=secret and not the image; one platform builds, several are refused; cache_to is a warning', () => {
    const dir = project(`
services:
  app:
    build:
      context: ./ctx
      secrets: [token, inline]
      platforms: [linux/amd64]
      cache_to: [type=local,dest=/tmp/nowhere]
    image: bcc-built
secrets:
  token: { file: ./token.txt }
  inline: { environment: INLINE }
`);
    mkdirSync(join(dir, 'ctx'));
    writeFileSync(join(dir, 'token.txt'), 's3cret');
    writeFileSync(join(dir, 'ctx', 'Dockerfile'), [
      'FROM busybox',
      'RUN --mount=type=secret,id=token --mount=type=secret,id=inline cat /run/secrets/token /run/secrets/inline > /seen',
      'COPY . /ctx',
      '',
    ].join('\n'));
    const env = { ...process.env, INLINE: '+env' };
    const r = compose(dir, 'bs', ['build'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /service \\"app\\": cache_to is ignored, the engine's build API cannot export a build cache/);
    assert.equal(d.berth(['run', '--rm', 'bcc-built', 'cat', '/seen']).stdout, 's3cret+env');
    // The context copied whole: the secrets are not in it.
    assert.equal(d.berth(['run', '--rm', 'bcc-built', 'ls', '-A', '/ctx']).stdout, 'Dockerfile\n');
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', 'bcc-built']).stdout, 'linux/amd64\n');

    const missing = compose(dir, 'bs', ['build'], { ...process.env, INLINE: undefined });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /environment variable "INLINE" required by file "bs_inline" is not set/);

    writeFileSync(join(dir, 'compose.yaml'), `
services:
  app:
    build: { context: ./ctx, platforms: [linux/amd64, linux/arm64] }
    image: bcc-multi
`);
    const multi = compose(dir, 'bs', ['up', '-d', '--build']);
    assert.equal(multi.code, 1);
    assert.match(multi.stderr, /this builder doesn't support multi-arch build, set DOCKER_BUILDKIT=1 to use multi-arch builder/);
    assert.equal(d.berth(['ps', '-aq', '--filter', 'label=com.docker.compose.project=bs']).stdout, '');
  });

  test('wait --down-project: once the waited container exits, with its code, the project is taken down', () => {
    const dir = project(`
services:
  job:
    image: busybox
    # Long enough to be running still when wait lists the project's running containers, as docker compose's does, under CI's load.
    command: ["sh", "-c", "sleep 5; exit 3"]
  helper:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`);
    assert.equal(compose(dir, 'wd', ['up', '-d']).code, 0);
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'wd-job-1']).stdout.trim();
    const r = compose(dir, 'wd', ['wait', '--down-project', 'job']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, `container "${id}" exited with status code 3\n`);
    assert.match(r.stderr, / Container wd-helper-1 {2}Removed/);
    assert.equal(d.berth(['ps', '-aq', '--filter', 'label=com.docker.compose.project=wd']).stdout, '');
    assert.equal(d.berth(['network', 'ls', '-q', '--filter', 'name=wd_default']).stdout, '');
  });
});
