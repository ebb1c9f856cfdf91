// The daemon's side of berth-shim (docs/decisions/0002-container-monitor.md):
// launching a shim, and a framed connection to its socket.
import { startDetached } from '../files/spawner.ts';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface ShimLaunchOptions {
  shimPath: string;
  id: string;
  stateDir: string;
  runtime: string;
  /** Global runtime options (daemon.json `runtimeArgs`). */
  runtimeArgs?: string[];
  runtimeRoot: string;
  bundle?: string;
  rootfsMount?: string;
  execProcess?: string;
  /** Exec mode: the shim removes its state dir once a client has read the exit frame. */
  removeStateDir?: boolean;
  tty: boolean;
  stdin: boolean;
  logPath?: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  /** Extra attributes of every log entry (log-opt labels/env), as dockerd's json-file writes them. */
  logAttrs?: Record<string, string>;
  /** The container cgroup's file with its oom_kill counter, read at exit for ExitStatus.oomKilled. */
  oomEvents?: string;
  /** The rootfs is never mounted again (an --rm container's): the shim need not wait for its unmount's sync. */
  rootfsSyncLater?: boolean;
}

export class ShimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShimError';
  }
}

/** The shim's command line for these options (docs/decisions/0002-container-monitor.md). */
export function shimArgs(o: Omit<ShimLaunchOptions, 'shimPath'>): string[] {
  const args = ['--id', o.id, '--state-dir', o.stateDir, '--runtime', o.runtime, '--runtime-root', o.runtimeRoot];
  for (const a of o.runtimeArgs ?? []) args.push('--runtime-arg', a);
  if (o.bundle) args.push('--bundle', o.bundle);
  if (o.rootfsMount) args.push('--rootfs-mount', o.rootfsMount);
  if (o.execProcess) args.push('--exec-process', o.execProcess);
  if (o.removeStateDir) args.push('--remove-state-dir');
  if (o.tty) args.push('--tty');
  if (o.stdin) args.push('--stdin');
  if (o.oomEvents) args.push('--oom-events', o.oomEvents);
  if (o.rootfsSyncLater) args.push('--rootfs-sync-later');
  if (o.logPath) {
    args.push('--log-path', o.logPath);
    if (o.logMaxSize) args.push('--log-max-size', String(o.logMaxSize));
    if (o.logMaxFiles) args.push('--log-max-files', String(o.logMaxFiles));
    if (o.logAttrs && Object.keys(o.logAttrs).length) args.push('--log-attrs', JSON.stringify(o.logAttrs));
  }
  return args;
}

/** Spawns a shim and waits for its `ok <pid>` / `error <msg>` line on fd 3. */
export async function launchShim(o: ShimLaunchOptions): Promise<number> {
  let out: string;
  try {
    out = (await startDetached(o.shimPath, shimArgs(o))).fd3;
  } catch (err) {
    throw new ShimError(`cannot run ${o.shimPath}: ${(err as Error).message}`);
  }
  const line = out.split('\n')[0] ?? '';
  if (line.startsWith('ok ')) return Number(line.slice(3));
  throw new ShimError(line.startsWith('error ') ? line.slice(6) : `shim exited without a result${out ? ': ' + out : ''}`);
}

export interface ExitStatus {
  exitCode: number;
  finishedAt: string;
  /** The kernel's OOM killer killed a process of the container. */
  oomKilled?: boolean;
}

const T_STDIN = 0, T_STDOUT = 1, T_STDERR = 2, T_EXIT = 3, T_REPLY = 4, T_CLOSE_STDIN = 5, T_RESIZE = 6, T_START = 7, T_EXITED = 8,
  T_SPAWN_EXEC = 9, T_FEATURES = 10, T_PROBE = 11, T_PROBE_RESULT = 12;

/** What a probe (frame 11) came to: the process's exit code and first 4 KiB of output, or why it has none. */
export type ProbeResult =
  | { kind: 'exit'; exitCode: number; output: Buffer; truncated: boolean }
  | { kind: 'timeout' }
  | { kind: 'error'; message: string };

/**
 * One connection to a shim. Emits 'stdout' and 'stderr' (Buffer), 'exited'
 * (ExitStatus: the process is gone and its output sent, cleanup pending) for
 * a container, then 'exit' (ExitStatus, all cleaned up) once; 'close' when
 * the socket goes away for any reason.
 */
export class ShimConnection extends EventEmitter {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private readonly replies: ((payload: string) => void)[] = [];
  private readonly probes = new Map<number, (r: ProbeResult) => void>();
  private nextProbe = 1;
  exited: ExitStatus | undefined;
  /** What the shim said it can do beyond the first protocol (frame 10, sent as it accepts us; none from an older shim). */
  private features = new Set<string>();

  private constructor(socket: Socket) {
    super();
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      for (const r of this.replies.splice(0)) r('error shim connection closed');
      for (const p of this.probes.values()) p({ kind: 'error', message: 'shim connection closed' });
      this.probes.clear();
      this.emit('close');
    });
  }

  static connect(sockPath: string): Promise<ShimConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(sockPath);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new ShimConnection(s));
      });
      s.once('error', reject);
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      const type = this.buf[0];
      const payload = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      if (type === T_STDOUT) this.emit('stdout', payload);
      else if (type === T_STDERR) this.emit('stderr', payload);
      else if (type === T_REPLY) this.replies.shift()?.(payload.toString());
      else if (type === T_FEATURES) this.features = new Set(payload.toString().split(' '));
      else if (type === T_PROBE_RESULT) this.onProbeResult(payload);
      else if (type === T_EXITED) this.emit('exited', JSON.parse(payload.toString()) as ExitStatus);
      else if (type === T_EXIT) {
        this.exited = JSON.parse(payload.toString()) as ExitStatus;
        this.emit('exit', this.exited);
      }
    }
  }

  private send(type: number, payload: Buffer = Buffer.alloc(0)): void {
    const head = Buffer.alloc(5);
    head[0] = type;
    head.writeUInt32BE(payload.length, 1);
    this.socket.write(Buffer.concat([head, payload]));
  }

  /** Starts the process; resolves with its pid. */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.replies.push((reply) => {
        if (reply.startsWith('ok')) resolve(Number(reply.slice(3)) || 0);
        else reject(new ShimError(reply.replace(/^error /, '')));
      });
      this.send(T_START);
    });
  }

  /** Whether `spawnExecShim` can be used: a shim that has not said so (older, or not heard yet) ignores it. */
  get spawnsExecShims(): boolean {
    return this.features.has('spawn-exec');
  }

  /**
   * Has this (container) shim start an exec's shim with these options, so
   * the daemon does not fork for it; resolves as `launchShim` does.
   */
  spawnExecShim(o: Omit<ShimLaunchOptions, 'shimPath'>): Promise<number> {
    return new Promise((resolve, reject) => {
      this.replies.push((reply) => {
        if (reply.startsWith('ok')) resolve(Number(reply.slice(3)) || 0);
        else reject(new ShimError(reply.replace(/^error /, '')));
      });
      this.send(T_SPAWN_EXEC, Buffer.from(shimArgs(o).join('\0')));
    });
  }

  /** Whether `probe` can be used (frame 11). */
  get runsProbes(): boolean {
    return this.features.has('probe');
  }

  /**
   * Runs a process (its OCI process JSON) in the container as a healthcheck probe (frame 11): the
   * shim runs the runtime's exec itself and answers with the exit code and
   * the first 4 KiB of stdout and stderr together, killing the process once
   * it outlives `timeoutMs`.
   */
  probe(processJson: Buffer, timeoutMs: number): Promise<ProbeResult> {
    const id = this.nextProbe++;
    return new Promise((resolve) => {
      this.probes.set(id, resolve);
      this.send(T_PROBE, Buffer.concat([Buffer.from(`${id} ${Math.max(1, Math.round(timeoutMs))}\n`), processJson]));
    });
  }

  private onProbeResult(payload: Buffer): void {
    const nl = payload.indexOf(10);
    const head = payload.subarray(0, nl < 0 ? payload.length : nl).toString();
    const m = /^(\d+) (exit (-?\d+) ([01])|timeout|error (.*))$/.exec(head);
    const done = m && this.probes.get(Number(m[1]));
    if (!m || !done) return;
    this.probes.delete(Number(m[1]));
    if (m[3] !== undefined) done({ kind: 'exit', exitCode: Number(m[3]), output: payload.subarray(nl + 1), truncated: m[4] === '1' });
    else if (m[2] === 'timeout') done({ kind: 'timeout' });
    else done({ kind: 'error', message: m[5] ?? '' });
  }

  writeStdin(data: Buffer): void {
    for (let off = 0; off < data.length; off += 65536) this.send(T_STDIN, data.subarray(off, off + 65536));
  }

  closeStdin(): void {
    this.send(T_CLOSE_STDIN);
  }

  resize(rows: number, cols: number): void {
    this.send(T_RESIZE, Buffer.from(`${rows} ${cols}`));
  }

  close(): void {
    this.socket.destroy();
  }
}
