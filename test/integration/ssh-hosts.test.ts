// -H ssh://: a real OpenSSH server in a network namespace of the test's own,
// with a host key and a client key generated here (no passwords), whose
// sessions find this worktree's berth on the PATH (as `berth` and as
// `docker`) talking to a TestDaemon. berth's CLI and the unmodified docker
// CLI reach that daemon through `ssh … system dial-stdio`; the clients run in
// the namespace, so nothing leaves the machine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BERTH, DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const SSHD = '/usr/sbin/sshd';
const ADDR = '10.213.0.2';

describe('ssh:// hosts', { skip: !existsSync(SSHD) && 'openssh-server is not installed' }, () => {
  let d: TestDaemon;
  let dir: string;
  let sshd: ChildProcess | undefined;
  const ns = `bt-ssh-${randomBytes(3).toString('hex')}`;

  const ip = (args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  /** A client in the namespace; `key` picks the ssh client config (the accepted key, or one the server refuses). */
  const client = (cmd: string, args: string[], o: { key?: 'good' | 'refused'; input?: string } = {}) => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_') && k !== 'SSH_AUTH_SOCK')) as Record<string, string>;
    const env = { ...base, HOME: dir, DOCKER_CONFIG: join(dir, 'config'), PATH: `${join(dir, 'clientbin')}:${process.env.PATH}`, BT_SSH_CONFIG: join(dir, `ssh_config.${o.key ?? 'good'}`) };
    return run('ip', ['netns', 'exec', ns, cmd, ...args], { env, input: o.input, timeout: 120_000 });
  };
  const berth = (args: string[], o?: { key?: 'good' | 'refused'; input?: string }) => client(BERTH, args, o);

  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bt-ssh-');
    ip(['netns', 'add', ns]);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // The host's address, on the namespace's loopback: nothing else is routed there.
    ip(['-n', ns, 'addr', 'add', `${ADDR}/32`, 'dev', 'lo']);
    for (const k of ['host_key', 'client_key', 'refused_key']) {
      assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(dir, k)]).status, 0);
    }
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
    writeFileSync(join(dir, 'known_hosts'), `${ADDR} ${readFileSync(join(dir, 'host_key.pub'), 'utf8')}`);
    // The remote side: `berth` and `docker` (what the docker CLI runs remotely) are this worktree's berth.
    mkdirSync(join(dir, 'bin'));
    symlinkSync(BERTH, join(dir, 'bin', 'berth'));
    symlinkSync(BERTH, join(dir, 'bin', 'docker'));
    mkdirSync('/run/sshd', { recursive: true });
    writeFileSync(join(dir, 'sshd_config'), [
      `ListenAddress ${ADDR}:22`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `SetEnv PATH=${join(dir, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin DOCKER_HOST=${d.host}`,
      '',
    ].join('\n'));
    // The client side: OpenSSH with the test's key and known_hosts only, never a prompt.
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
    sshd = spawn('ip', ['netns', 'exec', ns, SSHD, '-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    sshd.stderr!.on('data', (c: Buffer) => { log += c; });
    // Listening once a connect to port 22 in the namespace succeeds.
    for (let i = 0; ; i++) {
      if (spawnSync('ip', ['netns', 'exec', ns, 'bash', '-c', `exec 3<>/dev/tcp/${ADDR}/22`]).status === 0) break;
      if (i > 100 || sshd.exitCode !== null) throw new Error(`sshd did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (sshd?.pid && sshd.exitCode === null) {
      const exited = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGTERM');
      await exited;
    }
    spawnSync('ip', ['netns', 'del', ns]);
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('berth -H ssh:// runs a container on the remote daemon, with stdin', () => {
    const r = berth(['-H', `ssh://root@${ADDR}`, 'run', '--rm', 'busybox', 'echo', 'hi']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'hi\n', '']);
    const i = berth(['-H', `ssh://root@${ADDR}:22`, 'run', '-i', '--rm', 'busybox', 'cat'], { input: 'over ssh\n' });
    assert.deepEqual([i.code, i.stdout], [0, 'over ssh\n']);
    const named = berth(['-H', `ssh://root@${ADDR}`, 'run', '--name', 'made-over-ssh', 'busybox', 'true']);
    assert.equal(named.code, 0, named.stderr);
    // It is the TestDaemon's container.
    assert.equal(d.berth(['ps', '-a', '--filter', 'name=made-over-ssh', '--format', '{{.Names}} {{.Status}}']).stdout.replace(/\(0\).*/, '(0)'), 'made-over-ssh Exited (0)\n');
  });

  test('the unmodified docker CLI reaches the berth host over ssh (docker system dial-stdio is berth)', { skip: !DOCKER }, () => {
    const ps = client(DOCKER as string, ['-H', `ssh://root@${ADDR}`, 'ps', '-a', '--format', '{{.Names}}', '--filter', 'name=made-over-ssh']);
    assert.deepEqual([ps.code, ps.stdout], [0, 'made-over-ssh\n'], ps.stderr);
    const r = client(DOCKER as string, ['-H', `ssh://root@${ADDR}`, 'run', '--rm', 'busybox', 'echo', 'hi from docker']);
    assert.deepEqual([r.code, r.stdout], [0, 'hi from docker\n'], r.stderr);
  });

  test('a context with an ssh endpoint works in both CLIs', () => {
    const c = berth(['context', 'create', 'far', '--docker', `host=ssh://root@${ADDR}`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(berth(['-c', 'far', 'ps', '-a', '--filter', 'name=made-over-ssh', '--format', '{{.Names}}']).stdout, 'made-over-ssh\n');
    assert.equal(berth(['context', 'use', 'far']).code, 0);
    assert.equal(berth(['run', '--rm', 'busybox', 'echo', 'via context']).stdout, 'via context\n');
    if (DOCKER) assert.equal(client(DOCKER, ['ps', '-a', '--filter', 'name=made-over-ssh', '--format', '{{.Names}}']).stdout, 'made-over-ssh\n');
    assert.equal(berth(['context', 'use', 'default']).code, 0);
  });

  test('an unreachable host, a refused key and no daemon behind the remote socket are clear errors', () => {
    const unreachable = berth(['-H', 'ssh://root@10.214.0.1', 'ps']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^error during connect: ssh .*10\.214\.0\.1 berth system dial-stdio exited with status 255: ssh: connect to host 10\.214\.0\.1 port 22: Network is unreachable\n$/);
    const refused = berth(['-H', `ssh://root@${ADDR}`, 'ps'], { key: 'refused' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error during connect: ssh .* exited with status 255: root@10\.213\.0\.2: Permission denied \(publickey\)\.\n$/);
    const closed = berth(['-H', `ssh://root@${ADDR}:2222`, 'ps']);
    assert.match(closed.stderr, /port 2222: Connection refused/);
    // ssh://host/path: the remote berth dials that socket; none is there.
    const nodaemon = berth(['-H', `ssh://root@${ADDR}/run/no-such-berth.sock`, 'ps']);
    assert.equal(nodaemon.code, 1);
    assert.match(nodaemon.stderr, /exited with status 1: Cannot connect to the berth daemon at unix:\/\/\/run\/no-such-berth\.sock/);
    const password = berth(['-H', `ssh://root:secret@${ADDR}`, 'ps']);
    assert.deepEqual([password.code, password.stderr], [1, 'plain-text password is not supported\n']);
  });

  test('system dial-stdio proxies its stdio to the daemon socket, half-close included', () => {
    const r = run(BERTH, ['-H', d.host, 'system', 'dial-stdio'], { input: 'GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nOK$/);
    const none = run(BERTH, ['-H', 'unix:///run/no-such-berth.sock', 'system', 'dial-stdio'], { input: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^Cannot connect to the berth daemon at unix:\/\/\/run\/no-such-berth\.sock/);
  });
});
