// `compose run`: a one-off container of a service, as docker compose v2 makes
// it — named `<project>-<service>-run-<id>`, labelled oneoff=True with a
// slug, no restart policy, the service's ports only with --service-ports,
// its network aliases only with --use-aliases — after starting what the
// service depends on (unless --no-deps) through the planner and executor.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { ApiError, type EngineClient } from '../../client/engine-client.ts';
import { LABEL, type Project, type Service } from '../../compose/model.ts';
import { containerConfig } from '../../compose/container-config.ts';
import { converge, createResources, waitForCondition, type ExecContext } from '../../compose/execute.ts';
import { ensureImages } from '../../compose/images.ts';
import { observe, planUp, selectServices } from '../../compose/plan.ts';
import { Progress } from '../../compose/progress.ts';
import { writeFileObjects } from '../../compose/file-objects.ts';
import { parsePortSpec, parseVolumeSpec } from '../../compose/load/short-syntax.ts';
import { splitShellWords } from '../../compose/load/shell-words.ts';
import { clientFor, CliError, StatusError } from '../context.ts';
import { resolveProject } from '../compose-project.ts';
import { collect, globals } from '../options.ts';
import { pullImage } from '../pull.ts';
import { copyOutput, followResize, pumpStdin, withRawTerminal } from '../streams.ts';

interface RunFlags {
  detach?: boolean; rm?: boolean; env?: string[]; label?: string[]; name?: string; user?: string; workdir?: string;
  entrypoint?: string; deps: boolean; volume?: string[]; publish?: string[]; servicePorts?: boolean; tty: boolean;
  interactive: boolean; useAliases?: boolean; quietPull?: boolean; capAdd?: string[]; capDrop?: string[]; progress?: string;
}

/** The service as the one-off runs it: docker compose's applyRunOptions. */
function oneOffService(project: Project, base: Service, command: string[], f: RunFlags, tty: boolean): Service {
  const s: Service = { ...base, environment: { ...base.environment }, labels: { ...base.labels } };
  s.tty = tty;
  s.stdin_open = f.interactive;
  if (command.length) s.command = command;
  if (f.user) s.user = f.user;
  if (f.workdir) s.working_dir = f.workdir;
  if (f.entrypoint !== undefined) {
    s.entrypoint = splitShellWords(f.entrypoint);
    if (!command.length) s.command = [];
  }
  if (f.capAdd?.length) {
    s.cap_add = [...(s.cap_add ?? []), ...f.capAdd];
    s.cap_drop = s.cap_drop?.filter((c) => !f.capAdd?.includes(c));
  }
  if (f.capDrop?.length) {
    s.cap_drop = [...(s.cap_drop ?? []), ...f.capDrop];
    s.cap_add = s.cap_add?.filter((c) => !f.capDrop?.includes(c));
  }
  for (const e of f.env ?? []) {
    const eq = e.indexOf('=');
    if (eq >= 0) s.environment[e.slice(0, eq)] = e.slice(eq + 1);
    else {
      // A bare name takes its value from the shell (or .env); unset, it is left out.
      const v = process.env[e] ?? project.environment[e];
      if (v !== undefined) s.environment[e] = v;
    }
  }
  for (const l of f.label ?? []) {
    const eq = l.indexOf('=');
    s.labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  if (!f.servicePorts) s.ports = (f.publish ?? []).flatMap((p) => parsePortSpec(p));
  if (f.volume?.length) s.volumes = [...s.volumes, ...f.volume.map((v) => parseVolumeSpec(v, project.workingDir, process.env.HOME))];
  s.restart = undefined;
  s.scale = 1;
  if (s.deploy) s.deploy = { ...s.deploy, restart_policy: undefined };
  return s;
}

/** Starts what the service depends on, as `up -d` of those services would, and waits for their conditions. */
async function startDependencies(ctx: ExecContext, service: Service, imageCtx: Parameters<typeof ensureImages>[0], noDeps: boolean): Promise<void> {
  const { client, project } = ctx;
  const before = await observe(client, project.name);
  // Networks and volumes of the service itself are needed even with --no-deps.
  await createResources(ctx, planUp(project, before, { services: [service.name], noDeps: true }));
  const deps = noDeps ? [] : selectServices(project, [service.name]).filter((n) => n !== service.name);
  if (deps.length === 0) return;
  const observed = await observe(client, project.name);
  const plan = planUp(project, observed, { services: deps });
  const needImages = [...plan.services.values()].filter((sp) => sp.actions.some((a) => a.kind === 'create' || a.kind === 'recreate')).map((sp) => sp.service);
  const images = await ensureImages(imageCtx, needImages);
  await createResources(ctx, plan);
  const running = await converge(ctx, plan, { start: true, images }, observed.containers);
  for (const [dep, cond] of Object.entries(service.depends_on)) {
    if (cond.condition === 'service_started') continue;
    for (const c of running.get(dep) ?? []) await waitForCondition(ctx, dep, c, cond.condition);
  }
}

async function attachAndRun(client: EngineClient, id: string, o: { stdin: boolean; tty: boolean; rm: boolean }): Promise<number> {
  return withRawTerminal(o.tty && o.stdin, async () => {
    const { socket, contentType } = await client.hijack(`/containers/${id}/attach`, { query: { stream: true, stdin: o.stdin, stdout: true, stderr: true } });
    const ended = copyOutput(socket, o.tty || contentType.includes('raw-stream'));
    if (o.stdin) pumpStdin(socket);
    // Registered before the start, so a fast exit is never missed.
    const waitRes = await client.stream('POST', `/containers/${id}/wait`, { query: { condition: o.rm ? 'removed' : 'next-exit' } });
    const waited = (async () => {
      let text = '';
      for await (const c of waitRes) text += String(c);
      return JSON.parse(text) as { StatusCode: number };
    })();
    await client.status('POST', `/containers/${id}/start`);
    const stopResize = o.tty ? followResize((h, w) => client.status('POST', `/containers/${id}/resize`, { query: { h, w } })) : () => {};
    await ended;
    stopResize();
    return (await waited).StatusCode;
  });
}

async function runOneOff(cmd: Command, service: string, command: string[], f: RunFlags): Promise<number> {
  if (f.publish?.length && f.servicePorts) throw new CliError('--service-ports and --publish are incompatible', 1);
  const project = (await resolveProject(cmd, 'model')).project;
  const base = project.services[service];
  if (!base) throw new CliError(`no such service: ${service}`, 1);
  const client = await clientFor(globals(cmd));
  // A tty by default, but only when this side has one (compose's rule for scripts).
  const tty = f.tty && process.stdin.isTTY === true;
  const progress = new Progress(f.progress === 'quiet' ? 'quiet' : f.progress === 'plain' ? 'plain' : 'auto');
  const ctx: ExecContext = { client, project, progress };
  const config = globals(cmd).config;
  const imageCtx = { ...ctx, pull: async (image: string) => { await pullImage(client, image, { quiet: true, out: process.stderr, config }); } };
  const svc = oneOffService(project, base, command, f, tty);
  let id: string;
  try {
    await startDependencies(ctx, svc, imageCtx, f.deps === false);
    const images = await ensureImages(imageCtx, [svc]);
    progress.stop();
    const slug = randomBytes(32).toString('hex');
    svc.container_name = f.name ?? `${project.name}-${service}-run-${slug.slice(0, 12)}`;
    const running = await observe(client, project.name);
    const first = (s: string) => running.containers.find((c) => c.Labels[LABEL.service] === s && c.Labels[LABEL.oneoff] !== 'True')?.Names[0]?.replace(/^\//, '');
    const { name, body } = containerConfig(project, svc, { number: 1, oneoff: true, imageId: images.get(service), fileObjects: writeFileObjects(project), containerOf: first });
    // One-off containers carry a slug and no replica number.
    delete body.Labels[LABEL.containerNumber];
    body.Labels['com.docker.compose.slug'] = slug;
    if (!f.useAliases) for (const ep of Object.values(body.NetworkingConfig?.EndpointsConfig ?? {})) delete ep.Aliases;
    if (f.rm) body.HostConfig.AutoRemove = true;
    const stdin = f.interactive && !f.detach;
    const create = { ...body, OpenStdin: f.interactive, AttachStdin: stdin, StdinOnce: stdin };
    ({ Id: id } = await client.call<{ Id: string }>('POST', '/containers/create', { query: { name }, body: create }));
  } catch (err) {
    progress.stop();
    if (err instanceof CliError) throw err;
    throw new CliError(err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message, 1);
  }
  if (f.detach) {
    await client.status('POST', `/containers/${id}/start`);
    process.stdout.write(id + '\n');
    return 0;
  }
  const code = await attachAndRun(client, id, { stdin: f.interactive, tty, rm: f.rm === true });
  process.stdin.pause();
  return code;
}

export function registerComposeRunCommands(compose: Command): void {
  compose.command('run')
    .description('Run a one-off command on a service')
    .argument('<service>')
    .argument('[command...]')
    .option('-d, --detach', 'Run container in background and print container ID')
    .option('-e, --env <env>', 'Set environment variables', collect)
    .option('-l, --label <label>', 'Add or override a label', collect)
    .option('--rm', 'Automatically remove the container when it exits')
    .option('-T, --no-tty', 'Disable pseudo-TTY allocation (default: auto-detected)')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--name <name>', 'Assign a name to the container')
    .option('-u, --user <user>', 'Run as specified username or uid')
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .option('--entrypoint <cmd>', 'Override the entrypoint of the image')
    .option('--cap-add <cap>', 'Add Linux capabilities', collect)
    .option('--cap-drop <cap>', 'Drop Linux capabilities', collect)
    .option('--no-deps', "Don't start linked services")
    .option('-v, --volume <volume>', 'Bind mount a volume', collect)
    .option('-p, --publish <port>', "Publish a container's port(s) to the host", collect)
    .option('-P, --service-ports', "Run command with all service's ports enabled and mapped to the host")
    .option('--use-aliases', "Use the service's network useAliases in the network(s) the container connects to")
    .option('-i, --interactive', 'Keep STDIN open even if not attached', true)
    .option('--no-interactive', 'Do not keep STDIN open')
    .option('--quiet-pull', 'Pull without printing progress information')
    .option('--progress <type>', 'Set type of progress output (auto, tty, plain, json, quiet)')
    .passThroughOptions()
    .action(async (service: string, command: string[], f: RunFlags, cmd: Command) => {
      const code = await runOneOff(cmd, service, command, f);
      if (code !== 0) throw new StatusError(code);
    });
}
