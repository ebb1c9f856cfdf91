// Networks of one daemon: the predefined bridge/host/none, user-defined
// bridge networks (create/ls/inspect/rm/prune), their bridges, address pools,
// embedded DNS servers and firewall rules. How each container is plumbed into
// them (namespace, veth pairs, addresses, published ports) is endpoints.ts's.
import type { NetnsMaker } from './links.ts';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempFiles, writeJsonAtomic } from '../files/atomic.ts';
import { InvalidArgumentError, ConflictError, ForbiddenError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { ContainerRecord } from '../api/container.ts';
import { nowNano } from '../api/container.ts';
import { AddressPool, checkAuxiliary, firstFreeSubnet, withHostLock } from './ipam.ts';
import { ICC_OPT, firewallState, linkRules } from './firewall-state.ts';
import { writeHostsFile } from './etc-files.ts';
import { lookupName, resolveLinks } from './names.ts';
import { contains, formatCidr, formatIPv4, formatIPv6, overlaps, parseCidr, parseCidr6, parseIPv4, type Subnet } from '../api/address.ts';
import { Firewall, type FirewallState, type LinkRule } from './iptables.ts';
import { ensureBridge, redirectDns, removeLink, routedSubnets } from './links.ts';
import { Endpoints, type Sandbox } from './endpoints.ts';
import { DnsServer, hostResolvers } from './dns.ts';
import { Overlays, heldAddresses } from './overlays.ts';
import { inspectNetwork } from './inspect.ts';
import { removeOverlayLinks } from './overlay-links.ts';
import { compareStrings } from '../api/compare.ts';
import {
  type ContainerDirectory, type CreateNetworkRequest, type EndpointRequest, type EndpointSettings, type IpamPoolConfig, type NetnsSpec, type NetworkRecord,
  type OverlayAddresses, type OverlayState, PREDEFINED, settingsOf,
} from './model.ts';

const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name';

/** Bridge networking: dockerd's --bip, --fixed-cidr, --bridge, --iptables, --icc, default-address-pools. */
export interface NetworkOptions {
  /** The default bridge's device: berth0 for the default daemon, one of its own for any other. */
  bridgeName: string;
  /** Prefix of this daemon's iptables chains, so daemons never touch each other's rules. */
  chainTag: string;
  bip?: string;
  fixedCidr?: string;
  defaultPools: { base: string; size: number }[];
  iptables: boolean;
  icc: boolean;
}

/** What the network service takes from the daemon's configuration. */
export interface NetworkServiceOptions {
  dataRoot: string;
  execRoot: string;
  network: NetworkOptions;
}

export class NetworkService {
  private readonly cfg: NetworkServiceOptions;
  private readonly events: EventBus;
  private readonly records = new Map<string, NetworkRecord>();
  private readonly pools = new Map<string, AddressPool>();
  private readonly dnsServers = new Map<string, DnsServer>();
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly firewall: Firewall;
  private readonly endpoints: Endpoints;
  private readonly overlays: Overlays;
  private containers!: ContainerDirectory;
  private restoring = true;
  /** Bridges this start made (none was there): nothing of an earlier run can be attached to them. */
  private readonly bridgesMadeAtStart = new Set<string>();
  private readonly upstreams = hostResolvers();

  constructor(cfg: NetworkServiceOptions, events: EventBus) {
    this.cfg = cfg;
    this.events = events;
    this.firewall = new Firewall(cfg.network.chainTag, () => this.firewallState());
    this.endpoints = new Endpoints({
      events, records: this.records, pools: this.pools, sandboxes: this.sandboxes, upstreams: this.upstreams,
      containers: () => this.containers,
      get: (ref) => this.get(ref),
      find: (ref) => this.find(ref),
      save: (n, durable) => this.save(n, durable),
      syncFirewall: () => this.syncFirewall(),
      netnsPath: (id) => this.netnsPath(id),
      writeHosts: (rec, lines) => this.writeHosts(rec, lines),
      resolveLinks: (rec) => this.resolveLinks(rec),
      linked: (rec) => this.linked(rec),
      overlayAddresses: () => this.overlays.addresses,
    });
    this.overlays = new Overlays({
      events, records: this.records, dir: this.dir,
      save: (n) => this.save(n),
      openPool: (n) => this.openPool(n),
      closeNetwork: (n) => {
        this.pools.delete(n.Id);
        this.dnsServers.get(n.Id)?.close();
        this.dnsServers.delete(n.Id);
      },
      inUse: (id) => this.attached(id).length > 0,
      syncFirewall: () => this.syncFirewall(),
    });
  }

  bindContainers(c: ContainerDirectory): void {
    this.containers = c;
  }

  private get dir(): string {
    return join(this.cfg.dataRoot, 'network');
  }

  private netnsPath(id: string): string {
    return join(this.cfg.execRoot, 'netns', id);
  }

  private async save(n: NetworkRecord, durable = true): Promise<void> {
    await writeJsonAtomic(join(this.dir, `${n.Id}.json`), n, durable);
  }

  // ---------- start-up ----------

  /** Loads the networks and brings up their bridges; rules follow in finishRestore(). */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await removeTempFiles(this.dir);
    for (const f of await readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const n = JSON.parse(await readFile(join(this.dir, f), 'utf8')) as NetworkRecord;
        this.records.set(n.Id, n);
      } catch {
        await rm(join(this.dir, f), { force: true });
      }
    }
    for (const [name, driver] of [['host', 'host'], ['none', 'null']] as const) {
      if (!this.byName(name)) await this.addRecord(this.newRecord(name, driver, {}));
    }
    if (this.cfg.network.iptables) writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    await this.initDefaultBridge();
    for (const n of this.records.values()) {
      if (n.Driver === 'overlay') {
        await this.overlays.restore(n);
        await this.openPool(n);
      }
      if (n.Driver !== 'bridge' || n.Name === 'bridge') continue;
      if (await ensureBridge(n.berth!.bridge, this.gatewayCidr(n), this.gateway6Cidr(n))) this.bridgesMadeAtStart.add(n.berth!.bridge);
      await this.openPool(n);
    }
  }

  private async initDefaultBridge(): Promise<void> {
    const nc = this.cfg.network;
    let n = this.byName('bridge');
    const wanted = nc.bip ? parseCidr(nc.bip, 'bip', true) : undefined;
    if (n && wanted && (n.IPAM.Config[0]?.Gateway !== formatIPv4(wanted.address) || n.IPAM.Config[0]?.Subnet !== formatCidr(wanted))) {
      n.IPAM.Config = [{ Subnet: formatCidr(wanted), Gateway: formatIPv4(wanted.address) }];
    }
    if (n && (n.IPAM.Config[0]?.IPRange ?? '') !== (nc.fixedCidr ?? '')) {
      n.IPAM.Config[0] = { ...n.IPAM.Config[0], ...(nc.fixedCidr ? { IPRange: nc.fixedCidr } : {}) };
      if (!nc.fixedCidr) delete n.IPAM.Config[0].IPRange;
    }
    if (n && n.berth!.bridge !== nc.bridgeName) n.berth!.bridge = nc.bridgeName;
    await withHostLock(async () => {
      if (!n) {
        let subnet: Subnet & { address?: number };
        if (wanted) subnet = wanted;
        else subnet = await this.freePool([{ base: '172.17.0.0/16', size: 16 }, ...nc.defaultPools]);
        const gw = wanted ? wanted.address : subnet.base + 1;
        n = this.newRecord('bridge', 'bridge', {
          IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: formatCidr(subnet), Gateway: formatIPv4(gw), ...(nc.fixedCidr ? { IPRange: nc.fixedCidr } : {}) }] },
          Options: {
            'com.docker.network.bridge.default_bridge': 'true', [ICC_OPT]: String(nc.icc),
            'com.docker.network.bridge.enable_ip_masquerade': 'true', 'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
            [BRIDGE_NAME_OPT]: nc.bridgeName, 'com.docker.network.driver.mtu': '1500',
          },
        }, nc.bridgeName);
      }
      n.Options[ICC_OPT] = String(nc.icc);
      if (await ensureBridge(nc.bridgeName, this.gatewayCidr(n))) this.bridgesMadeAtStart.add(nc.bridgeName);
    });
    await this.addRecord(n!);
    await this.openPool(n!);
  }

  /** The first subnet of the pools that nothing on the host routes and no network of ours has. */
  private async freePool(pools: { base: string; size: number }[]): Promise<Subnet> {
    return firstFreeSubnet(pools, [...await routedSubnets(), ...this.subnets()]);
  }

  private subnets(except?: string): Subnet[] {
    const out: Subnet[] = [];
    for (const n of this.records.values()) {
      if (n.Id === except) continue;
      for (const c of n.IPAM.Config) if (c.Subnet && !c.Subnet.includes(':')) out.push(parseCidr(c.Subnet, 'subnet', true));
    }
    return out;
  }

  /** The bridge's IPv6 address (gateway/prefix) on a network with an IPv6 subnet. */
  private gateway6Cidr(n: NetworkRecord): string | undefined {
    const c = n.IPAM.Config.find((x) => x.Subnet?.includes(':'));
    return c?.Gateway && c.Subnet ? `${c.Gateway}/${c.Subnet.split('/')[1]}` : undefined;
  }

  private gatewayCidr(n: NetworkRecord): string {
    const c = n.IPAM.Config[0];
    return `${c.Gateway}/${c.Subnet!.split('/')[1]}`;
  }

  private async openPool(n: NetworkRecord): Promise<void> {
    const c = n.IPAM.Config[0];
    const subnet = parseCidr(c.Subnet!, 'subnet', true);
    const range = c.IPRange ? parseCidr(c.IPRange, 'ip-range', true) : subnet;
    const aux = Object.values(c.AuxiliaryAddresses ?? {}).map((a) => parseIPv4(a)).filter((a) => a !== undefined);
    this.pools.set(n.Id, new AddressPool(subnet, range, parseIPv4(c.Gateway!)!, n.berth!.cursor, aux));
    if (n.Name !== 'bridge') await this.startDns(n);
  }

  private async startDns(n: NetworkRecord): Promise<void> {
    const server = new DnsServer((ip, name) => this.lookupName(n.Id, ip, name), (ip) => {
      const asker = this.containers.list().find((c) => this.sandboxes.has(c.Id) && Object.values(settingsOf(c).Networks).some((e) => e.NetworkID === n.Id && e.IPAddress === ip));
      return asker?.HostConfig.Dns?.length ? asker.HostConfig.Dns : this.upstreams;
    });
    const gw = n.IPAM.Config[0].Gateway!;
    let port: number;
    try {
      port = await server.listen(gw, n.berth!.dnsPort ?? 0);
    } catch {
      port = await server.listen(gw, 0);
    }
    this.dnsServers.set(n.Id, server);
    if (port !== n.berth!.dnsPort) {
      n.berth!.dnsPort = port;
      await this.save(n);
      // Containers already pointed at an old port are pointed at the new one.
      for (const rec of this.attached(n.Id)) {
        const sb = this.sandboxes.get(rec.Id);
        if (sb && this.endpoints.dnsTargetNetwork(rec)?.Id === n.Id) await redirectDns(sb.netns, `${gw}:${port}`).catch(() => {});
      }
    }
  }

  /** Rebuilds the firewall from the restored containers, exactly once. */
  async finishRestore(): Promise<void> {
    this.restoring = false;
    if (this.cfg.network.iptables) await this.firewall.init();
  }

  private async syncFirewall(): Promise<void> {
    if (this.restoring || !this.cfg.network.iptables) return;
    await this.firewall.sync();
  }

  private firewallState(): FirewallState {
    return firewallState(this.list(), this.sandboxes.values(), this.linkRules(), this.overlays.firewallRules());
  }

  private linkRules(): LinkRule[] {
    const n = this.byName('bridge');
    return n ? linkRules(n, this.containers.list(), (id) => this.sandboxes.has(id), (link) => this.linkTarget(link)) : [];
  }

  /** Whether the container takes part in a legacy link (either end): its start and exit change the rules. */
  private linked(rec: ContainerRecord): boolean {
    if (rec.HostConfig.Links?.length) return true;
    return this.containers.list().some((c) => (c.HostConfig.Links ?? []).some((l) => this.linkTarget(l)?.Id === rec.Id));
  }

  /** The container a `HostConfig.Links` entry (`target:alias`, either maybe with a leading /) names. */
  private linkTarget(link: string): ContainerRecord | undefined {
    return this.containers.find(link.split(':')[0].replace(/^\//, ''));
  }

  /**
   * Daemon shutdown: with nothing running, take down our bridges and rules; else leave them to the containers.
   * A start that ends before the containers were restored (its init failed) cannot know what runs: it takes
   * down only the bridges it made itself, and leaves the rest to the next start, as after a kill -9.
   */
  async shutdown(): Promise<void> {
    for (const d of this.dnsServers.values()) d.close();
    for (const sb of this.sandboxes.values()) for (const p of sb.ports) p.close();
    if (this.restoring) {
      for (const b of this.bridgesMadeAtStart) await removeLink(b);
      return;
    }
    if (this.containers.list().some((c) => c.State.Running)) return;
    if (this.cfg.network.iptables) await this.firewall.teardown();
    for (const n of this.records.values()) {
      if (n.Driver === 'bridge') await removeLink(n.berth!.bridge);
      if (n.Driver === 'overlay') await removeOverlayLinks(n.berth!.bridge, n.berth!.overlay!.vxlan);
    }
  }

  // ---------- records ----------

  private newRecord(name: string, driver: NetworkRecord['Driver'], extra: Partial<NetworkRecord>, bridge?: string): NetworkRecord {
    const id = randomBytes(32).toString('hex');
    return {
      Name: name, Id: id, Created: nowNano(), Scope: 'local', Driver: driver, EnableIPv4: true, EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [] }, Internal: false, Attachable: false, Ingress: false,
      ConfigFrom: { Network: '' }, ConfigOnly: false, Options: {}, Labels: {}, ...extra,
      ...(driver === 'bridge' ? { berth: { bridge: bridge ?? `br-${id.slice(0, 12)}`, cursor: 0 } } : {}),
    };
  }

  private async addRecord(n: NetworkRecord): Promise<void> {
    await this.save(n);
    this.records.set(n.Id, n);
  }

  private byName(name: string): NetworkRecord | undefined {
    for (const n of this.records.values()) if (n.Name === name) return n;
    return undefined;
  }

  find(ref: string): NetworkRecord | undefined {
    if (!ref) return undefined;
    const exact = this.records.get(ref) ?? this.byName(ref);
    if (exact) return exact;
    const hits = [...this.records.values()].filter((n) => n.Id.startsWith(ref));
    if (hits.length > 1) throw new InvalidArgumentError(`network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`);
    return hits[0];
  }

  get(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw new NotFoundError(`network ${ref} not found`);
    return n;
  }

  list(): NetworkRecord[] {
    return [...this.records.values()].sort((a, b) => compareStrings(a.Created, b.Created));
  }

  /** Running containers with an endpoint on the network. */
  private attached(id: string): ContainerRecord[] {
    return this.containers.list().filter((c) => c.State.Running && Object.values(settingsOf(c).Networks).some((e) => e.NetworkID === id && e.IPAddress));
  }

  /** `GET /networks/{id}`: the record in Docker's shape, with its containers. */
  inspect(n: NetworkRecord): Record<string, unknown> {
    return inspectNetwork(n, this.containers.list());
  }

  // ---------- create / remove ----------

  async create(req: CreateNetworkRequest): Promise<{ Id: string; Warning: string }> {
    const name = req.Name ?? '';
    if (!name) throw new InvalidArgumentError('network name must not be empty');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new InvalidArgumentError(`invalid network name "${name}"`);
    if (PREDEFINED.includes(name)) throw new ForbiddenError(`operation is not permitted on predefined ${name} network `);
    if (this.byName(name)) throw new ConflictError(`network with name ${name} already exists`);
    const driver = req.Driver || 'bridge';
    if (driver !== 'bridge') throw new NotFoundError(`plugin "${driver}" not found`);
    const configs = req.IPAM?.Config ?? [];
    const v4 = configs.filter((c) => !c.Subnet?.includes(':'));
    const v6 = configs.filter((c) => c.Subnet?.includes(':'));
    if (v6.length && !req.EnableIPv6) throw new InvalidArgumentError('IPv6 subnet configured but IPv6 is not enabled for this network');
    if (v4.length > 1) throw new InvalidArgumentError('berth supports one IPv4 subnet per network');
    const c: IpamPoolConfig = { ...(v4[0] ?? {}) };
    if (!c.Subnet && (c.IPRange || c.Gateway)) throw new InvalidArgumentError('ip-range or gateway given without a subnet');
    const bridgeName = req.Options?.[BRIDGE_NAME_OPT];
    if (bridgeName && !/^[a-zA-Z0-9_.-]{1,15}$/.test(bridgeName)) throw new InvalidArgumentError(`invalid bridge name ${bridgeName}`);
    return withHostLock(async () => {
      let subnet: Subnet;
      if (c.Subnet) {
        subnet = parseCidr(c.Subnet);
        if (this.subnets().some((s) => overlaps(s, subnet))) throw new ForbiddenError('invalid pool request: Pool overlaps with other one on this address space');
      } else {
        subnet = await this.freePool(this.cfg.network.defaultPools);
      }
      const gw = c.Gateway ? parseIPv4(c.Gateway) : subnet.base + 1;
      if (gw === undefined || !contains(subnet, gw)) throw new InvalidArgumentError(`invalid gateway address ${c.Gateway} for subnet ${formatCidr(subnet)}`);
      let range = subnet;
      if (c.IPRange) {
        range = parseCidr(c.IPRange, 'ip-range');
        if (!contains(subnet, range.base) || range.prefix < subnet.prefix) throw new InvalidArgumentError(`invalid ip-range ${c.IPRange}: it must be within the subnet ${formatCidr(subnet)}`);
      }
      const aux = checkAuxiliary(name, c.AuxiliaryAddresses, subnet, range, gw);
      const n = this.newRecord(name, 'bridge', {
        EnableIPv6: req.EnableIPv6 === true,
        IPAM: {
          Driver: req.IPAM?.Driver || 'default', Options: req.IPAM?.Options ?? {},
          Config: [{ Subnet: formatCidr(subnet), ...(c.IPRange ? { IPRange: c.IPRange } : {}), Gateway: formatIPv4(gw), ...(aux ? { AuxiliaryAddresses: aux } : {}) }, ...v6.map((x) => {
            const s6 = parseCidr6(x.Subnet!);
            return { Subnet: `${formatIPv6(s6.base)}/${s6.prefix}`, Gateway: x.Gateway || formatIPv6(s6.base + 1n) };
          })],
        },
        Internal: req.Internal === true, Attachable: req.Attachable === true,
        Options: req.Options ?? {}, Labels: req.Labels ?? {},
      });
      if (bridgeName) n.berth!.bridge = bridgeName;
      try {
        // The record first: a kill -9 after it leaves a network whose bridge the
        // next start makes; one before it, nothing. (Bridge first leaked a bridge
        // no record names, which no start can tell from another daemon's.)
        await this.addRecord(n);
        await ensureBridge(n.berth!.bridge, this.gatewayCidr(n), this.gateway6Cidr(n));
        await this.openPool(n);
        await this.syncFirewall();
      } catch (err) {
        this.records.delete(n.Id);
        this.dnsServers.get(n.Id)?.close();
        await rm(join(this.dir, `${n.Id}.json`), { force: true });
        await removeLink(n.berth!.bridge);
        throw err;
      }
      this.events.publish('network', 'create', n.Id, { name: n.Name, type: n.Driver });
      return { Id: n.Id, Warning: '' };
    });
  }

  async remove(ref: string): Promise<void> {
    const n = this.get(ref);
    if (PREDEFINED.includes(n.Name)) throw new ForbiddenError(`${n.Name} is a pre-defined network and cannot be removed`);
    // The cluster's: removed through it (the daemon's route), and here by the next sync.
    if (n.Driver === 'overlay') throw new ForbiddenError(`network ${n.Name} is a swarm network: remove it on a manager`);
    const active = this.attached(n.Id);
    if (active.length) {
      throw new ForbiddenError(`error while removing network: network ${n.Name} has active endpoints (${active.map((c) => `name:"${c.Name.slice(1)}" id:"${c.Id.slice(0, 12)}"`).join(', ')})`);
    }
    this.records.delete(n.Id);
    this.pools.delete(n.Id);
    this.dnsServers.get(n.Id)?.close();
    this.dnsServers.delete(n.Id);
    await this.syncFirewall();
    // The bridge before the record, for the reason create makes the record first:
    // a kill -9 in between leaves the network, whose bridge the next start remakes.
    await removeLink(n.berth!.bridge);
    await rm(join(this.dir, `${n.Id}.json`), { force: true });
    this.events.publish('network', 'destroy', n.Id, { name: n.Name, type: n.Driver });
  }

  /** Removes every user-defined network no container refers to (running or not) that `matches`. */
  async prune(matches: (n: NetworkRecord) => boolean): Promise<{ NetworksDeleted: string[] }> {
    const used = new Set<string>();
    for (const c of this.containers.list()) for (const ep of Object.values(settingsOf(c).Networks)) used.add(ep.NetworkID);
    const deleted: string[] = [];
    for (const n of this.list()) {
      if (PREDEFINED.includes(n.Name) || n.Driver === 'overlay' || used.has(n.Id) || !matches(n)) continue;
      await this.remove(n.Id);
      deleted.push(n.Name);
    }
    this.events.publish('network', 'prune', '', {});
    return { NetworksDeleted: deleted };
  }

  // ---------- containers (endpoints.ts) ----------

  /** Checks a new container's network mode and endpoint requests; the endpoints its record starts with. */
  endpointsForCreate(mode: string, endpointsConfig: Record<string, EndpointRequest> | undefined, hostname: string, labels?: Record<string, string>): Record<string, EndpointSettings> {
    return this.endpoints.forCreate(mode, endpointsConfig, hostname, labels);
  }

  /** Before the runtime starts: the namespace the container runs in, plumbed; and link env vars. */
  /** `make`: how to make the container's own namespace (a remapped container's is owned by its user namespace). */
  setup(rec: ContainerRecord, make?: NetnsMaker): Promise<{ netns: NetnsSpec; env: string[]; ready?: Promise<void> }> {
    return this.endpoints.setup(rec, make);
  }

  /** After the container exits (or a failed start): everything setup made, released; never fails. */
  teardown(rec: ContainerRecord): Promise<void> {
    return this.endpoints.teardown(rec);
  }

  /** Daemon start: a running container's addresses and ports are its own again. */
  restoreRunning(rec: ContainerRecord): Promise<void> {
    return this.endpoints.restoreRunning(rec);
  }

  /** Daemon start: a container that is not running owns no namespace. */
  cleanupStopped(rec: ContainerRecord): Promise<void> {
    return this.endpoints.cleanupStopped(rec);
  }

  connect(netRef: string, body: { Container?: string; EndpointConfig?: EndpointRequest }): Promise<void> {
    return this.endpoints.connect(netRef, body);
  }

  disconnect(netRef: string, body: { Container?: string; Force?: boolean }): Promise<void> {
    return this.endpoints.disconnect(netRef, body);
  }

  // ---------- names ----------

  /** /etc/hosts for the container (containers write it at create, before any network is plumbed). */
  writeHosts(rec: ContainerRecord, linkLines: string[]): void {
    writeHostsFile(rec, linkLines, this.byName('bridge')?.IPAM.Config[0]?.Gateway ?? '');
  }

  private resolveLinks(rec: ContainerRecord): { hosts: string[]; env: string[] } {
    return resolveLinks(rec, (link) => this.linkTarget(link), (id) => this.records.get(id)?.Name);
  }

  private lookupName(netId: string, clientIp: string, name: string): string[] | undefined {
    // Endpoints carry an address only while plumbed: a container just starting already counts.
    const plumbed = this.containers.list().filter((c) => this.sandboxes.has(c.Id));
    const local = lookupName(plumbed, (ref) => this.containers.find(ref), (id) => this.records.get(id)?.Name, netId, clientIp, name);
    return local ?? this.overlays.lookupFor(plumbed, netId, clientIp, name);
  }

  // ---------- swarm (overlays.ts) ----------

  /** While this node is in a swarm: the cluster's allocation of overlay addresses (undefined when it leaves). */
  bindSwarm(addresses: OverlayAddresses | undefined): void {
    this.overlays.addresses = addresses;
  }

  /** Subnets this host's networks and routes take (an overlay's must overlap none). */
  async usedSubnets(): Promise<string[]> {
    return [...await routedSubnets(), ...this.subnets()].map((s) => formatCidr(s));
  }

  /** The overlay addresses our containers hold, by network ID. */
  overlayAddressesHeld(): Map<string, Set<string>> {
    return heldAddresses(this.containers.list(), this.records);
  }

  /** Makes this node's overlays, VIPs and routing mesh match the cluster's state. */
  syncOverlays(state: OverlayState): Promise<void> {
    return this.overlays.sync(state);
  }
}
