// `berth compose` with images it builds (the engine's POST /build with the
// service's build: section), secrets and configs from files and from the
// environment, and `up --wait`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type RunResult, type TestDaemon } from '../helpers/daemon.ts';

function project(files: Record<string, string>): string {
  const dir = mkdtempSync('/tmp/bcb-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('berth compose build, secrets, --wait', () => {
  let d: TestDaemon;
  const compose = (dir: string, name: string, args: string[], env?: NodeJS.ProcessEnv): RunResult =>
    d.berth(['compose', '--project-directory', dir, '-f', join(dir, 'compose.yaml'), '-p', name, ...args], { timeout: 180_000, env });

  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('build makes <project>-<service> from the build section; up --build rebuilds and recreates on a change', () => {
    const dir = project({
      'compose.yaml': `
services:
  app:
    build:
      context: .
      args:
        WORD: built
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  inline:
    build:
      context: .
      dockerfile_inline: |
        FROM busybox
        RUN echo inline > /made
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`,
      Dockerfile: 'FROM busybox\nARG WORD\nRUN echo $WORD > /made\n',
    });
    const b = compose(dir, 'bld', ['build']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, / Image bld-app {2}Built\n/);
    assert.match(d.berth(['image', 'inspect', '-f', '{{.Id}}', 'bld-app']).stdout, /^sha256:[0-9a-f]{64}\n$/);
    const up = compose(dir, 'bld', ['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.doesNotMatch(up.stderr, /Building/, 'images already built are not built again');
    assert.equal(d.berth(['exec', 'bld-app-1', 'cat', '/made']).stdout, 'built\n');
    assert.equal(d.berth(['exec', 'bld-inline-1', 'cat', '/made']).stdout, 'inline\n');
    const before = d.berth(['inspect', '-f', '{{.Id}}', 'bld-app-1']).stdout;
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nARG WORD\nRUN echo $WORD again > /made\n');
    const again = compose(dir, 'bld', ['up', '-d', '--build']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, / Container bld-app-1 {2}Recreated\n/);
    assert.notEqual(d.berth(['inspect', '-f', '{{.Id}}', 'bld-app-1']).stdout, before);
    assert.equal(d.berth(['exec', 'bld-app-1', 'cat', '/made']).stdout, 'built again\n');
    const down = compose(dir, 'bld', ['down', '--rmi', 'local', '-t', '0']);
    assert.equal(down.code, 0, down.stderr);
    assert.notEqual(d.berth(['image', 'inspect', 'bld-app']).code, 0, '--rmi local removes the images compose named');
  });

  test('file- and environment-backed secrets and configs are files in the container; down removes the written ones', () => {
    const state = mkdtempSync('/tmp/bcb-state-');
    const dir = project({
      'compose.yaml': `
services:
  s:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    secrets: [from_file, from_env]
    configs:
      - source: conf
        target: /etc/app.conf
secrets:
  from_file:
    file: ./secret.txt
  from_env:
    environment: TOKEN
configs:
  conf:
    file: ./app.conf
`,
      'secret.txt': 'file secret\n',
      'app.conf': 'key=value\n',
    });
    const env = { ...process.env, TOKEN: 'from the environment', XDG_STATE_HOME: state };
    const r = compose(dir, 'sec', ['up', '-d'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['exec', 'sec-s-1', 'cat', '/run/secrets/from_file']).stdout, 'file secret\n');
    assert.equal(d.berth(['exec', 'sec-s-1', 'cat', '/run/secrets/from_env']).stdout, 'from the environment');
    assert.equal(d.berth(['exec', 'sec-s-1', 'cat', '/etc/app.conf']).stdout, 'key=value\n');
    assert.ok(existsSync(join(state, 'berth/compose/sec/secrets/from_env')));
    assert.equal(compose(dir, 'sec', ['down', '-t', '0'], env).code, 0);
    assert.ok(!existsSync(join(state, 'berth/compose/sec')), 'the written secret goes with the project');
  });

  test('up --wait returns once services are healthy; an unhealthy one fails it', () => {
    const dir = project({
      'compose.yaml': `
services:
  good:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 30
  plain:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`,
    });
    const r = compose(dir, 'wt', ['up', '--wait']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Health.Status}}', 'wt-good-1']).stdout, 'healthy\n');
    assert.equal(compose(dir, 'wt', ['down', '-t', '0']).code, 0);

    const bad = project({
      'compose.yaml': `
services:
  sick:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 200ms
      retries: 2
`,
    });
    const f = compose(bad, 'wb', ['up', '--wait']);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /container wb-sick-1 is unhealthy/);
    assert.equal(compose(bad, 'wb', ['down', '-t', '0']).code, 0);
  });
});
