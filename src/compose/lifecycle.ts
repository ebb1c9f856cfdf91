// The lifecycle of a project's existing containers: start, stop, restart,
// kill, pause, remove and `down`, each container shown as it goes.
// Stopping goes in reverse dependency order (dependents first), starting in
// dependency order, as docker compose does.
import { ApiError } from '../client/engine-client.ts';
import { LABEL, type Project } from './model.ts';
import { all, waitForCondition, type ExecContext } from './execute.ts';
import { dependencyOrder, displayName, isOneoff, labelFilter, type ContainerSummary } from './plan.ts';
import { ids } from './progress.ts';
import { removeProjectState } from './file-objects.ts';
import { warningLine } from './warn.ts';

export interface Selection {
  services?: string[];
  /** One-off (run) containers: excluded unless asked. */
  oneoff?: 'exclude' | 'include' | 'only';
  all?: boolean;
}

export async function projectContainers(ctx: ExecContext, s: Selection = {}): Promise<ContainerSummary[]> {
  const list = await ctx.client.call<ContainerSummary[]>('GET', '/containers/json', { query: { all: s.all ?? true, filters: labelFilter(`${LABEL.project}=${ctx.project.name}`) } });
  const wanted = s.services?.length ? new Set(s.services) : undefined;
  for (const name of s.services ?? []) {
    if (!ctx.project.services[name] && !ctx.project.disabledServices[name] && !list.some((c) => c.Labels[LABEL.service] === name)) throw new Error(`no such service: ${name}`);
  }
  return list
    .filter((c) => !wanted || wanted.has(c.Labels[LABEL.service]))
    .filter((c) => (s.oneoff === 'include' ? true : s.oneoff === 'only' ? isOneoff(c) : !isOneoff(c)))
    .sort((a, b) => displayName(a).localeCompare(displayName(b), undefined, { numeric: true }));
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
      const id = ids.container(displayName(c));
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

/** start: dependencies first, each service once its dependencies meet their conditions. */
export async function startContainers(ctx: ExecContext, containers: ContainerSummary[]): Promise<void> {
  for (const w of waves(ctx.project, containers)) {
    await all(w, async (c) => {
      const svc = ctx.project.services[c.Labels[LABEL.service]];
      for (const [dep, d] of Object.entries(svc?.depends_on ?? {})) {
        if (d.condition === 'service_started') continue;
        const depContainers = containers.filter((x) => x.Labels[LABEL.service] === dep);
        await all(depContainers, (x) => waitForCondition(ctx, dep, { id: x.Id, name: displayName(x) }, d.condition as 'service_healthy'));
      }
      const id = ids.container(displayName(c));
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

/** `down`: containers, networks, and (with -v/--rmi) volumes and images of the project; a project that does not exist is a no-op. */
export async function down(ctx: ExecContext, o: DownOptions): Promise<{ removed: number }> {
  const { client, project } = ctx;
  const containers = (await projectContainers(ctx, { oneoff: 'include' }))
    .filter((c) => !o.haveModel || o.removeOrphans || project.services[c.Labels[LABEL.service]] || project.disabledServices[c.Labels[LABEL.service]]);
  const orphans = o.haveModel && !o.removeOrphans
    ? (await projectContainers(ctx, { oneoff: 'exclude' })).filter((c) => !project.services[c.Labels[LABEL.service]] && !project.disabledServices[c.Labels[LABEL.service]])
    : [];
  if (orphans.length) {
    ctx.progress.message(warningLine(`Found orphan containers ([${orphans.map(displayName).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`, process.stderr.isTTY === true));
  }
  let removed = 0;
  // Anonymous volumes, removed with -v: a recreated container mounts its predecessor's by name, so the
  // engine's v=1 would not count them as the container's own.
  const anonymous = new Set(containers.flatMap((c) => (c.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Name && /^[0-9a-f]{64}$/.test(m.Name)).map((m) => m.Name!)));
  const ws = waves(project, containers).reverse();
  for (const w of ws) {
    await all(w, async (c) => {
      const id = ids.container(displayName(c));
      if (c.State === 'running' || c.State === 'paused' || c.State === 'restarting') {
        ctx.progress.event(id, 'working', 'Stopping');
        await client.status('POST', `/containers/${c.Id}/stop`, { query: { t: o.timeout } });
        ctx.progress.event(id, 'done', 'Stopped');
      }
      ctx.progress.event(id, 'working', 'Removing');
      await client.status('DELETE', `/containers/${c.Id}`, { query: { force: true, v: o.volumes } });
      ctx.progress.event(id, 'done', 'Removed');
      removed++;
    });
  }

  // Networks: the model's own (not external); without a model, those labelled with the project.
  const nets = await client.call<Array<{ Name: string; Id: string; Labels?: Record<string, string> | null }>>('GET', '/networks', { query: { filters: labelFilter(`${LABEL.project}=${project.name}`) } });
  const netNames = o.haveModel
    ? Object.values(project.networks).filter((n) => !n.external).map((n) => n.name)
    : nets.map((n) => n.Name);
  const present = new Set((await client.call<Array<{ Name: string }>>('GET', '/networks')).map((n) => n.Name));
  await all(netNames.filter((n) => present.has(n)), async (n) => {
    const id = ids.network(n);
    ctx.progress.event(id, 'working', 'Removing');
    try {
      await client.status('DELETE', `/networks/${encodeURIComponent(n)}`);
      ctx.progress.event(id, 'done', 'Removed');
      removed++;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return;
      // Still used by containers outside the project: left, as compose leaves it, with a warning.
      ctx.progress.event(id, 'warning', 'Resource is still in use');
    }
  });

  if (o.volumes) {
    await all([...anonymous], async (n) => {
      try {
        await client.status('DELETE', `/volumes/${n}`);
      } catch (err) {
        // Gone with its container already, or still used by a container of another project.
        if (!(err instanceof ApiError && (err.status === 404 || err.status === 409))) throw err;
      }
    });
    const vols = await client.call<{ Volumes: Array<{ Name: string; Labels?: Record<string, string> | null }> | null }>('GET', '/volumes', { query: { filters: labelFilter(`${LABEL.project}=${project.name}`) } });
    const labelled = (vols.Volumes ?? []).map((v) => v.Name);
    const declared = o.haveModel ? Object.values(project.volumes).filter((v) => !v.external).map((v) => v.name) : [];
    const names = [...new Set([...declared, ...labelled])];
    await all(names, async (n) => {
      const id = ids.volume(n);
      if (!labelled.includes(n) && !(await volumeExists(ctx, n))) return;
      ctx.progress.event(id, 'working', 'Removing');
      try {
        await client.status('DELETE', `/volumes/${encodeURIComponent(n)}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return;
        ctx.progress.event(id, 'warning', 'Resource is still in use');
        return;
      }
      ctx.progress.event(id, 'done', 'Removed');
      removed++;
    });
  }

  if (o.rmi && o.haveModel) {
    const images = new Set<string>();
    for (const s of Object.values(project.services)) {
      // local: only images without a name of their own (built as <project>-<service>).
      if (o.rmi === 'all' || !s.image) images.add(s.image ?? `${project.name}-${s.name}`);
    }
    await all([...images], async (ref) => {
      const id = ids.image(ref);
      try {
        await client.call('DELETE', `/images/${encodeURIComponent(ref)}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return;
        ctx.progress.event(id, 'error', 'Error');
        throw err;
      }
      ctx.progress.event(id, 'done', 'Removed');
      removed++;
    });
  }
  removeProjectState(project.name);
  return { removed };
}

async function volumeExists(ctx: ExecContext, name: string): Promise<boolean> {
  try {
    await ctx.client.call('GET', `/volumes/${encodeURIComponent(name)}`);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}
