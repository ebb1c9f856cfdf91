// `compose watch`: `up -d` of the services (unless --no-up), then their
// develop.watch rules acted on as files change, until interrupted.
import type { Command } from 'commander';
import { ApiError, type EngineClient } from '../../client/engine-client.ts';
import type { Project } from '../../compose/model.ts';
import { converge, createResources, type ExecContext } from '../../compose/execute.ts';
import { buildService, ensureImages, type ImageContext } from '../../compose/images.ts';
import { serviceImage } from '../../compose/container-config.ts';
import { observe, planUp } from '../../compose/plan.ts';
import { Progress } from '../../compose/progress.ts';
import { applyChanges, initialSync, PathWatcher, watchRules } from '../../compose/watch.ts';
import { composeWarn } from '../../compose/warn.ts';
import { clientFor, CliError } from '../context.ts';
import { resolveProject } from '../compose-project.ts';
import { globals } from '../options.ts';
import { pullImage } from '../pull.ts';

function imageContext(client: EngineClient, project: Project, progress: Progress, config: string | undefined, quiet: boolean): ImageContext {
  return {
    client, project, progress,
    pull: async (image: string) => { await pullImage(client, image, { quiet: true, out: process.stderr, config }); },
    buildOutput: quiet ? undefined : (_svc, text) => process.stdout.write(text),
  };
}

/** `up -d` of the services; those with a build and a develop section are built first, as compose's watch does. */
async function upServices(ctx: ExecContext, imageCtx: ImageContext, services: string[]): Promise<void> {
  const observed = await observe(ctx.client, ctx.project.name);
  const plan = planUp(ctx.project, observed, { services });
  const watched = [...plan.services.values()].map((sp) => sp.service);
  const images = await ensureImages(imageCtx, watched.filter((s) => !(s.build && s.develop)));
  for (const s of watched.filter((x) => x.build && x.develop)) images.set(s.name, await buildService(imageCtx, s));
  await createResources(ctx, plan);
  await converge(ctx, plan, { start: true, images }, observed.containers);
}

async function imageIdOf(client: EngineClient, ref: string): Promise<{ Id: string; RepoTags?: string[] | null } | undefined> {
  try {
    return await client.call<{ Id: string; RepoTags?: string[] | null }>('GET', `/images/${encodeURIComponent(ref)}/json`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** --prune: an image a rebuild left without a tag (the one the service ran before) is removed, unless something still uses it. */
async function pruneReplaced(client: EngineClient, before: Map<string, string>, images: Map<string, string>): Promise<void> {
  for (const [service, old] of before) {
    if (images.get(service) === old) continue;
    const img = await imageIdOf(client, old);
    if (!img || (img.RepoTags ?? []).length > 0) continue;
    try {
      await client.status('DELETE', `/images/${old}`);
    } catch (err) {
      if (!(err instanceof ApiError && (err.status === 404 || err.status === 409))) throw err;
    }
  }
}

async function rebuild(ctx: ExecContext, imageCtx: ImageContext, services: string[], log: (l: string) => void, prune: boolean): Promise<void> {
  log(`Rebuilding service(s) ${JSON.stringify(services)} after changes were detected...`);
  const images = new Map<string, string>();
  const before = new Map<string, string>();
  if (prune) {
    for (const s of services) {
      const id = (await imageIdOf(ctx.client, serviceImage(ctx.project, ctx.project.services[s])))?.Id;
      if (id) before.set(s, id);
    }
  }
  try {
    for (const s of services) images.set(s, await buildService(imageCtx, ctx.project.services[s]));
  } catch (err) {
    log(`Build failed. Error: ${(err as Error).message}`);
    return;
  }
  log(`service(s) ${JSON.stringify(services)} successfully built`);
  try {
    const observed = await observe(ctx.client, ctx.project.name);
    const plan = planUp(ctx.project, observed, { services, noDeps: true, forceRecreate: true });
    await converge(ctx, plan, { start: true, images }, observed.containers);
    if (prune) await pruneReplaced(ctx.client, before, images);
  } catch (err) {
    log(`Failed to recreate services after update. Error: ${err instanceof ApiError ? 'Error response from daemon: ' : ''}${(err as Error).message}`);
  }
}

export function registerComposeWatchCommands(compose: Command): void {
  compose.command('watch')
    .description('Watch build context for service and rebuild/refresh containers when files are updated')
    .argument('[services...]')
    .option('--no-up', 'Do not build & start services before watching')
    .option('--prune [bool]', 'Prune dangling images on rebuild (default true)')
    .option('--quiet', 'hide build output')
    .action(async (services: string[], f: { up: boolean; quiet?: boolean; prune?: boolean | string }, cmd: Command) => {
      if (f.prune !== undefined && !['true', 'false', '1', '0', true].includes(f.prune)) {
        throw new CliError(`invalid argument ${JSON.stringify(f.prune)} for "--prune" flag: strconv.ParseBool: parsing ${JSON.stringify(f.prune)}: invalid syntax`, 1);
      }
      const prune = f.prune === undefined || f.prune === true || f.prune === 'true' || f.prune === '1';
      const project = (await resolveProject(cmd, 'model')).project;
      let rules;
      try {
        rules = watchRules(project, services);
      } catch (err) {
        throw new CliError((err as Error).message, 1);
      }
      const client = await clientFor(globals(cmd));
      const progress = new Progress('auto');
      const ctx: ExecContext = { client, project, progress };
      const imageCtx = imageContext(client, project, progress, globals(cmd).config, f.quiet === true);
      const log = (line: string) => process.stdout.write(line + '\n');
      if (f.up) {
        try {
          await upServices(ctx, imageCtx, services);
        } catch (err) {
          progress.stop();
          throw new CliError(err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message, 1);
        }
      }
      progress.stop();
      await initialSync(client, project, rules);
      const watcher = new PathWatcher(rules.map((r) => r.path), async (changed) => {
        try {
          await applyChanges(client, project, rules, changed, { log, rebuild: (s) => rebuild({ ...ctx, progress: new Progress('quiet') }, imageCtx, s, log, prune) });
        } catch (err) {
          composeWarn(`Error handling changed files: ${(err as Error).message}`);
        }
      });
      log('Watch enabled');
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      watcher.close();
      log('Watch disabled');
    });
}
