// `berth compose run`: one-off containers as docker compose v2 makes them,
// their dependencies started first, on a real daemon with real containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('compose run', () => {
  let d: TestDaemon;
  let dir: string;
  const bc = (project: string, args: string[]) => d.berth(['compose', '--project-directory', dir, '-p', project, ...args], { timeout: 120_000 });
  const names = (project: string) => d.berth(['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean).sort();

  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bt-crun-');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'note'), 'from the host\n');
    writeFileSync(join(dir, 'compose.yaml'), [
      'services:',
      '  web:',
      '    image: busybox',
      "    command: sh -c 'mkdir -p /w && echo served > /w/index.html && exec httpd -f -p 80 -h /w'",
      '    restart: always',
      '  client:',
      '    image: busybox',
      '    depends_on: [web]',
      '    restart: always',
      '    environment: { GREETING: hello, OTHER: kept }',
      '    ports: ["127.0.0.1::8080"]',
      '    command: echo the default command',
      '',
    ].join('\n'));
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts the dependency, runs the command attached, reaches it by service name, passes the exit code; --rm leaves nothing', () => {
    const r = bc('ra', ['run', '--rm', 'client', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web/ && break; sleep 0.3; done; echo $GREETING $OTHER; exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'served\nhello kept\n');
    // The dependency keeps running as a regular replica; the one-off is gone.
    assert.deepEqual(names('ra'), ['ra-web-1']);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}} {{index .Config.Labels "com.docker.compose.oneoff"}}', 'ra-web-1']).stdout, 'running False\n');
    // Without a command, the service's own.
    assert.equal(bc('ra', ['run', '--rm', 'client']).stdout, 'the default command\n');
  });

  test('a one-off is named <project>-<service>-run-<id>, labelled oneoff=True with a slug and no replica number, never restarts, publishes nothing by default', () => {
    const r = bc('rb', ['run', '-d', 'client', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const info = JSON.parse(d.berth(['inspect', id]).stdout)[0] as { Name: string; Config: { Labels: Record<string, string> }; HostConfig: { RestartPolicy: { Name: string }; PortBindings: Record<string, unknown> | null }; NetworkSettings: { Ports: Record<string, unknown> } };
    assert.match(info.Name, /^\/rb-client-run-[0-9a-f]{12}$/);
    const l = info.Config.Labels;
    assert.equal(l['com.docker.compose.oneoff'], 'True');
    assert.equal(l['com.docker.compose.project'], 'rb');
    assert.equal(l['com.docker.compose.service'], 'client');
    assert.match(l['com.docker.compose.slug'], /^[0-9a-f]{64}$/);
    assert.equal(info.Name.slice(-12), l['com.docker.compose.slug'].slice(0, 12));
    assert.equal(l['com.docker.compose.container-number'], undefined);
    assert.equal(info.HostConfig.RestartPolicy.Name, 'no');
    assert.deepEqual(Object.keys(info.HostConfig.PortBindings ?? {}), []);
    // ps leaves one-offs out unless -a.
    assert.equal(bc('rb', ['ps', '--format', '{{.Name}}']).stdout, 'rb-web-1\n');
    // Sorted by name, as compose sorts them.
    assert.equal(bc('rb', ['ps', '-a', '--format', '{{.Name}}']).stdout, `${info.Name.slice(1)}\nrb-web-1\n`);
    // exec and logs never pick a one-off for the service.
    assert.equal(bc('rb', ['exec', '-T', 'client', 'true']).stderr, 'service "client" is not running\n');
  });

  test('-e, -u, -w, --entrypoint, --name, -v, -l override the service for this run only', () => {
    const r = bc('rc', ['run', '--rm', '--no-deps', '-e', 'GREETING=overridden', '-e', 'FROM_SHELL', '-u', 'nobody', '-w', '/tmp', '-v', `${join(dir, 'data')}:/data:ro`,
      '--entrypoint', 'sh -c', 'client', 'echo $GREETING $OTHER $FROM_SHELL $(id -un) $(pwd); cat /data/note']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'overridden kept nobody /tmp\nfrom the host\n');
    const named = bc('rc', ['run', '-d', '--no-deps', '--name', 'my-oneoff', '-l', 'purpose=test', 'client', 'sleep', '600']);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(d.berth(['inspect', '-f', '{{index .Config.Labels "purpose"}} {{index .Config.Labels "com.docker.compose.oneoff"}}', 'my-oneoff']).stdout, 'test True\n');
  });

  test('--no-deps starts nothing else', () => {
    assert.equal(bc('rd', ['run', '--rm', '--no-deps', 'client', 'true']).code, 0);
    assert.deepEqual(names('rd'), []);
    assert.match(d.berth(['network', 'ls', '--format', '{{.Name}}']).stdout, /^rd_default$/m);
  });

  test('-p publishes the given port, --service-ports the service\'s; the two together are refused', () => {
    const a = bc('re', ['run', '-d', '--no-deps', '-p', '127.0.0.1::9090', 'client', 'sleep', '600']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(d.berth(['port', a.stdout.trim()]).stdout, /^9090\/tcp -> 127\.0\.0\.1:\d+\n$/);
    const b = bc('re', ['run', '-d', '--no-deps', '--service-ports', 'client', 'sleep', '600']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(d.berth(['port', b.stdout.trim()]).stdout, /^8080\/tcp -> 127\.0\.0\.1:\d+\n$/);
    const both = bc('re', ['run', '-P', '-p', '1:1', 'client']);
    assert.equal(both.code, 1);
    assert.equal(both.stderr, '--service-ports and --publish are incompatible\n');
  });

  test('an unknown service is refused before anything is made', () => {
    const r = bc('rf', ['run', 'nosuch']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'no such service: nosuch\n');
    assert.deepEqual(names('rf'), []);
    assert.doesNotMatch(d.berth(['network', 'ls', '--format', '{{.Name}}']).stdout, /rf_default/);
  });
});
