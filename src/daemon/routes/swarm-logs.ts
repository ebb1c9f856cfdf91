// GET /services/{id}/logs and /tasks/{id}/logs: the logs of a service's
// tasks on every node, as dockerd's log broker streams them: this node's from
// its containers, each other node's asked of it over the swarm port
// (cluster/node-logs.ts). Each entry carries the swarm context as attributes
// (node, service and task ID), which `details=1` prints before the line: the
// docker CLI always asks for it, reads it to print `<task name>@<node> | line`,
// and strips it again. A follow of a service also takes in the tasks that
// start after the request.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiServer, Context } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError, NotFoundError } from '../../errors.ts';
import { boolParam } from './query.ts';
import { encodeFrames, formatLogLine, type LogEntry } from '../../api/stream-frames.ts';
import { parseTimestampArg } from '../../api/timestamps.ts';
import type { TaskRecord } from '../../cluster/types.ts';
import type { LogQuery } from '../../cluster/node-logs.ts';
import { localTaskLogs, merge, parseTail } from '../task-logs.ts';

const MUX = 'application/vnd.docker.multiplexed-stream';
const RAW = 'application/vnd.docker.raw-stream';
/** How often a followed service's task list is read for new tasks. */
const FOLLOW_POLL_MS = 1000;

/** Tasks that have had a container, by the node that holds it. */
function tasksByNode(tasks: TaskRecord[]): Map<string, string[]> {
  const byNode = new Map<string, string[]>();
  for (const t of tasks) {
    if (!t.Status.ContainerStatus?.ContainerID || !t.NodeID) continue;
    byNode.set(t.NodeID, [...(byNode.get(t.NodeID) ?? []), t.ID]);
  }
  return byNode;
}

export function swarmLogRoutes(api: ApiServer, engine: Engine): void {
  const { cluster, containers } = engine;
  // What this node serves a manager asking for its tasks' logs.
  cluster.logSource = (q, signal) => merge(localTaskLogs(containers, q, signal));

  /** Another node's share; a node that cannot answer (down, unreachable) leaves its tasks out, as the log broker does. */
  async function* remote(nodeId: string, q: LogQuery, signal: AbortSignal): AsyncGenerator<LogEntry[]> {
    try {
      yield* cluster.remoteLogs(nodeId, q, signal);
    } catch (err) {
      if (!signal.aborted) cluster.log('warn', `service logs: node ${nodeId}: ${(err as Error).message}`);
    }
  }

  /** A task's share: this node's containers, or the node that holds it. */
  const sourcesFor = (byNode: Map<string, string[]>, base: Omit<LogQuery, 'tasks'>, signal: AbortSignal): AsyncGenerator<LogEntry[]>[] => {
    const sources: AsyncGenerator<LogEntry[]>[] = [];
    for (const [node, ids] of byNode) {
      const lq = { ...base, tasks: ids };
      if (node === cluster.nodeId) sources.push(...localTaskLogs(containers, lq, signal));
      else sources.push(remote(node, lq, signal));
    }
    return sources;
  };

  /**
   * A followed service's tasks that get a container after the request (a
   * scale, an update, a replacement), whole from their first line, as the
   * log broker adds a subscription's new tasks; until the client goes or the
   * service is removed.
   */
  async function* laterTasks(serviceId: string, seen: Set<string>, base: Omit<LogQuery, 'tasks'>, signal: AbortSignal): AsyncGenerator<AsyncGenerator<LogEntry[]>> {
    const objects = cluster.objects();
    while (!signal.aborted) {
      await sleep(FOLLOW_POLL_MS, undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      let tasks: TaskRecord[];
      try {
        await objects.service(serviceId);
        tasks = await objects.tasks({ service: [serviceId] });
      } catch (err) {
        if (err instanceof NotFoundError) return;
        continue; // the store away for a moment (an election): asked again at the next tick
      }
      const fresh = tasksByNode(tasks.filter((t) => t.ServiceID === serviceId && !seen.has(t.ID)));
      for (const ids of fresh.values()) for (const id of ids) seen.add(id);
      yield* sourcesFor(fresh, { ...base, tail: 'all' }, signal);
    }
  }

  const serve = async (ctx: Context, tasks: TaskRecord[], tty: boolean, followService?: string): Promise<void> => {
    const q = ctx.query;
    const stdout = boolParam(q, 'stdout');
    const stderr = boolParam(q, 'stderr');
    if (!stdout && !stderr) throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
    const since = q.get('since') ?? '';
    if (since) parseTimestampArg(since, new Date());
    parseTail(q.get('tail'));
    const opts = { timestamps: boolParam(q, 'timestamps'), details: boolParam(q, 'details') };
    const base = { stdout, stderr, since, tail: q.get('tail') ?? 'all', follow: boolParam(q, 'follow') };

    const byNode = tasksByNode(tasks);
    const sources = sourcesFor(byNode, base, ctx.signal);
    const seen = new Set([...byNode.values()].flat());
    const later = base.follow && followService ? laterTasks(followService, seen, base, ctx.signal) : undefined;
    const frames = async function* (): AsyncGenerator<Buffer> {
      for await (const batch of merge(sources, later)) {
        const lines = batch.map((e) => formatLogLine(e, opts));
        yield tty ? Buffer.concat(lines) : encodeFrames(batch.map((e, i) => ({ stream: e.stream === 'stderr' ? 2 : 1, payload: lines[i] })));
      }
    };
    await ctx.pipe(200, tty ? RAW : MUX, Readable.from(frames(), { objectMode: false }));
  };

  api.route('GET', '/services/:id/logs', async (ctx) => {
    const objects = cluster.objects();
    const svc = await objects.service(ctx.params.id);
    const tasks = await objects.tasks({ service: [svc.ID] });
    await serve(ctx, tasks.filter((t) => t.ServiceID === svc.ID), svc.Spec.TaskTemplate?.ContainerSpec?.TTY === true, svc.ID);
  });
  api.route('GET', '/tasks/:id/logs', async (ctx) => {
    const objects = cluster.objects();
    const t = await objects.task(ctx.params.id);
    await serve(ctx, [t], t.Spec.ContainerSpec?.TTY === true);
  });
}
