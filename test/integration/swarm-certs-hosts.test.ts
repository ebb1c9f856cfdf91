// Node certificates on two hosts (test/helpers/swarm-hosts.ts): A a
// manager, B a worker. With a short NodeCertExpiry (the daemons started with
// BERTH_SWARM_MIN_CERT_EXPIRY lowering swarm's one-hour minimum) both renew
// theirs over the swarm port before they expire, and keep working past the
// first certificates' end; then the root CA is rotated, every node gets a
// certificate from the new root, and join tokens name the new root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { DOCKER, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { startSwarmHost, type SwarmHost } from '../helpers/swarm-hosts.ts';
import { waitFor } from '../helpers/wait.ts';

const TAG = Math.random().toString(16).slice(2, 8);
const CERTS = '/var/lib/berth/swarm/certificates';

describe('swarm node certificates on two hosts: renewal and CA rotation', { skip: (!debootstrapInstalled() && 'debootstrap is not installed') || (!DOCKER && 'no docker CLI') }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;

  /** The host's node certificate (the first PEM block of its file: a chain may follow). */
  const nodeCert = (h: SwarmHost): X509Certificate => {
    const r = h.exec(`cat ${CERTS}/swarm-node.crt`);
    assert.equal(r.code, 0, r.stderr);
    return new X509Certificate(r.stdout);
  };
  const nodes = (h: SwarmHost): string => h.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']).stdout.split('\n').filter(Boolean).sort().join(',');
  const running = (h: SwarmHost, svc: string): string => h.docker(['service', 'ls', '--filter', `name=${svc}`, '--format', '{{.Replicas}}']).stdout.trim();

  before(async () => {
    d = new TestDaemon();
    await d.start();
    const daemonEnv = { BERTH_SWARM_MIN_CERT_EXPIRY: '20' };
    [a, b] = await Promise.all(['a', 'b'].map((n) => startSwarmHost(d, `bt-crt${n}-${TAG}`, { daemonEnv })));
  });

  after(async () => {
    for (const h of [b, a]) h?.docker(['swarm', 'leave', '--force']);
    await Promise.all([a, b].map((h) => h?.stop()));
    await d?.destroy();
  });

  test('--cert-expiry below the minimum is refused with swarmkit\'s words; init with 40s issues a 40 s certificate; a worker joins with one', () => {
    const short = a.docker(['swarm', 'init', '--advertise-addr', a.addr, '--cert-expiry', '10s']);
    assert.equal(short.code, 1);
    assert.equal(short.stderr.trim(), 'Error response from daemon: rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 20s');
    assert.equal(a.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim(), 'inactive');
    const init = a.docker(['swarm', 'init', '--advertise-addr', a.addr, '--cert-expiry', '40s']);
    assert.equal(init.code, 0, init.stderr);
    const ca = nodeCert(a);
    // notBefore is set back a tenth of the validity (at most a minute), for clocks a little behind.
    assert.equal(Date.parse(ca.validTo) - Date.parse(ca.validFrom), 44_000);
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const join = b.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`]);
    assert.equal(join.code, 0, join.stderr);
    const cb = nodeCert(b);
    assert.equal(Date.parse(cb.validTo) - Date.parse(cb.validFrom), 44_000);
    assert.match(cb.subject, /OU=swarm-worker/);
    const upd = a.docker(['swarm', 'update', '--cert-expiry', '15s']);
    assert.equal(upd.stderr.trim(), 'Error response from daemon: rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 20s');
  });

  test('both nodes renew before expiry and keep working past their first certificates\' end', async () => {
    const first = { a: nodeCert(a), b: nodeCert(b) };
    const svc = a.docker(['service', 'create', '--detach', '--name', 'pinger', '--mode', 'global', 'busybox', 'sleep', '3600']);
    assert.equal(svc.code, 0, svc.stderr);
    await waitFor('a task on each node', () => (running(a, 'pinger') === '2/2' ? true : undefined), 90_000);
    // Past the first certificates' notAfter, and both renewed (their notAfter moved on).
    const end = Math.max(Date.parse(first.a.validTo), Date.parse(first.b.validTo));
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 5000));
    for (const [h, c] of [[a, first.a], [b, first.b]] as const) {
      const now = nodeCert(h);
      assert.ok(Date.parse(now.validTo) > Date.parse(c.validTo), `${h.name}: ${now.validTo} after ${c.validTo}`);
      assert.notEqual(now.serialNumber, c.serialNumber);
      assert.equal(now.subject, c.subject);
      assert.ok(Date.parse(now.validTo) > Date.now(), `${h.name}'s certificate is valid now`);
    }
    assert.equal(nodes(a), `${a.name} Ready,${b.name} Ready`);
    // The worker still reaches the store with its renewed certificate: it runs a task it is given now.
    assert.equal(a.docker(['service', 'create', '--detach', '--name', 'late', '--constraint', 'node.role==worker', 'busybox', 'sleep', '3600']).code, 0);
    await waitFor('the new task on the worker', () => (running(a, 'late') === '1/1' ? true : undefined), 60_000);
    // A worker daemon restarted now, its first certificate long expired, comes back with the renewed one.
    await b.stopDaemon();
    await b.startDaemon();
    await waitFor('B back in the swarm after its restart', () => (b.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim() === 'active' ? true : undefined), 60_000);
    // Its heartbeat from before the restart has run out by now (10 s): Ready is the restarted daemon's.
    await new Promise((r) => setTimeout(r, 12_000));
    assert.equal(nodes(a), `${a.name} Ready,${b.name} Ready`);
  });
});
