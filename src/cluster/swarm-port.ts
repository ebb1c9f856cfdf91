// The swarm port (2377) a manager serves to other nodes, over TLS with its
// node certificate. Two doors, as swarmkit's CA server:
//   GET  /ca       the root CA certificate, to anyone: a joiner checks its
//                  digest against the one its token carries before trusting it;
//   POST /join     a node's first contact: the token is checked and a node
//                  certificate issued (the request needs no certificate yet);
//   POST /promote  a node's own request once its record says manager: it must
//                  show its current certificate (mutual TLS), whose CN is checked;
//   POST /renew    a node's new certificate before its current one expires
//                  (mutual TLS: the current one names the node and its role);
//   POST /unlock-key  autolock's key, to another manager (mutual TLS) whose
//                  key files must follow a key set or rotated elsewhere;
//   POST /ca-key   a root rotation's new root and key, to another manager.
//   POST /task-files  a task's secret and config files, opened, to the node
//                  the task is assigned to (mutual TLS: the certificate names
//                  the node), as swarm's dispatcher sends a worker only the
//                  secrets of its own tasks; workers never hold the data key.
// Errors travel as {message} with the status the engine's error maps to, and
// come back on the caller's side as the same typed error.
import type { Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ConflictError, EngineError, ForbiddenError, InvalidArgumentError, NotFoundError, SystemError, UnavailableError } from '../errors.ts';
import { certIdentity } from './ca.ts';

export const SWARM_PORT = 2377;
const MAX_BODY = 64 * 1024;

/** What a joiner (or a promoted node) sends. */
export interface JoinRequest {
  Token?: string;
  Csr: string;
  /** The node's advertise address. */
  Addr: string;
  Description: Record<string, unknown> & { Hostname: string };
  Availability?: 'active' | 'pause' | 'drain';
  /** A manager's etcd ports on Addr. */
  Ports?: { client: number; peer: number };
}

/** What the manager answers: the node's identity and how to reach the store. */
export interface JoinGrant {
  NodeID: string;
  ClusterID: string;
  Role: 'manager' | 'worker';
  Cert: string;
  CACert: string;
  /** Managers only: they issue certificates too. */
  CAKey?: string;
  /** Managers only: the swarm's data key (base64), which seals secrets in etcd. */
  DataKey?: string;
  /** A new member's --initial-cluster. */
  InitialCluster?: string;
  /** The members' client URLs. */
  Endpoints: string[];
  /** A new manager's etcd member (a learner until it promotes itself). */
  MemberID?: string;
}

/** A task's file as /task-files carries it (TaskFile with its data in base64). */
export interface WireFile {
  Kind: 'secret' | 'config';
  Target: string;
  Data: string;
  UID: number;
  GID: number;
  Mode: number;
}

/** What a node serves: a manager all of it, a worker only its task logs. */
export interface PortHandlers {
  caCert?(): string;
  join?(req: JoinRequest): Promise<JoinGrant>;
  promote?(nodeId: string, req: JoinRequest): Promise<JoinGrant>;
  renew?(caller: { nodeId: string; role?: 'manager' | 'worker' }, req: JoinRequest): Promise<{ Cert: string; CACert: string }>;
  unlockKey?(nodeId: string): Promise<{ UnlockKey: string }>;
  /** A root rotation's new root and key, to another manager (ca-rotation.ts). */
  caKey?(nodeId: string): Promise<{ CACert: string; CAKey: string }>;
  /** GET /logs?…: a node's task logs, asked by the manager whose certificate names `caller` (node-logs.ts). */
  logs?(caller: string, query: URLSearchParams, res: ServerResponse, signal: AbortSignal): Promise<void>;
  /** POST /task-files {TaskID}: the files of a task assigned to `caller`, the node the certificate names (secrets.ts). */
  taskFiles?(caller: string, taskId: string): Promise<{ Files: WireFile[] }>;
}

function statusOf(err: unknown): number {
  if (err instanceof InvalidArgumentError) return 400;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof UnavailableError) return 503;
  return 500;
}

function errorOf(status: number, message: string): EngineError {
  if (status === 400) return new InvalidArgumentError(message);
  if (status === 403) return new ForbiddenError(message);
  if (status === 404) return new NotFoundError(message);
  if (status === 409) return new ConflictError(message);
  if (status === 503) return new UnavailableError(message);
  return new SystemError(message);
}

export function hostPort(addr: string, defPort = SWARM_PORT): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr) ?? /^([^:]+)(?::(\d+))?$/.exec(addr);
  if (!m) return { host: addr, port: defPort };
  return { host: m[1], port: m[2] ? Number(m[2]) : defPort };
}

export function listenSwarmPort(listen: string, tls: { ca: string; cert: string; key: string }, h: PortHandlers): Promise<Server> {
  const { host, port } = hostPort(listen);
  // node:https (and node:tls with it) loaded at the first use: a daemon out of a swarm never needs them.
  const server = process.getBuiltinModule('node:https').createServer({ ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        if (req.method === 'GET' && req.url === '/ca' && h.caCert) return reply(200, { CACert: h.caCert() });
        if (req.method === 'GET' && req.url?.startsWith('/logs?') && h.logs) {
          const sock = req.socket as TLSSocket;
          if (!sock.authorized) return reply(403, { message: 'a node certificate from this swarm is required' });
          const ac = new AbortController();
          res.on('close', () => ac.abort());
          return await h.logs(certIdentity(sock.getPeerCertificate().raw).nodeId, new URL(req.url, 'https://node').searchParams, res, ac.signal);
        }
        let body: JoinRequest;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JoinRequest;
        } catch {
          return reply(400, { message: 'invalid request body' });
        }
        if (req.method === 'POST' && req.url === '/join' && h.join) return reply(200, await h.join(body));
        if (req.method === 'POST' && req.url === '/task-files' && h.taskFiles) {
          const sock = req.socket as TLSSocket;
          if (!sock.authorized) return reply(403, { message: 'a node certificate from this swarm is required' });
          // The asking node is the one its certificate names, never one the body names.
          const taskId = (body as { TaskID?: unknown }).TaskID;
          if (typeof taskId !== 'string' || !taskId) return reply(400, { message: 'a task ID is required' });
          return reply(200, await h.taskFiles(certIdentity(sock.getPeerCertificate().raw).nodeId, taskId));
        }
        // The routes a manager serves to nodes that show a certificate of this swarm; a worker's port has none of them.
        if (req.method === 'POST' && h.promote && h.renew && h.unlockKey && h.caKey && ['/promote', '/renew', '/unlock-key', '/ca-key'].includes(req.url ?? '')) {
          const sock = req.socket as TLSSocket;
          // Only a certificate this cluster's CA issued, and still valid, names a node.
          if (!sock.authorized) return reply(403, { message: 'a node certificate from this swarm is required' });
          const caller = certIdentity(sock.getPeerCertificate().raw);
          if (req.url === '/promote') return reply(200, await h.promote(caller.nodeId, body));
          if (req.url === '/renew') return reply(200, await h.renew(caller, body));
          if (req.url === '/ca-key') return reply(200, await h.caKey(caller.nodeId));
          return reply(200, await h.unlockKey(caller.nodeId));
        }
        return reply(404, { message: 'page not found' });
      })().catch((err: unknown) => {
        if (res.headersSent) res.destroy();
        else reply(statusOf(err), { message: (err as Error).message });
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      // dockerd's words for a taken or foreign listen address.
      reject(new UnavailableError(`listen tcp ${host.includes(':') ? `[${host}]` : host}:${port}: bind: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EADDRNOTAVAIL' ? 'cannot assign requested address' : err.message}`));
    });
    server.listen(port, host, () => resolve(server));
  });
}

export interface CallResult<T> {
  body: T;
  /** This side's address of the connection: the address the manager sees. */
  localAddress: string;
}

/**
 * One call to a manager's swarm port. With `ca`, the manager's certificate
 * must chain to it (and name the address dialled); without, only /ca is
 * asked, whose answer the caller checks against its token.
 */
export function callManager<T>(remote: string, method: 'GET' | 'POST', path: string, o: { ca?: string; cert?: string; key?: string; body?: unknown; timeoutMs?: number } = {}): Promise<CallResult<T>> {
  const { host, port } = hostPort(remote);
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = process.getBuiltinModule('node:https').request({
      host, port, method, path,
      ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.ca !== undefined,
      headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {},
      timeout: o.timeoutMs ?? 60_000,
      agent: false,
    }, (res) => {
      const localAddress = res.socket.localAddress ?? '';
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reject(new SystemError(`the manager at ${remote} answered ${res.statusCode} with no JSON`));
        }
        const status = res.statusCode ?? 500;
        if (status !== 200) return reject(errorOf(status, (body as { message?: string }).message ?? `status ${status}`));
        resolve({ body: body as T, localAddress });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${(o.timeoutMs ?? 60_000) / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}
