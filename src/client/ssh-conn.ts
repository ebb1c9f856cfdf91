// An Engine API connection over SSH, as the docker CLI makes one: the
// system's OpenSSH client runs `berth system dial-stdio` on the remote host,
// and its stdin/stdout are the connection. Keys, agent, known_hosts and
// ~/.ssh/config are OpenSSH's business, as for any ssh command.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface SshTarget {
  host: string;
  user?: string;
  port?: number;
  /** A socket path on the remote host (ssh://host/path), else its default daemon. */
  socketPath?: string;
}

/** The ssh command line: OpenSSH's options as the docker CLI passes them (and berth's connection sharing), then the remote command. */
export function sshArgs(t: SshTarget): string[] {
  const args = ['-o', 'ConnectTimeout=30', '-T', ...muxOptions(t)];
  if (t.user) args.push('-l', t.user);
  if (t.port) args.push('-p', String(t.port));
  args.push('--', t.host, 'berth');
  if (t.socketPath) args.push('--host', `unix://${t.socketPath}`);
  args.push('system', 'dial-stdio');
  return args;
}

/**
 * OpenSSH connection sharing, owned by berth: the first ssh to a host becomes
 * the master of a connection that outlives it for a while (ControlPersist),
 * and the commands that follow open sessions on it instead of paying a TCP
 * connect, key exchange and authentication each (most of a `-H ssh:// ps`).
 * The socket lives in a directory of berth's, 0700 and the user's own. Left
 * out when the user's ssh config already decides (ControlMaster or
 * ControlPath set there: theirs wins), when BERTH_SSH_MUX=0, or when no
 * private directory with a short enough path is at hand.
 */
const MUX_PERSIST = '10m';
const muxMemo = new Map<string, string[]>();

function muxOptions(t: SshTarget): string[] {
  if (process.env.BERTH_SSH_MUX === '0') return [];
  const key = `${t.user ?? ''}@${t.host}:${t.port ?? ''}`;
  let opts = muxMemo.get(key);
  if (!opts) {
    opts = [];
    const dir = muxDir();
    if (dir) {
      // One socket per destination as written (not OpenSSH's %C, which needs the config read).
      const path = join(dir, createHash('sha256').update(key).digest('hex').slice(0, 40));
      // A master of ours already serves it: the config was asked when it was made (`ssh -G`
      // costs a process on every command otherwise); a change of the config is taken up
      // once that master has idled out.
      const ours = isSocket(path) || !userConfigDecides(t);
      if (ours) opts = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${path}`, '-o', `ControlPersist=${MUX_PERSIST}`];
    }
    muxMemo.set(key, opts);
  }
  return opts;
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/** What `ssh -G` makes of the user's config for this destination: sharing set up there is theirs. */
function userConfigDecides(t: SshTarget): boolean {
  const args = ['-G', ...(t.user ? ['-l', t.user] : []), ...(t.port ? ['-p', String(t.port)] : []), '--', t.host];
  const r = spawnSync('ssh', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  // No answer (no ssh, a broken config): the connection's own ssh will say why.
  if (r.status !== 0) return true;
  const conf = new Map(r.stdout.split('\n').map((l) => { const i = l.indexOf(' '); return [l.slice(0, i), l.slice(i + 1)] as const; }));
  return (conf.get('controlmaster') ?? 'false') !== 'false' || (conf.get('controlpath') ?? 'none') !== 'none';
}

/**
 * ~/.berth/ssh, else /tmp/berth-ssh-UID: made 0700, used only if it is a
 * directory of ours that nobody else can enter, with room for a socket name
 * (the socket's name is 40 characters, and the master binds a 17-character longer
 * temporary name first, within sun_path's 108 bytes).
 */
function muxDir(): string | undefined {
  const uid = process.getuid?.() ?? -1;
  for (const dir of [join(homedir(), '.berth', 'ssh'), `/tmp/berth-ssh-${uid}`]) {
    if (dir.length + 1 + 40 + 17 >= 104) continue;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      if (st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0) return dir;
    } catch {
      // not usable: the next candidate
    }
  }
  return undefined;
}

/** ssh failed before the remote dial-stdio could answer: what ssh (or the remote berth) said. */
export class SshError extends Error {
  readonly code = 'ESSH';
  constructor(message: string) {
    super(message);
    this.name = 'SshError';
  }
}

/**
 * The ssh child's stdout and stdin as one duplex stream. The end of the
 * connection waits for ssh to exit, so a connection that ssh dropped (host
 * unreachable, key refused, no berth on the remote) fails with ssh's own
 * words instead of a bare "closed without a response".
 */
class CommandConn extends Duplex {
  private readonly child: ChildProcess;
  private stderr = '';
  private received = false;
  private readonly commandLine: string;

  constructor(child: ChildProcess, commandLine: string) {
    super({ allowHalfOpen: true });
    this.child = child;
    this.commandLine = commandLine;
    const out = child.stdout!;
    out.on('data', (c: Buffer) => {
      this.received = true;
      if (!this.push(c)) out.pause();
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (this.stderr.length < 8192) this.stderr += c.toString('utf8');
    });
    // EPIPE when ssh has gone: 'close' reports why.
    child.stdin!.on('error', () => {});
    child.once('error', (err: NodeJS.ErrnoException) => {
      this.destroy(err.code === 'ENOENT' ? new SshError('ssh: the OpenSSH client (ssh) is not installed or not on the PATH') : err);
    });
    child.once('close', (code, signal) => {
      if (this.destroyed) return;
      if (code === 0 || (this.received && signal)) {
        this.push(null);
        return;
      }
      const said = this.stderr.trim();
      this.destroy(new SshError(`${this.commandLine} exited with ${code === null ? `signal ${signal}` : `status ${code}`}${said ? `: ${said}` : ''}`));
    });
  }

  override _read(): void {
    this.child.stdout?.resume();
  }

  // A write ssh can no longer take (EPIPE: it has exited) is not the error to
  // report: 'close' follows with ssh's status and its own words.
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.child.stdin!.write(chunk, () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.child.stdin!.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    cb(err);
  }

  // What transport.ts's pool and the CLI's streams use of a net.Socket besides the Duplex.
  /** An idle connection in the keep-alive pool must not keep the process alive: nor its ssh. */
  unref(): this {
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as Socket | null)?.unref?.();
    return this;
  }

  ref(): this {
    this.child.ref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as Socket | null)?.ref?.();
    return this;
  }

  setNoDelay(): this {
    return this;
  }
}

/** A connection through a new ssh process; "connected" at once, as ssh prompts and fails on its own time. */
export function sshConnect(t: SshTarget): Socket {
  const args = sshArgs(t);
  const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Socket is the type the transport and the CLI's streams are written to; CommandConn has what they use of it.
  return new CommandConn(child, `ssh ${args.join(' ')}`) as unknown as Socket;
}
