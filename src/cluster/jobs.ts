// Job modes, as swarm's jobs orchestrators run them. A replicated job runs
// tasks (slots 0..TotalCompletions-1) at most MaxConcurrent at a time until
// TotalCompletions of them have completed; a global job runs one task to
// completion on each eligible node. Job tasks are wanted `complete`, carry
// the service's JobIteration, and an update of the service starts a new
// iteration (the old one's unfinished tasks are removed). A failed task is
// restarted per the restart policy; a completed one never is.
import { terminal, type ServiceRecord, type TaskRecord } from './types.ts';
import { shouldRestart } from './restart.ts';

export function isJob(svc: ServiceRecord): boolean {
  return !!(svc.Spec.Mode?.ReplicatedJob || svc.Spec.Mode?.GlobalJob);
}

export function jobIteration(svc: ServiceRecord): number {
  return svc.JobStatus?.JobIteration.Index ?? 0;
}

/** A task of this iteration, or of an older one. */
export function ofIteration(t: TaskRecord, iteration: number): boolean {
  return (t.JobIteration?.Index ?? -1) === iteration;
}

export interface JobOps {
  /** A new job task in slot (replicated) or on node (global). */
  create(slot: number, nodeId?: string): Promise<void>;
  remove(t: TaskRecord): Promise<void>;
  /** Nodes a global job's tasks may run on. */
  eligible(): string[];
  /** A pending task no node took yet: try again. */
  place(t: TaskRecord): Promise<void>;
}

const DEFAULT_RESTART_DELAY_NS = 5e9;

/** Whether an ended (failed) job task's slot gets a new task now. */
function restartDue(svc: ServiceRecord, t: TaskRecord, history: TaskRecord[], now: number): boolean {
  if (!shouldRestart(svc, t, history, now)) return false;
  const delayMs = (svc.Spec.TaskTemplate?.RestartPolicy?.Delay ?? DEFAULT_RESTART_DELAY_NS) / 1e6;
  return Date.parse(t.Status.Timestamp) + delayMs <= now;
}

export async function reconcileJob(svc: ServiceRecord, own: TaskRecord[], ops: JobOps, now: number): Promise<void> {
  const iteration = jobIteration(svc);
  const current: TaskRecord[] = [];
  for (const t of own) {
    if (ofIteration(t, iteration)) current.push(t);
    // An older iteration's unfinished tasks go; its finished ones are history.
    else if (!terminal(t.Status.State) && t.DesiredState !== 'remove') await ops.remove(t);
  }
  for (const t of current) if (!t.NodeID && !terminal(t.Status.State)) await ops.place(t);

  // Per slot (replicated) or node (global): done, under way, or ended and maybe due a restart.
  const groups = new Map<string, TaskRecord[]>();
  const keyOf = (t: TaskRecord) => (svc.Spec.Mode?.GlobalJob ? t.NodeID ?? '' : String(t.Slot));
  for (const t of current) groups.set(keyOf(t), [...(groups.get(keyOf(t)) ?? []), t]);
  const done = new Set<string>();
  const active = new Set<string>();
  const retry: string[] = [];
  for (const [key, ts] of groups) {
    ts.sort((a, b) => (a.CreatedAt < b.CreatedAt ? -1 : 1));
    const latest = ts[ts.length - 1];
    if (ts.some((t) => t.Status.State === 'complete')) done.add(key);
    else if (!terminal(latest.Status.State)) active.add(key);
    else if (restartDue(svc, latest, ts, now)) retry.push(key);
    else if (shouldRestart(svc, latest, ts, now)) active.add(key); // waiting out its restart delay
    else done.add(key); // its policy says it stays ended
  }

  const gj = svc.Spec.Mode?.GlobalJob;
  if (gj) {
    for (const node of ops.eligible()) {
      if (done.has(node) || active.has(node)) continue;
      await ops.create(0, node);
    }
    return;
  }
  const rj = svc.Spec.Mode?.ReplicatedJob ?? {};
  const maxConcurrent = rj.MaxConcurrent ?? 1;
  const total = rj.TotalCompletions ?? maxConcurrent;
  let running = active.size;
  for (const key of retry) {
    if (running >= maxConcurrent) return;
    await ops.create(Number(key));
    running++;
  }
  for (let slot = 0; slot < total && running < maxConcurrent; slot++) {
    const key = String(slot);
    if (done.has(key) || active.has(key) || retry.includes(key)) continue;
    await ops.create(slot);
    running++;
  }
}

/** ServiceStatus of a job: tasks wanted now, and completed, in this iteration. */
export function jobStatusCounts(svc: ServiceRecord, own: TaskRecord[], readyNodes: number): { desired: number; completed: number } {
  const iteration = jobIteration(svc);
  const completed = own.filter((t) => ofIteration(t, iteration) && t.Status.State === 'complete').length;
  if (svc.Spec.Mode?.GlobalJob) return { desired: readyNodes, completed };
  const rj = svc.Spec.Mode?.ReplicatedJob ?? {};
  const maxConcurrent = rj.MaxConcurrent ?? 1;
  const total = rj.TotalCompletions ?? maxConcurrent;
  return { desired: Math.min(maxConcurrent, Math.max(0, total - completed)), completed };
}
