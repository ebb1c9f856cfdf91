// Which overlays a node makes (src/cluster/local-overlays.ts: only those its
// tasks, containers or announced containers use, and ingress for the mesh),
// the names other nodes' containers answer to, and a service's registry
// credentials kept with its spec but never shown (src/cluster/task-images.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overlaysHere, remoteNames } from '../../src/cluster/local-overlays.ts';
import { applyRegistryAuth, withoutRegistryAuth } from '../../src/cluster/task-images.ts';
import type { OverlayNetworkRecord } from '../../src/cluster/networks.ts';
import type { ServiceRecord, TaskRecord, TaskState } from '../../src/cluster/types.ts';

const net = (id: string, ingress = false): OverlayNetworkRecord => ({
  ID: id, Version: { Index: 1 }, CreatedAt: '', UpdatedAt: '', Name: id, Labels: {}, Options: {}, Subnet: '10.0.1.0/24', Gateway: '10.0.1.1', VNI: 4097, Attachable: true, Ingress: ingress, Internal: false,
});
const service = (id: string, nets: string[]): ServiceRecord => ({
  ID: id, Version: { Index: 1 }, CreatedAt: '', UpdatedAt: '', Spec: { Name: id, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: nets.map((Target) => ({ Target })) } }, Endpoint: { Spec: {} },
});
const task = (id: string, svc: string, node: string, state: TaskState = 'running', desired: TaskRecord['DesiredState'] = 'running'): TaskRecord => ({
  ID: id, Version: { Index: 1 }, CreatedAt: '', UpdatedAt: '', Labels: {}, ServiceID: svc, Slot: 1, NodeID: node,
  Spec: { ContainerSpec: { Image: 'busybox' } }, Status: { Timestamp: '', State: state, Message: '', PortStatus: {} }, DesiredState: desired,
});

test('a node makes the overlays of its live tasks, of its containers and of announced ones, ingress when a service publishes, nothing else', () => {
  const nets = [net('ov1'), net('ov2'), net('ov3'), net('ov4'), net('ing', true)];
  const services = [service('s1', ['ov1']), service('s2', ['ov2'])];
  const base = { nodeId: 'n1', nets, services, networksOf: (s: ServiceRecord) => (s.Spec.TaskTemplate?.Networks as { Target: string }[]).map((n) => n.Target), held: new Map<string, Set<string>>(), demanded: [] as string[], meshed: false };
  assert.deepEqual([...overlaysHere({ ...base, tasks: [task('t1', 's1', 'n1'), task('t2', 's2', 'n2')] })], ['ov1'], 'another node\'s task makes nothing here');
  assert.deepEqual([...overlaysHere({ ...base, tasks: [task('t1', 's1', 'n1', 'failed'), task('t2', 's2', 'n1', 'running', 'shutdown')] })], [], 'ended or ending tasks keep nothing');
  assert.deepEqual([...overlaysHere({ ...base, tasks: [task('t1', 's1', 'n1', 'preparing')] })], ['ov1'], 'a task still preparing needs it');
  const held = new Map([['ov3', new Set(['10.0.1.5'])], ['ov2', new Set<string>()]]);
  assert.deepEqual([...overlaysHere({ ...base, tasks: [], held, demanded: ['ov4', 'gone'] })].sort(), ['ov3', 'ov4'], 'an attached container, an announced one; an unknown network is dropped');
  assert.deepEqual([...overlaysHere({ ...base, tasks: [], meshed: true })], ['ing'], 'the mesh everywhere');
});

test('the names of other nodes\' endpoints: recorded names, a task\'s name from its record, the short ID; never this node\'s own, a VIP or a node address', () => {
  const entries = new Map([
    ['10.0.1.5', { kind: 'container' as const, id: 'c'.repeat(64), node: 'n2', names: ['Att', 'alias'] }],
    ['10.0.1.6', { kind: 'container' as const, id: 'd'.repeat(64), node: 'n2', service: 's1', task: 't1' }],
    ['10.0.1.7', { kind: 'container' as const, id: 'e'.repeat(64), node: 'n1', names: ['mine'] }],
    ['10.0.1.8', { kind: 'vip' as const, id: 's1' }],
    ['10.0.1.9', { kind: 'node' as const, id: 'n2', node: 'n2' }],
  ]);
  const tasks = new Map([['t1', task('t1', 's1', 'n2')]]);
  const services = new Map([['s1', service('web', ['ov1'])]]);
  services.set('s1', { ...services.get('s1')!, ID: 's1' });
  assert.deepEqual(remoteNames(entries, 'n1', tasks, services), [
    { ip: '10.0.1.5', names: ['att', 'alias', 'cccccccccccc'] },
    { ip: '10.0.1.6', names: ['web.1.t1', 'dddddddddddd'] },
  ]);
});

test('X-Registry-Auth is kept with the spec (an update without one keeps the current, or the previous with registryAuthFrom=previous-spec) and never shown', () => {
  const spec = () => ({ Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'r/app:1' } } });
  const created = spec();
  applyRegistryAuth(created, 'AUTH1');
  assert.deepEqual(created.TaskTemplate.ContainerSpec, { Image: 'r/app:1', PullOptions: { RegistryAuth: 'AUTH1' } });
  const current = { ...service('x', []), Spec: created, PreviousSpec: { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'r/app:0', PullOptions: { RegistryAuth: 'AUTH0' } } } } } as ServiceRecord;
  const kept = spec();
  applyRegistryAuth(kept, undefined, current);
  assert.equal((kept.TaskTemplate.ContainerSpec as { PullOptions?: { RegistryAuth: string } }).PullOptions?.RegistryAuth, 'AUTH1');
  const prev = spec();
  applyRegistryAuth(prev, undefined, current, 'previous-spec');
  assert.equal((prev.TaskTemplate.ContainerSpec as { PullOptions?: { RegistryAuth: string } }).PullOptions?.RegistryAuth, 'AUTH0');
  // A client cannot set it through the body: only the header (or the current spec) counts.
  const forged = { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'r/app:1', PullOptions: { RegistryAuth: 'FORGED' } } } };
  applyRegistryAuth(forged, undefined);
  assert.equal('PullOptions' in forged.TaskTemplate.ContainerSpec, false);
  const taskWithAuth = { ...task('t', 'x', 'n'), Spec: { ContainerSpec: { Image: 'r/app:1', PullOptions: { RegistryAuth: 'AUTH2' } } } } as TaskRecord;
  const shown = JSON.stringify([withoutRegistryAuth(current), withoutRegistryAuth(taskWithAuth)]);
  assert.ok(!shown.includes('AUTH') && !shown.includes('PullOptions'), shown);
  assert.ok(JSON.stringify(current).includes('AUTH1'), 'the stored record is untouched');
});
