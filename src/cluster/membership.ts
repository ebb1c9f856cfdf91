// A node's running membership: what `swarm init`/`join` record of it
// (state.json), what it runs while in the swarm (member, store, loops,
// leases, the swarm port), its heartbeat and its bid for leadership, and the
// steps of a join that do not need the service around them.
import type { Server } from 'node:https';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Lease } from 'etcd3';
import { UnavailableError } from '../errors.ts';
import type { Role } from './ca.ts';
import type { EtcdMember, MemberPorts } from './etcd-member.ts';
import { ClusterStore, KEYS } from './store.ts';
import { ReconcileLoop } from './reconcile-loop.ts';
import { Scheduler } from './scheduler.ts';
import { AccessControl } from './access.ts';
import type { StateView } from './state-view.ts';
import type { ClusterObjects } from './objects.ts';
import type { ClusterNetworks } from './networks.ts';
import type { NetworkAgent } from './network-agent.ts';
import type { ClusterFiles } from './secrets.ts';
import { SWARM_PORT } from './swarm-port.ts';

export type Log = (level: string, msg: string) => void;

const MANAGER_LEAVES = 'You are attempting to leave the swarm on a node that is participating as a manager. ';
const LAST_MANAGER = `${MANAGER_LEAVES}Removing the last manager erases all current state of the swarm. Use \`--force\` to ignore this message. `;
const RESTORE = 'The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.';
/** dockerd's general refusal of a manager's leave without --force. */
export const LEAVE_REFUSAL = MANAGER_LEAVES + RESTORE;

/**
 * A node is down 12 s after its last heartbeat (swarmkit's dispatcher: 15 s,
 * three 5 s periods missed). The etcd3 client renews a lease every third of
 * its TTL, so every 4 s: a manager's member that does not lead forwards each
 * renewal to the leader over a peer connection the leader closes after 5 s
 * idle, and a renewal every 5 s found it closed one time in three, each a
 * new TLS connection (bench/swarm-idle.ts). The leader's lease renews every
 * 3.3 s; a leader killed without revoking it is replaced after 10 s.
 */
const HEARTBEAT_TTL = 12;
const LEADER_TTL = 10;

/** What a node records of its membership (swarm/state.json), written last at init and join. */
export interface NodeState {
  NodeID: string;
  ClusterID: string;
  Role: Role;
  AdvertiseAddr: string;
  /** Where a manager serves the swarm port (host:port). */
  ListenAddr: string;
  /** A manager's etcd ports on AdvertiseAddr. */
  ports?: MemberPorts;
  /** Client URLs of the members: a worker's store, a manager's fallbacks. */
  endpoints: string[];
  /** A joining manager's first start: its --initial-cluster, and the learner it promotes. */
  initialCluster?: string;
  memberId?: string;
  /** A manager whose member is its cluster's only one, on etcd's quick timing (etcd-member.ts ALONE) until a second is added. */
  raftAlone?: boolean;
}

/** What a running membership holds. */
export interface Membership {
  state: NodeState;
  member?: EtcdMember;
  store: ClusterStore;
  objects: ClusterObjects;
  /** The overlays and their addresses, and this node's network pass (network-agent.ts). */
  networks: ClusterNetworks;
  net: NetworkAgent;
  /** Secrets and configs (secrets.ts). */
  files: ClusterFiles;
  port?: Server;
  heartbeat?: Lease;
  leaderLease?: Lease;
  /** The state the loops read, kept by watches (state-view.ts). */
  view?: StateView;
  agent: ReconcileLoop;
  scheduler?: ReconcileLoop;
  /** The leader's upkeep of etcd's users and roles (access.ts). */
  access?: ReconcileLoop;
  campaign?: NodeJS.Timeout;
  rebeat?: NodeJS.Timeout;
  /** When this node's certificate is next renewed (cert-renewal.ts). */
  renewal?: NodeJS.Timeout;
  unsubscribe: () => void;
  closing: boolean;
}

/** The node's heartbeat: a key on a lease, renewed while the daemon lives. */
export async function beat(m: Membership, log: Log): Promise<void> {
  const lease = m.store.lease(HEARTBEAT_TTL);
  m.heartbeat = lease;
  lease.on('lost', () => {
    if (m.closing) return;
    log('warn', 'swarm heartbeat lease lost; renewing');
    rebeat(m, log);
  });
  await m.store.put(KEYS.heartbeats + m.state.NodeID, m.state.NodeID, lease);
}

/** A new heartbeat, tried each second while etcd cannot take it: a node never stays down by a missed retry. */
export function rebeat(m: Membership, log: Log): void {
  void beat(m, log).catch((err: Error) => {
    if (m.closing) return;
    log('warn', `swarm heartbeat: ${err.message}`);
    m.heartbeat?.release();
    m.rebeat = setTimeout(() => { if (!m.closing) rebeat(m, log); }, 1000);
  });
}

/** Bids for leadership until won; the winner runs the scheduler. */
export async function campaign(m: Membership, log: Log): Promise<void> {
  if (m.closing) return;
  // While the view shows a leader no bid is made: each grants a lease, a raft write.
  if (await m.view?.key(KEYS.leader).catch(() => undefined)) {
    if (!m.closing) m.campaign = setTimeout(() => void campaign(m, log), 1000);
    return;
  }
  if (m.closing) return;
  const lease = m.store.lease(LEADER_TTL);
  let won = false;
  try {
    won = await m.store.claim(KEYS.leader, m.state.NodeID, lease);
  } catch (err) {
    log('warn', `swarm election: ${(err as Error).message}`);
  }
  if (!won) {
    lease.release();
    m.campaign = setTimeout(() => void campaign(m, log), 1000);
    return;
  }
  m.leaderLease = lease;
  const scheduler = new Scheduler(m.view ? m.store.withReads(m.view) : m.store);
  m.scheduler = new ReconcileLoop(() => scheduler.pass(), (err) => log('warn', `swarm scheduler: ${err.message}`), 1000);
  m.scheduler.kick();
  const access = new AccessControl(m.store, m.view ? m.store.withReads(m.view) : m.store);
  m.access = new ReconcileLoop(() => access.pass(), (err) => log('warn', `swarm access: ${err.message}`), 5000);
  m.access.kick();
  lease.on('lost', () => {
    if (m.closing) return;
    log('warn', 'swarm leadership lost; campaigning again');
    const s = m.scheduler;
    m.scheduler = undefined;
    void m.access?.stop();
    m.access = undefined;
    void s?.stop().then(() => campaign(m, log));
  });
}

/** Leadership put on a new lease (the store's client changed): given up and bid for again, the scheduler restarted by the winner. */
export async function renewLeadership(m: Membership, log: Log): Promise<void> {
  if (!m.leaderLease) return;
  const lease = m.leaderLease;
  const s = m.scheduler;
  m.leaderLease = undefined;
  m.scheduler = undefined;
  await s?.stop();
  await m.access?.stop();
  m.access = undefined;
  await lease.revoke().catch(() => {});
  await campaign(m, log);
}

/**
 * Stops what attach started: loops, leases (revoked: the node shows down at
 * once), the swarm port, the store, the member. keepHeartbeat: a node
 * changing role stays up; its heartbeat lease is left to the next attach.
 */
export async function stopMembership(m: Membership, o: { keepHeartbeat?: boolean } = {}): Promise<void> {
  m.closing = true;
  clearTimeout(m.campaign);
  clearTimeout(m.rebeat);
  clearTimeout(m.renewal);
  m.unsubscribe();
  await m.agent.stop();
  await m.scheduler?.stop();
  await m.access?.stop();
  await m.view?.stop();
  // Revoked, not left to expire: the node shows down and leadership is free at once.
  await m.leaderLease?.revoke().catch(() => {});
  if (o.keepHeartbeat) m.heartbeat?.release();
  else await m.heartbeat?.revoke().catch(() => {});
  await new Promise<void>((r) => (m.port ? m.port.close(() => r()).closeAllConnections() : r()));
  m.store.close();
  await m.member?.stop();
}

/** The IP of an `ip[:port]` address ([v6]:port too), or '' if it is none. */
export function hostOf(addr: string): string {
  const m = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(addr) ?? /^([^:]+)(?::\d{1,5})?$/.exec(addr) ?? (isIP(addr) ? [addr, addr] : null);
  return m && isIP(m[1]) ? m[1] : '';
}


/** The address a node advertises: the one given, or the only non-loopback IPv4 address it has, or loopback. */
export function advertiseAddr(advertise?: string, listen?: string): string {
  const given = hostOf(advertise || '') || hostOf(listen || '');
  if (given && given !== '0.0.0.0') return given;
  const own = Object.values(networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4' && !i.internal).map((i) => i?.address ?? '');
  return own.length === 1 ? own[0] : '127.0.0.1';
}

/** Where the swarm port listens: the given host:port, or dockerd's 0.0.0.0:2377. */
export function listenAddr(listen?: string): string {
  if (!listen) return `0.0.0.0:${SWARM_PORT}`;
  return /:\d+$/.test(listen) && !/^[^[]*:.*:/.test(listen) ? listen : `${listen}:${SWARM_PORT}`;
}

/** A joining manager's learner promoted to a voter through the members already voting, once it has caught up. */
export async function promoteLearner(endpoints: string[], creds: { ca: Buffer; cert: Buffer; key: Buffer }, memberId: string, alive: () => boolean): Promise<void> {
  const store = await ClusterStore.connect(endpoints, creds);
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        await store.promoteMember(memberId);
        return;
      } catch (err) {
        // etcd refuses until the learner is in sync with the leader.
        if (Date.now() > deadline || !alive()) throw new UnavailableError(`this node's etcd member did not catch up with the swarm: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    store.close();
  }
}

/** dockerd's refusal of a manager's leave without --force, with the managers it counts. */
export async function leaveRefusal(m: Membership): Promise<string> {
  try {
    const managers = (await m.objects.nodes()).filter((n) => n.ManagerStatus);
    const reachable = managers.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length;
    const unreachable = managers.length - reachable;
    if (reachable - 2 <= unreachable) {
      if (reachable === 1 && unreachable === 0) return LAST_MANAGER;
      return `${MANAGER_LEAVES}Removing this node leaves ${reachable - 1} managers out of ${reachable + unreachable}. Without a Raft quorum your swarm will be inaccessible. ${RESTORE}`;
    }
  } catch { /* no count without a store: the general warning */ }
  return LEAVE_REFUSAL;
}
