// `berth run` and friends, through berth's own CLI, with real runc containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('berth run', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('prints the output of the command and leaves no container with --rm', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'echo', 'hello']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.code, 0);
    assert.equal(d.berth(['ps', '-aq']).stdout, '');
  });

  test('returns the exit code of the container', () => {
    assert.equal(d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']).code, 3);
    // PID 1 cannot SIGKILL itself (the kernel shields a namespace's init), so
    // the shell runs under --init and dies by the signal: 128 + 9.
    assert.equal(d.berth(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'kill -9 $$']).code, 137);
  });

  test('separates stdout and stderr', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('-e, --env-file, -w, -u, -h, --entrypoint', () => {
    const dir = mkdtempSync('/tmp/berth-env-');
    writeFileSync(join(dir, 'env'), '# comment\nFROM_FILE=yes\n\n');
    try {
      const r = d.berth(['run', '--rm', '-e', 'A=1', '--env-file', join(dir, 'env'), '-w', '/tmp', '-u', 'nobody', '-h', 'myhost',
        'busybox', 'sh', '-c', 'echo $A $FROM_FILE; pwd; id -un; hostname']);
      assert.equal(r.stdout, '1 yes\n/tmp\nnobody\nmyhost\n', r.stderr);
      const e = d.berth(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'via', 'entrypoint']);
      assert.equal(e.stdout, 'via entrypoint\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a user that does not exist is Docker\'s error', () => {
    const r = d.berth(['run', '--rm', '-u', 'nosuchuser', 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unable to find user nosuchuser: no matching entries in passwd file/);
  });

  test('a missing executable exits 127 with the runtime\'s message', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'no-such-binary']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /executable file not found in \$PATH/);
    assert.equal(d.berth(['ps', '-aq']).stdout, '', '--rm removes a container that failed to start');
  });

  test('-i passes stdin through and closes it at EOF', () => {
    const r = d.berth(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'line one\nline two\n' });
    assert.equal(r.stdout, 'line one\nline two\ndone\n');
  });

  test('-t gives the process a real terminal', () => {
    // `script` gives berth a pty of its own, as an interactive user has.
    const r = run('script', ['-qec', `${BERTH} -H ${d.host} run --rm -t busybox sh -c 'tty; stty size'`, '/dev/null']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  test('--init runs docker-init as PID 1', () => {
    const r = d.berth(['run', '--rm', '--init', 'busybox', 'cat', '/proc/1/cmdline']);
    assert.match(r.stdout.replace(/\0/g, ' '), /^\/sbin\/docker-init -- cat \/proc\/1\/cmdline/);
  });

  test('--name, --label and --cidfile', () => {
    const dir = mkdtempSync('/tmp/berth-cid-');
    const cid = join(dir, 'cid');
    try {
      const r = d.berth(['run', '--name', 'labelled', '--label', 'tier=web', '--cidfile', cid, 'busybox', 'true']);
      assert.equal(r.code, 0, r.stderr);
      const id = readFileSync(cid, 'utf8');
      assert.match(id, /^[a-f0-9]{64}$/);
      const fmt = d.berth(['inspect', '--format', '{{.Name}} {{index .Config.Labels "tier"}} {{.State.Status}} {{.State.ExitCode}}', id]);
      assert.equal(fmt.stdout, '/labelled web exited 0\n');
      const again = d.berth(['run', '--cidfile', cid, 'busybox', 'true']);
      assert.equal(again.code, 125);
      assert.match(again.stderr, /Container ID file found/);
      assert.equal(d.berth(['rm', 'labelled']).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('-d prints the ID and the container runs in the background', () => {
    const r = d.berth(['run', '-d', '--name', 'bg', 'busybox', 'sleep', '30']);
    assert.match(r.stdout, /^[a-f0-9]{64}\n$/);
    const ps = d.berth(['ps', '--format', '{{.Names}} {{.State}}']);
    assert.match(ps.stdout, /^bg running$/m);
    assert.equal(d.berth(['rm', '-f', 'bg']).stdout, 'bg\n');
  });

  test('the container sees Docker\'s default capabilities, masked paths and read-only /proc/sys', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status; cat /proc/kcore 2>&1 | head -c 0; echo 1 > /proc/sys/kernel/hostname 2>&1 || echo ro']);
    assert.match(r.stdout, /CapEff:\s+00000000a80425fb/);
    assert.match(r.stdout, /ro\n$/);
  });

  test('the container has its own PID namespace, and with --network none loopback only', () => {
    const r = d.berth(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo $$; ip -o link show | cut -d: -f2']);
    assert.equal(r.stdout, '1\n lo\n');
    assert.ok(existsSync('/proc/1'), 'host untouched');
  });

  test('--ulimit is clamped to the host hard limit', () => {
    const hostHard = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))?.split(/\s{2,}/)[2];
    assert.ok(hostHard);
    const limit = hostHard === 'unlimited' ? '1048576' : hostHard;
    const over = d.berth(['run', '--rm', '--ulimit', 'nofile=100000000:100000000', 'busybox', 'sh', '-c', 'ulimit -Hn; ulimit -Sn']);
    assert.equal(over.code, 0, over.stderr);
    assert.equal(over.stdout, `${limit}\n${limit}\n`);
    assert.equal(d.berth(['run', '--rm', '--ulimit', 'nofile=512:1024', 'busybox', 'sh', '-c', 'ulimit -Hn; ulimit -Sn']).stdout, '1024\n512\n');
  });

  test("each container gets a cgroup under this daemon's own parent", () => {
    const id = d.berth(['run', '-d', 'busybox', 'sleep', '30']).stdout.trim();
    const cg = d.berth(['exec', id, 'cat', '/proc/self/cgroup']).stdout;
    // The test daemon's data root is not the default one, so its parent is berth-<hash>.
    assert.match(cg, new RegExp(`:/berth-[a-f0-9]{8}/${id}$`, 'm'));
    d.berth(['rm', '-f', id]);
  });
});
