// A manager's side of a node joining (and of a worker promoted): the token
// checked as swarmkit's CA server checks it, a node ID chosen, the node's
// certificate issued, its record written, and for a manager its etcd member
// added (as a learner, so a joiner that never starts leaves the quorum as it
// was; the joiner promotes itself once it has caught up).
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';
import { issueNodeCert, NODE_CERT_EXPIRY_NS, sameSecret, tlsInfo, type KeyPair, type Role } from './ca.ts';
import { url } from './etcd-member.ts';
import { ensureUser } from './access.ts';
import { KEYS, type ClusterStore, type Member } from './store.ts';
import { SWARM_PORT, type JoinGrant, type JoinRequest } from './swarm-port.ts';
import { newId } from './spec.ts';
import type { ClusterRecord, NodeRecord } from './types.ts';

export const BAD_TOKEN = 'rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster';

function invalid(desc: string): InvalidArgumentError {
  return new InvalidArgumentError(`rpc error: code = InvalidArgument desc = ${desc}`);
}

function checkRequest(req: JoinRequest): void {
  if (!req || typeof req !== 'object') throw invalid('invalid join request');
  if (typeof req.Addr !== 'string' || !isIP(req.Addr)) throw invalid('the node\'s address must be an IP address');
  if (typeof req.Csr !== 'string') throw invalid('a certificate request is required');
  if (!req.Description || typeof req.Description.Hostname !== 'string') throw invalid('the node\'s description is required');
  if (req.Availability && !['active', 'pause', 'drain'].includes(req.Availability)) throw invalid(`invalid availability ${String(req.Availability)}`);
}

function validPorts(p: JoinRequest['Ports']): p is { client: number; peer: number } {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536;
  return !!p && ok(p.client) && ok(p.peer);
}

/** What a new member starts with: every member's name=peerURL (one not started yet has no name). */
function initialCluster(members: Member[], newId: string, newMemberId: string): string {
  return members.map((m) => `${m.id === newMemberId ? newId : m.name || `pending-${m.id}`}=${m.peerURLs[0]}`).join(',');
}

export function clientUrls(members: Member[]): string[] {
  return members.filter((m) => !m.isLearner && m.name).flatMap((m) => m.clientURLs);
}

/** The validity of the certificates the cluster issues now (Spec.CAConfig.NodeCertExpiry, ns). */
export function certExpiryNs(cluster: ClusterRecord): number {
  const ns = (cluster.Spec.CAConfig as { NodeCertExpiry?: unknown } | undefined)?.NodeCertExpiry;
  return typeof ns === 'number' && ns > 0 ? ns : NODE_CERT_EXPIRY_NS;
}

/** etcd 3.4 takes one learner at a time: a second manager joining at once waits its turn. */
const LEARNER_WAIT_MS = 60_000;

/**
 * Who signs: the CA's key pair; during a root rotation (ca-rotation.ts) the
 * new root's, with the cross-signed certificate sent along (chain) and the
 * root nodes are to trust (trust) until they switch.
 */
export type Issuer = KeyPair & { chain?: string; trust?: string };

export class Admission {
  private readonly store: ClusterStore;
  private readonly ca: () => Issuer;
  /** The secrets' data key (base64), granted to managers only: a worker gets its tasks' files from a manager. */
  private readonly dataKey: () => string;
  /** Once a member is added: a lone member leaves its quick timing when the new one votes (service.ts leaveAlone). */
  private readonly added: () => void;

  constructor(store: ClusterStore, ca: () => Issuer, dataKey: () => string, added: () => void = () => {}) {
    this.store = store;
    this.ca = ca;
    this.dataKey = dataKey;
    this.added = added;
  }

  async join(req: JoinRequest): Promise<JoinGrant> {
    const cluster = await this.store.get<ClusterRecord>(KEYS.cluster);
    if (!cluster) throw invalid('swarm not found');
    const token = typeof req?.Token === 'string' ? req.Token : '';
    // Both compared in constant time, as swarmkit does.
    const role: Role | undefined = sameSecret(token, cluster.JoinTokens.Manager) ? 'manager' : sameSecret(token, cluster.JoinTokens.Worker) ? 'worker' : undefined;
    if (!role) throw new InvalidArgumentError(BAD_TOKEN);
    checkRequest(req);
    const nodeId = newId();
    const ca = this.ca();
    const cert = issueNodeCert(ca, req.Csr, { nodeId, role, clusterId: cluster.ID, addr: req.Addr, expiryNs: certExpiryNs(cluster) }) + (ca.chain ?? '');
    const now = new Date().toISOString();
    const node: Omit<NodeRecord, 'Version'> = {
      ID: nodeId, CreatedAt: now, UpdatedAt: now,
      Spec: { Labels: {}, Role: role, Availability: req.Availability || 'active' },
      Description: { ...req.Description, TLSInfo: tlsInfo(ca.trust ?? ca.cert, ca.cert) },
      Status: { State: 'unknown', Addr: req.Addr },
      ...(role === 'manager' ? { ManagerStatus: { Reachability: 'unknown' as const, Addr: `${req.Addr}:${SWARM_PORT}` } } : {}),
    };
    await this.store.create(KEYS.nodes + nodeId, node);
    try {
      // Its etcd user before the answer: the node uses the store at once (access.ts).
      await ensureUser(this.store.client, nodeId, role);
      return { NodeID: nodeId, ClusterID: cluster.ID, Role: role, Cert: cert, CACert: ca.trust ?? ca.cert, ...(role === 'manager' ? { DataKey: this.dataKey() } : {}), ...(await this.member(role, nodeId, req)) };
    } catch (err) {
      await this.store.delete(KEYS.nodes + nodeId).catch(() => {});
      throw err;
    }
  }

  /** A worker whose record now says manager asks for its manager's certificate and member. */
  async promote(nodeId: string, req: JoinRequest): Promise<JoinGrant> {
    const [cluster, node] = await Promise.all([this.store.get<ClusterRecord>(KEYS.cluster), this.store.get<NodeRecord>(KEYS.nodes + nodeId)]);
    if (!cluster || !node) throw invalid(`node ${nodeId} not found`);
    if (node.Spec.Role !== 'manager') throw invalid(`node ${nodeId} is not to be a manager`);
    checkRequest(req);
    const ca = this.ca();
    const cert = issueNodeCert(ca, req.Csr, { nodeId, role: 'manager', clusterId: cluster.ID, addr: req.Addr, expiryNs: certExpiryNs(cluster) }) + (ca.chain ?? '');
    // A manager's etcd access (root) before its member is added: it promotes its learner itself.
    await ensureUser(this.store.client, nodeId, 'manager');
    return { NodeID: nodeId, ClusterID: cluster.ID, Role: 'manager', Cert: cert, CACert: ca.trust ?? ca.cert, DataKey: this.dataKey(), ...(await this.member('manager', nodeId, req)) };
  }

  /** A node's certificate renewed before it expires: the node and role its current one names, the cluster's validity now. */
  async renew(caller: { nodeId: string; role?: Role }, req: JoinRequest): Promise<{ Cert: string; CACert: string }> {
    const [cluster, node] = await Promise.all([this.store.get<ClusterRecord>(KEYS.cluster), this.store.get<NodeRecord>(KEYS.nodes + caller.nodeId)]);
    if (!cluster || !node) throw invalid(`node ${caller.nodeId} not found`);
    if (!caller.role) throw invalid('the certificate names no role');
    checkRequest(req);
    const ca = this.ca();
    // A manager's certificate only while the record says manager too: a demoted node renewing gets a worker's.
    const role: Role = caller.role === 'manager' && node.Spec.Role === 'manager' ? 'manager' : 'worker';
    const cert = issueNodeCert(ca, req.Csr, { nodeId: caller.nodeId, role, clusterId: cluster.ID, addr: req.Addr, expiryNs: certExpiryNs(cluster) }) + (ca.chain ?? '');
    // The node's TLSInfo says which root it trusts and who issued its certificate: a rotation's progress.
    const info = tlsInfo(ca.trust ?? ca.cert, ca.cert);
    for (let i = 0; i < 10; i++) {
      const n = await this.store.get<NodeRecord>(KEYS.nodes + caller.nodeId);
      if (!n || JSON.stringify(n.Description.TLSInfo) === JSON.stringify(info)) break;
      if (await this.store.update(KEYS.nodes + caller.nodeId, { ...n, Description: { ...n.Description, TLSInfo: info } })) break;
    }
    return { Cert: cert, CACert: ca.trust ?? ca.cert };
  }

  private async addLearner(peer: string): Promise<{ id: string; members: Member[] }> {
    const deadline = Date.now() + LEARNER_WAIT_MS;
    for (;;) {
      try {
        return await this.store.addLearner(peer);
      } catch (err) {
        // Also refused until this member has been connected to every voter for 5 s (etcd's strict
        // reconfig check, "unhealthy cluster"): a manager joining just after another waits for it.
        if (!/too many learner|unhealthy cluster/i.test((err as Error).message) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async member(role: Role, nodeId: string, req: JoinRequest): Promise<Pick<JoinGrant, 'CAKey' | 'InitialCluster' | 'Endpoints' | 'MemberID'>> {
    if (role === 'worker') return { Endpoints: clientUrls(await this.store.members()) };
    if (!validPorts(req.Ports)) throw invalid('a manager needs its etcd ports');
    const peer = url(req.Addr, req.Ports.peer);
    // A member left from this node's earlier attempt (a learner never promoted, at its address) goes first:
    // etcd takes one learner at a time.
    const host = (u: string) => new URL(u).hostname.replace(/^\[|\]$/g, '');
    for (const m of await this.store.members()) {
      if ((m.isLearner || m.name === nodeId) && m.peerURLs.some((u) => host(u) === req.Addr)) await this.store.removeMember(m.id);
    }
    const added = await this.addLearner(peer);
    this.added();
    return { CAKey: this.ca().key, InitialCluster: initialCluster(added.members, nodeId, added.id), Endpoints: clientUrls(added.members), MemberID: added.id };
  }
}
