// The swarm's loops are driven by etcd watches (src/cluster/state-view.ts),
// not by polling: on two hosts whose daemons run with the view's safety
// re-check a day apart (BERTH_SWARM_RESYNC_S), so that only the watches can
// bring a change to the scheduler on the manager and to the worker's agent,
// a scale, a drain, an un-drain and a removal each still converge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { startSwarmHosts, stopSwarmHosts, type SwarmHost } from '../helpers/swarm-hosts.ts';

const TAG = Math.random().toString(16).slice(2, 8);
const ENV = { BERTH_SWARM_RESYNC_S: '86400' };

async function waitFor(what: string, fn: () => boolean, last: () => string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('swarm loops woken by watches, with no periodic re-read', { skip: (!debootstrapInstalled() && 'debootstrap is not installed') || (!DOCKER && 'no docker CLI') }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;

  /** Task containers running on h (what its agent made), by the service label. */
  const running = (h: SwarmHost): number => h.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=w']).stdout.split('\n').filter(Boolean).length;
  const counts = () => `A ${running(a)}, B ${running(b)}; ${a.docker(['service', 'ps', 'w', '--format', '{{.Node}} {{.DesiredState}} {{.CurrentState}}']).stdout.replaceAll('\n', '; ')}`;
  const converged = (onA: number, onB: number) => waitFor(`${onA} task containers on A and ${onB} on B`, () => running(a) === onA && running(b) === onB, counts);

  before(async () => {
    ({ d, hosts: [a, b] } = await startSwarmHosts(['a', 'b'].map((n) => `bt-sww${n}-${TAG}`), { daemonEnv: ENV }));
    const init = a.docker(['swarm', 'init', '--advertise-addr', a.addr]);
    assert.equal(init.code, 0, init.stderr);
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const join = b.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`], { timeout: 180_000 });
    assert.equal(join.code, 0, join.stderr);
  });

  after(() => stopSwarmHosts(d, [a, b]));

  test('the daemons run with the re-check a day apart', () => {
    for (const h of [a, b]) assert.match(h.exec('tr "\\0" "\\n" < /proc/$(cat /run/berth.pid)/environ').stdout, /^BERTH_SWARM_RESYNC_S=86400$/m);
  });

  test('create and scale: the worker starts the tasks the scheduler gives it', async () => {
    const r = a.docker(['service', 'create', '-d', '--name', 'w', '--replicas', '2', '--stop-grace-period', '1s', 'busybox', 'sleep', '3600']);
    assert.equal(r.code, 0, r.stderr);
    await converged(1, 1);
    const s = a.docker(['service', 'scale', '-d', 'w=4']);
    assert.equal(s.code, 0, s.stderr);
    await converged(2, 2);
    await waitFor('service ls 4/4', () => a.docker(['service', 'ls', '--filter', 'name=w', '--format', '{{.Replicas}}']).stdout.trim() === '4/4', counts);
  });

  test('drain: the scheduler moves the worker\'s tasks to the manager and the worker stops its copies', async () => {
    const r = a.docker(['node', 'update', '--availability', 'drain', b.name]);
    assert.equal(r.code, 0, r.stderr);
    await converged(4, 0);
    const onB = a.docker(['service', 'ps', 'w', '--filter', `node=${b.name}`, '--format', '{{.DesiredState}}']).stdout.split('\n').filter(Boolean);
    assert.ok(onB.length === 2 && onB.every((s) => s === 'Shutdown'), onB.join(','));
  });

  test('active again, then scaled to 6: the two new tasks go to the worker (spread), the manager keeps its four', async () => {
    assert.equal(a.docker(['node', 'update', '--availability', 'active', b.name]).code, 0);
    await waitFor('B active', () => a.docker(['node', 'inspect', b.name, '--format', '{{.Spec.Availability}}']).stdout.trim() === 'active', counts);
    assert.equal(a.docker(['service', 'scale', '-d', 'w=6']).code, 0);
    await converged(4, 2);
  });

  test('removal: every task container goes from both hosts', async () => {
    assert.equal(a.docker(['service', 'rm', 'w']).code, 0);
    const none = (h: SwarmHost) => h.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=w']).stdout.trim() === '';
    await waitFor('no task container left', () => none(a) && none(b), counts);
  });
});
