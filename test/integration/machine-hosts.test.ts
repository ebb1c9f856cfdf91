// `berth machine` on the other kinds of Debian host: one whose PID 1 is
// systemd (the daemon then runs as the `berth` unit, and start/stop/restart
// are systemctl's), and users other than root: with password-less sudo
// (docker-machine's requirement) everything works as for root; without it
// create says so and leaves nothing. Hosts as in machine.test.ts
// (test/helpers/machine-host.ts), the client side with a HOME of its own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { BERTH, DOCKER, TestDaemon, busyboxTarPath, run, type RunResult } from '../helpers/daemon.ts';
import { debootstrapInstalled, startMachineHost, type MachineHost } from '../helpers/machine-host.ts';

const TAG = Math.random().toString(16).slice(2, 8);

describe('berth machine on a systemd host and as a user other than root', { skip: !debootstrapInstalled() && 'debootstrap is not installed' }, () => {
  let d: TestDaemon;
  let sd: MachineHost;
  let users: MachineHost;
  let home: string;
  const env = (): NodeJS.ProcessEnv => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_') && k !== 'SSH_AUTH_SOCK' && k !== 'MACHINE_STORAGE_PATH')),
    HOME: home,
    SHELL: '/bin/bash',
  });
  const berth = (args: string[], o: { input?: string } = {}): RunResult => run(BERTH, args, { env: env(), input: o.input, timeout: 600_000 });
  const machinesDir = (): string => join(home, '.berth', 'machine', 'machines');
  const contextExists = (name: string): boolean =>
    existsSync(join(home, '.docker', 'contexts', 'meta', createHash('sha256').update(name).digest('hex'), 'meta.json'));
  const runsOn = (name: string): void => {
    const hi = berth(['-c', name, 'run', '--rm', 'busybox', 'echo', `hi on ${name}`]);
    assert.deepEqual([hi.code, hi.stdout], [0, `hi on ${name}\n`], hi.stderr);
  };

  before(async () => {
    home = mkdtempSync('/tmp/bt-mhome-');
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    d = new TestDaemon();
    await d.start();
    sd = await startMachineHost(d, `bt-msd-${TAG}`, { systemd: true });
    users = await startMachineHost(d, `bt-mu-${TAG}`, { users: [{ name: 'deploy', sudo: true }, { name: 'guest', sudo: false }] });
  });

  after(async () => {
    for (const n of ['sd1', 'u1']) berth(['machine', 'rm', '-y', '-f', n]);
    await sd?.stop();
    await users?.stop();
    await d?.destroy();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('on a systemd host the daemon is the berth unit; stop, start, restart are systemctl; a restart of the unit keeps the context working', () => {
    const r = berth(['machine', 'create', '--ssh-host', sd.addr, '--ssh-key', sd.key, 'sd1']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(JSON.parse(berth(['machine', 'inspect', '-f', '{{json .Berth.Service}}', 'sd1']).stdout), 'systemd');
    assert.equal(sd.exec('systemctl is-enabled berth; systemctl is-active berth').stdout, 'enabled\nactive\n');
    // The daemon listening on :2376 is the unit's main process.
    const main = sd.exec('systemctl show -p MainPID --value berth').stdout.trim();
    assert.match(sd.exec(`ss -Hltnp 'sport = :2376'`).stdout, new RegExp(`pid=${main},`));
    assert.equal(berth(['-c', 'sd1', 'import', '--change', 'CMD ["sh"]', busyboxTarPath(), 'busybox:latest']).code, 0);
    runsOn('sd1');

    const stop = berth(['machine', 'stop', 'sd1']);
    assert.deepEqual([stop.code, stop.stdout], [0, 'Stopping "sd1"...\nMachine "sd1" was stopped.\n'], stop.stderr);
    assert.equal(sd.exec('systemctl is-active berth').stdout, 'inactive\n');
    assert.equal(berth(['machine', 'ls', '--format', '{{.State}}']).stdout, 'Stopped\n');
    const start = berth(['machine', 'start', 'sd1']);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(sd.exec('systemctl is-active berth').stdout, 'active\n');
    const before = sd.exec('systemctl show -p MainPID --value berth').stdout;
    const restart = berth(['machine', 'restart', 'sd1']);
    assert.equal(restart.code, 0, restart.stderr);
    assert.notEqual(sd.exec('systemctl show -p MainPID --value berth').stdout, before);
    runsOn('sd1');

    // What a reboot does to the daemon: systemd starts the unit again; the context needs nothing new.
    assert.equal(sd.exec('systemctl restart berth').code, 0);
    for (let i = 0; i < 300 && berth(['machine', 'ls', '--format', '{{.State}}']).stdout !== 'Running\n'; i++) run('sleep', ['0.2']);
    runsOn('sd1');

    const rm = berth(['machine', 'rm', '-y', 'sd1']);
    assert.equal(rm.code, 0, rm.stderr);
    // The unit is gone and nothing runs as berth.
    assert.equal(sd.exec('test ! -e /etc/systemd/system/berth.service && ! systemctl is-active --quiet berth').code, 0);
  });

  test('a user with password-less sudo: create, ls, env, ssh, stop/start and rm work as for root', () => {
    const r = berth(['machine', 'create', '--ssh-host', users.addr, '--ssh-user', 'deploy', '--ssh-key', users.key, 'u1']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(JSON.parse(berth(['machine', 'inspect', '-f', '{{json .Berth.Sudo}}', 'u1']).stdout), true);
    assert.deepEqual(berth(['machine', 'ls', '--format', '{{.Name}} {{.State}} {{.URL}}']).stdout, `u1 Running tcp://${users.addr}:2376\n`);
    assert.match(berth(['machine', 'env', 'u1']).stdout, new RegExp(`^export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="tcp://${users.addr.replace(/\./g, '\\.')}:2376"\n`));
    assert.deepEqual(berth(['machine', 'ssh', 'u1', 'id -un']).stdout, 'deploy\n');
    assert.equal(berth(['-c', 'u1', 'import', '--change', 'CMD ["sh"]', busyboxTarPath(), 'busybox:latest']).code, 0);
    runsOn('u1');
    // The package and the daemon are root's, as under root.
    assert.equal(users.exec('stat -c %U /opt/berth /etc/berth/machine/server-key.pem').stdout, 'root\nroot\n');
    assert.equal(berth(['machine', 'stop', 'u1']).code, 0);
    assert.equal(users.exec('/etc/berth/machine/berth-service status').stdout, 'stopped\n');
    assert.equal(berth(['machine', 'start', 'u1']).code, 0);
    runsOn('u1');
    const rm = berth(['machine', 'rm', '-y', 'u1']);
    assert.deepEqual([rm.code, rm.stdout], [0, 'Successfully removed u1\n'], rm.stderr);
    assert.equal(users.exec('test -e /etc/berth/machine || test -e /opt/berth || test -e /usr/local/bin/berth').code, 1);
  });

  test('a user without password-less sudo is told so, and nothing is left here or on the host', () => {
    const r = berth(['machine', 'create', '--ssh-host', users.addr, '--ssh-user', 'guest', '--ssh-key', users.key, 'u2']);
    assert.deepEqual([r.code, r.stderr], [1, `Error creating machine: guest@${users.addr} is not root and cannot run sudo without a password; berth machine needs root or password-less sudo on the host\n`]);
    assert.equal(berth(['machine', 'ls', '-q']).stdout, '');
    assert.deepEqual(existsSync(machinesDir()) ? readdirSync(machinesDir()) : [], []);
    assert.equal(contextExists('u2'), false);
    assert.equal(users.exec('test -e /etc/berth/machine || test -e /opt/berth').code, 1);
  });

  // The install script downloads Debian packages and npm's dependencies (some 400 MB) from
  // deb.debian.org and registry.npmjs.org through the TestDaemon's NAT: only when asked.
  // Where this machine's HTTPS goes through a proxy that re-signs it, the host trusts the
  // CAs this machine's admin added, as its own admin would have it (machine-host.ts).
  test('auto on a host that reaches its mirror and npm runs the install script there', { skip: process.env.BERTH_TEST_ONLINE !== '1' && 'set BERTH_TEST_ONLINE=1 (it downloads from deb.debian.org and registry.npmjs.org)' }, async () => {
    const online = await startMachineHost(d, `bt-mon-${TAG}`, { online: true });
    try {
      const started = Date.now();
      const r = berth(['machine', 'create', '--ssh-host', online.addr, '--ssh-key', online.key, 'on1']);
      const took = Math.round((Date.now() - started) / 1000);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /Installing berth with its install script \([\d.]+ reaches deb\.debian\.org and registry\.npmjs\.org\)\.\.\.\n/);
      assert.equal(berth(['machine', 'inspect', '-f', '{{.Berth.InstallMethod}}', 'on1']).stdout, 'script\n');
      // Built there: the host's own C launcher and node_modules, berth linked as install.sh links it.
      assert.equal(online.exec('test -d /opt/berth/node_modules && readlink /usr/local/bin/berth').stdout, '/opt/berth/dist/berth\n');
      // install.sh seeded busybox; the machine's daemon (not the one install.sh started) serves it.
      runsOn('on1');
      // The UI was built there too (rolldown's native binding, which npm drops on a Node older than its engines).
      assert.equal(online.exec('test -f /opt/berth/dist/ui/index.html && ls /opt/berth/node_modules/@rolldown').stdout.includes('binding-linux-x64-gnu'), true);
      if (DOCKER) {
        const ps = run(DOCKER, ['--context', 'on1', 'run', '--rm', 'busybox', 'echo', 'hi from docker'], { env: env(), timeout: 120_000 });
        assert.deepEqual([ps.code, ps.stdout], [0, 'hi from docker\n'], ps.stderr);
      }
      console.log(`# machine create by the install script took ${took} s (load ${loadavg()[0].toFixed(1)})`);
      assert.equal(berth(['machine', 'rm', '-y', 'on1']).code, 0);
      assert.equal(online.exec('test -e /opt/berth || test -e /usr/local/bin/berth').code, 1);
    } finally {
      berth(['machine', 'rm', '-y', '-f', 'on1']);
      await online.stop();
    }
  });
});
