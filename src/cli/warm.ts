// The warm side of the CLI's launcher (dist/berth, src/launcher/berth.c;
// ADR 0010). A warm process is the CLI already started from its snapshot,
// waiting on the launcher's per-user socket for one command. It receives the
// command's argv, environment, umask, its stdin/stdout/stderr and its working
// directory (as file descriptors, SCM_RIGHTS), makes them its own, answers
// with its pid and runs the command exactly as a cold start would; its exit
// status goes back to the launcher. A warm process serves one command: before
// running it, it starts its successor, which inherits the listening socket.
//
// Everything here runs before process.stdin/stdout/stderr exist: Node creates
// them on first use, from whatever fds 0-2 are by then.
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';

type Ffi = typeof import('node:ffi');
type Ptr = Buffer | bigint | null;

interface Libc {
  poll(fds: Ptr, n: bigint, timeout: number): number;
  accept4(fd: number, addr: Ptr, len: Ptr, flags: number): number;
  getsockopt(fd: number, level: number, name: number, val: Ptr, len: Ptr): number;
  recvmsg(fd: number, msg: Ptr, flags: number): bigint;
  read(fd: number, buf: Ptr, n: bigint): bigint;
  write(fd: number, buf: Ptr, n: bigint): bigint;
  dup2(from: number, to: number): number;
  fchdir(fd: number): number;
  close(fd: number): number;
  __errno_location(): bigint;
}

const MAGIC = 0x48545242; // "BRTH", little-endian
const VERSION = 1;
const HEADER = 24; // magic, version, argc, envc, umask, payload length: u32 each
const FDS = 4; // stdin, stdout, stderr, cwd
const MAX_PAYLOAD = 8 << 20;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SO_PEERCRED = 17;
const SOCK_CLOEXEC = 0o2000000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EINTR = 4;
const EAGAIN = 11;

/** What the launcher asked for: the command line and the environment to run it in. */
export interface WarmRequest { argv: string[]; env: Record<string, string>; umask: number }

interface Warm { listenFd: number; idleMs: number }

/** The warm settings the pool's starter put in the environment, or null for a cold start. */
export function warmSettings(env: NodeJS.ProcessEnv): Warm | null {
  const spec = env.BERTH_CLI_WARM_FDS;
  if (!spec) return null;
  const listenFd = Number(spec);
  const idle = Number(env.BERTH_CLI_WARM_IDLE ?? 300);
  if (!Number.isInteger(listenFd)) return null;
  return { listenFd, idleMs: (Number.isFinite(idle) && idle > 0 ? idle : 300) * 1000 };
}

/**
 * Waits for one command on the pool's socket and takes over its caller's
 * stdio, umask, directory and environment. Returns its argv, or null when
 * the process should end (idle for too long, or the pool's socket is gone).
 */
export function awaitCommand(warm: Warm): string[] | null {
  // node:ffi is experimental: its warning would reach the command's stderr
  // (--disable-warning is not honoured by a process started from a snapshot).
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  let ffi: Ffi | undefined;
  try { ffi = process.getBuiltinModule('node:ffi') as Ffi | undefined; } finally { process.emitWarning = emitWarning; }
  if (!ffi) return null;
  // Node read these as it started (the pool's key, berth.c): the successor starts with the same.
  const startup = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(NODE_|UV_|OPENSSL_)/.test(k)));
  const libc = ffi.dlopen(null, {
    poll: { arguments: ['pointer', 'u64', 'i32'], return: 'i32' },
    accept4: { arguments: ['i32', 'pointer', 'pointer', 'i32'], return: 'i32' },
    getsockopt: { arguments: ['i32', 'i32', 'i32', 'pointer', 'pointer'], return: 'i32' },
    recvmsg: { arguments: ['i32', 'pointer', 'i32'], return: 'i64' },
    read: { arguments: ['i32', 'pointer', 'u64'], return: 'i64' },
    write: { arguments: ['i32', 'pointer', 'u64'], return: 'i64' },
    dup2: { arguments: ['i32', 'i32'], return: 'i32' },
    fchdir: { arguments: ['i32'], return: 'i32' },
    close: { arguments: ['i32'], return: 'i32' },
    __errno_location: { arguments: [], return: 'pointer' },
  }).functions as unknown as Libc;
  const errno = (): number => ffi.getInt32(libc.__errno_location());

  for (;;) {
    const conn = acceptOne(libc, errno, warm);
    if (conn === null) return null;
    const got = receive(ffi, libc, errno, conn);
    if (!got) { libc.close(conn); continue; } // a broken caller: it falls back to a cold start
    const { request, fds } = got;
    startSuccessor(warm, startup);
    libc.close(warm.listenFd);
    for (let i = 0; i < 3; i++) { libc.dup2(fds[i], i); libc.close(fds[i]); }
    libc.fchdir(fds[3]);
    libc.close(fds[3]);
    process.chdir('.'); // drops Node's cached cwd
    process.umask(request.umask);
    for (const key of Object.keys(process.env)) if (!(key in request.env)) delete process.env[key];
    Object.assign(process.env, request.env);
    const ack = Buffer.alloc(8);
    ack.write('ACK1', 0, 'latin1');
    ack.writeInt32LE(process.pid, 4);
    if (!writeAll(libc, errno, conn, ack)) process.exit(1); // the caller is gone: nothing to run for
    process.on('exit', (code) => {
      const status = Buffer.alloc(8);
      status.write('EXIT', 0, 'latin1');
      status.writeInt32LE(code, 4);
      writeAll(libc, errno, conn, status);
    });
    watchCaller(conn);
    return request.argv;
  }
}

/**
 * The launcher never writes after its request: the connection ends only when
 * it is gone (killed with SIGKILL, say). The command then ends as it would
 * have in a cold process, which is the launcher.
 */
function watchCaller(conn: number): void {
  const gone = (): void => { process.kill(process.pid, 'SIGKILL'); };
  const watch = new Socket({ fd: conn, readable: true, writable: false });
  watch.on('data', () => {});
  watch.on('end', gone);
  watch.on('error', gone);
  watch.unref();
}

function acceptOne(libc: Libc, errno: () => number, warm: Warm): number | null {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(warm.listenFd, 0);
  pfd.writeInt16LE(1 /* POLLIN */, 4);
  const deadline = Date.now() + warm.idleMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    pfd.writeInt16LE(0, 6);
    const n = libc.poll(pfd, 1n, Math.min(left, 2 ** 31 - 1));
    if (n < 0 && errno() === EINTR) continue;
    if (n <= 0) return n === 0 ? null : null;
    if ((pfd.readInt16LE(6) & 1) === 0) return null; // POLLERR/POLLHUP/POLLNVAL: the socket is gone
    const conn = libc.accept4(warm.listenFd, null, null, SOCK_CLOEXEC);
    if (conn >= 0) {
      if (peerUid(libc, conn) === process.getuid!()) return conn;
      libc.close(conn);
      continue;
    }
    const e = errno();
    if (e !== EAGAIN && e !== EINTR && e !== 103 /* ECONNABORTED */) return null;
  }
}

function peerUid(libc: Libc, fd: number): number {
  const cred = Buffer.alloc(12);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12, 0);
  return libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) === 0 ? cred.readUInt32LE(4) : -1;
}

function receive(ffi: Ffi, libc: Libc, errno: () => number, conn: number): { request: WarmRequest; fds: number[] } | null {
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
  do n = libc.recvmsg(conn, msg, MSG_CMSG_CLOEXEC); while (n < 0n && errno() === EINTR);
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
  if (!readAll(libc, errno, conn, payload)) return drop();
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

function readAll(libc: Libc, errno: () => number, fd: number, buf: Buffer): boolean {
  let off = 0;
  while (off < buf.length) {
    const n = Number(libc.read(fd, buf.subarray(off), BigInt(buf.length - off)));
    if (n < 0 && errno() === EINTR) continue;
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

function writeAll(libc: Libc, errno: () => number, fd: number, buf: Buffer): boolean {
  let off = 0;
  while (off < buf.length) {
    const n = Number(libc.write(fd, buf.subarray(off), BigInt(buf.length - off)));
    if (n < 0 && errno() === EINTR) continue;
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

/** The next warm process, started now so it is ready by the next command; it inherits the socket. */
function startSuccessor(warm: Warm, startup: NodeJS.ProcessEnv): void {
  try {
    const child = spawn(process.execPath, process.execArgv.concat(['--']), {
      detached: true,
      cwd: '/',
      stdio: ['ignore', 'ignore', 'ignore', warm.listenFd],
      env: { ...startup, BERTH_CLI_WARM_FDS: '3', BERTH_CLI_WARM_IDLE: String(warm.idleMs / 1000) },
    });
    child.on('error', () => {}); // no successor: the next command starts cold and a new pool
    child.unref();
  } catch {
    // as above
  }
}
