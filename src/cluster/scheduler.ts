// The leader's orchestrator: for each replicated service, one task per slot
// 1..Replicas, placed on a ready node (spread: the node with fewest of the
// service's tasks); ended tasks replaced per the restart policy after its
// delay; slots past the count, and tasks of removed services, marked for
// removal; their records reaped once the agent has ended them, and each
// slot's history kept to swarm's TaskHistoryRetentionLimit.
import { KEYS, type ClusterStore } from './store.ts';
import { newId, replicasOf, specForm } from './spec.ts';
import { terminal, type NodeRecord, type ServiceRecord, type TaskRecord } from './types.ts';

const HISTORY_LIMIT = 5;
const DEFAULT_RESTART_DELAY_NS = 5e9;
const DEFAULT_MONITOR_NS = 5e9;

interface SlotView {
  slot: number;
  tasks: TaskRecord[];
  latest: TaskRecord;
}

function byCreated(a: TaskRecord, b: TaskRecord): number {
  return a.CreatedAt < b.CreatedAt ? -1 : a.CreatedAt > b.CreatedAt ? 1 : 0;
}

/** Would swarm's restart supervisor start a new task for this ended one? */
export function shouldRestart(svc: ServiceRecord, ended: TaskRecord, slotTasks: TaskRecord[], nowMs: number): boolean {
  const rp = svc.Spec.TaskTemplate?.RestartPolicy ?? {};
  const condition = rp.Condition ?? 'any';
  if (condition === 'none') return false;
  if (condition === 'on-failure' && ended.Status.State === 'complete') return false;
  if (rp.MaxAttempts && rp.MaxAttempts > 0) {
    const windowMs = rp.Window ? rp.Window / 1e6 : Infinity;
    const failures = slotTasks.filter((t) => terminal(t.Status.State) && nowMs - Date.parse(t.Status.Timestamp) <= windowMs).length;
    if (failures > rp.MaxAttempts) return false;
  }
  return true;
}

export class Scheduler {
  private readonly store: ClusterStore;

  constructor(store: ClusterStore) {
    this.store = store;
  }

  async pass(): Promise<void> {
    const [services, tasks, nodes, beats] = await Promise.all([
      this.store.list<ServiceRecord>(KEYS.services),
      this.store.list<TaskRecord>(KEYS.tasks),
      this.store.list<NodeRecord>(KEYS.nodes),
      this.store.keys(KEYS.heartbeats),
    ]);
    const alive = new Set(beats.map((kv) => kv.key.toString('utf8').slice(KEYS.heartbeats.length)));
    const ready = nodes.filter((n) => alive.has(n.ID) && n.Spec.Availability === 'active');
    const bySvc = new Map<string, TaskRecord[]>();
    for (const t of tasks) bySvc.set(t.ServiceID, [...(bySvc.get(t.ServiceID) ?? []), t]);
    const now = Date.now();

    for (const [svcId, own] of bySvc) {
      if (services.some((s) => s.ID === svcId)) continue;
      for (const t of own) await this.retire(t, 'remove');
    }
    for (const svc of services) await this.reconcileService(svc, bySvc.get(svc.ID) ?? [], ready, tasks, now);
  }

  /**
   * Asks the agent to end a task (shutdown keeps its container, as dockerd
   * keeps a failed task's; remove takes it away), or reaps the record of one
   * already ended: its container then goes with it.
   */
  private async retire(t: TaskRecord, desired: 'shutdown' | 'remove'): Promise<void> {
    if (desired === 'remove' && (terminal(t.Status.State) || !t.NodeID)) {
      await this.store.deleteAt(KEYS.tasks + t.ID, t.Version.Index);
      return;
    }
    if (t.DesiredState === desired || t.DesiredState === 'remove') return;
    await this.store.update(KEYS.tasks + t.ID, { ...t, DesiredState: desired, UpdatedAt: new Date().toISOString() });
  }

  private async reconcileService(svc: ServiceRecord, own: TaskRecord[], ready: NodeRecord[], all: TaskRecord[], now: number): Promise<void> {
    const slots = new Map<number, TaskRecord[]>();
    for (const t of own) slots.set(t.Slot, [...(slots.get(t.Slot) ?? []), t]);
    const views: SlotView[] = [...slots].map(([slot, ts]) => {
      ts.sort(byCreated);
      return { slot, tasks: ts, latest: ts[ts.length - 1] };
    });

    // Slots that count towards the replicas: a task wanted running, one waiting
    // out its restart delay, or one whose policy says it stays ended.
    const counted: SlotView[] = [];
    for (const v of views) {
      // Two tasks wanted running in one slot: the older goes.
      for (const t of v.tasks.slice(0, -1)) if (t.DesiredState === 'running') await this.retire(t, 'shutdown');
      if (v.latest.DesiredState === 'remove') {
        for (const t of v.tasks) await this.retire(t, 'remove');
        continue;
      }
      counted.push(v);
    }
    counted.sort((a, b) => a.slot - b.slot);
    const want = replicasOf(svc.Spec);
    for (const v of counted.splice(want)) for (const t of v.tasks) await this.retire(t, 'remove');

    const template = specForm(svc.Spec.TaskTemplate);
    const outdated: SlotView[] = [];
    let starting = 0;
    let lastStart = 0;
    for (const v of counted) {
      const t = v.latest;
      if (t.DesiredState === 'running' && !terminal(t.Status.State)) {
        if (!t.NodeID) await this.place(svc, t, ready, all);
        if (specForm(t.Spec) !== template) outdated.push(v);
        else if (t.Status.State !== 'running') starting++;
        else lastStart = Math.max(lastStart, Date.parse(t.Status.Timestamp));
        continue;
      }
      if (t.DesiredState === 'running') await this.retire(t, 'shutdown');
      if (!terminal(t.Status.State)) continue; // still being shut down
      if (!shouldRestart(svc, t, v.tasks, now)) continue;
      const delayMs = (svc.Spec.TaskTemplate?.RestartPolicy?.Delay ?? DEFAULT_RESTART_DELAY_NS) / 1e6;
      const due = Date.parse(t.Status.Timestamp) + delayMs;
      // Not yet due: the loop's ticker brings the pass back.
      if (due > now) continue;
      await this.newTask(svc, v.slot, ready, all);
    }
    await this.update(svc, outdated, starting, now - lastStart, ready, all);
    const taken = new Set(views.map((v) => v.slot));
    for (let slot = 1, missing = want - counted.length; missing > 0; slot++) {
      if (taken.has(slot)) continue;
      await this.newTask(svc, slot, ready, all);
      missing--;
    }
    // Each slot's history: the newest HISTORY_LIMIT tasks stay, as swarm's retention limit.
    for (const v of views) {
      const old = v.tasks.filter((t) => t.DesiredState !== 'running' && terminal(t.Status.State));
      for (const t of old.slice(0, Math.max(0, v.tasks.length - HISTORY_LIMIT))) await this.store.deleteAt(KEYS.tasks + t.ID, t.Version.Index);
    }
  }

  /**
   * A rolling update: tasks whose spec is not the service's are replaced,
   * UpdateConfig.Parallelism slots at a time (swarm's default 1; 0 is all at
   * once), the next batch once the new tasks run. Delay, failure action,
   * order and rollback are not implemented yet (ADR 0009).
   */
  private async update(svc: ServiceRecord, outdated: SlotView[], starting: number, sinceLastStartMs: number, ready: NodeRecord[], all: TaskRecord[]): Promise<void> {
    const parallelism = svc.Spec.UpdateConfig?.Parallelism ?? 1;
    const budget = parallelism === 0 ? outdated.length : Math.max(0, parallelism - starting);
    for (const v of outdated.slice(0, budget)) {
      await this.retire(v.latest, 'shutdown');
      await this.newTask(svc, v.slot, ready, all);
    }
    // As swarm's updater: complete once every task runs the new spec and the
    // last one started has run for UpdateConfig.Monitor (5 s by default).
    const monitorMs = Number(svc.Spec.UpdateConfig?.Monitor ?? DEFAULT_MONITOR_NS) / 1e6;
    if (svc.UpdateStatus?.State === 'updating' && outdated.length === 0 && starting === 0 && sinceLastStartMs >= monitorMs) {
      const now = new Date().toISOString();
      await this.store.update(KEYS.services + svc.ID, { ...svc, UpdateStatus: { ...svc.UpdateStatus, State: 'completed', CompletedAt: now, Message: 'update completed' } });
    }
  }

  private pickNode(svc: ServiceRecord, ready: NodeRecord[], all: TaskRecord[]): NodeRecord | undefined {
    const load = (n: NodeRecord, svcOnly: boolean) => all.filter((t) => t.NodeID === n.ID && !terminal(t.Status.State) && (!svcOnly || t.ServiceID === svc.ID)).length;
    return [...ready].sort((a, b) => load(a, true) - load(b, true) || load(a, false) - load(b, false))[0];
  }

  private async newTask(svc: ServiceRecord, slot: number, ready: NodeRecord[], all: TaskRecord[]): Promise<void> {
    const now = new Date().toISOString();
    const node = this.pickNode(svc, ready, all);
    const task: Omit<TaskRecord, 'Version'> & { SpecVersion: { Index: number } } = {
      ID: newId(), CreatedAt: now, UpdatedAt: now, Labels: {},
      Spec: svc.Spec.TaskTemplate ?? {}, SpecVersion: { Index: svc.Version.Index },
      ServiceID: svc.ID, Slot: slot, NodeID: node?.ID,
      Status: node
        ? { Timestamp: now, State: 'assigned', Message: 'scheduler assigned task to node', PortStatus: {} }
        : { Timestamp: now, State: 'pending', Message: 'pending task scheduling', Err: 'no suitable node (no node is ready)', PortStatus: {} },
      DesiredState: 'running',
    };
    if (await this.store.create(KEYS.tasks + task.ID, task)) all.push({ ...task, Version: { Index: 0 } });
  }

  private async place(svc: ServiceRecord, t: TaskRecord, ready: NodeRecord[], all: TaskRecord[]): Promise<void> {
    const node = this.pickNode(svc, ready, all);
    if (!node) return;
    const now = new Date().toISOString();
    t.NodeID = node.ID;
    await this.store.update(KEYS.tasks + t.ID, { ...t, UpdatedAt: now, Status: { Timestamp: now, State: 'assigned', Message: 'scheduler assigned task to node', PortStatus: {} } });
  }
}
