// /volumes/* routes, as a dockerd in no swarm answers them.
import type { ApiServer } from '../server.ts';
import { versionLess } from '../server.ts';
import type { Engine } from '../engine.ts';
import { UnavailableError } from '../../errors.ts';
import type { VolumeCreateRequest } from '../../volumes/types.ts';
import { boolParam, parseFilters } from './query.ts';
import { decodeBody, VOLUME_CREATE } from './body-shape.ts';

export function volumeRoutes(api: ApiServer, engine: Engine): void {
  const { volumes } = engine;

  // No driver reports warnings (they are a plugin's failure to list): null, as dockerd's nil slice.
  api.route('GET', '/volumes', (ctx) => ({ body: { Volumes: volumes.list(parseFilters(ctx.query.get('filters'))), Warnings: null } }));

  api.route('POST', '/volumes/create', async (ctx) => {
    const body = decodeBody<VolumeCreateRequest>(await ctx.json(), VOLUME_CREATE, 'volume.CreateOptions');
    return { status: 201, body: await volumes.create(body) };
  });

  api.route('POST', '/volumes/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    // Before API 1.42 prune took named volumes too (Docker 23 made it anonymous only).
    if (versionLess(ctx.apiVersion, '1.42')) filters.all = ['true'];
    return { body: await volumes.prune(filters) };
  });

  api.route('GET', '/volumes/:name', (ctx) => ({ body: volumes.inspect(ctx.params.name) }));

  api.route('DELETE', '/volumes/:name', async (ctx) => {
    await volumes.remove(ctx.params.name, { force: boolParam(ctx.query, 'force') });
    return { status: 204 };
  });

  // Cluster volumes only; dockerd without swarm refuses before reading anything.
  api.route('PUT', '/volumes/:name', () => {
    throw new UnavailableError('volume update only valid for cluster volumes, but swarm is unavailable');
  });
}
