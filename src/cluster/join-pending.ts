// A join whose managers do not answer in time. dockerd's `swarm join` waits
// 20 s (swarmConnectTimeout) for the node to join; past that it answers
// that the attempt goes on in the background, and the node is `pending`
// (GET /info's LocalNodeState) until it joins, fails, or leaves. Only an
// unanswered manager is retried: an answer that refuses (a wrong token, a CA
// that does not match) ends the attempt at once, as swarmkit's does.
import { UnavailableError } from '../errors.ts';
import { callManager } from './swarm-port.ts';

/** moby's errSwarmJoinTimeoutReached (daemon/cluster/errors.go), a notAvailableError: 503. */
export const JOIN_TIMEOUT = 'Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node.';

/** How long `swarm join` waits before going on in the background (dockerd's swarmConnectTimeout). */
export const JOIN_TIMEOUT_MS = 20_000;

/** Why a background join stopped: it was cancelled by a leave. */
export class JoinCancelled extends Error {}

/** The first manager that answers with its CA, tried each second until one does or the join is cancelled. */
export async function firstContact(remotes: string[], signal: AbortSignal): Promise<{ remote: string; caCert: string; localAddress: string }> {
  for (;;) {
    for (const remote of remotes) {
      if (signal.aborted) throw new JoinCancelled('the join was cancelled');
      try {
        const r = await callManager<{ CACert: string }>(remote, 'GET', '/ca', { timeoutMs: 5000 });
        return { remote, caCert: r.body.CACert, localAddress: r.localAddress };
      } catch { /* not answering (yet): the next one, then again */ }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A join going on after its request answered: cancelled by leave, its end awaited. */
export interface PendingJoin {
  cancel: AbortController;
  /** The attempt: resolves once joined, rejects when it failed or was cancelled. */
  attempt: Promise<void>;
}

/**
 * The join's outcome if it comes within the timeout; otherwise dockerd's
 * timeout error, and onPending gets the attempt still running.
 */
export async function joinWithin(attempt: Promise<void>, cancel: AbortController, onPending: (p: PendingJoin) => void, ms = JOIN_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((r) => { timer = setTimeout(() => r(true), ms); });
  try {
    if (!(await Promise.race([attempt.then(() => false), timedOut]))) return;
  } finally {
    clearTimeout(timer);
  }
  onPending({ cancel, attempt });
  throw new UnavailableError(JOIN_TIMEOUT);
}
