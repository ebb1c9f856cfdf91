// GET /containers/{id}/stats: a stream of StatsJSON lines, once a second, or one answer.
import { Readable } from 'node:stream';
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError } from '../../errors.ts';
import { oneOffStats, statsStream } from '../../containers/stats.ts';
import { boolParam } from './query.ts';

export function statsRoutes(api: ApiServer, engine: Engine): void {
  const { containers } = engine;
  api.route('GET', '/containers/:id/stats', async (ctx) => {
    const id = containers.get(ctx.params.id).Id;
    const rec = () => containers.get(id);
    const stream = boolParam(ctx.query, 'stream', true);
    const oneShot = boolParam(ctx.query, 'one-shot');
    if (stream && oneShot) throw new InvalidArgumentError('cannot have stream=true and one-shot=true');
    if (!stream) return { body: await oneOffStats(rec, oneShot, ctx.signal) };
    async function* lines() {
      for await (const s of statsStream(rec, ctx.signal)) yield JSON.stringify(s) + '\n';
    }
    // A removed container ends the stream (rec() throws), as dockerd's does.
    await ctx.pipe(200, 'application/json', Readable.from(lines(), { objectMode: false }));
  });
}
