// The kernel side of a swarm overlay on one node, through iproute2: a bridge
// (as a bridge network's) carrying the gateway, this node's own overlay
// address and the services' VIPs, and a VXLAN port on it whose FDB and
// neighbour entries name every endpoint on the other nodes. The VXLAN runs
// with `proxy` and `nolearning`, as dockerd's overlay driver: ARP is answered
// from the neighbour table and never crosses the wire, so every node's bridge
// can carry the same gateway address, and frames go only to known endpoints.
import { writeFileSync } from 'node:fs';
import { runCommand } from './command.ts';
import { linkExists, removeLink } from './links.ts';
import type { OverlayPeer } from './model.ts';

/** VXLAN adds 50 bytes to each frame: endpoints on an overlay use a smaller MTU (dockerd's 1450). */
export const OVERLAY_MTU = 1450;

export interface VxlanSpec {
  bridge: string;
  vxlan: string;
  vni: number;
  /** UDP port (the swarm's DataPathPort, 4789 by default). */
  port: number;
  /** This node's VTEP address. */
  local: string;
}

interface IpAddr { addr_info: { family: string; local: string; prefixlen: number }[]; address?: string }
interface FdbEntry { mac: string; dst?: string; flags?: string[] }
interface NeighEntry { dst: string; lladdr?: string }

/**
 * The overlay's bridge with exactly these IPv4 addresses (the gateway with its
 * prefix, then /32s: this node's own address and VIPs) and this MAC.
 */
export async function ensureOverlayBridge(name: string, addresses: string[], mac: string): Promise<void> {
  if (!(await linkExists(name))) await runCommand('ip', ['link', 'add', 'name', name, 'mtu', String(OVERLAY_MTU), 'type', 'bridge']);
  const link = (JSON.parse(await runCommand('ip', ['-j', 'addr', 'show', 'dev', name])) as IpAddr[])[0];
  const have = (link?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  const lines: string[] = [];
  for (const a of have) if (!addresses.includes(a)) lines.push(`addr del ${a} dev ${name}`);
  for (const a of addresses) if (!have.includes(a)) lines.push(`addr add ${a} dev ${name}`);
  if (link?.address !== mac) lines.push(`link set ${name} address ${mac}`);
  lines.push(`link set ${name} up`);
  await runCommand('ip', ['-batch', '-'], lines.join('\n') + '\n');
  // Published ports reached through 127.0.0.1 are routed out of the bridge.
  writeFileSync(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, '1');
}

/**
 * The VXLAN port with FDB and neighbour entries for exactly `peers`. With no
 * peer there is no VXLAN at all: a node alone needs none, and two daemons on
 * one machine then never claim the same VNI and port.
 */
export async function syncVxlan(s: VxlanSpec, peers: OverlayPeer[]): Promise<void> {
  if (!peers.length) {
    await removeLink(s.vxlan);
    return;
  }
  if (!(await linkExists(s.vxlan))) {
    await runCommand('ip', ['link', 'add', s.vxlan, 'mtu', String(OVERLAY_MTU), 'type', 'vxlan', 'id', String(s.vni), 'local', s.local, 'dstport', String(s.port), 'nolearning', 'proxy']);
    await runCommand('ip', ['link', 'set', s.vxlan, 'master', s.bridge, 'up']);
  }
  const fdb = (JSON.parse(await runCommand('bridge', ['-j', 'fdb', 'show', 'dev', s.vxlan])) as FdbEntry[])
    .filter((e) => e.dst && e.flags?.includes('self'));
  const neigh = JSON.parse(await runCommand('ip', ['-j', 'neigh', 'show', 'dev', s.vxlan])) as NeighEntry[];
  const wantFdb = new Map(peers.map((p) => [p.mac, p.vtep]));
  const wantNeigh = new Map(peers.map((p) => [p.ip, p.mac]));
  const bridgeLines: string[] = [];
  const ipLines: string[] = [];
  for (const e of fdb) if (wantFdb.get(e.mac) !== e.dst) bridgeLines.push(`fdb del ${e.mac} dev ${s.vxlan} dst ${e.dst} self`);
  for (const [mac, vtep] of wantFdb) if (!fdb.some((e) => e.mac === mac && e.dst === vtep)) bridgeLines.push(`fdb replace ${mac} dev ${s.vxlan} dst ${vtep} self permanent`);
  for (const e of neigh) if (wantNeigh.get(e.dst) !== e.lladdr) ipLines.push(`neigh del ${e.dst} dev ${s.vxlan}`);
  for (const [ip, mac] of wantNeigh) if (!neigh.some((e) => e.dst === ip && e.lladdr === mac)) ipLines.push(`neigh replace ${ip} lladdr ${mac} dev ${s.vxlan} nud permanent`);
  if (bridgeLines.length) await runCommand('bridge', ['-batch', '-'], bridgeLines.join('\n') + '\n');
  if (ipLines.length) await runCommand('ip', ['-batch', '-'], ipLines.join('\n') + '\n');
}

export async function removeOverlayLinks(bridge: string, vxlan: string): Promise<void> {
  await removeLink(vxlan);
  await removeLink(bridge);
}
