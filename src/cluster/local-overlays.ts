// Which overlays a node makes, as swarm's: an overlay exists on a node only
// while something there uses it — a task assigned to the node, a container
// holding an address on it (an attachable network's), or a container about to
// be created on it — and the routing mesh's ingress on every node. The last
// user gone, the next network pass drops it (the engine removes the bridge and
// VXLAN once no container is on it), and the node's own address goes back.
// Also what the embedded DNS of this node learns of other nodes' endpoints.
import type { OverlaySpec } from '../api/overlay.ts';
import type { AddressEntry, OverlayNetworkRecord } from './networks.ts';
import { taskName, terminal, type ServiceRecord, type TaskRecord } from './types.ts';

/** How long a container's announced use keeps an overlay that no container holds yet (a `create` before its `start`). */
export const DEMAND_MS = 60_000;

export function overlaySpec(n: OverlayNetworkRecord): OverlaySpec {
  return {
    id: n.ID, name: n.Name, created: n.CreatedAt, subnet: n.Subnet, gateway: n.Gateway, vni: n.VNI,
    attachable: n.Attachable, ingress: n.Ingress, internal: n.Internal, labels: n.Labels, options: n.Options,
  };
}

/** Whether the task still wants its container on this node (one ended or being shut down does not). */
function active(t: TaskRecord): boolean {
  return !terminal(t.Status.State) && (t.DesiredState === 'running' || t.DesiredState === 'ready' || t.DesiredState === 'complete');
}

/** The overlays this node makes now, by ID. */
export function overlaysHere(o: {
  nodeId: string; nets: OverlayNetworkRecord[]; services: ServiceRecord[]; tasks: TaskRecord[];
  /** The overlays a service's tasks join (network-agent.ts's serviceNetworks). */
  networksOf: (s: ServiceRecord) => string[];
  /** Whether some service publishes through the routing mesh. */
  meshed: boolean;
  held: Map<string, Set<string>>; demanded: Iterable<string>;
}): Set<string> {
  const known = new Set(o.nets.map((n) => n.ID));
  const here = new Set<string>();
  const ingress = o.nets.find((n) => n.Ingress);
  // The routing mesh answers on every node, tasks or not.
  if (ingress && o.meshed) here.add(ingress.ID);
  const byId = new Map(o.services.map((s) => [s.ID, s]));
  for (const t of o.tasks) {
    if (t.NodeID !== o.nodeId || !active(t)) continue;
    const svc = byId.get(t.ServiceID);
    if (svc) for (const id of o.networksOf(svc)) here.add(id);
  }
  for (const [id, ips] of o.held) if (ips.size) here.add(id);
  for (const id of o.demanded) here.add(id);
  for (const id of here) if (!known.has(id)) here.delete(id);
  return here;
}

/**
 * The names other nodes' containers answer to on one overlay: a task's
 * container name (`<service>.<slot>.<task ID>`) and short ID, an attached
 * container's name, aliases and short ID, as libnetwork's endpoint records.
 */
export function remoteNames(entries: Map<string, AddressEntry> | undefined, nodeId: string, tasks: Map<string, TaskRecord>, services: Map<string, ServiceRecord>): { ip: string; names: string[] }[] {
  const out: { ip: string; names: string[] }[] = [];
  for (const [ip, e] of entries ?? []) {
    if (e.kind !== 'container' || !e.node || e.node === nodeId) continue;
    const names = new Set(e.names ?? []);
    // An entry written before names were recorded: the task's name from its record.
    const t = e.task ? tasks.get(e.task) : undefined;
    const svc = t && services.get(t.ServiceID);
    if (t && svc) names.add(taskName(svc.Spec.Name, t));
    if (e.id) names.add(e.id.slice(0, 12));
    out.push({ ip, names: [...names].map((x) => x.toLowerCase()) });
  }
  return out.sort((a, b) => a.ip.localeCompare(b.ip));
}
