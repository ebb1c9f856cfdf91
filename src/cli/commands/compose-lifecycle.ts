// `berth compose` up, down, create, start, stop, restart, kill, rm, pause,
// unpause, build, pull, push: flags and output of docker compose v2. The
// work is the planner's and executor's (src/compose/); this stays thin.
import { Option, type Command } from 'commander';
import { ApiError } from '../../client/engine-client.ts';
import { clientFor, CliError, StatusError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { pullImage } from '../pull.ts';
import { confirm } from '../prompt.ts';
import { configDir, registryAuthHeader } from '../credentials.ts';
import { parseNormalizedNamed, withDefaultTag, familiarString } from '../../api/reference.ts';
import { Progress, type ProgressMode } from '../../compose/progress.ts';
import { all, converge, createResources, waitForCondition, type ExecContext, type Running } from '../../compose/execute.ts';
import { observe, planUp, selectServices } from '../../compose/plan.ts';
import { containerName } from '../../compose/project-containers.ts';
import { ensureImages, buildAndShow } from '../../compose/images.ts';
import { down, inOrder, restartDependents, selectContainers, startContainers, verbs } from '../../compose/lifecycle.ts';
import { LogPrinter, printContainerLogs } from '../../compose/log-printer.ts';
import { ansiEnabled, lifecycleProject, projectFlags } from '../compose-project.ts';
import { DryRunClient, DRY_RUN_PREFIX, isDryRun } from '../../compose/dry-run.ts';
import { checkFileObjects, serviceImage } from '../../compose/container-config.ts';
import { warningLine } from '../../compose/warn.ts';

interface Common {
  progress?: string;
}

function progressMode(cmd: Command, f: Common): ProgressMode {
  const p = f.progress ?? cmd.optsWithGlobals<Common>().progress ?? (process.env.COMPOSE_PROGRESS || process.env.BUILDKIT_PROGRESS || undefined);
  if (p === undefined || p === 'auto') return 'auto';
  if (!['tty', 'plain', 'quiet', 'json'].includes(p)) throw new CliError(`unsupported --progress value "${p}"`, 1);
  return p as ProgressMode;
}

async function context(cmd: Command, f: Common, o: { needModel?: boolean; services?: string[] } = {}): Promise<ExecContext & { haveModel: boolean }> {
  const { project, haveModel } = await lifecycleProject(cmd, o.needModel === false ? 'name-for-down' : 'model', o.services);
  const real = await clientFor(globals(cmd));
  const progress = new Progress(progressMode(cmd, f));
  // --dry-run: reads reach the engine, changes are only shown (compose v2's dry-run mode).
  if (projectFlags(cmd).dryRun) progress.prefix = DRY_RUN_PREFIX;
  const client = projectFlags(cmd).dryRun ? new DryRunClient(real) : real;
  return { client, project, progress, haveModel };
}

/** Errors as compose reports them: the engine's with its prefix, ours as they are. */
function fail(err: unknown): never {
  if (err instanceof CliError || err instanceof StatusError) throw err;
  if (err instanceof ApiError) throw new CliError(`Error response from daemon: ${err.message}`, 1);
  throw new CliError(err instanceof Error ? err.message : String(err), 1);
}

async function run<T>(ctx: ExecContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    fail(err);
  } finally {
    ctx.progress.stop();
  }
}

function parseScale(list: string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const m = /^([^=]+)=(\d+)$/.exec(s);
    if (!m) throw new CliError(`invalid --scale option "${s}". Should be SERVICE=NUM`, 1);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function timeoutFlag(t: string | undefined): number | undefined {
  if (t === undefined) return undefined;
  if (!/^-?\d+$/.test(t)) throw new CliError(`invalid argument "${t}" for "-t, --timeout" flag: strconv.ParseInt: parsing "${t}": invalid syntax`, 1);
  return Number(t);
}

function imageContext(ctx: ExecContext, cmd: Command, quiet: boolean) {
  const config = globals(cmd).config;
  return {
    ...ctx,
    pull: async (image: string) => {
      if (isDryRun(ctx.client)) return;
      await pullImage(ctx.client, image, { quiet: true, out: process.stderr, config });
    },
    buildOutput: quiet ? undefined : (_svc: string, text: string) => ctx.progress.message(text.replace(/\n$/, '')),
  };
}

interface UpFlags extends Common {
  detach?: boolean;
  build?: boolean;
  noBuild?: boolean;
  pull?: string;
  forceRecreate?: boolean;
  recreate: boolean;
  noRecreate?: boolean;
  deps: boolean;
  scale?: string[];
  wait?: boolean;
  waitTimeout?: string;
  removeOrphans?: boolean;
  abortOnContainerExit?: boolean;
  exitCodeFrom?: string;
  attach?: string[];
  start: boolean;
  quietPull?: boolean;
  renewAnonVolumes?: boolean;
  timeout?: string;
  logPrefix: boolean;
  color: boolean;
  timestamps?: boolean;
  attachDependencies?: boolean;
  noAttach?: string[];
  alwaysRecreateDeps?: boolean;
}

/** `--no-attach <service>`: commander would read it as the negation of --attach; this one stands alone. */
class NoAttachOption extends Option {
  constructor() {
    super('--no-attach <service>', 'Do not attach (stream logs) to the specified services');
    this.negate = false;
    this.argParser(collect);
  }
  override attributeName(): string {
    return 'noAttach';
  }
}

function addUpFlags(c: Command, up: boolean): Command {
  c.option('--build', 'Build images before starting containers')
    .option('--no-build', "Don't build an image, even if it's policy")
    .addOption(new Option('--pull <policy>', 'Pull image before running ("always"|"missing"|"never")').choices(['always', 'missing', 'never', 'build']))
    .option('--force-recreate', "Recreate containers even if their configuration and image haven't changed")
    .option('--no-recreate', "If containers already exist, don't recreate them. Incompatible with --force-recreate.")
    .option('--remove-orphans', 'Remove containers for services not defined in the Compose file')
    .option('--scale <SERVICE=NUM>', 'Scale SERVICE to NUM instances. Overrides the scale setting in the Compose file if present.', collect)
    .option('--quiet-pull', 'Pull without printing progress information')
    .option('-V, --renew-anon-volumes', 'Recreate anonymous volumes instead of retrieving data from the previous containers');
  if (!up) return c;
  return c.option('-d, --detach', 'Detached mode: Run containers in the background')
    .option('--no-deps', "Don't start linked services")
    .option('--wait', 'Wait for services to be running|healthy. Implies detached mode.')
    .option('--wait-timeout <seconds>', 'Maximum duration in seconds to wait for the project to be running|healthy')
    .option('--abort-on-container-exit', 'Stops all containers if any container was stopped. Incompatible with -d')
    .option('--exit-code-from <service>', 'Return the exit code of the selected service container. Implies --abort-on-container-exit')
    .option('--attach <service>', 'Restrict attaching to the specified services. Incompatible with --attach-dependencies.', collect)
    .option('--no-start', "Don't start the services after creating them")
    .option('--no-log-prefix', "Don't print prefix in logs")
    .option('--no-color', 'Produce monochrome output')
    .option('--timestamps', 'Show timestamps')
    .option('--attach-dependencies', 'Automatically attach to log output of dependent services')
    .addOption(new NoAttachOption())
    .option('--always-recreate-deps', 'Recreate dependent containers. Incompatible with --no-recreate.')
    .option('-t, --timeout <seconds>', 'Use this timeout in seconds for container shutdown when attached or when containers are already running');
}

async function up(services: string[], f: UpFlags, cmd: Command, create: boolean): Promise<void> {
  if (f.forceRecreate && f.recreate === false) throw new CliError('--force-recreate and --no-recreate are incompatible', 1);
  if (f.alwaysRecreateDeps && f.recreate === false) throw new CliError('--always-recreate-deps and --no-recreate are incompatible', 1);
  if (f.detach && f.abortOnContainerExit) throw new CliError('--abort-on-container-exit and --detach are incompatible', 1);
  const detach = create || f.detach === true || f.wait === true || f.start === false;
  const abort = f.abortOnContainerExit === true || f.exitCodeFrom !== undefined;
  const scale = parseScale(f.scale);
  if (f.waitTimeout !== undefined && !/^\d+$/.test(f.waitTimeout)) throw new CliError(`invalid argument "${f.waitTimeout}" for "--wait-timeout" flag: strconv.ParseInt: parsing "${f.waitTimeout}": invalid syntax`, 1);
  const timeout = timeoutFlag(f.timeout);
  const ctx = await context(cmd, f, { services });
  const { project, client, progress } = ctx;
  if (f.exitCodeFrom && !project.services[f.exitCodeFrom]) throw new CliError(`no such service: ${f.exitCodeFrom}`, 1);
  let running: Running = new Map();
  await run(ctx, async () => {
    const selected = selectServices(project, services, f.deps === false).map((s) => project.services[s]);
    checkFileObjects(project, selected);
    // Images first: a service whose image changed (rebuilt, pulled anew) is recreated like an edited one.
    const [observed, images] = await Promise.all([
      observe(client, project.name),
      ensureImages(imageContext(ctx, cmd, f.quietPull === true), selected, { pull: f.pull, build: f.build === true, noBuild: f.build === false }),
    ]);
    const plan = planUp(project, observed, { services, noDeps: f.deps === false, forceRecreate: f.forceRecreate, noRecreate: f.recreate === false, alwaysRecreateDeps: f.alwaysRecreateDeps, scale, images });
    if (plan.orphans.length && !f.removeOrphans) {
      progress.message(warningLine(`Found orphan containers ([${plan.orphans.map(containerName).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`, process.stderr.isTTY === true));
    }
    await createResources(ctx, plan);
    running = await converge(ctx, plan, { start: !create && f.start !== false, images, timeout, removeOrphans: f.removeOrphans, renewAnonVolumes: f.renewAnonVolumes }, observed.containers);
    if (f.wait && f.start !== false) {
      const deadline = f.waitTimeout ? Date.now() + Number(f.waitTimeout) * 1000 : Infinity;
      await all([...running], ([svc, cs]) => all(cs, (c) => waitForCondition(ctx, svc, c, 'running_or_healthy', deadline)));
    }
  });
  // A dry run has no container to attach to.
  if (detach || isDryRun(client)) return;
  await attachAndWait(ctx, running, services, f, abort, timeout, f.color !== false && ansiEnabled(cmd));
}

async function attachAndWait(ctx: ExecContext, running: Running, services: string[], f: UpFlags, abort: boolean, timeout: number | undefined, color: boolean): Promise<void> {
  const { client, project } = ctx;
  const chosen = f.attach?.length ? f.attach : services.length && !f.attachDependencies ? services : [...running.keys()];
  const skip = new Set(f.noAttach ?? []);
  const attached = [...running].filter(([svc]) => chosen.includes(svc) && !skip.has(svc)).flatMap(([svc, cs]) => cs.map((c) => ({ ...c, svc, label: c.name.startsWith(`${project.name}-`) ? c.name.slice(project.name.length + 1) : c.name })));
  const printer = new LogPrinter(process.stdout, { color, prefix: f.logPrefix !== false });
  for (const c of attached) printer.register(c.label);
  if (attached.length) process.stdout.write(`Attaching to ${attached.map((c) => c.label).join(', ')}\n`);
  const stopAll = async () => {
    const cs = await selectContainers(ctx, { services: [...running.keys()] });
    const p = new Progress(ctx.progress.mode);
    await inOrder({ ...ctx, progress: p }, cs.filter((c) => c.State === 'running'), verbs.stop(ctx, timeout), true);
    p.stop();
  };
  let stopping = false;
  const onSigint = () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  let exitCode = 0;
  let aborted = false;
  await new Promise<void>((resolve, reject) => {
    let left = attached.length;
    if (left === 0) resolve();
    for (const c of attached) {
      const tty = project.services[c.svc]?.tty === true;
      const follow = printContainerLogs(client, c.id, c.label, tty, printer, { follow: true, timestamps: f.timestamps }).catch(() => {});
      void (async () => {
        const r = await client.call<{ StatusCode: number }>('POST', `/containers/${c.id}/wait`, { query: { condition: 'not-running' } });
        await follow;
        if (!stopping) printer.status(c.label, `exited with code ${r.StatusCode}`);
        // --exit-code-from's container, or with --abort-on-container-exit the first to exit (not those stopped after it).
        if (f.exitCodeFrom ? c.svc === f.exitCodeFrom : abort && !aborted) exitCode = r.StatusCode;
        if (abort && !aborted) {
          aborted = true;
          stopping = true;
          process.stdout.write('Aborting on container exit...\n');
          await stopAll();
          resolve();
        }
        if (--left === 0) resolve();
      })().catch(reject);
    }
  }).catch(fail);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  if (exitCode !== 0) throw new StatusError(exitCode);
}

export function registerComposeLifecycleCommands(compose: Command): void {
  addUpFlags(compose.command('up').description('Create and start containers').argument('[services...]'), true)
    .action((services: string[], f: UpFlags, cmd: Command) => up(services, f, cmd, false));
  addUpFlags(compose.command('create').description('Creates containers for a service').argument('[services...]'), false)
    .action((services: string[], f: UpFlags, cmd: Command) => up(services, { ...f, deps: true }, cmd, true));

  compose.command('down').description('Stop and remove containers, networks')
    .option('-v, --volumes', 'Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers')
    .option('--rmi <type>', 'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")')
    .option('--remove-orphans', 'Remove containers for services not defined in the Compose file')
    .option('-t, --timeout <seconds>', 'Specify a shutdown timeout in seconds')
    .argument('[services...]')
    .action(async (_services: string[], f: Common & { volumes?: boolean; rmi?: string; removeOrphans?: boolean; timeout?: string }, cmd: Command) => {
      if (f.rmi !== undefined && f.rmi !== 'local' && f.rmi !== 'all') throw new CliError(`invalid value for --rmi: ${f.rmi}`, 1);
      const timeout = timeoutFlag(f.timeout);
      const ctx = await context(cmd, f, { needModel: false });
      await run(ctx, () => down(ctx, { volumes: f.volumes, rmi: f.rmi as 'local' | 'all' | undefined, removeOrphans: f.removeOrphans, timeout, haveModel: ctx.haveModel }));
    });

  compose.command('start').description('Start services')
    .argument('[services...]')
    .action(async (services: string[], f: Common, cmd: Command) => {
      const ctx = await context(cmd, f, { services });
      await run(ctx, async () => {
        const cs = await selectContainers(ctx, { services: selectServices(ctx.project, services, true) });
        if (cs.length === 0) throw new CliError(`service ${JSON.stringify(services[0] ?? Object.keys(ctx.project.services)[0] ?? '')} has no container to start`, 1);
        await startContainers(ctx, cs);
      });
    });

  const simple = (name: string, description: string, verb: (ctx: ExecContext, f: Record<string, string | boolean | undefined>) => ReturnType<typeof verbs.stop>, filter: (state: string) => boolean, reverse: boolean, extra: (c: Command) => Command = (c) => c) => {
    extra(compose.command(name).description(description).argument('[services...]'))
      .action(async (services: string[], f: Common & Record<string, string | boolean | undefined>, cmd: Command) => {
        const ctx = await context(cmd, f, { services });
        await run(ctx, async () => {
          const cs = (await selectContainers(ctx, { services })).filter((c) => filter(c.State));
          await inOrder(ctx, cs, verb(ctx, f), reverse);
        });
      });
  };
  simple('stop', 'Stop services', (ctx, f) => verbs.stop(ctx, timeoutFlag(f.timeout as string | undefined)), (s) => s === 'running' || s === 'paused' || s === 'restarting', true,
    (c) => c.option('-t, --timeout <seconds>', 'Specify a shutdown timeout in seconds'));
  compose.command('restart').description('Restart service containers')
    .argument('[services...]')
    .option('-t, --timeout <seconds>', 'Specify a shutdown timeout in seconds')
    .option('--no-deps', "Don't restart dependent services")
    .action(async (services: string[], f: Common & { timeout?: string; deps: boolean }, cmd: Command) => {
      const ctx = await context(cmd, f, { services });
      await run(ctx, async () => {
        // As compose: the named services and, unless --no-deps, the services that depend on them with `restart: true`.
        const chosen = services.length && f.deps !== false ? restartDependents(ctx.project, services) : services;
        const cs = await selectContainers(ctx, { services: chosen });
        await inOrder(ctx, cs, verbs.restart(ctx, timeoutFlag(f.timeout)), false);
      });
    });
  simple('kill', 'Force stop service containers', (ctx, f) => verbs.kill(ctx, f.signal as string | undefined), (s) => s === 'running' || s === 'paused' || s === 'restarting', true,
    (c) => c.option('-s, --signal <signal>', 'SIGNAL to send to the container', 'SIGKILL').option('--remove-orphans', 'Remove containers for services not defined in the Compose file'));
  simple('pause', 'Pause services', (ctx) => verbs.pause(ctx), (s) => s === 'running', false);
  simple('unpause', 'Unpause services', (ctx) => verbs.unpause(ctx), (s) => s === 'paused', false);

  compose.command('rm').description('Removes stopped service containers')
    .option('-f, --force', "Don't ask to confirm removal")
    .option('-s, --stop', 'Stop the containers, if required, before removing')
    .option('-v, --volumes', 'Remove any anonymous volumes attached to containers')
    
    .argument('[services...]')
    .action(async (services: string[], f: Common & { force?: boolean; stop?: boolean; volumes?: boolean }, cmd: Command) => {
      const ctx = await context(cmd, f, { services });
      await run(ctx, async () => {
        let cs = await selectContainers(ctx, { services });
        if (f.stop) await inOrder(ctx, cs.filter((c) => c.State === 'running' || c.State === 'paused'), verbs.stop(ctx), true);
        else cs = cs.filter((c) => c.State !== 'running' && c.State !== 'paused' && c.State !== 'restarting');
        if (cs.length === 0) {
          process.stderr.write('No stopped containers\n');
          return;
        }
        if (!f.force) {
          ctx.progress.stop();
          if (!(await confirm(`Going to remove ${cs.map(containerName).join(', ')}\nAre you sure?`))) return;
        }
        await inOrder(ctx, cs, verbs.remove(ctx, { force: true, volumes: f.volumes }), false);
      });
    });

  compose.command('build').description('Build or rebuild services')
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('-q, --quiet', "Don't print anything to STDOUT")
    .option('--build-arg <key=value>', 'Set build-time variables for services', collect)
    
    .argument('[services...]')
    .action(async (services: string[], f: Common & { cache: boolean; pull?: boolean; quiet?: boolean; buildArg?: string[] }, cmd: Command) => {
      const ctx = await context(cmd, f, { services });
      const buildArgs: Record<string, string> = {};
      for (const a of f.buildArg ?? []) {
        const i = a.indexOf('=');
        if (i > 0) buildArgs[a.slice(0, i)] = a.slice(i + 1);
        else if (process.env[a] !== undefined) buildArgs[a] = process.env[a]!;
      }
      await run(ctx, async () => {
        const names = selectServices(ctx.project, services, true).filter((s) => ctx.project.services[s].build);
        const ic = imageContext(ctx, cmd, f.quiet === true);
        for (const s of names) await buildAndShow(ic, ctx.project.services[s], { noCache: f.cache === false, pull: f.pull, buildArgs });
      });
    });

  compose.command('pull').description('Pull service images')
    .option('-q, --quiet', 'Pull without printing progress information')
    .option('--ignore-pull-failures', 'Pull what it can and ignores images with pull failures')
    .option('--include-deps', 'Also pull services declared as dependencies')
    .option('--ignore-buildable', 'Ignore images that can be built')
    
    .argument('[services...]')
    .action(async (services: string[], f: Common & { quiet?: boolean; ignorePullFailures?: boolean; includeDeps?: boolean; ignoreBuildable?: boolean }, cmd: Command) => {
      const ctx = await context(cmd, f, { services });
      if (f.quiet) ctx.progress = new Progress('quiet');
      const ic = imageContext(ctx, cmd, true);
      await run(ctx, async () => {
        const names = selectServices(ctx.project, services, !f.includeDeps).filter((s) => ctx.project.services[s].image && !(f.ignoreBuildable && ctx.project.services[s].build));
        await all(names, async (s) => {
          ctx.progress.event(s, 'working', 'Pulling');
          try {
            await ic.pull(ctx.project.services[s].image!);
            ctx.progress.event(s, 'done', 'Pulled');
          } catch (err) {
            ctx.progress.event(s, f.ignorePullFailures ? 'warning' : 'error', f.ignorePullFailures ? 'Warning' : 'Error');
            if (!f.ignorePullFailures) throw err;
          }
        });
      });
    });

  compose.command('push').description('Push service images')
    .option('--ignore-push-failures', 'Push what it can and ignores images with push failures')
    .option('-q, --quiet', 'Push without printing progress information')
    
    .argument('[services...]')
    .action(async (services: string[], f: Common & { ignorePushFailures?: boolean; quiet?: boolean }, cmd: Command) => {
      const ctx = await context(cmd, f, { services });
      const dir = configDir(globals(cmd).config);
      await run(ctx, async () => {
        const names = selectServices(ctx.project, services, true).filter((s) => ctx.project.services[s].image);
        await all(names, async (s) => {
          const image = serviceImage(ctx.project, ctx.project.services[s]);
          const ref = withDefaultTag(parseNormalizedNamed(image));
          const id = `Image ${image}`;
          ctx.progress.event(id, 'working', 'Pushing');
          try {
            const auth = registryAuthHeader(ref.domain, dir);
            const msgs = await ctx.client.messages<{ error?: string; errorDetail?: { message?: string } }>('POST', `/images/${familiarString({ ...ref, tag: undefined, digest: undefined })}/push`, {
              query: { tag: ref.tag }, headers: { 'X-Registry-Auth': auth ?? Buffer.from('{}').toString('base64url') },
            });
            const bad = msgs.find((m) => m.error !== undefined || m.errorDetail);
            if (bad) throw new Error(bad.errorDetail?.message ?? bad.error);
            ctx.progress.event(id, 'done', 'Pushed');
          } catch (err) {
            ctx.progress.event(id, f.ignorePushFailures ? 'warning' : 'error', f.ignorePushFailures ? 'Warning' : 'Error');
            if (!f.ignorePushFailures) throw err;
          }
        });
      });
    });
}
