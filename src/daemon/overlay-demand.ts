// Swarm's overlays exist on a node only while used there (cluster/
// local-overlays.ts): before a container is created, started or connected,
// the networks it names that this engine lacks are asked of the cluster, which
// makes an overlay among them here first. A name neither knows stays the
// network service's "not found".
import type { Engine } from './engine.ts';
import type { ContainerRecord } from '../api/container.ts';

const BUILTIN = new Set(['', 'default', 'bridge', 'host', 'none']);

export async function demandOverlays(engine: Engine, refs: (string | undefined)[]): Promise<void> {
  if (!engine.cluster.active) return;
  const missing = [...new Set(refs.filter((r): r is string => r !== undefined && !BUILTIN.has(r) && !r.startsWith('container:') && !engine.networks.find(r)))];
  if (missing.length) await engine.cluster.demandOverlays(missing);
}

/** The networks a create request names: its network mode and its endpoints. */
export function requestedNetworks(body: { HostConfig?: { NetworkMode?: string }; NetworkingConfig?: { EndpointsConfig?: Record<string, unknown> | null } | null }): string[] {
  return [body.HostConfig?.NetworkMode ?? '', ...Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {})];
}

/** The networks a created container's endpoints are on, by ID. */
export function containerNetworks(rec: ContainerRecord): string[] {
  const nets = (rec.NetworkSettings as { Networks?: Record<string, { NetworkID?: string }> }).Networks ?? {};
  return Object.values(nets).map((e) => e.NetworkID ?? '');
}
