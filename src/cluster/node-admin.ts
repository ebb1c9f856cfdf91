// A manager's writes to nodes and to the swarm itself, with swarmkit's
// checks and words: `node update` (availability, labels, role: the node's own
// daemon then takes the role, see roles.ts), `node rm`, and `swarm update`
// (its spec, and new join tokens on --rotate).
import { ConflictError, InvalidArgumentError } from '../errors.ts';
import { joinToken } from './ca.ts';
import { KEYS, type ClusterStore } from './store.ts';
import type { ClusterObjects } from './objects.ts';
import type { ClusterRecord, NodeRecord } from './types.ts';

const OUT_OF_SEQUENCE = 'rpc error: code = Unknown desc = update out of sequence';

function failedPrecondition(desc: string): InvalidArgumentError {
  return new InvalidArgumentError(`rpc error: code = FailedPrecondition desc = ${desc}`);
}

export interface NodeSpecUpdate {
  Name?: string;
  Labels?: Record<string, string>;
  Role?: string;
  Availability?: string;
}

export async function updateNode(store: ClusterStore, objects: ClusterObjects, ref: string, version: number, spec: NodeSpecUpdate): Promise<void> {
  const node = await objects.node(ref);
  const role = spec.Role ?? node.Spec.Role;
  const availability = spec.Availability ?? node.Spec.Availability;
  // dockerd decodes these into enums: anything else is its "invalid role"/"invalid availability".
  if (role !== 'manager' && role !== 'worker') throw new InvalidArgumentError(`invalid role ${JSON.stringify(role)}`);
  if (!['active', 'pause', 'drain'].includes(availability)) throw new InvalidArgumentError(`invalid availability ${JSON.stringify(availability)}`);
  if (version !== node.Version.Index) throw new ConflictError(OUT_OF_SEQUENCE);
  if (node.Spec.Role === 'manager' && role === 'worker') {
    const managers = (await objects.nodes()).filter((n) => n.Spec.Role === 'manager');
    if (managers.length === 1 && managers[0].ID === node.ID) throw failedPrecondition('attempting to demote the last manager of the swarm');
  }
  const next: NodeRecord = {
    ...node,
    UpdatedAt: new Date().toISOString(),
    Spec: { ...(spec.Name ? { Name: spec.Name } : {}), Labels: spec.Labels ?? {}, Role: role, Availability: availability as NodeRecord['Spec']['Availability'] },
  };
  // Status and ManagerStatus are derived on read; the stored record keeps what it had.
  const stored = await store.get<NodeRecord>(KEYS.nodes + node.ID);
  if (!stored) throw new ConflictError(OUT_OF_SEQUENCE);
  next.Status = stored.Status;
  if (stored.ManagerStatus) next.ManagerStatus = stored.ManagerStatus;
  else delete next.ManagerStatus;
  await store.updateOrConflict(KEYS.nodes + node.ID, next);
}

/**
 * `node rm`: a node still in the etcd membership must be demoted first; a
 * ready node only with --force (its daemon, if it lives, then finds itself
 * removed and leaves).
 */
export async function removeNode(store: ClusterStore, objects: ClusterObjects, ref: string, force: boolean): Promise<void> {
  const node = await objects.node(ref);
  if (node.Spec.Role === 'manager' && (await store.members()).some((m) => m.name === node.ID)) {
    throw failedPrecondition(`node ${node.ID} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
  }
  if (!force && node.Status.State === 'ready') throw failedPrecondition(`node ${node.ID} is not down and can't be removed`);
  await store.delete(KEYS.nodes + node.ID);
  await store.delete(KEYS.heartbeats + node.ID);
}

export interface SwarmUpdate {
  version: number;
  spec: Record<string, unknown>;
  rotateWorkerToken: boolean;
  rotateManagerToken: boolean;
  caCert: string;
}

export async function updateSwarm(store: ClusterStore, objects: ClusterObjects, u: SwarmUpdate): Promise<void> {
  const cluster = await objects.cluster();
  if (u.version !== cluster.Version.Index) throw new ConflictError(OUT_OF_SEQUENCE);
  const next: ClusterRecord = {
    ...cluster,
    UpdatedAt: new Date().toISOString(),
    Spec: { ...cluster.Spec, ...u.spec },
    JoinTokens: {
      Worker: u.rotateWorkerToken ? joinToken(u.caCert) : cluster.JoinTokens.Worker,
      Manager: u.rotateManagerToken ? joinToken(u.caCert) : cluster.JoinTokens.Manager,
    },
  };
  await store.updateOrConflict(KEYS.cluster, next);
}

/** A node's ManagerStatus as its role now is (set on promotion, cleared on demotion), over concurrent writers. */
export async function setManagerStatus(store: ClusterStore, nodeId: string, status: NodeRecord['ManagerStatus']): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const node = await store.get<NodeRecord>(KEYS.nodes + nodeId);
    if (!node) return;
    const next: NodeRecord = { ...node, UpdatedAt: new Date().toISOString() };
    if (status) next.ManagerStatus = status;
    else delete next.ManagerStatus;
    if (await store.update(KEYS.nodes + nodeId, next)) return;
  }
}
