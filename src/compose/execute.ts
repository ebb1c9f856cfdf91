// The executor: carries out a plan through one EngineClient. Networks and
// volumes are made together; then every service (and every replica) at the
// same time, each created once its dependencies are created and started once
// they are started and meet their depends_on conditions.
import { ApiError, type EngineClient } from '../client/engine-client.ts';
import { LABEL, type Project, type Service } from './model.ts';
import { containerConfig, projectLabels } from './container-config.ts';
import { dependencyOrder, type Plan, type ServicePlan } from './plan.ts';
import { containerName, type ContainerSummary } from './project-containers.ts';
import { ids, type Progress } from './progress.ts';
import { writeFileObjects } from './file-objects.ts';
import { isDryRun } from './dry-run.ts';

export interface ExecContext {
  client: EngineClient;
  project: Project;
  progress: Progress;
}

/** A dependency that did not meet its condition (unhealthy, failed, timed out). */
export class DependencyError extends Error {}

/** Runs fn over every item at once; waits for all, then throws the first failure. */
export async function all<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(items.map(fn));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** A step shown as `<id>  <working>` then `<id>  <done>`, or `<id>  Error` and the engine's message. */
async function step<T>(ctx: ExecContext, id: string, working: string, done: string, fn: () => Promise<T>): Promise<T> {
  ctx.progress.event(id, 'working', working);
  try {
    const r = await fn();
    ctx.progress.event(id, 'done', done);
    return r;
  } catch (err) {
    ctx.progress.event(id, 'error', 'Error');
    throw err;
  }
}

export async function createResources(ctx: ExecContext, plan: Plan): Promise<void> {
  const { client, project } = ctx;
  await all(plan.networks.filter((n) => n.create), (n) => step(ctx, ids.network(n.name), 'Creating', 'Created', async () => {
    const cfg = project.networks[n.key];
    const ipam = cfg.ipam
      ? { Driver: cfg.ipam.driver ?? 'default', Options: cfg.ipam.options, Config: (cfg.ipam.config ?? []).map((c) => ({ Subnet: c.subnet, IPRange: c.ip_range, Gateway: c.gateway, AuxiliaryAddresses: c.aux_addresses })) }
      : undefined;
    try {
      await client.call('POST', '/networks/create', {
        body: {
          Name: n.name, Driver: cfg.driver ?? 'bridge', Options: cfg.driver_opts ?? {}, Internal: cfg.internal ?? false, Attachable: cfg.attachable ?? false,
          EnableIPv6: cfg.enable_ipv6 ?? false, ...(ipam ? { IPAM: ipam } : {}),
          Labels: { ...(cfg.labels ?? {}), ...projectLabels(project), [LABEL.network]: n.key },
        },
      });
    } catch (err) {
      // Made meanwhile by another up of the same project: that one is used.
      if (!(err instanceof ApiError && err.status === 409)) throw err;
    }
  }));
  await all(plan.volumes.filter((v) => v.create), (v) => step(ctx, ids.volume(v.name), 'Creating', 'Created', async () => {
    const cfg = project.volumes[v.key];
    await client.call('POST', '/volumes/create', {
      body: { Name: v.name, Driver: cfg.driver ?? 'local', DriverOpts: cfg.driver_opts ?? {}, Labels: { ...(cfg.labels ?? {}), ...projectLabels(project), [LABEL.volume]: v.key } },
    });
  }));
}

export interface ConvergeOptions {
  start: boolean;
  /** Image IDs by service, for com.docker.compose.image. */
  images?: Map<string, string>;
  /** Seconds given to a container to stop before it is killed (-t). */
  timeout?: number;
  /** Recreate/remove orphans. */
  removeOrphans?: boolean;
  /** -V: a recreated container gets new anonymous volumes (the old ones go with the old container). */
  renewAnonVolumes?: boolean;
}

/** A container's anonymous volumes (named by the engine: 64 hex digits), by where they are mounted. */
async function anonymousVolumes(ctx: ExecContext, id: string): Promise<Record<string, string>> {
  const c = await ctx.client.call<{ Mounts?: Array<{ Type: string; Name?: string; Destination: string }> }>('GET', `/containers/${id}/json`);
  const out: Record<string, string> = {};
  for (const m of c.Mounts ?? []) if (m.Type === 'volume' && m.Name && /^[0-9a-f]{64}$/.test(m.Name)) out[m.Destination] = m.Name;
  return out;
}

/** Container names of each service's replicas, as known after creation (for service: references). */
class Names {
  private readonly byService = new Map<string, string>();
  constructor(containers: ContainerSummary[]) {
    for (const c of containers) if (c.Labels[LABEL.containerNumber] === '1' && c.Labels[LABEL.oneoff] !== 'True') this.byService.set(c.Labels[LABEL.service], containerName(c));
  }
  set(service: string, name: string): void {
    if (!this.byService.has(service)) this.byService.set(service, name);
  }
  get = (service: string): string | undefined => this.byService.get(service);
}

async function createContainer(ctx: ExecContext, service: Service, n: number, o: ConvergeOptions, names: Names, fileObjects: Record<string, string>, recreate?: { anonymousVolumes?: Record<string, string> }): Promise<string> {
  const replaces = recreate ? (service.container_name ?? `${service.name}-${n}`) : undefined;
  const { name, body } = containerConfig(ctx.project, service, { number: n, imageId: o.images?.get(service.name), fileObjects, containerOf: names.get, anonymousVolumes: recreate?.anonymousVolumes, replaces });
  const res = await ctx.client.call<{ Id: string }>('POST', '/containers/create', { query: { name }, body });
  names.set(service.name, name);
  return res.Id;
}

/** Without -t the container's own StopTimeout (stop_grace_period) applies, as the engine keeps it. */
async function stopContainer(ctx: ExecContext, id: string, timeout: number | undefined): Promise<void> {
  await ctx.client.status('POST', `/containers/${id}/stop`, { query: { t: timeout } });
}

/** The containers each service runs after convergence: IDs and names, for starting, waiting and attaching. */
export type Running = Map<string, Array<{ id: string; name: string }>>;

/**
 * Creates, recreates and removes what the plan says and, if asked, starts
 * the containers: every service at once, each held back only by its own
 * dependencies.
 */
export async function converge(ctx: ExecContext, plan: Plan, o: ConvergeOptions, observed: ContainerSummary[]): Promise<Running> {
  const { client } = ctx;
  const names = new Names(observed);
  const fileObjects = writeFileObjects(ctx.project, process.env, { dryRun: isDryRun(ctx.client) });
  const result: Running = new Map();
  // A cycle (the loader rejects them) fails here instead of leaving tasks waiting on each other.
  dependencyOrder(new Map([...plan.services].map(([k, v]) => [k, v.dependsOn])));
  if (o.removeOrphans) {
    await all(plan.orphans, (c) => step(ctx, ids.container(containerName(c)), 'Removing', 'Removed', async () => {
      if (c.State === 'running') await client.status('POST', `/containers/${c.Id}/stop`, { query: { t: o.timeout } });
      await client.status('DELETE', `/containers/${c.Id}`, { query: { force: true, v: true } });
    }));
  }
  // Each service is a task: created once its dependencies are created (it may
  // refer to their containers), started once they are started and meet their
  // conditions. A service's creation so overlaps its dependencies' starts.
  type Entry = { id: string; name: string; running: boolean; restart: boolean };
  const created = new Map<string, Deferred>();
  const started = new Map<string, Deferred>();
  for (const svc of plan.services.keys()) {
    created.set(svc, deferred());
    started.set(svc, deferred());
  }
  const createService = async (svc: string): Promise<Entry[]> => {
    const sp = plan.services.get(svc)!;
    const containers: Entry[] = [];
    await all(sp.actions, async (a) => {
      if (a.kind === 'create') {
        const id = await step(ctx, ids.container(a.name), 'Creating', 'Created', () => createContainer(ctx, sp.service, a.number, o, names, fileObjects));
        containers.push({ id, name: a.name, running: false, restart: false });
      } else if (a.kind === 'recreate') {
        const id = await step(ctx, ids.container(a.name), 'Recreate', 'Recreated', async () => {
          // The old one goes first: it holds the name, and perhaps host ports and a fixed address.
          const kept = o.renewAnonVolumes ? undefined : await anonymousVolumes(ctx, a.container.Id);
          if (a.container.State === 'running' || a.container.State === 'paused') await stopContainer(ctx, a.container.Id, o.timeout);
          await client.status('DELETE', `/containers/${a.container.Id}`, { query: { force: true, v: o.renewAnonVolumes } });
          return createContainer(ctx, sp.service, a.number, o, names, fileObjects, { anonymousVolumes: kept });
        });
        containers.push({ id, name: a.name, running: false, restart: false });
      } else if (a.kind === 'keep' || a.kind === 'restart') {
        containers.push({ id: a.container.Id, name: containerName(a.container), running: a.container.State === 'running', restart: a.kind === 'restart' });
      } else {
        const name = containerName(a.container);
        if (a.container.State === 'running') await step(ctx, ids.container(name), 'Stopping', 'Stopped', () => stopContainer(ctx, a.container.Id, o.timeout));
        await step(ctx, ids.container(name), 'Removing', 'Removed', () => client.status('DELETE', `/containers/${a.container.Id}`, { query: { force: true } }));
      }
    });
    return containers.sort((x, y) => x.name.localeCompare(y.name, undefined, { numeric: true }));
  };
  const startService = async (svc: string, containers: Entry[]): Promise<void> => {
    await all(containers, async (c) => {
      if (c.restart) {
        await step(ctx, ids.container(c.name), 'Restarting', 'Restarted', () => client.status('POST', `/containers/${c.id}/restart`, { query: { t: o.timeout } }));
      } else if (c.running) {
        ctx.progress.event(ids.container(c.name), 'done', 'Running');
      } else {
        await step(ctx, ids.container(c.name), 'Starting', 'Started', () => client.status('POST', `/containers/${c.id}/start`));
      }
    });
  };
  await all([...plan.services.keys()], async (svc) => {
    const sp = plan.services.get(svc)!;
    try {
      await Promise.all(sp.dependsOn.map((d) => created.get(d)!.promise));
      const containers = await createService(svc);
      result.set(svc, containers.map(({ id, name }) => ({ id, name })));
      created.get(svc)!.resolve();
      if (!o.start) return;
      await Promise.all(sp.dependsOn.map((d) => started.get(d)!.promise));
      await waitForDependencies(ctx, sp, result);
      await startService(svc, containers);
      started.get(svc)!.resolve();
    } catch (err) {
      // Dependents waiting on this service give up with it (their own error is this one's).
      created.get(svc)!.reject(err);
      started.get(svc)!.reject(err);
      throw err;
    }
  });
  return result;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {}); // a rejection nobody awaits (no dependents) is not unhandled
  return { promise, resolve, reject };
}

interface InspectState {
  State: { Status: string; Running: boolean; ExitCode: number; Health?: { Status: string } };
  Config?: { Healthcheck?: { Test?: string[] } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until each dependency of a service meets its depends_on condition. */
async function waitForDependencies(ctx: ExecContext, sp: ServicePlan, running: Running): Promise<void> {
  await all(sp.dependsOn, async (dep) => {
    const cond = sp.service.depends_on[dep].condition;
    if (cond === 'service_started') return;
    await all(running.get(dep) ?? [], (c) => waitForCondition(ctx, dep, c, cond));
  });
}

export async function waitForCondition(ctx: ExecContext, service: string, c: { id: string; name: string }, cond: 'service_healthy' | 'service_completed_successfully' | 'running_or_healthy', deadline = Infinity): Promise<void> {
  const id = ids.container(c.name);
  ctx.progress.event(id, 'working', 'Waiting');
  if (isDryRun(ctx.client)) {
    // Nothing runs in a dry run: every condition counts as met.
    ctx.progress.event(id, 'done', cond === 'service_completed_successfully' ? 'Exited' : 'Healthy');
    return;
  }
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const s = await ctx.client.call<InspectState>('GET', `/containers/${c.id}/json`);
    const health = s.State.Health?.Status;
    if (cond === 'service_completed_successfully') {
      if (!s.State.Running && s.State.Status !== 'created') {
        if (s.State.ExitCode !== 0) {
          ctx.progress.event(id, 'error', 'Error');
          throw new DependencyError(`service "${service}" didn't complete successfully: exit ${s.State.ExitCode}`);
        }
        ctx.progress.event(id, 'done', 'Exited');
        return;
      }
    } else {
      const hasCheck = s.Config?.Healthcheck?.Test && s.Config.Healthcheck.Test[0] !== 'NONE';
      if (cond === 'service_healthy' && !hasCheck) {
        ctx.progress.event(id, 'error', 'Error');
        throw new DependencyError(`container ${c.name} has no healthcheck configured`);
      }
      if (health === 'healthy' || (cond === 'running_or_healthy' && !hasCheck && s.State.Running)) {
        ctx.progress.event(id, 'done', 'Healthy');
        return;
      }
      if (health === 'unhealthy') {
        ctx.progress.event(id, 'error', 'Error');
        throw new DependencyError(`dependency failed to start: container ${c.name} is unhealthy`);
      }
      if (!s.State.Running && s.State.Status === 'exited') {
        ctx.progress.event(id, 'error', 'Error');
        throw new DependencyError(`dependency failed to start: container ${c.name} exited (${s.State.ExitCode})`);
      }
    }
    if (Date.now() > deadline) {
      ctx.progress.event(id, 'error', 'Error');
      throw new DependencyError(`timeout waiting for container ${c.name}`);
    }
    await sleep(delay);
  }
}
