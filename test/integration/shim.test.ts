// berth-shim against the real runc: a busybox bundle per test, the shim
// spawned as the daemon spawns it, and its socket protocol, json-file log,
// exit status and clean-up checked (docs/decisions/0002-container-monitor.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { RUNC, isMounted, makeBusyboxRootfs, overlayOptions, processSpec, writeBundleConfig, type ProcessOptions } from '../helpers/bundle.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHIM_DIR = join(ROOT, 'src/shim');
const SOURCES = ['berth-shim.c', ...readdirSync(SHIM_DIR).filter((f) => /^shim-.*\.c$/.test(f))].map((f) => join(SHIM_DIR, f));

const T_STDIN = 0, T_STDOUT = 1, T_STDERR = 2, T_EXIT = 3, T_REPLY = 4, T_CLOSE_STDIN = 5, T_RESIZE = 6, T_START = 7, T_SPAWN_EXEC = 9, T_FEATURES = 10, T_PROBE = 11, T_PROBE_RESULT = 12;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Frame {
  type: number;
  payload: Buffer;
}

interface ExitStatus {
  exitCode: number;
  finishedAt: string;
}

/** A connection to shim.sock that records every frame it receives. */
class ShimClient {
  readonly frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private readonly socket: Socket;
  private readonly waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(path: string): Promise<ShimClient> {
    const s = connect(path);
    await once(s, 'connect');
    return new ShimClient(s);
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      this.frames.push({ type: this.buf[0], payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  send(type: number, payload: string | Buffer = Buffer.alloc(0)): void {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const head = Buffer.alloc(5);
    head[0] = type;
    head.writeUInt32BE(body.length, 1);
    this.socket.write(Buffer.concat([head, body]));
  }

  /** Resolves once `done()` holds, checked after every frame. */
  until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        if (done()) finish();
        else if (this.closed) finish(new Error(`connection closed before ${what}; frames: ${this.describe()}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}; frames: ${this.describe()}`)), ms);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolvePromise();
      };
      this.waiters.add(check);
      check();
    });
  }

  output(type: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === type).map((f) => f.payload));
  }

  replies(): string[] {
    return this.frames.filter((f) => f.type === T_REPLY).map((f) => f.payload.toString());
  }

  async start(): Promise<string> {
    const before = this.replies().length;
    this.send(T_START);
    await this.until(() => this.replies().length > before, 'the start reply');
    return this.replies()[before];
  }

  /**
   * The exit frame, then the shim's close: a container's shim closes right
   * after it. With `close`, this side closes first, as the daemon does once
   * it has read an exec shim's frame (that shim waits for it to remove its
   * directory).
   */
  async exit(ms = 10_000, o: { close?: boolean } = {}): Promise<ExitStatus> {
    await this.until(() => this.frames.some((f) => f.type === T_EXIT), 'the exit frame', ms);
    const frame = this.frames.find((f) => f.type === T_EXIT)!;
    if (o.close) this.close();
    else await this.until(() => this.closed, 'the close after the exit frame', 3000);
    return JSON.parse(frame.payload.toString()) as ExitStatus;
  }

  describe(): string {
    return JSON.stringify(this.frames.map((f) => [f.type, f.payload.toString().slice(0, 200)]));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One container's worth of directories, registered for clean-up. */
interface Box {
  id: string;
  dir: string;
  state: string;
  runtimeRoot: string;
  bundle: string;
  rootfs: string;
  upper?: string;
  overlay?: string;
  logPath: string;
  shimPids: number[];
}

const RFC3339NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether pid is still one of our shims (not a reused pid) — only those are ever killed. */
function isShim(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berth-shim');
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (isShim(pid) && Date.now() < deadline) await sleep(20);
  assert.ok(!isShim(pid), `shim ${pid} is still running`);
}

function runtimeState(box: Box): { status: number | null; stdout: string } {
  const r = spawnSync(RUNC, ['--root', box.runtimeRoot, 'state', box.id], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout };
}

/** The start-up line a shim writes on fd 3, read as the daemon reads it. */
function readStartupLine(child: ChildProcess): Promise<string> {
  const sync = child.stdio[3] as Readable;
  return new Promise((resolvePromise, reject) => {
    let out = '';
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => { out += d; });
    sync.on('error', reject);
    sync.on('close', () => resolvePromise(out));
    child.on('error', reject);
  });
}

describe('berth-shim', { concurrency: false }, () => {
  let work: string;
  let shim: string;
  let lower: string;
  const boxes: Box[] = [];
  let seq = 0;

  before(() => {
    assert.equal(process.getuid?.(), 0, 'these tests need root (mounts, runc)');
    work = mkdtempSync('/tmp/berth-shim-test-');
    shim = join(work, 'berth-shim');
    const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', shim, ...SOURCES], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `cc failed:\n${cc.stderr}`);
    assert.equal(cc.stderr, '', `cc printed warnings:\n${cc.stderr}`);
    lower = join(work, 'lower');
    makeBusyboxRootfs(lower);
  });

  after(async () => {
    for (const box of boxes) {
      for (const pid of box.shimPids) if (isShim(pid)) process.kill(pid, 'SIGKILL');
      spawnSync(RUNC, ['--root', box.runtimeRoot, 'delete', '--force', box.id]);
      if (isMounted(box.rootfs)) spawnSync('umount', ['-l', box.rootfs]);
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A bundle for `p`; by default its rootfs is an overlay over the shared busybox lower dir. */
  function newBox(name: string, p: ProcessOptions, o: { overlay?: boolean } = {}): Box {
    const dir = join(work, `${name}-${++seq}`);
    const bundle = join(dir, 'bundle');
    const state = join(dir, 'state');
    mkdirSync(state, { recursive: true });
    writeBundleConfig(bundle, p);
    const box: Box = {
      id: `berth-shim-test-${process.pid}-${seq}-${name}`,
      dir,
      state,
      runtimeRoot: join(dir, 'runtime'),
      bundle,
      rootfs: join(bundle, 'rootfs'),
      logPath: join(dir, 'container.log'),
      shimPids: [],
    };
    if (o.overlay !== false) {
      const ov = overlayOptions(lower, dir);
      box.overlay = ov.options;
      box.upper = ov.upper;
    } else {
      makeBusyboxRootfs(box.rootfs);
    }
    boxes.push(box);
    return box;
  }

  function shimArgs(box: Box, extra: string[] = []): string[] {
    const args = ['--id', box.id, '--state-dir', box.state, '--runtime', RUNC, '--runtime-root', box.runtimeRoot, '--bundle', box.bundle];
    if (box.overlay) args.push('--rootfs-mount', box.overlay);
    return [...args, ...extra];
  }

  /** Spawns a shim as the daemon does and waits for its start-up line. */
  async function launch(box: Box, args: string[]): Promise<{ line: string; child: ChildProcess; exited: Promise<number | null> }> {
    const child = spawn(shim, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    child.unref();
    if (child.pid) box.shimPids.push(child.pid);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const line = await readStartupLine(child);
    return { line, child, exited };
  }

  /** Launch in create mode and connect: the container exists but has not started. */
  async function create(box: Box, extra: string[] = []) {
    const l = await launch(box, shimArgs(box, extra));
    const m = /^ok (\d+)\n$/.exec(l.line);
    assert.ok(m, `start-up line: ${JSON.stringify(l.line)}; shim.log: ${readShimLog(box)}`);
    const pid = Number(m[1]);
    const client = await ShimClient.connect(join(box.state, 'shim.sock'));
    return { ...l, pid, client };
  }

  function readShimLog(box: Box): string {
    try {
      return readFileSync(join(box.state, 'shim.log'), 'utf8');
    } catch {
      return '(none)';
    }
  }

  /** What a finished create-mode shim must leave: exit.json, and no socket, mount or runtime state. */
  function assertCleanedUp(box: Box, exit: ExitStatus): void {
    assert.deepEqual(JSON.parse(readFileSync(join(box.state, 'exit.json'), 'utf8')), exit);
    assert.ok(!existsSync(join(box.state, 'shim.sock')), 'shim.sock is removed');
    assert.ok(!isMounted(box.rootfs), 'the rootfs is unmounted');
    assert.notEqual(runtimeState(box).status, 0, 'runc no longer knows the container');
  }

  test('stdout, stderr, Docker json-file log, exit code and clean-up', async () => {
    const script = [
      'echo out1',
      'echo err1 >&2',
      String.raw`printf 'esc: <b>&"\\ \t\001 é \342\200\250\n'`,
      String.raw`printf '\377\n'`,
      String.raw`head -c 20000 /dev/zero | tr '\0' a; echo`,
      'echo kept > /tmp/marker',
      "printf 'no newline'",
      'exit 3',
    ].join('\n');
    const box = newBox('basic', { args: ['sh', '-c', script] });
    const { pid, client, child, exited } = await create(box, ['--log-path', box.logPath]);
    assert.ok(isMounted(box.rootfs), 'the overlay is mounted before the start');
    assert.equal(readFileSync(join(box.state, 'pid'), 'utf8'), String(pid));
    assert.equal(readFileSync(join(box.state, 'shim.pid'), 'utf8'), String(child.pid));
    assert.match(runtimeState(box).stdout, /"status": "created"/);

    assert.equal(await client.start(), `ok ${pid}`);
    const exit = await client.exit();
    assert.equal(exit.exitCode, 3);
    assert.match(exit.finishedAt, RFC3339NANO);

    const stdout = Buffer.concat([
      Buffer.from('out1\n'),
      Buffer.from('esc: <b>&"\\ \t\x01 é \u2028\n'),
      Buffer.from([0xff, 0x0a]),
      Buffer.from('a'.repeat(20000) + '\n'),
      Buffer.from('no newline'),
    ]);
    assert.deepEqual(client.output(T_STDOUT), stdout);
    assert.equal(client.output(T_STDERR).toString(), 'err1\n');

    // Byte for byte what dockerd writes, times aside (tab as \u0009 is dockerd's encoder, not encoding/json's).
    const lines = readFileSync(box.logPath, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the log ends with a newline');
    const times: string[] = [];
    const bodies = lines.map((l) => {
      const m = /^(\{"log":.*,"stream":"(?:stdout|stderr)","time":")([^"]+)("\})$/.exec(l);
      assert.ok(m, `log line shape: ${l.slice(0, 100)}`);
      times.push(m[2]);
      return m[1] + 'T' + m[3];
    });
    for (const t of times) assert.match(t, RFC3339NANO);
    const entry = (log: string, stream: string) => `{"log":${log},"stream":"${stream}","time":"T"}`;
    assert.deepEqual(bodies.filter((b) => b.includes('"stdout"')), [
      entry('"out1\\n"', 'stdout'),
      entry('"esc: \\u003cb\\u003e\\u0026\\"\\\\ \\u0009\\u0001 é \\u2028\\n"', 'stdout'),
      entry('"\\ufffd\\n"', 'stdout'),
      entry(`"${'a'.repeat(16384)}"`, 'stdout'),
      entry(`"${'a'.repeat(20000 - 16384)}\\n"`, 'stdout'),
      entry('"no newline"', 'stdout'),
    ]);
    assert.deepEqual(bodies.filter((b) => b.includes('"stderr"')), [entry('"err1\\n"', 'stderr')]);

    assert.equal(await exited, 0, 'the shim exits 0');
    assertCleanedUp(box, exit);
    assert.equal(readFileSync(join(box.upper!, 'tmp/marker'), 'utf8'), 'kept\n', 'writes went to the overlay upper dir');
  });

  test('a container killed with SIGKILL exits 137', async () => {
    const box = newBox('kill', { args: ['sleep', '100'] }, { overlay: false });
    const { pid, client } = await create(box);
    assert.equal(await client.start(), `ok ${pid}`);
    await sleep(100);
    assert.match(runtimeState(box).stdout, /"status": "running"/);
    process.kill(pid, 'SIGKILL');
    const exit = await client.exit();
    assert.equal(exit.exitCode, 137);
    assertCleanedUp(box, exit);
  });

  test('stdin: sent before the start, closed, echoed by cat', async () => {
    const box = newBox('stdin', { args: ['cat'] });
    const { pid, client } = await create(box, ['--stdin']);
    // As the daemon does for `docker run -i`: stdin may arrive before the start.
    client.send(T_STDIN, 'hel');
    client.send(T_STDIN, 'lo');
    client.send(T_CLOSE_STDIN);
    assert.equal(await client.start(), `ok ${pid}`);
    const exit = await client.exit();
    assert.equal(client.output(T_STDOUT).toString(), 'hello');
    assert.equal(exit.exitCode, 0);
  });

  test('tty: output through the pty, resize, stdin', async () => {
    const box = newBox('tty', { args: ['sh', '-c', 'read go; stty size; tty; exit 5'], terminal: true });
    const { pid, client } = await create(box, ['--tty', '--stdin', '--log-path', box.logPath]);
    assert.equal(await client.start(), `ok ${pid}`);
    client.send(T_RESIZE, '33 99');
    client.send(T_STDIN, 'go\n');
    const exit = await client.exit();
    const out = client.output(T_STDOUT).toString();
    assert.match(out, /^go\r\n33 99\r\n\/dev\/pts\/\d+\r\n$/, `echo, new size, tty: ${JSON.stringify(out)}`);
    assert.equal(client.output(T_STDERR).length, 0, 'a tty has one stream');
    assert.equal(exit.exitCode, 5);
    const log = readFileSync(box.logPath, 'utf8');
    assert.match(log, /\{"log":"33 99\\r\\n","stream":"stdout","time":"[^"]+"\}\n/);
    assert.doesNotMatch(log, /"stderr"/);
  });

  test('tty: closing stdin is an end of input', async () => {
    const box = newBox('ttyeof', { args: ['cat'], terminal: true }, { overlay: false });
    const { pid, client } = await create(box, ['--tty', '--stdin']);
    assert.equal(await client.start(), `ok ${pid}`);
    client.send(T_STDIN, 'line\nunfinished');
    client.send(T_CLOSE_STDIN);
    const exit = await client.exit();
    assert.equal(exit.exitCode, 0);
    assert.match(client.output(T_STDOUT).toString(), /unfinished/);
  });

  test('log rotation: max-size and max-file=3', async () => {
    const script = 'i=1; while [ $i -le 60 ]; do echo line-$i; i=$((i+1)); done';
    const box = newBox('rotate', { args: ['sh', '-c', script] }, { overlay: false });
    const maxSize = 300;
    const { pid, client } = await create(box, ['--log-path', box.logPath, '--log-max-size', String(maxSize), '--log-max-files', '3']);
    assert.equal(await client.start(), `ok ${pid}`);
    assert.equal((await client.exit()).exitCode, 0);
    const name = 'container.log';
    const files = readdirSync(box.dir).filter((f) => f.startsWith(name)).sort();
    assert.deepEqual(files, [name, `${name}.1`, `${name}.2`]);
    for (const f of files) assert.ok(statSync(join(box.dir, f)).size <= maxSize, `${f} is within max-size`);
    // Oldest first: .2, .1, then the live file; together a tail of the output with nothing missing.
    const text = [`${name}.2`, `${name}.1`, name].map((f) => readFileSync(join(box.dir, f), 'utf8')).join('');
    const seen = text.trim().split('\n').map((l) => (JSON.parse(l) as { log: string }).log);
    const first = Number(/^line-(\d+)\n$/.exec(seen[0])![1]);
    assert.ok(first > 1, 'the oldest entries were dropped');
    assert.deepEqual(seen, Array.from({ length: 61 - first }, (_, i) => `line-${first + i}\n`));
  });

  test('exec mode: runc exec into a running container', async () => {
    const box = newBox('exec', { args: ['sleep', '100'] });
    const main = await create(box);
    assert.equal(await main.client.start(), `ok ${main.pid}`);

    async function exec(name: string, p: ProcessOptions, flags: string[] = []) {
      const dir = join(box.dir, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'process.json'), JSON.stringify(processSpec(p)));
      const args = ['--id', box.id, '--state-dir', dir, '--runtime', RUNC, '--runtime-root', box.runtimeRoot,
        '--exec-process', join(dir, 'process.json'), ...flags];
      const l = await launch(box, args);
      assert.equal(l.line, 'ok 0\n', `exec start-up line; shim.log: ${readFileSync(join(dir, 'shim.log'), 'utf8')}`);
      const client = await ShimClient.connect(join(dir, 'shim.sock'));
      const reply = await client.start();
      const exit = await client.exit();
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8')), exit);
      assert.equal(await l.exited, 0);
      return { reply, exit, client, dir };
    }

    const plain = await exec('e1', { args: ['sh', '-c', 'echo x; echo y >&2; exit 7'] });
    assert.match(plain.reply, /^ok [1-9]\d*$/);
    assert.equal(readFileSync(join(plain.dir, 'pid'), 'utf8'), plain.reply.slice(3));
    assert.equal(plain.client.output(T_STDOUT).toString(), 'x\n');
    assert.equal(plain.client.output(T_STDERR).toString(), 'y\n');
    assert.equal(plain.exit.exitCode, 7);

    const tty = await exec('e2', { args: ['sh', '-c', 'tty; stty size; exit 2'], terminal: true, consoleSize: { height: 21, width: 77 } }, ['--tty']);
    assert.match(tty.client.output(T_STDOUT).toString(), /^\/dev\/pts\/\d+\r\n21 77\r\n$/);
    assert.equal(tty.exit.exitCode, 2);

    const missing = await exec('e3', { args: ['no-such-binary'] });
    assert.match(missing.reply, /^error .*no-such-binary.*executable file not found/);
    assert.equal(missing.exit.exitCode, 126);

    assert.match(runtimeState(box).stdout, /"status": "running"/, 'execs leave the container alone');
    process.kill(main.pid, 'SIGKILL');
    assertCleanedUp(box, await main.client.exit());
  });

  test('a container shim starts an exec\'s shim on request (frame 9) and says it can (frame 10)', async () => {
    const box = newBox('spawn', { args: ['sleep', '100'] });
    const main = await create(box);
    assert.equal(await main.client.start(), `ok ${main.pid}`);
    await main.client.until(() => main.client.frames.some((f) => f.type === T_FEATURES), 'the features frame');
    assert.deepEqual(main.client.output(T_FEATURES).toString().split(' '), ['spawn-exec', 'probe']);

    async function spawnExec(args: string[]): Promise<string> {
      const before = main.client.replies().length;
      main.client.send(T_SPAWN_EXEC, args.join('\0'));
      await main.client.until(() => main.client.replies().length > before, 'the spawn reply');
      return main.client.replies()[before];
    }
    const dir = join(box.dir, 'spawned');
    mkdirSync(dir);
    writeFileSync(join(dir, 'process.json'), JSON.stringify(processSpec({ args: ['sh', '-c', 'echo from-exec; exit 3'] })));
    const reply = await spawnExec(['--id', box.id, '--state-dir', dir, '--runtime', RUNC, '--runtime-root', box.runtimeRoot, '--exec-process', join(dir, 'process.json'), '--remove-state-dir']);
    assert.equal(reply, 'ok 0', `shim.log: ${readShimLog(box)}`);
    // The exec's shim is the container shim's child, in a session of its own, and runs the exec as one the daemon started.
    const execShim = Number(readFileSync(join(dir, 'shim.pid'), 'utf8'));
    box.shimPids.push(execShim);
    const stat = readFileSync(`/proc/${execShim}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    // Fields after the comm: state [0], ppid [1], pgrp [2], session [3].
    assert.equal(Number(stat[1]), Number(readFileSync(join(box.state, 'shim.pid'), 'utf8')), 'parent is the container shim');
    assert.equal(Number(stat[3]), execShim, 'session leader');
    const client = await ShimClient.connect(join(dir, 'shim.sock'));
    assert.match(await client.start(), /^ok [1-9]\d*$/);
    const exit = await client.exit(10_000, { close: true });
    assert.equal(exit.exitCode, 3);
    assert.equal(client.output(T_STDOUT).toString(), 'from-exec\n');
    await waitGone(execShim);
    for (let i = 0; i < 100 && existsSync(`/proc/${execShim}`); i++) await sleep(20);
    assert.ok(!existsSync(`/proc/${execShim}`), 'the exited exec shim is reaped by the container shim (no zombie)');
    assert.ok(!existsSync(dir), '--remove-state-dir: its directory went once the client closed after the exit frame');

    // A bad command line is the spawned shim's own start-up error, and a second request still works.
    assert.match(await spawnExec(['--id', box.id, '--no-such-flag']), /^error bad argument --no-such-flag/);
    assert.match(await spawnExec([]), /^error usage: berth-shim/);
    assert.match(runtimeState(box).stdout, /"status": "running"/, 'the container is untouched');
    process.kill(main.pid, 'SIGKILL');
    assertCleanedUp(box, await main.client.exit());
  });

  test('a container shim runs a healthcheck probe itself (frames 11 and 12): exit code, 4 KiB of output, timeout, failure', async () => {
    const box = newBox('probe', { args: ['sleep', '100'] });
    const main = await create(box);
    assert.equal(await main.client.start(), `ok ${main.pid}`);
    const results = () => main.client.frames.filter((f) => f.type === T_PROBE_RESULT).map((f) => f.payload.toString());
    async function probe(id: number, args: string[], timeoutMs = 10_000): Promise<string> {
      main.client.send(T_PROBE, `${id} ${timeoutMs}\n${JSON.stringify(processSpec({ args }))}`);
      await main.client.until(() => results().some((r) => r.startsWith(`${id} `)), `probe ${id}'s result`, 20_000);
      return results().find((r) => r.startsWith(`${id} `))!;
    }
    // runc copies a foreground exec's stdout and stderr in two goroutines: the two lines may come in either order (as with dockerd).
    assert.match(await probe(1, ['sh', '-c', 'echo out; echo err >&2; exit 4']), /^1 exit 4 0\n(out\nerr\n|err\nout\n)$/);
    assert.equal(await probe(2, ['sh', '-c', 'head -c 5000 /dev/zero | tr "\\000" b']), `2 exit 0 1\n${'b'.repeat(4096)}`);
    assert.match(await probe(3, ['/no/such/probe']), /^3 error .*\/no\/such\/probe.*\n$/);
    // Two at once, answered each by its id; the slow one is killed at its timeout.
    main.client.send(T_PROBE, `5 300\n${JSON.stringify(processSpec({ args: ['sleep', '30'] }))}`);
    assert.equal(await probe(4, ['true']), '4 exit 0 0\n');
    await main.client.until(() => results().some((r) => r.startsWith('5 ')), 'the timed-out probe', 10_000);
    assert.equal(results().find((r) => r.startsWith('5 ')), '5 timeout\n');
    const ps = spawnSync(RUNC, ['--root', box.runtimeRoot, 'ps', box.id, '-o', 'args'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(ps, /sleep 30/, 'the timed-out probe was killed');
    // Nothing left on disk for a probe (no exec state, no pid file), and the container runs on.
    assert.deepEqual(readdirSync(box.state).filter((f) => f.startsWith('probe')), []);
    assert.match(runtimeState(box).stdout, /"status": "running"/);
    process.kill(main.pid, 'SIGKILL');
    assertCleanedUp(box, await main.client.exit());
  });

  test('exec mode: a shim whose start never comes gives up as an exec that never ran', async () => {
    const box = newBox('orphan', { args: ['sleep', '100'] });
    const main = await create(box);
    assert.equal(await main.client.start(), `ok ${main.pid}`);
    const dir = join(box.dir, 'never-started');
    mkdirSync(dir);
    writeFileSync(join(dir, 'process.json'), JSON.stringify(processSpec({ args: ['true'] })));
    process.env.BERTH_SHIM_EXEC_START_WAIT = '1';
    let l;
    try {
      // --remove-state-dir too: with nobody to read the exit frame, exit.json stays.
      l = await launch(box, ['--id', box.id, '--state-dir', dir, '--runtime', RUNC, '--runtime-root', box.runtimeRoot, '--exec-process', join(dir, 'process.json'), '--remove-state-dir']);
    } finally {
      delete process.env.BERTH_SHIM_EXEC_START_WAIT;
    }
    assert.equal(l.line, 'ok 0\n');
    // Nobody connects or starts it (a daemon that died right after the launch).
    assert.equal(await l.exited, 0);
    assert.equal((JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8')) as { exitCode: number }).exitCode, 126);
    assert.ok(!existsSync(join(dir, 'shim.sock')));
    assert.match(readFileSync(join(dir, 'shim.log'), 'utf8'), /no start within 1 s/);
    process.kill(main.pid, 'SIGKILL');
    assertCleanedUp(box, await main.client.exit());
  });

  test('start-up errors: an error line on fd 3 and nothing left behind', async () => {
    const missing = newBox('badexe', { args: ['/no/such/binary'] });
    const a = await launch(missing, shimArgs(missing, ['--log-path', missing.logPath]));
    assert.match(a.line, /^error .*\/no\/such\/binary.*\n$/);
    assert.equal(await a.exited, 1);

    const noConfig = newBox('noconfig', { args: ['true'] });
    rmSync(join(noConfig.bundle, 'config.json'));
    const b = await launch(noConfig, shimArgs(noConfig));
    assert.match(b.line, /^error .*config\.json/);
    assert.equal(await b.exited, 1);

    const badMount = newBox('badmount', { args: ['true'] });
    badMount.overlay = `lowerdir=${join(work, 'nope')},upperdir=${badMount.upper},workdir=${join(badMount.dir, 'work')}`;
    const c = await launch(badMount, shimArgs(badMount));
    assert.match(c.line, /^error mount overlay on .*rootfs: No such file or directory\n$/);
    assert.equal(await c.exited, 1);

    for (const box of [missing, noConfig, badMount]) {
      assert.ok(!isMounted(box.rootfs), `${box.id}: rootfs unmounted`);
      assert.notEqual(runtimeState(box).status, 0, `${box.id}: no runtime state`);
      const list = spawnSync(RUNC, ['--root', box.runtimeRoot, 'list', '-q'], { encoding: 'utf8' });
      assert.equal(list.stdout, '', `${box.id}: runc lists nothing`);
      const left = readdirSync(box.state).filter((f) => f !== 'shim.log');
      assert.deepEqual(left, [], `${box.id}: only shim.log remains`);
    }

    const usage = newBox('usage', { args: ['true'] });
    const d = await launch(usage, ['--id', usage.id]);
    assert.match(d.line, /^error usage: berth-shim/);
    assert.equal(await d.exited, 1);
  });

  test('the container outlives the process that launched the shim', async () => {
    const script = 'i=0; while [ $i -lt 12 ]; do echo tick-$i; i=$((i+1)); sleep 0.1; done; exit 4';
    const box = newBox('detach', { args: ['sh', '-c', script] });
    // A throwaway launcher plays the daemon: spawns, starts, sees output, dies without a goodbye.
    const launcher = `
      import { spawn } from 'node:child_process';
      import { connect } from 'node:net';
      const [shim, sock, ...args] = process.argv.slice(1);
      const child = spawn(shim, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
      child.unref();
      let line = '';
      child.stdio[3].on('data', (d) => { line += d; });
      child.stdio[3].on('close', () => {
        process.stdout.write(child.pid + ' ' + line);
        const s = connect(sock, () => s.write(Buffer.from([7, 0, 0, 0, 0])));
        let seen = '';
        s.on('data', (d) => { seen += d; if (seen.includes('tick-0')) process.exit(0); });
      });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', launcher, shim, join(box.state, 'shim.sock'), ...shimArgs(box, ['--log-path', box.logPath])], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    const m = /^(\d+) ok (\d+)\n$/.exec(r.stdout);
    assert.ok(m, `launcher output: ${r.stdout}`);
    const shimPid = Number(m[1]);
    box.shimPids.push(shimPid);

    await sleep(400);
    assert.ok(isShim(shimPid), 'the shim survives its launcher');
    assert.match(runtimeState(box).stdout, /"status": "running"/);
    const a = await ShimClient.connect(join(box.state, 'shim.sock'));
    const b = await ShimClient.connect(join(box.state, 'shim.sock'));
    assert.equal(await a.start(), `ok ${m[2]}`, 'a second start is answered, not repeated');
    const [ea, eb] = await Promise.all([a.exit(), b.exit()]);
    assert.deepEqual(ea, eb);
    assert.equal(ea.exitCode, 4);
    // Every client gets the output from the moment it connected.
    assert.match(a.output(T_STDOUT).toString(), /tick-11\n$/);
    assert.match(b.output(T_STDOUT).toString(), /tick-11\n$/);
    const logged = readFileSync(box.logPath, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { log: string }).log);
    assert.deepEqual(logged, Array.from({ length: 12 }, (_, i) => `tick-${i}\n`), 'logging went on while nobody was connected');
    await waitGone(shimPid);
    assertCleanedUp(box, ea);
    assert.ok(!processAlive(Number(m[2])), 'the container init is gone');
  });
});
