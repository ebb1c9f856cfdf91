// An OCI runtime that fails or hangs must not take the daemon with it: the
// start fails with the runtime's own message (or after the runtime timeout,
// BERTH_RUNTIME_TIMEOUT seconds), the daemon keeps answering, and nothing of
// the container is left running or mounted; it can be removed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { runAsync } from '../helpers/registries.ts';
import { BERTH } from '../helpers/daemon.ts';

const TIMEOUT_S = 3;

/** Processes whose command line starts with `prefix` or contains `needle`. */
function procsWith(needle: string, prefix = '\0'): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle) || cmd.startsWith(prefix)) out.push(`${p} ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

describe('a failing or hanging OCI runtime', () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    dir = mkdtempSync('/tmp/berth-rtfake-');
    // The fakes pass everything but the subcommand they break on to runc, so the rest of a container's life is real.
    const fake = (name: string, body: string) => {
      const p = join(dir, name);
      writeFileSync(p, `#!/bin/sh
for a in "$@"; do case "$a" in create|start|delete|exec|kill|state|pause|resume) sub="$a"; break;; esac; done
${body}
exec runc "$@"
`);
      chmodSync(p, 0o755);
      return p;
    };
    const failCreate = fake('fail-create', `[ "$sub" = create ] && { echo "fake-runtime: cannot create container: the disk is on fire" >&2; exit 1; }`);
    // The json log line is where runc reports its errors (--log, --log-format json).
    const failLog = fake('fail-log', `if [ "$sub" = create ]; then
  while [ $# -gt 0 ]; do [ "$1" = --log ] && log="$2"; shift; done
  echo '{"level":"error","msg":"fake-runtime: cgroup controller missing","time":"2026-01-01T00:00:00Z"}' >> "$log"; exit 1
fi`);
    const hangCreate = fake('hang-create', `[ "$sub" = create ] && { sleep 3001; exit 0; }`);
    const hangStart = fake('hang-start', `[ "$sub" = start ] && { sleep 3001; exit 0; }`);
    const hangPause = fake('hang-pause', `[ "$sub" = pause ] && { sleep 3001; exit 0; }`);
    process.env.BERTH_RUNTIME_TIMEOUT = String(TIMEOUT_S);
    d = await startSeededDaemon(['--add-runtime', `failcreate=${failCreate}`, '--add-runtime', `faillog=${failLog}`,
      '--add-runtime', `hangcreate=${hangCreate}`, '--add-runtime', `hangstart=${hangStart}`, '--add-runtime', `hangpause=${hangPause}`]);
    delete process.env.BERTH_RUNTIME_TIMEOUT;
  });
  after(async () => {
    await d?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Nothing of container `id` is left: no runtime process, shim, state dir, runtime state or mount. */
  function assertNothingLeft(id: string): void {
    assert.deepEqual(procsWith('sleep 3001', `/bin/sh ${dir}/`), [], 'no fake runtime (or its sleep) left running');
    assert.deepEqual(procsWith(`--id ${id}`), [], 'no shim left');
    assert.ok(!existsSync(join(d.execRoot, id)), 'no state dir left');
    for (const rt of existsSync(join(d.execRoot, 'runtime')) ? readdirSync(join(d.execRoot, 'runtime')) : []) {
      assert.ok(!readdirSync(join(d.execRoot, 'runtime', rt)).includes(id), `no runtime state left (${rt})`);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.includes(id));
    assert.deepEqual(mounts, [], 'nothing of it mounted');
  }

  async function runFailing(runtime: string): Promise<{ id: string; stderr: string; code: number }> {
    const name = `rt-${runtime}`;
    const r = await runAsync(BERTH, ['-H', d.host, 'run', '-d', '--name', name, '--runtime', runtime, 'busybox', 'sleep', '300'], { timeoutMs: 120_000 });
    const id = d.berth(['inspect', '-f', '{{.Id}}', name]).stdout.trim();
    assert.match(id, /^[a-f0-9]{64}$/, `the container was created: ${r.stderr}`);
    return { id, stderr: r.stderr, code: r.code };
  }

  function assertUsableAfter(id: string): void {
    assert.equal(d.berth(['version']).code, 0, 'the daemon answers');
    assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', id]).stdout, 'false\n', 'not reported running');
    const rm = d.berth(['rm', id]);
    assert.equal(rm.code, 0, `rm: ${rm.stderr}`);
    assertNothingLeft(id);
    assert.equal(d.berth(['run', '--rm', 'busybox', 'echo', 'ok']).stdout, 'ok\n', 'runc still runs containers');
  }

  test('a runtime that exits 1 on create: the start fails with its message', async () => {
    const r = await runFailing('failcreate');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fake-runtime: cannot create container: the disk is on fire/);
    assertUsableAfter(r.id);
  });

  test('a runtime that logs its error (as runc does) and exits 1: the start fails with the logged message', async () => {
    const r = await runFailing('faillog');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fake-runtime: cgroup controller missing/);
    assertUsableAfter(r.id);
  });

  for (const rt of ['hangcreate', 'hangstart']) {
    test(`a runtime that hangs on ${rt.slice(4)}: the start fails after the runtime timeout, the daemon answers meanwhile`, async () => {
      const t0 = Date.now();
      const run = runAsync(BERTH, ['-H', d.host, 'run', '-d', '--name', `rt-${rt}`, '--runtime', rt, 'busybox', 'sleep', '300'], { timeoutMs: 120_000 });
      // While the runtime hangs, other requests are served.
      await new Promise((r) => setTimeout(r, 1000));
      const v = await runAsync(BERTH, ['-H', d.host, 'ps', '-a'], { timeoutMs: 10_000 });
      assert.equal(v.code, 0, `ps while the runtime hangs: ${v.stderr}`);
      const other = await runAsync(BERTH, ['-H', d.host, 'run', '--rm', 'busybox', 'echo', 'meanwhile'], { timeoutMs: 30_000 });
      assert.equal(other.stdout, 'meanwhile\n', `another container runs meanwhile: ${other.stderr}`);
      const r = await run;
      assert.notEqual(r.code, 0, 'the start fails');
      assert.match(r.stderr, new RegExp(`${rt.slice(4)}.*timed out after ${TIMEOUT_S}s`));
      assert.ok(Date.now() - t0 < 60_000, 'well before the fake would have returned');
      const id = d.berth(['inspect', '-f', '{{.Id}}', `rt-${rt}`]).stdout.trim();
      assertUsableAfter(id);
    });
  }
  test('a runtime that hangs on pause: the pause fails after the runtime timeout, the container stays usable', async () => {
    const id = d.berth(['run', '-d', '--runtime', 'hangpause', 'busybox', 'sleep', '300']).stdout.trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const pause = runAsync(BERTH, ['-H', d.host, 'pause', id], { timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await runAsync(BERTH, ['-H', d.host, 'ps'], { timeoutMs: 10_000 })).code, 0, 'the daemon answers meanwhile');
    const r = await pause;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`Cannot pause container ${id}: .*pause timed out after ${TIMEOUT_S}s`));
    assert.deepEqual(procsWith('sleep 3001', `/bin/sh ${dir}/`), [], 'the hung runtime is gone');
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', id]).stdout, 'running\n');
    assert.equal(d.berth(['exec', id, 'echo', 'ok']).stdout, 'ok\n', 'exec still works');
    const rm = d.berth(['rm', '-f', id]);
    assert.equal(rm.code, 0, `rm -f: ${rm.stderr}`);
    assertNothingLeft(id);
  });
});
