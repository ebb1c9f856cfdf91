// A container's endpoints on the daemon's networks: checked at create,
// plumbed at start (namespace, veths, addresses, published ports, DNS),
// released at exit, restored after a daemon restart, and connected or
// disconnected while it runs. The networks themselves are service.ts's.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ContainerRecord } from '../api/container.ts';
import { formatIPv4, formatIPv6, macFor, parseCidr6, parseIPv4 } from '../api/address.ts';
import { ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import { deleteLinks } from './command.ts';
import { embeddedResolvConf } from './etc-files.ts';
import type { AddressPool } from './ipam.ts';
import { attachHostEnds, plumbInside, plumbNetns, redirectDns, removeNetns, removeStrayLinks, vethName, type EndpointPlan, type NetnsMaker } from './links.ts';
import { OVERLAY_MTU } from './overlay-links.ts';
import {
  type ContainerDirectory, type EndpointRequest, type EndpointSettings, type NetnsSpec, type NetworkRecord, type OverlayAddresses,
  bridged, emptyEndpoint, emptyNetworkSettings, netState, settingsOf,
} from './model.ts';
import { holdPort, portMapOf, portRequests, reholdPort, type HeldPort } from './ports.ts';

/** What a running container's networking holds beside its record. */
export interface Sandbox {
  netns: string;
  ports: HeldPort[];
  /** The bridge and address the published ports forward to. */
  target?: { bridge: string; ip: string };
}

/** What the endpoints need of the network service (handed down by it). */
export interface EndpointHost {
  readonly events: EventBus;
  readonly records: Map<string, NetworkRecord>;
  readonly pools: Map<string, AddressPool>;
  readonly sandboxes: Map<string, Sandbox>;
  /** The host's resolvers, which the embedded DNS forwards to. */
  readonly upstreams: string[];
  containers(): ContainerDirectory;
  get(ref: string): NetworkRecord;
  find(ref: string): NetworkRecord | undefined;
  /** `durable: false`: atomic but not fsynced (files/atomic.ts). */
  save(n: NetworkRecord, durable?: boolean): Promise<void>;
  syncFirewall(): Promise<void>;
  netnsPath(id: string): string;
  writeHosts(rec: ContainerRecord, linkLines: string[]): void;
  resolveLinks(rec: ContainerRecord): { hosts: string[]; env: string[] };
  /** Whether the container takes part in a legacy link (its start and exit change the rules). */
  linked(rec: ContainerRecord): boolean;
  /** The cluster's allocation of overlay addresses, while this node is in a swarm. */
  overlayAddresses(): OverlayAddresses | undefined;
}

/** The label dockerd's swarm executor puts on a task's container: a task may join any overlay, attachable or not. */
const TASK_LABEL = 'com.docker.swarm.task.id';

export class Endpoints {
  private readonly h: EndpointHost;

  constructor(h: EndpointHost) {
    this.h = h;
  }

  /**
   * Checks a new container's network mode and endpoint requests, and returns
   * the endpoints its record starts with (as dockerd fills NetworkSettings.Networks).
   */
  forCreate(mode: string, endpointsConfig: Record<string, EndpointRequest> | undefined, hostname: string, labels: Record<string, string> = {}): Record<string, EndpointSettings> {
    const reqs = { ...(endpointsConfig ?? {}) };
    if (reqs.default && mode === 'bridge') {
      reqs.bridge = reqs.default;
      delete reqs.default;
    }
    if (mode.startsWith('container:')) {
      const target = mode.slice('container:'.length);
      if (!this.h.containers().find(target)) throw new NotFoundError(`No such container: ${target}`);
      if (hostname) throw new InvalidArgumentError('conflicting options: hostname and the network mode');
      return {};
    }
    const primary = this.h.find(mode);
    if (!primary) throw new NotFoundError(`network ${mode} not found`);
    const out: Record<string, EndpointSettings> = {};
    const add = (n: NetworkRecord, r: EndpointRequest | undefined) => {
      if (r?.IPAMConfig?.IPv4Address) {
        if (!bridged(n) || n.Name === 'bridge') throw new InvalidArgumentError('user specified IP address is supported on user defined networks only');
        const ip = parseIPv4(r.IPAMConfig.IPv4Address);
        if (ip === undefined) throw new InvalidArgumentError(`invalid IPv4 address: ${r.IPAMConfig.IPv4Address}`);
      }
      if (r?.Aliases?.length && n.Name === 'bridge') throw new InvalidArgumentError('network-scoped alias is supported only for containers in user defined networks');
      // As dockerd: a container of no task joins an overlay only if it was created --attachable.
      if (n.Driver === 'overlay' && !n.Attachable && !(TASK_LABEL in labels)) throw new ForbiddenError(`Could not attach to network ${n.Name}: rpc error: code = PermissionDenied desc = network ${n.Name} not manually attachable`);
      if (r?.MacAddress && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(r.MacAddress)) throw new InvalidArgumentError(`invalid MAC address: ${r.MacAddress}`);
      out[n.Name] = emptyEndpoint(n.Id, { IPAMConfig: r?.IPAMConfig ?? null, Aliases: r?.Aliases ?? null, Links: r?.Links ?? null, MacAddress: r?.MacAddress ?? '', DriverOpts: r?.DriverOpts ?? null });
    };
    add(primary, reqs[primary.Name] ?? reqs[mode]);
    for (const [name, r] of Object.entries(reqs)) {
      if (name === primary.Name || name === mode) continue;
      const n = this.h.get(name);
      if (!bridged(primary) || !bridged(n)) throw new InvalidArgumentError('Container cannot be connected to network endpoints: host, none and container modes take no other networks');
      add(n, r);
    }
    return out;
  }

  /**
   * Before the runtime starts: the namespace the container runs in, plumbed;
   * and link env vars. `ready`, when there is one, settles once the host's ends of the veths
   * are on their bridges: that process runs while the caller goes on with
   * the runtime's create, and must be waited for before the container's
   * process starts (a failure is the start's).
   */
  async setup(rec: ContainerRecord, make?: NetnsMaker): Promise<{ netns: NetnsSpec; env: string[]; ready?: Promise<void> }> {
    const mode = rec.HostConfig.NetworkMode ?? 'bridge';
    const s = settingsOf(rec);
    if (mode === 'host') {
      this.h.writeHosts(rec, []);
      return { netns: { kind: 'host' }, env: [] };
    }
    if (mode.startsWith('container:')) {
      const target = this.h.containers().get(mode.slice('container:'.length));
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
    const netns = this.h.netnsPath(rec.Id);
    await removeNetns(netns);
    const sb: Sandbox = { netns, ports: [] };
    this.h.sandboxes.set(rec.Id, sb);
    let ready: Promise<void> | undefined;
    try {
      s.SandboxID = randomBytes(32).toString('hex');
      s.SandboxKey = netns;
      const plans: EndpointPlan[] = [];
      for (const [name, ep] of Object.entries(s.Networks)) {
        const n = this.h.records.get(ep.NetworkID) ?? this.h.find(name);
        if (!n) throw new NotFoundError(`network ${name} not found`);
        if (!bridged(n)) continue;
        plans.push(await this.planEndpoint(rec, n, ep, `eth${plans.length}`));
      }
      await plumbInside(netns, plans, true, make);
      ready = attachHostEnds(plans);
      ready.catch(() => {}); // awaited by the caller, or below
      const primary = this.primaryEndpoint(rec);
      if (primary) {
        const n = this.h.records.get(primary.NetworkID)!;
        for (const r of portRequests(rec.HostConfig, rec.Config.ExposedPorts ?? undefined)) {
          try {
            sb.ports.push(await holdPort(r));
          } catch (err) {
            // dockerd's wording names the endpoint (the container's name), so `compose up` shows whose port clashed.
            if (err instanceof ConflictError) throw new ConflictError(`driver failed programming external connectivity on endpoint ${rec.Name.replace(/^\//, '')} (${primary.EndpointID}): ${err.message}`);
            throw err;
          }
        }
        sb.target = { bridge: n.berth!.bridge, ip: primary.IPAddress };
      }
      s.Ports = portMapOf(sb.ports, rec.Config.ExposedPorts ?? undefined);
      const dnsNet = this.dnsTargetNetwork(rec);
      if (dnsNet) {
        await redirectDns(netns, `${dnsNet.IPAM.Config[0].Gateway}:${dnsNet.berth!.dnsPort}`);
        writeFileSync(rec.ResolvConfPath, embeddedResolvConf(rec, this.h.upstreams));
      }
      const links = this.h.resolveLinks(rec);
      this.h.writeHosts(rec, links.hosts);
      // Only published ports and links add rules of a container's own.
      if (sb.ports.length || this.h.linked(rec)) await this.h.syncFirewall();
      return { netns: { kind: 'path', path: netns }, env: links.env, ready };
    } catch (err) {
      await ready?.catch(() => {});
      await this.teardown(rec);
      throw err;
    }
  }

  /** The network whose resolver answers the container's 127.0.0.11: its first user-defined one. */
  dnsTargetNetwork(rec: ContainerRecord): NetworkRecord | undefined {
    for (const ep of Object.values(settingsOf(rec).Networks)) {
      const n = this.h.records.get(ep.NetworkID);
      if (n && bridged(n) && n.Name !== 'bridge' && ep.IPAddress && n.berth?.dnsPort) return n;
    }
    return undefined;
  }

  private primaryEndpoint(rec: ContainerRecord): EndpointSettings | undefined {
    return Object.values(settingsOf(rec).Networks).find((ep) => ep.IPAddress && bridged(this.h.records.get(ep.NetworkID)));
  }

  /** Allocates the endpoint's address and fills in its settings; the plan says how to plumb it. */
  private async planEndpoint(rec: ContainerRecord, n: NetworkRecord, ep: EndpointSettings, ifname: string): Promise<EndpointPlan> {
    const pool = this.h.pools.get(n.Id)!;
    const st = netState(rec);
    let requested = ep.IPAMConfig?.IPv4Address ? parseIPv4(ep.IPAMConfig.IPv4Address) : undefined;
    let previous = st.lastAddresses[n.Id] ? parseIPv4(st.lastAddresses[n.Id]) : undefined;
    if (n.Driver === 'overlay') {
      // Overlay addresses are the cluster's: unique across its nodes.
      const cluster = this.h.overlayAddresses();
      if (!cluster) throw new ForbiddenError(`network ${n.Name} is a swarm network and this node is not in the swarm`);
      // The names other nodes' DNS answers with this address (a task's aliases are its service's, answered there).
      const names = [rec.Name.slice(1), ...(TASK_LABEL in (rec.Config.Labels ?? {}) ? [] : ep.Aliases ?? []), rec.Id.slice(0, 12)];
      if (requested === undefined) requested = parseIPv4(await cluster.allocate(n.Id, { containerId: rec.Id, labels: rec.Config.Labels ?? {}, names }));
      previous = undefined;
    }
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
      gateway: n.Internal ? undefined : gw, mac, defaultRoute: !n.Internal && !hasRoute, ...(n.Driver === 'overlay' ? { mtu: OVERLAY_MTU } : {}),
      ...(v6 && ip6 ? { ipv6Address: `${ip6}/${v6.prefix}`, ipv6Gateway: n.Internal ? undefined : v6.gateway } : {}),
    };
    if (cursorMoved) {
      n.berth!.cursor = pool.cursor;
      try {
        // Atomic, not fsynced: it was two fsyncs before every container's
        // network, and the cursor only spreads addresses. A host crash that
        // loses its last moves lets the next start reuse an address freed by
        // that crash (nothing runs after it), as a fresh network would.
        await this.h.save(n, false);
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
    (st.hostLinks ??= {})[n.Id] = plan.hostIf;
    if (n.Name === 'bridge') {
      const s = settingsOf(rec);
      Object.assign(s, { Bridge: '', EndpointID: ep.EndpointID, Gateway: ep.Gateway, IPAddress: ep.IPAddress, IPPrefixLen: ep.IPPrefixLen, MacAddress: mac });
    }
    return plan;
  }

  private clearEndpoint(rec: ContainerRecord, ep: EndpointSettings): void {
    const ip = ep.IPAddress ? parseIPv4(ep.IPAddress) : undefined;
    if (ip !== undefined) this.h.pools.get(ep.NetworkID)?.release(ip, rec.Id);
    if (ip !== undefined && this.h.records.get(ep.NetworkID)?.Driver === 'overlay') void this.h.overlayAddresses()?.release(ep.NetworkID, ep.IPAddress).catch(() => {});
    Object.assign(ep, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null });
    delete netState(rec).interfaces[ep.NetworkID];
    delete netState(rec).hostLinks?.[ep.NetworkID];
  }

  /**
   * After the container exits (or a failed start): addresses, ports, rules and
   * namespace released. Idempotent, and never fails: an exit must be recorded
   * whatever the kernel says (a rule left behind goes with the next rewrite).
   */
  async teardown(rec: ContainerRecord): Promise<void> {
    const sb = this.h.sandboxes.get(rec.Id);
    this.h.sandboxes.delete(rec.Id);
    for (const p of sb?.ports ?? []) p.close();
    const s = settingsOf(rec);
    const st = netState(rec);
    const links = Object.values(st.interfaces);
    // The host ends, when the record knows them all: deleting one deletes its pair.
    const hostLinks = Object.keys(st.interfaces).map((id) => st.hostLinks?.[id]).filter((l): l is string => l !== undefined);
    for (const ep of Object.values(s.Networks)) this.clearEndpoint(rec, ep);
    const reset = emptyNetworkSettings();
    Object.assign(s, { ...reset, Networks: s.Networks, Ports: {} });
    // The kernel frees an unmounted namespace (and the bridge ports of its
    // veths) later, seconds later under load; as libnetwork does, the links go now.
    // From the host's side they go at the same time as the namespace's
    // unmount (no namespace to enter, one process fewer): a veth the kernel's
    // cleanup of the unmounted namespace took first is gone when `ip` finds
    // it missing (both delete under the RTNL lock).
    if (sb && links.length && hostLinks.length === links.length) {
      await Promise.all([
        deleteLinks(undefined, hostLinks).catch(() => {}),
        removeNetns(this.h.netnsPath(rec.Id)).catch(() => {}),
      ]);
    } else {
      if (sb) await deleteLinks(sb.netns, links).catch(() => {});
      await removeNetns(this.h.netnsPath(rec.Id)).catch(() => {});
    }
    if (sb?.ports.length || (sb && this.h.linked(rec))) await this.h.syncFirewall().catch(() => {});
  }

  /** Daemon start: a running container's addresses and ports are its own again. */
  async restoreRunning(rec: ContainerRecord): Promise<void> {
    const s = settingsOf(rec);
    if (!s.SandboxKey) return;
    const sb: Sandbox = { netns: s.SandboxKey, ports: [] };
    for (const ep of Object.values(s.Networks)) {
      const ip = ep.IPAddress ? parseIPv4(ep.IPAddress) : undefined;
      if (ip !== undefined) this.h.pools.get(ep.NetworkID)?.claim(ip, rec.Id);
    }
    const primary = this.primaryEndpoint(rec);
    if (primary) {
      sb.target = { bridge: this.h.records.get(primary.NetworkID)!.berth!.bridge, ip: primary.IPAddress };
      for (const [k, list] of Object.entries(s.Ports ?? {})) {
        const [port, proto] = k.split('/') as [string, 'tcp' | 'udp'];
        for (const b of list ?? []) {
          const held = await reholdPort(proto, Number(port), b.HostIp, Number(b.HostPort));
          sb.ports.push(held ?? { proto, containerPort: Number(port), hostIp: b.HostIp, hostPort: Number(b.HostPort), close: () => {} });
        }
      }
    }
    this.h.sandboxes.set(rec.Id, sb);
    await removeStrayLinks(sb.netns, new Set(Object.values(netState(rec).interfaces)));
  }

  /** Daemon start: a container that is not running owns no namespace (a crash during its start). */
  async cleanupStopped(rec: ContainerRecord): Promise<void> {
    if (existsSync(this.h.netnsPath(rec.Id))) await removeNetns(this.h.netnsPath(rec.Id));
  }

  async connect(netRef: string, body: { Container?: string; EndpointConfig?: EndpointRequest }): Promise<void> {
    const n = this.h.get(netRef);
    const ref = body.Container ?? '';
    if (!bridged(n)) throw new ForbiddenError(`container cannot be disconnected from host network or connected to host network`);
    await this.h.containers().update(ref, async (rec) => {
      const s = settingsOf(rec);
      const mode = rec.HostConfig.NetworkMode ?? '';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) throw new ForbiddenError(`container sharing network namespace with another container or host cannot be connected to any other network`);
      if (Object.values(s.Networks).some((e) => e.NetworkID === n.Id)) throw new ForbiddenError(`endpoint with name ${rec.Name.slice(1)} already exists in network ${n.Name}`);
      const cfg = body.EndpointConfig ?? {};
      const reqs = this.forCreate(n.Name, { [n.Name]: cfg }, '', rec.Config.Labels ?? {});
      const ep = reqs[n.Name];
      const sb = this.h.sandboxes.get(rec.Id);
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
            writeFileSync(rec.ResolvConfPath, embeddedResolvConf(rec, this.h.upstreams));
          }
        } catch (err) {
          delete s.Networks[n.Name];
          this.clearEndpoint(rec, ep);
          throw err;
        }
        this.h.writeHosts(rec, this.h.resolveLinks(rec).hosts);
      }
      s.Networks[n.Name] = ep;
      this.h.events.publish('network', 'connect', n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    });
    await this.h.syncFirewall();
  }

  async disconnect(netRef: string, body: { Container?: string; Force?: boolean }): Promise<void> {
    const n = this.h.get(netRef);
    await this.h.containers().update(body.Container ?? '', async (rec) => {
      const s = settingsOf(rec);
      const entry = Object.entries(s.Networks).find(([, e]) => e.NetworkID === n.Id);
      if (!entry) throw new ForbiddenError(`container ${rec.Id} is not connected to network ${n.Name}`);
      if (!bridged(n)) throw new ForbiddenError('container cannot be disconnected from host network or connected to host network');
      const [name, ep] = entry;
      const ifname = netState(rec).interfaces[n.Id];
      const sb = this.h.sandboxes.get(rec.Id);
      if (rec.State.Running && sb && ifname) await deleteLinks(sb.netns, [ifname]).catch(() => {});
      if (sb?.target && sb.target.ip === ep.IPAddress) {
        for (const p of sb.ports) p.close();
        sb.ports = [];
        sb.target = undefined;
        s.Ports = {};
      }
      this.clearEndpoint(rec, ep);
      delete s.Networks[name];
      if (n.Name === 'bridge') Object.assign(s, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' });
      this.h.events.publish('network', 'disconnect', n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    });
    await this.h.syncFirewall();
  }
}
