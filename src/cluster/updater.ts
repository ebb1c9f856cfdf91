// Rolling updates and rollbacks as swarm's updater runs them, made
// level-triggered: each scheduler pass reads the service's UpdateStatus and
// the update's progress record, replaces at most Parallelism out-of-date
// slots (each worker resting Delay after its task runs), watches the tasks it
// started for Monitor, and on failures past MaxFailureRatio pauses, goes on,
// or rolls back (FailureAction). The progress record lives beside the
// service in etcd, so a new leader carries on where the old one stopped.
import { KEYS, PREFIX, type ClusterStore } from './store.ts';
import { terminal, type ServiceRecord, type TaskRecord, type UpdateConfig, type UpdateStatus } from './types.ts';

export const UPDATES = `${PREFIX}updates/`;

/** swarm's defaults (api/defaults): one at a time, no delay, pause on failure, 5 s monitor, stop-first. */
const DEFAULTS: Required<UpdateConfig> = { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' };

/** Written only by the leader's scheduler, one pass at a time: no revision check needed. */
interface Progress {
  /** Which update this is: its kind and StartedAt. */
  run: string;
  /** Out-of-date slots when it started: MaxFailureRatio's denominator. */
  dirty: number;
  /** Tasks this update started → when they were first seen running (ms; 0 not yet). */
  started: Record<string, number>;
  /** Tasks counted as failures. */
  failed: string[];
}

/** A slot as the scheduler sees it: its tasks, oldest first. */
export interface Slot {
  key: string;
  slot: number;
  nodeId?: string;
  tasks: TaskRecord[];
}

export interface UpdateHooks {
  /** A task of the current spec in the slot; desired 'ready' waits for the slot's others to end (stop-first). */
  create(slot: Slot, desired: 'running' | 'ready'): Promise<TaskRecord | undefined>;
  shutdown(t: TaskRecord): Promise<void>;
}

function rolling(s: UpdateStatus | undefined): boolean {
  return s?.State === 'rollback_started' || s?.State === 'rollback_paused' || s?.State === 'rollback_completed';
}

export function updateConfigOf(svc: ServiceRecord): Required<UpdateConfig> {
  const given = (rolling(svc.UpdateStatus) ? svc.Spec.RollbackConfig : svc.Spec.UpdateConfig) ?? {};
  const out = { ...DEFAULTS };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && v !== null && v !== '') (out as Record<string, unknown>)[k] = v;
  return out;
}

export class Updater {
  private readonly store: ClusterStore;

  constructor(store: ClusterStore) {
    this.store = store;
  }

  /**
   * One pass of svc's update: `dirty` are slots whose running task is not of
   * the current spec, `current(t)` says whether a task is.
   */
  async pass(svc: ServiceRecord, slots: Slot[], dirty: Slot[], current: (t: TaskRecord) => boolean, hooks: UpdateHooks, now: number): Promise<void> {
    let status = svc.UpdateStatus;
    if (status?.State === 'paused' || status?.State === 'rollback_paused') return;
    const inProgress = status?.State === 'updating' || status?.State === 'rollback_started';
    if (!dirty.length && !inProgress) return;
    if (!inProgress) {
      status = { State: 'updating', StartedAt: new Date(now).toISOString(), Message: 'update in progress' };
      if (!(await this.store.update(KEYS.services + svc.ID, { ...svc, UpdateStatus: status }))) return;
      return; // the write's watch event brings the next pass, with the service's new revision
    }
    const cfg = updateConfigOf(svc);
    const run = `${status?.State}@${status?.StartedAt ?? ''}`;
    const stored = await this.store.getString(UPDATES + svc.ID);
    let p = stored ? (JSON.parse(stored) as Progress) : undefined;
    const changed = { v: false };
    if (!p || p.run !== run) {
      p = { run, dirty: dirty.length, started: {}, failed: [] };
      changed.v = true;
    }
    const byId = new Map(slots.flatMap((s) => s.tasks).map((t) => [t.ID, t]));

    // Watch what this update started: first seen running, or ended early.
    const monitorMs = cfg.Monitor / 1e6;
    for (const [id, at] of Object.entries(p.started)) {
      const t = byId.get(id);
      if (!t) continue;
      if (!at && t.Status.State === 'running') { p.started[id] = Date.parse(t.Status.Timestamp) || now; changed.v = true; }
      const ended = terminal(t.Status.State) && t.Status.State !== 'shutdown' && t.Status.State !== 'remove';
      if (ended && !p.failed.includes(id) && (!at || Date.parse(t.Status.Timestamp) - at <= monitorMs)) {
        p.failed.push(id);
        changed.v = true;
        if (p.failed.length / Math.max(1, p.dirty) > cfg.MaxFailureRatio && cfg.FailureAction !== 'continue') {
          await this.save(svc.ID, p, changed.v);
          await this.fail(svc, cfg, id);
          return;
        }
      }
    }

    // Start-first slots: once the new task runs, the old ones go.
    for (const s of slots) {
      const latest = s.tasks[s.tasks.length - 1];
      if (latest && current(latest) && latest.Status.State === 'running') {
        for (const t of s.tasks.slice(0, -1)) if (t.DesiredState === 'running') await hooks.shutdown(t);
      }
    }

    // Workers: a slot is in flight until its new task runs, then its worker rests Delay.
    const delayMs = cfg.Delay / 1e6;
    let busy = 0;
    for (const [id, at] of Object.entries(p.started)) {
      const t = byId.get(id);
      if (!t || (terminal(t.Status.State) && p.failed.includes(id))) continue;
      if (!at) busy++;
      else if (now - at < delayMs) busy++;
    }
    const parallelism = cfg.Parallelism === 0 ? dirty.length : cfg.Parallelism;
    for (const s of dirty.slice(0, Math.max(0, parallelism - busy))) {
      const old = s.tasks.filter((t) => t.DesiredState === 'running' && !current(t));
      let created: TaskRecord | undefined;
      if (cfg.Order === 'start-first') {
        created = await hooks.create(s, 'running');
      } else {
        for (const t of old) await hooks.shutdown(t);
        created = await hooks.create(s, 'ready');
      }
      if (created) { p.started[created.ID] = 0; changed.v = true; }
    }
    await this.save(svc.ID, p, changed.v);

    // Complete once nothing is out of date and the last task started has run for Monitor
    // (or for Delay and a second, when the delay is the longer).
    if (dirty.length) return;
    const waitMs = delayMs >= monitorMs ? delayMs + 1000 : monitorMs;
    const times = Object.entries(p.started).filter(([id]) => byId.has(id) && !p.failed.includes(id)).map(([, at]) => at);
    if (times.some((at) => !at)) return;
    const last = Math.max(0, ...times);
    if (now - last < waitMs) return;
    const rollback = status?.State === 'rollback_started';
    await this.store.update(KEYS.services + svc.ID, {
      ...svc,
      UpdateStatus: { ...status, State: rollback ? 'rollback_completed' : 'completed', CompletedAt: new Date(now).toISOString(), Message: rollback ? 'rollback completed' : 'update completed' },
    });
    await this.store.delete(UPDATES + svc.ID);
  }

  private async save(svcId: string, p: Progress, changed: boolean): Promise<void> {
    if (changed) await this.store.put(UPDATES + svcId, JSON.stringify(p));
  }

  /** FailureAction past MaxFailureRatio: pause, or roll back (a rollback that fails pauses). */
  private async fail(svc: ServiceRecord, cfg: Required<UpdateConfig>, taskId: string): Promise<void> {
    const status = svc.UpdateStatus as UpdateStatus;
    const inRollback = status.State === 'rollback_started';
    if (cfg.FailureAction === 'pause' || inRollback || !svc.PreviousSpec) {
      const msg = inRollback ? `rollback paused due to failure or early termination of task ${taskId}` : `update paused due to failure or early termination of task ${taskId}`;
      await this.store.update(KEYS.services + svc.ID, { ...svc, UpdateStatus: { ...status, State: inRollback ? 'rollback_paused' : 'paused', Message: msg } });
      return;
    }
    const next: ServiceRecord = {
      ...svc, Spec: { ...svc.PreviousSpec, Name: svc.Spec.Name },
      UpdateStatus: { ...status, State: 'rollback_started', Message: `update rolled back due to failure or early termination of task ${taskId}` },
    };
    delete next.PreviousSpec;
    await this.store.update(KEYS.services + svc.ID, next);
  }
}
