// The container lifecycle commands through berth's CLI: create/start/stop/
// kill/restart/wait/rm/rename/ps/logs/inspect/export/prune.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { startSeededDaemon, waitForNextSecond, type TestDaemon } from '../helpers/daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('container lifecycle', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('create then start -a attaches to the output', () => {
    const id = d.berth(['create', '--name', 'c1', 'busybox', 'echo', 'created']).stdout.trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    assert.equal(d.berth(['ps', '-a', '--format', '{{.Names}}:{{.State}}']).stdout, 'c1:created\n');
    const r = d.berth(['start', '-a', 'c1']);
    assert.equal(r.stdout, 'created\n');
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}/{{.State.ExitCode}}', 'c1']).stdout, 'exited/0\n');
    assert.equal(d.berth(['rm', 'c1']).code, 0);
  });

  test('stop sends SIGTERM then SIGKILL after -t; kill; restart; wait', async () => {
    d.berth(['run', '-d', '--name', 'trap', 'busybox', 'sh', '-c', 'trap "echo got-term; exit 7" TERM; while true; do sleep 0.1; done']);
    const t0 = Date.now();
    assert.equal(d.berth(['stop', 'trap']).stdout, 'trap\n');
    assert.ok(Date.now() - t0 < 5000, 'a process that handles SIGTERM stops at once');
    assert.equal(d.berth(['inspect', '-f', '{{.State.ExitCode}}', 'trap']).stdout, '7\n');
    assert.match(d.berth(['logs', 'trap']).stdout, /got-term/);

    d.berth(['run', '-d', '--name', 'stubborn', 'busybox', 'sleep', '300']);
    const t1 = Date.now();
    d.berth(['stop', '-t', '1', 'stubborn']);
    const took = Date.now() - t1;
    assert.ok(took >= 900 && took < 6000, `stop -t 1 took ${took}ms`);
    assert.equal(d.berth(['inspect', '-f', '{{.State.ExitCode}}', 'stubborn']).stdout, '137\n');

    assert.equal(d.berth(['restart', 'stubborn']).code, 0);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', 'stubborn']).stdout, 'true\n');
    const waiter = d.spawnBerth(['wait', 'stubborn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    waiter.stdout?.on('data', (c: Buffer) => { out += c; });
    await sleep(300);
    assert.equal(d.berth(['kill', '-s', 'USR1', 'stubborn']).code, 0);
    await sleep(300);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', 'stubborn']).stdout, 'true\n', 'busybox sleep as PID 1 ignores unhandled USR1');
    d.berth(['kill', 'stubborn']);
    await once(waiter, 'exit');
    assert.equal(out, '137\n');

    const notRunning = d.berth(['kill', 'stubborn']);
    assert.equal(notRunning.code, 1);
    assert.match(notRunning.stderr, /is not running/);
    d.berth(['rm', 'trap', 'stubborn']);
  });

  test('rm refuses a running container, rm -f removes it', () => {
    d.berth(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '300']);
    const r = d.berth(['rm', 'busy']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: You cannot remove a running container [a-f0-9]{64}\. Stop the container before attempting removal or force remove/);
    assert.equal(d.berth(['rm', '-f', 'busy']).code, 0);
    const gone = d.berth(['inspect', 'busy']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such object: busy/);
  });

  test('rename, and name conflicts', () => {
    d.berth(['create', '--name', 'old', 'busybox', 'true']);
    d.berth(['create', '--name', 'taken', 'busybox', 'true']);
    const clash = d.berth(['rename', 'old', 'taken']);
    assert.match(clash.stderr, /Conflict\. The container name "\/taken" is already in use by container "[a-f0-9]{64}"/);
    assert.equal(d.berth(['rename', 'old', 'new']).code, 0);
    assert.equal(d.berth(['inspect', '-f', '{{.Name}}', 'new']).stdout, '/new\n');
    const dup = d.berth(['create', '--name', 'new', 'busybox', 'true']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /is already in use/);
    d.berth(['rm', 'new', 'taken']);
  });

  test('ps: default table, -q, -a, -n, -l, --no-trunc, filters and --format', () => {
    const a = d.berth(['run', '-d', '--name', 'psa', '--label', 'app=x', 'busybox', 'sleep', '300']).stdout.trim();
    d.berth(['run', '--name', 'psb', 'busybox', 'sh', '-c', 'exit 2']);
    const table = d.berth(['ps']).stdout.split('\n');
    assert.match(table[0], /^CONTAINER ID   IMAGE     COMMAND       CREATED\s+STATUS\s+PORTS     NAMES$/);
    assert.match(table[1], new RegExp(`^${a.slice(0, 12)}   busybox   "sleep 300"   .+ ago\\s+Up .+\\s+psa$`));
    assert.equal(table.length, 3);
    assert.equal(d.berth(['ps', '-q']).stdout, a.slice(0, 12) + '\n');
    assert.equal(d.berth(['ps', '-q', '--no-trunc']).stdout, a + '\n');
    assert.equal(d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length, 2);
    assert.equal(d.berth(['ps', '-l', '--format', '{{.Names}}']).stdout, 'psb\n');
    assert.equal(d.berth(['ps', '-n', '2', '--format', '{{.Names}}']).stdout, 'psb\npsa\n');
    assert.equal(d.berth(['ps', '-a', '-f', 'status=exited', '--format', '{{.Names}} {{.Status}}']).stdout.replace(/\d+ seconds?|Less than a second/, 'N'), 'psb Exited (2) N ago\n');
    assert.equal(d.berth(['ps', '-a', '-f', 'exited=2', '-q']).stdout.split('\n').filter(Boolean).length, 1);
    assert.equal(d.berth(['ps', '-f', 'label=app=x', '--format', '{{.Names}} {{.Label "app"}}']).stdout, 'psa x\n');
    assert.equal(d.berth(['ps', '-a', '-f', 'name=ps', '--format', '{{json .Names}}']).stdout, '"psb"\n"psa"\n');
    const bad = d.berth(['ps', '-f', 'bogus=1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid filter 'bogus'/);
    d.berth(['rm', '-f', 'psa', 'psb']);
  });

  test('logs: stdout/stderr, --tail, -t, --since, and -f until the container exits', async () => {
    d.berth(['run', '--name', 'logger', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2']);
    const all = d.berth(['logs', 'logger']);
    assert.equal(all.stdout, 'line1\nline2\nline3\nline4\nline5\n');
    assert.equal(all.stderr, 'oops\n');
    assert.equal(d.berth(['logs', '--tail', '2', 'logger']).stdout, 'line5\n');
    assert.match(d.berth(['logs', '-t', '--tail', '1', 'logger']).stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z oops\n$/);
    assert.equal(d.berth(['logs', '--since', '2099-01-01', 'logger']).stdout, '');
    // The on-disk format is Docker's json-file.
    const logPath = d.berth(['inspect', '-f', '{{.LogPath}}', 'logger']).stdout.trim();
    const first = JSON.parse(readFileSync(logPath, 'utf8').split('\n')[0]) as Record<string, string>;
    assert.deepEqual(Object.keys(first), ['log', 'stream', 'time']);
    assert.equal(first.log, 'line1\n');
    assert.equal(first.stream, 'stdout');

    d.berth(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo tick$i; sleep 0.3; done']);
    const follower = d.spawnBerth(['logs', '-f', 'ticker'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout?.on('data', (c: Buffer) => { out += c; });
    const [code] = await once(follower, 'exit');
    assert.equal(code, 0);
    assert.equal(out, 'tick1\ntick2\ntick3\n');
    d.berth(['rm', 'logger', 'ticker']);
  });

  test('log rotation with --log-opt max-size and max-file', () => {
    d.berth(['run', '--name', 'rot', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done']);
    const logPath = d.berth(['inspect', '-f', '{{.LogPath}}', 'rot']).stdout.trim();
    assert.ok(statSync(logPath).size <= 1024);
    assert.ok(statSync(logPath + '.1').size <= 1024);
    const logs = d.berth(['logs', 'rot']).stdout.split('\n').filter(Boolean);
    assert.equal(logs[logs.length - 1], 'line-199');
    assert.ok(logs.length < 200, 'older lines were rotated away');
    d.berth(['rm', 'rot']);
  });

  test('inspect has Docker\'s shape', () => {
    d.berth(['create', '--name', 'shape', '-e', 'X=1', 'busybox', 'sleep', '1']);
    const [c] = JSON.parse(d.berth(['inspect', 'shape']).stdout) as Record<string, unknown>[];
    for (const k of ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name', 'RestartCount', 'Driver', 'Platform', 'HostConfig', 'GraphDriver', 'Mounts', 'Config', 'NetworkSettings']) {
      assert.ok(k in c, `inspect has ${k}`);
    }
    assert.equal(c.Path, 'sleep');
    assert.deepEqual(c.Args, ['1']);
    assert.equal(c.Driver, 'overlay2');
    const cfg = c.Config as { Env: string[]; Cmd: string[]; Image: string };
    assert.ok(cfg.Env.includes('X=1'));
    assert.ok(cfg.Env.some((e) => e.startsWith('PATH=')));
    assert.deepEqual(cfg.Cmd, ['sleep', '1']);
    assert.equal(cfg.Image, 'busybox');
    d.berth(['rm', 'shape']);
  });

  test('export writes the container filesystem as a tar', () => {
    d.berth(['run', '--name', 'exp', 'busybox', 'sh', '-c', 'echo data > /marker']);
    const r = d.berth(['export', '-o', `${d.dir}/exp.tar`, 'exp']);
    assert.equal(r.code, 0, r.stderr);
    const list = d.berth(['run', '--rm', 'busybox', 'true']); // the daemon is still fine after export
    assert.equal(list.code, 0);
    const names = readFileSync(`${d.dir}/exp.tar`).toString('latin1');
    assert.ok(names.includes('marker'));
    assert.ok(names.includes('bin/busybox'));
    d.berth(['rm', 'exp']);
  });

  test('container prune removes stopped containers only', () => {
    d.berth(['run', '-d', '--name', 'keep', 'busybox', 'sleep', '300']);
    d.berth(['run', '--name', 'drop1', 'busybox', 'true']);
    d.berth(['run', '--name', 'drop2', 'busybox', 'true']);
    const r = d.berth(['container', 'prune', '-f']);
    assert.match(r.stdout, /^Deleted Containers:\n[a-f0-9]{64}\n[a-f0-9]{64}\n\nTotal reclaimed space: .+B\n$/);
    assert.equal(d.berth(['ps', '-a', '--format', '{{.Names}}']).stdout, 'keep\n');
    d.berth(['rm', '-f', 'keep']);
  });

  test('events stream what happens', async () => {
    const ev = d.spawnBerth(['events', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}', '-f', 'container=evt'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    ev.stdout?.on('data', (c: Buffer) => { out += c; });
    await sleep(300);
    d.berth(['run', '--rm', '--name', 'evt', 'busybox', 'true']);
    await until(() => out.includes('destroy'));
    ev.kill();
    waitForNextSecond();
    assert.deepEqual(out.trim().split('\n'), ['container create evt', 'container attach evt', 'container start evt', 'container die evt', 'container destroy evt']);
    const since = d.berth(['events', '--since', '1m', '--until', '0s', '-f', 'event=destroy', '--format', '{{.Actor.Attributes.name}}']);
    assert.match(since.stdout, /^evt$/m);
  });
});
