// Swarm mode's routes (ADR 0009). Out of a swarm they answer as dockerd on a
// node in no swarm (503 with dockerd's words); after `swarm init` they serve
// the cluster's objects from etcd in dockerd's shapes.
import type { ApiServer, Context } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError } from '../../errors.ts';
import type { InitRequest, JoinApiRequest } from '../../cluster/service.ts';
import type { NodeSpecUpdate } from '../../cluster/node-admin.ts';
import type { ServiceSpec } from '../../cluster/types.ts';
import { randomName } from '../../containers/names.ts';
import { boolParam, parseFilters } from './query.ts';
import { decodeBody, FILE_SPEC, NODE_SPEC, SERVICE_SPEC, SWARM_INIT, SWARM_JOIN, SWARM_SPEC, SWARM_UNLOCK } from './body-shape.ts';
import type { FileObjectSpec } from '../../cluster/secrets.ts';
import { applyRegistryAuth, withoutRegistryAuth } from '../../cluster/task-images.ts';

/** The X-Registry-Auth the docker CLI sends with `--with-registry-auth`. */
function registryAuth(ctx: Context): string | undefined {
  const h = ctx.req.headers['x-registry-auth'];
  return (Array.isArray(h) ? h[0] : h) || undefined;
}

export function swarmRoutes(api: ApiServer, engine: Engine): void {
  const { cluster } = engine;

  api.route('POST', '/swarm/init', async (ctx) => {
    const req = decodeBody<InitRequest>(await ctx.json(), SWARM_INIT, 'swarm.InitRequest');
    return { body: await cluster.init(req) };
  });
  api.route('POST', '/swarm/leave', async (ctx) => {
    await cluster.leave(boolParam(ctx.query, 'force'));
    return { status: 200 };
  });
  api.route('POST', '/swarm/join', async (ctx) => {
    await cluster.join(decodeBody<JoinApiRequest>(await ctx.json(), SWARM_JOIN, 'swarm.JoinRequest'));
    return { status: 200 };
  });
  api.route('POST', '/swarm/update', async (ctx) => {
    const version = Number(ctx.query.get('version'));
    if (!Number.isInteger(version)) throw new InvalidArgumentError(`invalid swarm version '${ctx.query.get('version') ?? ''}'`);
    const spec = decodeBody<Record<string, unknown>>(await ctx.json(), SWARM_SPEC, 'swarm.Spec');
    await cluster.updateSwarm({
      version, spec, rotateWorkerToken: boolParam(ctx.query, 'rotateWorkerToken'), rotateManagerToken: boolParam(ctx.query, 'rotateManagerToken'),
      rotateManagerUnlockKey: boolParam(ctx.query, 'rotateManagerUnlockKey'),
    });
    return { status: 200 };
  });

  api.route('GET', '/swarm', async () => ({ body: await cluster.objects().cluster() }));
  api.route('GET', '/swarm/unlockkey', () => ({ body: { UnlockKey: cluster.unlockKey() } }));

  api.route('GET', '/nodes', async (ctx) => ({ body: await cluster.objects().nodes(parseFilters(ctx.query.get('filters'))) }));
  api.route('GET', '/nodes/:id', async (ctx) => ({ body: await cluster.objects().node(ctx.params.id) }));
  api.route('POST', '/nodes/:id/update', async (ctx) => {
    cluster.objects();
    const version = Number(ctx.query.get('version'));
    if (!Number.isInteger(version)) throw new InvalidArgumentError(`invalid node version '${ctx.query.get('version') ?? ''}'`);
    await cluster.updateNode(ctx.params.id, version, decodeBody<NodeSpecUpdate>(await ctx.json(), NODE_SPEC, 'swarm.NodeSpec'));
    return { status: 200 };
  });
  api.route('DELETE', '/nodes/:id', async (ctx) => {
    await cluster.removeNode(ctx.params.id, boolParam(ctx.query, 'force'));
    return { status: 200 };
  });

  api.route('GET', '/services', async (ctx) => ({
    body: (await cluster.objects().services(parseFilters(ctx.query.get('filters')), boolParam(ctx.query, 'status'))).map(withoutRegistryAuth),
  }));
  api.route('POST', '/services/create', async (ctx) => {
    const objects = cluster.objects();
    const spec = decodeBody<ServiceSpec>(await ctx.json(), SERVICE_SPEC, 'swarm.ServiceSpec');
    // As swarm: a service created without a name gets a random one.
    if (!spec.Name) {
      const taken = new Set((await objects.services()).map((s) => s.Spec.Name));
      spec.Name = randomName((n) => taken.has(n));
    }
    applyRegistryAuth(spec, registryAuth(ctx));
    return { status: 201, body: await objects.createService(spec) };
  });
  api.route('GET', '/services/:id', async (ctx) => ({ body: withoutRegistryAuth(await cluster.objects().service(ctx.params.id)) }));
  api.route('POST', '/services/:id/update', async (ctx) => {
    const objects = cluster.objects();
    const version = Number(ctx.query.get('version'));
    if (!Number.isInteger(version)) throw new InvalidArgumentError(`invalid service version '${ctx.query.get('version') ?? ''}'`);
    const spec = decodeBody<ServiceSpec>(await ctx.json(), SERVICE_SPEC, 'swarm.ServiceSpec');
    // `service rollback` and `update --rollback` send rollback=previous: the spec sent is ignored.
    const rollback = ctx.query.get('rollback') ?? '';
    if (rollback && rollback !== 'previous') throw new InvalidArgumentError(`unrecognized rollback option ${rollback}`);
    applyRegistryAuth(spec, registryAuth(ctx), await objects.service(ctx.params.id), ctx.query.get('registryAuthFrom') ?? 'spec');
    return { body: await objects.updateService(ctx.params.id, version, spec, rollback === 'previous') };
  });
  api.route('DELETE', '/services/:id', async (ctx) => {
    await cluster.objects().removeService(ctx.params.id);
    return { status: 200 };
  });

  api.route('GET', '/tasks', async (ctx) => ({ body: (await cluster.objects().tasks(parseFilters(ctx.query.get('filters')))).map(withoutRegistryAuth) }));
  api.route('GET', '/tasks/:id', async (ctx) => ({ body: withoutRegistryAuth(await cluster.objects().task(ctx.params.id)) }));

  // Secrets and configs: one shape, two kinds.
  for (const kind of ['secret', 'config'] as const) {
    const base = `/${kind}s`;
    const root = kind === 'secret' ? 'swarm.SecretSpec' : 'swarm.ConfigSpec';
    api.route('GET', base, async (ctx) => ({ body: await cluster.files().list(kind, parseFilters(ctx.query.get('filters'))) }));
    api.route('POST', `${base}/create`, async (ctx) => {
      const files = cluster.files();
      return { status: 201, body: await files.create(kind, decodeBody<FileObjectSpec>(await ctx.json(), FILE_SPEC, root)) };
    });
    api.route('GET', `${base}/:id`, async (ctx) => ({ body: await cluster.files().get(kind, ctx.params.id) }));
    api.route('DELETE', `${base}/:id`, async (ctx) => {
      await cluster.files().remove(kind, ctx.params.id);
      return { status: 204 };
    });
    api.route('POST', `${base}/:id/update`, async (ctx) => {
      const files = cluster.files();
      const version = Number(ctx.query.get('version'));
      if (!Number.isInteger(version)) throw new InvalidArgumentError(`invalid ${kind} version '${ctx.query.get('version') ?? ''}'`);
      await files.update(kind, ctx.params.id, version, decodeBody<FileObjectSpec>(await ctx.json(), FILE_SPEC, root));
      return { status: 200 };
    });
  }

  api.route('POST', '/swarm/unlock', async (ctx) => {
    const req = decodeBody<{ UnlockKey?: string }>(await ctx.json(), SWARM_UNLOCK, 'swarm.UnlockRequest');
    await cluster.unlock(req.UnlockKey ?? '');
    return { status: 200 };
  });
}
