// POST /commit: an image from a container's changes.
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError } from '../../errors.ts';
import { CONTAINER_CONFIG, decodeBody } from './body-shape.ts';
import { boolParam } from './query.ts';
import { commitContainer } from '../../containers/commit.ts';
import type { ContainerConfig } from '../../api/container.ts';

export function commitRoutes(api: ApiServer, engine: Engine): void {
  api.route('POST', '/commit', async (ctx) => {
    const q = ctx.query;
    const ref = q.get('container') ?? '';
    if (!ref) throw new InvalidArgumentError('No container specified');
    const raw = await ctx.json<unknown>();
    const body = raw === null ? null : decodeBody<ContainerConfig>(raw, CONTAINER_CONFIG, 'container.Config');
    const id = await commitContainer(engine.containers, engine.images.store, engine.snapshots, ref, {
      repo: q.get('repo') || undefined,
      tag: q.get('tag') || undefined,
      author: q.get('author') || undefined,
      comment: q.get('comment') || undefined,
      changes: q.getAll('changes').filter((c) => c !== ''),
      config: body && typeof body === 'object' ? body : undefined,
      pause: boolParam(q, 'pause', true),
    });
    const rec = engine.containers.get(ref);
    engine.events.publish('container', 'commit', rec.Id, { comment: q.get('comment') ?? '', imageID: id, name: rec.Name.slice(1) });
    return { status: 201, body: { Id: id } };
  });
}
