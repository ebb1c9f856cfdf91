// The kernel side of a bridge network, through iproute2: bridges, veth pairs,
// and the named network namespaces containers run in. A namespace is
// bind-mounted on a file under the exec root before the runtime starts, so
// the daemon can plumb it first and it outlives a daemon crash.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { deleteLinks, runCommand, runInNetns, umountDetach } from './command.ts';
import { parseCidr, type Subnet } from '../api/address.ts';

interface IpAddr { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] }
interface IpRoute { dst: string }

export async function linkExists(name: string): Promise<boolean> {
  return runCommand('ip', ['-j', 'link', 'show', 'dev', name]).then(() => true, () => false);
}

/** Every IPv4 prefix routed on the host: a new network must not overlap one. */
export async function routedSubnets(): Promise<Subnet[]> {
  const routes = JSON.parse(await runCommand('ip', ['-4', '-j', 'route', 'show'])) as IpRoute[];
  const out: Subnet[] = [];
  for (const r of routes) {
    if (r.dst === 'default') continue;
    try {
      out.push(parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`, 'route', true));
    } catch {
      // Not an address we understand: it cannot clash with ours.
    }
  }
  return out;
}

/**
 * Creates the bridge if needed, with exactly `gatewayCidr` (e.g. 172.17.0.1/16)
 * as its IPv4 address. Resolves true when it made the bridge (none was there).
 */
export async function ensureBridge(name: string, gatewayCidr: string, ipv6Gateway?: string): Promise<boolean> {
  const created = !(await linkExists(name));
  if (created) {
    await runCommand('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
  }
  const addrs = (JSON.parse(await runCommand('ip', ['-j', 'addr', 'show', 'dev', name])) as IpAddr[])[0]?.addr_info ?? [];
  const v4 = addrs.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  const lines: string[] = [];
  for (const a of v4) if (a !== gatewayCidr) lines.push(`addr del ${a} dev ${name}`);
  if (!v4.includes(gatewayCidr)) lines.push(`addr add ${gatewayCidr} dev ${name}`);
  if (ipv6Gateway && !addrs.some((a) => a.family === 'inet6' && `${a.local}/${a.prefixlen}` === ipv6Gateway)) lines.push(`addr add ${ipv6Gateway} dev ${name} nodad`);
  lines.push(`link set ${name} up`);
  await runCommand('ip', ['-batch', '-'], lines.join('\n') + '\n');
  // Published ports reached through 127.0.0.1 are routed out of the bridge.
  writeFileSync(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, '1');
  return created;
}

export async function removeLink(name: string): Promise<void> {
  await deleteLinks(undefined, [name]).catch(() => {});
}

export async function removeNetns(path: string): Promise<void> {
  // A remapped container's namespace comes with the user namespace that owns it, bound beside it (usernsFileOf).
  for (const p of [path, usernsFileOf(path)]) {
    if (!existsSync(p)) continue;
    await umountDetach(p).catch(() => {});
    await rm(p, { force: true });
  }
}

/** Where the user namespace owning the network namespace at `netns` is bound, when one does. */
export function usernsFileOf(netns: string): string {
  return `${netns}.userns`;
}

/** Makes the namespace bound on `netns` (and any user namespace owning it, bound on usernsFileOf(netns)). */
export type NetnsMaker = (netns: string) => Promise<void>;

/** A fresh host-side veth name (15 bytes at most). */
export function vethName(): string {
  return `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
}

export interface EndpointPlan {
  bridge: string;
  hostIf: string;
  /** The name inside the container: eth0, eth1… */
  ifname: string;
  address: string;
  gateway?: string;
  mac: string;
  ipv6Address?: string;
  ipv6Gateway?: string;
  defaultRoute: boolean;
  /** An overlay's smaller MTU (room for the VXLAN header). */
  mtu?: number;
}

/** The commands, run inside the namespace, that make one endpoint: the veth pair (its outer end put in the daemon's namespace), MAC, addresses, routes. */
function endpointLines(p: EndpointPlan): string[] {
  return [
    p.mtu
      ? `link add ${p.ifname} mtu ${p.mtu} type veth peer name ${p.hostIf} mtu ${p.mtu} netns /proc/${process.pid}/ns/net`
      : `link add ${p.ifname} type veth peer name ${p.hostIf} netns /proc/${process.pid}/ns/net`,
    `link set ${p.ifname} address ${p.mac}`,
    `addr add ${p.address} dev ${p.ifname}`,
    ...(p.ipv6Address ? [`addr add ${p.ipv6Address} dev ${p.ifname} nodad`] : []),
    `link set ${p.ifname} up`,
    ...(p.defaultRoute && p.gateway ? [`route replace default via ${p.gateway} dev ${p.ifname}`] : []),
    ...(p.defaultRoute && p.ipv6Gateway ? [`route replace ::/0 via ${p.ipv6Gateway} dev ${p.ifname}`] : []),
  ];
}

/**
 * Plumbs endpoints into the namespace at `netns`, creating it first when
 * `create` (bind-mounted on that file, so it outlives the process that made
 * it and a daemon crash). Two processes however many endpoints: one inside
 * the namespace (lo, the veth pairs, addresses, routes), one outside (the
 * outer ends onto their bridges).
 */
export async function plumbNetns(netns: string, plans: EndpointPlan[], create: boolean, make?: NetnsMaker): Promise<void> {
  await plumbInside(netns, plans, create, make);
  await attachHostEnds(plans);
}

/** plumbNetns's first process: the namespace (made when `create`) with its side of every endpoint. */
export async function plumbInside(netns: string, plans: EndpointPlan[], create: boolean, make?: NetnsMaker): Promise<void> {
  const inside = [...(create ? ['link set lo up'] : []), ...plans.flatMap(endpointLines)].join('\n') + '\n';
  if (create && make) {
    await mkdir(dirname(netns), { recursive: true, mode: 0o700 });
    await make(netns);
    await runInNetns(netns, 'ip', ['-batch', '-'], inside);
  } else if (create) {
    await mkdir(dirname(netns), { recursive: true, mode: 0o700 });
    await writeFile(netns, '');
    await runCommand('unshare', [`--net=${netns}`, 'ip', '-batch', '-'], inside);
  } else if (plans.length) {
    await runInNetns(netns, 'ip', ['-batch', '-'], inside);
  }
}

/** plumbNetns's second process: the host's ends of the veths onto their bridges (removed if that fails). */
export async function attachHostEnds(plans: EndpointPlan[]): Promise<void> {
  if (!plans.length) return;
  try {
    await runCommand('ip', ['-batch', '-'], plans.flatMap((p) => [`link set ${p.hostIf} master ${p.bridge} up`, `link set ${p.hostIf} type bridge_slave hairpin on`]).join('\n') + '\n');
  } catch (err) {
    for (const p of plans) await removeLink(p.hostIf);
    throw err;
  }
}

/**
 * Sends 127.0.0.11:53 inside the namespace to the daemon's resolver for the
 * network at `target` (gateway:port), as Docker's embedded DNS appears.
 */
export async function redirectDns(netns: string, target: string): Promise<void> {
  // A namespace of our own making, so its nat table is ours to write whole.
  const rules = [
    '*nat',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    `-A OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination ${target}`,
    `-A OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination ${target}`,
    '-A POSTROUTING -s 127.0.0.0/8 ! -o lo -j MASQUERADE',
    'COMMIT',
    '',
  ].join('\n');
  await runInNetns(netns, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && exec iptables-restore -w'], rules);
}

/**
 * Deletes every link in the namespace but lo and `keep` (with its veth peer):
 * a connect cut short by a crash after plumbing, before its record was saved,
 * left an interface no record names, and the next connect's name for it.
 */
export async function removeStrayLinks(netns: string, keep: Set<string>): Promise<void> {
  const out = await runInNetns(netns, 'ip', ['-o', 'link', 'show']).catch(() => '');
  const stray = out.split('\n').map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1]).filter((name): name is string => !!name && name !== 'lo' && !keep.has(name));
  await deleteLinks(netns, stray).catch(() => {});
}
