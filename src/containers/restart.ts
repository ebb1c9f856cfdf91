// Restart policies, as dockerd's restartmanager: whether an exited container
// is started again, and after how long (100 ms, doubling up to a minute, back
// to 100 ms once a run lasted ten seconds).
import type { ContainerRecord } from '../api/container.ts';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
/** A run this long means the container is not crash-looping: the backoff starts over. */
const RESET_AFTER_MS = 10_000;

/**
 * Whether the policy restarts the container. At the daemon's start a manual
 * stop holds only for unless-stopped: `always` containers all come back, as dockerd's.
 */
export function shouldRestart(rec: ContainerRecord, at: 'exit' | 'daemon-start'): boolean {
  const p = rec.HostConfig.RestartPolicy;
  if (!p) return false;
  const manual = rec.berthManuallyStopped === true;
  switch (p.Name) {
    case 'always': return at === 'daemon-start' || !manual;
    case 'unless-stopped': return !manual;
    case 'on-failure': return !manual && rec.State.ExitCode !== 0 && (!p.MaximumRetryCount || rec.RestartCount < p.MaximumRetryCount);
    default: return false;
  }
}

/** The delay before each restart of each container. */
export class RestartBackoff {
  private readonly delays = new Map<string, number>();

  next(rec: ContainerRecord): number {
    const ran = Date.parse(rec.State.FinishedAt) - Date.parse(rec.State.StartedAt);
    const prev = this.delays.get(rec.Id);
    const delay = prev === undefined || ran >= RESET_AFTER_MS ? FIRST_DELAY_MS : Math.min(prev * 2, MAX_DELAY_MS);
    this.delays.set(rec.Id, delay);
    return delay;
  }

  forget(id: string): void {
    this.delays.delete(id);
  }
}
