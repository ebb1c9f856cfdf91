// What the swarm commands share: `self` as a node reference, the ID → name
// resolver of `ps` outputs, and the task table `node ps`, `service ps` and
// `stack ps` print.
import type { EngineClient } from '../client/engine-client.ts';
import { ApiError } from '../client/engine-client.ts';
import type { Node, Service, Task } from '../api/swarm.ts';
import { CliError } from './context.ts';
import { formatRows } from './format/table.ts';
import { listFormat, TASK_HEADERS, TASK_RAW, TASK_TABLE, taskRows, type Resolver } from './format/swarm-context.ts';

/** node.Reference: `self` is this node, found through /info. */
export async function nodeReference(client: EngineClient, ref: string): Promise<string> {
  if (ref !== 'self') return ref;
  const info = await client.call<{ Swarm: { NodeID: string } }>('GET', '/info');
  if (!info.Swarm.NodeID) {
    // Not a manager: a swarm route says why.
    await client.call('GET', '/nodes');
    throw new CliError('node ID not found in /info', 1);
  }
  return info.Swarm.NodeID;
}

/** idresolver: names looked up once each; `noResolve` keeps the IDs. */
export function resolver(client: EngineClient, noResolve: boolean): { prepare(tasks: Task[]): Promise<void>; r: Resolver } {
  const services = new Map<string, string>();
  const nodes = new Map<string, string>();
  return {
    async prepare(tasks: Task[]) {
      if (noResolve) return;
      for (const t of tasks) {
        if (!services.has(t.ServiceID)) {
          try {
            services.set(t.ServiceID, (await client.call<Service>('GET', `/services/${encodeURIComponent(t.ServiceID)}`)).Spec.Name ?? t.ServiceID);
          } catch (err) {
            if (!(err instanceof ApiError && err.status === 404)) throw err;
            services.set(t.ServiceID, t.ServiceID);
          }
        }
        const n = t.NodeID ?? '';
        if (n && !nodes.has(n)) {
          try {
            const node = await client.call<Node>('GET', `/nodes/${encodeURIComponent(n)}`);
            nodes.set(n, node.Spec.Name || node.Description?.Hostname || n);
          } catch (err) {
            if (!(err instanceof ApiError && err.status === 404)) throw err;
            nodes.set(n, n);
          }
        }
      }
    },
    r: {
      service: (id) => services.get(id) ?? id,
      node: (id) => nodes.get(id) ?? id,
    },
  };
}

export interface TaskListFlags {
  noTrunc?: boolean;
  noResolve?: boolean;
  quiet?: boolean;
  format?: string;
}

/** task.Print. */
export async function printTasks(client: EngineClient, tasks: Task[], f: TaskListFlags): Promise<void> {
  const res = resolver(client, f.noResolve === true);
  await res.prepare(tasks);
  const format = listFormat(f.format, f.quiet, TASK_TABLE, TASK_RAW);
  const rows = taskRows(tasks, res.r, !f.noTrunc, format.startsWith('table'));
  process.stdout.write(formatRows(format, rows, { headers: TASK_HEADERS }));
}
