// The warm side of the CLI's launcher (dist/berth, src/launcher/berth.c;
// ADR 0010). A warm process is the CLI already started from its snapshot,
// waiting on the launcher's per-user socket for a command. It receives the
// command's argv, environment, umask, its stdin/stdout/stderr and its working
// directory (as file descriptors, SCM_RIGHTS), makes them its own, answers
// with its pid and runs the command exactly as a cold start would; its exit
// status goes back to the launcher. A process that finishes a command clean
// (src/cli/resident.ts) serves the next one; any other ends, and starts its
// replacement as it goes.
//
// The pool is bounded by slots: a process holds an exclusive flock on one of
// BERTH_CLI_WARM_MAX slot files beside the socket, passed on to its
// replacement, so the kernel counts the live processes. A process that takes
// a command while another is already waiting starts one more (a burst); those
// beyond the pool's size idle out sooner.
//
// Everything here runs before process.stdin/stdout/stderr exist: Node creates
// them on first use, from whatever fds 0-2 are by then.
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { Socket } from 'node:net';

type Ffi = typeof import('node:ffi');
type Ptr = Buffer | bigint | null;

interface Libc {
  poll(fds: Ptr, n: bigint, timeout: number): number;
  accept4(fd: number, addr: Ptr, len: Ptr, flags: number): number;
  getsockopt(fd: number, level: number, name: number, val: Ptr, len: Ptr): number;
  getsockname(fd: number, addr: Ptr, len: Ptr): number;
  recvmsg(fd: number, msg: Ptr, flags: number): bigint;
  read(fd: number, buf: Ptr, n: bigint): bigint;
  write(fd: number, buf: Ptr, n: bigint): bigint;
  dup2(from: number, to: number): number;
  fchdir(fd: number): number;
  close(fd: number): number;
  flock(fd: number, op: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  __errno_location(): bigint;
}

const MAGIC = 0x48545242; // "BRTH", little-endian
const VERSION = 2;
const HEADER = 24; // magic, version, argc, envc, umask, payload length: u32 each
const FDS = 4; // stdin, stdout, stderr, cwd
const MAX_PAYLOAD = 8 << 20;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SO_PEERCRED = 17;
const SOCK_CLOEXEC = 0o2000000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EAGAIN = 11;
/** How long a process beyond the pool's size waits for a command before it ends. */
const EXTRA_IDLE_MS = 30_000;
/** How often a running command's process looks for callers left waiting, and how many looks a new process gets to start. */
const BURST_CHECK_MS = 40;
const BURST_START_TICKS = 5;
/** How long the launcher may take to confirm an exit status; later, its forwarded signals could reach the next command. */
const DONE_MS = 2_000;

/** What the launcher asked for: the command line and the environment to run it in. */
export interface WarmRequest { argv: string[]; env: Record<string, string>; umask: number }

/** The warm settings the pool's starter (or a predecessor) put in the environment. */
export interface Warm { listenFd: number; idleMs: number; pool: number; max: number; slotFd: number | null }

/** The warm settings, or null for a cold start. */
export function warmSettings(env: NodeJS.ProcessEnv): Warm | null {
  const spec = env.BERTH_CLI_WARM_FDS;
  if (!spec) return null;
  const listenFd = Number(spec);
  if (!Number.isInteger(listenFd)) return null;
  const idle = Number(env.BERTH_CLI_WARM_IDLE ?? 300);
  const int = (v: string | undefined, dflt: number, lo: number, hi: number): number => {
    const n = Number(v);
    return Number.isInteger(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
  };
  const pool = int(env.BERTH_CLI_WARM_POOL, 2, 1, 16);
  const slot = Number(env.BERTH_CLI_WARM_SLOT);
  return {
    listenFd,
    idleMs: (Number.isFinite(idle) && idle > 0 ? idle : 300) * 1000,
    pool,
    max: Math.max(pool, int(env.BERTH_CLI_WARM_MAX, 8, 1, 32)),
    slotFd: Number.isInteger(slot) && slot > 2 ? slot : null,
  };
}

/** The variables a process took from its start; the launcher keys the pool by them (berth.c). */
const SETTINGS = ['BERTH_CLI_WARM_FDS', 'BERTH_CLI_WARM_IDLE', 'BERTH_CLI_WARM_POOL', 'BERTH_CLI_WARM_MAX', 'BERTH_CLI_WARM_SLOT'];

/**
 * One warm process's end of the launcher's socket: it takes commands one at
 * a time (next), reports each one's status (finish), and knows, through an
 * exit listener, how to end a command that ends the process.
 */
export class WarmChannel {
  private readonly ffi: Ffi;
  private readonly libc: Libc;
  private readonly startup: Record<string, string>;
  private readonly devNull: number;
  private readonly slotBase: string;
  private slotFd = -1;
  private slot = -1;
  private conn = -1;
  private watch: Socket | null = null;
  /** 'run': a command is running; 'done': its status is sent, the launcher's confirmation awaited. */
  private state: 'idle' | 'run' | 'done' = 'idle';
  private onDone: (() => void) | null = null;
  private burst: NodeJS.Timeout | undefined;
  /** The command's trace file (BERTH_CLI_WARM_TRACE), for tests and for asking which process ran what. */
  private trace: string | undefined;

  static open(warm: Warm): WarmChannel | null {
    // node:ffi is experimental: its warning would reach a command's stderr
    // (--disable-warning is not honoured by a process started from a snapshot).
    const emitWarning = process.emitWarning;
    process.emitWarning = () => {};
    let ffi: Ffi | undefined;
    try { ffi = process.getBuiltinModule('node:ffi') as Ffi | undefined; } finally { process.emitWarning = emitWarning; }
    if (!ffi) return null;
    const channel = new WarmChannel(warm, ffi);
    return channel.takeSlot(warm) ? channel : null;
  }

  private readonly warm: Warm;

  private constructor(warm: Warm, ffi: Ffi) {
    this.warm = warm;
    this.ffi = ffi;
    for (const key of SETTINGS) delete process.env[key];
    // Node read these as it started (the pool's key, berth.c): successors start with the same.
    this.startup = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(NODE_|UV_|OPENSSL_)|^BERTH_CLI_RESIDENT$/.test(k))) as Record<string, string>;
    this.libc = ffi.dlopen(null, {
      poll: { arguments: ['pointer', 'u64', 'i32'], return: 'i32' },
      accept4: { arguments: ['i32', 'pointer', 'pointer', 'i32'], return: 'i32' },
      getsockopt: { arguments: ['i32', 'i32', 'i32', 'pointer', 'pointer'], return: 'i32' },
      getsockname: { arguments: ['i32', 'pointer', 'pointer'], return: 'i32' },
      recvmsg: { arguments: ['i32', 'pointer', 'i32'], return: 'i64' },
      read: { arguments: ['i32', 'pointer', 'u64'], return: 'i64' },
      write: { arguments: ['i32', 'pointer', 'u64'], return: 'i64' },
      dup2: { arguments: ['i32', 'i32'], return: 'i32' },
      fchdir: { arguments: ['i32'], return: 'i32' },
      close: { arguments: ['i32'], return: 'i32' },
      flock: { arguments: ['i32', 'i32'], return: 'i32' },
      fcntl: { arguments: ['i32', 'i32', 'i32'], return: 'i32' },
      __errno_location: { arguments: [], return: 'pointer' },
    }).functions as unknown as Libc;
    // Inherited without close-on-exec (the launcher and spawn pass them so):
    // what a command spawns (ssh, a daemon it starts) must not hold the pool's socket.
    this.libc.fcntl(warm.listenFd, F_SETFD, FD_CLOEXEC);
    if (warm.slotFd !== null) this.libc.fcntl(warm.slotFd, F_SETFD, FD_CLOEXEC);
    this.devNull = openSync('/dev/null', constants.O_RDWR);
    this.slotBase = this.socketPath().replace(/\.sock$/, '');
    process.on('exit', (code) => this.exiting(code));
  }

  /** The current command's connection to its launcher, or -1. */
  get connFd(): number { return this.conn; }

  private errno(): number { return this.ffi.getInt32(this.libc.__errno_location()); }

  private socketPath(): string {
    const addr = Buffer.alloc(110);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(110, 0);
    if (this.libc.getsockname(this.warm.listenFd, addr, len) !== 0) return '';
    const path = addr.subarray(2, Math.min(110, len.readUInt32LE(0)));
    const nul = path.indexOf(0);
    return path.subarray(0, nul < 0 ? path.length : nul).toString();
  }

  /** A slot handed over by the predecessor, or a free one; none free: the pool is full and this process ends. */
  private takeSlot(warm: Warm): boolean {
    if (!this.slotBase) return false;
    if (warm.slotFd !== null) {
      let own: { ino: number; dev: number };
      try { own = fstatSync(warm.slotFd); } catch { return false; }
      for (let i = 0; i < warm.max; i++) {
        let st: { ino: number; dev: number } | undefined;
        try { st = statSync(`${this.slotBase}.slot${i}`); } catch { continue; }
        if (st.ino === own.ino && st.dev === own.dev) { this.slotFd = warm.slotFd; this.slot = i; return true; }
      }
      return false;
    }
    for (let i = 0; i < warm.max; i++) {
      const fd = this.lockSlot(i);
      if (fd >= 0) { this.slotFd = fd; this.slot = i; return true; }
    }
    return false;
  }

  /** The fd of slot i, locked for this process, or -1 when another holds it. */
  private lockSlot(i: number): number {
    let fd: number;
    try { fd = openSync(`${this.slotBase}.slot${i}`, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600); } catch { return -1; }
    if (this.libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return fd;
    closeSync(fd);
    return -1;
  }

  /**
   * Waits for a command and takes over its caller's stdio, umask, directory
   * and environment. Returns its argv, or null when the process should end
   * (idle for too long, or the pool's socket is gone).
   */
  next(): string[] | null {
    const idleMs = this.slot < this.warm.pool ? this.warm.idleMs : Math.min(this.warm.idleMs, EXTRA_IDLE_MS);
    for (;;) {
      const conn = this.acceptOne(idleMs);
      if (conn === null) return null;
      const got = this.receive(conn);
      if (!got) { this.libc.close(conn); continue; } // a broken caller: it falls back to a cold start
      const { request, fds } = got;
      // Another caller already waits: the pool is short of a process (a burst).
      if (this.pending()) this.startSuccessor(false);
      for (let i = 0; i < 3; i++) { this.libc.dup2(fds[i], i); this.libc.close(fds[i]); }
      this.libc.fchdir(fds[3]);
      this.libc.close(fds[3]);
      process.chdir('.'); // drops Node's cached cwd
      process.umask(request.umask);
      for (const key of Object.keys(process.env)) if (!(key in request.env)) delete process.env[key];
      Object.assign(process.env, request.env);
      this.trace = request.env.BERTH_CLI_WARM_TRACE;
      const ack = Buffer.alloc(8);
      ack.write('ACK1', 0, 'latin1');
      ack.writeInt32LE(process.pid, 4);
      if (!this.writeAll(conn, ack)) { this.libc.close(conn); this.release(); continue; } // the caller is gone: nothing to run for
      this.conn = conn;
      this.state = 'run';
      this.note('serve');
      this.watchCaller();
      this.watchBurst();
      return request.argv;
    }
  }

  /**
   * Sends the command's status and waits for the launcher to confirm it: from
   * then on it forwards no signal, so none of this command's can reach the
   * next. False when it did not confirm in time (the process must end).
   */
  async finish(code: number): Promise<boolean> {
    this.endCommand();
    this.state = 'done';
    const confirmed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), DONE_MS);
      this.onDone = () => { clearTimeout(timer); resolve(true); };
    });
    if (!this.sendStatus(code)) return false;
    const ok = await confirmed;
    this.onDone = null;
    if (!ok) return false; // still 'done': the process ends, and its replacement is started
    // First off the caller's fds: the socket's destroy reads process.stderr, which makes a stream of fd 2.
    this.release();
    const watch = this.watch;
    this.watch = null;
    watch?.destroy(); // closes the connection's fd
    this.conn = -1;
    this.state = 'idle';
    return true;
  }

  /** Ends the tie to the last caller: its stdio and directory, and its environment. */
  private release(): void {
    for (let i = 0; i < 3; i++) this.libc.dup2(this.devNull, i);
    process.chdir('/');
    for (const key of Object.keys(process.env)) if (!(key in this.startup)) delete process.env[key];
    this.trace = undefined;
  }

  /** Appends a line to the command's trace file, if it asked for one. */
  note(what: string): void {
    if (!this.trace) return;
    try {
      appendFileSync(this.trace, `${process.pid} ${what}\n`);
    } catch {
      // a trace is best effort
    }
  }

  /** The process is ending: a command it was running gets its status, and the pool a replacement. */
  private exiting(code: number): void {
    if (this.state === 'idle') return;
    if (this.state === 'run') this.note(`exit ${code}`);
    this.startSuccessor(true);
    if (this.state === 'run') this.sendStatus(code);
  }

  private sendStatus(code: number): boolean {
    const status = Buffer.alloc(8);
    status.write('EXIT', 0, 'latin1');
    status.writeInt32LE(code, 4);
    return this.writeAll(this.conn, status);
  }

  /**
   * The launcher writes nothing while the command runs: the connection ends
   * then only when it is gone (killed with SIGKILL, say), and the command
   * ends as it would have in a cold process, which is the launcher. After
   * the status, it writes DONE.
   */
  private watchCaller(): void {
    const watch = new Socket({ fd: this.conn, readable: true, writable: false });
    // An end already queued when the socket is destroyed is still emitted,
    // by then maybe during the next command: only the current caller's counts.
    const gone = (): void => {
      if (this.watch !== watch) return;
      if (this.state === 'run') process.kill(process.pid, 'SIGKILL');
      else this.onDone?.();
    };
    let got = '';
    watch.on('data', (d: Buffer) => {
      if (this.watch !== watch) return;
      got += d.toString('latin1');
      if (this.state === 'done' && got.includes('DONE')) this.onDone?.();
    });
    watch.on('end', gone);
    watch.on('error', gone);
    watch.unref();
    this.watch = watch;
  }

  /**
   * While a command runs, a caller that waits on the socket for longer than
   * a check's interval finds every process busy: one more is started (as
   * many as there are free slots, one at a time).
   */
  private watchBurst(): void {
    let waited = false;
    let starting = 0;
    this.burst = setInterval(() => {
      if (starting > 0) { starting--; return; }
      const now = this.pending();
      if (now && waited) { this.startSuccessor(false); starting = BURST_START_TICKS; }
      waited = now;
    }, BURST_CHECK_MS);
    this.burst.unref();
  }

  /** The command is over: its burst check goes (resident.ts counts what timers are left). */
  endCommand(): void {
    if (this.burst) clearInterval(this.burst);
    this.burst = undefined;
  }

  private pending(): boolean {
    const pfd = Buffer.alloc(8);
    pfd.writeInt32LE(this.warm.listenFd, 0);
    pfd.writeInt16LE(1 /* POLLIN */, 4);
    return this.libc.poll(pfd, 1n, 0) === 1 && (pfd.readInt16LE(6) & 1) !== 0;
  }

  private acceptOne(idleMs: number): number | null {
    const pfd = Buffer.alloc(8);
    pfd.writeInt32LE(this.warm.listenFd, 0);
    pfd.writeInt16LE(1 /* POLLIN */, 4);
    const deadline = Date.now() + idleMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      pfd.writeInt16LE(0, 6);
      const n = this.libc.poll(pfd, 1n, Math.min(left, 2 ** 31 - 1));
      if (n < 0 && this.errno() === EINTR) continue;
      if (n <= 0) return null;
      if ((pfd.readInt16LE(6) & 1) === 0) return null; // POLLERR/POLLHUP/POLLNVAL: the socket is gone
      const conn = this.libc.accept4(this.warm.listenFd, null, null, SOCK_CLOEXEC);
      if (conn >= 0) {
        if (this.peerUid(conn) === process.getuid!()) return conn;
        this.libc.close(conn);
        continue;
      }
      const e = this.errno();
      if (e !== EAGAIN && e !== EINTR && e !== 103 /* ECONNABORTED */) return null;
    }
  }

  private peerUid(fd: number): number {
    const cred = Buffer.alloc(12);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(12, 0);
    return this.libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) === 0 ? cred.readUInt32LE(4) : -1;
  }

  private receive(conn: number): { request: WarmRequest; fds: number[] } | null {
    const { ffi, libc } = this;
    const header = Buffer.alloc(HEADER);
    const iov = Buffer.alloc(16);
    iov.writeBigUInt64LE(ffi.getRawPointer(header), 0);
    iov.writeBigUInt64LE(BigInt(HEADER), 8);
    const control = Buffer.alloc(16 + FDS * 4); // CMSG_SPACE(4 ints)
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(ffi.getRawPointer(iov), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(ffi.getRawPointer(control), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
    let n: bigint;
    do n = libc.recvmsg(conn, msg, MSG_CMSG_CLOEXEC); while (n < 0n && this.errno() === EINTR);
    const fds: number[] = [];
    if (msg.readBigUInt64LE(40) >= 16n && control.readInt32LE(8) === SOL_SOCKET && control.readInt32LE(12) === SCM_RIGHTS) {
      const count = (Number(control.readBigUInt64LE(0)) - 16) / 4;
      for (let i = 0; i < count; i++) fds.push(control.readInt32LE(16 + 4 * i));
    }
    const drop = (): null => { for (const fd of fds) libc.close(fd); return null; };
    if (n !== BigInt(HEADER) || fds.length !== FDS) return drop();
    if (header.readUInt32LE(0) !== MAGIC || header.readUInt32LE(4) !== VERSION) return drop();
    const argc = header.readUInt32LE(8);
    const envc = header.readUInt32LE(12);
    const umask = header.readUInt32LE(16);
    const length = header.readUInt32LE(20);
    if (length > MAX_PAYLOAD) return drop();
    const payload = Buffer.alloc(length);
    if (!this.readAll(conn, payload)) return drop();
    const strings = payload.toString('utf8').split('\0');
    strings.pop(); // each string ends with NUL
    if (strings.length !== argc + envc) return drop();
    const env: Record<string, string> = {};
    for (const entry of strings.slice(argc)) {
      const eq = entry.indexOf('=');
      if (eq > 0 && !(entry.slice(0, eq) in env)) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    return { request: { argv: strings.slice(0, argc), env, umask }, fds };
  }

  private readAll(fd: number, buf: Buffer): boolean {
    let off = 0;
    while (off < buf.length) {
      const n = Number(this.libc.read(fd, buf.subarray(off), BigInt(buf.length - off)));
      if (n < 0 && this.errno() === EINTR) continue;
      if (n <= 0) return false;
      off += n;
    }
    return true;
  }

  private writeAll(fd: number, buf: Buffer): boolean {
    let off = 0;
    while (off < buf.length) {
      const n = Number(this.libc.write(fd, buf.subarray(off), BigInt(buf.length - off)));
      if (n < 0 && this.errno() === EINTR) continue;
      if (n <= 0) return false;
      off += n;
    }
    return true;
  }

  /**
   * Starts another warm process; it inherits the socket. A replacement takes
   * this process's slot as it ends; a burst's extra process takes a free one,
   * and none is started when all are taken.
   */
  private startSuccessor(replacement: boolean): void {
    let slotFd = replacement ? this.slotFd : -1;
    if (!replacement) {
      for (let i = 0; i < this.warm.max && slotFd < 0; i++) slotFd = this.lockSlot(i);
      if (slotFd < 0) return;
    }
    try {
      const child = spawn(process.execPath, process.execArgv.concat(['--']), {
        detached: true,
        cwd: '/',
        stdio: ['ignore', 'ignore', 'ignore', this.warm.listenFd, slotFd],
        env: {
          ...this.startup,
          BERTH_CLI_WARM_FDS: '3',
          BERTH_CLI_WARM_SLOT: '4',
          BERTH_CLI_WARM_IDLE: String(this.warm.idleMs / 1000),
          BERTH_CLI_WARM_POOL: String(this.warm.pool),
          BERTH_CLI_WARM_MAX: String(this.warm.max),
        },
      });
      child.on('error', () => {}); // no successor: the next command starts cold and a new pool
      child.unref();
    } catch {
      // as above
    }
    if (!replacement) closeSync(slotFd); // the child holds the lock now
  }
}
