// POST /containers/{id}/update: new limits and restart policy, live.
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { updateContainer, type UpdateRequest } from '../../containers/update.ts';
import { CONTAINER_UPDATE, decodeBody } from './body-shape.ts';

export function updateRoutes(api: ApiServer, engine: Engine): void {
  api.route('POST', '/containers/:id/update', async (ctx) => {
    const body = decodeBody<UpdateRequest>(await ctx.json(), CONTAINER_UPDATE, 'container.UpdateConfig');
    return { body: await updateContainer(engine.containers, ctx.params.id, body ?? {}) };
  });
}
