// depends_on conditions beyond health, orphans, and an attached `up` ended by
// Ctrl-C: what a user sees and what the engine has afterwards.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type RunResult, type TestDaemon } from '../helpers/daemon.ts';

function project(text: string): string {
  const dir = mkdtempSync('/tmp/bcd-');
  writeFileSync(join(dir, 'compose.yaml'), text);
  return dir;
}

describe('berth compose dependencies and orphans', () => {
  let d: TestDaemon;
  const compose = (dir: string, name: string, args: string[]): RunResult =>
    d.berth(['compose', '-f', join(dir, 'compose.yaml'), '-p', name, ...args], { timeout: 120_000 });
  const state = (name: string) => d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name]).stdout.trim();

  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('service_completed_successfully: the app starts after the migration exits 0; a failed one stops up with its code', () => {
    const file = (code: number) => `
services:
  migrate:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; exit ${code}"]
  app:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on:
      migrate:
        condition: service_completed_successfully
`;
    const ok = project(file(0));
    const r = compose(ok, 'mig', ['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    assert.ok(lines.indexOf(' Container mig-migrate-1  Exited') < lines.indexOf(' Container mig-app-1  Starting'), r.stderr);
    assert.equal(state('mig-migrate-1'), 'exited 0');
    assert.equal(state('mig-app-1'), 'running 0');
    assert.equal(compose(ok, 'mig', ['down', '-t', '0']).code, 0);

    const bad = project(file(4));
    const f = compose(bad, 'migbad', ['up', '-d']);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /service "migrate" didn't complete successfully: exit 4\n$/);
    assert.equal(state('migbad-app-1'), 'created 0', 'the app is created but never started');
    assert.equal(compose(bad, 'migbad', ['down']).code, 0);
  });

  test('a service removed from the file leaves an orphan: up warns, --remove-orphans removes it', () => {
    const two = project('services:\n  keep:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n  old:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n');
    assert.equal(compose(two, 'orph', ['up', '-d']).code, 0);
    writeFileSync(join(two, 'compose.yaml'), 'services:\n  keep:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n');
    const r = compose(two, 'orph', ['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Found orphan containers \(\[orph-old-1\]\) for this project\. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up\./);
    assert.equal(state('orph-old-1'), 'running 0');
    const rm = compose(two, 'orph', ['up', '-d', '--remove-orphans']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stderr, / Container orph-old-1 {2}Removed\n/);
    assert.notEqual(d.berth(['inspect', 'orph-old-1']).code, 0);
    assert.equal(compose(two, 'orph', ['down', '-t', '0']).code, 0);
  });

  test('network_mode and volumes_from name another service: its container\'s network and volumes', () => {
    const dir = project(`
services:
  main:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo from-main > /www/index.html && echo shared > /data/x && exec httpd -f -p 8080 -h /www"]
    stop_signal: SIGKILL
    volumes: ["/data"]
  side:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    network_mode: service:main
    volumes_from: [main:ro]
    depends_on: [main]
`);
    const r = compose(dir, 'nm', ['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['inspect', '-f', '{{.HostConfig.NetworkMode}}', 'nm-side-1']).stdout, 'container:nm-main-1\n');
    const page = d.berth(['exec', 'nm-side-1', 'sh', '-c', 'for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.1; done']);
    assert.equal(page.stdout, 'from-main\n', 'side shares main\'s network namespace');
    assert.equal(d.berth(['exec', 'nm-side-1', 'cat', '/data/x']).stdout, 'shared\n');
    assert.equal(compose(dir, 'nm', ['down', '-v', '-t', '0']).code, 0);
  });

  test('down -p without a compose file takes down what the engine has under the project\'s label', () => {
    const dir = project('services:\n  s:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n    volumes: [data:/data]\nvolumes:\n  data: {}\n');
    assert.equal(compose(dir, 'nofile', ['up', '-d']).code, 0);
    const empty = mkdtempSync('/tmp/bcd-empty-');
    const r = spawnSync(BERTH, ['-H', d.host, 'compose', '-p', 'nofile', 'down', '-v', '-t', '0'], { cwd: empty, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, / Container nofile-s-1 {2}Removed\n/);
    assert.match(r.stderr, / Network nofile_default {2}Removed\n/);
    assert.match(r.stderr, / Volume nofile_data {2}Removed\n/);
    assert.equal(d.berth(['ps', '-aq', '--filter', 'label=com.docker.compose.project=nofile']).stdout, '');
    const again = spawnSync(BERTH, ['-H', d.host, 'compose', '-p', 'nofile', 'down'], { cwd: empty, encoding: 'utf8' });
    assert.equal(again.status, 0);
    assert.equal(again.stderr, 'Warning: No resource found to remove for project "nofile".\n');
  });

  test('Ctrl-C on an attached up stops the project\'s containers gracefully and exits 130', async () => {
    const dir = project('services:\n  loop:\n    image: busybox\n    command: ["sh", "-c", "echo ready; trap \'echo bye; exit 0\' TERM; while true; do sleep 0.1; done"]\n');
    const p = spawn(BERTH, ['-H', d.host, 'compose', '-f', join(dir, 'compose.yaml'), '-p', 'ctrlc', 'up'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => { out += c; });
    p.stderr.on('data', (c: Buffer) => { err += c; });
    const deadline = Date.now() + 60_000;
    while (!out.includes('loop-1  | ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, /loop-1 {2}\| ready\n/);
    p.kill('SIGINT');
    const code = await new Promise<number | null>((r) => p.once('close', (c) => r(c)));
    assert.equal(code, 130, err);
    assert.match(err, /Gracefully stopping\.\.\. \(press Ctrl\+C again to force\)\n/);
    assert.match(err, / Container ctrlc-loop-1 {2}Stopped\n/);
    assert.equal(state('ctrlc-loop-1'), 'exited 0', 'stopped with SIGTERM, which the trap answered');
    assert.equal(d.berth(['logs', 'ctrlc-loop-1']).stdout, 'ready\nbye\n');
    assert.equal(compose(dir, 'ctrlc', ['down']).code, 0);
  });
});
