// The leader's orchestrator and scheduler in one level-triggered pass. A
// replicated service has one task per slot 1..Replicas; a global service one
// per eligible node (Slot 0, its NodeID fixed). Tasks are placed by
// placement.ts (filters, then spread); one no node can take stays pending with
// swarm's "no suitable node (…)". Ended tasks are replaced per the restart
// policy after its delay; tasks of a node that is down or drained are shut
// down and replaced elsewhere; slots past the count, and tasks of removed
// services, are marked for removal and reaped once ended; each slot's history
// is kept to swarm's TaskHistoryRetentionLimit. Out-of-date slots are the
// updater's (updater.ts), job modes jobs.ts's.
import { KEYS, type ClusterStore } from './store.ts';
import { newId, replicasOf, specForm } from './spec.ts';
import { eligibleNodes, noSuitableNode, nodeMatches, nodeReady, parseConstraints, pickNode, type ClusterView } from './placement.ts';
import { UPDATES, Updater, type Slot } from './updater.ts';
import { terminal, type NodeRecord, type ServiceRecord, type TaskRecord } from './types.ts';
import { shouldRestart } from './restart.ts';
import { isJob, jobIteration, reconcileJob } from './jobs.ts';
import { hostPortsForm, serviceHostPorts, taskHostPorts } from './host-ports.ts';

const HISTORY_LIMIT = 5;
const DEFAULT_RESTART_DELAY_NS = 5e9;

function byCreated(a: TaskRecord, b: TaskRecord): number {
  return a.CreatedAt < b.CreatedAt ? -1 : a.CreatedAt > b.CreatedAt ? 1 : 0;
}

export function isGlobal(svc: ServiceRecord): boolean {
  return !!svc.Spec.Mode?.Global;
}

export class Scheduler {
  private readonly store: ClusterStore;
  private readonly updater: Updater;

  constructor(store: ClusterStore) {
    this.store = store;
    this.updater = new Updater(store);
  }

  async pass(): Promise<void> {
    const [services, tasks, nodes, beats, updates] = await Promise.all([
      this.store.list<ServiceRecord>(KEYS.services),
      this.store.list<TaskRecord>(KEYS.tasks),
      this.store.list<NodeRecord>(KEYS.nodes),
      this.store.keys(KEYS.heartbeats),
      this.store.keys(UPDATES),
    ]);
    const view: ClusterView = { nodes, alive: new Set(beats.map((kv) => kv.key.toString('utf8').slice(KEYS.heartbeats.length))), tasks };
    const bySvc = new Map<string, TaskRecord[]>();
    for (const t of tasks) bySvc.set(t.ServiceID, [...(bySvc.get(t.ServiceID) ?? []), t]);
    const now = Date.now();

    const live = new Set(services.map((s) => s.ID));
    for (const [svcId, own] of bySvc) {
      if (live.has(svcId)) continue;
      for (const t of own) await this.retire(t, 'remove');
    }
    for (const kv of updates) {
      const id = kv.key.toString('utf8').slice(UPDATES.length);
      if (!live.has(id)) await this.store.delete(UPDATES + id);
    }
    for (const svc of services) await this.reconcileService(svc, bySvc.get(svc.ID) ?? [], view, now);
  }

  /**
   * Asks the agent to end a task (shutdown keeps its container, as dockerd
   * keeps a failed task's; remove takes it away), or reaps the record of one
   * already ended: its container then goes with it.
   */
  private async retire(t: TaskRecord, desired: 'shutdown' | 'remove'): Promise<void> {
    if (desired === 'remove' && (terminal(t.Status.State) || !t.NodeID)) {
      await this.store.deleteAt(KEYS.tasks + t.ID, t.Version.Index, KEYS.assignments + t.ID);
      return;
    }
    if (t.DesiredState === desired || t.DesiredState === 'remove') return;
    // A task never placed has nothing to stop: it ends here.
    const status = t.NodeID ? t.Status : { ...t.Status, Timestamp: new Date().toISOString(), State: 'shutdown' as const, Message: 'shutdown', Err: undefined };
    if (await this.store.update(KEYS.tasks + t.ID, { ...t, DesiredState: desired, Status: status, UpdatedAt: new Date().toISOString() })) {
      t.DesiredState = desired;
      t.Status = status;
    }
  }

  /** The service's slots: replicated by slot number, global by node. */
  private slotsOf(svc: ServiceRecord, own: TaskRecord[]): Slot[] {
    const global = isGlobal(svc);
    const slots = new Map<string, Slot>();
    for (const t of own) {
      const key = global ? `node:${t.NodeID ?? ''}` : `slot:${t.Slot}`;
      const s = slots.get(key) ?? { key, slot: global ? 0 : t.Slot, nodeId: global ? t.NodeID : undefined, tasks: [] };
      s.tasks.push(t);
      slots.set(key, s);
    }
    for (const s of slots.values()) s.tasks.sort(byCreated);
    return [...slots.values()];
  }

  private async reconcileService(svc: ServiceRecord, own: TaskRecord[], view: ClusterView, now: number): Promise<void> {
    if (isJob(svc)) {
      await reconcileJob(svc, own, {
        create: async (slot, nodeId) => { await this.newTask(svc, { key: '', slot, nodeId, tasks: [] }, view, 'complete'); },
        remove: (t) => this.retire(t, 'remove'),
        eligible: () => eligibleNodes(view, svc, svc.Spec.TaskTemplate ?? {}).nodes.map((n) => n.ID),
        place: (t) => this.place(svc, t, view),
      }, now);
      return;
    }
    const template = specForm(svc.Spec.TaskTemplate);
    const ports = hostPortsForm(serviceHostPorts(svc.Spec));
    // Out of date: another task spec, or other host-mode ports (as swarm's IsTaskDirty).
    const current = (t: TaskRecord) => specForm(t.Spec) === template && hostPortsForm(taskHostPorts(t)) === ports;
    const global = isGlobal(svc);
    const slots = this.slotsOf(svc, own);
    const nodeById = new Map(view.nodes.map((n) => [n.ID, n]));
    // A node whose tasks must move: its heartbeat is gone, or it is drained.
    const lost = (t: TaskRecord) => {
      const n = t.NodeID ? nodeById.get(t.NodeID) : undefined;
      return !!t.NodeID && (!n || !view.alive.has(n.ID) || n.Spec.Availability === 'drain');
    };

    // Which slots count: replicated, the first Replicas slots wanted; global, the eligible nodes.
    let wanted: Slot[];
    if (global) {
      const { nodes } = eligibleNodes({ ...view, tasks: [] }, svc, { ...svc.Spec.TaskTemplate, Resources: undefined });
      const constraints = safeConstraints(svc);
      const keep = new Set(nodes.map((n) => n.ID));
      // A node already running the task keeps it while it stays ready and matches (its own reservation is not counted twice).
      for (const s of slots) {
        const n = s.nodeId ? nodeById.get(s.nodeId) : undefined;
        if (n && nodeReady(view, n) && constraints && nodeMatches(constraints, n)) keep.add(n.ID);
      }
      for (const n of nodes) if (!slots.some((s) => s.nodeId === n.ID)) slots.push({ key: `node:${n.ID}`, slot: 0, nodeId: n.ID, tasks: [] });
      wanted = [];
      for (const s of slots) {
        if (s.nodeId && keep.has(s.nodeId)) wanted.push(s);
        else for (const t of s.tasks) await this.retire(t, terminal(t.Status.State) ? 'remove' : 'shutdown');
      }
    } else {
      const live = slots.filter((s) => s.tasks.length && s.tasks[s.tasks.length - 1].DesiredState !== 'remove');
      for (const s of slots) if (!live.includes(s)) for (const t of s.tasks) await this.retire(t, 'remove');
      live.sort((a, b) => a.slot - b.slot);
      const want = replicasOf(svc.Spec);
      for (const s of live.splice(want)) for (const t of s.tasks) await this.retire(t, 'remove');
      const taken = new Set(slots.map((s) => s.slot));
      for (let slot = 1, missing = want - live.length; missing > 0; slot++) {
        if (taken.has(slot)) continue;
        live.push({ key: `slot:${slot}`, slot, tasks: [] });
        missing--;
      }
      wanted = live;
    }

    const dirty: Slot[] = [];
    for (const s of wanted) {
      const latest = s.tasks[s.tasks.length - 1];
      if (!latest) {
        await this.newTask(svc, s, view, 'running');
        continue;
      }
      // Older tasks still wanted running go once the latest runs or has ended
      // (while a start-first update's new task starts, the old one serves).
      for (const t of s.tasks.slice(0, -1)) {
        if (t.DesiredState !== 'running' && t.DesiredState !== 'ready') continue;
        if (latest.Status.State === 'running' || terminal(latest.Status.State) || !current(latest) || lost(t)) await this.retire(t, 'shutdown');
      }
      if (latest.DesiredState === 'ready') {
        // Stop-first: the new task starts once the slot's others have ended.
        if (s.tasks.slice(0, -1).every((t) => terminal(t.Status.State) || lost(t))) await this.promote(latest);
        continue;
      }
      if (latest.DesiredState === 'running' && !terminal(latest.Status.State)) {
        if (lost(latest)) {
          // Its node is down or drained: shut it down and start it elsewhere now.
          await this.retire(latest, 'shutdown');
          await this.newTask(svc, s, view, 'running');
          continue;
        }
        if (!latest.NodeID) await this.place(svc, latest, view);
        if (!current(latest)) dirty.push(s);
        continue;
      }
      if (latest.DesiredState === 'running') await this.retire(latest, 'shutdown');
      if (!terminal(latest.Status.State)) {
        // A task on a lost node never reports its end: a move whose new task was not written
        // (a write refused after the retire) is finished here, or the slot would wait for ever.
        if (latest.DesiredState === 'shutdown' && lost(latest)) await this.newTask(svc, s, view, 'running');
        continue; // still being shut down
      }
      if (!shouldRestart(svc, latest, s.tasks, now)) continue;
      // Under an update or rollback, an ended task of another spec is the updater's to replace,
      // at once: as swarm's, whose restart made a task of the old spec that the update then replaces.
      if (!current(latest) && (svc.UpdateStatus?.State === 'updating' || svc.UpdateStatus?.State === 'rollback_started')) {
        dirty.push(s);
        continue;
      }
      const delayMs = (svc.Spec.TaskTemplate?.RestartPolicy?.Delay ?? DEFAULT_RESTART_DELAY_NS) / 1e6;
      // Not yet due: the loop's ticker brings the pass back. A task shut down by an update or a move is not a restart.
      if (latest.Status.State !== 'shutdown' && Date.parse(latest.Status.Timestamp) + delayMs > now) continue;
      await this.newTask(svc, s, view, 'running');
    }

    await this.updater.pass(svc, wanted, dirty, current, {
      create: (s, desired) => this.newTask(svc, s, view, desired),
      shutdown: (t) => this.retire(t, 'shutdown'),
    }, now);

    // Each slot's history: the newest HISTORY_LIMIT tasks stay, as swarm's retention limit.
    for (const s of slots) {
      const old = s.tasks.filter((t) => t.DesiredState !== 'running' && t.DesiredState !== 'ready' && terminal(t.Status.State));
      for (const t of old.slice(0, Math.max(0, s.tasks.length - HISTORY_LIMIT))) await this.store.deleteAt(KEYS.tasks + t.ID, t.Version.Index, KEYS.assignments + t.ID);
    }
  }

  private async newTask(svc: ServiceRecord, s: Slot, view: ClusterView, desired: 'running' | 'ready' | 'complete'): Promise<TaskRecord | undefined> {
    const now = new Date().toISOString();
    const spec = svc.Spec.TaskTemplate ?? {};
    let node: NodeRecord | undefined;
    let explanation = '';
    if (s.nodeId) node = view.nodes.find((n) => n.ID === s.nodeId);
    else ({ node, explanation } = pickNode(view, svc, spec));
    const task: Omit<TaskRecord, 'Version'> & { SpecVersion: { Index: number } } = {
      ID: newId(), CreatedAt: now, UpdatedAt: now, Labels: {},
      Spec: spec, SpecVersion: { Index: svc.Version.Index },
      ServiceID: svc.ID, Slot: s.slot, NodeID: node?.ID,
      Status: node
        ? { Timestamp: now, State: 'assigned', Message: 'scheduler assigned task to node', PortStatus: {} }
        : { Timestamp: now, State: 'pending', Message: 'pending task scheduling', Err: noSuitableNode(explanation), PortStatus: {} },
      DesiredState: desired,
      ...(isJob(svc) ? { JobIteration: { Index: jobIteration(svc) } } : {}),
      ...(svc.Spec.EndpointSpec ? { Endpoint: { Spec: svc.Spec.EndpointSpec as Record<string, unknown> } } : {}),
    };
    // The placement first: the node's agent may ask for the task's files as soon as it sees the task.
    if (node) await this.assign(task.ID, node.ID, svc.ID);
    if (!(await this.store.create(KEYS.tasks + task.ID, task))) return undefined;
    const rec: TaskRecord = { ...task, Version: { Index: 0 } };
    view.tasks.push(rec);
    s.tasks.push(rec);
    return rec;
  }

  private async promote(t: TaskRecord): Promise<void> {
    await this.store.update(KEYS.tasks + t.ID, { ...t, DesiredState: 'running', UpdatedAt: new Date().toISOString() });
  }

  /** A pending task: placed once a node can take it; otherwise its Err says why not, kept current. */
  private async place(svc: ServiceRecord, t: TaskRecord, view: ClusterView): Promise<void> {
    const { node, explanation } = pickNode(view, svc, t.Spec);
    const now = new Date().toISOString();
    if (!node) {
      const err = noSuitableNode(explanation);
      if (t.Status.Err !== err) await this.store.update(KEYS.tasks + t.ID, { ...t, UpdatedAt: now, Status: { ...t.Status, Timestamp: now, Err: err } });
      return;
    }
    t.NodeID = node.ID;
    t.Status = { Timestamp: now, State: 'assigned', Message: 'scheduler assigned task to node', PortStatus: {} };
    // First, as at creation (a lost update leaves a record no task matches: forNode checks both).
    await this.assign(t.ID, node.ID, svc.ID);
    await this.store.update(KEYS.tasks + t.ID, { ...t, UpdatedAt: now });
  }

  /**
   * The placement as only managers may write it (access.ts grants workers no
   * assignments/): a manager hands a task's secrets to the node named here,
   * never to one a task record names alone (secrets.ts forNode).
   */
  private async assign(taskId: string, nodeId: string, serviceId: string): Promise<void> {
    await this.store.put(KEYS.assignments + taskId, JSON.stringify({ NodeID: nodeId, ServiceID: serviceId }));
  }
}

function safeConstraints(svc: ServiceRecord): ReturnType<typeof parseConstraints> | undefined {
  try {
    return parseConstraints(svc.Spec.TaskTemplate?.Placement?.Constraints ?? []);
  } catch {
    return undefined;
  }
}
