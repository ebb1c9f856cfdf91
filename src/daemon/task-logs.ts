// The logs of swarm tasks whose containers this engine holds, one source per
// container, each entry carrying the swarm context (node, service and task
// ID) as its attributes: what `GET /services/{id}/logs` merges here, and what
// this node serves a manager that asks for them (cluster/node-logs.ts).
import { once } from 'node:events';
import type { ContainerService } from '../containers/service.ts';
import { readLogBatches } from '../containers/logs.ts';
import { logFile } from '../containers/log-drivers.ts';
import { parseTimestampArg } from '../api/timestamps.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { LogEntry } from '../api/stream-frames.ts';
import { TASK_LABELS } from '../cluster/local-engine.ts';
import type { LogQuery } from '../cluster/node-logs.ts';

/** `tail` as the API takes it: all, or a count. */
export function parseTail(raw: string | null): number | 'all' {
  const tail = raw === null || raw === '' || raw === 'all' ? 'all' : Number(raw);
  if (tail !== 'all' && (!Number.isInteger(tail) || tail < 0)) throw new InvalidArgumentError(`invalid value for "tail": "${raw}"`);
  return tail;
}

export function localTaskLogs(containers: ContainerService, q: LogQuery, signal: AbortSignal): AsyncGenerator<LogEntry[]>[] {
  const since = q.since ? parseTimestampArg(q.since, new Date()) : 0;
  const tail = parseTail(q.tail);
  const wanted = new Set(q.tasks);
  const sources: AsyncGenerator<LogEntry[]>[] = [];
  for (const c of containers.list()) {
    const labels = c.Config.Labels ?? {};
    const task = labels[TASK_LABELS.taskId];
    if (!task || !wanted.has(task)) continue;
    const file = logFile(c);
    if (!file) continue;
    const context = { 'com.docker.swarm.node.id': labels[TASK_LABELS.nodeId] ?? '', 'com.docker.swarm.service.id': labels[TASK_LABELS.serviceId] ?? '', 'com.docker.swarm.task.id': task };
    const follow = q.follow && c.State.Running;
    const followUntil = follow ? once(containers.output(c.Id), 'end', { signal }).then(() => {}, () => {}) : undefined;
    sources.push((async function* () {
      for await (const batch of readLogBatches(file.path, { stdout: q.stdout, stderr: q.stderr, since, tail, follow, signal, followUntil })) {
        yield batch.map((e) => ({ ...e, attrs: { ...(e.attrs ?? {}), ...context } }));
      }
    })());
  }
  return sources;
}

/**
 * Several async sources as one, in the order their batches arrive (as
 * dockerd's broker). `more` hands in sources while it runs (a follow's new
 * tasks); the merge ends when `more` and every source have ended.
 */
export async function* merge<T>(sources: AsyncGenerator<T>[], more?: AsyncIterator<AsyncGenerator<T>>): AsyncGenerator<T> {
  type Step = { i: number; r: IteratorResult<T> } | { i: -1; r: IteratorResult<AsyncGenerator<T>> };
  const all = [...sources];
  const pending: (Promise<Step> | undefined)[] = all.map((s, i) => s.next().then((r) => ({ i, r })));
  const askMore = (): Promise<Step> | undefined => more?.next().then((r) => ({ i: -1 as const, r }));
  let nextSource = askMore();
  for (;;) {
    const racing = [...pending.filter((p): p is Promise<Step> => p !== undefined), ...(nextSource ? [nextSource] : [])];
    if (racing.length === 0) return;
    const step = await Promise.race(racing);
    if (step.i === -1) {
      if (step.r.done) {
        nextSource = undefined;
        continue;
      }
      const source = step.r.value as AsyncGenerator<T>;
      const i = all.push(source) - 1;
      pending[i] = source.next().then((r) => ({ i, r }));
      nextSource = askMore();
      continue;
    }
    const { i, r } = step;
    if (r.done) {
      // A finished source never settles again.
      pending[i] = undefined;
      continue;
    }
    pending[i] = all[i].next().then((x) => ({ i, r: x }));
    yield r.value as T;
  }
}
