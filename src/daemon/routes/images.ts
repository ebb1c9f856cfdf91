// /images/* routes. Image names contain slashes and colons that clients do not
// escape (`/images/localhost:5000/app:1/json`), so the name is everything
// between `/images/` and the last known action segment.
import { Readable } from 'node:stream';
import { versionLess, type ApiServer, type Context } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError, NotFoundError, NotImplementedError } from '../../errors.ts';
import type { LoadedImage } from '../../images/archive/load.ts';
import { boolParam, checkFilterKeys, parseFilters } from './query.ts';
import { parseNormalizedNamed } from '../../api/reference.ts';
import { decodeRegistryAuth } from '../../images/distribution/auth.ts';
import { errorMessage } from '../../images/distribution/progress.ts';
import { pushRoute } from './distribution.ts';

/** `fromImage` and `tag` as the docker CLI sends them (`tag` may be a digest). */
function pullReference(from: string, tag: string): string {
  if (!from) throw new InvalidArgumentError('image name cannot be empty: fromImage is required');
  if (!tag) return from;
  const ref = parseNormalizedNamed(from);
  if (ref.tag || ref.digest) return from;
  return /^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag) ? `${from}@${tag}` : `${from}:${tag}`;
}

function splitName(ctx: Context, actions: string[]): [string, string] {
  const rest = decodeURIComponent(ctx.params['*'] ?? '');
  for (const a of actions) {
    if (rest.endsWith('/' + a)) return [rest.slice(0, -(a.length + 1)), a];
  }
  return [rest, ''];
}

function sendArchive(ctx: Context, archive: Readable): Promise<void> {
  return ctx.pipe(200, 'application/x-tar', archive);
}

/**
 * GET /images/{name}/attestations (API 1.55). berth's image store keeps an
 * image's config and layers, not the OCI index it was pulled from, so it has
 * no attestation manifests to read: it answers as dockerd's legacy
 * (graphdriver) store does, after dockerd's version gate and parameter checks.
 */
function attestations(ctx: Context): never {
  // An unversioned request speaks the daemon's own version; an explicit one below 1.55 predates the route.
  const explicit = /^\/v\d+\.\d+\//.test(ctx.req.url ?? '');
  if (explicit && versionLess(ctx.apiVersion, '1.55')) {
    throw new InvalidArgumentError('GET /images/{name:.*}/attestations requires minimum API version 1.55');
  }
  const platforms = ctx.query.getAll('platform');
  if (platforms.length > 1) throw new InvalidArgumentError('only one platform value is currently supported');
  if (platforms[0]) decodePlatform(platforms[0]);
  throw new NotImplementedError('the legacy image store does not support attestations');
}

/** dockerd's DecodePlatform: a JSON OCI platform with both os and architecture. */
function decodePlatform(text: string): void {
  let p: { os?: unknown; architecture?: unknown; variant?: unknown; 'os.version'?: unknown; 'os.features'?: unknown };
  try {
    p = JSON.parse(text) as typeof p;
  } catch (err) {
    throw new InvalidArgumentError(`failed to parse platform: ${(err as Error).message}`);
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new InvalidArgumentError('failed to parse platform: not a JSON object');
  const optional = Boolean(p.variant) || Boolean(p['os.version']) || (Array.isArray(p['os.features']) && p['os.features'].length > 0);
  if (!p.os && !p.architecture && optional) throw new InvalidArgumentError('optional platform fields provided, but OS and Architecture are missing');
  if (!p.os || !p.architecture) throw new InvalidArgumentError('both OS and Architecture must be provided');
}

/** What `docker load` prints, as dockerd's JSON messages. */
function loadMessages(loaded: LoadedImage[]): { stream: string }[] {
  const out: { stream: string }[] = [];
  for (const l of loaded) {
    for (const [tag, old] of l.renamed) out.push({ stream: `The image ${tag} already exists, renaming the old one with ID ${old} to empty string\n` });
    if (l.tags.length === 0) out.push({ stream: `Loaded image ID: ${l.id}\n` });
    for (const t of l.tags) out.push({ stream: `Loaded image: ${t}\n` });
  }
  return out;
}

export function imageRoutes(api: ApiServer, engine: Engine): void {
  const { images } = engine;

  api.route('POST', '/images/create', async (ctx) => {
    const q = ctx.query;
    const fromSrc = q.get('fromSrc');
    if (fromSrc === null) {
      const refString = pullReference(q.get('fromImage') ?? '', q.get('tag') ?? '');
      const authHeader = ctx.req.headers['x-registry-auth'];
      const run = await images.preparePull(refString, {
        creds: decodeRegistryAuth(Array.isArray(authHeader) ? authHeader[0] : authHeader),
        platform: q.get('platform') || undefined,
        signal: ctx.signal,
        hosts: engine.distribution.hosts,
        metadata: engine.distribution.metadata,
        allTags: q.get('tag') === null,
      });
      // From here on the status is 200: failures are messages in the stream.
      const out = ctx.stream(200, 'application/json');
      const emit = (m: object) => { if (!out.writableEnded) out.write(JSON.stringify(m) + '\r\n'); };
      try {
        await run(emit);
      } catch (err) {
        emit(errorMessage(err instanceof Error ? err.message : String(err)));
      }
      out.end();
      return;
    }
    let input: Readable;
    if (fromSrc === '-') {
      input = ctx.bodyStream();
    } else {
      let url: URL;
      try {
        url = new URL(fromSrc);
      } catch {
        throw new InvalidArgumentError(`invalid source: ${fromSrc}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`invalid source: ${fromSrc}`);
      const res = await fetch(url, { signal: ctx.signal });
      if (!res.ok || !res.body) throw new InvalidArgumentError(`Get "${fromSrc}": status ${res.status}`);
      input = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    }
    const changes = q.getAll('changes');
    const id = await images.import(input, {
      repo: q.get('repo') || undefined, tag: q.get('tag') || undefined, changes,
      message: q.get('message') || undefined, platform: q.get('platform') || undefined,
      source: fromSrc === '-' ? '-' : fromSrc,
    });
    return { raw: JSON.stringify({ status: id }) + '\r\n', headers: { 'Content-Type': 'application/json' } };
  });

  api.route('GET', '/images/json', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    checkFilterKeys(filters, ['before', 'dangling', 'label', 'reference', 'since', 'until']);
    const ref = ctx.query.get('filter');
    if (ref) filters.reference = [...(filters.reference ?? []), ref];
    return { body: await images.list(filters, boolParam(ctx.query, 'all'), engine.containers.imagesInUse()) };
  });

  api.route('POST', '/images/prune', async (ctx) => {
    return { body: await images.prune(parseFilters(ctx.query.get('filters')), engine.containers.imagesInUse()) };
  });

  api.route('GET', '/images/get', async (ctx) => {
    const names = ctx.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean);
    if (names.length === 0) throw new InvalidArgumentError('no images specified');
    await sendArchive(ctx, await images.save(names, ctx.signal));
  });

  api.route('POST', '/images/load', async (ctx) => {
    const reply = (m: object) => ({ raw: JSON.stringify(m) + '\n', headers: { 'Content-Type': 'application/json' } });
    try {
      const loaded = await images.load(ctx.bodyStream());
      return { raw: loadMessages(loaded).map((m) => JSON.stringify(m) + '\n').join(''), headers: { 'Content-Type': 'application/json' } };
    } catch (err) {
      // dockerd reports a failed load inside its 200 stream, as the clients expect.
      return reply(errorMessage(err instanceof Error ? err.message : String(err)));
    }
  });

  api.route('GET', '/images/*', async (ctx) => {
    const [name, action] = splitName(ctx, ['json', 'history', 'get', 'attestations']);
    if (action === 'attestations') return attestations(ctx);
    if (action === 'get') return sendArchive(ctx, await images.save([name], ctx.signal));
    if (action === 'json') return { body: await images.inspect(name) };
    if (action === 'history') return { body: await images.history(name) };
    throw new NotFoundError('page not found');
  });

  api.route('POST', '/images/*', async (ctx) => {
    const [name, action] = splitName(ctx, ['tag', 'push']);
    if (action === 'push') return pushRoute(ctx, engine, name);
    if (action !== 'tag') throw new NotFoundError('page not found');
    const repo = ctx.query.get('repo') ?? '';
    const tag = ctx.query.get('tag') ?? '';
    if (!repo) throw new InvalidArgumentError('repository name cannot be empty');
    // dockerd parses the repository alone first: a 64-hex name is refused there.
    const named = parseNormalizedNamed(repo);
    if (tag && (named.tag || named.digest)) throw new InvalidArgumentError('invalid reference format');
    await images.tag(name, tag ? `${repo}:${tag}` : repo);
    return { status: 201 };
  });

  api.route('DELETE', '/images/*', async (ctx) => {
    const [name] = splitName(ctx, []);
    return { body: await images.remove(name, boolParam(ctx.query, 'force'), engine.containers.imagesInUse(), !boolParam(ctx.query, 'noprune')) };
  });
}
