// `berth ui`'s server: the dashboard's built files (dist/ui/) and the Engine
// API of the daemon the CLI would use, proxied under /api/ through the CLI's
// own transport (unix socket, mutual TLS or ssh alike). A terminal's exec
// stream is a hijacked connection the browser cannot open itself: it is
// bridged to a WebSocket at /ws/exec/ID. It adds no route of its own to the
// API, so the dashboard can do nothing the API does not allow.
// Built as its own bundle (dist/ui-server.cjs) and loaded only by `berth ui`,
// so the CLI's startup snapshot carries none of it.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { exchange, type Endpoint } from '../client/transport.ts';
import { isLoopbackAddress } from '../api/address.ts';
import { Guard, parseAddr } from './guard.ts';

export interface DashboardOptions {
  /** The daemon: the CLI's HostSpec (socketPath, hostname/port/tls or ssh). */
  endpoint: Endpoint & { url: string };
  /** --addr: HOST:PORT; loopback only, unless `tls` is given. */
  addr: string;
  /**
   * --tlsverify's material (PEM): the dashboard is served over HTTPS to
   * clients with a certificate the CA signed, as the daemon's API is; only
   * then may it listen on another address than loopback.
   */
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** dist/ui/: index.html and its assets. */
  root: string;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.woff2': 'font/woff2', '.ico': 'image/x-icon',
};

// Headers of the browser's that the daemon has no business seeing (the token's cookie above all).
const DROP = new Set(['host', 'cookie', 'origin', 'referer', 'connection', 'upgrade', 'keep-alive', 'transfer-encoding', 'content-length', 'accept-encoding']);

function daemonHost(ep: DashboardOptions['endpoint']): string {
  return ep.socketPath || ep.ssh ? 'api.moby.localhost' : `${ep.hostname?.includes(':') ? `[${ep.hostname}]` : ep.hostname}:${ep.port}`;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ message }));
}

async function proxy(o: DashboardOptions, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const headers: Record<string, string> = { Host: daemonHost(o.endpoint), 'User-Agent': 'berth-ui' };
  for (const [k, v] of Object.entries(req.headers)) {
    if (!DROP.has(k) && typeof v === 'string') headers[k] = v;
  }
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined;
  let up;
  try {
    up = await exchange(o.endpoint, { method: req.method ?? 'GET', path, headers, body: hasBody ? req : undefined });
  } catch (err) {
    refuse(res, 502, `Cannot connect to the berth daemon at ${o.endpoint.url}: ${(err as Error).message}`);
    return;
  }
  if ('upgraded' in up) {
    up.socket.destroy();
    refuse(res, 400, 'streams are served at /ws/');
    return;
  }
  const out: Record<string, string> = { 'Cache-Control': 'no-store' };
  for (const k of ['content-type', 'docker-experimental', 'api-version', 'ostype', 'server', 'x-docker-container-path-stat']) if (up.headers[k]) out[k] = up.headers[k];
  res.writeHead(up.statusCode, out);
  // A followed stream (logs, events, stats) ends when the browser goes away.
  res.on('close', () => up.destroy());
  up.on('error', () => res.destroy());
  up.pipe(res);
}

async function serveFile(o: DashboardOptions, res: ServerResponse, pathname: string): Promise<void> {
  const root = resolve(o.root);
  let file = resolve(root, '.' + decodeURIComponent(pathname));
  if (file !== root && !file.startsWith(root + sep)) return refuse(res, 404, 'not found');
  if (file === root || !extname(file)) file = join(root, 'index.html'); // the app's own routes
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
      'Cache-Control': file.includes(`${sep}assets${sep}`) ? 'max-age=31536000, immutable' : 'no-store',
    });
    res.end(body);
  } catch {
    refuse(res, 404, `not found: ${pathname}${file.endsWith('index.html') ? ' (the dashboard is not built: run scripts/build.mjs)' : ''}`);
  }
}

/** An exec started on a hijacked connection, its tty bridged to the WebSocket both ways. */
async function bridgeExec(o: DashboardOptions, ws: WebSocket, id: string, size: [number, number] | undefined): Promise<void> {
  const body = Buffer.from(JSON.stringify({ Detach: false, Tty: true, ...(size ? { ConsoleSize: size } : {}) }));
  let up;
  try {
    up = await exchange(o.endpoint, {
      method: 'POST', path: `/exec/${encodeURIComponent(id)}/start`, body,
      headers: { Host: daemonHost(o.endpoint), 'User-Agent': 'berth-ui', 'Content-Type': 'application/json', Connection: 'Upgrade', Upgrade: 'tcp' },
    });
  } catch (err) {
    ws.close(1011, (err as Error).message.slice(0, 120));
    return;
  }
  if (!('upgraded' in up)) {
    const chunks: Buffer[] = [];
    for await (const c of up) chunks.push(c as Buffer);
    let message = Buffer.concat(chunks).toString('utf8');
    try { message = (JSON.parse(message) as { message: string }).message; } catch { /* plain text */ }
    ws.close(4000 + Math.min(up.statusCode, 999), message.slice(0, 120));
    return;
  }
  const s = up.socket;
  s.on('data', (d: Buffer) => ws.send(d));
  s.on('end', () => ws.close(1000));
  s.on('error', () => ws.close(1011));
  s.resume();
  ws.on('message', (d: Buffer) => s.write(d));
  ws.on('close', () => s.destroy());
}

/** The DNS names and IP addresses of a certificate's subjectAltName. */
function certificateNames(pem: Buffer): string[] {
  let cert;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new Error(`cannot read the TLS certificate: ${(err as Error).message}`);
  }
  return (cert.subjectAltName ?? '').split(/,\s*/).map((e) => /^(?:DNS|IP Address):(.+)$/.exec(e)?.[1]).filter((n): n is string => n !== undefined);
}

export async function serveDashboard(o: DashboardOptions): Promise<Dashboard> {
  const { host, port: wanted } = parseAddr(o.addr);
  // Without TLS client authentication, anyone who can reach the port could drive the daemon.
  // A loopback address is the only kind the dashboard serves without TLS client authentication.
  if (!isLoopbackAddress(host) && !o.tls) {
    throw new Error(`refusing to serve the dashboard on ${host} without TLS client authentication: a non-loopback address needs --tlsverify --tlscacert --tlscert --tlskey`);
  }
  const names = o.tls ? certificateNames(o.tls.cert) : [];
  const guard = new Guard({ tls: o.tls !== undefined });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  const handler: RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const why = guard.refusal(req, url.pathname === '/' ? url.searchParams.get('token') : undefined);
    if (why) return refuse(res, 403, why);
    if (url.searchParams.has('token')) {
      // The token moves into a cookie and out of the address bar (and history).
      res.writeHead(303, { 'Set-Cookie': guard.cookie(), Location: '/', 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    if (url.pathname.startsWith('/api/')) void proxy(o, req, res, url.pathname.slice('/api'.length) + url.search);
    else void serveFile(o, res, url.pathname);
  };
  const server: Server = o.tls
    ? createTlsServer({ ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, handler)
    : createServer(handler);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/ws\/exec\/([A-Za-z0-9_.-]+)$/.exec(url.pathname);
    const why = guard.refusal(req) ?? (req.headers.origin ? undefined : 'a WebSocket must carry its Origin') ?? (m ? undefined : 'no such stream');
    if (why) {
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${why}\n`);
      return;
    }
    const h = Number(url.searchParams.get('h'));
    const w = Number(url.searchParams.get('w'));
    wss.handleUpgrade(req, socket, head, (ws) => void bridgeExec(o, ws, m![1], h > 0 && w > 0 ? [h, w] : undefined));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(wanted, host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : wanted;
  guard.listening(host, port, names);
  // A wildcard address is reached by a name its certificate holds (the first), else this host's name.
  const wildcard = host === '0.0.0.0' || host === '::';
  const name = wildcard ? names.find((n) => n !== '127.0.0.1' && n !== 'localhost' && n !== '::1') ?? hostname() : host;
  const shown = name.includes(':') ? `[${name}]` : name;
  return {
    url: `${o.tls ? 'https' : 'http'}://${shown}:${port}/?token=${guard.token}`,
    close: () => new Promise((ok) => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
