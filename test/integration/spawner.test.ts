// The daemon starts its commands and shims through berth-spawn
// (src/files/spawner.ts): a helper that dies is replaced at the next command,
// containers never depend on it, and it does not outlive the daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon's berth-spawn children. */
function helpers(daemonPid: number): number[] {
  return spawnSync('pgrep', ['-P', String(daemonPid), '-x', 'berth-spawn'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
}

/** Running (a zombie is not: an orphan's new parent may be a subreaper slow to reap it). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('berth-spawn', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('a killed helper is replaced at the next command; the containers it started live on, networked', async () => {
    assert.equal(d.berth(['run', '-d', '--name', 'first', 'busybox', 'sleep', '600']).code, 0);
    const [helper] = helpers(d.pid!);
    assert.ok(helper, 'the daemon runs a berth-spawn');
    const pid = Number(d.berth(['inspect', '-f', '{{.State.Pid}}', 'first']).stdout.trim());
    process.kill(helper, 'SIGKILL');
    await sleep(300);
    assert.ok(alive(pid), 'the container outlives the helper that started its shim');

    const r = d.berth(['run', '-d', '--name', 'second', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    const now = helpers(d.pid!);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], helper);
    const ip = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'first']).stdout.trim();
    const ping = d.berth(['exec', 'second', 'ping', '-c', '1', '-W', '2', ip]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);

    // rm -f tears the network down through the helper's builtins: namespace file and links gone.
    const netns = d.berth(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'first']).stdout.trim();
    assert.ok(existsSync(netns), netns);
    assert.equal(d.berth(['rm', '-f', 'first', 'second']).code, 0);
    assert.ok(!existsSync(netns), 'the namespace file is gone');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(netns), 'the namespace is unmounted');
    assert.ok(!alive(pid));
  });

  test('a command that cannot be run fails as before, and the helper ends with the daemon', async () => {
    const bad = d.berth(['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(bad.code, 127, bad.stderr);
    assert.match(bad.stderr, /no-such-command/);
    assert.equal(d.berth(['run', '-d', '--name', 'stays', 'busybox', 'sleep', '600']).code, 0);
    const pid = Number(d.berth(['inspect', '-f', '{{.State.Pid}}', 'stays']).stdout.trim());
    const [helper] = helpers(d.pid!);
    assert.ok(helper);
    await d.crash();
    await sleep(300);
    assert.ok(!alive(helper), 'berth-spawn does not outlive a daemon killed with SIGKILL');
    assert.ok(alive(pid), 'the container does');
    await d.start();
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'stays']).stdout, 'running\n');
    assert.equal(d.berth(['rm', '-f', 'stays']).code, 0);
  });
});
