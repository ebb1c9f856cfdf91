// Networks of one daemon: the predefined bridge/host/none, user-defined
// bridge networks (create/ls/inspect/rm/prune/connect/disconnect), and the
// plumbing of each running container into them: its namespace, veth pairs,
// addresses, published ports, firewall rules and embedded DNS.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempFiles, writeJsonAtomic } from '../files/atomic.ts';
import { InvalidArgumentError, ConflictError, ForbiddenError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { ContainerRecord } from '../api/container.ts';
import { nowNano } from '../api/container.ts';
import { AddressPool, checkAuxiliary, withHostLock } from './ipam.ts';
import { embeddedResolvConf, writeHostsFile } from './etc-files.ts';
import { lookupName, resolveLinks } from './names.ts';
import { contains, formatCidr, formatIPv4, formatIPv6, macFor, overlaps, parseCidr, parseCidr6, parseIPv4, type Subnet } from '../api/address.ts';
import { Firewall, type FirewallState, type LinkRule, type PortRule } from './iptables.ts';
import { ensureBridge, plumbNetns, redirectDns, removeLink, removeNetns, removeStrayLinks, routedSubnets, vethName, type EndpointPlan } from './links.ts';
import { runInNetns } from './command.ts';
import { DnsServer, hostResolvers } from './dns.ts';
import { holdPort, portMapOf, portRequests, reholdPort, type HeldPort } from './ports.ts';
import {
  type EndpointSettings, type IpamPoolConfig, type NetworkRecord,
  PREDEFINED, emptyEndpoint, emptyNetworkSettings, netState, settingsOf,
} from './model.ts';

/** How the network service reaches containers (implemented by ContainerService). */
export interface ContainerDirectory {
  list(): ContainerRecord[];
  get(ref: string): ContainerRecord;
  find(ref: string): ContainerRecord | undefined;
  /** Runs `fn` under the container's lock and saves the record after. */
  update(ref: string, fn: (rec: ContainerRecord) => Promise<void>): Promise<void>;
}

export type NetnsSpec = { kind: 'new' } | { kind: 'host' } | { kind: 'path'; path: string };

export interface CreateNetworkRequest {
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: IpamPoolConfig[]; Options?: Record<string, string> };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network: string };
}

export interface EndpointRequest {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Links?: string[] | null;
  Aliases?: string[] | null;
  MacAddress?: string;
  DriverOpts?: Record<string, string> | null;
}

/** What a running container's networking holds beside its record. */
interface Sandbox {
  netns: string;
  ports: HeldPort[];
  /** The bridge and address the published ports forward to. */
  target?: { bridge: string; ip: string };
}

const ICC_OPT = 'com.docker.network.bridge.enable_icc';
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
  private containers!: ContainerDirectory;
  private restoring = true;
  /** Bridges this start made (none was there): nothing of an earlier run can be attached to them. */
  private readonly bridgesMadeAtStart = new Set<string>();
  private readonly upstreams = hostResolvers();

  constructor(cfg: NetworkServiceOptions, events: EventBus) {
    this.cfg = cfg;
    this.events = events;
    this.firewall = new Firewall(cfg.network.chainTag, () => this.firewallState());
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

  private async save(n: NetworkRecord): Promise<void> {
    await writeJsonAtomic(join(this.dir, `${n.Id}.json`), n);
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
    const taken = [...await routedSubnets(), ...this.subnets()];
    for (const p of pools) {
      const base = parseCidr(p.base, 'address pool', true);
      if (p.size < base.prefix || p.size > 30) continue;
      const count = 2 ** (p.size - base.prefix);
      for (let i = 0; i < count; i++) {
        const s = { base: (base.base + i * 2 ** (32 - p.size)) >>> 0, prefix: p.size };
        if (!taken.some((t) => overlaps(t, s))) return s;
      }
    }
    throw new ForbiddenError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
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
        if (sb && this.dnsTargetNetwork(rec)?.Id === n.Id) await redirectDns(sb.netns, `${gw}:${port}`).catch(() => {});
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
    // In a stable order, so the same state always renders the same rules.
    const bridges = this.list().filter((n) => n.Driver === 'bridge').map((n) => ({
      bridge: n.berth!.bridge, subnet: n.IPAM.Config[0].Subnet!, internal: n.Internal, icc: n.Options[ICC_OPT] !== 'false',
    }));
    const ports: PortRule[] = [];
    for (const sb of this.sandboxes.values()) {
      if (!sb.target) continue;
      for (const p of sb.ports) ports.push({ bridge: sb.target.bridge, proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp: sb.target.ip, containerPort: p.containerPort });
    }
    ports.sort((a, b) => a.hostPort - b.hostPort || a.proto.localeCompare(b.proto) || a.hostIp.localeCompare(b.hostIp));
    return { bridges, ports, links: this.linkRules() };
  }

  /** The running pairs of legacy links on the default bridge, when its icc is off: rules from the records, so a restart rebuilds them. */
  private linkRules(): LinkRule[] {
    const n = this.byName('bridge');
    if (!n || n.Options[ICC_OPT] !== 'false') return [];
    const ipOn = (c: ContainerRecord) => this.sandboxes.has(c.Id) ? Object.values(settingsOf(c).Networks).find((e) => e.NetworkID === n.Id)?.IPAddress : undefined;
    const out: LinkRule[] = [];
    for (const c of this.containers.list()) {
      const from = ipOn(c);
      if (!from) continue;
      for (const link of c.HostConfig.Links ?? []) {
        const target = this.linkTarget(link);
        const to = target && ipOn(target);
        if (!to) continue;
        for (const k of Object.keys(target.Config.ExposedPorts ?? {}).sort()) {
          const [port, proto] = k.split('/');
          out.push({ bridge: n.berth!.bridge, from, to, proto: proto === 'udp' ? 'udp' : 'tcp', port: Number(port) });
        }
      }
    }
    return out;
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
    for (const n of this.records.values()) if (n.Driver === 'bridge') await removeLink(n.berth!.bridge);
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
    return [...this.records.values()].sort((a, b) => a.Created.localeCompare(b.Created));
  }

  /** Running containers with an endpoint on the network. */
  private attached(id: string): ContainerRecord[] {
    return this.containers.list().filter((c) => c.State.Running && Object.values(settingsOf(c).Networks).some((e) => e.NetworkID === id && e.IPAddress));
  }

  /** `GET /networks/{id}`: the record in Docker's shape, with its containers. */
  inspect(n: NetworkRecord): Record<string, unknown> {
    const { berth: _b, ...pub } = n;
    const containers: Record<string, unknown> = {};
    for (const c of this.containers.list()) {
      if (!c.State.Running) continue;
      for (const ep of Object.values(settingsOf(c).Networks)) {
        if (ep.NetworkID !== n.Id || (n.Driver === 'bridge' && !ep.IPAddress)) continue;
        containers[c.Id] = {
          Name: c.Name.slice(1), EndpointID: ep.EndpointID, MacAddress: ep.MacAddress,
          IPv4Address: ep.IPAddress ? `${ep.IPAddress}/${ep.IPPrefixLen}` : '', IPv6Address: ep.GlobalIPv6Address ? `${ep.GlobalIPv6Address}/${ep.GlobalIPv6PrefixLen}` : '',
        };
      }
    }
    return { ...pub, Containers: containers };
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
      if (PREDEFINED.includes(n.Name) || used.has(n.Id) || !matches(n)) continue;
      await this.remove(n.Id);
      deleted.push(n.Name);
    }
    this.events.publish('network', 'prune', '', {});
    return { NetworksDeleted: deleted };
  }

  // ---------- containers: create ----------

  /**
   * Checks a new container's network mode and endpoint requests, and returns
   * the endpoints its record starts with (as dockerd fills NetworkSettings.Networks).
   */
  endpointsForCreate(mode: string, endpointsConfig: Record<string, EndpointRequest> | undefined, hostname: string): Record<string, EndpointSettings> {
    const reqs = { ...(endpointsConfig ?? {}) };
    if (reqs.default && mode === 'bridge') {
      reqs.bridge = reqs.default;
      delete reqs.default;
    }
    if (mode.startsWith('container:')) {
      const target = mode.slice('container:'.length);
      if (!this.containers.find(target)) throw new NotFoundError(`No such container: ${target}`);
      if (hostname) throw new InvalidArgumentError('conflicting options: hostname and the network mode');
      return {};
    }
    const primary = this.find(mode);
    if (!primary) throw new NotFoundError(`network ${mode} not found`);
    const out: Record<string, EndpointSettings> = {};
    const add = (n: NetworkRecord, r: EndpointRequest | undefined) => {
      if (r?.IPAMConfig?.IPv4Address) {
        if (n.Driver !== 'bridge' || n.Name === 'bridge') throw new InvalidArgumentError('user specified IP address is supported on user defined networks only');
        const ip = parseIPv4(r.IPAMConfig.IPv4Address);
        if (ip === undefined) throw new InvalidArgumentError(`invalid IPv4 address: ${r.IPAMConfig.IPv4Address}`);
      }
      if (r?.Aliases?.length && n.Name === 'bridge') throw new InvalidArgumentError('network-scoped alias is supported only for containers in user defined networks');
      if (r?.MacAddress && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(r.MacAddress)) throw new InvalidArgumentError(`invalid MAC address: ${r.MacAddress}`);
      out[n.Name] = emptyEndpoint(n.Id, { IPAMConfig: r?.IPAMConfig ?? null, Aliases: r?.Aliases ?? null, Links: r?.Links ?? null, MacAddress: r?.MacAddress ?? '', DriverOpts: r?.DriverOpts ?? null });
    };
    add(primary, reqs[primary.Name] ?? reqs[mode]);
    for (const [name, r] of Object.entries(reqs)) {
      if (name === primary.Name || name === mode) continue;
      const n = this.get(name);
      if (primary.Driver !== 'bridge' || n.Driver !== 'bridge') throw new InvalidArgumentError('Container cannot be connected to network endpoints: host, none and container modes take no other networks');
      add(n, r);
    }
    return out;
  }

  // ---------- containers: start / stop ----------

  /** Before the runtime starts: the namespace the container runs in, plumbed; and link env vars. */
  async setup(rec: ContainerRecord): Promise<{ netns: NetnsSpec; env: string[] }> {
    const mode = rec.HostConfig.NetworkMode ?? 'bridge';
    const s = settingsOf(rec);
    if (mode === 'host') {
      this.writeHosts(rec, []);
      return { netns: { kind: 'host' }, env: [] };
    }
    if (mode.startsWith('container:')) {
      const target = this.containers.get(mode.slice('container:'.length));
      if (!target.State.Running) throw new ConflictError(`cannot join network namespace of a non running container: ${target.Id}`);
      for (const [from, to] of [[target.HostsPath, rec.HostsPath], [target.ResolvConfPath, rec.ResolvConfPath]]) {
        try {
          writeFileSync(to, readFileSync(from));
        } catch {
          // The target's files are best effort; its namespace is what matters.
        }
      }
      return { netns: { kind: 'path', path: `/proc/${target.State.Pid}/ns/net` }, env: [] };
    }
    const netns = this.netnsPath(rec.Id);
    await removeNetns(netns);
    const sb: Sandbox = { netns, ports: [] };
    this.sandboxes.set(rec.Id, sb);
    try {
      s.SandboxID = randomBytes(32).toString('hex');
      s.SandboxKey = netns;
      const plans: EndpointPlan[] = [];
      for (const [name, ep] of Object.entries(s.Networks)) {
        const n = this.records.get(ep.NetworkID) ?? this.find(name);
        if (!n) throw new NotFoundError(`network ${name} not found`);
        if (n.Driver !== 'bridge') continue;
        plans.push(await this.planEndpoint(rec, n, ep, `eth${plans.length}`));
      }
      await plumbNetns(netns, plans, true);
      const primary = this.primaryEndpoint(rec);
      if (primary) {
        const n = this.records.get(primary.NetworkID)!;
        for (const r of portRequests(rec.HostConfig, rec.Config.ExposedPorts ?? undefined)) sb.ports.push(await holdPort(r));
        sb.target = { bridge: n.berth!.bridge, ip: primary.IPAddress };
      }
      s.Ports = portMapOf(sb.ports, rec.Config.ExposedPorts ?? undefined);
      const dnsNet = this.dnsTargetNetwork(rec);
      if (dnsNet) {
        await redirectDns(netns, `${dnsNet.IPAM.Config[0].Gateway}:${dnsNet.berth!.dnsPort}`);
        writeFileSync(rec.ResolvConfPath, embeddedResolvConf(rec, this.upstreams));
      }
      const links = this.resolveLinks(rec);
      this.writeHosts(rec, links.hosts);
      // Only published ports and links add rules of a container's own.
      if (sb.ports.length || this.linked(rec)) await this.syncFirewall();
      return { netns: { kind: 'path', path: netns }, env: links.env };
    } catch (err) {
      await this.teardown(rec);
      throw err;
    }
  }

  /** The network whose resolver answers the container's 127.0.0.11: its first user-defined one. */
  private dnsTargetNetwork(rec: ContainerRecord): NetworkRecord | undefined {
    for (const ep of Object.values(settingsOf(rec).Networks)) {
      const n = this.records.get(ep.NetworkID);
      if (n && n.Driver === 'bridge' && n.Name !== 'bridge' && ep.IPAddress && n.berth?.dnsPort) return n;
    }
    return undefined;
  }

  private primaryEndpoint(rec: ContainerRecord): EndpointSettings | undefined {
    return Object.values(settingsOf(rec).Networks).find((ep) => ep.IPAddress && this.records.get(ep.NetworkID)?.Driver === 'bridge');
  }

  /** Allocates the endpoint's address and fills in its settings; the plan says how to plumb it. */
  private async planEndpoint(rec: ContainerRecord, n: NetworkRecord, ep: EndpointSettings, ifname: string): Promise<EndpointPlan> {
    const pool = this.pools.get(n.Id)!;
    const st = netState(rec);
    const requested = ep.IPAMConfig?.IPv4Address ? parseIPv4(ep.IPAMConfig.IPv4Address) : undefined;
    const previous = st.lastAddresses[n.Id] ? parseIPv4(st.lastAddresses[n.Id]) : undefined;
    const ip = pool.allocate(rec.Id, { requested, previous, networkName: n.Name, networkId: n.Id });
    const cursorMoved = pool.cursor !== n.berth!.cursor;
    const gw = n.IPAM.Config[0].Gateway!;
    const hasRoute = Object.values(settingsOf(rec).Networks).some((e) => e !== ep && e.IPAddress && e.Gateway);
    const mac = ep.MacAddress || (ifname === 'eth0' ? (rec.Config as { MacAddress?: string }).MacAddress : '') || macFor(ip);
    // IPv6: the same host part as the IPv4 address, in the network's IPv6 subnet.
    const v6cfg = n.EnableIPv6 ? n.IPAM.Config.find((x) => x.Subnet?.includes(':')) : undefined;
    const v6 = v6cfg ? { ...parseCidr6(v6cfg.Subnet!), gateway: v6cfg.Gateway! } : undefined;
    const ip6 = v6 ? formatIPv6(v6.base + BigInt(ip - pool.subnet.base)) : undefined;
    const plan: EndpointPlan = {
      bridge: n.berth!.bridge, hostIf: vethName(), ifname, address: `${formatIPv4(ip)}/${pool.subnet.prefix}`,
      gateway: n.Internal ? undefined : gw, mac, defaultRoute: !n.Internal && !hasRoute,
      ...(v6 && ip6 ? { ipv6Address: `${ip6}/${v6.prefix}`, ipv6Gateway: n.Internal ? undefined : v6.gateway } : {}),
    };
    if (cursorMoved) {
      n.berth!.cursor = pool.cursor;
      try {
        await this.save(n);
      } catch (err) {
        pool.release(ip, rec.Id);
        throw err;
      }
    }
    ep.EndpointID = randomBytes(32).toString('hex');
    ep.Gateway = n.Internal ? '' : gw;
    ep.IPAddress = formatIPv4(ip);
    ep.IPPrefixLen = pool.subnet.prefix;
    ep.MacAddress = mac;
    ep.NetworkID = n.Id;
    if (v6 && ip6) Object.assign(ep, { GlobalIPv6Address: ip6, GlobalIPv6PrefixLen: v6.prefix, IPv6Gateway: n.Internal ? '' : v6.gateway });
    ep.DNSNames = n.Name === 'bridge' ? null : [rec.Name.slice(1), ...(ep.Aliases ?? []), rec.Id.slice(0, 12)];
    st.lastAddresses[n.Id] = ep.IPAddress;
    st.interfaces[n.Id] = ifname;
    if (n.Name === 'bridge') {
      const s = settingsOf(rec);
      Object.assign(s, { Bridge: '', EndpointID: ep.EndpointID, Gateway: ep.Gateway, IPAddress: ep.IPAddress, IPPrefixLen: ep.IPPrefixLen, MacAddress: mac });
    }
    return plan;
  }

  private clearEndpoint(rec: ContainerRecord, ep: EndpointSettings): void {
    const ip = ep.IPAddress ? parseIPv4(ep.IPAddress) : undefined;
    if (ip !== undefined) this.pools.get(ep.NetworkID)?.release(ip, rec.Id);
    Object.assign(ep, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null });
    delete netState(rec).interfaces[ep.NetworkID];
  }

  /**
   * After the container exits (or a failed start): addresses, ports, rules and
   * namespace released. Idempotent, and never fails: an exit must be recorded
   * whatever the kernel says (a rule left behind goes with the next rewrite).
   */
  async teardown(rec: ContainerRecord): Promise<void> {
    const sb = this.sandboxes.get(rec.Id);
    this.sandboxes.delete(rec.Id);
    for (const p of sb?.ports ?? []) p.close();
    const s = settingsOf(rec);
    for (const ep of Object.values(s.Networks)) this.clearEndpoint(rec, ep);
    const reset = emptyNetworkSettings();
    Object.assign(s, { ...reset, Networks: s.Networks, Ports: {} });
    await removeNetns(this.netnsPath(rec.Id)).catch(() => {});
    if (sb?.ports.length || (sb && this.linked(rec))) await this.syncFirewall().catch(() => {});
  }

  /** Daemon start: a running container's addresses and ports are its own again. */
  async restoreRunning(rec: ContainerRecord): Promise<void> {
    const s = settingsOf(rec);
    if (!s.SandboxKey) return;
    const sb: Sandbox = { netns: s.SandboxKey, ports: [] };
    for (const ep of Object.values(s.Networks)) {
      const ip = ep.IPAddress ? parseIPv4(ep.IPAddress) : undefined;
      if (ip !== undefined) this.pools.get(ep.NetworkID)?.claim(ip, rec.Id);
    }
    const primary = this.primaryEndpoint(rec);
    if (primary) {
      sb.target = { bridge: this.records.get(primary.NetworkID)!.berth!.bridge, ip: primary.IPAddress };
      for (const [k, list] of Object.entries(s.Ports ?? {})) {
        const [port, proto] = k.split('/') as [string, 'tcp' | 'udp'];
        for (const b of list ?? []) {
          const held = await reholdPort(proto, Number(port), b.HostIp, Number(b.HostPort));
          sb.ports.push(held ?? { proto, containerPort: Number(port), hostIp: b.HostIp, hostPort: Number(b.HostPort), close: () => {} });
        }
      }
    }
    this.sandboxes.set(rec.Id, sb);
    await removeStrayLinks(sb.netns, new Set(Object.values(netState(rec).interfaces)));
  }

  /** Daemon start: a container that is not running owns no namespace (a crash during its start). */
  async cleanupStopped(rec: ContainerRecord): Promise<void> {
    if (existsSync(this.netnsPath(rec.Id))) await removeNetns(this.netnsPath(rec.Id));
  }

  // ---------- connect / disconnect ----------

  async connect(netRef: string, body: { Container?: string; EndpointConfig?: EndpointRequest }): Promise<void> {
    const n = this.get(netRef);
    const ref = body.Container ?? '';
    if (n.Driver !== 'bridge') throw new ForbiddenError(`container cannot be disconnected from host network or connected to host network`);
    await this.containers.update(ref, async (rec) => {
      const s = settingsOf(rec);
      const mode = rec.HostConfig.NetworkMode ?? '';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) throw new ForbiddenError(`container sharing network namespace with another container or host cannot be connected to any other network`);
      if (Object.values(s.Networks).some((e) => e.NetworkID === n.Id)) throw new ForbiddenError(`endpoint with name ${rec.Name.slice(1)} already exists in network ${n.Name}`);
      const cfg = body.EndpointConfig ?? {};
      const reqs = this.endpointsForCreate(n.Name, { [n.Name]: cfg }, '');
      const ep = reqs[n.Name];
      const sb = this.sandboxes.get(rec.Id);
      if (rec.State.Running && sb) {
        const used = new Set(Object.values(netState(rec).interfaces));
        let i = 0;
        while (used.has(`eth${i}`)) i++;
        const hadDns = this.dnsTargetNetwork(rec) !== undefined;
        const plan = await this.planEndpoint(rec, n, ep, `eth${i}`);
        try {
          await plumbNetns(sb.netns, [plan], false);
          // The first user-defined network of a container from the default bridge brings the embedded DNS.
          if (!hadDns && n.berth?.dnsPort) {
            s.Networks[n.Name] = ep;
            await redirectDns(sb.netns, `${n.IPAM.Config[0].Gateway}:${n.berth.dnsPort}`);
            writeFileSync(rec.ResolvConfPath, embeddedResolvConf(rec, this.upstreams));
          }
        } catch (err) {
          delete s.Networks[n.Name];
          this.clearEndpoint(rec, ep);
          throw err;
        }
        this.writeHosts(rec, this.resolveLinks(rec).hosts);
      }
      s.Networks[n.Name] = ep;
      this.events.publish('network', 'connect', n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    });
    await this.syncFirewall();
  }

  async disconnect(netRef: string, body: { Container?: string; Force?: boolean }): Promise<void> {
    const n = this.get(netRef);
    await this.containers.update(body.Container ?? '', async (rec) => {
      const s = settingsOf(rec);
      const entry = Object.entries(s.Networks).find(([, e]) => e.NetworkID === n.Id);
      if (!entry) throw new ForbiddenError(`container ${rec.Id} is not connected to network ${n.Name}`);
      if (n.Driver !== 'bridge') throw new ForbiddenError('container cannot be disconnected from host network or connected to host network');
      const [name, ep] = entry;
      const ifname = netState(rec).interfaces[n.Id];
      const sb = this.sandboxes.get(rec.Id);
      if (rec.State.Running && sb && ifname) await runInNetns(sb.netns, 'ip', ['link', 'del', 'dev', ifname]).catch(() => {});
      if (sb?.target && sb.target.ip === ep.IPAddress) {
        for (const p of sb.ports) p.close();
        sb.ports = [];
        sb.target = undefined;
        s.Ports = {};
      }
      this.clearEndpoint(rec, ep);
      delete s.Networks[name];
      if (n.Name === 'bridge') Object.assign(s, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' });
      this.events.publish('network', 'disconnect', n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    });
    await this.syncFirewall();
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
    return lookupName(plumbed, (ref) => this.containers.find(ref), (id) => this.records.get(id)?.Name, netId, clientIp, name);
  }
}
