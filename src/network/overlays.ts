// Swarm overlay networks on this node. The cluster decides (cluster/
// network-agent.ts) and hands the network service an OverlayState: which
// overlays exist, this node's address on each, the endpoints on other nodes,
// and the services with their VIPs and tasks. This makes it so: a record per
// overlay (Scope swarm, the cluster's ID), its bridge and VXLAN
// (overlay-links.ts), its embedded DNS answering service names, and the
// firewall's share: a VIP balanced over the service's tasks, published ports
// over its ingress tasks, and balanced traffic leaving from this node's own
// overlay address, so replies from tasks on other nodes come back here.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { macFor, parseIPv4 } from '../api/address.ts';
import type { EventBus } from '../events/bus.ts';
import { ensureOverlayBridge, removeOverlayLinks, syncVxlan } from './overlay-links.ts';
import type { BalancerRule, SnatRule } from './iptables.ts';
import type { ContainerRecord } from '../api/container.ts';
import { settingsOf, type LocalOverlay, type NetworkRecord, type OverlayAddresses, type OverlaySpec, type OverlayState } from './model.ts';

export const EMPTY_OVERLAY_STATE: OverlayState = { vtep: '', dataPort: 4789, networks: [], services: [] };

/** What the overlays need of the network service (handed down by it). */
export interface OverlayHost {
  readonly events: EventBus;
  readonly records: Map<string, NetworkRecord>;
  readonly dir: string;
  save(n: NetworkRecord): Promise<void>;
  openPool(n: NetworkRecord): Promise<void>;
  closeNetwork(n: NetworkRecord): void;
  /** Whether a running container has an endpoint on the network. */
  inUse(id: string): boolean;
  syncFirewall(): Promise<void>;
}

function gatewayCidr(n: NetworkRecord): string {
  const c = n.IPAM.Config[0];
  return `${c.Gateway}/${c.Subnet!.split('/')[1]}`;
}

export class Overlays {
  private readonly h: OverlayHost;
  private state: OverlayState = EMPTY_OVERLAY_STATE;
  private running: Promise<void> = Promise.resolve();
  /** The cluster's address allocation, while this node is in a swarm. */
  addresses?: OverlayAddresses;

  constructor(h: OverlayHost) {
    this.h = h;
  }

  /** Daemon start: an overlay's bridge with its gateway; its own address, VIPs and peers come with the cluster's first sync. */
  async restore(n: NetworkRecord): Promise<void> {
    const own = n.berth?.overlay?.address;
    await ensureOverlayBridge(n.berth!.bridge, [gatewayCidr(n), ...(own ? [`${own}/32`] : [])], macFor(parseIPv4(own ?? n.IPAM.Config[0].Gateway!)!));
  }

  /** The state last made real, and when: the cluster's pass comes every few seconds, mostly with nothing new. */
  private applied = { key: '', at: 0 };

  /**
   * Makes this node's overlays match the cluster's state; one sync at a time,
   * each from the newest state. The same state again is skipped, but not for
   * more than 30 s, so a link or rule removed behind our back comes back.
   */
  sync(state: OverlayState): Promise<void> {
    const key = JSON.stringify(state);
    const run = this.running.catch(() => {}).then(async () => {
      if (key === this.applied.key && Date.now() - this.applied.at < 30_000) return;
      this.applied = { key: '', at: 0 };
      // An overlay kept only for a container still on it goes at a later pass: not settled until then.
      if (await this.apply(state)) this.applied = { key, at: Date.now() };
    });
    this.running = run;
    return run;
  }

  /** Resolves whether everything is as the state says (false while a dropped overlay waits for its containers). */
  private async apply(state: OverlayState): Promise<boolean> {
    this.state = state;
    // One overlay that cannot be made (its VNI taken on this machine, say) holds up none of the others.
    const failed: string[] = [];
    for (const l of state.networks) await this.ensure(l, state).catch((err: Error) => failed.push(`${l.network.name}: ${err.message}`));
    const wanted = new Set(state.networks.map((l) => l.network.id));
    let settled = true;
    for (const n of [...this.h.records.values()]) {
      if (n.Driver !== 'overlay' || wanted.has(n.Id)) continue;
      // An overlay the cluster dropped goes once no container of ours is on it.
      if (this.h.inUse(n.Id)) settled = false;
      else await this.remove(n).catch((err: Error) => failed.push(`${n.Name}: ${err.message}`));
    }
    await this.h.syncFirewall();
    if (failed.length) throw new Error(`overlays: ${failed.join('; ')}`);
    return settled;
  }

  private async ensure(l: LocalOverlay, state: OverlayState): Promise<void> {
    const spec = l.network;
    let n = this.h.records.get(spec.id);
    const fresh = !n;
    if (!n) n = overlayRecord(spec, l.address);
    const ov = n.berth!.overlay!;
    if (ov.address !== l.address || fresh) {
      ov.address = l.address;
      await this.h.save(n);
    }
    const vips = state.services.flatMap((s) => s.networks.filter((x) => x.networkId === spec.id && x.vip).map((x) => `${x.vip}/32`));
    await ensureOverlayBridge(n.berth!.bridge, [gatewayCidr(n), `${l.address}/32`, ...vips], macFor(parseIPv4(l.address)!));
    if (fresh) {
      this.h.records.set(n.Id, n);
      await this.h.openPool(n);
      this.h.events.publish('network', 'create', n.Id, { name: n.Name, type: n.Driver });
    }
    await syncVxlan({ bridge: n.berth!.bridge, vxlan: ov.vxlan, vni: ov.vni, port: state.dataPort, local: state.vtep }, l.peers);
  }

  private async remove(n: NetworkRecord): Promise<void> {
    this.h.records.delete(n.Id);
    this.h.closeNetwork(n);
    await removeOverlayLinks(n.berth!.bridge, n.berth!.overlay!.vxlan);
    await rm(join(this.h.dir, `${n.Id}.json`), { force: true });
    this.h.events.publish('network', 'destroy', n.Id, { name: n.Name, type: n.Driver });
  }

  /** The swarm's answer for a name asked by the container at `clientIp` on network `netId` (one of `plumbed`), on all its networks. */
  lookupFor(plumbed: ContainerRecord[], netId: string, clientIp: string, name: string): string[] | undefined {
    if (!this.state.networks.length) return undefined;
    const asker = plumbed.find((c) => Object.values(settingsOf(c).Networks).some((e) => e.NetworkID === netId && e.IPAddress === clientIp));
    return asker && this.lookup(Object.values(settingsOf(asker).Networks).filter((e) => e.IPAddress).map((e) => e.NetworkID), name);
  }

  /**
   * The embedded DNS's answer for a service name (its VIP, or its tasks under
   * dnsrr) or `tasks.<service>`, on the asker's networks; else for a container
   * on another node (a task's `<service>.<slot>.<task ID>`, an attached
   * container's name or alias, a short ID).
   */
  lookup(networkIds: string[], name: string): string[] | undefined {
    const tasksOf = name.startsWith('tasks.') ? name.slice('tasks.'.length) : undefined;
    const found: string[] = [];
    for (const s of this.state.services) {
      for (const a of s.networks) {
        if (!networkIds.includes(a.networkId)) continue;
        const names = [s.name, ...a.aliases].map((x) => x.toLowerCase());
        if (tasksOf !== undefined && names.includes(tasksOf)) found.push(...a.tasks);
        else if (names.includes(name)) found.push(...(s.mode === 'vip' && a.vip ? [a.vip] : a.tasks));
      }
    }
    if (!found.length) {
      for (const l of this.state.networks) {
        if (!networkIds.includes(l.network.id)) continue;
        for (const e of l.names ?? []) if (e.names.includes(name)) found.push(e.ip);
      }
    }
    return found.length ? [...new Set(found)] : undefined;
  }

  /** The firewall's share: balancing rules and the sources balanced traffic leaves from. */
  firewallRules(): { balancers: BalancerRule[]; snat: SnatRule[] } {
    const local = new Map(this.state.networks.map((l) => [l.network.id, l]));
    const balancers: BalancerRule[] = [];
    const snat: SnatRule[] = [];
    for (const l of this.state.networks) {
      const n = this.h.records.get(l.network.id);
      if (n) snat.push({ bridge: n.berth!.bridge, subnet: l.network.subnet, source: l.address });
    }
    const ingress = this.state.networks.find((l) => l.network.ingress);
    for (const s of [...this.state.services].sort((a, b) => a.id.localeCompare(b.id))) {
      for (const a of s.networks) {
        if (a.vip && local.has(a.networkId) && s.mode === 'vip') balancers.push({ match: ['-d', `${a.vip}/32`], targets: [...a.tasks].sort() });
      }
      const onIngress = ingress && s.networks.find((a) => a.networkId === ingress.network.id);
      for (const p of onIngress ? s.ports : []) {
        balancers.push({ match: ['-p', p.proto, '-m', p.proto, '--dport', String(p.published)], targets: [...onIngress!.tasks].sort().map((ip) => `${ip}:${p.target}`) });
      }
    }
    return { balancers, snat };
  }
}

/** An overlay's record on a node, as dockerd's network inspect shows it (a manager shows one it has not made from this too). */
export function overlayRecord(spec: OverlaySpec, address: string): NetworkRecord {
  const short = spec.id.slice(0, 12);
  return {
    Name: spec.name, Id: spec.id, Created: spec.created, Scope: 'swarm', Driver: 'overlay', EnableIPv4: true, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: spec.subnet, Gateway: spec.gateway }] },
    Internal: spec.internal, Attachable: spec.attachable, Ingress: spec.ingress, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Options: { 'com.docker.network.driver.overlay.vxlanid_list': String(spec.vni), ...spec.options }, Labels: spec.labels,
    berth: { bridge: `br-${short}`, cursor: 0, overlay: { vni: spec.vni, vxlan: `vx-${short}`, address } },
  };
}

/** The overlay addresses these containers hold, by network ID (an endpoint has its address only once allocated). */
export function heldAddresses(containers: ContainerRecord[], records: Map<string, NetworkRecord>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const c of containers) {
    for (const ep of Object.values(settingsOf(c).Networks)) {
      if (!ep.IPAddress || records.get(ep.NetworkID)?.Driver !== 'overlay') continue;
      let s = out.get(ep.NetworkID);
      if (!s) out.set(ep.NetworkID, (s = new Set()));
      s.add(ep.IPAddress);
    }
  }
  return out;
}
