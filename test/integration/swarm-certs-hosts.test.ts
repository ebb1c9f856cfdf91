// Node certificates on two hosts (test/helpers/swarm-hosts.ts): A a
// manager, B a worker. With a short NodeCertExpiry (the daemons started with
// BERTH_SWARM_MIN_CERT_EXPIRY lowering swarm's one-hour minimum) both renew
// theirs over the swarm port before they expire, and keep working past the
// first certificates' end; then the root CA is rotated, every node gets a
// certificate from the new root, and join tokens name the new root; last,
// autolock with B promoted: the unlock key reaches B over the swarm port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRootCa } from '../../src/cluster/ca.ts';
import { DOCKER, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { startSwarmHosts, stopSwarmHosts, type SwarmHost } from '../helpers/swarm-hosts.ts';
import { waitFor } from '../helpers/wait.ts';

const TAG = Math.random().toString(16).slice(2, 8);
const CERTS = '/var/lib/berth/swarm/certificates';

describe('swarm node certificates on two hosts: renewal, CA rotation, autolock across managers', { skip: (!debootstrapInstalled() && 'debootstrap is not installed') || (!DOCKER && 'no docker CLI') }, () => {
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
    const daemonEnv = { BERTH_SWARM_MIN_CERT_EXPIRY: '20' };
    ({ d, hosts: [a, b] } = await startSwarmHosts(['a', 'b'].map((n) => `bt-crt${n}-${TAG}`), { daemonEnv }));
  });

  after(() => stopSwarmHosts(d, [a, b]));

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

  /** The swarm's trust root and rotation state as GET /swarm shows them. */
  const swarmTls = (h: SwarmHost): { root: string; inProgress: boolean } => {
    const r = h.docker(['info', '--format', '{{json .Swarm.Cluster}}']);
    const c = JSON.parse(r.stdout) as { TLSInfo: { TrustRoot: string }; RootRotationInProgress: boolean };
    return { root: c.TLSInfo.TrustRoot, inProgress: c.RootRotationInProgress };
  };
  /** Every node trusts `root` and holds a certificate it issued (the cross-signed root may follow it until its next renewal). */
  const onRoot = (root: string): void => {
    const x = new X509Certificate(root);
    for (const h of [a, b]) {
      assert.equal(h.exec(`cat ${CERTS}/swarm-root-ca.crt`).stdout.trim(), root.trim(), `${h.name} trusts the new root`);
      const pem = h.exec(`cat ${CERTS}/swarm-node.crt`).stdout;
      assert.ok(new X509Certificate(pem).verify(x.publicKey), `${h.name}'s certificate is the new root's`);
    }
    for (const id of a.docker(['node', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
      const info = JSON.parse(a.docker(['node', 'inspect', id, '--format', '{{json .Description.TLSInfo}}']).stdout) as { TrustRoot: string };
      assert.equal(info.TrustRoot.trim(), root.trim(), `node ${id}'s TLSInfo`);
    }
  };

  test('swarm ca --rotate (docker CLI): a new root, every node on it, join tokens naming it; an old token is refused, the new one joins', async () => {
    const oldRoot = a.docker(['swarm', 'ca']).stdout;
    assert.match(oldRoot, /^-----BEGIN CERTIFICATE-----/);
    const oldToken = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const rot = a.docker(['swarm', 'ca', '--rotate'], { timeout: 300_000 });
    assert.equal(rot.code, 0, rot.stderr + rot.stdout);
    const printed = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\s*$/.exec(rot.stdout)?.[0].trim() ?? '';
    assert.ok(printed, rot.stdout);
    assert.notEqual(printed, oldRoot.trim());
    assert.equal(a.docker(['swarm', 'ca']).stdout.trim(), printed);
    const tls = swarmTls(a);
    assert.deepEqual([tls.root.trim(), tls.inProgress], [printed, false]);
    onRoot(printed);
    assert.equal(nodes(a), `${a.name} Ready,${b.name} Ready`);
    assert.equal(running(a, 'pinger'), '2/2');
    const newToken = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    // SWMTKN-1-<digest of the root>-<secret>: both parts are new.
    assert.notEqual(newToken.split('-')[2], oldToken.split('-')[2]);
    // B leaves and comes back: the old token names a root the manager no longer has.
    assert.equal(b.docker(['swarm', 'leave']).code, 0);
    const old = b.docker(['swarm', 'join', '--token', oldToken, `${a.addr}:2377`]);
    assert.equal(old.code, 1);
    assert.equal(old.stderr.trim(), `Error response from daemon: remote CA does not match fingerprint. Expected: ${oldToken.split('-')[2]}`);
    const again = b.docker(['swarm', 'join', '--token', newToken, `${a.addr}:2377`]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(new X509Certificate(b.exec(`cat ${CERTS}/swarm-node.crt`).stdout).verify(new X509Certificate(printed).publicKey));
    // The node B left is down; it is removed so the next rotation waits only for nodes that live.
    await waitFor('the old B down', () => (a.docker(['node', 'ls', '--format', '{{.Status}}']).stdout.includes('Down') ? true : undefined), 60_000);
    for (const id of a.docker(['node', 'ls', '-q', '--filter', 'role=worker']).stdout.split('\n').filter(Boolean)) {
      if (a.docker(['node', 'inspect', id, '--format', '{{.Status.State}}']).stdout.trim() === 'down') a.docker(['node', 'rm', id]);
    }
  });

  test('berth swarm ca --rotate --ca-cert --ca-key: the user\'s root, refused with swarmkit\'s words when its key does not match', async () => {
    const dir = mkdtempSync('/tmp/berth-swarm-ca-');
    try {
      const given = makeRootCa();
      const other = makeRootCa();
      writeFileSync(join(dir, 'ca.crt'), given.cert);
      writeFileSync(join(dir, 'ca.key'), given.key);
      writeFileSync(join(dir, 'other.key'), other.key);
      const bad = a.berth(['swarm', 'ca', '--rotate', '--ca-cert', join(dir, 'ca.crt'), '--ca-key', join(dir, 'other.key')]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /rpc error: code = InvalidArgument desc = certificate key mismatch/);
      const ok = a.berth(['swarm', 'ca', '--rotate', '--ca-cert', join(dir, 'ca.crt'), '--ca-key', join(dir, 'ca.key')], { timeout: 300_000 });
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(ok.stdout.endsWith(given.cert.trim() + '\n'), ok.stdout);
      assert.equal(a.docker(['swarm', 'ca']).stdout.trim(), given.cert.trim());
      await waitFor('no rotation in progress', () => (swarmTls(a).inProgress ? undefined : true), 60_000);
      onRoot(given.cert);
      // The key is never shown back in the spec.
      assert.doesNotMatch(a.docker(['info', '--format', '{{json .Swarm.Cluster.Spec}}']).stdout, /PRIVATE KEY/);
      assert.equal(nodes(a).split(',').every((l) => l.endsWith(' Ready')), true, nodes(a));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('autolock across two managers: B, promoted, follows the key A sets and rotates; restarted, B is locked until unlocked with it', async () => {
    const state = (h: SwarmHost) => h.docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}']).stdout.trim();
    assert.equal(a.docker(['node', 'promote', b.name]).code, 0);
    await waitFor('B a manager', () => (state(b) === 'active true' ? true : undefined), 120_000);
    const on = a.docker(['swarm', 'update', '--autolock=true']);
    assert.equal(on.code, 0, on.stderr);
    const key = /^ {4}(SWMKEY-1-\S+)$/m.exec(on.stdout)?.[1] ?? '';
    assert.match(key, /^SWMKEY-1-/, on.stdout);
    // The key reached B over the swarm port (etcd holds only its hash), and B sealed its keys with it.
    await waitFor('B holding the key', () => (b.docker(['swarm', 'unlock-key', '-q']).stdout.trim() === key ? true : undefined), 60_000);
    for (const f of ['swarm-node.key', 'swarm-root-ca.key']) {
      await waitFor(`B's ${f} sealed`, () => (/BERTH SWARM SEALED KEY/.test(b.exec(`cat ${CERTS}/${f}`).stdout) ? true : undefined), 30_000);
    }
    assert.equal(b.exec('grep -rl SWMKEY /var/lib/berth/swarm || true').stdout.trim(), '', 'the key is nowhere on B\'s disk');
    await b.stopDaemon();
    await b.startDaemon();
    assert.equal(state(b), 'locked false');
    const wrong = b.berth(['swarm', 'unlock'], { input: 'SWMKEY-1-' + Buffer.alloc(32, 1).toString('base64').replace(/=+$/, '') + '\n' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /swarm could not be unlocked: invalid key provided/);
    const ok = b.berth(['swarm', 'unlock'], { input: `${key}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    await waitFor('both managers ready', () => (nodes(a) === `${a.name} Ready,${b.name} Ready` ? true : undefined), 120_000);
    // Rotated on A: B follows; after B's next restart only the new key opens it.
    const rot = a.docker(['swarm', 'unlock-key', '--rotate', '-q']);
    assert.equal(rot.code, 0, rot.stderr);
    const next = rot.stdout.trim();
    assert.notEqual(next, key);
    await waitFor('B holding the new key', () => (b.docker(['swarm', 'unlock-key', '-q']).stdout.trim() === next ? true : undefined), 60_000);
    await b.stopDaemon();
    await b.startDaemon();
    assert.match(b.berth(['swarm', 'unlock'], { input: `${key}\n` }).stderr, /invalid key provided/);
    assert.equal(b.berth(['swarm', 'unlock'], { input: `${next}\n` }).code, 0);
    await waitFor('B active again', () => (state(b) === 'active true' ? true : undefined), 60_000);
    await waitFor('both managers ready', () => (nodes(a) === `${a.name} Ready,${b.name} Ready` ? true : undefined), 120_000);
  });
});
