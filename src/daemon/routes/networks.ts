// /networks/* routes.
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { checkFilterKeys, parseFilters } from './query.ts';
import { ConflictError, InvalidArgumentError, UnavailableError } from '../../errors.ts';
import { parseCidr } from '../../api/address.ts';
import { NO_MANAGER } from '../../cluster/service.ts';
import { serviceNetworks } from '../../cluster/network-agent.ts';
import { overlaySpec } from '../../cluster/local-overlays.ts';
import { overlayRecord } from '../../network/overlays.ts';
import { demandOverlays } from '../overlay-demand.ts';
import { labelsMatch, parseUntil } from '../../api/filters.ts';
import { decodeBody, NETWORK_CONNECT, NETWORK_CREATE, NETWORK_DISCONNECT } from './body-shape.ts';
import type { CreateNetworkRequest, EndpointRequest } from '../../network/model.ts';
import { PREDEFINED, type NetworkRecord } from '../../network/model.ts';

/** dockerd's network list filters. */
function matcher(filters: Record<string, string[]>): (n: NetworkRecord) => boolean {
  for (const t of filters.type ?? []) if (t !== 'custom' && t !== 'builtin') throw new InvalidArgumentError(`invalid filter: 'type'='${t}'`);
  return (n) => {
    if (filters.driver && !filters.driver.includes(n.Driver)) return false;
    if (filters.id && !filters.id.some((p) => n.Id.startsWith(p))) return false;
    if (filters.name && !filters.name.some((p) => n.Name.includes(p))) return false;
    if (filters.scope && !filters.scope.includes(n.Scope)) return false;
    if (filters.type && !filters.type.includes(PREDEFINED.includes(n.Name) ? 'builtin' : 'custom')) return false;
    if ((filters.label || filters['label!']) && !labelsMatch(n.Labels, filters.label ?? [], filters['label!'] ?? [])) return false;
    if (filters.until?.[0] && Date.parse(n.Created) >= parseUntil(filters.until[0])) return false;
    return true;
  };
}

/**
 * dockerd's `dangling` filter: true keeps the networks no container is
 * attached to, false those some container is; bridge, host and none count
 * as in use whatever runs.
 */
function danglingFilter(filters: Record<string, string[]>): (n: Record<string, unknown>) => boolean {
  const values = filters.dangling ?? [];
  if (values.length === 0) return () => true;
  if (values.length > 1) throw new InvalidArgumentError('got more than one value for filter key "dangling"');
  if (!['0', 'false', '1', 'true'].includes(values[0])) throw new InvalidArgumentError('invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")');
  const danglingOnly = values[0] === '1' || values[0] === 'true';
  return (n) => {
    const inUse = PREDEFINED.includes(n.Name as string) || Object.keys((n.Containers as Record<string, unknown> | undefined) ?? {}).length > 0;
    return danglingOnly ? !inUse : inUse;
  };
}

export function networkRoutes(api: ApiServer, engine: Engine): void {
  const { networks } = engine;

  /** A manager's view adds the swarm's overlays not made on this node (dockerd lists the cluster's networks on a manager). */
  const clusterOnly = async (): Promise<NetworkRecord[]> => {
    if (engine.cluster.header !== 'active/manager') return [];
    const local = new Set(networks.list().map((n) => n.Id));
    return (await engine.cluster.networks().list()).filter((n) => !local.has(n.ID)).map((n) => overlayRecord(overlaySpec(n), ''));
  };

  api.route('GET', '/networks', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']);
    const match = matcher(filters);
    const inUse = danglingFilter(filters);
    return { body: [...networks.list(), ...(await clusterOnly())].filter(match).map((n) => networks.inspect(n)).filter(inUse) };
  });

  api.route('GET', '/networks/:id', async (ctx) => {
    const local = networks.find(ctx.params.id);
    if (!local && engine.cluster.header === 'active/manager') {
      const n = await engine.cluster.networks().find(ctx.params.id);
      if (n) return { body: networks.inspect(overlayRecord(overlaySpec(n), '')) };
    }
    return { body: networks.inspect(networks.get(ctx.params.id)) };
  });

  api.route('POST', '/networks/create', async (ctx) => {
    const body = decodeBody<CreateNetworkRequest>(await ctx.json(), NETWORK_CREATE, 'network.CreateRequest');
    if (body.Driver !== 'overlay') return { status: 201, body: await networks.create(body) };
    // A swarm network: the cluster's, made on every node by its networking pass.
    if (!engine.cluster.active) throw new UnavailableError(NO_MANAGER);
    if (body.Name && networks.list().some((n) => n.Name === body.Name && n.Driver !== 'overlay')) throw new ConflictError(`network with name ${body.Name} already exists`);
    const local = (await networks.usedSubnets()).map((s) => parseCidr(s, 'subnet', true));
    const id = await engine.cluster.networks().create(body, local);
    await engine.cluster.syncNetworks();
    return { status: 201, body: { Id: id, Warning: '' } };
  });

  api.route('DELETE', '/networks/:id', async (ctx) => {
    const local = networks.find(ctx.params.id);
    if (local?.Driver === 'overlay' || (!local && engine.cluster.active)) {
      const cluster = engine.cluster.networks();
      const n = await cluster.find(local?.Id ?? ctx.params.id);
      if (n) {
        const services = await engine.cluster.objects().services();
        const nets = await cluster.list();
        await cluster.remove(n, services.find((s) => serviceNetworks(s, nets).some((a) => a.id === n.ID))?.ID);
        await engine.cluster.syncNetworks();
        return { status: 204 };
      }
    }
    await networks.remove(ctx.params.id);
    return { status: 204 };
  });

  api.route('POST', '/networks/:id/connect', async (ctx) => {
    await demandOverlays(engine, [ctx.params.id]);
    await networks.connect(ctx.params.id, decodeBody<{ Container?: string; EndpointConfig?: EndpointRequest }>(await ctx.json(), NETWORK_CONNECT, 'network.ConnectOptions'));
    return { status: 200 }; // as dockerd: 200, no body
  });

  api.route('POST', '/networks/:id/disconnect', async (ctx) => {
    await networks.disconnect(ctx.params.id, decodeBody<{ Container?: string; Force?: boolean }>(await ctx.json(), NETWORK_DISCONNECT, 'network.DisconnectOptions'));
    return { status: 200 };
  });

  api.route('POST', '/networks/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    return { body: await networks.prune(matcher(filters)) };
  });
}
