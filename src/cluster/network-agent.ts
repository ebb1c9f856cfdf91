// Every node's share of the swarm's networking, one level-triggered pass
// before the task agent's: the ingress network once a service publishes a
// port, a VIP per service on each of its overlays, this node's own address
// on every overlay, addresses of nodes gone from the swarm released, and the
// state the engine makes real (LocalEngine.syncOverlays): every overlay with
// the endpoints on other nodes (its peers, from the address entries), and
// the services with their VIPs, tasks and published ports.
import { macFor, parseCidr, parseIPv4 } from '../api/address.ts';
import { InvalidArgumentError, NotFoundError } from '../errors.ts';
import { KEYS, type ClusterStore } from './store.ts';
import { ClusterNetworks, type AddressEntry, type OverlayNetworkRecord } from './networks.ts';
import type { LocalEngine, OverlayState } from './local-engine.ts';
import type { ClusterRecord, NodeRecord, ServiceRecord, TaskRecord } from './types.ts';
import { DEMAND_MS, overlaySpec, overlaysHere, remoteNames } from './local-overlays.ts';

interface NetworkAttachment { Target?: string; Aliases?: string[] }
interface PortConfig { Protocol?: string; TargetPort?: number; PublishedPort?: number; PublishMode?: string }

/** The ports a service publishes through the routing mesh. */
export function meshPorts(svc: ServiceRecord): { proto: 'tcp' | 'udp'; published: number; target: number }[] {
  const ports = ((svc.Spec.EndpointSpec as { Ports?: PortConfig[] } | undefined)?.Ports ?? []);
  return ports.filter((p) => p.PublishMode !== 'host' && p.PublishedPort && p.TargetPort)
    .map((p) => ({ proto: p.Protocol === 'udp' ? 'udp' : 'tcp', published: p.PublishedPort!, target: p.TargetPort! }));
}

/** The overlays a service's tasks join, by ID: its spec's networks (ID, name or ID prefix), then ingress if it publishes. */
function attachments(svc: { Spec: ServiceRecord['Spec'] }): NetworkAttachment[] {
  return (svc.Spec.TaskTemplate?.Networks as NetworkAttachment[] | undefined) ?? (svc.Spec.Networks as NetworkAttachment[] | undefined) ?? [];
}

/** An overlay by ID, name or ID prefix. */
function findNetwork(nets: OverlayNetworkRecord[], ref: string): OverlayNetworkRecord | undefined {
  return nets.find((x) => x.ID === ref) ?? nets.find((x) => x.Name === ref) ?? nets.find((x) => ref && x.ID.startsWith(ref));
}

export function serviceNetworks(svc: ServiceRecord, nets: OverlayNetworkRecord[]): { id: string; aliases: string[] }[] {
  const out: { id: string; aliases: string[] }[] = [];
  for (const a of attachments(svc)) {
    const n = findNetwork(nets, a.Target ?? '');
    if (n && !out.some((o) => o.id === n.ID)) out.push({ id: n.ID, aliases: a.Aliases ?? [] });
  }
  const ingress = nets.find((n) => n.Ingress);
  if (ingress && meshPorts(svc).length && !out.some((o) => o.id === ingress.ID)) out.push({ id: ingress.ID, aliases: [] });
  return out;
}

/** Fills each service's Endpoint as swarm shows it: its spec, published ports and VIPs (with their overlay's prefix). */
export async function endpointView(store: ClusterStore, services: ServiceRecord[]): Promise<void> {
  const networks = new ClusterNetworks(store);
  const [nets, vips] = await Promise.all([networks.list(), networks.vips()]);
  for (const s of services) {
    const ports = meshPorts(s).map((p) => ({ Protocol: p.proto, TargetPort: p.target, PublishedPort: p.published, PublishMode: 'ingress' }));
    const virtual = [...(vips.get(s.ID) ?? [])].map(([net, ip]) => ({ NetworkID: net, Addr: `${ip}/${nets.find((n) => n.ID === net)?.Subnet.split('/')[1] ?? '32'}` }));
    // Made afresh from the spec and the claims (an update writes back the record it read: nothing of this may stick).
    s.Endpoint = { Spec: (s.Spec.EndpointSpec as Record<string, unknown> | undefined) ?? {}, ...(ports.length ? { Ports: ports } : {}), ...(virtual.length ? { VirtualIPs: virtual } : {}) };
  }
}

/**
 * The spec with its networks named by ID, as dockerd stores them; a network
 * that is no overlay of the swarm is refused with dockerd's 404.
 */
export async function resolveSpecNetworks(store: ClusterStore, spec: ServiceRecord['Spec']): Promise<void> {
  const task = spec.TaskTemplate;
  const wanted = attachments({ Spec: spec });
  if (!wanted.length) return;
  const nets = await new ClusterNetworks(store).list();
  const out: NetworkAttachment[] = [];
  for (const a of wanted) {
    const n = findNetwork(nets, a.Target ?? '');
    if (!n) throw new NotFoundError(`network ${a.Target ?? ''} not found`);
    out.push({ ...a, Target: n.ID });
  }
  if (task) task.Networks = out;
  else spec.Networks = out;
}

/** Where swarm's allocator hands out published ports a service leaves to it. */
const DYNAMIC_PORTS = { first: 30000, last: 32767 };

/**
 * The routing mesh's ports of a spec checked against the other services', as
 * swarm's control API does: a published port another service has is refused,
 * and a target port published with no number gets the first free one from
 * 30000 (written into the spec, so every node and a later update agree).
 */
export async function allocatePorts(store: ClusterStore, spec: ServiceRecord['Spec'], selfId?: string): Promise<void> {
  const ports = (spec.EndpointSpec as { Ports?: PortConfig[] } | undefined)?.Ports?.filter((p) => p.PublishMode !== 'host');
  if (!ports?.length) return;
  const others = (await store.list<ServiceRecord>(KEYS.services)).filter((s) => s.ID !== selfId);
  const taken = new Map<string, ServiceRecord>();
  for (const o of others) for (const p of meshPorts(o)) taken.set(`${p.proto}/${p.published}`, o);
  for (const p of ports) {
    const proto = p.Protocol === 'udp' ? 'udp' : 'tcp';
    if (p.PublishedPort) {
      const o = taken.get(`${proto}/${p.PublishedPort}`);
      if (o) throw new InvalidArgumentError(`rpc error: code = InvalidArgument desc = port '${p.PublishedPort}' is already in use by service '${o.Spec.Name}' (${o.ID}) as an ingress port`);
    } else if (p.TargetPort) {
      let port = DYNAMIC_PORTS.first;
      while (taken.has(`${proto}/${port}`) || ports.some((q) => q !== p && q.PublishedPort === port)) port++;
      if (port > DYNAMIC_PORTS.last) throw new InvalidArgumentError('rpc error: code = InvalidArgument desc = no dynamic ports left in the range 30000-32767');
      p.PublishedPort = port;
    }
    taken.set(`${proto}/${p.PublishedPort}`, { ID: selfId ?? '', Spec: spec } as ServiceRecord);
  }
}

/** Whether every overlay the service's tasks join is there yet (ingress is made by the first pass that needs it). */
export function networksReady(svc: ServiceRecord, nets: OverlayNetworkRecord[]): boolean {
  return attachments(svc).every((a) => findNetwork(nets, a.Target ?? '')) && (!meshPorts(svc).length || nets.some((n) => n.Ingress));
}

function endpointMode(svc: ServiceRecord): 'vip' | 'dnsrr' {
  return (svc.Spec.EndpointSpec as { Mode?: string } | undefined)?.Mode === 'dnsrr' ? 'dnsrr' : 'vip';
}

export class NetworkAgent {
  private readonly store: ClusterStore;
  private readonly engine: LocalEngine;
  private readonly nodeId: string;
  readonly networks: ClusterNetworks;

  constructor(store: ClusterStore, engine: LocalEngine, nodeId: string) {
    this.store = store;
    this.engine = engine;
    this.nodeId = nodeId;
    this.networks = new ClusterNetworks(store);
  }

  /** Whether the store changed since the last pass (the watch says so): the agent's 2 s ticker alone reads nothing here but every 30 s. */
  private dirty = true;
  private lastPass = 0;

  markDirty(): void {
    this.dirty = true;
  }

  /** Overlays a container of this node is about to use (network ID → until when), before it holds an address. */
  private readonly demanded = new Map<string, number>();

  /** A container here is about to join these networks (refs the engine lacks): an overlay among them is made now, and kept while used. */
  async demand(refs: string[]): Promise<void> {
    let wanted = false;
    for (const ref of refs) {
      const n = await this.networks.find(ref);
      if (n) this.demanded.set(n.ID, Date.now() + DEMAND_MS);
      wanted ||= n !== undefined;
    }
    if (wanted) await this.pass(true);
  }

  /** One pass: `force` runs it even with nothing changed (an overlay just made by this node's API). */
  private running: Promise<void> = Promise.resolve();

  async pass(force = false): Promise<void> {
    if (!force && !this.dirty && Date.now() - this.lastPass < 30_000) return;
    // One run at a time (a container's demand forces one beside the loop's): a stale state never lands last.
    const run = this.running.catch(() => {}).then(() => {
      this.dirty = false;
      this.lastPass = Date.now();
      return this.run();
    });
    this.running = run;
    try {
      await run;
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  private async run(): Promise<void> {
    const [services, nodes, tasks] = await Promise.all([
      this.store.list<ServiceRecord>(KEYS.services), this.store.list<NodeRecord>(KEYS.nodes), this.store.list<TaskRecord>(KEYS.tasks),
    ]);
    let nets = await this.networks.list();
    // As dockerd's ingress, made when first needed (dockerd makes it at init): the routing mesh's network.
    if (!nets.some((n) => n.Ingress) && services.some((s) => meshPorts(s).length)) {
      const local = (await this.engine.localSubnets()).map((s) => parseCidr(s, 'subnet', true));
      await this.networks.create({ Name: 'ingress', Ingress: true }, local).catch(() => { /* another node made it first */ });
      nets = await this.networks.list();
    }
    let [vips, mine] = await Promise.all([this.networks.vips(), this.networks.nodeAddresses()]);
    let changed = false;
    for (const s of services) {
      if (endpointMode(s) !== 'vip') continue;
      for (const a of serviceNetworks(s, nets)) {
        if (!vips.get(s.ID)?.has(a.id)) {
          await this.networks.ensureVip(s.ID, a.id);
          changed = true;
        }
      }
    }
    for (const [svc, byNet] of vips) {
      const s = services.find((x) => x.ID === svc);
      // A removed service's VIPs go back, and those on overlays an update took it off (or all, under dnsrr).
      const keep = new Set(s && endpointMode(s) === 'vip' ? serviceNetworks(s, nets).map((a) => a.id) : []);
      const gone = new Map([...byNet].filter(([net]) => !keep.has(net)));
      if (gone.size) {
        await this.networks.releaseVips(svc, gone);
        changed = true;
      }
    }
    // Only the overlays something here uses (swarm's lazy networks); this node's address on the others goes back.
    const now = Date.now();
    for (const [id, until] of this.demanded) if (until < now) this.demanded.delete(id);
    const here = overlaysHere({
      nodeId: this.nodeId, nets, services, tasks, held: this.engine.heldAddresses(), demanded: this.demanded.keys(),
      networksOf: (s) => serviceNetworks(s, nets).map((a) => a.id), meshed: services.some((s) => meshPorts(s).length > 0),
    });
    for (const n of nets) {
      if (here.has(n.ID) && !mine.get(this.nodeId)?.has(n.ID)) {
        await this.networks.ensureNodeAddress(this.nodeId, n.ID);
        changed = true;
      }
    }
    for (const [net, ip] of mine.get(this.nodeId) ?? []) {
      if (!here.has(net)) {
        await this.networks.releaseNodeAddress(this.nodeId, net, ip);
        changed = true;
      }
    }
    if (changed) [vips, mine] = await Promise.all([this.networks.vips(), this.networks.nodeAddresses()]);
    const addresses = await this.networks.addresses();
    await this.releaseStale(addresses, nodes);
    // Balanced to, and named by tasks.<name>: tasks that run (a healthcheck's task only once healthy), not ones starting or ending.
    const running = new Set(tasks.filter((t) => t.Status.State === 'running' && t.DesiredState === 'running').map((t) => t.ID));
    await this.engine.syncOverlays(await this.state(nets.filter((n) => here.has(n.ID)), services, nodes, tasks, addresses, vips, mine.get(this.nodeId) ?? new Map(), running));
  }

  /** This node's container addresses no container holds, and since when: one held by nothing for 30 s is stale (never one being allocated). */
  private suspects = new Map<string, number>();

  /**
   * Frees entries of nodes no longer in the swarm (a node removed, a worker
   * that left) and this node's container entries no container holds (one
   * that exited while the daemon was down never released its address).
   */
  private async releaseStale(addresses: Map<string, Map<string, AddressEntry>>, nodes: NodeRecord[]): Promise<void> {
    const known = new Set(nodes.map((n) => n.ID));
    const held = this.engine.heldAddresses();
    const suspects = new Map<string, number>();
    const now = Date.now();
    for (const [net, m] of addresses) {
      for (const [ip, e] of m) {
        let stale = e.node !== undefined && !known.has(e.node);
        if (e.kind === 'container' && e.node === this.nodeId && !held.get(net)?.has(ip)) {
          const key = `${net}/${ip}`;
          const since = this.suspects.get(key) ?? now;
          suspects.set(key, since);
          stale ||= now - since > 30_000;
        }
        if (stale) {
          await this.networks.release(net, ip);
          m.delete(ip);
        }
      }
    }
    this.suspects = suspects;
  }

  private async state(
    nets: OverlayNetworkRecord[], services: ServiceRecord[], nodes: NodeRecord[], tasks: TaskRecord[], addresses: Map<string, Map<string, AddressEntry>>,
    vips: Map<string, Map<string, string>>, mine: Map<string, string>, running: Set<string>,
  ): Promise<OverlayState> {
    const cluster = await this.store.get<ClusterRecord>(KEYS.cluster);
    const vtepOf = new Map(nodes.map((n) => [n.ID, n.Status.Addr]));
    const self = vtepOf.get(this.nodeId) ?? '127.0.0.1';
    const state: OverlayState = { vtep: self, dataPort: cluster?.DataPathPort || 4789, networks: [], services: [] };
    const taskById = new Map(tasks.map((t) => [t.ID, t]));
    const serviceById = new Map(services.map((s) => [s.ID, s]));
    for (const n of nets) {
      const address = mine.get(n.ID);
      if (!address) continue;
      const peers: OverlayState['networks'][number]['peers'] = [];
      for (const [ip, e] of addresses.get(n.ID) ?? []) {
        const vtep = e.node && e.node !== this.nodeId ? vtepOf.get(e.node) : undefined;
        if (vtep && vtep !== self) peers.push({ ip, mac: macFor(parseIPv4(ip)!), vtep });
      }
      peers.sort((a, b) => a.ip.localeCompare(b.ip));
      state.networks.push({ network: overlaySpec(n), address, peers, names: remoteNames(addresses.get(n.ID), this.nodeId, taskById, serviceById) });
    }
    for (const s of services) {
      state.services.push({
        id: s.ID, name: s.Spec.Name, mode: endpointMode(s), ports: meshPorts(s),
        networks: serviceNetworks(s, nets).map((a) => ({
          networkId: a.id, aliases: a.aliases, vip: vips.get(s.ID)?.get(a.id),
          tasks: [...(addresses.get(a.id) ?? [])].filter(([, e]) => e.kind === 'container' && e.service === s.ID && e.task && running.has(e.task)).map(([ip]) => ip).sort(),
        })),
      });
    }
    return state;
  }
}
