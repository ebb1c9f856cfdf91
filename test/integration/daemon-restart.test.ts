// Containers outlive the daemon: kill -9 it, start it again, and everything
// carries on — logs without loss, stop, exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('daemon restart', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('a running container survives kill -9 of the daemon and is managed again after restart', async () => {
    d.berth(['run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'i=0; trap "exit 42" TERM; while true; do echo n$i; i=$((i+1)); sleep 0.2; done']);
    await sleep(600);
    const pid = d.berth(['inspect', '-f', '{{.State.Pid}}', 'counter']).stdout.trim();
    await d.crash();
    await sleep(1000); // the container keeps writing while no daemon runs
    assert.doesNotThrow(() => process.kill(Number(pid), 0), 'the container process is alive without the daemon');
    await d.start();
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', 'counter']).stdout, `running ${pid}\n`);

    const follower = d.spawnBerth(['logs', '-f', 'counter'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout?.on('data', (c: Buffer) => { out += c; });
    await sleep(800);
    assert.equal(d.berth(['stop', 'counter']).code, 0);
    await once(follower, 'exit');
    const lines = out.trim().split('\n');
    // Every line, in order, with none lost across the crash.
    lines.forEach((l, i) => assert.equal(l, `n${i}`));
    assert.ok(lines.length >= 10, `${lines.length} lines`);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'counter']).stdout, 'exited 42\n');
  });

  test('a container that exits while the daemon is down gets its exit code recorded', async () => {
    d.berth(['run', '-d', '--name', 'brief', 'busybox', 'sh', '-c', 'sleep 1; exit 9']);
    await d.crash();
    await sleep(1800);
    await d.start();
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'brief']).stdout, 'exited 9\n');
    assert.equal(d.berth(['wait', 'brief']).stdout, '9\n');
  });

  test('the pidfile refuses a second daemon, but not a pid that kill -9 freed and another process took', async () => {
    const pidfile = join(d.dir, 'berth.pid');
    const second = spawnSync(BERTH, ['daemon', '-H', `unix://${join(d.dir, 'second.sock')}`, '--data-root', d.dataRoot, '--exec-root', d.execRoot, '--pidfile', pidfile], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(second.status, 1);
    assert.match(second.stderr + second.stdout, /pid file found, ensure berth is not running or delete/);

    await d.crash();
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(pidfile, String(stranger.pid)); // the dead daemon's pid, now some other program's
      await d.start();
      assert.equal(d.berth(['version', '--format', '{{.Server.Os}}']).stdout, 'linux\n');
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  test('restart restores exactly the state it left: names, stopped containers, images', async () => {
    d.berth(['create', '--name', 'dormant', 'busybox', 'true']);
    const before = d.berth(['ps', '-a', '--format', '{{.Names}} {{.State}}']).stdout;
    const images = d.berth(['images', '-q']).stdout;
    await d.crash();
    await d.start();
    assert.equal(d.berth(['ps', '-a', '--format', '{{.Names}} {{.State}}']).stdout, before);
    assert.equal(d.berth(['images', '-q']).stdout, images);
    assert.equal(d.berth(['start', '-a', 'dormant']).code, 0);
    // No temp files are left behind by atomic writes.
    const stray = readdirSync(`${d.dataRoot}/containers`).flatMap((id) => readdirSync(`${d.dataRoot}/containers/${id}`)).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(stray, []);
  });

  test('a second daemon with its own roots runs beside the first without disturbing it', async () => {
    const other = await startSeededDaemon();
    try {
      other.berth(['run', '-d', '--name', 'counter', 'busybox', 'sleep', '300']);
      assert.equal(d.berth(['ps', '-a', '--format', '{{.Names}}']).stdout.includes('counter'), true);
      assert.equal(other.berth(['ps', '--format', '{{.Names}} {{.State}}']).stdout, 'counter running\n');
      assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'counter']).stdout, 'exited\n', 'same name, separate daemons');
    } finally {
      await other.destroy();
    }
    assert.equal(d.berth(['run', '--rm', 'busybox', 'echo', 'still fine']).stdout, 'still fine\n');
  });
});
