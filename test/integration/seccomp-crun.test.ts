// Under crun, a seccomp filter crun compiled for one container is handed,
// compiled, to the next container with the same profile
// (src/runtime/seccomp-bpf.ts): the reused filter must enforce exactly that
// profile, in the container and in its execs, and a different profile must
// never get it; and none of it may outlive the daemon's memory.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('seccomp filters reused under crun', () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startSeededDaemon(['--default-runtime', 'crun']);
    dir = mkdtempSync('/tmp/berth-bpf-');
    writeFileSync(join(dir, 'no-mkdir.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await d.destroy();
  });

  const noMkdir = () => ['--security-opt', `seccomp=${join(dir, 'no-mkdir.json')}`];
  const tryMkdir = (args: string[]) => d.berth(['run', '--rm', ...args, 'busybox', 'sh', '-c', 'mkdir /tmp/x && echo made || echo refused']);
  /** The compiled filter the daemon handed crun in this running container's spec, if any. */
  const handed = (name: string): string | undefined => {
    const id = d.berth(['inspect', '-f', '{{.Id}}', name]).stdout.trim();
    const spec = JSON.parse(readFileSync(join(d.execRoot, id, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
    return spec.annotations?.['run.oci.seccomp_bpf_data'];
  };

  test('each profile keeps its own filter, compiled or reused, alternating', () => {
    for (let i = 0; i < 2; i++) {
      const custom = tryMkdir(noMkdir());
      assert.equal(custom.stdout, 'refused\n', custom.stderr);
      const dflt = tryMkdir([]);
      assert.equal(dflt.stdout, 'made\n', dflt.stderr);
    }
    const mode = (args: string[]) => d.berth(['run', '--rm', ...args, 'busybox', 'grep', 'Seccomp:', '/proc/self/status']).stdout.trim();
    assert.equal(mode(['--security-opt', 'seccomp=unconfined']), 'Seccomp:\t0');
    assert.equal(mode([]), 'Seccomp:\t2');
  });

  test('a container given the compiled filter, and its execs, are filtered by it', () => {
    d.berth(['run', '-d', '--name', 'first', ...noMkdir(), 'busybox', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'second', ...noMkdir(), 'busybox', 'sleep', '600']);
    const bpf = handed('second');
    assert.ok(bpf && Buffer.from(bpf, 'base64').length % 8 === 0, 'the second container was handed a compiled filter');
    const ex = d.berth(['exec', 'second', 'sh', '-c', 'mkdir /tmp/x && echo made || echo refused; grep Seccomp: /proc/self/status']);
    assert.equal(ex.stdout, 'refused\nSeccomp:\t2\n', ex.stderr);
    const defaultOne = d.berth(['run', '-d', '--name', 'third', 'busybox', 'sleep', '600']);
    assert.equal(defaultOne.code, 0, defaultOne.stderr);
    assert.notEqual(handed('third'), bpf, 'another profile never gets this filter');
    assert.equal(d.berth(['exec', 'third', 'sh', '-c', 'mkdir /tmp/x && echo made']).stdout, 'made\n');
    d.berth(['rm', '-f', 'first', 'second', 'third']);
  });

  test('after kill -9 of the daemon, a container handed a filter runs on, filtered, and the next one compiles afresh', async () => {
    for (const n of ['ka', 'kb']) {
      const r = d.berth(['run', '-d', '--name', n, ...noMkdir(), 'busybox', 'sleep', '600']);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.ok(handed('kb'));
    await d.crash();
    await d.start();
    assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', 'kb']).stdout, 'true\n');
    const ex = d.berth(['exec', 'kb', 'sh', '-c', 'mkdir /tmp/x && echo made || echo refused']);
    assert.equal(ex.stdout, 'refused\n', ex.stderr);
    // The restarted daemon knows no filter: crun compiles this one itself.
    d.berth(['run', '-d', '--name', 'kc', ...noMkdir(), 'busybox', 'sleep', '600']);
    assert.equal(handed('kc'), undefined);
    assert.equal(d.berth(['exec', 'kc', 'sh', '-c', 'mkdir /tmp/x && echo made || echo refused']).stdout, 'refused\n');
    d.berth(['rm', '-f', 'ka', 'kb', 'kc']);
  });
});
