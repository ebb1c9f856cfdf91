// Swarm faults on three hosts on this machine (test/helpers/swarm-hosts.ts,
// as swarm-hosts.test.ts): a worker cut off from the managers by iptables
// inside its host (its daemon running on), two managers of three lost, a
// manager's `swarm init --force-new-cluster`, and a join whose managers do
// not answer in time. Each is seen through the docker CLI against the
// daemons, where a user would look.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { DOCKER, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { waitSwarm, nodeLines, startSwarmHosts, stopSwarmHosts, type SwarmHost } from '../helpers/swarm-hosts.ts';

/** The status of GET path on h's engine, with the test's client certificate (the docker CLI shows no status). */
function apiStatus(d: TestDaemon, h: SwarmHost, path: string): Promise<number | undefined> {
  const certs = join(d.dir, 'swarm-client-tls');
  return new Promise((resolve, reject) => {
    request({ host: h.addr, port: 2376, path, ca: readFileSync(join(certs, 'ca.pem')), cert: readFileSync(join(certs, 'cert.pem')), key: readFileSync(join(certs, 'key.pem')) }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject).end();
  });
}

const TAG = Math.random().toString(16).slice(2, 8);
const LOST_QUORUM = "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.\n";
const JOIN_TIMEOUT = 'Error response from daemon: Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node.\n';

describe('swarm faults on three hosts', { skip: (!debootstrapInstalled() && 'debootstrap is not installed') || (!DOCKER && 'no docker CLI') }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;
  let c: SwarmHost;
  const ids: Record<string, string> = {};


  const nodesMatch = (h: SwarmHost, re: RegExp, ms = 90_000) => waitSwarm(`node ls on ${h.name} to match ${re}`, () => (re.test(nodeLines(h)) ? true : undefined), ms)
    .catch((err: Error) => { throw new Error(`${err.message}; last: ${nodeLines(h)}`); });
  /** Running tasks of svc by hostname, as `service ps` on h shows them. */
  const placement = (h: SwarmHost, svc: string): Record<string, number> => {
    const r = h.docker(['service', 'ps', svc, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}']);
    const out: Record<string, number> = {};
    for (const [node, state] of r.stdout.split('\n').filter(Boolean).map((l) => l.split(' '))) if (state === 'Running') out[node] = (out[node] ?? 0) + 1;
    return out;
  };
  const sorted = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort());
  const placed = (h: SwarmHost, svc: string, want: Record<string, number>, ms = 120_000) => waitSwarm(`${svc} placed ${sorted(want)}`, () => (sorted(placement(h, svc)) === sorted(want) ? true : undefined), ms)
    .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(placement(h, svc))}`); });
  /** The task containers of svc running on h's engine: container ID → started at. */
  const running = (h: SwarmHost, svc: string): Record<string, string> => {
    const ps = h.docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.split('\n').filter(Boolean);
    if (!ps.length) return {};
    const r = h.docker(['inspect', '--format', '{{.Id}} {{.State.StartedAt}}', ...ps]);
    return Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')));
  };
  /** Drops (or with undo, restores) h's traffic to and from the other hosts: its daemon runs on, the test's CLI still reaches it. */
  const cut = (h: SwarmHost, from: SwarmHost[], undo = false) => {
    const op = undo ? '-D' : '-I';
    const rules = from.flatMap((o) => [`iptables ${op} INPUT -s ${o.addr} -j DROP`, `iptables ${op} OUTPUT -d ${o.addr} -j DROP`]);
    const r = h.exec(rules.join(' && '));
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    ({ d, hosts: [a, b, c] } = await startSwarmHosts(['a', 'b', 'c'].map((n) => `bt-sf${n}-${TAG}`)));
  });
  after(() => stopSwarmHosts(d, [a, b, c]));

  test('set-up: A inits, B joins as a manager, C as a worker; a 6-replica service runs two tasks on each host', async () => {
    const init = a.docker(['swarm', 'init', '--advertise-addr', a.addr]);
    assert.equal(init.code, 0, init.stderr);
    ids.a = /current node \(([a-z0-9]{25})\)/.exec(init.stdout)?.[1] ?? '';
    const jb = b.docker(['swarm', 'join', '--token', a.docker(['swarm', 'join-token', '-q', 'manager']).stdout.trim(), `${a.addr}:2377`], { timeout: 180_000 });
    assert.equal(jb.code, 0, jb.stderr);
    const jc = c.docker(['swarm', 'join', '--token', a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim(), `${a.addr}:2377`], { timeout: 180_000 });
    assert.equal(jc.code, 0, jc.stderr);
    for (const [k, h] of [['b', b], ['c', c]] as const) ids[k] = h.docker(['info', '--format', '{{.Swarm.NodeID}}']).stdout.trim();
    await nodesMatch(a, new RegExp(`^${a.name} Ready Leader\n${b.name} Ready Reachable\n${c.name} Ready$`));
    const r = a.docker(['service', 'create', '-d', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', 'busybox', 'sleep', '3600']);
    assert.equal(r.code, 0, r.stderr);
    await placed(a, 'web', { [a.name]: 2, [b.name]: 2, [c.name]: 2 });
  });

  test('a worker cut off by iptables (its daemon up) shows down, its tasks run elsewhere, its own copies run on while cut off; healed, it stops them: 6 run, no more', async () => {
    const before = running(c, 'web');
    assert.equal(Object.keys(before).length, 2);
    const t0 = Date.now();
    cut(c, [a, b]);
    let healed = false;
    try {
      await nodesMatch(a, new RegExp(`^${c.name} Down$`, 'm'));
      await placed(a, 'web', { [a.name]: 3, [b.name]: 3 });
      console.log(`# C's tasks running on A and B ${((Date.now() - t0) / 1000).toFixed(1)} s after it was cut off`);
      // What the worker does while cut off, as swarmkit's agent: it keeps running the tasks it has.
      assert.deepEqual(running(c, 'web'), before);
      const onC = a.docker(['service', 'ps', 'web', '--filter', `node=${c.name}`, '--format', '{{.DesiredState}}']).stdout.split('\n').filter(Boolean);
      assert.deepEqual(onC, ['Shutdown', 'Shutdown']);
      cut(c, [a, b], true);
      healed = true;
      const t1 = Date.now();
      await nodesMatch(a, new RegExp(`^${c.name} Ready$`, 'm'));
      // Reconnected, its agent finds the two tasks no longer its to run and stops their containers.
      await waitSwarm('C\'s partitioned copies stopped', () => (Object.keys(running(c, 'web')).length === 0 ? true : undefined), 90_000);
      console.log(`# C ready and its copies stopped ${((Date.now() - t1) / 1000).toFixed(1)} s after the partition healed`);
    } finally {
      if (!healed) cut(c, [a, b], true);
    }
    const total = [a, b, c].reduce((n, h) => n + Object.keys(running(h, 'web')).length, 0);
    assert.equal(total, 6);
    assert.equal(sorted(placement(a, 'web')), sorted({ [a.name]: 3, [b.name]: 3 }));
    // The stopped copies are kept, as dockerd keeps a shut-down task's container, and their tasks say so.
    assert.equal(c.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web', '--filter', 'status=exited']).stdout.split('\n').filter(Boolean).length, 2);
    await waitSwarm('C\'s old tasks shut down', () => {
      const states = a.docker(['service', 'ps', 'web', '--filter', `node=${c.name}`, '--format', '{{.CurrentState}}']).stdout.split('\n').filter(Boolean);
      return states.length === 2 && states.every((s) => s.startsWith('Shutdown')) ? true : undefined;
    });
  });

  test('two managers of three lost: writes and reads on the last one fail with swarmkit\'s words, every task runs on; back, the cluster recovers by itself', async () => {
    const p = a.docker(['node', 'promote', c.name]);
    assert.equal(p.code, 0, p.stderr);
    await nodesMatch(a, new RegExp(`^${a.name} Ready Leader\n${b.name} Ready Reachable\n${c.name} Ready Reachable$`), 120_000);
    assert.equal(a.docker(['service', 'scale', '-d', 'web=6']).code, 0);
    const startedOn = Object.fromEntries([a, b, c].map((h) => [h.name, running(h, 'web')]));

    await Promise.all([b.crash(), c.crash()]);
    // Until A's member notices its peers are gone (its election timeout), a read may still wait out its deadline.
    // (A write sent to it while it still led could be committed once they return, as in any Raft:
    // the writes below are sent once it knows it has no leader, when it drops them.)
    await waitSwarm('the lost quorum error', () => (a.docker(['service', 'ls']).stderr === LOST_QUORUM ? true : undefined));
    for (const args of [['service', 'create', '-d', '--name', 'late', 'busybox', 'sleep', '3600'], ['service', 'update', '-d', '--env-add', 'X=1', 'web'], ['service', 'ls'], ['node', 'ls']]) {
      const r = a.docker(args);
      assert.deepEqual([r.code, r.stderr], [1, LOST_QUORUM], args.join(' '));
    }
    // scale names the service whose scaling failed.
    const scale = a.docker(['service', 'scale', '-d', 'web=8']);
    assert.deepEqual([scale.code, scale.stderr], [1, `web: ${LOST_QUORUM}`]);
    // The same answer over the API: a 500 as dockerd's (gRPC's code Unknown).
    assert.equal(await apiStatus(d, a, '/services'), 500);
    assert.equal(a.docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.Error}}']).stdout, `active ${LOST_QUORUM.slice('Error response from daemon: '.length)}`);
    // A's tasks run on, untouched.
    assert.deepEqual(running(a, 'web'), startedOn[a.name]);

    await Promise.all([b.startDaemon(), c.startDaemon()]);
    await nodesMatch(a, new RegExp(`^${a.name} Ready (Leader|Reachable)\n${b.name} Ready (Leader|Reachable)\n${c.name} Ready (Leader|Reachable)$`), 120_000);
    // B's and C's task containers ran through their daemons' loss (the same containers, never restarted).
    for (const h of [a, b, c]) assert.deepEqual(running(h, 'web'), startedOn[h.name], h.name);
    // Reads, writes and scheduling again, through any manager; what was refused did not happen.
    assert.equal(b.docker(['service', 'ls', '--format', '{{.Name}}']).stdout, 'web\n');
    assert.equal(b.docker(['service', 'inspect', 'web', '--format', '{{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Env}}']).stdout, '6 []\n');
    const scaled = b.docker(['service', 'scale', '-d', 'web=9']);
    assert.equal(scaled.code, 0, scaled.stderr);
    await placed(c, 'web', { [a.name]: 3, [b.name]: 3, [c.name]: 3 });
    const late = c.docker(['service', 'create', '-d', '--name', 'late', '--replicas', '3', 'busybox', 'sleep', '3600']);
    assert.equal(late.code, 0, late.stderr);
    await placed(a, 'late', { [a.name]: 1, [b.name]: 1, [c.name]: 1 });
  });

  test('swarm init --force-new-cluster on the manager left without quorum: one manager keeping services, nodes and secrets; the others rejoin', async () => {
    const file = join(d.dataRoot, '..', 'fnc-secret.txt');
    writeFileSync(file, 'kept');
    assert.equal(a.docker(['secret', 'create', 'kept', file]).code, 0);
    assert.equal(a.docker(['service', 'scale', '-d', 'web=6', 'late=0']).code, 0);
    await waitSwarm('6 web tasks running', () => (Object.values(placement(a, 'web')).reduce((x, y) => x + y, 0) === 6 ? true : undefined), 120_000);

    await Promise.all([b.crash(), c.crash()]);
    await waitSwarm('the lost quorum error', () => (a.docker(['service', 'ls']).stderr === LOST_QUORUM ? true : undefined));
    const f = a.docker(['swarm', 'init', '--force-new-cluster', '--advertise-addr', a.addr]);
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, new RegExp(`^Swarm initialized: current node \\(${ids.a}\\) is now a manager\\.\n`));
    // B and C are listed as down workers now (their members are gone from the cluster).
    await nodesMatch(a, new RegExp(`^${a.name} Ready Leader\n${b.name} Down\n${c.name} Down$`));
    assert.equal(a.docker(['info', '--format', '{{.Swarm.Managers}} {{.Swarm.Nodes}}']).stdout, '1 3\n');
    assert.equal(a.docker(['service', 'ls', '--format', '{{.Name}}']).stdout, 'late\nweb\n');
    assert.equal(a.docker(['secret', 'ls', '--format', '{{.Name}}']).stdout, 'kept\n');
    // It schedules alone: B's and C's tasks move to A.
    await placed(a, 'web', { [a.name]: 6 });
    assert.equal(a.exec('pgrep -cx etcd').stdout, '1\n');

    // Back (one at a time: together they would still be a majority of the old
    // membership), B and C cannot resume it, A's member refusing theirs as
    // removed; they leave it and join again as managers.
    const token = a.docker(['swarm', 'join-token', '-q', 'manager']).stdout.trim();
    for (const h of [b, c]) {
      await h.startDaemon();
      await waitSwarm(`${h.name} pending`, () => (h.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim() === 'pending' ? true : undefined));
      const l = h.docker(['swarm', 'leave', '--force']);
      assert.deepEqual([l.code, l.stdout], [0, 'Node left the swarm.\n'], l.stderr);
      assert.equal(h.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout, 'inactive\n');
      const j = h.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`], { timeout: 180_000 });
      assert.deepEqual([j.code, j.stdout], [0, 'This node joined a swarm as a manager.\n'], `${h.name}: ${j.stderr}`);
    }
    for (const id of [ids.b, ids.c]) assert.equal(a.docker(['node', 'rm', id]).code, 0);
    await nodesMatch(b, new RegExp(`^${a.name} Ready (Leader|Reachable)\n${b.name} Ready (Leader|Reachable)\n${c.name} Ready (Leader|Reachable)$`), 120_000);
    for (const [k, h] of [['b', b], ['c', c]] as const) ids[k] = h.docker(['info', '--format', '{{.Swarm.NodeID}}']).stdout.trim();
    assert.equal(a.docker(['info', '--format', '{{.Swarm.Managers}} {{.Swarm.Nodes}}']).stdout, '3 3\n');
    // The rejoined managers hold the same secrets and write for the cluster.
    assert.equal(c.docker(['secret', 'inspect', 'kept', '--format', '{{.Spec.Name}}']).stdout, 'kept\n');
    const s = c.docker(['service', 'scale', '-d', 'web=9']);
    assert.equal(s.code, 0, s.stderr);
    await waitSwarm('9 web tasks running', () => (Object.values(placement(b, 'web')).reduce((x, y) => x + y, 0) === 9 ? true : undefined), 120_000);
  });

  test('a join whose managers do not answer: dockerd\'s timeout message, the node pending, the join going on until they answer; leave cancels one; one refused later leaves the node in error', async () => {
    const l = c.docker(['swarm', 'leave', '--force']);
    assert.equal(l.code, 0, l.stderr);
    await nodesMatch(a, new RegExp(`^${c.name} Down`, 'm'));
    assert.equal(a.docker(['node', 'rm', ids.c]).code, 0);
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();

    cut(c, [a, b]);
    let healed = false;
    try {
      const j = c.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`]);
      assert.deepEqual([j.code, j.stdout, j.stderr], [1, '', JOIN_TIMEOUT]);
      assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout, 'pending\n');
      const again = c.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`]);
      assert.deepEqual([again.code, again.stderr], [1, 'Error response from daemon: This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.\n']);
      cut(c, [a, b], true);
      healed = true;
    } finally {
      if (!healed) cut(c, [a, b], true);
    }
    // The managers answer again: the join completes by itself.
    await waitSwarm('C joined in the background', () => (c.docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}']).stdout === 'active false\n' ? true : undefined));
    await nodesMatch(a, new RegExp(`^${c.name} Ready$`, 'm'));

    // Pending again, then left: the background join stops and never completes.
    assert.equal(c.docker(['swarm', 'leave']).code, 0);
    cut(c, [a, b]);
    healed = false;
    try {
      const j = c.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`]);
      assert.deepEqual([j.code, j.stderr], [1, JOIN_TIMEOUT]);
      const left = c.docker(['swarm', 'leave']);
      assert.deepEqual([left.code, left.stdout], [0, 'Node left the swarm.\n'], left.stderr);
      assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout, 'inactive\n');
      cut(c, [a, b], true);
      healed = true;
    } finally {
      if (!healed) cut(c, [a, b], true);
    }
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout, 'inactive\n');

    // A background join the manager refuses, once it answers (a wrong secret): the node is in error, saying why, until it leaves.
    const wrong = token.replace(/-[a-z0-9]{25}$/, `-${'0'.repeat(25)}`);
    cut(c, [a, b]);
    healed = false;
    try {
      const j = c.docker(['swarm', 'join', '--token', wrong, `${a.addr}:2377`]);
      assert.deepEqual([j.code, j.stderr], [1, JOIN_TIMEOUT]);
      cut(c, [a, b], true);
      healed = true;
    } finally {
      if (!healed) cut(c, [a, b], true);
    }
    await waitSwarm('C in error', () => (c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout === 'error\n' ? true : undefined));
    assert.equal(c.docker(['info', '--format', '{{.Swarm.Error}}']).stdout, 'rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster\n');
    assert.equal(c.docker(['swarm', 'leave']).code, 0);
    assert.equal(c.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout, 'inactive\n');
  });
});
