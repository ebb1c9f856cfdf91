// Registry-facing routes beside pull: POST /images/{name}/push (dispatched
// from images.ts), POST /auth, GET /images/search.
import type { ApiServer, Context } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError, NotFoundError } from '../../errors.ts';
import { AUTH_CONFIG, decodeBody } from './body-shape.ts';
import { parseFilters } from './query.ts';
import { type Credentials, decodeRegistryAuth } from '../../images/distribution/auth.ts';
import { verifyLogin } from '../../images/distribution/login.ts';
import { inspectDistribution } from '../../images/distribution/inspect.ts';
import { errorMessage } from '../../images/distribution/progress.ts';
import { preparePush } from '../../images/distribution/push.ts';
import { parseSearchFilters, searchRegistry } from '../../images/distribution/search.ts';

function registryAuth(ctx: Context): Credentials {
  const h = ctx.req.headers['x-registry-auth'];
  return decodeRegistryAuth(Array.isArray(h) ? h[0] : h);
}

/** POST /images/{name}/push?tag=: Docker's JSON progress; an empty tag pushes every tag of the repository. */
export async function pushRoute(ctx: Context, engine: Engine, name: string): Promise<void> {
  const run = preparePush(engine.images.store, name, ctx.query.get('tag') || undefined, {
    creds: registryAuth(ctx), signal: ctx.signal, hosts: engine.distribution.hosts, metadata: engine.distribution.metadata,
  });
  const out = ctx.stream(200, 'application/json');
  const emit = (m: object) => { if (!out.writableEnded) out.write(JSON.stringify(m) + '\r\n'); };
  try {
    await run(emit);
    engine.events.publish('image', 'push', name, { name });
  } catch (err) {
    emit(errorMessage(err instanceof Error ? err.message : String(err)));
  }
  out.end();
}

export function distributionRoutes(api: ApiServer, engine: Engine): void {
  api.route('POST', '/auth', async (ctx) => {
    let parsed: unknown;
    try {
      const raw = (await ctx.body()).toString('utf8');
      parsed = raw ? JSON.parse(raw) : {};
    } catch {
      throw new InvalidArgumentError('invalid JSON in the request body');
    }
    const body = decodeBody<{ username?: string; password?: string; serveraddress?: string; identitytoken?: string }>(parsed, AUTH_CONFIG, 'registry.AuthConfig');
    return {
      body: await verifyLogin(engine.distribution.hosts, body.serveraddress ?? '', {
        username: body.username, password: body.password, identitytoken: body.identitytoken,
      }),
    };
  });

  api.route('GET', '/distribution/*', async (ctx) => {
    const rest = decodeURIComponent(ctx.params['*'] ?? '');
    if (!rest.endsWith('/json')) throw new NotFoundError('page not found');
    return { body: await inspectDistribution(rest.slice(0, -'/json'.length), { creds: registryAuth(ctx), hosts: engine.distribution.hosts, signal: ctx.signal }) };
  });

  api.route('GET', '/images/search', async (ctx) => {
    const limitText = ctx.query.get('limit');
    const limit = limitText ? Number(limitText) : 25;
    if (!Number.isInteger(limit)) throw new InvalidArgumentError(`invalid limit: ${limitText}`);
    const filters = parseSearchFilters(parseFilters(ctx.query.get('filters')));
    return { body: await searchRegistry(engine.distribution.hosts, ctx.query.get('term') ?? '', limit, filters, registryAuth(ctx)) };
  });
}
