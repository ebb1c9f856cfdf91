// The daemon starts its commands and shims through berth-spawn
// (src/files/spawner.ts): a helper that dies is replaced at the next command,
// containers never depend on it, and it does not outlive the daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { alive } from '../helpers/store-checks.ts';
import { runToEnd, startDetached, useSpawnHelper } from '../../src/files/spawner.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon's berth-spawn children. */
function helpers(daemonPid: number): number[] {
  return spawnSync('pgrep', ['-P', String(daemonPid), '-x', 'berth-spawn'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
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

describe('berth-spawn against Node spawn', () => {
  const helperBin = join(dirname(BERTH), 'berth-spawn');
  after(() => useSpawnHelper(null));

  /** The same command through the helper and through Node's spawn. */
  async function both<T>(f: () => Promise<T>): Promise<[T, T]> {
    useSpawnHelper(helperBin);
    const viaHelper = await f();
    useSpawnHelper(null);
    const viaNode = await f();
    return [viaHelper, viaNode];
  }

  test('exit codes, signals, stdin, stdout and stderr, LC_ALL=C, a clean signal mask: as Node spawn gives them', async () => {
    const cases: [string, string[], string?][] = [
      ['sh', ['-c', 'cat; echo to-err >&2; echo "$LC_ALL"; exit 3'], 'some input\n'],
      ['sh', ['-c', 'kill -TERM $$']],
      ['sh', ['-c', 'grep -E "^Sig(Blk|Ign)" /proc/self/status']],
      ['head', ['-c', '3000000', '/dev/zero']],
      ['wc', ['-c'], 'x'.repeat(1 << 20)],
      ['true', []],
    ];
    for (const [cmd, args, input] of cases) {
      const [h, n] = await both(() => runToEnd(cmd, args, input));
      assert.deepEqual(h, n, `${cmd} ${args.join(' ')}`);
    }
    const [h, n] = await both(() => runToEnd('/no/such/tool', []).then(() => 'ran', (e: NodeJS.ErrnoException) => `${e.code} ${e.message}`));
    assert.equal(h, 'ENOENT spawn /no/such/tool ENOENT');
    assert.equal(h, n);
  });

  test('a detached process: its own session, fd 3 read to its end, not waited for', async () => {
    const script = 'echo "ok $$ $(cut -d" " -f6 /proc/$$/stat)" >&3; exec 3>&-; sleep 5';
    const timed = async () => {
      const t0 = Date.now();
      const r = await startDetached('sh', ['-c', script]);
      assert.ok(Date.now() - t0 < 4000, 'answered when fd 3 closed, not at the exit');
      return r;
    };
    const [h, n] = await both(timed);
    for (const r of [h, n]) {
      const [ok, pid, sid] = r.fd3.trim().split(' ');
      assert.equal(ok, 'ok');
      assert.equal(Number(pid), r.pid);
      assert.equal(sid, pid, 'the session is its own');
    }
  });

  test('a hundred commands at once all get their own answers', async () => {
    useSpawnHelper(helperBin);
    const outs = await Promise.all(Array.from({ length: 100 }, (_, i) => runToEnd('sh', ['-c', `echo ${i}; exit ${i % 7}`])));
    outs.forEach((r, i) => assert.deepEqual([r.stdout.toString(), r.code], [`${i}\n`, i % 7]));
    useSpawnHelper(null);
  });
});
