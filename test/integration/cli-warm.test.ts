// The launcher's warm path (ADR 0010): a CLI command runs in an already
// started CLI process, with the caller's environment, directory, umask, stdio
// and signals, and falls back to a cold start whenever there is none.
//
// The command's process is observed from outside: `-H ssh://…` makes the CLI
// spawn `ssh`, and a fake ssh on the caller's PATH records its parent (the
// process running the command), its directory, umask and environment.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const FAKE_SSH = `#!/bin/sh
# Records who ran it, then fails as ssh does when it cannot connect.
{ echo "ppid=$PPID"; echo "self=$$"; echo "cwd=$(pwd)"; echo "umask=$(umask)"; echo "mark=$WARM_MARK";
  echo "cmdline=$(tr '\\0' ' ' < /proc/$PPID/cmdline)"; } > "$FAKE_SSH_OUT.tmp"
mv "$FAKE_SSH_OUT.tmp" "$FAKE_SSH_OUT"
[ -n "$FAKE_SSH_SLEEP" ] && sleep "$FAKE_SSH_SLEEP"
echo "ssh: connect to host example.invalid port 22: Connection refused" >&2
exit 255
`;

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; pid: number }
type Record_ = Record<string, string>;

let root: string;
let bin: string;
let seq = 0;
const strays: number[] = [];

/** Each test's own runtime directory, so that it has a pool of its own. */
function runtimeDir(): string {
  const dir = join(root, `xdg${seq++}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function env(xdg: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${bin}:${process.env.PATH}`, XDG_RUNTIME_DIR: xdg, BERTH_CLI_WARM_IDLE: '120', ...extra };
}

/** Runs `berth -H ssh://… ps` through `sh -c 'umask …; cd …; exec berth'`: the launcher keeps the spawned pid. */
function berth(xdg: string, out: string, opts: { extra?: NodeJS.ProcessEnv; cwd?: string; umask?: string; onSpawn?: (pid: number) => void } = {}): Promise<Outcome> {
  const script = `umask ${opts.umask ?? '022'}; exec "$0" -H ssh://someone@example.invalid ps`;
  const child = spawn('sh', ['-c', script, BERTH], { cwd: opts.cwd ?? root, env: env(xdg, { FAKE_SSH_OUT: out, ...opts.extra }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  opts.onSpawn?.(child.pid!);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! })));
}

function record(out: string): Record_ {
  const r: Record_ = {};
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) r[line.slice(0, eq)] = line.slice(eq + 1);
  }
  strays.push(Number(r.self));
  return r;
}

async function waitFor(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pids holding a listening socket under the runtime directory: the pool's warm processes. */
function poolPids(xdg: string): number[] {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[7]?.startsWith(`${xdg}/`) && f[5] === '01') inodes.add(f[6]); // state 01: listening
  }
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let fds: string[];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target = '';
      try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) { pids.push(Number(pid)); break; }
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function socketFile(xdg: string): string | undefined {
  const dir = join(xdg, 'berth-cli');
  if (!existsSync(dir)) return undefined;
  const name = readdirSync(dir).find((n) => n.endsWith('.sock'));
  return name && join(dir, name);
}

/** A key's second cold command starts the pool; this waits for its processes. */
async function warmUp(xdg: string): Promise<void> {
  await berth(xdg, join(root, `warmup${seq++}`));
  await berth(xdg, join(root, `warmup${seq++}`));
  await waitFor('the warm pool', () => poolPids(xdg).length >= 1);
}

describe('the warm CLI path', () => {
  const dirs: string[] = [];
  before(() => {
    root = mkdtempSync('/tmp/berth-warm-');
    bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'ssh'), FAKE_SSH);
    chmodSync(join(bin, 'ssh'), 0o755);
  });
  after(() => {
    for (const xdg of dirs) for (const pid of poolPids(xdg)) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    for (const pid of strays) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(root, { recursive: true, force: true });
  });

  test('a command runs in a warm process, with the caller\'s environment, directory and umask, and ends as a cold one', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    const work = join(root, 'work dir');
    mkdirSync(work);
    const out = join(root, 'warm.out');
    const warm = await berth(xdg, out, { cwd: work, umask: '027', extra: { WARM_MARK: 'from the caller' } });
    const r = record(out);
    assert.notEqual(Number(r.ppid), warm.pid, 'the command ran in the launcher itself: a cold start');
    assert.match(r.cmdline, /--snapshot-blob \S+cli\.blob/);
    assert.equal(r.cwd, work);
    assert.equal(r.umask, '0027');
    assert.equal(r.mark, 'from the caller');

    const coldOut = join(root, 'cold.out');
    const cold = await berth(xdg, coldOut, { cwd: work, umask: '027', extra: { WARM_MARK: 'from the caller', BERTH_CLI_WARM: '0' } });
    const c = record(coldOut);
    assert.equal(Number(c.ppid), cold.pid, 'BERTH_CLI_WARM=0 runs the command in the launcher');
    assert.equal(c.cwd, work);
    assert.equal(c.umask, '0027');
    // What the user sees is the same either way.
    assert.equal(warm.code, cold.code);
    assert.notEqual(warm.code, 0);
    assert.equal(warm.stdout, cold.stdout);
    assert.equal(warm.stderr, cold.stderr);
    assert.match(warm.stderr, /Connection refused/);
  });

  test('a removed socket: the command starts cold, and a new pool serves the next', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    const old = poolPids(xdg);
    unlinkSync(socketFile(xdg)!);
    const out = join(root, 'removed.out');
    const cold = await berth(xdg, out);
    assert.equal(Number(record(out).ppid), cold.pid);
    assert.match(cold.stderr, /Connection refused/);
    await waitFor('a new pool', () => poolPids(xdg).some((p) => !old.includes(p)));
    const again = join(root, 'again.out');
    const warm = await berth(xdg, again);
    const r = record(again);
    assert.notEqual(Number(r.ppid), warm.pid);
    assert.ok(!old.includes(Number(r.ppid)), 'the orphaned pool served the command');
    assert.equal(warm.code, cold.code);
    for (const pid of old) process.kill(pid, 'SIGTERM');
  });

  test('a socket that is not a warm process (it hangs up at once): the command starts cold', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    const path = socketFile(xdg)!;
    for (const pid of poolPids(xdg)) process.kill(pid, 'SIGTERM');
    await waitFor('the pool to end', () => poolPids(xdg).length === 0);
    unlinkSync(path);
    const impostor: Server = createServer((s) => s.destroy());
    await new Promise<void>((r) => impostor.listen(path, r));
    try {
      const out = join(root, 'impostor.out');
      const cold = await berth(xdg, out);
      assert.equal(Number(record(out).ppid), cold.pid);
      assert.match(cold.stderr, /Connection refused/);
      assert.notEqual(cold.code, 0);
    } finally {
      impostor.close();
    }
  });

  test('SIGTERM to the launcher ends the command, and the launcher dies of it as a cold process would', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    for (const warmPath of [true, false]) {
      const out = join(root, `term-${warmPath}.out`);
      let launcher = 0;
      const done = berth(xdg, out, { extra: { FAKE_SSH_SLEEP: '30', ...(warmPath ? {} : { BERTH_CLI_WARM: '0' }) }, onSpawn: (pid) => { launcher = pid; } });
      await waitFor('the fake ssh', () => existsSync(out));
      const r = record(out);
      assert.equal(Number(r.ppid) === launcher, !warmPath);
      process.kill(launcher, 'SIGTERM');
      const end = await done;
      assert.equal(end.signal, 'SIGTERM');
      assert.equal(end.code, null);
      await waitFor('the command\'s process to end', () => !alive(Number(r.ppid)), 10_000);
    }
  });

  test('SIGKILL of the launcher ends the command in the warm process too', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    const out = join(root, 'kill.out');
    let launcher = 0;
    const done = berth(xdg, out, { extra: { FAKE_SSH_SLEEP: '30' }, onSpawn: (pid) => { launcher = pid; } });
    await waitFor('the fake ssh', () => existsSync(out));
    const r = record(out);
    assert.notEqual(Number(r.ppid), launcher);
    process.kill(launcher, 'SIGKILL');
    assert.equal((await done).signal, 'SIGKILL');
    await waitFor('the warm process to end', () => !alive(Number(r.ppid)), 10_000);
  });

  test('a key\'s first command starts no pool (ip netns exec makes a new key per command); its second does', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    const first = join(root, 'first.out');
    const cold = await berth(xdg, first);
    assert.equal(Number(record(first).ppid), cold.pid);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(poolPids(xdg), []);
    assert.equal(readdirSync(join(xdg, 'berth-cli')).filter((n) => n.endsWith('.lock')).length, 1);
    await berth(xdg, join(root, 'second.out'));
    await waitFor('the warm pool', () => poolPids(xdg).length >= 1);
  });

  test('the pool\'s socket and directory are private to the user', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    const dir = join(xdg, 'berth-cli');
    const st = spawnSync('stat', ['-c', '%a %U', dir, socketFile(xdg)!], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.equal(st[0], `700 ${userInfo().username}`);
    assert.equal(st[1], `700 ${userInfo().username}`);
  });
});

describe('output to a slow reader', () => {
  let d: TestDaemon;
  const size = 8 * 1048576;
  before(async () => {
    d = await startSeededDaemon();
    const r = d.berth(['run', '-d', '--name', 'lg', 'busybox', 'sh', '-c', `yes ${'x'.repeat(99)} | head -c ${size}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['wait', 'lg']).stdout, '0\n');
  });
  after(async () => { await d.destroy(); });

  // The command's writes to a full pipe wait in libuv's queue; its exit used
  // to drop them (exit 0, output cut), on either path.
  for (const warm of ['1', '0']) {
    test(`berth logs | a reader that starts late gets every byte (BERTH_CLI_WARM=${warm})`, () => {
      const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" "$@" logs lg | (sleep 2; wc -c)', BERTH, '-H', d.host], { env: { ...process.env, BERTH_CLI_WARM: warm }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), String(size));
    });
  }
});
