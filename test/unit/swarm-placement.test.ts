// Swarm placement as swarm's scheduler decides it (src/cluster/placement.ts):
// its constraint parser's words, matching (values case-insensitive, label
// names exact, unknown keys never), the filter pipeline's explanation, and
// spread over preference groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eligibleNodes, nodeMatches, parseConstraints, pickNode, type ClusterView } from '../../src/cluster/placement.ts';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../src/cluster/types.ts';

function node(id: string, o: { labels?: Record<string, string>; role?: 'manager' | 'worker'; availability?: 'active' | 'pause' | 'drain'; mem?: number } = {}): NodeRecord {
  return {
    ID: id, Version: { Index: 1 }, CreatedAt: '', UpdatedAt: '',
    Spec: { Labels: o.labels ?? {}, Role: o.role ?? 'worker', Availability: o.availability ?? 'active' },
    Description: { Hostname: `host-${id}`, Platform: { OS: 'linux', Architecture: 'x86_64' }, Resources: { NanoCPUs: 2e9, MemoryBytes: o.mem ?? 1e9 }, Engine: { Labels: { disk: 'ssd' } } },
    Status: { State: 'ready', Addr: '10.0.0.1' },
  };
}

function service(id: string, spec: ServiceRecord['Spec']['TaskTemplate'] = {}): ServiceRecord {
  return { ID: id, Version: { Index: 1 }, CreatedAt: '', UpdatedAt: '', Spec: { Name: id, TaskTemplate: spec }, Endpoint: { Spec: {} } };
}

function task(svc: string, nodeId: string, reserveMem = 0): TaskRecord {
  return {
    ID: `${svc}-${nodeId}-${Math.random()}`, Version: { Index: 1 }, CreatedAt: '', UpdatedAt: '', Labels: {}, ServiceID: svc, Slot: 1, NodeID: nodeId,
    Spec: { Resources: { Reservations: { MemoryBytes: reserveMem } } },
    Status: { Timestamp: '', State: 'running', Message: '', PortStatus: {} }, DesiredState: 'running',
  };
}

test('the constraint parser takes == and != and refuses what swarm refuses, in its words', () => {
  assert.deepEqual(parseConstraints([' node.role == manager ', 'node.labels.zone!=mars']), [
    { key: 'node.role', op: '==', value: 'manager' }, { key: 'node.labels.zone', op: '!=', value: 'mars' },
  ]);
  assert.throws(() => parseConstraints(['node.role']), { message: 'constraint expected one operator from ==, !=' });
  assert.throws(() => parseConstraints(['1x==a']), { message: "key '1x' is invalid" });
  assert.throws(() => parseConstraints(['node.role==<a>']), { message: "value '<a>' is invalid" });
});

test('matching: values case-insensitive, label names exact, a missing label is "", an unknown key never matches', () => {
  const n = node('n1', { labels: { zone: 'Mars' }, role: 'manager' });
  const m = (e: string) => nodeMatches(parseConstraints([e]), n);
  assert.equal(m('node.labels.zone==mars'), true);
  assert.equal(m('node.labels.Zone==mars'), false);
  assert.equal(m('node.labels.rack!=r1'), true);
  assert.equal(m('node.role==MANAGER'), true);
  assert.equal(m('node.id==n1'), true);
  assert.equal(m('node.hostname!=host-n1'), false);
  assert.equal(m('engine.labels.disk==ssd'), true);
  assert.equal(m('node.platform.os==linux'), true);
  assert.equal(m('node.colour==red'), false);
  assert.equal(m('node.colour!=red'), false);
});

test('a node counts against the first filter it fails; the explanation names the most failures first', () => {
  const nodes = [node('a', { availability: 'drain' }), node('b', { mem: 1e6 }), node('c', { mem: 1e6 }), node('d', { labels: { zone: 'earth' } })];
  const view: ClusterView = { nodes, alive: new Set(['a', 'b', 'c', 'd']), tasks: [] };
  const svc = service('s', { Resources: { Reservations: { MemoryBytes: 1e8 } }, Placement: { Constraints: ['node.labels.zone==mars'] } });
  const r = eligibleNodes(view, svc, svc.Spec.TaskTemplate ?? {});
  assert.deepEqual(r.nodes, []);
  assert.equal(r.explanation, 'insufficient resources on 2 nodes; 1 node not available for new tasks; scheduling constraints not satisfied on 1 node');
  // A node whose heartbeat is gone is not ready either.
  assert.equal(eligibleNodes({ ...view, alive: new Set() }, service('t'), {}).explanation, '4 nodes not available for new tasks');
});

test('reservations count what the node\'s tasks already reserve', () => {
  const view: ClusterView = { nodes: [node('a', { mem: 3e8 })], alive: new Set(['a']), tasks: [task('x', 'a', 2e8)] };
  const svc = service('s', { Resources: { Reservations: { MemoryBytes: 2e8 } } });
  assert.equal(pickNode(view, svc, svc.Spec.TaskTemplate ?? {}).node, undefined);
  view.tasks[0].Status.State = 'failed';
  assert.equal(pickNode(view, svc, svc.Spec.TaskTemplate ?? {}).node?.ID, 'a');
});

test('spread: the preference group with fewest of the service\'s tasks first, then the node with fewest', () => {
  const nodes = [node('a', { labels: { dc: 'east' } }), node('b', { labels: { dc: 'east' } }), node('c', { labels: { dc: 'west' } })];
  const svc = service('s', { Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.dc' } }] } });
  const view: ClusterView = { nodes, alive: new Set(['a', 'b', 'c']), tasks: [] };
  const placed: string[] = [];
  for (let i = 0; i < 4; i++) {
    const n = pickNode(view, svc, svc.Spec.TaskTemplate ?? {}).node as NodeRecord;
    placed.push(n.ID);
    view.tasks.push(task('s', n.ID));
  }
  // east and west take turns; within east, a then b.
  assert.deepEqual(placed, ['a', 'c', 'b', 'c']);
});
