// Peers for the distribution tests: the CNCF registry (Debian's
// docker-registry) on loopback with a generated config, optionally with
// htpasswd auth; a fault proxy in front of any registry; a non-blocking
// process runner (the registries are our children and their pipes must drain).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

export interface Result { code: number; stdout: string; stderr: string }

export function runAsync(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    // A process that exits without reading its stdin must not fail the test with EPIPE.
    p.stdin.on('error', () => {});
    p.stdin.end(o.input ?? '');
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 180_000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

/** An htpasswd file (bcrypt, as the CNCF registry wants it) for these users. */
export function writeHtpasswd(dir: string, users: Record<string, string>): string {
  const path = join(dir, `htpasswd-${randomBytes(3).toString('hex')}`);
  writeFileSync(path, Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5).replace(/^\$2b\$/, '$2y$')}`).join('\n') + '\n');
  return path;
}

export interface CncfRegistry {
  /** http://127.0.0.1:port */
  url: string;
  /** localhost:port, as image references name it (loopback: plain HTTP). */
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts docker-registry on a free loopback port; with `users`, behind htpasswd Basic auth. */
export async function startCncfRegistry(o: { users?: Record<string, string> } = {}): Promise<CncfRegistry> {
  const dir = mkdtempSync('/tmp/berth-cncf-');
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const cfg = join(dir, 'config.yml');
    const lines = [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
    ];
    if (o.users) lines.push(`auth: { htpasswd: { realm: basic-realm, path: ${writeHtpasswd(dir, o.users)} } }`);
    writeFileSync(cfg, lines.join('\n') + '\n');
    const proc: ChildProcess = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
    const url = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && proc.exitCode === null; i++) {
      const status = await fetch(`${url}/v2/`).then((r) => r.status, () => 0);
      if (status === 200 || status === 401) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) {
      proc.kill('SIGKILL');
      if (attempt < 3) continue;
      throw new Error(`docker-registry did not start: ${err}`);
    }
    const exited = new Promise((r) => proc.once('exit', r));
    return {
      url, port, host: `localhost:${port}`,
      stop: async () => {
        if (proc.exitCode === null) {
          proc.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/**
 * What the proxy does with one request: undefined passes it through;
 * otherwise a status to answer with, or `truncate` (forward, but cut the
 * body after that many bytes and drop the connection), or `corrupt` (forward
 * with every byte of the body flipped), or `stall` (answer nothing).
 */
export type Fault = { status: number } | { truncate: number } | { corrupt: true } | { stall: true } | { delayMs: number } | undefined;

export interface FaultProxy {
  url: string;
  host: string;
  seen: SeenRequest[];
  /** Decides per request; replace at will between steps of a test. */
  rule: (req: SeenRequest, nth: number) => Fault;
  stop(): Promise<void>;
}

/** A tiny HTTP proxy in front of `target` (http://host:port) that injects faults per request. */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const t = new URL(target);
  const counts = new Map<string, number>();
  const proxy: FaultProxy = { url: '', host: '', seen: [], rule: () => undefined, stop: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const seen: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    proxy.seen.push(seen);
    const key = `${seen.method} ${seen.url.split('?')[0]}`;
    const nth = (counts.get(key) ?? 0) + 1;
    counts.set(key, nth);
    const fault = proxy.rule(seen, nth);
    if (fault && 'status' in fault) {
      req.resume();
      res.writeHead(fault.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: fault.status === 404 ? 'MANIFEST_UNKNOWN' : fault.status === 401 ? 'UNAUTHORIZED' : 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    if (fault && 'stall' in fault) {
      req.resume();
      return;
    }
    const forward = () => {
      const headers = { ...req.headers, host: t.host };
      const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers }, (ur) => {
        // Location headers name the upstream; rewrite them to go through us.
        const h = { ...ur.headers };
        if (typeof h.location === 'string') h.location = h.location.replace(target, proxy.url);
        res.writeHead(ur.statusCode ?? 502, h);
        if (fault && 'truncate' in fault) {
          let sent = 0;
          ur.on('data', (c: Buffer) => {
            if (sent >= fault.truncate) return;
            const part = c.subarray(0, fault.truncate - sent);
            sent += part.length;
            res.write(part);
            if (sent >= fault.truncate) {
              ur.destroy();
              res.socket?.destroy();
            }
          });
          return;
        }
        if (fault && 'corrupt' in fault) {
          ur.on('data', (c: Buffer) => res.write(Buffer.from(c.map((b) => b ^ 0xff))));
          ur.on('end', () => res.end());
          return;
        }
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (fault && 'delayMs' in fault) setTimeout(forward, fault.delayMs);
    else forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.host = `localhost:${port}`;
  proxy.stop = () => new Promise((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  return proxy;
}
