// A berth host reached over SSH, for tests and benches: a real OpenSSH
// server in a network namespace of its own, on an address of that
// namespace's loopback, with a host key and a client key generated here (no
// passwords). Its sessions find this worktree's berth on the PATH (as `berth`
// and as `docker`, what the docker CLI runs remotely) talking to the given
// daemon. Clients run in the namespace (client()), through a `ssh` on their
// PATH that gives OpenSSH the test's config: its key, its known_hosts, never
// a prompt. Nothing leaves the machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BERTH, run, type RunResult, type TestDaemon } from './daemon.ts';

export const SSHD = '/usr/sbin/sshd';

export interface SshHost {
  addr: string;
  ns: string;
  dir: string;
  /** `cmd args` in the namespace; `key: 'refused'` uses a client key the server does not accept. */
  client(cmd: string, args: string[], o?: { key?: 'good' | 'refused'; input?: string; env?: Record<string, string> }): RunResult;
  /** The environment client() runs with (for benches that time commands themselves). */
  clientEnv(key?: 'good' | 'refused'): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/**
 * Ends the OpenSSH masters berth's CLI left under `home` (~/.berth/ssh: they
 * persist for minutes after their last session), so none outlives its test.
 */
export function exitSshMasters(home: string): void {
  const dir = join(home, '.berth', 'ssh');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) spawnSync('ssh', ['-o', `ControlPath=${join(dir, name)}`, '-O', 'exit', 'berth-test'], { stdio: 'ignore', timeout: 10_000 });
}

export async function startSshHost(d: TestDaemon, addr = '10.213.0.2'): Promise<SshHost> {
  const ns = `bt-ssh-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync('/tmp/bt-ssh-');
  let sshd: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', `for s in "$0"/.berth/ssh/* "$0"/*mux*/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit berth-test; done 2>/dev/null; true`, dir], { stdio: 'ignore', timeout: 30_000 });
    if (sshd?.pid && sshd.exitCode === null) {
      const exited = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGTERM');
      await exited;
    }
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  };
  const clientEnv = (key: 'good' | 'refused' = 'good'): NodeJS.ProcessEnv => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_') && k !== 'SSH_AUTH_SOCK')) as Record<string, string>;
    return { ...base, HOME: dir, DOCKER_CONFIG: join(dir, 'config'), PATH: `${join(dir, 'clientbin')}:${process.env.PATH}`, BT_SSH_CONFIG: join(dir, `ssh_config.${key}`) };
  };
  try {
    ip(['netns', 'add', ns]);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'addr', 'add', `${addr}/32`, 'dev', 'lo']);
    for (const k of ['host_key', 'client_key', 'refused_key']) {
      if (spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(dir, k)]).status !== 0) throw new Error('ssh-keygen failed');
    }
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
    writeFileSync(join(dir, 'known_hosts'), `${addr} ${readFileSync(join(dir, 'host_key.pub'), 'utf8')}`);
    mkdirSync(join(dir, 'bin'));
    symlinkSync(BERTH, join(dir, 'bin', 'berth'));
    symlinkSync(BERTH, join(dir, 'bin', 'docker'));
    mkdirSync('/run/sshd', { recursive: true });
    writeFileSync(join(dir, 'sshd_config'), [
      `ListenAddress ${addr}:22`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      // A docker CLI command opens several sessions at once; on a loaded machine the default (10) drops some.
      'MaxStartups 100:30:200',
      // A client may ask for the resident CLI on the host (bench/ssh.ts does).
      'AcceptEnv BERTH_CLI_RESIDENT',
      `SetEnv PATH=${join(dir, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin DOCKER_HOST=${d.host}`,
      '',
    ].join('\n'));
    for (const [name, key] of [['good', 'client_key'], ['refused', 'refused_key']]) {
      writeFileSync(join(dir, `ssh_config.${name}`), [
        'Host *',
        `  IdentityFile ${join(dir, key)}`,
        '  IdentitiesOnly yes',
        '  IdentityAgent none',
        `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '',
      ].join('\n'));
    }
    mkdirSync(join(dir, 'clientbin'));
    writeFileSync(join(dir, 'clientbin', 'ssh'), '#!/bin/sh\nexec /usr/bin/ssh -F "$BT_SSH_CONFIG" "$@"\n');
    chmodSync(join(dir, 'clientbin', 'ssh'), 0o755);
    mkdirSync(join(dir, 'config'));
    // Its log goes to a file: a pipe to this process is not read while a CLI runs synchronously, and
    // once a bench's hundreds of logins fill it, sshd blocks writing "Accepted publickey" mid-login.
    const logFd = openSync(join(dir, 'sshd.log'), 'a');
    sshd = spawn('ip', ['netns', 'exec', ns, SSHD, '-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', logFd] });
    closeSync(logFd);
    const log = (): string => readFileSync(join(dir, 'sshd.log'), 'utf8');
    // Listening once a connect to port 22 in the namespace succeeds.
    for (let i = 0; ; i++) {
      if (spawnSync('ip', ['netns', 'exec', ns, 'bash', '-c', `exec 3<>/dev/tcp/${addr}/22`]).status === 0) break;
      if (i > 100 || sshd.exitCode !== null) throw new Error(`sshd did not start: ${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    addr,
    ns,
    dir,
    clientEnv,
    client: (cmd, args, o = {}) => run('ip', ['netns', 'exec', ns, cmd, ...args], { env: { ...clientEnv(o.key), ...o.env }, input: o.input, timeout: 120_000 }),
    stop,
  };
}

export const sshdInstalled = (): boolean => existsSync(SSHD);
