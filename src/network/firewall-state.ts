// The state the firewall's rules are rendered from (iptables.ts), gathered
// from the networks, the running containers' published ports, legacy links
// and the swarm overlays' balancing; always in a stable order, so the same
// state renders the same rules.
import type { ContainerRecord } from '../api/container.ts';
import type { Sandbox } from './endpoints.ts';
import type { BalancerRule, FirewallState, LinkRule, PortRule, SnatRule } from './iptables.ts';
import { bridged, settingsOf, type NetworkRecord } from './model.ts';
import { compareStrings } from '../api/compare.ts';

export const ICC_OPT = 'com.docker.network.bridge.enable_icc';

export function firewallState(networks: NetworkRecord[], sandboxes: Iterable<Sandbox>, links: LinkRule[], overlays: { balancers: BalancerRule[]; snat: SnatRule[] }): FirewallState {
  const bridges = networks.filter((n) => bridged(n)).map((n) => ({
    bridge: n.berth!.bridge, subnet: n.IPAM.Config[0].Subnet!, internal: n.Internal, icc: n.Options[ICC_OPT] !== 'false', acceptDnat: n.Driver === 'overlay',
  }));
  const ports: PortRule[] = [];
  for (const sb of sandboxes) {
    if (!sb.target) continue;
    for (const p of sb.ports) ports.push({ bridge: sb.target.bridge, proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp: sb.target.ip, containerPort: p.containerPort });
  }
  ports.sort((a, b) => a.hostPort - b.hostPort || compareStrings(a.proto, b.proto) || compareStrings(a.hostIp, b.hostIp));
  return { bridges, ports, links, ...overlays };
}

/** The running pairs of legacy links on the default bridge `n`, when its icc is off: rules from the records, so a restart rebuilds them. */
export function linkRules(n: NetworkRecord, containers: ContainerRecord[], plumbed: (id: string) => boolean, linkTarget: (link: string) => ContainerRecord | undefined): LinkRule[] {
  if (n.Options[ICC_OPT] !== 'false') return [];
  const ipOn = (c: ContainerRecord) => plumbed(c.Id) ? Object.values(settingsOf(c).Networks).find((e) => e.NetworkID === n.Id)?.IPAddress : undefined;
  const out: LinkRule[] = [];
  for (const c of containers) {
    const from = ipOn(c);
    if (!from) continue;
    for (const link of c.HostConfig.Links ?? []) {
      const target = linkTarget(link);
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
