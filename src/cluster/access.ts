// etcd access by role (etcd's auth). Every client shows its node
// certificate, whose CN (the node's ID) etcd takes as the user's name.
// Managers' users have etcd's root role: they run the cluster (every key,
// the membership, auth itself). A worker's user has a role of its own,
// node-<id>, granting what a worker's daemon reads and writes and nothing
// more: never secrets/ or configs/ (a worker gets its tasks' files from a
// manager, secrets.ts), the unlock key's hash, the CA rotation's progress
// records of others, name claims but the networks', or update progress.
//
// The leader keeps users and roles as the node records and etcd's
// membership say (AccessControl.pass): a node is a manager while its record
// says so or it still has a member (a demoted manager keeps root until its
// member has left, which needs root); a removed node's user goes; auth is
// turned on if it is not (a swarm made before this, or one just made).
// Joins and promotions set the node's user at once (admission.ts), since
// the node uses the store as soon as it is answered.
import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { KEYS, PREFIX, type ClusterStore } from './store.ts';
import { NETWORK_KEYS } from './networks.ts';
import type { Role } from './ca.ts';
import type { NodeRecord, TaskRecord } from './types.ts';

type Perm = 'Read' | 'Write' | 'Readwrite';
interface Grant { perm: Perm; key: string; prefix: boolean }

const ROOT = 'root';
/** Node IDs as spec.ts makes them: a user of another name is none of the swarm's nodes. */
const NODE_ID = /^[a-z0-9]{25}$/;

export function nodeRole(nodeId: string): string {
  return `node-${nodeId}`;
}

/**
 * What a worker's daemon touches in etcd, read from its code: the state
 * view's worker prefixes and the agent (state-view.ts loopPrefixes, agent.ts),
 * the network pass (network-agent.ts, networks.ts: ingress made by the first
 * node that needs it, VIPs, node and container addresses), `docker info`
 * (objects.ts nodes(): heartbeats, leader), the CA rotation it follows,
 * and its own heartbeat and log port.
 */
export function workerGrants(nodeId: string): Grant[] {
  const p = (perm: Perm, key: string): Grant => ({ perm, key, prefix: true });
  return [
    p('Read', KEYS.cluster), p('Read', KEYS.nodes), p('Read', KEYS.services), p('Read', KEYS.heartbeats), p('Read', KEYS.leader),
    p('Read', `${PREFIX}ca-rotation`),
    // The agent writes its tasks' status (the task's record).
    p('Readwrite', KEYS.tasks),
    p('Readwrite', NETWORK_KEYS.networks), p('Readwrite', NETWORK_KEYS.names), p('Readwrite', NETWORK_KEYS.vnis),
    p('Readwrite', NETWORK_KEYS.vips), p('Readwrite', NETWORK_KEYS.nodeAddrs), p('Readwrite', NETWORK_KEYS.ipam),
    { perm: 'Write', key: KEYS.heartbeats + nodeId, prefix: false },
    { perm: 'Write', key: `${PREFIX}log-ports/${nodeId}`, prefix: false },
  ];
}

/** etcd's end of a prefix range: the prefix with its last byte plus one. */
function rangeEnd(key: string): Buffer {
  const b = Buffer.from(key);
  b[b.length - 1]++;
  return b;
}

function sameGrants(have: { permType: string; key: Buffer; range_end: Buffer }[], want: Grant[]): boolean {
  const text = (perm: string, key: string, end: string) => `${perm} ${key} ${end}`;
  const a = have.map((g) => text(g.permType, Buffer.from(g.key).toString('utf8'), g.range_end?.length ? Buffer.from(g.range_end).toString('utf8') : '')).sort();
  const b = want.map((g) => text(g.perm, g.key, g.prefix ? rangeEnd(g.key).toString('utf8') : '')).sort();
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * etcd refuses an add of what exists and a revoke of what is not granted:
 * not errors here, where a join and the leader's pass may do the same at once.
 */
async function tolerateExists(call: () => Promise<unknown>): Promise<void> {
  await call().catch((err: Error) => {
    if (!/already exists|not granted|not found/i.test(err.message)) throw err;
  });
}

/**
 * The node's user as its role says: a manager's with root; a worker's with
 * its node role (its grants made exact first) and without root, granted
 * before root goes so the node is never without access.
 */
export async function ensureUser(client: Etcd3, nodeId: string, role: Role): Promise<void> {
  await tolerateExists(() => client.auth.userAdd({ name: nodeId, options: { no_password: true } }));
  const roles = (await client.auth.userGet({ name: nodeId })).roles ?? [];
  const own = nodeRole(nodeId);
  if (role === 'manager') {
    if (!roles.includes(ROOT)) await client.auth.userGrantRole({ user: nodeId, role: ROOT });
    if (roles.includes(own)) await tolerateExists(() => client.auth.userRevokeRole({ name: nodeId, role: own }));
    return;
  }
  await tolerateExists(() => client.auth.roleAdd({ name: own }));
  const want = workerGrants(nodeId);
  const have = (await client.auth.roleGet({ role: own })).perm ?? [];
  if (!sameGrants(have, want)) {
    for (const g of have) await tolerateExists(() => client.auth.roleRevokePermission({ role: own, key: g.key, range_end: g.range_end }));
    for (const g of want) {
      await client.auth.roleGrantPermission({ name: own, perm: { permType: g.perm, key: Buffer.from(g.key), range_end: g.prefix ? rangeEnd(g.key) : Buffer.alloc(0) } });
    }
  }
  if (!roles.includes(own)) await client.auth.userGrantRole({ user: nodeId, role: own });
  if (roles.includes(ROOT)) await tolerateExists(() => client.auth.userRevokeRole({ name: nodeId, role: ROOT }));
}

/** A node gone from the swarm: its user and role go (either may be gone already). */
async function dropUser(client: Etcd3, nodeId: string): Promise<void> {
  await client.auth.userDelete({ name: nodeId }).catch(() => {});
  await client.auth.roleDelete({ role: nodeRole(nodeId) }).catch(() => {});
}

/**
 * Auth on: etcd wants a `root` user first. No certificate names it (node
 * IDs are 25 characters of [a-z0-9]) and its password is never kept, so it
 * is no way in; the managers' users are. Enabling is a no-op when on.
 */
async function enableAuth(client: Etcd3, users: Set<string>): Promise<void> {
  if (!users.has(ROOT)) {
    await tolerateExists(() => client.auth.userAdd({ name: ROOT, password: randomBytes(32).toString('base64') }));
    await client.auth.userGrantRole({ user: ROOT, role: ROOT });
  }
  await client.auth.authEnable();
}

/** The leader's upkeep of users and roles; a pass does etcd's auth calls only when the nodes or the members changed. */
export class AccessControl {
  private readonly store: ClusterStore;
  /** Where the node records are read: the leader's watched view (an idle pass reads only etcd's member list). */
  private readonly reads: ClusterStore;
  private done = '';

  constructor(store: ClusterStore, reads: ClusterStore = store) {
    this.store = store;
    this.reads = reads;
  }

  async pass(): Promise<void> {
    const [viewed, members] = await Promise.all([this.reads.list<NodeRecord>(KEYS.nodes), this.store.members()]);
    const inRaft = new Set(members.map((m) => m.name).filter(Boolean));
    const roles = (nodes: NodeRecord[]) => new Map<string, Role>(nodes.map((n) => [n.ID, n.Spec.Role === 'manager' || inRaft.has(n.ID) ? 'manager' : 'worker']));
    if (JSON.stringify([...roles(viewed)].sort()) === this.done) return;
    // Acted on from etcd's records, not the view's: the view can lag a join or a promotion by
    // a heartbeat, and the user that join made before its answer (admission.ts) would be
    // dropped, or a promoted manager's root taken back, as if the node were not there yet.
    const want = this.reads === this.store ? roles(viewed) : roles(await this.store.list<NodeRecord>(KEYS.nodes));
    const seen = JSON.stringify([...want].sort());
    const client = this.store.client;
    const users = new Set((await client.auth.userList()).users ?? []);
    for (const [id, role] of want) await ensureUser(client, id, role);
    for (const u of users) if (NODE_ID.test(u) && !want.has(u)) await dropUser(client, u);
    // No root user: auth was never on (a swarm from before it). Its tasks were placed without
    // assignment records (scheduler.ts); taken from their records now, before workers lose the
    // power to forge them. Never later: a task record a worker wrote is no placement.
    if (!users.has(ROOT)) await this.backfill();
    await enableAuth(client, users);
    this.done = seen;
  }

  private async backfill(): Promise<void> {
    for (const t of await this.store.list<TaskRecord>(KEYS.tasks)) {
      if (!t.NodeID || (await this.store.getString(KEYS.assignments + t.ID)) !== null) continue;
      await this.store.put(KEYS.assignments + t.ID, JSON.stringify({ NodeID: t.NodeID, ServiceID: t.ServiceID }));
    }
  }
}
