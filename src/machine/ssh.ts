// Commands on a machine, through the system's OpenSSH client (keys, agent and
// ~/.ssh/config are OpenSSH's, as for `-H ssh://`). Never a prompt: BatchMode.
// Host keys are kept in the machine store's own known_hosts: one seen for the
// first time (at create) is accepted and remembered, a changed one refused.
// (OpenSSH finds ~ from the password database, not $HOME, so the user's own
// known_hosts would be written wherever that points.)
import { spawn, spawnSync } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface SshTarget {
  host: string;
  user: string;
  port: number;
  key?: string;
  /** The known_hosts file of the machine store. */
  knownHosts: string;
}

export function sshArgs(t: SshTarget, o: { tty?: boolean } = {}): string[] {
  return [
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=10',
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `UserKnownHostsFile=${t.knownHosts}`,
    '-o', 'UpdateHostKeys=no',
    '-o', 'LogLevel=ERROR',
    ...(t.key ? ['-i', t.key, '-o', 'IdentitiesOnly=yes'] : []),
    '-p', String(t.port),
    '-l', t.user,
    o.tty ? '-t' : '-T',
    '--', t.host,
  ];
}

export interface SshResult { code: number; stdout: string; stderr: string }

/** Runs `sh -c script` remotely (through `sudo -n` when asked), feeding it `input`. */
export function sshRun(t: SshTarget, script: string, o: { input?: Readable | Buffer; sudo?: boolean; timeoutMs?: number } = {}): Promise<SshResult> {
  // The remote login shell gets one word: the script, quoted for it.
  const remote = `${o.sudo ? 'sudo -n ' : ''}sh -c ${shellQuote(script)}`;
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...sshArgs(t), remote], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), o.timeoutMs) : undefined;
    child.on('error', reject);
    // The remote may stop reading early (a failed step): that is its answer, not ours.
    child.stdin.on('error', () => {});
    if (o.input === undefined) child.stdin.end();
    else if (Buffer.isBuffer(o.input)) child.stdin.end(o.input);
    else o.input.pipe(child.stdin);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 255 : 1), stdout, stderr });
    });
  });
}

/** `machine ssh`: the user's terminal on the machine; the remote command's status is ours. */
export function sshInteractive(t: SshTarget, command: string[]): number {
  const tty = command.length === 0 && process.stdin.isTTY === true;
  const r = spawnSync('ssh', [...sshArgs(t, { tty }), ...command], { stdio: 'inherit' });
  return r.status ?? 255;
}

/** Forgets a removed machine's host keys, so a host re-installed at the address can be created again. */
export function forgetHostKey(t: SshTarget): void {
  const name = t.port === 22 ? t.host : `[${t.host}]:${t.port}`;
  spawnSync('ssh-keygen', ['-R', name, '-f', t.knownHosts], { stdio: 'ignore' });
  spawnSync('rm', ['-f', `${t.knownHosts}.old`]);
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** ssh's last words on a failure, without OpenSSH's warnings about known hosts. */
export function sshError(r: SshResult): string {
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Warning: Permanently added/.test(l));
  return lines.length ? lines.join('; ') : `exit status ${r.code}`;
}
