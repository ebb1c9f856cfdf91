// The images a project's services run: found, pulled or built (the engine's
// POST /build with the service's build: section) before containers are made.
import { isDryRun } from './dry-run.ts';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { ApiError, type EngineClient } from '../client/engine-client.ts';
import { packContext, type ExtraEntry } from '../client/context-tar.ts';
import { ignoreFileCandidates, ignoreMatcher, parseIgnoreFile } from '../api/dockerignore.ts';
import { SECRETS_DIR_IN_CONTEXT } from '../api/build-context.ts';
import { warningLine } from './warn.ts';
import type { Project, Service } from './model.ts';
import { serviceImage } from './container-config.ts';
import { all } from './execute.ts';
import { ids, type Progress } from './progress.ts';

export interface ImageContext {
  client: EngineClient;
  project: Project;
  progress: Progress;
  /** Pulls one image (the CLI's pull, with its credentials); resolves when it is in the engine. */
  pull: (image: string) => Promise<void>;
  /** Where a build's own output goes (its `stream` messages); nothing when absent. */
  buildOutput?: (service: string, text: string) => void;
}

export interface EnsureOptions {
  /** --pull: always|missing|never (compose's up --pull); absent follows each service's pull_policy. */
  pull?: string;
  /** --build: build every service that has a build section. */
  build?: boolean;
  noBuild?: boolean;
}

async function imageId(client: EngineClient, ref: string): Promise<string | undefined> {
  try {
    return (await client.call<{ Id: string }>('GET', `/images/${encodeURIComponent(ref)}/json`)).Id;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** Builds a service's image from its build section; resolves with the image's ID. */
export async function buildService(ctx: ImageContext, service: Service, o: { noCache?: boolean; pull?: boolean; buildArgs?: Record<string, string> } = {}): Promise<string> {
  const b = service.build;
  if (!b) throw new Error(`service "${service.name}" has no build section`);
  if (/^(https?|git):\/\/|^git@/.test(b.context)) throw new Error(`service "${service.name}": remote build contexts are not supported by berth compose yet`);
  const tag = serviceImage(ctx.project, service);
  // A dry run builds nothing: the image would be the tag.
  if (isDryRun(ctx.client)) return tag;
  const extra: ExtraEntry[] = [];
  let dockerfile = b.dockerfile ?? 'Dockerfile';
  if (b.dockerfile_inline !== undefined) {
    dockerfile = '.berth-compose.Dockerfile';
    extra.push({ name: dockerfile, data: Buffer.from(b.dockerfile_inline) });
  } else if (isAbsolute(dockerfile)) {
    const rel = relative(b.context, dockerfile);
    if (rel.startsWith('..')) {
      extra.push({ name: '.berth-compose.Dockerfile', data: readFileSync(dockerfile) });
      dockerfile = '.berth-compose.Dockerfile';
    } else dockerfile = rel;
  }
  let ignoreText: string | undefined;
  for (const c of ignoreFileCandidates(dockerfile)) {
    if (existsSync(join(b.context, c))) {
      ignoreText = readFileSync(join(b.context, c), 'utf8');
      break;
    }
  }
  const ignore = ignoreText !== undefined ? ignoreMatcher(parseIgnoreFile(ignoreText)) : undefined;
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(b.args ?? {})) {
    const value = v ?? ctx.project.environment[k];
    if (value !== undefined && value !== null) args[k] = value;
  }
  Object.assign(args, o.buildArgs ?? {});
  const platform = buildPlatform(service);
  const secrets = await buildSecrets(ctx, service);
  extra.push(...secrets.entries);
  if (b.cache_to?.length) {
    ctx.progress.message(warningLine(`service "${service.name}": cache_to is ignored, the engine's build API cannot export a build cache`, process.stderr.isTTY === true));
  }
  const query = {
    t: [tag, ...(b.tags ?? [])],
    dockerfile,
    target: b.target,
    buildargs: JSON.stringify(args),
    labels: JSON.stringify(b.labels ?? {}),
    cachefrom: b.cache_from ? JSON.stringify(b.cache_from) : undefined,
    networkmode: b.network,
    nocache: o.noCache || b.no_cache ? true : undefined,
    pull: o.pull || b.pull ? true : undefined,
    extrahosts: b.extra_hosts?.map((h) => h.replace('=', ':')).join(',') || undefined,
    q: ctx.buildOutput ? undefined : true,
    platform,
    secrets: secrets.ids.length ? JSON.stringify(secrets.ids) : undefined,
  };
  const res = await ctx.client.stream('POST', '/build', {
    query,
    stream: packContext({ dir: b.context, ignore, keep: [dockerfile, '.dockerignore', `${dockerfile}.dockerignore`], extra }),
    contentType: 'application/x-tar',
  });
  let id: string | undefined;
  let rest = '';
  for await (const chunk of res) {
    rest += (chunk as Buffer).toString('utf8');
    const lines = rest.split(/\r?\n/);
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      const m = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message?: string }; aux?: { ID?: string } };
      if (m.error !== undefined || m.errorDetail) throw new Error(`failed to solve: ${m.errorDetail?.message ?? m.error}`);
      if (m.aux?.ID) id = m.aux.ID;
      if (m.stream) ctx.buildOutput?.(service.name, m.stream);
    }
  }
  return id ?? (await imageId(ctx.client, tag)) ?? tag;
}

/**
 * The one platform a build may target: the service's `platform`, else a
 * single `build.platforms` entry. The engine's build API builds one platform,
 * so several are refused as compose refuses them with its classic builder.
 */
function buildPlatform(service: Service): string | undefined {
  const list = service.build?.platforms ?? [];
  if (service.platform && list.length > 0 && !list.includes(service.platform)) {
    throw new Error(`service.build.platforms MUST include service.platform "${service.platform}"`);
  }
  if (service.platform) return service.platform;
  if (list.length > 1) throw new Error("this builder doesn't support multi-arch build, set DOCKER_BUILDKIT=1 to use multi-arch builder");
  return list[0];
}

/**
 * build.secrets: each one's bytes ride in the context under berth's secrets
 * directory, which berthd takes out before any step sees the context (as
 * `berth build --secret` sends them). Another engine would leave them in the
 * context, so there they are refused rather than leaked into an image.
 */
async function buildSecrets(ctx: ImageContext, service: Service): Promise<{ entries: ExtraEntry[]; ids: string[] }> {
  const refs = service.build?.secrets ?? [];
  if (refs.length === 0) return { entries: [], ids: [] };
  const version = await ctx.client.call<{ Platform?: { Name?: string } }>('GET', '/version');
  if (version.Platform?.Name !== 'berth') throw new Error("this builder doesn't support secrets, set DOCKER_BUILDKIT=1 to use builder supporting secrets");
  const entries: ExtraEntry[] = [];
  const ids: string[] = [];
  for (const ref of refs) {
    const top = ctx.project.secrets[ref.source];
    if (!top) throw new Error(`service "${service.name}" refers to undefined build secret ${ref.source}`);
    if (top.external) throw new Error(`unsupported external secret ${top.name}`);
    let data: Buffer;
    if (top.file !== undefined) data = readFileSync(top.file);
    else if (top.environment !== undefined) {
      const v = ctx.project.environment[top.environment] ?? process.env[top.environment];
      if (v === undefined) throw new Error(`environment variable ${JSON.stringify(top.environment)} required by file ${JSON.stringify(top.name)} is not set`);
      data = Buffer.from(v);
    } else data = Buffer.from(top.content ?? '');
    // The id a Dockerfile's RUN --mount=type=secret names: the secret's key, as compose gives BuildKit.
    ids.push(ref.source);
    entries.push({ name: `${SECRETS_DIR_IN_CONTEXT}/${Buffer.from(ref.source).toString('hex')}`, data, mode: 0o400 });
  }
  return { entries, ids };
}

/**
 * Every service's image, by service: built when --build says so, when the
 * image is missing and there is a build section, or for pull_policy build;
 * pulled when missing (or always, per --pull / pull_policy).
 */
export async function ensureImages(ctx: ImageContext, services: Service[], o: EnsureOptions = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const pulls = new Map<string, Promise<void>>();
  const builds: Service[] = [];
  await all(services, async (s) => {
    const ref = serviceImage(ctx.project, s);
    const policy = o.pull ?? s.pull_policy ?? 'missing';
    if (s.build && !o.noBuild && (o.build || policy === 'build')) {
      builds.push(s);
      return;
    }
    let id = policy === 'always' ? undefined : await imageId(ctx.client, ref);
    if (id === undefined && s.build && !o.noBuild && policy !== 'always') {
      builds.push(s);
      return;
    }
    if (id === undefined) {
      if (policy === 'never') throw new Error(`pull access denied for ${ref}: pull_policy is never and the image is missing`);
      if (!s.image) throw new Error(`service "${s.name}" has neither an image nor a build context specified: invalid compose project`);
      // Services sharing an image pull it once.
      let p = pulls.get(ref);
      if (!p) {
        p = (async () => {
          ctx.progress.event(s.name, 'working', 'Pulling');
          try {
            await ctx.pull(ref);
            ctx.progress.event(s.name, 'done', 'Pulled');
          } catch (err) {
            ctx.progress.event(s.name, 'error', 'Error');
            throw err;
          }
        })();
        pulls.set(ref, p);
      }
      await p;
      id = await imageId(ctx.client, ref);
    }
    if (id) out.set(s.name, id);
  });
  // Builds one after another: the engine's builds use every core already.
  for (const s of builds) {
    const id = await buildAndShow(ctx, s);
    out.set(s.name, id);
  }
  return out;
}

export async function buildAndShow(ctx: ImageContext, s: Service, o: { noCache?: boolean; pull?: boolean; buildArgs?: Record<string, string> } = {}): Promise<string> {
  const id = ids.image(serviceImage(ctx.project, s));
  ctx.progress.event(id, 'working', 'Building');
  try {
    const r = await buildService(ctx, s, o);
    ctx.progress.event(id, 'done', 'Built');
    return r;
  } catch (err) {
    ctx.progress.event(id, 'error', 'Error');
    throw err;
  }
}
