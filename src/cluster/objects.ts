// The swarm objects as the API serves them: lookups by ID, name or ID
// prefix with dockerd's not-found and ambiguity words, list filters, and the
// writes a manager accepts (service create, update, remove).
import { ConflictError, InvalidArgumentError, NotFoundError, NotImplementedError } from '../errors.ts';
import { labelsMatch } from '../api/filters.ts';
import { KEYS, type ClusterStore } from './store.ts';
import { allocatePorts, endpointView, resolveSpecNetworks } from './network-agent.ts';
import { jobStatusCounts } from './jobs.ts';
import { modeOf, newId, normalizeSpec, replicasOf, specForm, validateServiceSpec } from './spec.ts';
import { terminal, type ClusterRecord, type NodeRecord, type ServiceRecord, type ServiceSpec, type TaskRecord } from './types.ts';

export type Filters = Record<string, string[]>;

function checkKeys(filters: Filters, allowed: string[]): void {
  for (const k of Object.keys(filters)) if (!allowed.includes(k)) throw new InvalidArgumentError(`invalid filter '${k}'`);
}

/** dockerd's lookup order: full ID, then exact name, then a unique ID prefix. */
export function lookup<T extends { ID: string }>(kind: string, ref: string, all: T[], nameOf: (o: T) => string): T {
  const byId = all.find((o) => o.ID === ref);
  if (byId) return byId;
  const byName = all.filter((o) => nameOf(o) === ref);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) throw new InvalidArgumentError(`${kind} ${ref} is ambiguous (${byName.length} matches found)`);
  const byPrefix = all.filter((o) => o.ID.startsWith(ref));
  if (byPrefix.length === 1 && ref) return byPrefix[0];
  if (byPrefix.length > 1 && ref) throw new InvalidArgumentError(`${kind} ${ref} is ambiguous (${byPrefix.length} matches found)`);
  throw new NotFoundError(`${kind} ${ref} not found`);
}

function anyPrefix(values: string[] | undefined, v: string): boolean {
  return !values?.length || values.some((p) => v.startsWith(p));
}

function anyOf(values: string[] | undefined, v: string): boolean {
  return !values?.length || values.includes(v);
}

export class ClusterObjects {
  private readonly store: ClusterStore;
  readonly nodeId: string;

  constructor(store: ClusterStore, nodeId: string) {
    this.store = store;
    this.nodeId = nodeId;
  }

  async cluster(): Promise<ClusterRecord> {
    const c = await this.store.get<ClusterRecord>(KEYS.cluster);
    if (!c) throw new NotFoundError('swarm not found');
    return c;
  }

  // --- nodes ---

  async nodes(filters: Filters = {}): Promise<NodeRecord[]> {
    checkKeys(filters, ['id', 'label', 'membership', 'name', 'node.label', 'role']);
    const [nodes, beats, leader] = await Promise.all([this.store.list<NodeRecord>(KEYS.nodes), this.store.keys(KEYS.heartbeats), this.store.getString(KEYS.leader)]);
    const alive = new Set(beats.map((kv) => kv.value.toString('utf8')));
    return nodes.map((n) => {
      // Ready while its heartbeat's lease lives; the leader is who holds the leader key.
      n.Status = { ...n.Status, State: alive.has(n.ID) ? 'ready' : 'down' };
      if (n.ManagerStatus) n.ManagerStatus = { ...n.ManagerStatus, Leader: n.ID === leader || undefined, Reachability: alive.has(n.ID) ? 'reachable' : 'unreachable' };
      if (!n.ManagerStatus?.Leader && n.ManagerStatus) delete n.ManagerStatus.Leader;
      return n;
    }).filter((n) => anyPrefix(filters.id, n.ID) && anyPrefix(filters.name, n.Description.Hostname)
      && anyOf(filters.role, n.Spec.Role) && anyOf(filters.membership, 'accepted')
      && labelsMatch(n.Spec.Labels, filters['node.label'] ?? []) && labelsMatch((n.Description.Engine as { Labels?: Record<string, string> } | undefined)?.Labels ?? {}, filters.label ?? []));
  }

  async node(ref: string): Promise<NodeRecord> {
    return lookup('node', ref, await this.nodes(), (n) => n.Description.Hostname);
  }

  // --- services ---

  async services(filters: Filters = {}, withStatus = false): Promise<ServiceRecord[]> {
    checkKeys(filters, ['id', 'label', 'mode', 'name']);
    const all = await this.store.list<ServiceRecord>(KEYS.services);
    const out = all.filter((s) => anyPrefix(filters.id, s.ID) && anyPrefix(filters.name, s.Spec.Name)
      && anyOf(filters.mode, modeOf(s.Spec)) && labelsMatch(s.Spec.Labels ?? {}, filters.label ?? []));
    // Its published ports and VIPs, as swarm's allocator fills Endpoint in.
    if (out.length) await endpointView(this.store, out);
    if (withStatus) {
      const tasks = await this.store.list<TaskRecord>(KEYS.tasks);
      const nodes = await this.nodes();
      const ready = new Set(nodes.filter((n) => n.Status.State === 'ready').map((n) => n.ID));
      for (const s of out) {
        const own = tasks.filter((t) => t.ServiceID === s.ID);
        s.ServiceStatus = {
          RunningTasks: own.filter((t) => t.Status.State === 'running' && t.NodeID && ready.has(t.NodeID)).length,
          // As dockerd: a global service wants one task per node its tasks are meant to run on.
          DesiredTasks: modeOf(s.Spec) === 'global'
            ? own.filter((t) => t.DesiredState === 'running' && t.NodeID && ready.has(t.NodeID)).length
            : replicasOf(s.Spec),
          CompletedTasks: 0,
        };
        if (s.JobStatus) {
          const { desired, completed } = jobStatusCounts(s, own, ready.size);
          s.ServiceStatus.DesiredTasks = desired;
          s.ServiceStatus.CompletedTasks = completed;
        }
      }
    }
    return out.sort((a, b) => (a.CreatedAt < b.CreatedAt ? -1 : 1));
  }

  async service(ref: string): Promise<ServiceRecord> {
    return lookup('service', ref, await this.services(), (s) => s.Spec.Name);
  }

  /** The secrets and configs a spec names must exist (secrets.ts sets this). */
  checkReferences?: (spec: ServiceSpec) => Promise<void>;

  async createService(spec: ServiceSpec): Promise<{ ID: string; Warnings: string[] | null }> {
    validateServiceSpec(spec);
    await resolveSpecNetworks(this.store, spec);
    await allocatePorts(this.store, spec);
    await this.checkReferences?.(spec);
    const now = new Date().toISOString();
    const svc: Omit<ServiceRecord, 'Version'> = {
      ID: newId(), CreatedAt: now, UpdatedAt: now, Spec: normalizeSpec(spec),
      Endpoint: { Spec: (spec.EndpointSpec as Record<string, unknown> | undefined) ?? {} },
    };
    // As swarm: a job starts at iteration 0; each update of it is a new execution.
    if (modeOf(spec) === 'replicated-job' || modeOf(spec) === 'global-job') svc.JobStatus = { JobIteration: { Index: 0 }, LastExecution: now };
    if (!(await this.store.createNamed(KEYS.serviceNames + svc.Spec.Name, KEYS.services + svc.ID, svc))) {
      // swarm's words: the name index's error, then which service it was.
      throw new ConflictError(`rpc error: code = AlreadyExists desc = name conflicts with an existing object: service ${svc.Spec.Name} already exists`);
    }
    return { ID: svc.ID, Warnings: null };
  }

  /** A new spec, or (rollback) the previous one back, as swarm's UpdateService. */
  async updateService(ref: string, version: number, spec: ServiceSpec, rollback = false): Promise<{ Warnings: string[] | null }> {
    const svc = await this.service(ref);
    validateServiceSpec(spec);
    await this.checkReferences?.(spec);
    if (modeOf(spec) !== modeOf(svc.Spec)) throw new NotImplementedError('rpc error: code = Unimplemented desc = service mode change is not allowed');
    await resolveSpecNetworks(this.store, spec);
    await allocatePorts(this.store, spec, svc.ID);
    if (spec.Name !== svc.Spec.Name) throw new InvalidArgumentError('rpc error: code = Unimplemented desc = renaming services is not supported');
    if (version !== svc.Version.Index) throw new ConflictError('rpc error: code = Unknown desc = update out of sequence');
    const now = new Date().toISOString();
    let next: ServiceRecord;
    if (rollback) {
      if (!svc.PreviousSpec) throw new InvalidArgumentError(`rpc error: code = FailedPrecondition desc = service ${svc.ID} does not have a previous spec`);
      next = { ...svc, Spec: { ...svc.PreviousSpec, Name: svc.Spec.Name }, PreviousSpec: svc.Spec, UpdatedAt: now, UpdateStatus: { State: 'rollback_started', StartedAt: now, Message: 'manually requested rollback' } };
    } else {
      next = { ...svc, PreviousSpec: svc.Spec, Spec: normalizeSpec(spec), UpdatedAt: now };
      // As swarm: each update starts without a status; one that changes what the
      // tasks run is under way until the scheduler has replaced them. A job is run again instead.
      delete next.UpdateStatus;
      if (svc.JobStatus) next.JobStatus = { JobIteration: { Index: svc.JobStatus.JobIteration.Index + 1 }, LastExecution: now };
      else if (specForm(next.Spec.TaskTemplate) !== specForm(svc.Spec.TaskTemplate)) next.UpdateStatus = { State: 'updating', StartedAt: now, Message: 'update in progress' };
    }
    delete next.ServiceStatus;
    if (!(await this.store.update(KEYS.services + svc.ID, next))) throw new ConflictError('rpc error: code = Unknown desc = update out of sequence');
    return { Warnings: null };
  }

  async removeService(ref: string): Promise<void> {
    const svc = await this.service(ref);
    // The record and its name go together; the scheduler then ends its tasks.
    if (!(await this.store.deleteAt(KEYS.services + svc.ID, svc.Version.Index, KEYS.serviceNames + svc.Spec.Name))) {
      throw new NotFoundError(`service ${ref} not found`);
    }
  }

  // --- tasks ---

  async tasks(filters: Filters = {}): Promise<TaskRecord[]> {
    checkKeys(filters, ['_up-to-date', 'desired-state', 'id', 'label', 'name', 'node', 'service']);
    for (const d of filters['desired-state'] ?? []) {
      if (!['running', 'shutdown', 'accepted'].includes(d)) throw new InvalidArgumentError(`Invalid desired state filter: '${d}'`);
    }
    const [tasks, services] = await Promise.all([this.store.list<TaskRecord>(KEYS.tasks), this.store.list<ServiceRecord>(KEYS.services)]);
    const svcName = new Map(services.map((s) => [s.ID, s.Spec.Name]));
    // swarm matches `label` against the service's labels (a task's ServiceAnnotations), not the task's own:
    // `docker stack ps` lists a stack's tasks by com.docker.stack.namespace, which only services carry.
    const svcLabels = new Map(services.map((s) => [s.ID, s.Spec.Labels ?? {}]));
    // dockerd's hidden filter for the CLI's progress: tasks running the service's current spec.
    const upToDate = filters['_up-to-date']?.includes('true') ? new Map(services.map((s) => [s.ID, specForm(s.Spec.TaskTemplate)])) : undefined;
    let nodeIds: Set<string> | undefined;
    if (filters.node?.length) {
      const nodes = await this.nodes();
      nodeIds = new Set(filters.node.map((ref) => nodes.find((n) => n.ID === ref || n.Description.Hostname === ref || n.ID.startsWith(ref))?.ID ?? ref));
    }
    const svcIds = filters.service?.length
      ? new Set(filters.service.map((ref) => services.find((s) => s.ID === ref || s.Spec.Name === ref)?.ID ?? services.find((s) => s.ID.startsWith(ref))?.ID ?? ref))
      : undefined;
    return tasks.filter((t) => {
      if (svcIds && !svcIds.has(t.ServiceID)) return false;
      if (nodeIds && !(t.NodeID && nodeIds.has(t.NodeID))) return false;
      if (!anyPrefix(filters.id, t.ID)) return false;
      if (filters.name?.length && !filters.name.some((n) => `${svcName.get(t.ServiceID) ?? ''}.${t.Slot}`.startsWith(n))) return false;
      if (!labelsMatch(svcLabels.get(t.ServiceID) ?? {}, filters.label ?? [])) return false;
      if (upToDate && upToDate.get(t.ServiceID) !== specForm(t.Spec)) return false;
      const desired = filters['desired-state'];
      // dockerd's "accepted" is any task not yet wanted ended.
      if (desired?.length && !desired.some((d) => (d === 'accepted' ? !terminal(t.DesiredState) : t.DesiredState === d))) return false;
      return true;
    }).sort((a, b) => (a.CreatedAt < b.CreatedAt ? -1 : 1));
  }

  async task(ref: string): Promise<TaskRecord> {
    const all = await this.store.list<TaskRecord>(KEYS.tasks);
    return lookup('task', ref, all, () => '\0');
  }
}
