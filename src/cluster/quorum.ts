// Why the store does not answer. An etcd member that has lost its quorum
// (too few managers online) elects no leader: its writes are dropped and its
// reads wait until they time out. The member still answers a status request
// locally, naming the leader it knows (0: none), so a failed call is told
// apart from any other outage and given swarmkit's words. Once a member is
// known leaderless, later calls ask it again first (one local round trip)
// instead of each waiting out its deadline.
import type { Etcd3 } from 'etcd3';
import { SystemError } from '../errors.ts';

/**
 * swarmkit's errLostQuorum (manager/state/raft/raft.go), a plain error its
 * raft proxy returns, so gRPC's code Unknown; dockerd maps that to a 500.
 */
export const LOST_QUORUM = "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";

/** How long a leaderless answer makes later calls check first. */
const SUSPECT_MS = 10_000;

export class QuorumCheck {
  private leaderlessAt = 0;
  private readonly client: Etcd3;

  constructor(client: Etcd3) {
    this.client = client;
  }

  /** True if the member answering says it has no leader; false if it has one or cannot say. */
  async leaderless(): Promise<boolean> {
    try {
      const s = await this.client.maintenance.status({ deadline: Date.now() + 1000 });
      const none = s.leader === '0';
      this.leaderlessAt = none ? Date.now() : 0;
      return none;
    } catch {
      return false;
    }
  }

  /** Before a call: a member seen leaderless lately is asked again, and the call refused at once if it still is. */
  async precheck(): Promise<void> {
    if (Date.now() - this.leaderlessAt < SUSPECT_MS && (await this.leaderless())) throw new SystemError(LOST_QUORUM);
  }

  /** After a failed call: swarmkit's lost-quorum error if that is the cause. */
  async explain(): Promise<SystemError | undefined> {
    return (await this.leaderless()) ? new SystemError(LOST_QUORUM) : undefined;
  }
}
