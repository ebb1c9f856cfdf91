// POST /build: the classic builder's API (what `DOCKER_BUILDKIT=0 docker
// build` and berth's CLI call). The body is the context tar; the answer is a
// stream of JSON messages (`{"stream": "Step 1/3 : …"}`, `{"aux": {"ID": …}}`,
// `{"errorDetail": …, "error": …}`). Errors found before the first message
// (no Dockerfile, a syntax error, a bad tag) are HTTP errors, as dockerd's.
import { readdirSync, rmSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { ApiServer } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError, PreconditionFailedError } from '../../errors.ts';
import { boolParam } from './query.ts';
import type { Builder } from '../../build/builder.ts';
import type { BuildMessage, BuildRequest } from '../../build/step-context.ts';
import { AUTH_CONFIG, decodeBody, type Shape } from './body-shape.ts';
import type { BuildContext } from '../../build/context.ts';
import { buildCacheRoutes } from './build-cache.ts';
import { SECRETS_DIR_IN_CONTEXT } from '../../api/build-context.ts';
import { isMountPoint } from '../../runtime/mountinfo.ts';

/**
 * A JSON query parameter, checked as dockerd's json.Unmarshal into its Go
 * type would: `null` is the empty value, anything of another type a 400.
 */
function jsonParam<T>(q: URLSearchParams, name: string, fallback: T, shape: Shape, goType: string): T {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError(`invalid ${name} parameter: ${raw}`);
  }
  if (v === null) return fallback;
  try {
    return decodeBody<T>(v, shape, goType);
  } catch (err) {
    throw new InvalidArgumentError(`error reading ${name}: ${(err as Error).message}`);
  }
}

/** Build args map to *string: a null value (take it from the environment) stays undefined. */
function buildArgsParam(q: URLSearchParams): Map<string, string | undefined> {
  const args = jsonParam<Record<string, unknown>>(q, 'buildargs', {}, { map: 'any' }, 'map[string]*string');
  const out = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(args)) {
    if (v !== null && typeof v !== 'string') throw new InvalidArgumentError(`error reading buildargs: json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go value of type string`);
    out.set(k, v ?? undefined);
  }
  return out;
}

/** Leftovers of builds a crash cut short: unmount what is still mounted there, then remove it. */
function sweepBuildTemp(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (isMountPoint(p)) spawnSync('umount', ['-l', p]);
    if (!isMountPoint(p)) rmSync(p, { recursive: true, force: true });
  }
}

/** A secret's bytes in a file of its own (0400), for the bind mount into RUN. */
async function writeSecretFile(dir: string, id: string, data: Buffer): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const p = join(dir, createHash('sha256').update(id).digest('hex').slice(0, 24));
  await writeFile(p, data, { mode: 0o400 });
  return p;
}

/** Secrets the berth CLI sent inside the context tar: moved out of the context before anything can copy them. */
async function takeSecrets(context: BuildContext, ids: string[], secretsDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dir = join(context.dir, SECRETS_DIR_IN_CONTEXT);
  const st = await lstat(dir).catch(() => undefined);
  if (!st) return out;
  context.markDirty();
  if (st.isDirectory()) {
    for (const f of await readdir(dir)) {
      const id = Buffer.from(f, 'hex').toString('utf8');
      const p = join(dir, f);
      const fst = await lstat(p);
      if (fst.isFile() && ids.includes(id)) out.set(id, await writeSecretFile(secretsDir, id, await readFile(p)));
    }
  }
  await rm(dir, { recursive: true, force: true });
  return out;
}

export function buildRoutes(api: ApiServer, engine: Engine): void {
  const root = join(engine.config.dataRoot, 'build');
  const tmpRoot = join(root, 'tmp');
  sweepBuildTemp(tmpRoot);
  const contexts = engine.buildContexts;
  // The builder's code (src/build/, the Dockerfile parser, the steps) is loaded
  // at the first build: a daemon that never builds does not keep it resident.
  let code: Promise<{ builder: Builder; StepFailedError: typeof import('../../build/run-step.ts').StepFailedError; context: typeof import('../../build/context.ts') }> | undefined;
  const loadBuilder = () => (code ??= Promise.all([import('../../build/builder.ts'), import('../../build/run-step.ts'), import('../../build/context.ts')]).then(([{ Builder }, { StepFailedError }, context]) => ({
    builder: new Builder({ images: engine.images, containers: engine.containers, snapshots: engine.snapshots, tmpRoot, cacheRoot: engine.buildCacheRoot }),
    StepFailedError,
    context,
  })).catch((err: unknown) => {
    code = undefined;
    throw err;
  }));
  buildCacheRoutes(api, engine.buildCacheRoot, contexts);

  api.route('POST', '/build', async (ctx) => {
    const q = ctx.query;
    const dockerfile = q.get('dockerfile') || 'Dockerfile';
    // A name no filesystem can hold (ENAMETOOLONG, a NUL) is the client's mistake, not a failed open.
    if (dockerfile.includes('\0') || Buffer.byteLength(dockerfile) > 4095 || dockerfile.split('/').some((c) => Buffer.byteLength(c) > 255)) {
      throw new InvalidArgumentError(`Cannot locate specified Dockerfile: ${dockerfile}`);
    }
    const buildArgs = buildArgsParam(q);
    const regHeader = ctx.req.headers['x-registry-config'];
    let registryAuth: BuildRequest['registryAuth'] = {};
    if (typeof regHeader === 'string' && regHeader !== '') {
      try {
        // Per registry an AuthConfig; a header of any other shape is ignored like one that does not parse.
        registryAuth = decodeBody<BuildRequest['registryAuth']>(JSON.parse(Buffer.from(regHeader, 'base64').toString('utf8')), { map: AUTH_CONFIG }, 'map[string]registry.AuthConfig');
      } catch {
        registryAuth = {};
      }
    }
    const secretIds = jsonParam<string[]>(q, 'secrets', [], { list: 'string' }, '[]string');
    const req: BuildRequest = {
      dockerfile,
      tags: q.getAll('t').filter(Boolean),
      buildArgs,
      labels: jsonParam<Record<string, string>>(q, 'labels', {}, { map: 'string' }, 'map[string]string'),
      target: q.get('target') || undefined,
      noCache: boolParam(q, 'nocache'),
      pull: boolParam(q, 'pull'),
      rm: boolParam(q, 'rm', true),
      forceRm: boolParam(q, 'forcerm'),
      quiet: boolParam(q, 'q'),
      networkMode: q.get('networkmode') || 'bridge',
      extraHosts: q.getAll('extrahosts').flatMap((h) => h.split(/[,\s]+/)).filter(Boolean),
      platform: q.get('platform') || undefined,
      cacheFrom: jsonParam<string[]>(q, 'cachefrom', [], { list: 'string' }, '[]string'),
      secrets: new Map(),
      registryAuth,
    };
    if (req.networkMode === 'default') req.networkMode = 'bridge';
    if (!['bridge', 'host', 'none'].includes(req.networkMode)) throw new InvalidArgumentError(`network mode "${req.networkMode}" not supported by buildkit`);
    for (const h of req.extraHosts) if (!/^[^:]+:.+$/.test(h)) throw new InvalidArgumentError(`invalid IP address in add-host: "${h}"`);

    const { builder, StepFailedError, context: { contextFromCache, contextFromRemote, contextFromStream, keptContext } } = await loadBuilder();
    const remote = q.get('remote');
    // berth's CLI names a context it sent before by its digest (and sends no body); an unknown one is asked for whole.
    const known = q.get('contextdigest');
    let context: BuildContext;
    if (remote) {
      ctx.bodyStream().resume();
      context = await contextFromRemote(remote, dockerfile, tmpRoot, ctx.signal);
    } else if (known) {
      ctx.bodyStream().resume();
      const hit = contextFromCache(known, contexts);
      if (!hit) throw new PreconditionFailedError(`build context ${known} is not kept here: send it whole`);
      context = hit;
    } else if (q.get('contextbase')) {
      // Only what changed since a context the daemon keeps: the rest is linked from that one.
      const base = keptContext(q.get('contextbase') as string, contexts);
      if (!base) {
        ctx.bodyStream().resume();
        throw new PreconditionFailedError(`build context ${q.get('contextbase')} is not kept here: send it whole`);
      }
      try {
        context = await contextFromStream(ctx.bodyStream(), dockerfile, tmpRoot, contexts, base);
      } finally {
        await base.release();
      }
    } else {
      context = await contextFromStream(ctx.bodyStream(), dockerfile, tmpRoot, contexts);
    }
    const secretsDir = join(tmpRoot, `secrets-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    let out: Writable | undefined;
    const emit = (m: BuildMessage) => {
      out ??= ctx.stream(200, 'application/json', context.digest ? { 'X-Berth-Context-Digest': context.digest } : undefined);
      if (!out.writableEnded) out.write(JSON.stringify(m) + '\r\n');
    };
    try {
      req.secrets = await takeSecrets(context, secretIds, secretsDir);
      await builder.build(context, req, emit, ctx.signal);
    } catch (err) {
      if (!out) throw err;
      const message = err instanceof Error ? err.message : String(err);
      emit({ errorDetail: err instanceof StepFailedError ? { code: err.code, message } : { message }, error: message });
    } finally {
      await context.cleanup();
      await rm(secretsDir, { recursive: true, force: true });
      out?.end();
    }
  });
}
