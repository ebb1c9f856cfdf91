// A pause or resume cut short by a crash: the runtime's state and the
// container's record can disagree (runc paused it, the record was never
// saved; or the reverse), and a commit's temporary pause would outlive the
// commit. At restore the runtime's state is the truth, and a commit's pause
// is undone, since no commit is left to undo it.
import { runtimeCall } from '../runtime/runtime-call.ts';
import type { ContainerRecord } from '../api/container.ts';

interface Runtime { path: string; args: string[]; root: string }

async function runtime(rt: Runtime, args: string[]): Promise<string | undefined> {
  const r = await runtimeCall(rt.path, ['--root', rt.root, ...rt.args, ...args]);
  return r.code === 0 ? r.stdout : undefined;
}

/** Brings a running container's Paused to the runtime's state; true when the record changed. */
export async function reconcilePause(rec: ContainerRecord, rt: Runtime): Promise<boolean> {
  const out = await runtime(rt, ['state', rec.Id]);
  let status: string | undefined;
  try {
    status = out ? (JSON.parse(out) as { status?: string }).status : undefined;
  } catch { /* an unreadable state: leave the record as it is */ }
  if (status !== 'paused' && status !== 'running') return false;
  let paused = status === 'paused';
  if (paused && (rec.berthPausedForCommit || !rec.State.Paused)) paused = (await runtime(rt, ['resume', rec.Id])) === undefined;
  const changed = paused !== rec.State.Paused || rec.berthPausedForCommit !== undefined;
  rec.State = { ...rec.State, Paused: paused, Status: paused ? 'paused' : 'running' };
  delete rec.berthPausedForCommit;
  return changed;
}
