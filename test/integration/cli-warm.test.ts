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
{ echo "ppid=$PPID"; echo "self=$$"; echo "cwd=$(pwd)"; echo "umask=$(umask)"; echo "mark=$WARM_MARK"; echo "only=\${ONLY_FIRST-unset}";
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
  return { ...process.env, PATH: `${bin}:${process.env.PATH}`, XDG_RUNTIME_DIR: xdg, BERTH_CLI_WARM_IDLE: '120', BERTH_CLI_RESIDENT: '1', ...extra };
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

/** The open-file flags of each pool process's listening socket (fdinfo's octal `flags`). */
function poolSocketFlags(xdg: string): number[] {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[7]?.startsWith(`${xdg}/`) && f[5] === '01') inodes.add(f[6]);
  }
  const flags: number[] = [];
  for (const pid of poolPids(xdg)) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target = '';
      try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !inodes.has(m[1])) continue;
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      flags.push(parseInt(/^flags:\s+(\d+)/m.exec(info)?.[1] ?? '0', 8));
    }
  }
  return flags;
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

/** A directory of the tests' own, with the fake ssh in its bin/. */
function makeRoot(): void {
  root = mkdtempSync('/tmp/berth-warm-');
  bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ssh'), FAKE_SSH);
  chmodSync(join(bin, 'ssh'), 0o755);
}

describe('the warm CLI path', () => {
  const dirs: string[] = [];
  before(makeRoot);
  after(() => {
    for (const xdg of dirs) for (const pid of poolPids(xdg)) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    for (const pid of strays) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(root, { recursive: true, force: true });
  });

  test('a command runs in a warm process, with the caller\'s environment, directory and umask, and ends as a cold one', async () => {
    const xdg = runtimeDir();
    dirs.push(xdg);
    await warmUp(xdg);
    // Several processes poll the socket and one wins each connection: the others must get
    // EAGAIN from accept, not block in it past their idle end.
    const flags = poolSocketFlags(xdg);
    assert.ok(flags.length > 0 && flags.every((f) => (f & 0o4000) !== 0), `the pool's socket is not O_NONBLOCK: ${flags.map((f) => f.toString(8)).join(', ')}`);
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

// A warm process serves commands one after another while each leaves it clean
// (src/cli/resident.ts). The process that ran a command is read from the
// trace the warm side appends to (BERTH_CLI_WARM_TRACE, from the command's
// own environment): `<pid> serve`, then `<pid> retire: <why>` or `<pid> exit <code>`.
describe('a warm process serving commands one after another', () => {
  let d: TestDaemon;
  let xdg: string;
  let trace: string;
  before(async () => {
    makeRoot();
    d = await startSeededDaemon();
    assert.equal(d.berth(['run', '-d', '--name', 'keep', 'busybox', 'sleep', '600']).code, 0);
  });
  after(async () => {
    for (const pid of xdg ? poolPids(xdg) : []) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    await d.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  type Kind = 'pipe' | 'file' | 'tty';
  interface Served extends Outcome { server: number | undefined }

  /** Runs `berth -H <daemon> ARGS` with stdout of the given kind, through sh for the umask (and script for a terminal). */
  function run(args: string[], opts: { kind?: Kind; cwd?: string; umask?: string; extra?: NodeJS.ProcessEnv; onSpawn?: (pid: number) => void } = {}): Promise<Served> {
    const before = lines().length;
    const quoted = [BERTH, '-H', d.host, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const file = join(root, `stdout${seq++}`);
    const inner = `umask ${opts.umask ?? '022'}; ${opts.kind === 'tty' ? '' : 'exec '}${quoted}${opts.kind === 'file' ? ` > '${file}'` : ''}`;
    const cmd = opts.kind === 'tty' ? ['script', ['-qec', inner, '/dev/null']] as const : ['sh', ['-c', inner]] as const;
    const child = spawn(cmd[0], [...cmd[1]], { cwd: opts.cwd ?? root, env: env(xdg, { BERTH_CLI_WARM_POOL: '1', BERTH_CLI_WARM_MAX: '3', BERTH_CLI_WARM_TRACE: trace, FAKE_SSH_OUT: join(root, 'ssh.out'), ...opts.extra }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    opts.onSpawn?.(child.pid!);
    return new Promise((resolve) => child.on('close', (code, signal) => {
      if (opts.kind === 'file') stdout = readFileSync(file, 'utf8');
      const served = lines().slice(before).find((l) => l.endsWith(' serve'));
      resolve({ code, signal, stdout, stderr, pid: child.pid!, server: served ? Number(served.split(' ')[0]) : undefined });
    }));
  }

  function lines(): string[] {
    return existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** A fresh pool of one for each test. */
  async function freshPool(): Promise<void> {
    if (xdg) for (const pid of poolPids(xdg)) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    xdg = runtimeDir();
    trace = join(xdg, 'trace');
    await run(['version']);
    await run(['version']);
    await waitFor('the warm pool', () => poolPids(xdg).length === 1);
    const first = await run(['ps']);
    assert.ok(first.server, 'the pool served no command');
  }

  test('one process runs commands in a row, each with its own environment, directory, umask, stdio and status', async () => {
    await freshPool();
    const one = join(root, 'one');
    const two = join(root, 'two');
    mkdirSync(one);
    mkdirSync(two);
    const ssh = join(root, 'ssh.out');
    const probe = (cwd: string, umask: string, extra: NodeJS.ProcessEnv): Promise<Served> =>
      run(['-H', 'ssh://someone@example.invalid', 'ps'], { cwd, umask, extra });
    const a = await probe(one, '027', { WARM_MARK: 'first', ONLY_FIRST: 'yes' });
    const ra = record(ssh);
    const server = Number(ra.ppid);
    assert.equal(a.server, server);
    assert.deepEqual([ra.cwd, ra.umask, ra.mark], [one, '0027', 'first']);
    assert.match(a.stderr, /Connection refused/);
    assert.equal(a.code, 1);

    const pipe = await run(['ps', '-a', '--format', '{{.Names}}']);
    assert.deepEqual([pipe.code, pipe.stdout, pipe.server], [0, 'keep\n', server]);
    const three = await run(['exec', 'keep', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([three.code, three.stdout, three.stderr, three.server], [3, 'out\n', 'err\n', server]);
    const file = await run(['ps', '-a', '--format', '{{.Names}} {{.Image}}'], { kind: 'file' });
    assert.deepEqual([file.code, file.stdout, file.server], [0, 'keep busybox\n', server]);
    const tty = await run(['ps', '-a', '--format', '{{.Names}}'], { kind: 'tty' });
    assert.deepEqual([tty.code, tty.stdout.replace(/\r/g, ''), tty.server], [0, 'keep\n', server]);
    const bad = await run(['ps', '--bogus']);
    assert.deepEqual([bad.code, bad.server], [125, server]);
    assert.match(bad.stderr, /unknown flag: --bogus/);
    // The status of one command is not the next one's.
    const after3 = await run(['exec', 'keep', 'true']);
    assert.deepEqual([after3.code, after3.server], [0, server]);
    const again = await run(['ps', '-a', '--format', '{{.Names}}']);
    assert.deepEqual([again.code, again.stdout, again.server], [0, 'keep\n', server]);

    const b = await probe(two, '077', { WARM_MARK: 'second' });
    const rb = record(ssh);
    assert.equal(Number(rb.ppid), server);
    assert.equal(b.server, server);
    assert.deepEqual([rb.cwd, rb.umask, rb.mark, rb.only], [two, '0077', 'second', 'unset']);
    assert.equal(ra.only, 'yes');
    // Between commands the process holds nothing of the last one's: not its directory, not its stdio.
    await waitFor('the process to leave the directory', () => readlinkSync(`/proc/${server}/cwd`) === '/', 10_000);
    for (const fd of [0, 1, 2]) assert.equal(readlinkSync(`/proc/${server}/fd/${fd}`), '/dev/null');
    assert.deepEqual(lines().filter((l) => !l.endsWith(' serve')), [], 'a process retired');
  });

  // The last caller's connection ending (after its DONE) once reached the next command and killed its process.
  test('thirty commands in a row: one process, each with its status and output', async () => {
    await freshPool();
    const servers = new Set<number | undefined>();
    for (let i = 0; i < 30; i++) {
      const r = await run(i % 3 === 2 ? ['exec', 'keep', 'sh', '-c', `exit ${i}`] : ['ps', '-a', '--format', '{{.Names}}']);
      assert.deepEqual([r.code, r.signal, r.stdout], i % 3 === 2 ? [i, null, ''] : [0, null, 'keep\n'], `command ${i}: ${r.stderr}`);
      servers.add(r.server);
    }
    assert.equal(servers.size, 1, `served by ${[...servers]}`);
    assert.deepEqual(lines().filter((l) => !l.endsWith(' serve')), []);
  });

  test('a command that leaves something behind ends its process, and the next runs in another', async () => {
    await freshPool();
    // Run as the docker CLI's plugin, the command follows the CLI's socket: a listener and a connection stay.
    const sock = join(root, `plugin${seq++}.sock`);
    const plugin: Server = createServer(() => {});
    await new Promise<void>((r) => plugin.listen(sock, r));
    try {
      const first = await run(['version', '--format', '{{.Client.Version}}'], { extra: { DOCKER_CLI_PLUGIN_SOCKET: sock } });
      assert.deepEqual([first.code, first.stdout], [0, '0.1.0\n']);
      assert.ok(lines().some((l) => l.startsWith(`${first.server} retire: listeners left on process`)), lines().join('\n'));
      await waitFor('the retired process to end', () => !alive(first.server!), 10_000);
      const next = await run(['ps', '-a', '--format', '{{.Names}}']);
      assert.deepEqual([next.code, next.stdout], [0, 'keep\n']);
      assert.ok(next.server && next.server !== first.server, 'the next command ran in the retired process');
      // A retiring process ends right after its status: the launcher's DONE to a closed socket once killed it with SIGPIPE.
      for (let i = 0; i < 12; i++) {
        const r = await run(['version', '--format', '{{.Client.Version}}'], { extra: { DOCKER_CLI_PLUGIN_SOCKET: sock } });
        assert.deepEqual([r.code, r.signal, r.stdout], [0, null, '0.1.0\n'], `retiring command ${i}`);
      }
    } finally {
      plugin.close();
    }
  });

  test('a command whose process is killed leaves the next command unharmed', async () => {
    await freshPool();
    const mark = lines().length;
    const follow = run(['logs', '-f', 'keep']);
    await waitFor('the command to start', () => lines().length > mark);
    const server = Number(lines().at(-1)!.split(' ')[0]);
    process.kill(server, 'SIGKILL');
    const end = await follow;
    assert.equal(end.signal, 'SIGKILL');
    const next = await run(['ps', '-a', '--format', '{{.Names}}']);
    assert.deepEqual([next.code, next.stdout], [0, 'keep\n']);
    assert.notEqual(next.server, server);
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    test(`${sig} ends \`logs -f\` as on the cold path, and the next command runs`, async () => {
      await freshPool();
      for (const warmPath of [true, false]) {
        let launcher = 0;
        const mark = lines().length;
        const follow = run(['logs', '-f', 'keep'], { extra: warmPath ? {} : { BERTH_CLI_WARM: '0' }, onSpawn: (pid) => { launcher = pid; } });
        if (warmPath) await waitFor('the command to start', () => lines().length > mark);
        else await new Promise((r) => setTimeout(r, 1500)); // a cold start: give Node time to install its handlers
        process.kill(launcher, sig);
        const end = await follow;
        assert.deepEqual([end.signal, end.code], [sig, null], `warm=${warmPath}: ${end.stderr}`);
        const next = await run(['ps', '-a', '--format', '{{.Names}}']);
        assert.deepEqual([next.code, next.stdout], [0, 'keep\n']);
      }
    });
  }

  test('a burst grows the pool, up to its bound', async () => {
    await freshPool();
    const before = lines().length;
    const burst = await Promise.all(Array.from({ length: 8 }, () => run(['exec', 'keep', 'sleep', '1'])));
    for (const r of burst) assert.equal(r.code, 0, r.stderr);
    // Every process that took one of the burst's commands (a run's own `server`, the first serve
    // after its start, is the same for eight runs started together).
    const servers = new Set(lines().slice(before).filter((l) => l.endsWith(' serve')).map((l) => Number(l.split(' ')[0])));
    assert.ok(servers.size >= 2, `one process served the whole burst: ${[...servers]}`);
    assert.ok(poolPids(xdg).length <= 3, `the pool grew past its bound: ${poolPids(xdg)}`);
  });
});
