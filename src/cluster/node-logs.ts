// Task logs across nodes. A manager answering `service logs` reads its own
// tasks' containers and asks every other node that runs one for the rest, on
// that node's swarm port with mutual TLS (each node serves GET /logs there;
// only a caller whose certificate and record say manager is answered). The
// entries come back as JSON lines, one batch a line, and the manager merges
// and formats them as for its own. swarmkit streams the other way (agents
// publish to the manager's log broker); a pull from the node needs no
// subscription state in the store and ends with the request.
//
//   /berth/swarm/log-ports/<node>   the port a node serves its logs on (its ListenAddr's)
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { LogEntry } from '../api/stream-frames.ts';
import { PREFIX, type ClusterStore } from './store.ts';
import type { NodeRecord } from './types.ts';

export const LOG_PORTS = `${PREFIX}log-ports/`;

/** What a `logs` request asks of a node: the query dockerd's route takes, and the tasks. */
export interface LogQuery {
  tasks: string[];
  stdout: boolean;
  stderr: boolean;
  /** As given (a timestamp or duration), parsed by the node. */
  since: string;
  tail: string;
  follow: boolean;
}

/** A node's own task logs (the daemon reads them from its containers). */
export type LogSource = (q: LogQuery, signal: AbortSignal) => AsyncGenerator<LogEntry[]>;

interface WireEntry { s: 'stdout' | 'stderr'; t: string; l: string; a?: Record<string, string> }

export function toQuery(q: LogQuery): URLSearchParams {
  return new URLSearchParams({
    tasks: q.tasks.join(','), stdout: q.stdout ? '1' : '0', stderr: q.stderr ? '1' : '0', since: q.since, tail: q.tail, follow: q.follow ? '1' : '0',
  });
}

function fromQuery(p: URLSearchParams): LogQuery {
  return {
    tasks: (p.get('tasks') ?? '').split(',').filter(Boolean), stdout: p.get('stdout') === '1', stderr: p.get('stderr') === '1',
    since: p.get('since') ?? '', tail: p.get('tail') ?? 'all', follow: p.get('follow') === '1',
  };
}

/** The swarm port's GET /logs: a manager's request answered from this node's containers. */
export function serveLogs(store: ClusterStore, source: () => LogSource | undefined) {
  return async (caller: string, params: URLSearchParams, res: ServerResponse, signal: AbortSignal): Promise<void> => {
    const node = await store.get<NodeRecord>(`${PREFIX}nodes/${caller}`);
    const read = source();
    if (node?.Spec.Role !== 'manager' || !read) {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'only a manager of this swarm reads task logs' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    for await (const batch of read(fromQuery(params), signal)) {
      const wire: WireEntry[] = batch.map((e) => ({ s: e.stream, t: e.time, l: e.line.toString('base64'), ...(e.attrs ? { a: e.attrs } : {}) }));
      if (!res.write(JSON.stringify(wire) + '\n')) await new Promise((r) => res.once('drain', r));
      if (signal.aborted) break;
    }
    res.end();
  };
}

/** Another node's task logs, asked of it with this node's certificate (files: CA, certificate, key). */
export async function* nodeLogs(store: ClusterStore, files: { ca: string; cert: string; key: string }, nodeId: string, q: LogQuery, signal: AbortSignal): AsyncGenerator<LogEntry[]> {
  const at = await logAddress(store, nodeId);
  if (!at) throw new Error(`node ${nodeId} serves no task logs`);
  yield* fetchNodeLogs(at, { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) }, q, signal);
}

/** Where a node serves its logs: its address and recorded port. */
async function logAddress(store: ClusterStore, nodeId: string): Promise<{ host: string; port: number } | undefined> {
  const [node, port] = await Promise.all([store.get<NodeRecord>(`${PREFIX}nodes/${nodeId}`), store.getString(LOG_PORTS + nodeId)]);
  if (!node?.Status.Addr || !port) return undefined;
  return { host: node.Status.Addr, port: Number(port) };
}

/** A node's task logs, batch by batch, over mutual TLS with this node's certificate. */
async function* fetchNodeLogs(at: { host: string; port: number }, tls: { ca: Buffer; cert: Buffer; key: Buffer }, q: LogQuery, signal: AbortSignal): AsyncGenerator<LogEntry[]> {
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    // node:https (and node:tls with it) loaded at the first use: a daemon out of a swarm never needs them.
    const req = process.getBuiltinModule('node:https').request({ host: at.host, port: at.port, method: 'GET', path: `/logs?${toQuery(q)}`, ca: tls.ca, cert: tls.cert, key: tls.key, agent: false, signal }, resolve);
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`node answered ${res.statusCode}`);
  }
  res.setEncoding('utf8');
  let rest = '';
  for await (const chunk of res) {
    rest += chunk as string;
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      const wire = JSON.parse(line) as WireEntry[];
      yield wire.map((w) => ({ stream: w.s, time: w.t, line: Buffer.from(w.l, 'base64'), ...(w.a ? { attrs: w.a } : {}) }));
    }
  }
}
