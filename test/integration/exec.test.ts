// `exec` starts a new process in a running container; `attach` joins PID 1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('exec and attach', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'box', '-e', 'FROM_RUN=1', 'busybox', 'sleep', '600']);
  });
  after(async () => { await d.destroy(); });

  test('exec runs a new process and returns its exit code', () => {
    const r = d.berth(['exec', 'box', 'sh', '-c', 'echo $FROM_RUN; echo $$; exit 5']);
    assert.equal(r.code, 5);
    const [env, pid] = r.stdout.trim().split('\n');
    assert.equal(env, '1', 'exec inherits the container environment');
    assert.notEqual(pid, '1', 'exec is not PID 1');
  });

  test('exec -e -w -u', () => {
    const r = d.berth(['exec', '-e', 'X=y', '-w', '/tmp', '-u', 'nobody', 'box', 'sh', '-c', 'echo $X; pwd; id -u']);
    assert.equal(r.stdout, 'y\n/tmp\n65534\n');
  });

  test('exec -i feeds stdin', () => {
    const r = d.berth(['exec', '-i', 'box', 'sh', '-c', 'tr a-z A-Z'], { input: 'shout\n' });
    assert.equal(r.stdout, 'SHOUT\n');
  });

  test('exec -t allocates a terminal', () => {
    const r = run('script', ['-qec', `${BERTH} -H ${d.host} exec -t box tty`, '/dev/null']);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  test('exec -d runs detached', async () => {
    assert.equal(d.berth(['exec', '-d', 'box', 'sh', '-c', 'echo detached > /tmp/d']).code, 0);
    await sleep(300);
    assert.equal(d.berth(['exec', 'box', 'cat', '/tmp/d']).stdout, 'detached\n');
  });

  test('exec into a stopped container is Docker\'s 409', () => {
    d.berth(['create', '--name', 'idle', 'busybox', 'true']);
    const r = d.berth(['exec', 'idle', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: Container [a-f0-9]{64} is not running/);
    d.berth(['rm', 'idle']);
  });

  test("an exec's monitor is started by the container's own, not forked by the daemon", async () => {
    const id = d.berth(['inspect', '--format', '{{.Id}}', 'box']).stdout.trim();
    const containerShim = Number(readFileSync(join(d.execRoot, id, 'shim.pid'), 'utf8'));
    const r = d.berth(['exec', '-d', 'box', 'sleep', '31']);
    assert.equal(r.code, 0, r.stderr);
    // The exec's shim: a berth-shim in exec mode for this container.
    let execShim: number | undefined;
    for (let i = 0; i < 50 && !execShim; i++, await sleep(100)) {
      execShim = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).find((pid) => {
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          return argv.includes('--exec-process') && argv[argv.indexOf('--id') + 1] === id;
        } catch { return false; }
      });
    }
    assert.ok(execShim, 'the exec has a shim');
    const ppid = Number(readFileSync(`/proc/${execShim}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    assert.equal(ppid, containerShim);
    assert.notEqual(ppid, d.pid);
    assert.match(d.berth(['top', 'box']).stdout, /sleep 31/);
    d.berth(['exec', 'box', 'pkill', '-f', 'sleep 31']);
  });

  test('a finished exec leaves no state behind', async () => {
    const execDirs = () => { try { return readdirSync(join(d.execRoot, 'x')); } catch { return []; } };
    const before = new Set(execDirs());
    for (let i = 0; i < 5; i++) assert.equal(d.berth(['exec', 'box', 'sh', '-c', `exit ${i}`]).code, i);
    assert.notEqual(d.berth(['exec', 'box', 'no-such-binary']).code, 0);
    // Each exec's shim removes its own directory once the daemon has its exit, a moment after the exec returns.
    const left = () => execDirs().filter((x) => !before.has(x));
    await waitFor('the execs\' directories to go', () => (left().length === 0 ? true : undefined), 15_000)
      .catch(() => assert.deepEqual(left(), [], 'no directory of these execs is left'));
  });

  test('exec of a missing binary fails with 126/127-style output', () => {
    const r = d.berth(['exec', 'box', 'no-such-binary']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /executable file not found/);
  });

  test('attach joins the main process (its output and its stdin)', async () => {
    d.berth(['run', '-d', '-i', '--name', 'echoer', 'busybox', 'sh', '-c', 'while read l; do echo "pid1 got $l"; done']);
    const att = d.spawnBerth(['attach', 'echoer'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    att.stdout?.on('data', (c: Buffer) => { out += c; });
    await sleep(300);
    att.stdin?.write('hello\n');
    const deadline = Date.now() + 5000;
    while (!out.includes('pid1 got hello') && Date.now() < deadline) await sleep(50);
    assert.equal(out, 'pid1 got hello\n');
    att.kill();
    await once(att, 'exit');
    d.berth(['rm', '-f', 'echoer']);
  });

  test('attach to a stopped container is refused', () => {
    d.berth(['create', '--name', 'stopped', 'busybox', 'true']);
    const r = d.berth(['attach', 'stopped']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /You cannot attach to a stopped container, start it first/);
    d.berth(['rm', 'stopped']);
  });
});
