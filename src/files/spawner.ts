// The daemon's commands (ip, nsenter, umount, the shim) are started by a
// small resident process, berth-spawn (src/shim/berth-spawn.c), not by
// Node's spawn: that forks the whole daemon and blocks its event loop until
// the child has exec'd, milliseconds per command on a loaded machine, and a
// container's start and removal run several. Where the helper is not built
// beside the bundle (unit tests run from the sources), Node's spawn does it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { distDir } from '../dist-dir.ts';

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

const NO_INPUT = 0xffffffff;
const K_EXIT = 0, K_SIGNAL = 1, K_ERROR = 2, K_STARTED = 3;
const F_DETACHED = 1, F_BUILTIN = 2;

interface Reply { kind: number; value: number; out: Buffer; err: Buffer }

/** An error as Node's spawn reports one it could not start (`spawn ip ENOENT`, code 'ENOENT'). */
function spawnError(cmd: string, errno: number): NodeJS.ErrnoException {
  const name = Object.entries(constants.errno).find(([, v]) => v === errno)?.[0] ?? `E${errno}`;
  return Object.assign(new Error(`spawn ${cmd} ${name}`), { code: name, errno: -errno, syscall: `spawn ${cmd}`, path: cmd });
}

function signalName(n: number): NodeJS.Signals | null {
  return (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;
}

class Helper {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, (r: Reply | Error) => void>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  dead = false;

  constructor(path: string) {
    this.child = spawn(path, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.unref();
    this.stdout.on('data', (b: Buffer) => this.onData(b));
    const gone = (): void => this.fail(new Error('berth-spawn exited'));
    this.child.once('exit', gone);
    this.child.once('error', (e) => this.fail(e));
    this.stdin.on('error', gone);
    this.idle();
  }

  private get stdin(): Writable & { ref?: () => void; unref?: () => void } { return this.child.stdin!; }
  private get stdout(): Readable & { ref?: () => void; unref?: () => void } { return this.child.stdout!; }

  /** The helper keeps the daemon alive only while it runs a command. */
  private idle(): void {
    this.stdout.unref?.();
    this.stdin.unref?.();
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.child.kill('SIGKILL');
    for (const r of this.pending.values()) r(err);
    this.pending.clear();
  }

  request(cmd: string, args: string[], flags: number, input?: string): Promise<Reply> {
    const id = this.nextId++;
    const argv = [cmd, ...args].map((a) => Buffer.from(`${a}\0`));
    const inp = input === undefined ? undefined : Buffer.from(input);
    const head = Buffer.alloc(13);
    const len = 9 + argv.reduce((s, a) => s + a.length, 0) + 4 + (inp?.length ?? 0);
    head.writeUInt32LE(len, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt8(flags, 8);
    head.writeUInt32LE(argv.length, 9);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(inp ? inp.length : NO_INPUT, 0);
    return new Promise((resolve, reject) => {
      this.pending.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
      if (this.pending.size === 1) {
        this.stdout.ref?.();
        this.stdin.ref?.();
      }
      this.stdin.write(Buffer.concat([head, ...argv, tail, ...(inp ? [inp] : [])]));
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) break;
      const f = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      const id = f.readUInt32LE(0);
      const outLen = f.readUInt32LE(9);
      const out = Buffer.from(f.subarray(13, 13 + outLen));
      const errLen = f.readUInt32LE(13 + outLen);
      const err = Buffer.from(f.subarray(17 + outLen, 17 + outLen + errLen));
      const done = this.pending.get(id);
      this.pending.delete(id);
      if (this.pending.size === 0) this.idle();
      done?.({ kind: f.readUInt8(4), value: f.readInt32LE(5), out, err });
    }
  }
}

/** A command's (or builtin's) end as Node's spawn reports it. */
function finished(r: Reply): Finished {
  return { code: r.kind === K_EXIT ? r.value : null, signal: r.kind === K_SIGNAL ? signalName(r.value) : null, stdout: r.out, stderr: r.err };
}

let helper: Helper | undefined;
let helperPath: string | null | undefined;

/** Which berth-spawn to use (null: none, Node's spawn); by default the one beside the bundle. For tests. */
export function useSpawnHelper(path: string | null): void {
  helperPath = path;
  helper = undefined;
}

function theHelper(): Helper | undefined {
  if (helperPath === undefined) {
    try {
      const p = join(distDir(), 'berth-spawn');
      helperPath = existsSync(p) ? p : null;
    } catch {
      helperPath = null;
    }
  }
  if (!helperPath) return undefined;
  if (!helper || helper.dead) helper = new Helper(helperPath);
  return helper;
}

/** Runs `cmd args…` (LC_ALL=C, `input` on stdin) to its end; rejects only when it could not be started. */
export async function runToEnd(cmd: string, args: string[], input?: string): Promise<Finished> {
  const h = theHelper();
  if (!h) return nodeRunToEnd(cmd, args, input);
  const r = await h.request(cmd, args, 0, input);
  if (r.kind === K_ERROR) throw spawnError(cmd, r.value);
  return finished(r);
}

/**
 * Starts `cmd args…` in a session of its own with stdio on /dev/null and a
 * pipe on fd 3; resolves with its pid and what it wrote on fd 3 once that
 * closes (it may go on running: it is never waited for here).
 */
export async function startDetached(cmd: string, args: string[]): Promise<{ pid: number; fd3: string }> {
  const h = theHelper();
  if (!h) return nodeStartDetached(cmd, args);
  const r = await h.request(cmd, args, F_DETACHED);
  if (r.kind === K_ERROR) throw spawnError(cmd, r.value);
  if (r.kind !== K_STARTED) throw new Error(`berth-spawn: unexpected answer ${r.kind} for ${cmd}`);
  return { pid: r.value, fd3: r.out.toString('utf8') };
}

/**
 * One of berth-spawn's builtins, done by a fork of it with no exec:
 * `umount-detach PATH…` (umount -l; one not mounted is fine) and `link-del
 * NETNS NAME…` (the links deleted inside the namespace bound at NETNS, or
 * the daemon's own with NETNS `-`; one gone is fine). Undefined where there is no helper: the caller runs the tools.
 */
export async function runBuiltin(name: 'umount-detach' | 'link-del', args: string[]): Promise<Finished | undefined> {
  const h = theHelper();
  if (!h) return undefined;
  const r = await h.request(name, args, F_BUILTIN);
  if (r.kind === K_ERROR) throw spawnError(name, r.value);
  return finished(r);
}

function nodeRunToEnd(cmd: string, args: string[], input?: string): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
    if (input !== undefined) {
      child.stdin?.on('error', () => {});
      child.stdin?.end(input);
    }
  });
}

function nodeStartDetached(cmd: string, args: string[]): Promise<{ pid: number; fd3: string }> {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  child.unref();
  const sync = child.stdio[3] as Readable;
  return new Promise((resolve, reject) => {
    let out = '';
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => { out += d; });
    sync.on('error', () => {});
    sync.on('close', () => resolve({ pid: child.pid ?? 0, fd3: out }));
    child.on('error', reject);
  });
}
