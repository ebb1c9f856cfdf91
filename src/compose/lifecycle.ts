// The lifecycle of a project's existing containers: start, stop, restart,
// kill, pause, remove and `down`, each container shown as it goes.
// Stopping goes in reverse dependency order (dependents first), starting in
// dependency order, as docker compose does.
import { ApiError } from '../client/engine-client.ts';
import { LABEL, type Project } from './model.ts';
import { all, waitForCondition, type ExecContext } from './execute.ts';
import { dependencyOrder, labelFilter } from './plan.ts';
import { containerName, isOneoff, projectContainers, type ContainerSummary, type OneOff } from './project-containers.ts';
import { ids } from './progress.ts';
import { removeProjectState } from './file-objects.ts';
import { isDryRun } from './dry-run.ts';

export interface Selection {
  services?: string[];
  /** One-off (run) containers: excluded unless asked. */
  oneoff?: OneOff;
  all?: boolean;
}

/** The project's containers a lifecycle command acts on (stopped ones too unless asked); a service neither the model nor the engine knows is an error. */
export async function selectContainers(ctx: ExecContext, s: Selection = {}): Promise<ContainerSummary[]> {
  const list = await projectContainers(ctx.client, ctx.project.name, { all: s.all ?? true, services: s.services, oneoff: s.oneoff });
  for (const name of s.services ?? []) {
    if (!ctx.project.services[name] && !ctx.project.disabledServices[name] && !list.some((c) => c.Labels[LABEL.service] === name)) throw new Error(`no such service: ${name}`);
  }
  return list;
}

/** Containers grouped in dependency waves of their services (services unknown to the model come last). */
function waves(project: Project, containers: ContainerSummary[]): ContainerSummary[][] {
  const bySvc = new Map<string, ContainerSummary[]>();
  for (const c of containers) {
    const s = c.Labels[LABEL.service] ?? '';
    (bySvc.get(s) ?? bySvc.set(s, []).get(s)!).push(c);
  }
  const deps = new Map<string, string[]>();
  for (const s of bySvc.keys()) deps.set(s, Object.keys(project.services[s]?.depends_on ?? {}).filter((d) => bySvc.has(d)));
  let order: string[][];
  try {
    order = dependencyOrder(deps);
  } catch {
    order = [[...bySvc.keys()]];
  }
  return order.map((w) => w.flatMap((s) => bySvc.get(s) ?? []));
}

export type Verb = { working: string; done: string; call: (c: ContainerSummary) => Promise<unknown> };

/** Runs a verb over containers wave by wave; reverse for stopping (dependents first). */
export async function inOrder(ctx: ExecContext, containers: ContainerSummary[], verb: Verb, reverse: boolean): Promise<void> {
  const ws = waves(ctx.project, containers);
  if (reverse) ws.reverse();
  for (const w of ws) {
    await all(w, async (c) => {
      const id = ids.container(containerName(c));
      ctx.progress.event(id, 'working', verb.working);
      try {
        await verb.call(c);
      } catch (err) {
        ctx.progress.event(id, 'error', 'Error');
        throw err;
      }
      ctx.progress.event(id, 'done', verb.done);
    });
  }
}

export const verbs = {
  stop: (ctx: ExecContext, t?: number): Verb => ({ working: 'Stopping', done: 'Stopped', call: (c) => ctx.client.status('POST', `/containers/${c.Id}/stop`, { query: { t } }) }),
  restart: (ctx: ExecContext, t?: number): Verb => ({ working: 'Restarting', done: 'Started', call: (c) => ctx.client.status('POST', `/containers/${c.Id}/restart`, { query: { t } }) }),
  kill: (ctx: ExecContext, signal?: string): Verb => ({ working: 'Killing', done: 'Killed', call: (c) => ctx.client.status('POST', `/containers/${c.Id}/kill`, { query: { signal } }) }),
  pause: (ctx: ExecContext): Verb => ({ working: 'Pausing', done: 'Paused', call: (c) => ctx.client.status('POST', `/containers/${c.Id}/pause`) }),
  unpause: (ctx: ExecContext): Verb => ({ working: 'Unpausing', done: 'Unpaused', call: (c) => ctx.client.status('POST', `/containers/${c.Id}/unpause`) }),
  remove: (ctx: ExecContext, o: { force?: boolean; volumes?: boolean }): Verb => ({
    working: 'Removing', done: 'Removed',
    call: (c) => ctx.client.status('DELETE', `/containers/${c.Id}`, { query: { force: o.force, v: o.volumes } }),
  }),
};

/** The services and, transitively, those declaring `depends_on: {<one of them>: {restart: true}}`. */
export function restartDependents(project: Project, services: string[]): string[] {
  const out = new Set(services);
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, svc] of Object.entries(project.services)) {
      if (out.has(name)) continue;
      if (Object.entries(svc.depends_on).some(([dep, d]) => d.restart === true && out.has(dep))) {
        out.add(name);
        grew = true;
      }
    }
  }
  return [...out];
}

/** start: dependencies first, each service once its dependencies meet their conditions. */
export async function startContainers(ctx: ExecContext, containers: ContainerSummary[]): Promise<void> {
  for (const w of waves(ctx.project, containers)) {
    await all(w, async (c) => {
      const svc = ctx.project.services[c.Labels[LABEL.service]];
      for (const [dep, d] of Object.entries(svc?.depends_on ?? {})) {
        if (d.condition === 'service_started') continue;
        const depContainers = containers.filter((x) => x.Labels[LABEL.service] === dep);
        await all(depContainers, (x) => waitForCondition(ctx, dep, { id: x.Id, name: containerName(x) }, d.condition as 'service_healthy'));
      }
      const id = ids.container(containerName(c));
      if (c.State === 'running') return;
      ctx.progress.event(id, 'working', 'Starting');
      try {
        await ctx.client.status('POST', `/containers/${c.Id}/start`);
      } catch (err) {
        ctx.progress.event(id, 'error', 'Error');
        throw err;
      }
      ctx.progress.event(id, 'done', 'Started');
    });
  }
}

export interface DownOptions {
  volumes?: boolean;
  rmi?: 'local' | 'all';
  removeOrphans?: boolean;
  timeout?: number;
  /** The model came from a file; false when only the name is known (`down -p x` without a file). */
  haveModel: boolean;
}

/** An event for a resource whose step may fail; failures are reported against it, then thrown. */
async function removal(ctx: ExecContext, id: string, fn: () => Promise<unknown>): Promise<void> {
  ctx.progress.event(id, 'working', 'Removing');
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      ctx.progress.event(id, 'done', 'Warning: No resource found to remove');
      return;
    }
    if (err instanceof ApiError && err.status === 409) {
      ctx.progress.event(id, 'warning', 'Resource is still in use');
      return;
    }
    ctx.progress.event(id, 'error', 'Error');
    throw err;
  }
  ctx.progress.event(id, 'done', 'Removed');
}

/**
 * `down`, as docker compose does it: the services' containers stopped and
 * removed in reverse dependency order (one-off and orphaned ones too with
 * --remove-orphans), then at once the project's networks, with --rmi its
 * images, with -v its volumes (and every anonymous volume its containers
 * mounted). Without a compose file the project is what the engine has under
 * its label. Nothing found at all is a warning, not an error.
 */
export async function down(ctx: ExecContext, o: DownOptions): Promise<void> {
  const { client, project } = ctx;
  const all_ = await selectContainers(ctx, { oneoff: o.removeOrphans ? 'include' : 'exclude' });
  const known = (c: ContainerSummary) => !o.haveModel || !!project.services[c.Labels[LABEL.service]] || !!project.disabledServices[c.Labels[LABEL.service]];
  const containers = all_.filter((c) => known(c) && !isOneoff(c));
  const orphans = o.removeOrphans ? all_.filter((c) => !known(c) || isOneoff(c)) : [];
  // A recreated container mounts its predecessor's anonymous volume by name, which the engine's v=1 leaves.
  const anonymous = new Set([...containers, ...orphans].flatMap((c) => c.Mounts.filter((m) => m.Type === 'volume' && m.Name && /^[0-9a-f]{64}$/.test(m.Name)).map((m) => m.Name!)));
  // Dependents must be stopped before what they depend on; their removal need not hold the next wave back.
  const removals: Array<Promise<void>> = [];
  const stopThenRemove = async (c: ContainerSummary, volumes: boolean): Promise<void> => {
    const id = ids.container(containerName(c));
    ctx.progress.event(id, 'working', 'Stopping');
    try {
      await client.status('POST', `/containers/${c.Id}/stop`, { query: { t: o.timeout } });
    } catch (err) {
      ctx.progress.event(id, 'error', 'Error while Stopping');
      throw err;
    }
    ctx.progress.event(id, 'done', 'Stopped');
    const removal = (async () => {
      ctx.progress.event(id, 'working', 'Removing');
      try {
        await client.status('DELETE', `/containers/${c.Id}`, { query: { force: true, v: volumes } });
      } catch (err) {
        if (!(err instanceof ApiError && (err.status === 404 || err.status === 409))) {
          ctx.progress.event(id, 'error', 'Error while Removing');
          throw err;
        }
      }
      ctx.progress.event(id, 'done', 'Removed');
    })();
    removal.catch(() => {}); // awaited below, with the others
    removals.push(removal);
  };
  for (const w of waves(project, containers).reverse()) await all(w, (c) => stopThenRemove(c, o.volumes === true));
  await all(orphans, (c) => stopThenRemove(c, false));
  await all(removals, (r) => r);

  const ops: Array<() => Promise<void>> = [];
  // Networks: the model's own (not external), or without a model those labelled with the project.
  const labelled = await client.call<Array<{ Name: string; Labels?: Record<string, string> | null }>>('GET', '/networks', { query: { filters: labelFilter(`${LABEL.project}=${project.name}`) } });
  const networks = o.haveModel ? Object.values(project.networks).filter((n) => !n.external).map((n) => n.name) : labelled.map((n) => n.Name);
  for (const n of networks) {
    // Only a network the project made (its labels say so) is removed, as compose checks.
    if (!labelled.some((x) => x.Name === n)) continue;
    ops.push(() => removal(ctx, ids.network(n), () => client.status('DELETE', `/networks/${encodeURIComponent(n)}`)));
  }
  if (o.rmi) {
    const images = new Set<string>();
    for (const s of Object.values(project.services)) {
      // local: only images without a name of their own (built as <project>-<service>).
      if (o.rmi === 'all' || !s.image) images.add(s.image ?? `${project.name}-${s.name}`);
    }
    if (!o.haveModel) for (const c of containers) if (o.rmi === 'all') images.add(c.Image);
    for (const ref of images) ops.push(() => removal(ctx, ids.image(ref), () => client.call('DELETE', `/images/${encodeURIComponent(ref)}`)));
  }
  if (o.volumes) {
    const vols = await client.call<{ Volumes: Array<{ Name: string }> | null }>('GET', '/volumes', { query: { filters: labelFilter(`${LABEL.project}=${project.name}`) } });
    const names = o.haveModel ? Object.values(project.volumes).filter((v) => !v.external).map((v) => v.name) : (vols.Volumes ?? []).map((v) => v.Name);
    for (const n of names) ops.push(() => removal(ctx, `Volume ${n}`, () => client.status('DELETE', `/volumes/${encodeURIComponent(n)}`, { query: { force: true } })));
    for (const n of anonymous) {
      ops.push(async () => {
        try {
          await client.status('DELETE', `/volumes/${n}`);
        } catch (err) {
          // Gone with its container already, or still used by a container of another project.
          if (!(err instanceof ApiError && (err.status === 404 || err.status === 409))) throw err;
        }
      });
    }
  }
  // compose counts the model's networks as work even when absent: with a file, only an empty model warns.
  if (containers.length === 0 && orphans.length === 0 && ops.length === 0 && !(o.haveModel && networks.length > 0)) {
    process.stderr.write(`Warning: No resource found to remove for project ${JSON.stringify(project.name)}.\n`);
  }
  await all(ops, (op) => op());
  if (!isDryRun(client)) removeProjectState(project.name);
}
