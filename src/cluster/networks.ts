// The swarm's overlay networks and their addresses, in etcd beside the other
// objects (store.ts's layout):
//
//   /berth/swarm/networks/<id>            an overlay network (subnet, gateway, VNI, flags)
//   /berth/swarm/names/networks/<name>    its name's claim, written with it (unique names)
//   /berth/swarm/vnis/<vni>               its VNI's claim, written with it
//   /berth/swarm/ipam/<net>/<ip>          an address in use: a container's (task or attached),
//                                         a service's VIP, or a node's own on that overlay
//   /berth/swarm/vips/<service>/<net>     a service's VIP claim, so two nodes never give it two
//   /berth/swarm/node-addresses/<node>/<net>  a node's own address on an overlay (its bridge's)
//
// Addresses are claimed with a create-if-absent transaction, so two nodes
// allocating at once never hand out one address twice; the entry names the
// node its endpoint is on, which is how every node learns its peers.
import { ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError, UnavailableError } from '../errors.ts';
import { broadcast, contains, formatCidr, formatIPv4, overlaps, parseCidr, parseIPv4, type Subnet } from '../api/address.ts';
import { PREFIX, type ClusterStore } from './store.ts';
import { newId } from './spec.ts';
import type { Annotated, ClusterRecord } from './types.ts';

export const NETWORK_KEYS = {
  networks: `${PREFIX}networks/`,
  names: `${PREFIX}names/networks/`,
  vnis: `${PREFIX}vnis/`,
  ipam: `${PREFIX}ipam/`,
  vips: `${PREFIX}vips/`,
  nodeAddrs: `${PREFIX}node-addresses/`,
};

/** The first VNI dockerd's overlay driver hands out (ingress gets it). */
const FIRST_VNI = 4096;
const POOL_OVERLAP = 'Pool overlaps with other one on this address space';

export interface OverlayNetworkRecord extends Annotated {
  Name: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Subnet: string;
  Gateway: string;
  VNI: number;
  Attachable: boolean;
  Ingress: boolean;
  Internal: boolean;
}

/** Who holds an overlay address. */
export interface AddressEntry {
  kind: 'container' | 'vip' | 'node';
  /** The container's, the service's or the node's ID. */
  id: string;
  /** The node the endpoint is on (none for a VIP: every node answers it). */
  node?: string;
  /** A task container's service and task. */
  service?: string;
  task?: string;
  /** A container's names (its name, aliases, short ID): other nodes' embedded DNS answers them with this address. */
  names?: string[];
}

export interface NetworkCreate {
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: { Subnet?: string; IPRange?: string; Gateway?: string }[]; Options?: Record<string, string> };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

function hosts(s: Subnet): number[] {
  const out: number[] = [];
  // Not the network's own address, the gateway (base+1) nor the broadcast.
  for (let ip = s.base + 2; ip < broadcast(s); ip++) out.push(ip >>> 0);
  return out;
}

export class ClusterNetworks {
  private readonly store: ClusterStore;

  constructor(store: ClusterStore) {
    this.store = store;
  }

  list(): Promise<OverlayNetworkRecord[]> {
    return this.store.list<OverlayNetworkRecord>(NETWORK_KEYS.networks);
  }

  /** By ID, name or unique ID prefix; undefined when none. */
  async find(ref: string): Promise<OverlayNetworkRecord | undefined> {
    const all = await this.list();
    const exact = all.find((n) => n.ID === ref) ?? all.find((n) => n.Name === ref);
    if (exact || !ref) return exact;
    const byPrefix = all.filter((n) => n.ID.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  /**
   * Creates an overlay: the given subnet (refused if it overlaps another
   * overlay or `localSubnets`, this node's networks and routes), or the first
   * free one of the swarm's DefaultAddrPool in SubnetSize blocks.
   */
  async create(req: NetworkCreate, localSubnets: Subnet[]): Promise<string> {
    const name = req.Name ?? '';
    if (!name) throw new InvalidArgumentError('network name must not be empty');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new InvalidArgumentError(`invalid network name "${name}"`);
    if (req.EnableIPv6) throw new InvalidArgumentError('berth\'s overlay networks are IPv4 only');
    const configs = req.IPAM?.Config ?? [];
    if (configs.length > 1) throw new InvalidArgumentError('berth supports one IPv4 subnet per network');
    const cluster = await this.store.get<ClusterRecord>(`${PREFIX}cluster`);
    if (!cluster) throw new NotFoundError('swarm not found');
    const existing = await this.list();
    if (existing.some((n) => n.Name === name)) throw new ConflictError(`rpc error: code = AlreadyExists desc = network ${name} already exists`);
    if (req.Ingress && existing.some((n) => n.Ingress)) throw new ForbiddenError('rpc error: code = AlreadyExists desc = ingress network already exists');
    const taken = [...localSubnets, ...existing.map((n) => parseCidr(n.Subnet, 'subnet', true))];
    const c = configs[0] ?? {};
    let subnet: Subnet;
    if (c.Subnet) {
      subnet = parseCidr(c.Subnet);
      if (subnet.prefix > 29) throw new InvalidArgumentError(`invalid subnet ${c.Subnet}: too small for an overlay`);
      if (taken.some((t) => overlaps(t, subnet))) throw new ForbiddenError(POOL_OVERLAP);
    } else {
      subnet = freeSubnet(cluster.DefaultAddrPool, cluster.SubnetSize, taken);
    }
    const gw = c.Gateway ? parseIPv4(c.Gateway) : subnet.base + 1;
    if (gw === undefined || !contains(subnet, gw)) throw new InvalidArgumentError(`invalid gateway address ${c.Gateway} for subnet ${formatCidr(subnet)}`);
    const vnis = new Set(existing.map((n) => n.VNI));
    let vni = FIRST_VNI + (req.Ingress ? 0 : 1);
    while (vnis.has(vni)) vni++;
    const now = new Date().toISOString();
    const rec: Omit<OverlayNetworkRecord, 'Version'> = {
      ID: newId(), CreatedAt: now, UpdatedAt: now, Name: name, Labels: req.Labels ?? {}, Options: req.Options ?? {},
      Subnet: formatCidr(subnet), Gateway: formatIPv4(gw), VNI: vni,
      Attachable: req.Attachable === true, Ingress: req.Ingress === true, Internal: req.Internal === true,
    };
    const key = NETWORK_KEYS.networks + rec.ID;
    const res = await this.store.client.if(NETWORK_KEYS.names + name, 'Create', '==', 0).and(NETWORK_KEYS.vnis + vni, 'Create', '==', 0)
      .then(this.store.client.put(NETWORK_KEYS.names + name).value(rec.ID), this.store.client.put(NETWORK_KEYS.vnis + vni).value(rec.ID),
        this.store.client.put(key).value(JSON.stringify(rec))).commit();
    if (!res.succeeded) throw new ConflictError(`rpc error: code = AlreadyExists desc = network ${name} already exists`);
    return rec.ID;
  }

  /** Removes an overlay no service uses; `usedBy` names the first service that does. */
  async remove(n: OverlayNetworkRecord, usedBy: string | undefined): Promise<void> {
    if (usedBy) throw new ConflictError(`rpc error: code = FailedPrecondition desc = network ${n.ID} is in use by service ${usedBy}`);
    if (!(await this.store.deleteAt(NETWORK_KEYS.networks + n.ID, n.Version.Index, NETWORK_KEYS.names + n.Name, NETWORK_KEYS.vnis + n.VNI))) {
      throw new NotFoundError(`network ${n.Name} not found`);
    }
    await this.store.deletePrefix(`${NETWORK_KEYS.ipam}${n.ID}/`);
  }

  /** Every address in use on every overlay: network ID → ip → holder. */
  async addresses(): Promise<Map<string, Map<string, AddressEntry>>> {
    const out = new Map<string, Map<string, AddressEntry>>();
    for (const kv of await this.store.keys(NETWORK_KEYS.ipam)) {
      const [net, ip] = kv.key.toString('utf8').slice(NETWORK_KEYS.ipam.length).split('/');
      let m = out.get(net);
      if (!m) out.set(net, (m = new Map()));
      try {
        m.set(ip, JSON.parse(kv.value.toString('utf8')) as AddressEntry);
      } catch { /* a foreign value: not ours to interpret */ }
    }
    return out;
  }

  /** Claims a free address of the overlay for `holder`; with `claimKey`, only if that key is free too (a service's one VIP). */
  async allocate(networkId: string, holder: AddressEntry, claimKey?: string): Promise<string | undefined> {
    const n = await this.store.get<OverlayNetworkRecord>(NETWORK_KEYS.networks + networkId);
    if (!n) throw new NotFoundError(`network ${networkId} not found`);
    const subnet = parseCidr(n.Subnet, 'subnet', true);
    const gw = parseIPv4(n.Gateway);
    for (let attempt = 0; attempt < 5; attempt++) {
      const used = new Set((await this.store.keys(`${NETWORK_KEYS.ipam}${networkId}/`)).map((kv) => kv.key.toString('utf8').split('/').pop()!));
      const free = hosts(subnet).map((ip) => formatIPv4(ip)).filter((ip) => !used.has(ip) && parseIPv4(ip) !== gw);
      // libnetwork's words for an exhausted pool.
      if (!free.length) throw new UnavailableError(`no available IPv4 addresses on this network's address pools: ${n.Name} (${n.ID})`);
      // Not always the lowest: two nodes allocating at once mostly pick different ones.
      const ip = free[Math.floor(Math.random() * Math.min(free.length, 8))];
      const key = `${NETWORK_KEYS.ipam}${networkId}/${ip}`;
      let txn = this.store.client.if(key, 'Create', '==', 0);
      if (claimKey) txn = txn.and(claimKey, 'Create', '==', 0);
      const res = await txn.then(this.store.client.put(key).value(JSON.stringify(holder)), ...(claimKey ? [this.store.client.put(claimKey).value(ip)] : [])).commit();
      if (res.succeeded) return ip;
      if (claimKey && (await this.store.getString(claimKey)) !== null) return undefined;
    }
    throw new ConflictError('could not claim an overlay address: too many concurrent allocations');
  }

  async release(networkId: string, ip: string): Promise<void> {
    await this.store.delete(`${NETWORK_KEYS.ipam}${networkId}/${ip}`);
  }

  /** A service's VIPs: network ID → address. */
  async vips(): Promise<Map<string, Map<string, string>>> {
    const out = new Map<string, Map<string, string>>();
    for (const kv of await this.store.keys(NETWORK_KEYS.vips)) {
      const [svc, net] = kv.key.toString('utf8').slice(NETWORK_KEYS.vips.length).split('/');
      let m = out.get(svc);
      if (!m) out.set(svc, (m = new Map()));
      m.set(net, kv.value.toString('utf8'));
    }
    return out;
  }

  /** The service's VIP on the overlay, claimed once for the whole swarm. */
  async ensureVip(serviceId: string, networkId: string): Promise<void> {
    await this.allocate(networkId, { kind: 'vip', id: serviceId }, `${NETWORK_KEYS.vips}${serviceId}/${networkId}`);
  }

  /** Each node's own address on each overlay: node → network → address. */
  async nodeAddresses(): Promise<Map<string, Map<string, string>>> {
    const out = new Map<string, Map<string, string>>();
    for (const kv of await this.store.keys(NETWORK_KEYS.nodeAddrs)) {
      const [node, net] = kv.key.toString('utf8').slice(NETWORK_KEYS.nodeAddrs.length).split('/');
      let m = out.get(node);
      if (!m) out.set(node, (m = new Map()));
      m.set(net, kv.value.toString('utf8'));
    }
    return out;
  }

  async ensureNodeAddress(nodeId: string, networkId: string): Promise<void> {
    await this.allocate(networkId, { kind: 'node', id: nodeId, node: nodeId }, `${NETWORK_KEYS.nodeAddrs}${nodeId}/${networkId}`);
  }

  /** This node's own address on an overlay it no longer makes goes back. */
  async releaseNodeAddress(nodeId: string, networkId: string, ip: string): Promise<void> {
    await this.release(networkId, ip);
    await this.store.delete(`${NETWORK_KEYS.nodeAddrs}${nodeId}/${networkId}`);
  }

  /** A service's VIPs on these overlays go back to them. */
  async releaseVips(serviceId: string, byNetwork: Map<string, string>): Promise<void> {
    for (const [net, ip] of byNetwork) {
      await this.release(net, ip);
      await this.store.delete(`${NETWORK_KEYS.vips}${serviceId}/${net}`);
    }
  }
}

/** The first SubnetSize block of the pools that overlaps nothing taken. */
function freeSubnet(pools: string[], size: number, taken: Subnet[]): Subnet {
  for (const p of pools.length ? pools : ['10.0.0.0/8']) {
    const base = parseCidr(p, 'address pool', true);
    const bits = size || 24;
    if (bits < base.prefix || bits > 29) continue;
    const count = Math.min(2 ** (bits - base.prefix), 65536);
    for (let i = 0; i < count; i++) {
      const s = { base: (base.base + i * 2 ** (32 - bits)) >>> 0, prefix: bits };
      if (!taken.some((t) => overlaps(t, s))) return s;
    }
  }
  throw new ForbiddenError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}
