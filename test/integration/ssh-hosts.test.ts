// -H ssh://: a real OpenSSH server in a network namespace of the test's own
// (test/helpers/ssh-host.ts) whose sessions find this worktree's berth on the
// PATH (as `berth` and as `docker`) talking to a TestDaemon. berth's CLI and
// the unmodified docker CLI reach that daemon through `ssh … system
// dial-stdio`; the clients run in the namespace, so nothing leaves the machine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BERTH, DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { sshdInstalled, startSshHost, type SshHost } from '../helpers/ssh-host.ts';

const ADDR = '10.213.0.2';

describe('ssh:// hosts', { skip: !sshdInstalled() && 'openssh-server is not installed' }, () => {
  let d: TestDaemon;
  let host: SshHost | undefined;
  const client = (cmd: string, args: string[], o?: { key?: 'good' | 'refused'; input?: string }) => host!.client(cmd, args, o);
  const berth = (args: string[], o?: { key?: 'good' | 'refused'; input?: string }) => client(BERTH, args, o);

  before(async () => {
    d = await startSeededDaemon();
    host = await startSshHost(d, ADDR);
  });

  after(async () => {
    await host?.stop();
    await d?.destroy();
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
    // Unshared: a connection already shared (the tests before made one) answers whatever key is offered now, as OpenSSH's sharing does.
    const refused = host!.client(BERTH, ['-H', `ssh://root@${ADDR}`, 'ps'], { key: 'refused', env: { BERTH_SSH_MUX: '0' } });
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

  test("berth shares one OpenSSH connection per host in a private directory of its own, unless the user's ssh config decides", () => {
    const mux = `${host!.dir}/.berth/ssh`;
    const ps = berth(['-H', `ssh://root@${ADDR}`, 'ps', '-a', '--filter', 'name=made-over-ssh', '--format', '{{.Names}}']);
    assert.deepEqual([ps.code, ps.stdout], [0, 'made-over-ssh\n'], ps.stderr);
    assert.equal(run('stat', ['-c', '%a %U', mux]).stdout, '700 root\n');
    const sockets = (): string[] => run('find', [mux, '-type', 's']).stdout.trim().split('\n').filter(Boolean).sort();
    // One socket per destination as written (root@ADDR here; the tests before also used root@ADDR:22).
    const socket = `${mux}/${createHash('sha256').update(`root@${ADDR}:`).digest('hex').slice(0, 40)}`;
    assert.ok(sockets().includes(socket), `sockets in ${mux}: ${sockets().join(', ')}`);
    // The master is up: OpenSSH itself says so.
    const check = client('ssh', ['-o', `ControlPath=${socket}`, '-O', 'check', `root@${ADDR}`]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /^Master running \(pid=\d+\)/);
    // Without sharing (BERTH_SSH_MUX=0) the command still works, on its own connection.
    const alone = host!.client(BERTH, ['-H', `ssh://root@${ADDR}`, 'ps', '-q'], { env: { BERTH_SSH_MUX: '0' } });
    assert.equal(alone.code, 0, alone.stderr);
    // A ControlPath in the user's ssh config is theirs: berth adds none of its own, and ssh uses theirs.
    // (No user in the URL, `User root` in the config: a destination as written that no master of berth's serves.)
    const theirs = `${host!.dir}/their-mux`;
    run('mkdir', ['-m', '700', theirs]);
    const conf = `${host!.dir}/ssh_config.theirs`;
    run('sh', ['-c', `cat "$0" > "$1" && printf '  User root\\n  ControlMaster auto\\n  ControlPath %s/%%C\\n  ControlPersist 30s\\n' "$2" >> "$1"`, `${host!.dir}/ssh_config.good`, conf, theirs]);
    const ours = sockets();
    const own = host!.client(BERTH, ['-H', `ssh://${ADDR}`, 'ps', '-q'], { env: { BT_SSH_CONFIG: conf } });
    assert.equal(own.code, 0, own.stderr);
    assert.deepEqual(sockets(), ours);
    const theirsNow = run('find', [theirs, '-type', 's']).stdout.trim().split('\n').filter(Boolean);
    assert.equal(theirsNow.length, 1);
    // Masters of this test: asked to exit, so none outlives the host.
    for (const s of [...ours, ...theirsNow]) {
      client('ssh', ['-o', `ControlPath=${s}`, '-O', 'exit', `root@${ADDR}`]);
    }
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
