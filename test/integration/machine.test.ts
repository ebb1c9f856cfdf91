// `berth machine` against real Debian hosts: privileged berth containers from
// a debootstrapped Debian 12 image with openssh-server (test/helpers/
// machine-host.ts), each on its own address of a TestDaemon's bridge, reached
// by ssh as root with a key the test made. `machine create` copies this
// worktree's berth there, starts its daemon with mutual TLS on :2376 and adds
// a context; containers then run nested, on the host. The client side runs
// with a HOME of the test's own (machines, contexts, known_hosts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { BERTH, DOCKER, TestDaemon, busyboxTarPath, run, type RunResult } from '../helpers/daemon.ts';
import { debootstrapInstalled, startMachineHost, type MachineHost } from '../helpers/machine-host.ts';
import { exitSshMasters } from '../helpers/ssh-host.ts';
import { startFakeMirrors } from '../helpers/fake-mirrors.ts';

const TAG = Math.random().toString(16).slice(2, 8);

describe('berth machine', { skip: !debootstrapInstalled() && 'debootstrap is not installed' }, () => {
  let d: TestDaemon;
  let host: MachineHost;
  let alpine: MachineHost;
  let home: string;
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_') && k !== 'SSH_AUTH_SOCK' && k !== 'MACHINE_STORAGE_PATH')),
    HOME: home,
    SHELL: '/bin/bash',
    ...extra,
  });
  const berth = (args: string[], o: { env?: Record<string, string>; input?: string | Buffer } = {}): RunResult =>
    run(BERTH, args, { env: env(o.env), input: o.input, timeout: 600_000 });
  const machinesDir = (): string => join(home, '.berth', 'machine', 'machines');
  const contextExists = (name: string): boolean =>
    existsSync(join(home, '.docker', 'contexts', 'meta', createHash('sha256').update(name).digest('hex'), 'meta.json'));

  /** Nothing of a machine `name` anywhere: not listed, no directory (staging ones included), no context. */
  function nothingLeft(name: string): void {
    assert.equal(berth(['machine', 'ls', '-q']).stdout, '');
    const left = existsSync(machinesDir()) ? readdirSync(machinesDir()) : [];
    assert.deepEqual(left, [], `left in the machine store: ${left.join(', ')}`);
    assert.equal(contextExists(name), false);
  }

  before(async () => {
    home = mkdtempSync('/tmp/bt-mhome-');
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    d = new TestDaemon();
    await d.start();
    host = await startMachineHost(d, `bt-mh-${TAG}`);
    alpine = await startMachineHost(d, `bt-mha-${TAG}`, { osRelease: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n' });
  });

  after(async () => {
    if (home) exitSshMasters(home);
    await host?.stop();
    await alpine?.stop();
    await d?.destroy();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('an unreachable host is a clear error and leaves nothing', () => {
    const refused = berth(['machine', 'create', '--driver', 'ssh', '--ssh-host', host.addr, '--ssh-port', '2222', '--ssh-key', host.key, 'm1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^Error creating machine: cannot reach ${host.addr.replace(/\./g, '\\.')} over ssh: ssh: connect to host ${host.addr.replace(/\./g, '\\.')} port 2222: Connection refused\n$`));
    nothingLeft('m1');
    // An address of the bridge nobody has.
    const nobody = host.addr.replace(/\.\d+$/, '.250');
    const gone = berth(['machine', 'create', '--ssh-host', nobody, '--ssh-key', host.key, 'm1']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, new RegExp(`^Error creating machine: cannot reach ${nobody.replace(/\./g, '\\.')} over ssh: ssh: connect to host .* port 22: (No route to host|Connection timed out)\n$`));
    nothingLeft('m1');
  });

  test('a refused key is a clear error and leaves nothing', () => {
    const r = berth(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', host.refusedKey, 'm1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error creating machine: cannot reach .* over ssh: root@[\d.]+: Permission denied \(publickey[^)]*\)\.\n$/);
    nothingLeft('m1');
    const nokey = berth(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', join(home, 'no-such-key'), 'm1']);
    assert.equal(nokey.code, 1);
    assert.match(nokey.stderr, /^Error creating machine: reading the ssh key: ENOENT/);
    nothingLeft('m1');
  });

  test('a host that is not Debian is refused before anything is installed on it', () => {
    const r = berth(['machine', 'create', '--ssh-host', alpine.addr, '--ssh-key', alpine.key, 'm1']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error creating machine: Error detecting OS: ${alpine.addr} is not Debian (ID=alpine in /etc/os-release); berth machine provisions Debian hosts only\n`);
    nothingLeft('m1');
    assert.equal(alpine.exec('test -e /opt/berth || test -e /etc/berth').code, 1);
  });

  test('bad names and drivers are refused up front', () => {
    const bad = berth(['machine', 'create', '--ssh-host', host.addr, 'no_underscores']);
    assert.deepEqual([bad.code, bad.stderr], [1, 'Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -\n']);
    const driver = berth(['machine', 'create', '--driver', 'virtualbox', '--ssh-host', host.addr, 'm1']);
    assert.equal(driver.code, 1);
    assert.match(driver.stderr, /^Driver "virtualbox" not found/);
    const method = berth(['machine', 'create', '--install-method', 'apt', '--ssh-host', host.addr, 'm1']);
    assert.deepEqual([method.code, method.stderr], [1, 'Error creating machine: invalid --install-method "apt": script, copy or auto\n']);
    const nohost = berth(['machine', 'create', 'm1']);
    assert.deepEqual([nohost.code, nohost.stderr], [1, 'Error creating machine: --ssh-host is required\n']);
    // A context of the name exists: the machine would take it over.
    assert.equal(berth(['context', 'create', 'taken', '--docker', 'host=unix:///run/elsewhere.sock']).code, 0);
    const taken = berth(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', host.key, 'taken']);
    assert.deepEqual([taken.code, taken.stderr], [1, 'Error creating machine: context "taken" already exists; remove it or choose another name\n']);
    assert.equal(berth(['context', 'inspect', '-f', '{{.Endpoints.docker.Host}}', 'taken']).stdout, 'unix:///run/elsewhere.sock\n');
    assert.equal(berth(['context', 'rm', 'taken']).code, 0);
    nothingLeft('taken');
  });

  test('the install script on a host that reaches no registry is refused up front, naming what it cannot reach', () => {
    const r = berth(['machine', 'create', '--install-method', 'script', '--ssh-host', host.addr, '--ssh-key', host.key, 'm1']);
    // Each with the host's own reason: no route, so no name server either.
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^Error creating machine: --install-method script: ${host.addr.replace(/\./g, '\\.')} does not reach deb\\.debian\\.org \\([^)]+\\) or registry\\.npmjs\\.org \\([^)]+\\); use --install-method copy to copy this host's berth\n$`));
    nothingLeft('m1');
    assert.equal(host.exec('test -e /opt/berth || test -e /etc/berth').code, 1);
  });

  test('a daemon that cannot start on the host fails create with its own words, and the host is cleaned', () => {
    // The daemon's exec root cannot be made: a file is in its place.
    assert.equal(host.exec('touch /run/berth').code, 0);
    try {
      const r = berth(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', host.key, 'm1']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /^Error installing berth on [\d.]+: the berth daemon did not come up; the end of \/var\/log\/berth\.log:; .*\/run\/berth/);
      nothingLeft('m1');
      assert.equal(host.exec('test -e /etc/berth/machine || test -e /opt/berth || test -e /usr/local/bin/berth || test -e /run/berth-machine.pid').code, 1);
    } finally {
      host.exec('rm -f /run/berth');
      berth(['machine', 'rm', '-f', 'm1']);
    }
  });

  test('auto and script check HTTPS with verification: a registry whose certificate the host does not trust means the copy, saying why', async () => {
    // The mirror and the registry answer on this machine's side of the host's bridge, npm's with a
    // certificate from a CA the host does not have: what a proxy re-signing HTTPS looks like to it.
    const gw = d.berth(['inspect', '-f', '{{.NetworkSettings.Gateway}}', host.name]).stdout.trim();
    const mirrors = await startFakeMirrors(gw);
    assert.equal(host.exec(`cp /etc/hosts /etc/hosts.orig && echo "${gw} deb.debian.org registry.npmjs.org" >> /etc/hosts`).code, 0);
    try {
      const untrusted = `${host.addr} does not trust the certificate of registry.npmjs.org (Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.); ` +
        'behind a proxy that re-signs HTTPS, the host needs its CA (in /usr/local/share/ca-certificates, then update-ca-certificates)';
      const script = berth(['machine', 'create', '--install-method', 'script', '--ssh-host', host.addr, '--ssh-key', host.key, 'm1']);
      assert.deepEqual([script.code, script.stderr], [1, `Error creating machine: --install-method script: ${untrusted}; use --install-method copy to copy this host's berth\n`]);
      nothingLeft('m1');
      // The TCP connect succeeded: the handshake is what failed, and no request was made.
      assert.deepEqual(mirrors.seen(), ['https handshake failed']);

      const auto = berth(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', host.key, 'm1']);
      assert.equal(auto.code, 0, auto.stderr + auto.stdout);
      assert.match(auto.stdout, new RegExp(`\nCopying this host's berth \\(${untrusted.replace(/[.()/]/g, '\\$&')}\\)\\.\\.\\.\n`));
      assert.equal(berth(['machine', 'inspect', '-f', '{{.Berth.InstallMethod}}', 'm1']).stdout, 'copy\n');
      assert.equal(berth(['machine', 'rm', '-y', 'm1']).code, 0);

      // The host's admin adds the CA: now the check passes and the script runs (and fails at
      // apt, these mirrors having no packages), leaving nothing.
      assert.equal(host.exec(`echo '${mirrors.caPem.trim()}' > /usr/local/share/ca-certificates/re-signing-proxy.crt && update-ca-certificates >/dev/null`).code, 0);
      const trusted = berth(['machine', 'create', '--install-method', 'script', '--ssh-host', host.addr, '--ssh-key', host.key, 'm1']);
      assert.equal(trusted.code, 1, trusted.stdout);
      assert.match(trusted.stdout, new RegExp(`Installing berth with its install script \\(${host.addr.replace(/\./g, '\\.')} reaches deb\\.debian\\.org and registry\\.npmjs\\.org\\)`));
      assert.match(trusted.stderr, /^Error installing berth on [\d.]+: apt-get could not install npm; from \/var\/log\/berth-install\.log:; (E|W): /);
      assert.ok(mirrors.seen().includes('https GET /'), mirrors.seen().join(', '));
      nothingLeft('m1');
      assert.equal(host.exec('test -e /opt/berth || test -e /etc/berth || test -e /usr/local/bin/berth').code, 1);
    } finally {
      berth(['machine', 'rm', '-y', '-f', 'm1']);
      host.exec('cp /etc/hosts.orig /etc/hosts; rm -f /etc/hosts.orig /usr/local/share/ca-certificates/re-signing-proxy.crt; update-ca-certificates --fresh >/dev/null 2>&1');
      mirrors.stop();
    }
  });

  test('create installs berth on the host; a container runs there through the context', () => {
    const r = berth(['machine', 'create', '--driver', 'ssh', '--ssh-host', host.addr, '--ssh-user', 'root', '--ssh-port', '22', '--ssh-key', host.key, 'm1']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Provisioning with Debian GNU\/Linux 12 \(bookworm\)\.\.\.\n/);
    // auto: the host reaches neither the apt mirror nor npm (no default route), so this host's build is copied.
    assert.match(r.stdout, /Copying this host's berth \([\d.]+ does not reach deb\.debian\.org \([^)]+\) or registry\.npmjs\.org \([^)]+\)\)\.\.\.\n/);
    assert.equal(berth(['machine', 'inspect', '-f', '{{.Berth.InstallMethod}}', 'm1']).stdout, 'copy\n');
    assert.match(r.stdout, /berth is up and running!\n/);
    // The remote daemon serves mutual TLS on :2376 and runs under the pidfile service (no systemd in the container).
    assert.equal(host.exec('/etc/berth/machine/berth-service status').stdout, 'running\n');
    // busybox reaches the host over the machine's context, then runs there, nested.
    const load = berth(['-c', 'm1', 'import', '--change', 'CMD ["sh"]', busyboxTarPath(), 'busybox:latest']);
    assert.equal(load.code, 0, load.stderr);
    const hi = berth(['-c', 'm1', 'run', '--rm', 'busybox', 'echo', 'hi']);
    assert.deepEqual([hi.code, hi.stdout, hi.stderr], [0, 'hi\n', '']);
    assert.equal(berth(['-c', 'm1', 'run', '--name', 'on-the-host', 'busybox', 'true']).code, 0);
    assert.equal(host.exec('berth ps -a --format "{{.Names}}"').stdout, 'on-the-host\n');
    // Not on the test's daemon.
    assert.equal(d.berth(['ps', '-a', '--filter', 'name=on-the-host', '-q']).stdout, '');
    // The machine's files: config and TLS material, keys private.
    const dir = join(machinesDir(), 'm1');
    assert.deepEqual(readdirSync(dir).sort(), ['ca-key.pem', 'ca.pem', 'cert.pem', 'config.json', 'key', 'key.pem', 'server-key.pem', 'server.pem']);
    assert.equal(readdirSync(machinesDir()).join(','), 'm1');
  });

  test('a taken name is refused and the machine is untouched', () => {
    const again = berth(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', host.key, 'm1']);
    assert.deepEqual([again.code, again.stderr], [1, 'Host already exists: "m1"\n']);
    assert.equal(berth(['machine', 'ls', '-q']).stdout, 'm1\n');
    assert.equal(berth(['-c', 'm1', 'ps', '-a', '--format', '{{.Names}}']).stdout, 'on-the-host\n');
  });

  test('ls, inspect and env describe the machine; eval of env points the docker CLI at it', () => {
    const url = `tcp://${host.addr}:2376`;
    const ls = berth(['machine', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const [head, row, ...rest] = ls.stdout.split('\n');
    assert.match(head, /^NAME\s+ACTIVE\s+DRIVER\s+STATE\s+URL\s+BERTH-VERSION\s+ERRORS$/);
    assert.deepEqual(row.trim().split(/\s+/), ['m1', '-', 'ssh', 'Running', url, 'v0.1.0']);
    assert.deepEqual(rest, ['']);

    const inspect = JSON.parse(berth(['machine', 'inspect', 'm1']).stdout) as { Name: string; DriverName: string; Driver: { IPAddress: string; SSHUser: string; SSHPort: number }; HostOptions: { AuthOptions: { ServerCertSANs: string[] } } };
    assert.equal(inspect.Name, 'm1');
    assert.equal(inspect.DriverName, 'ssh');
    assert.deepEqual([inspect.Driver.IPAddress, inspect.Driver.SSHUser, inspect.Driver.SSHPort], [host.addr, 'root', 22]);
    assert.ok(inspect.HostOptions.AuthOptions.ServerCertSANs.includes(`IP:${host.addr}`));
    assert.equal(berth(['machine', 'inspect', '-f', '{{.Driver.IPAddress}}', 'm1']).stdout, `${host.addr}\n`);
    const missing = berth(['machine', 'inspect', 'nope']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'Host does not exist: "nope"\n']);

    const certPath = join(machinesDir(), 'm1');
    assert.equal(berth(['machine', 'env', 'm1']).stdout, [
      'export DOCKER_TLS_VERIFY="1"',
      `export DOCKER_HOST="${url}"`,
      `export DOCKER_CERT_PATH="${certPath}"`,
      'export DOCKER_MACHINE_NAME="m1"',
      '# Run this command to configure your shell: ',
      '# eval $(berth machine env m1)',
      '',
    ].join('\n'));
    assert.equal(berth(['machine', 'env', 'm1'], { env: { SHELL: '/usr/bin/fish' } }).stdout.split('\n').slice(0, 2).join('\n'),
      'set -gx DOCKER_TLS_VERIFY "1";\nset -gx DOCKER_HOST "' + url + '";');
    assert.equal(berth(['machine', 'env', '--shell', 'powershell', 'm1']).stdout.split('\n')[1], `$Env:DOCKER_HOST = "${url}"`);
    assert.equal(berth(['machine', 'env', '--unset']).stdout,
      'unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME\n# Run this command to configure your shell: \n# eval $(berth machine env --unset)\n');

    // The user's shell, evaluating what env printed.
    const active = run('bash', ['-c', `eval "$("$0" machine env m1)" && "$0" machine ls --format '{{.Name}} {{.Active}}' && "$0" ps -a --format '{{.Names}}'`, BERTH], { env: env(), timeout: 120_000 });
    assert.deepEqual([active.code, active.stdout], [0, 'm1 *\non-the-host\n'], active.stderr);
    if (DOCKER) {
      const ps = run('bash', ['-c', `eval "$("$0" machine env m1)" && "$1" ps -a --format '{{.Names}}'`, BERTH, DOCKER], { env: env(), timeout: 120_000 });
      assert.deepEqual([ps.code, ps.stdout], [0, 'on-the-host\n'], ps.stderr);
      // And through the context the machine made, in the docker CLI's own store.
      const ctx = run(DOCKER, ['--context', 'm1', 'ps', '-a', '--format', '{{.Names}}'], { env: env(), timeout: 120_000 });
      assert.deepEqual([ctx.code, ctx.stdout], [0, 'on-the-host\n'], ctx.stderr);
    }
  });

  test('ssh runs a command on the machine, with its status', () => {
    const v = berth(['machine', 'ssh', 'm1', 'cat', '/etc/debian_version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^12\.\d+\n$/);
    const status = berth(['machine', 'ssh', 'm1', 'exit 3']);
    assert.equal(status.code, 3);
    const piped = berth(['machine', 'ssh', 'm1', 'cat'], { input: 'over ssh\n' });
    assert.deepEqual([piped.code, piped.stdout], [0, 'over ssh\n']);
  });

  test('the machine is also an ssh:// host: berth and the docker CLI reach it through its dial-stdio', () => {
    // The clients' OpenSSH, given a config of the test's (ssh reads ~ from the password
    // database, not $HOME): the machine's key, and the host key create remembered.
    const bin = join(home, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(home, 'ssh_config'), `Host ${host.addr}\n  IdentityFile ${host.key}\n  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile ${join(home, '.berth', 'machine', 'known_hosts')}\n  GlobalKnownHostsFile /dev/null\n`);
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${join(home, 'ssh_config')} "$@"\n`, { mode: 0o755 });
    const path = { PATH: `${bin}:${process.env.PATH}` };
    const b = berth(['-H', `ssh://root@${host.addr}`, 'run', '--rm', 'busybox', 'echo', 'hi over ssh'], { env: path });
    assert.deepEqual([b.code, b.stdout], [0, 'hi over ssh\n'], b.stderr);
    if (DOCKER) {
      // The host had no docker: create linked `docker` to berth, which the docker CLI runs there.
      const r = run(DOCKER, ['-H', `ssh://root@${host.addr}`, 'run', '--rm', 'busybox', 'echo', 'hi from docker'], { env: env(path), timeout: 120_000 });
      assert.deepEqual([r.code, r.stdout], [0, 'hi from docker\n'], r.stderr);
    }
  });

  test('stop, start and restart act on the remote daemon', () => {
    const stop = berth(['machine', 'stop', 'm1']);
    assert.deepEqual([stop.code, stop.stdout], [0, 'Stopping "m1"...\nMachine "m1" was stopped.\n'], stop.stderr);
    assert.equal(host.exec('/etc/berth/machine/berth-service status').stdout, 'stopped\n');
    assert.deepEqual(berth(['machine', 'ls', '--format', '{{.Name}} {{.State}} [{{.URL}}]']).stdout, 'm1 Stopped []\n');
    const ps = berth(['-c', 'm1', 'ps']);
    assert.equal(ps.code, 1);
    const env = berth(['machine', 'env', 'm1']);
    assert.equal(env.code, 1);
    assert.match(env.stderr, /^Error checking TLS connection: /);

    const start = berth(['machine', 'start', 'm1']);
    assert.deepEqual([start.code, start.stdout], [0, 'Starting "m1"...\nMachine "m1" was started.\n'], start.stderr);
    assert.equal(berth(['-c', 'm1', 'ps', '-a', '--format', '{{.Names}}']).stdout, 'on-the-host\n');
    const pid = host.exec('cat /run/berth-machine.pid').stdout;
    const restart = berth(['machine', 'restart', 'm1']);
    assert.deepEqual([restart.code, restart.stdout], [0, 'Restarting "m1"...\nMachine "m1" was restarted.\n'], restart.stderr);
    assert.notEqual(host.exec('cat /run/berth-machine.pid').stdout, pid);
    assert.equal(berth(['machine', 'ls', '--format', '{{.State}}']).stdout, 'Running\n');
  });

  test('regenerate-certs replaces the server certificate; --client-certs also the CA and client certificate', () => {
    const dir = join(machinesDir(), 'm1');
    const server = readFileSync(join(dir, 'server.pem'), 'utf8');
    const client = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const r = berth(['machine', 'regenerate-certs', '-f', 'm1']);
    assert.deepEqual([r.code, r.stdout], [0, 'Regenerating TLS certificates for m1\n'], r.stderr);
    assert.notEqual(readFileSync(join(dir, 'server.pem'), 'utf8'), server);
    assert.equal(readFileSync(join(dir, 'cert.pem'), 'utf8'), client);
    assert.equal(berth(['-c', 'm1', 'ps', '-a', '--format', '{{.Names}}']).stdout, 'on-the-host\n');

    const old = mkdtempSync(join(home, 'oldcerts-'));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) run('cp', [join(dir, f), join(old, f)]);
    const all = berth(['machine', 'regenerate-certs', '-f', '--client-certs', 'm1']);
    assert.equal(all.code, 0, all.stderr);
    assert.notEqual(readFileSync(join(dir, 'cert.pem'), 'utf8'), client);
    // The context follows; the old client certificate no longer gets in.
    assert.equal(berth(['-c', 'm1', 'ps', '-a', '--format', '{{.Names}}']).stdout, 'on-the-host\n');
    const refused = berth(['ps'], { env: { DOCKER_HOST: `tcp://${host.addr}:2376`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: old } });
    assert.equal(refused.code, 1);
  });

  test('rm removes the machine, its context and berth on the host', () => {
    assert.equal(berth(['context', 'use', 'm1']).code, 0);
    const r = berth(['machine', 'rm', '-y', 'm1']);
    assert.deepEqual([r.code, r.stdout], [0, 'Successfully removed m1\n'], r.stderr);
    nothingLeft('m1');
    assert.equal(berth(['context', 'show']).stdout, 'default\n');
    // The host's key is forgotten with the last machine on it.
    assert.equal(run('ssh-keygen', ['-F', host.addr, '-f', join(home, '.berth', 'machine', 'known_hosts')]).stdout, '');
    assert.equal(host.exec('test -e /etc/berth/machine || test -e /opt/berth || test -e /usr/local/bin/berth || test -e /run/berth-machine.pid').code, 1);
    const gone = berth(['machine', 'rm', '-y', 'm1']);
    assert.deepEqual([gone.code, gone.stderr], [1, 'Host does not exist: "m1"\n']);
  });
});
