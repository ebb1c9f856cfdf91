// A small typed client for the Engine API over a unix socket or mutual-TLS
// TCP. It is the CLI's only way into the daemon.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { SshTarget } from './ssh-conn.ts';
import { ConnectionPool, exchange, type BodyWriter, type Response, type Upgraded } from './transport.ts';

export const CLIENT_API_VERSION = '1.51';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = 'ApiError';
  }
}

export class ConnectError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
    this.name = 'ConnectError';
  }
}

export interface HostSpec {
  url: string;
  socketPath?: string;
  hostname?: string;
  port?: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  ssh?: SshTarget;
}

export interface TlsFlags {
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

export function parseHost(host: string, tls: TlsFlags = {}): HostSpec {
  if (host.startsWith('unix://')) return { url: host, socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { url: `unix://${host}`, socketPath: host };
  if (host.startsWith('tcp://') || host.startsWith('https://')) {
    const u = new URL(host.replace(/^tcp:/, 'https:'));
    const certDir = process.env.DOCKER_CERT_PATH ?? join(process.env.HOME ?? '/root', '.docker');
    const verify = tls.tlsverify ?? (process.env.DOCKER_TLS_VERIFY !== undefined && process.env.DOCKER_TLS_VERIFY !== '');
    if (!verify) throw new ConnectError(`berth only speaks to TCP daemons over mutual TLS: set --tlsverify (or DOCKER_TLS_VERIFY=1)`, 'ENOTLS');
    return {
      url: host,
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || 2376),
      tls: {
        ca: readFileSync(tls.tlscacert ?? join(certDir, 'ca.pem')),
        cert: readFileSync(tls.tlscert ?? join(certDir, 'cert.pem')),
        key: readFileSync(tls.tlskey ?? join(certDir, 'key.pem')),
      },
    };
  }
  if (host.startsWith('ssh://')) return { url: host, ssh: parseSshHost(host) };
  throw new ConnectError(`unsupported host: ${host}`, 'EINVAL');
}

/** ssh://[user@]host[:port][/socket path], checked as the docker CLI checks it. */
function parseSshHost(host: string): SshTarget {
  let u: URL;
  try {
    u = new URL(host);
  } catch {
    throw new ConnectError(`invalid SSH URL: ${host}`, 'EINVAL');
  }
  if (u.password) throw new ConnectError('plain-text password is not supported', 'EINVAL');
  if (u.search || u.hash) throw new ConnectError(`extra path after the host: ${u.search}${u.hash}`, 'EINVAL');
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  if (!hostname) throw new ConnectError('no host specified', 'EINVAL');
  // Nothing ssh would read as an option: the host follows `--`, the user goes in -l.
  if (u.username.startsWith('-')) throw new ConnectError(`invalid SSH user: ${u.username}`, 'EINVAL');
  if (hostname.startsWith('-')) throw new ConnectError(`invalid SSH host: ${hostname}`, 'EINVAL');
  const path = decodeURIComponent(u.pathname);
  return {
    host: hostname,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    port: u.port ? Number(u.port) : undefined,
    socketPath: path && path !== '/' ? path : undefined,
  };
}

/**
 * A mutual-TLS daemon that refuses a client's certificate closes the
 * connection right after the handshake, without a TLS alert (Node's TLS
 * server does not send one): say so, and what is wrong with the certificate
 * when it can be seen from here.
 */
function refusedCertificate(url: string, tls: { ca: Buffer; cert: Buffer }): ConnectError {
  const why: string[] = [];
  try {
    const { X509Certificate } = process.getBuiltinModule('node:crypto');
    const cert = new X509Certificate(tls.cert);
    if (Date.parse(cert.validTo) < Date.now()) why.push(`it expired on ${cert.validTo}`);
    if (Date.parse(cert.validFrom) > Date.now()) why.push(`it is not valid before ${cert.validFrom}`);
    if (!cert.checkIssued(new X509Certificate(tls.ca))) why.push('it was not issued by the CA of --tlscacert');
  } catch {
    // An unreadable certificate: the daemon's refusal is all there is to say.
  }
  return new ConnectError(`error during connect: ${url}: the daemon refused this client's TLS certificate${why.length ? ` (${why.join('; ')})` : ''}`, 'ETLSREFUSED');
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  /** Raw request body (tar upload); sent as-is with the given content type. */
  stream?: Readable | BodyWriter;
  contentType?: string;
  headers?: Record<string, string>;
  /** Bytes of a streamed response read ahead of its reader (transport.ts RequestSpec.readAhead). */
  readAhead?: number;
}

export class EngineClient {
  readonly host: HostSpec;
  private pool: ConnectionPool | undefined;

  constructor(host: HostSpec) {
    this.host = host;
    // Over ssh a new connection is a new ssh session (a handshake, a remote
    // process): calls share them, as the docker CLI's do.
    if (host.ssh) this.pool = new ConnectionPool();
  }

  /**
   * Keeps connections open between calls from now on. For clients that make
   * many calls (compose); a one-request command gains nothing from it.
   */
  keepAlive(): this {
    this.pool ??= new ConnectionPool();
    return this;
  }

  private path(p: string, query?: CallOptions['query']): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) qs.append(k, x);
      else qs.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    }
    const s = qs.toString();
    return `/v${CLIENT_API_VERSION}${p}${s ? '?' + s : ''}`;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const h = this.host;
    // Over TCP the Host is the address dialled; on a socket, the name dockerd's clients use.
    const host = h.socketPath || h.ssh ? 'api.moby.localhost' : `${h.hostname?.includes(':') ? `[${h.hostname}]` : h.hostname}:${h.port}`;
    return { Host: host, 'User-Agent': 'berth-cli', ...extra };
  }

  private async exchange(method: string, path: string, headers: Record<string, string>, body?: Buffer | Readable | BodyWriter, readAhead?: number): Promise<Response | Upgraded> {
    try {
      return await exchange(this.host, { method, path, headers: this.headers(headers), body, readAhead }, this.pool);
    } catch (err) {
      throw this.connectError(err as NodeJS.ErrnoException);
    }
  }

  private async send(method: string, p: string, o: CallOptions, extraHeaders: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(o.headers ?? {}), ...extraHeaders };
    let body: Buffer | Readable | BodyWriter | undefined;
    if (o.body !== undefined) {
      body = Buffer.from(JSON.stringify(o.body));
      headers['Content-Type'] = 'application/json';
    } else if (o.stream) {
      body = o.stream;
      headers['Content-Type'] = o.contentType ?? 'application/x-tar';
    }
    const res = await this.exchange(method, this.path(p, o.query), headers, body, o.readAhead);
    if ('upgraded' in res) throw new ApiError(500, `unexpected upgrade in reply to ${method} ${p}`);
    return res;
  }

  private connectError(err: NodeJS.ErrnoException): Error {
    if (err.code === 'ESSH') return new ConnectError(`error during connect: ${err.message}`, 'ESSH');
    if ((err.code === 'ENORESPONSE' || err.code === 'ECONNRESET') && this.host.tls) return refusedCertificate(this.host.url, this.host.tls);
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
      const where = this.host.socketPath ? `unix://${this.host.socketPath}` : this.host.url;
      return new ConnectError(`Cannot connect to the berth daemon at ${where}. Is the berth daemon running?`, err.code);
    }
    return err;
  }

  private static async read(res: Response): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private static async check(res: Response): Promise<Response> {
    const status = res.statusCode ?? 0;
    if (status < 400) return res;
    const body = (await EngineClient.read(res)).toString('utf8');
    let message = body.trim();
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      // Not JSON: keep the text.
    }
    // The Go client trims the daemon's message, so the docker CLI never prints its trailing blanks.
    throw new ApiError(status, message.trim());
  }

  /** A JSON call; resolves with the parsed body (undefined for 204/304). */
  async call<T>(method: string, p: string, o: CallOptions = {}): Promise<T> {
    const res = await EngineClient.check(await this.send(method, p, o));
    const body = await EngineClient.read(res);
    if (body.length === 0) return undefined as T;
    const text = body.toString('utf8');
    return (res.headers['content-type']?.includes('json') ? JSON.parse(text) : text) as T;
  }

  /** A call answered by a stream of JSON messages (import, pull, push, build): every message, in order. */
  async messages<T>(method: string, p: string, o: CallOptions = {}): Promise<T[]> {
    const res = await EngineClient.check(await this.send(method, p, o));
    const text = (await EngineClient.read(res)).toString('utf8');
    return text.split(/\r?\n/).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
  }

  /** Status code of a call whose body does not matter (304 Not Modified matters for start/stop). */
  async status(method: string, p: string, o: CallOptions = {}): Promise<number> {
    const res = await EngineClient.check(await this.send(method, p, o));
    res.resume();
    return res.statusCode ?? 0;
  }

  /** A streaming response (logs, events, export, wait). */
  async stream(method: string, p: string, o: CallOptions = {}): Promise<Response> {
    return EngineClient.check(await this.send(method, p, o));
  }

  /** Upgrades the connection (attach, exec start): a raw duplex socket, paused until its reader resumes it. */
  async hijack(p: string, o: CallOptions = {}): Promise<{ socket: Socket; contentType: string }> {
    const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'tcp' };
    let body: Buffer | undefined;
    if (o.body !== undefined) {
      body = Buffer.from(JSON.stringify(o.body));
      headers['Content-Type'] = 'application/json';
    }
    const res = await this.exchange('POST', this.path(p, o.query), headers, body ?? Buffer.alloc(0));
    if ('upgraded' in res) return { socket: res.socket, contentType: res.headers['content-type'] ?? '' };
    await EngineClient.check(res);
    res.resume();
    throw new ApiError(res.statusCode, `unexpected response ${res.statusCode} to an upgrade`);
  }
}
