// swarm's restart supervisor's rule: whether an ended task is followed by a
// new one in its slot (condition, max attempts within the window).
import { terminal, type ServiceRecord, type TaskRecord } from './types.ts';

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
