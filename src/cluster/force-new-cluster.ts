// After `swarm init --force-new-cluster` this manager's etcd member is the
// only one (etcd's --force-new-cluster removed the others). The other
// managers' records follow, as swarmkit's, whose node objects take their
// manager status from the raft membership: they are listed as workers, down
// (their heartbeats go with their membership), and can be removed with
// `node rm`. Their daemons cannot reach the new cluster through the members
// they had; they leave (`swarm leave --force`) and join again. Workers keep
// their place: they reach the store through this manager.
import { KEYS, type ClusterStore } from './store.ts';
import type { NodeRecord } from './types.ts';

export async function dropLostManagers(store: ClusterStore, selfId: string): Promise<string[]> {
  const members = new Set((await store.members()).map((m) => m.name));
  const dropped: string[] = [];
  for (const node of await store.list<NodeRecord>(KEYS.nodes)) {
    if (node.ID === selfId || members.has(node.ID) || (node.Spec.Role !== 'manager' && !node.ManagerStatus)) continue;
    const next: NodeRecord = { ...node, UpdatedAt: new Date().toISOString(), Spec: { ...node.Spec, Role: 'worker' } };
    delete next.ManagerStatus;
    // Written over the revision read; a node changed meanwhile is not a manager lost here.
    if (await store.update(KEYS.nodes + node.ID, next)) {
      await store.delete(KEYS.heartbeats + node.ID);
      dropped.push(node.ID);
    }
  }
  return dropped;
}
