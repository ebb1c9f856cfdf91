// A join whose managers do not answer in time. dockerd's `swarm join` waits
// 20 s (swarmConnectTimeout) for the node to join; past that it answers
// that the attempt goes on in the background, and the node is `pending`
// (GET /info's LocalNodeState) until it joins, fails, or leaves. Only an
// unanswered manager is retried: an answer that refuses (a wrong token, a CA
// that does not match) ends the attempt at once, as swarmkit's does.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../errors.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { caDigest, makeCsr } from './ca.ts';
import { freePort } from './etcd-member.ts';
import { hostOf, listenAddr, type NodeState } from './membership.ts';
import { writeDataKey } from './secrets.ts';
import { callManager, type JoinGrant, type JoinRequest } from './swarm-port.ts';

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

/** A join that went on in the background, and why the last one failed (GET /info's pending and error). */
export class BackgroundJoin {
  pending?: PendingJoin;
  error = '';
  private readonly log: (level: string, msg: string) => void;

  constructor(log: (level: string, msg: string) => void) {
    this.log = log;
  }

  track(p: PendingJoin): void {
    this.pending = p;
    p.attempt.then(() => this.log('info', 'swarm: the join that went on in the background has joined'), (err: Error) => {
      if (err instanceof JoinCancelled) return;
      this.error = err.message;
      this.log('error', `swarm: the join that went on in the background failed: ${err.message}`);
    }).finally(() => { if (this.pending === p) this.pending = undefined; });
  }

  /** Cancels the pending join and waits for it to stop; true if there was one (or one had failed). */
  async cancel(): Promise<boolean> {
    const p = this.pending;
    const had = !!p || !!this.error;
    p?.cancel.abort();
    await p?.attempt.catch(() => {});
    this.error = '';
    return had;
  }
}

/** What a join needs of the cluster service it joins for. */
export interface JoinHost {
  /** The node's swarm directory (data root's swarm/). */
  dir: string;
  describe(): Record<string, unknown> & { Hostname: string };
  writeCerts(f: { caCert: string; cert: string; key: string; caKey?: string }): Promise<void>;
  attach(state: NodeState): Promise<unknown>;
  teardown(): Promise<void>;
}

/**
 * `swarm join`'s steps: the manager's CA fetched and checked against the
 * digest the token carries, then the token presented over TLS pinned to
 * that CA; the manager answers with this node's certificate and how to
 * reach the store. The membership is recorded last.
 */
export async function joinSteps(host: JoinHost, req: { JoinToken?: string; AdvertiseAddr?: string; ListenAddr?: string; Availability?: 'active' | 'pause' | 'drain' }, remotes: string[], digest: string, signal: AbortSignal): Promise<void> {
  const { remote, caCert, localAddress } = await firstContact(remotes, signal);
  if (caDigest(caCert) !== digest) throw new InvalidArgumentError(`remote CA does not match fingerprint. Expected: ${digest}`);
  const addr = req.AdvertiseAddr ? hostOf(req.AdvertiseAddr) : localAddress.replace(/^::ffff:/, '');
  const csr = makeCsr();
  const ports = { client: await freePort(addr), peer: await freePort(addr) };
  const body: JoinRequest = { Token: req.JoinToken, Csr: csr.csr, Addr: addr, Description: host.describe(), Availability: req.Availability, Ports: ports };
  const grant = (await callManager<JoinGrant>(remote, 'POST', '/join', { ca: caCert, body })).body;
  if (signal.aborted) throw new JoinCancelled('the join was cancelled');
  await rm(host.dir, { recursive: true, force: true });
  await mkdir(host.dir, { recursive: true, mode: 0o700 });
  try {
    await host.writeCerts({ caCert: grant.CACert, cert: grant.Cert, key: csr.key, caKey: grant.CAKey });
    if (grant.DataKey) await writeDataKey(host.dir, grant.DataKey);
    const state: NodeState = {
      NodeID: grant.NodeID, ClusterID: grant.ClusterID, Role: grant.Role, AdvertiseAddr: addr, ListenAddr: listenAddr(req.ListenAddr),
      endpoints: grant.Endpoints,
      ...(grant.Role === 'manager' ? { ports, initialCluster: grant.InitialCluster, memberId: grant.MemberID } : {}),
    };
    await host.attach(state);
    await writeFileAtomic(join(host.dir, 'state.json'), JSON.stringify(state));
  } catch (err) {
    await host.teardown();
    await rm(host.dir, { recursive: true, force: true });
    throw err;
  }
}
