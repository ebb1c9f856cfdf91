// Swarm mode on three hosts on this machine (test/helpers/swarm-hosts.ts:
// Debian containers of one TestDaemon, each with its own address and its own
// berth daemon, reached by the docker CLI over mutual TLS). A inits, B joins
// as a manager and C as a worker through the swarm port's TLS, pinned to the
// CA the token names; then placement, a node going down, a manager killed
// with -9, quorum with one manager of three lost, role changes and leaving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { waitSwarm, nodeLines, startSwarmHosts, stopSwarmHosts, type SwarmHost } from '../helpers/swarm-hosts.ts';

const TAG = Math.random().toString(16).slice(2, 8);

describe('swarm mode on three hosts', { skip: (!debootstrapInstalled() && 'debootstrap is not installed') || (!DOCKER && 'no docker CLI') }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;
  let c: SwarmHost;
  const ids: Record<string, string> = {};


  const hasLine = (h: SwarmHost, re: RegExp, ms = 60_000) => waitSwarm(`node ls on ${h.name} to show ${re}`, () => (re.test(nodeLines(h)) ? true : undefined), ms)
    .catch((err: Error) => { throw new Error(`${err.message}; last: ${nodeLines(h)}`); });
  /** The raft timing h's etcd member runs with: "heartbeat/election" in ms. */
  const timing = (h: SwarmHost) => / --heartbeat-interval (\d+) --election-timeout (\d+)/.exec(h.exec('tr "\\0" " " < /proc/$(pgrep -x etcd)/cmdline').stdout)?.slice(1).join('/');
  const nodesAre = (h: SwarmHost, want: string, ms = 60_000) => waitSwarm(`node ls on ${h.name}: ${want}`, () => (nodeLines(h) === want ? want : undefined), ms)
    .catch((err: Error) => { throw new Error(`${err.message}; last: ${nodeLines(h)}`); });
  /** Where the running tasks of svc are: hostname → count. */
  const placement = (h: SwarmHost, svc: string): Record<string, number> => {
    const r = h.docker(['service', 'ps', svc, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}']);
    const out: Record<string, number> = {};
    for (const [node, state] of r.stdout.split('\n').filter(Boolean).map((l) => l.split(' '))) if (state === 'Running') out[node] = (out[node] ?? 0) + 1;
    return out;
  };

  before(async () => {
    ({ d, hosts: [a, b, c] } = await startSwarmHosts(['a', 'b', 'c'].map((n) => `bt-sw${n}-${TAG}`)));
  });
  after(() => stopSwarmHosts(d, [a, b, c]));

  test('init on A makes a root CA (key 0600) and tokens carrying its digest; B joins as a manager, C as a worker; node ls shows 3 ready', async () => {
    const init = a.docker(['swarm', 'init', '--advertise-addr', a.addr]);
    assert.equal(init.code, 0, init.stderr);
    ids.a = /current node \(([a-z0-9]{25})\) is now a manager/.exec(init.stdout)?.[1] ?? '';
    assert.ok(ids.a, init.stdout);
    assert.match(init.stdout, new RegExp(`docker swarm join --token SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25} ${a.addr.replace(/\./g, '\\.')}:2377`));

    const certs = '/var/lib/berth/swarm/certificates';
    assert.equal(a.exec(`stat -c '%a' ${certs}/swarm-root-ca.key ${certs}/swarm-node.key`).stdout, '600\n600\n');
    const caPem = a.exec(`cat ${certs}/swarm-root-ca.crt`).stdout;
    const digest = BigInt(`0x${createHash('sha256').update(caPem).digest('hex')}`).toString(36).padStart(50, '0');
    const worker = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const manager = a.docker(['swarm', 'join-token', '-q', 'manager']).stdout.trim();
    assert.match(worker, new RegExp(`^SWMTKN-1-${digest}-[a-z0-9]{25}$`));
    assert.match(manager, new RegExp(`^SWMTKN-1-${digest}-[a-z0-9]{25}$`));
    assert.equal(a.docker(['info', '--format', '{{.Swarm.Cluster.TLSInfo.TrustRoot}}']).stdout.trim(), caPem.trim());

    // Every member on etcd's own raft timing (the default; BERTH_ETCD_* change it).
    assert.equal(timing(a), '100/1000');
    const jb = b.docker(['swarm', 'join', '--token', manager, `${a.addr}:2377`], { timeout: 180_000 });
    assert.deepEqual([jb.code, jb.stdout, jb.stderr], [0, 'This node joined a swarm as a manager.\n', '']);
    assert.equal(timing(b), '100/1000');
    assert.equal(timing(a), '100/1000');
    const jc = c.docker(['swarm', 'join', '--token', worker, `${a.addr}:2377`], { timeout: 180_000 });
    assert.deepEqual([jc.code, jc.stdout, jc.stderr], [0, 'This node joined a swarm as a worker.\n', '']);

    await nodesAre(a, [`${a.name} Ready Leader`, `${b.name} Ready Reachable`, `${c.name} Ready`].sort().join('\n'));
    // B is a manager too: it answers for the cluster; C, a worker, is refused as dockerd refuses.
    await nodesAre(b, [`${a.name} Ready Leader`, `${b.name} Ready Reachable`, `${c.name} Ready`].sort().join('\n'));
    const onWorker = c.docker(['node', 'ls']);
    assert.equal(onWorker.code, 1);
    assert.equal(onWorker.stderr, 'Error response from daemon: This node is not a swarm manager. Worker nodes can\'t be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.\n');
    assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}']).stdout.trim(), 'active false');

    // Each node's certificate: CN its node ID, OU its role, O the cluster, issued by the cluster's CA.
    const clusterId = a.docker(['info', '--format', '{{.Swarm.Cluster.ID}}']).stdout.trim();
    for (const [h, role] of [[b, 'swarm-manager'], [c, 'swarm-worker']] as const) {
      const id = h.docker(['info', '--format', '{{.Swarm.NodeID}}']).stdout.trim();
      ids[h === b ? 'b' : 'c'] = id;
      const subject = h.exec(`openssl x509 -in ${certs}/swarm-node.crt -noout -subject -nameopt RFC2253`).stdout.trim();
      assert.equal(subject, `subject=CN=${id},OU=${role},O=${clusterId}`);
      assert.equal(h.exec(`openssl verify -CAfile ${certs}/swarm-root-ca.crt ${certs}/swarm-node.crt`).stdout, `${certs}/swarm-node.crt: OK\n`);
    }
    // A worker holds no CA key and runs no etcd member.
    assert.equal(c.exec(`test -e ${certs}/swarm-root-ca.key || pgrep -x etcd`).code, 1);
    assert.equal(b.exec('pgrep -x etcd >/dev/null').code, 0);
  });

  test('bad joins: a wrong token, a token for another CA, a malformed one, an unreachable manager, a node already in a swarm', () => {
    const worker = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    // Right CA digest, wrong secret: the manager refuses it.
    const wrong = worker.replace(/-[a-z0-9]{25}$/, `-${'0'.repeat(25)}`);
    const leaveC = c.docker(['swarm', 'leave']);
    assert.equal(leaveC.code, 0, leaveC.stderr);
    try {
      const r = c.docker(['swarm', 'join', '--token', wrong, `${a.addr}:2377`]);
      assert.deepEqual([r.code, r.stderr], [1, 'Error response from daemon: rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster\n']);
      // Another CA's digest: the joiner refuses the manager's CA before showing it the token.
      const other = worker.replace(/^SWMTKN-1-[a-z0-9]{50}/, `SWMTKN-1-${'1'.repeat(50)}`);
      const r2 = c.docker(['swarm', 'join', '--token', other, `${a.addr}:2377`]);
      assert.deepEqual([r2.code, r2.stderr], [1, `Error response from daemon: remote CA does not match fingerprint. Expected: ${'1'.repeat(50)}\n`]);
      const r3 = c.docker(['swarm', 'join', '--token', 'SWMTKN-1-nonsense', `${a.addr}:2377`]);
      assert.deepEqual([r3.code, r3.stderr], [1, 'Error response from daemon: invalid join token\n']);
      // No manager answers: dockerd's timeout, the join going on in the background until a leave.
      const r4 = c.docker(['swarm', 'join', '--token', worker, `${a.addr}:2399`]);
      assert.deepEqual([r4.code, r4.stderr], [1, 'Error response from daemon: Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node.\n']);
      assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim(), 'pending');
      assert.equal(c.docker(['swarm', 'leave']).code, 0);
      assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim(), 'inactive');
      // A rotated token: the old one is refused, the new one works.
      assert.equal(a.docker(['swarm', 'join-token', '--rotate', '-q', 'worker']).code, 0);
      const rotated = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
      assert.notEqual(rotated, worker);
      const old = c.docker(['swarm', 'join', '--token', worker, `${a.addr}:2377`]);
      assert.deepEqual([old.code, old.stderr], [1, 'Error response from daemon: rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster\n']);
    } finally {
      const rotated = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
      const back = c.docker(['swarm', 'join', '--token', rotated, `${a.addr}:2377`], { timeout: 180_000 });
      assert.equal(back.code, 0, back.stderr);
    }
    ids.c = c.docker(['info', '--format', '{{.Swarm.NodeID}}']).stdout.trim();
    const twice = b.docker(['swarm', 'join', '--token', worker, `${a.addr}:2377`]);
    assert.deepEqual([twice.code, twice.stderr], [1, 'Error response from daemon: This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.\n']);
    // The old C shows down; node rm takes it away (not the ready one without --force).
    const down = a.docker(['node', 'ls', '--filter', `name=${c.name}`, '--format', '{{.ID}} {{.Status}}']).stdout.trim().split('\n').find((l) => l.endsWith(' Down'));
    assert.ok(down, 'the left C is listed down');
    assert.equal(a.docker(['node', 'rm', down.split(' ')[0]]).code, 0);
    const ready = a.docker(['node', 'rm', ids.c]);
    assert.deepEqual([ready.code, ready.stderr], [1, `Error response from daemon: rpc error: code = FailedPrecondition desc = node ${ids.c} is not down and can't be removed\n`]);
  });

  test('a 6-replica service spreads two tasks on each host; service ps shows where', async () => {
    const r = a.docker(['service', 'create', '-d', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', 'busybox', 'sleep', '3600']);
    assert.equal(r.code, 0, r.stderr);
    const want = { [a.name]: 2, [b.name]: 2, [c.name]: 2 };
    const sorted = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort());
    await waitSwarm('2 tasks on each host', () => (sorted(placement(a, 'web')) === sorted(want) ? true : undefined), 120_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(placement(a, 'web'))}`); });
    // The containers are where service ps says, each host's own engine running its two.
    for (const h of [a, b, c]) {
      const ps = h.docker(['ps', '--filter', 'label=com.docker.swarm.service.name=web', '--format', '{{.Names}}']);
      assert.equal(ps.stdout.split('\n').filter(Boolean).length, 2, `${h.name}: ${ps.stdout}${ps.stderr}`);
    }
  });

  test('a worker whose daemon stops (kill -9: its heartbeat lease runs out) shows down and its replicas move to A and B; restarted, it is ready and its stale copies are stopped', async () => {
    const killed = Date.now();
    await c.stopDaemon('KILL');
    await hasLine(a, new RegExp(`^${c.name} Down$`, 'm'));
    assert.equal(a.docker(['node', 'inspect', c.name, '--format', '{{.Status.State}}']).stdout, 'down\n');
    // Its two tasks are shut down and replaced on the ready nodes, spread: three each.
    const sorted = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort());
    await waitSwarm('6 tasks on A and B', () => (sorted(placement(a, 'web')) === sorted({ [a.name]: 3, [b.name]: 3 }) ? true : undefined), 90_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(placement(a, 'web'))}`); });
    console.log(`# C's replicas running elsewhere ${((Date.now() - killed) / 1000).toFixed(1)} s after its daemon was killed`);
    const onC = a.docker(['service', 'ps', 'web', '--filter', `node=${c.name}`, '--format', '{{.DesiredState}}']).stdout.split('\n').filter(Boolean);
    assert.ok(onC.length >= 2 && onC.every((s) => s === 'Shutdown'), onC.join(','));
    await c.startDaemon();
    await hasLine(a, new RegExp(`^${c.name} Ready$`, 'm'));
    // The copies C kept running while cut off are stopped: it runs what the swarm wants there, nothing.
    const wanted = () => a.docker(['service', 'ps', 'web', '--filter', `node=${c.name}`, '--filter', 'desired-state=running', '-q', '--no-trunc']).stdout.split('\n').filter(Boolean).sort().join(' ');
    const running = () => c.docker(['ps', '--filter', 'label=com.docker.swarm.service.name=web', '--format', '{{.Label "com.docker.swarm.task.id"}}']).stdout.split('\n').filter(Boolean).sort().join(' ');
    await waitSwarm('C running what it is assigned', () => (running() === wanted() ? true : undefined))
      .catch((err: Error) => { throw new Error(`${err.message}: wanted ${wanted()}, running ${running()}`); });
    assert.equal(wanted(), '');
    assert.equal(sorted(placement(a, 'web')), sorted({ [a.name]: 3, [b.name]: 3 }));
  });

  test('a secret created on A reaches a task the constraint puts on the worker C (from a manager, over the swarm port: the worker holds no data key)', async () => {
    const file = join(d.dataRoot, '..', 'token.txt');
    writeFileSync(file, 'across-hosts');
    const sec = a.docker(['secret', 'create', 'token', file]);
    assert.equal(sec.code, 0, sec.stderr);
    const r = a.docker(['service', 'create', '-d', '--name', 'usesec', '--secret', 'token', '--constraint', `node.hostname==${c.name}`, 'busybox', 'sh', '-c', 'cat /run/secrets/token; echo; sleep 3600']);
    assert.equal(r.code, 0, r.stderr);
    try {
      const id = await waitSwarm('the task running on C', () => c.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=usesec']).stdout.trim() || undefined, 90_000);
      const logs = await waitSwarm('its output', () => c.docker(['logs', id]).stdout || undefined);
      assert.equal(logs, 'across-hosts\n', c.docker(['logs', id]).stderr);
    } finally {
      assert.equal(a.docker(['service', 'rm', 'usesec']).code, 0);
    }
    await waitSwarm('its container gone from C', () => (c.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=usesec']).stdout.trim() === '' ? true : undefined), 60_000);
    assert.equal(a.docker(['secret', 'rm', 'token']).code, 0);
  });

  test('a rolling update with parallelism 1 replaces the 6 replicas one at a time: never fewer than 5 running', async () => {
    const u = a.docker(['service', 'update', '-d', '--update-parallelism', '1', '--update-monitor', '1s', '--env-add', 'ROLLED=1', 'web']);
    assert.equal(u.code, 0, u.stderr);
    const total = () => Object.values(placement(a, 'web')).reduce((x, y) => x + y, 0);
    let fewest = Infinity;
    await waitSwarm('the update completed', () => {
      fewest = Math.min(fewest, total());
      return a.docker(['service', 'inspect', 'web', '--format', '{{.UpdateStatus.State}}']).stdout.trim() === 'completed' ? true : undefined;
    }, 180_000);
    assert.ok(fewest >= 5, `${fewest} running at one point`);
    assert.equal(total(), 6);
    const envs = a.docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '-q']).stdout.split('\n').filter(Boolean);
    assert.equal(envs.length, 6);
  });

  test('node update: availability and labels; demote B (its etcd member leaves); the last manager cannot be demoted', async () => {
    const u = a.docker(['node', 'update', '--label-add', 'zone=east', '--label-add', 'disk=ssd', '--availability', 'pause', c.name]);
    assert.equal(u.code, 0, u.stderr);
    const u2 = a.docker(['node', 'update', '--label-rm', 'disk', c.name]);
    assert.equal(u2.code, 0, u2.stderr);
    assert.equal(b.docker(['node', 'inspect', c.name, '--format', '{{json .Spec.Labels}} {{.Spec.Availability}} {{.Status.State}}']).stdout.trim(), '{"zone":"east"} pause ready');
    const bad = a.docker(['node', 'update', '--availability', 'asleep', c.name]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid/);
    const demote = a.docker(['node', 'demote', b.name]);
    assert.deepEqual([demote.code, demote.stdout], [0, `Manager ${b.name} demoted in the swarm.\n`], demote.stderr);
    await nodesAre(a, [`${a.name} Ready Leader`, `${b.name} Ready`, `${c.name} Ready`].sort().join('\n'), 90_000);
    await waitSwarm('etcd gone from B', () => (b.exec('pgrep -x etcd').code === 1 ? true : undefined));
    assert.equal(b.exec('test -e /var/lib/berth/swarm/certificates/swarm-root-ca.key').code, 1);
    const only = a.docker(['node', 'demote', a.name]);
    assert.equal(only.code, 1);
    assert.match(only.stderr, /attempting to demote the last manager of the swarm/);
    assert.equal(a.docker(['node', 'update', '--availability', 'active', c.name]).code, 0);
  });

  test('promote B and C: three managers, each with an etcd member, all on the swarm\'s raft timing', async () => {
    const r = a.docker(['node', 'promote', b.name, c.name]);
    assert.equal(r.code, 0, r.stderr);
    await nodesAre(a, [`${a.name} Ready Leader`, `${b.name} Ready Reachable`, `${c.name} Ready Reachable`].sort().join('\n'), 120_000);
    for (const h of [b, c]) await waitSwarm(`etcd on ${h.name}`, () => (h.exec('pgrep -x etcd >/dev/null').code === 0 ? true : undefined));
    for (const h of [a, b, c]) assert.equal(timing(h), '100/1000', h.name);
    assert.equal(c.exec('test -f /var/lib/berth/swarm/certificates/swarm-root-ca.key').code, 0);
    // C answers for the cluster now.
    await nodesAre(c, [`${a.name} Ready Leader`, `${b.name} Ready Reachable`, `${c.name} Ready Reachable`].sort().join('\n'));
  });

  test('kill -9 of the leader\'s daemon: another manager leads, no service is lost, and A comes back', async () => {
    await a.stopDaemon('KILL');
    await hasLine(b, new RegExp(`^(${b.name}|${c.name}) Ready Leader$`, 'm'));
    assert.equal(b.docker(['service', 'ls', '--format', '{{.Name}}']).stdout, 'web\n');
    await a.startDaemon();
    await hasLine(b, new RegExp(`^${a.name} Ready Reachable$`, 'm'), 90_000);
    assert.equal(a.docker(['service', 'inspect', 'web', '--format', '{{.Spec.Mode.Replicated.Replicas}}']).stdout, '6\n');
  });

  test('losing one manager of three keeps the cluster writable; the lost one shows down', async () => {
    await c.crash();
    await hasLine(a, new RegExp(`^${c.name} Down Unreachable$`, 'm'));
    const created = a.docker(['service', 'create', '-d', '--name', 'second', '--replicas', '2', 'busybox', 'sleep', '3600']);
    assert.equal(created.code, 0, created.stderr);
    const scaled = b.docker(['service', 'scale', '-d', 'web=4']);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.equal(a.docker(['service', 'ls', '--format', '{{.Name}}']).stdout, 'second\nweb\n');
    await c.startDaemon();
    await hasLine(a, new RegExp(`^${c.name} Ready Reachable$`, 'm'), 90_000);
  });

  test('leave: a manager without --force is warned off; with it, its member leaves and the others go on', async () => {
    const r = c.docker(['swarm', 'leave']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: You are attempting to leave the swarm on a node that is participating as a manager. The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.\n');
    const forced = c.docker(['swarm', 'leave', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(c.exec('pgrep -x etcd').code, 1);
    await hasLine(a, new RegExp(`^${c.name} Down`, 'm'));
    const rm = a.docker(['node', 'rm', c.name]);
    assert.equal(rm.code, 0, `${rm.stderr}\n${c.exec('grep -i swarm /var/log/berth.log | tail -20').stdout}`);
    assert.equal(a.docker(['service', 'update', '-d', '--replicas', '2', 'second']).code, 0);
    await hasLine(b, new RegExp(`^${a.name} Ready (Leader|Reachable)\n${b.name} Ready (Leader|Reachable)$`));
  });

  test('node rm --force of a ready worker: the node finds itself removed and leaves, its task containers with it', async () => {
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const j = c.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`], { timeout: 180_000 });
    assert.equal(j.code, 0, j.stderr);
    await hasLine(a, new RegExp(`^${c.name} Ready$`, 'm'));
    assert.equal(a.docker(['service', 'scale', '-d', 'web=6']).code, 0);
    await waitSwarm('a task on C', () => (c.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web']).stdout.trim() ? true : undefined), 120_000);
    const rm = a.docker(['node', 'rm', '--force', c.name]);
    assert.equal(rm.code, 0, rm.stderr);
    await waitSwarm('C out of the swarm', () => (c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim() === 'inactive' ? true : undefined));
    await waitSwarm('C\'s task containers gone', () => (c.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web']).stdout === '' ? true : undefined));
    assert.doesNotMatch(nodeLines(a), new RegExp(c.name));
  });
});
