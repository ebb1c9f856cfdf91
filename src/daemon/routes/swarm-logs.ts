// GET /services/{id}/logs and /tasks/{id}/logs: the logs of a service's
// task containers on this node, as dockerd's log broker streams them. Each
// entry carries the swarm context as attributes (node, service and task ID),
// which `details=1` prints before the line: the docker CLI always asks for it,
// reads it to print `<task name>@<node>  | line`, and strips it again.
import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { ApiServer, Context } from '../server.ts';
import type { Engine } from '../engine.ts';
import { InvalidArgumentError } from '../../errors.ts';
import { boolParam } from './query.ts';
import { encodeFrames, formatLogLine, type LogEntry } from '../../api/stream-frames.ts';
import { readLogBatches } from '../../containers/logs.ts';
import { logFile } from '../../containers/log-drivers.ts';
import { parseTimestampArg } from '../../api/timestamps.ts';
import type { TaskRecord } from '../../cluster/types.ts';

const MUX = 'application/vnd.docker.multiplexed-stream';
const RAW = 'application/vnd.docker.raw-stream';

/** Several async sources as one, in the order their batches arrive (as dockerd's broker). */
async function* merge<T>(sources: AsyncGenerator<T>[]): AsyncGenerator<T> {
  const next = sources.map((s, i) => s.next().then((r) => ({ i, r })));
  let live = sources.length;
  while (live > 0) {
    const { i, r } = await Promise.race(next.filter(Boolean));
    if (r.done) {
      // A finished source never settles again.
      next[i] = undefined as never;
      live--;
      continue;
    }
    next[i] = sources[i].next().then((x) => ({ i, r: x }));
    yield r.value;
  }
}

export function swarmLogRoutes(api: ApiServer, engine: Engine): void {
  const { cluster, containers } = engine;

  const serve = async (ctx: Context, tasks: TaskRecord[], tty: boolean): Promise<void> => {
    const q = ctx.query;
    const stdout = boolParam(q, 'stdout');
    const stderr = boolParam(q, 'stderr');
    if (!stdout && !stderr) throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
    const now = new Date();
    const since = q.get('since') ? parseTimestampArg(q.get('since') as string, now) : 0;
    const tailRaw = q.get('tail');
    const tail = tailRaw === null || tailRaw === '' || tailRaw === 'all' ? 'all' : Number(tailRaw);
    if (tail !== 'all' && (!Number.isInteger(tail) || tail < 0)) throw new InvalidArgumentError(`invalid value for "tail": "${tailRaw}"`);
    const opts = { timestamps: boolParam(q, 'timestamps'), details: boolParam(q, 'details') };
    const follow = boolParam(q, 'follow');

    // The tasks whose containers this node holds (other nodes' logs need their engines: not yet).
    const here = cluster.nodeId;
    const sources: AsyncGenerator<LogEntry[]>[] = [];
    for (const t of tasks) {
      const id = t.Status.ContainerStatus?.ContainerID;
      if (!id || t.NodeID !== here) continue;
      let c;
      try {
        c = containers.get(id);
      } catch {
        continue; // its container is gone with the task's history
      }
      const file = logFile(c);
      if (!file) continue;
      const context = { 'com.docker.swarm.node.id': t.NodeID ?? '', 'com.docker.swarm.service.id': t.ServiceID, 'com.docker.swarm.task.id': t.ID };
      const followThis = follow && c.State.Running;
      const followUntil = followThis ? once(containers.output(c.Id), 'end', { signal: ctx.signal }).then(() => {}, () => {}) : undefined;
      sources.push((async function* () {
        for await (const batch of readLogBatches(file.path, { stdout, stderr, since, tail, follow: followThis, signal: ctx.signal, followUntil })) {
          yield batch.map((e) => ({ ...e, attrs: { ...(e.attrs ?? {}), ...context } }));
        }
      })());
    }
    const frames = async function* (): AsyncGenerator<Buffer> {
      for await (const batch of merge(sources)) {
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
    await serve(ctx, tasks.filter((t) => t.ServiceID === svc.ID), svc.Spec.TaskTemplate?.ContainerSpec?.TTY === true);
  });
  api.route('GET', '/tasks/:id/logs', async (ctx) => {
    const objects = cluster.objects();
    const t = await objects.task(ctx.params.id);
    await serve(ctx, [t], t.Spec.ContainerSpec?.TTY === true);
  });
}
