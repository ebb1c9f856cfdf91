// `compose push` and `compose pull` against the CNCF distribution registry on
// loopback: a service built and named for the registry goes there and comes
// back into a daemon that has lost it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type RunResult, type TestDaemon } from '../helpers/daemon.ts';
import { type CncfRegistry, startCncfRegistry } from '../helpers/registries.ts';
import { hasBinary } from '../registry/helpers.ts';

describe('berth compose push and pull', { skip: hasBinary('docker-registry') ? false : 'no docker-registry' }, () => {
  let d: TestDaemon;
  let reg: CncfRegistry;
  let dir: string;
  const compose = (args: string[]): RunResult => d.berth(['compose', '-f', join(dir, 'compose.yaml'), '-p', 'reg', ...args], { timeout: 120_000 });

  before(async () => {
    d = await startSeededDaemon();
    reg = await startCncfRegistry();
    dir = mkdtempSync('/tmp/bcr-');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo pushed > /made\n');
    writeFileSync(join(dir, 'compose.yaml'), `
services:
  app:
    image: ${reg.host}/compose/app:1
    build: .
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  plain:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`);
  });
  after(async () => {
    await d.destroy();
    await reg.stop();
  });

  test('build, push, lose the image, pull it back, and run it', async () => {
    assert.equal(compose(['build']).code, 0);
    const push = compose(['push', 'app']);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, new RegExp(` Image ${reg.host}/compose/app:1 {2}Pushed\\n`));
    const tags = await (await fetch(`${reg.url}/v2/compose/app/tags/list`)).json() as { tags: string[] };
    assert.deepEqual(tags.tags, ['1']);
    assert.equal(d.berth(['rmi', `${reg.host}/compose/app:1`]).code, 0);
    const pull = compose(['pull', 'app']);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stderr, / app {2}Pulled\n/);
    const up = compose(['up', '-d', '--no-build']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(d.berth(['exec', 'reg-app-1', 'cat', '/made']).stdout, 'pushed\n');
    assert.equal(compose(['down', '-t', '0']).code, 0);
  });

  test('a pull that fails names the image; --ignore-pull-failures carries on', () => {
    writeFileSync(join(dir, 'compose.yaml'), `
services:
  missing:
    image: ${reg.host}/compose/nothing:1
`);
    const r = compose(['pull']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, / missing {2}Error\n/);
    assert.match(r.stderr, /compose\/nothing/);
    assert.equal(compose(['pull', '--ignore-pull-failures']).code, 0);
  });
});
