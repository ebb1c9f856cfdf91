// The Engine API's HTTP server: version prefixes, routing, JSON bodies,
// error → status mapping (the only place it happens), and connection
// hijacking for attach/exec, both as clients upgrade (`Upgrade: tcp`) and as
// plain streaming responses for clients that do not.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import FindMyWay from 'find-my-way';
import { lingerOnClose } from '../api/linger.ts';
import { InvalidArgumentError, EngineError, TooLargeError, TooManyRequestsError } from '../errors.ts';
import { httpStatus } from './routes/errors.ts';
import { trimNativeHeap } from './native-heap.ts';

/** The abort reason of a request whose connection closed. */
const CLOSED = new DOMException('This operation was aborted', 'AbortError');

export const API_VERSION = '1.51';
export const MIN_API_VERSION = '1.24';
export const ENGINE_VERSION = '0.1.0';

/** A hijacked connection: what the client sends, and where to write back. */
export interface Hijacked {
  input: Readable;
  output: Writable;
  /** True when the client asked to upgrade (docker CLI, SDKs); false for plain HTTP streaming. */
  upgraded: boolean;
  end(): void;
}

export interface Context {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  req: IncomingMessage;
  apiVersion: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  body(): Promise<Buffer>;
  json<T>(): Promise<T>;
  /** Starts a streaming response; the handler writes and ends it. */
  stream(status: number, contentType: string, headers?: Record<string, string>): Writable;
  /** Takes over the connection (attach, exec start). */
  hijack(contentType: string, upgrade?: string): Promise<Hijacked>;
  /** The request body as a stream (import, load). */
  bodyStream(): Readable;
  /**
   * Streams `source` as the response body. When the client goes away the
   * source is destroyed (which must release its files and processes) and
   * this resolves; a failure of the source ends the response as truncated.
   */
  pipe(status: number, contentType: string, source: Readable, headers?: Record<string, string>): Promise<void>;
  /** Short id of this request, in its log lines and in a 500's message. */
  id: string;
}

/**
 * What one client may hold. dockerd documents no limits; these are far above
 * what any client sends (Go's http server also takes 1 MiB of headers) and
 * low enough that a misbehaving one cannot exhaust the daemon's memory or fds.
 */
export const LIMITS = {
  /** A request body read whole into memory (JSON, /auth); streamed bodies (import, load, build) have none. */
  bufferedBody: 10 << 20,
  headers: 1 << 20,
  /** Time to send the request line and headers (no slow-loris holding a socket forever). */
  headersTimeoutMs: 60_000,
  /**
   * Concurrent streaming responses (logs -f, events, attach, wait, export, ...)
   * per peer: room for `compose up` of a few hundred services (an attach and a
   * wait each), far below the daemon's fd limit.
   */
  streamsPerPeer: 1024,
};

export type Reply = { status?: number; body?: unknown; headers?: Record<string, string>; raw?: string } | void;
export type Handler = (ctx: Context) => Promise<Reply> | Reply;
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';

export function versionLess(a: string, b: string): boolean {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am < bm || (am === bm && an < bn);
}

export class ApiServer {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true });
  private readonly handlers: Handler[] = [];
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  /** Streaming responses in progress per peer (a TCP address; all local clients of a unix socket are one peer). */
  private readonly streams = new Map<string, number>();
  maxStreamsPerPeer = LIMITS.streamsPerPeer;
  log: (level: string, msg: string) => void = () => {};
  /** Requests since the last idle collection (idleCollector). */
  private requestsSinceCollect = 0;
  private lastRequestAt = 0;
  private idleTimer?: NodeJS.Timeout;

  /**
   * After a burst of requests V8 keeps the heap it grew to and malloc the
   * native memory freed meanwhile: with the daemon idle for `idleMs`, one full
   * collection (the launcher exposes gc) and a malloc trim give those pages
   * back, so a daemon's memory returns to where it was.
   */
  collectWhenIdle(idleMs = 30_000): void {
    const gc = (globalThis as { gc?: (o: { type: 'major'; flavor: 'last-resort' }) => void }).gc;
    this.idleTimer = setInterval(() => {
      if (this.requestsSinceCollect === 0 || Date.now() - this.lastRequestAt < idleMs) return;
      this.requestsSinceCollect = 0;
      // V8's low-memory collection: unlike a plain gc() it also shrinks the
      // young generation and unmaps the pages it pooled.
      gc?.({ type: 'major', flavor: 'last-resort' });
      // Backing stores it freed are released by a background sweeper: trim after.
      setTimeout(trimNativeHeap, 1_000).unref();
    }, idleMs / 2);
    this.idleTimer.unref();
  }

  route(method: Method, path: string, handler: Handler): void {
    const idx = this.handlers.push(handler) - 1;
    this.router.on(method, path, () => {}, { idx });
  }

  private match(method: string, path: string): { handler: Handler; params: Record<string, string> } | undefined {
    const found = this.router.find(method as Method, path);
    if (!found) return undefined;
    const store = found.store as { idx: number };
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(found.params)) if (v !== undefined) params[k] = v;
    return { handler: this.handlers[store.idx], params };
  }

  listenUnix(path: string): Server {
    const server = this.makeServer();
    server.listen(path);
    return server;
  }

  /** A listening socket handed over by systemd (socket activation). */
  listenFd(fd: number): Server {
    const server = this.makeServer();
    server.listen({ fd });
    return server;
  }

  listenTcp(host: string, port: number, tls?: { ca?: Buffer; cert: Buffer; key: Buffer; verify: boolean }): Server {
    const server = this.makeServer(tls);
    server.listen(port, host);
    return server;
  }

  private makeServer(tls?: { ca?: Buffer; cert: Buffer; key: Buffer; verify: boolean }): Server {
    // Node checks the headers timeout every connectionsCheckingInterval.
    const http = { maxHeaderSize: LIMITS.headers, connectionsCheckingInterval: Math.min(30_000, LIMITS.headersTimeoutMs / 4) };
    const server: Server = tls
      // Half-open as Node's plain HTTP server is: the docker CLI closes its writing side of an attach
      // (over TLS a close_notify) and reads on; a TLS socket that is not half-open ended the output there.
      // node:https, and node:tls with it (2.6 MiB resident), only for a TLS listener.
      ? process.getBuiltinModule('node:https').createServer({ ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: tls.verify, rejectUnauthorized: tls.verify, minVersion: 'TLSv1.2', allowHalfOpen: true, ...http })
      : createHttpServer(http);
    server.keepAliveTimeout = 60_000;
    // Bodies and responses stream as long as they need; headers may not.
    server.headersTimeout = LIMITS.headersTimeoutMs;
    server.requestTimeout = 0;
    // Garbage, oversized headers or a timeout before a request is complete:
    // a clear 4xx where the socket can still take one, never a crash.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable || (socket as Socket).bytesWritten > 0) {
        socket.destroy();
        return;
      }
      const [status, message] =
        err.code === 'HPE_HEADER_OVERFLOW' ? [431, `request headers are larger than ${LIMITS.headers} bytes`]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request headers not received in time']
        : [400, `malformed HTTP request: ${err.code ?? err.message}`];
      const body = JSON.stringify({ message }) + '\n';
      // Closed gracefully, reading what the client still sends: node's own
      // handler destroys the socket, and a client still sending then loses
      // the answer to a reset.
      socket.on('error', () => {});
      socket.resume();
      socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      setTimeout(() => socket.destroy(), 5_000).unref();
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // Even answering an error can fail (a header Node refuses): that request's
    // connection goes, the daemon stays.
    const failed = (req: IncomingMessage, conn: Duplex) => (err: unknown) => {
      this.log('error', `${req.method} ${req.url}: cannot answer: ${err instanceof Error ? err.stack : String(err)}`);
      conn.destroy();
    };
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.dispatch(req, res, undefined, undefined).catch(failed(req, req.socket)));
    // Node hands over a Duplex: the socket itself, or (when it still had to parse
    // a request body) a stream wrapping it.
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.dispatch(req, undefined, socket, head).catch(failed(req, socket)));
    // Node closes a CONNECT without a word unless someone listens: it is a
    // method like any other here, answered (404) through the raw socket.
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.dispatch(req, undefined, socket, head).catch(failed(req, socket)));
    this.servers.push(server);
    return server;
  }

  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    for (const s of this.servers) s.close();
    for (const s of this.sockets) s.destroy();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse | undefined, upSocket: Duplex | undefined, head: Buffer | undefined): Promise<void> {
    this.requestsSinceCollect++;
    this.lastRequestAt = Date.now();
    // An absolute-form target can fail to parse (`GET http://[ HTTP/1.1`): a 400, not a throw outside the try.
    const url = URL.parse(req.url ?? '/', 'http://berth');
    let path = url?.pathname ?? '/';
    let apiVersion = API_VERSION;
    const vm = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    const started = Date.now();
    const abort = new AbortController();
    const id = randomBytes(6).toString('hex');
    const headers: Record<string, string> = {
      'Api-Version': API_VERSION,
      'Docker-Experimental': 'false',
      Ostype: 'linux',
      Server: `Docker/${ENGINE_VERSION} (linux)`,
    };
    let responded = false;

    // Upgraded requests carry their body in `head` and the socket; others in req.
    let bodyPromise: Promise<Buffer> | undefined;
    const tooLarge = () => new TooLargeError(`request body is larger than the limit of ${LIMITS.bufferedBody} bytes`);
    const readBody = (): Promise<Buffer> => {
      if (bodyPromise) return bodyPromise;
      if (Number(req.headers['content-length'] ?? 0) > LIMITS.bufferedBody) {
        // The body is not kept: it is discarded as it comes, so a client still
        // sending it reads the answer instead of a reset, and the connection
        // closes after it (or after 5 s, whatever is still coming).
        headers.Connection = 'close';
        req.resume();
        lingerOnClose(req.socket, 5_000);
        bodyPromise = Promise.reject(tooLarge());
        return bodyPromise;
      }
      if (upSocket) {
        const len = Number(req.headers['content-length'] ?? 0);
        const sock = upSocket;
        // Node 22+ parses an upgrade request's body into req; older releases
        // leave it in `head` and the socket. Take it from wherever it is.
        bodyPromise = readAll(req).then(async (parsed) => {
          const [body, rest] = await readExactly(sock, Buffer.concat([parsed, head ?? Buffer.alloc(0)]), len);
          head = rest;
          return body;
        });
      } else {
        bodyPromise = new Promise((resolve, reject) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const onData = (c: Buffer) => {
            size += c.length;
            if (size <= LIMITS.bufferedBody) {
              chunks.push(c);
              return;
            }
            req.off('data', onData);
            req.off('end', onEnd);
            req.pause();
            headers.Connection = 'close';
            chunks.length = 0;
            reject(tooLarge());
          };
          const onEnd = () => resolve(Buffer.concat(chunks));
          req.on('data', onData);
          req.on('end', onEnd);
          req.on('error', reject);
          req.on('close', () => {
            if (!req.readableEnded) reject(new InvalidArgumentError('the connection closed before the request body was complete'));
          });
        });
      }
      return bodyPromise;
    };

    const sendJson = (status: number, body: unknown, extra: Record<string, string> = {}, raw?: string) => {
      const payload = raw !== undefined ? raw : body === undefined ? '' : JSON.stringify(body) + '\n';
      const h: Record<string, string> = { ...headers, ...extra };
      if (payload !== '' && !h['Content-Type']) h['Content-Type'] = raw !== undefined ? 'text/plain; charset=utf-8' : 'application/json';
      if (res) {
        // Throws for headers Node refuses, before anything is sent: the error's 500 can still go out.
        res.writeHead(status, { ...h, 'Content-Length': String(Buffer.byteLength(payload)) });
        responded = true;
        res.end(req.method === 'HEAD' ? undefined : payload);
      } else if (upSocket) {
        responded = true;
        upSocket.end(
          `HTTP/1.1 ${status} ${statusText(status)}\r\n` +
            Object.entries({ ...h, 'Content-Length': String(Buffer.byteLength(payload)) }).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
            '\r\n' + payload,
        );
      }
    };

    // One shared reason: abort() without one builds a DOMException, and its stack, for every request that ends.
    (res ?? upSocket)?.on('close', () => abort.abort(CLOSED));
    // Counts this request against its peer's streams from its first streamed byte to its close.
    const peer = req.socket.remoteAddress ?? 'unix';
    const takeStream = () => {
      const n = this.streams.get(peer) ?? 0;
      if (n >= this.maxStreamsPerPeer) {
        throw new TooManyRequestsError(`too many concurrent streams (${n}) from this client: at most ${this.maxStreamsPerPeer} logs, events, attach, exec, export, build, pull or push streams at once`);
      }
      this.streams.set(peer, n + 1);
      const release = () => {
        const left = (this.streams.get(peer) ?? 1) - 1;
        if (left > 0) this.streams.set(peer, left);
        else this.streams.delete(peer);
      };
      const conn = (res ?? upSocket) as NodeJS.EventEmitter & { closed?: boolean; destroyed?: boolean };
      if (conn.closed || conn.destroyed) release();
      else conn.once('close', release);
    };
    // A client that goes away mid-stream must not take the daemon with it:
    // writes then fail with EPIPE, which the close above already handles.
    upSocket?.on('error', () => abort.abort());
    res?.on('error', () => abort.abort());

    try {
      if (!url) throw new InvalidArgumentError(`invalid request target: ${req.url}`);
      if (vm) {
        apiVersion = vm[1];
        path = vm[2];
        if (versionLess(API_VERSION, apiVersion)) {
          throw new InvalidArgumentError(`client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`);
        }
        if (versionLess(apiVersion, MIN_API_VERSION)) {
          throw new InvalidArgumentError(`client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
        }
      }
      const method = req.method === 'HEAD' && path === '/_ping' ? 'HEAD' : req.method ?? 'GET';
      const m = this.match(method, path);
      if (!m) {
        responded = true;
        sendJson(404, { message: 'page not found' });
        return;
      }
      const ctx: Context = {
        method,
        path,
        params: m.params,
        query: url.searchParams,
        req,
        apiVersion,
        signal: abort.signal,
        body: readBody,
        async json<T>(): Promise<T> {
          const b = await readBody();
          if (b.length === 0) return {} as T;
          try {
            return JSON.parse(b.toString('utf8')) as T;
          } catch (err) {
            throw new InvalidArgumentError(`invalid JSON: ${(err as Error).message}`);
          }
        },
        id,
        stream: (status, contentType, extra = {}) => {
          takeStream();
          responded = true;
          if (res) {
            res.writeHead(status, { ...headers, 'Content-Type': contentType, ...extra });
            res.flushHeaders();
            return res;
          }
          const s = upSocket as Duplex;
          s.write(`HTTP/1.1 ${status} ${statusText(status)}\r\n` + Object.entries({ ...headers, 'Content-Type': contentType, ...extra, Connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
          return s;
        },
        hijack: async (contentType, upgrade = 'tcp') => {
          takeStream();
          responded = true;
          if (upSocket) {
            await readBody();
            const s = upSocket;
            if (s instanceof Socket) s.setNoDelay(true);
            s.write(`HTTP/1.1 101 UPGRADED\r\n${contentType ? `Content-Type: ${contentType}\r\n` : ''}Connection: Upgrade\r\nUpgrade: ${upgrade}\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
            const input = new PassThrough();
            if (head && head.length) input.write(head);
            s.pipe(input);
            return { input, output: s, upgraded: true, end: () => s.end() };
          }
          const r = res as ServerResponse;
          r.writeHead(200, { ...headers, 'Content-Type': contentType });
          r.flushHeaders();
          return { input: req, output: r, upgraded: false, end: () => r.end() };
        },
        bodyStream: () => {
          if (upSocket) {
            const p = new PassThrough();
            if (head && head.length) p.write(head);
            upSocket.pipe(p);
            return p;
          }
          return req;
        },
        pipe: async (status, contentType, source, extra) => {
          let out: Writable;
          try {
            out = ctx.stream(status, contentType, extra);
          } catch (err) {
            source.destroy();
            throw err;
          }
          try {
            await pipeline(source, out, { signal: abort.signal });
          } catch (err) {
            // The client went away: the source is destroyed, which is all there is to do.
            if (abort.signal.aborted || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
            throw err;
          }
        },
      };
      const reply = await m.handler(ctx);
      if (!responded) {
        const r = reply ?? {};
        sendJson(r.status ?? (r.body === undefined && r.raw === undefined ? 204 : 200), r.body, r.headers, r.raw);
      }
    } catch (err) {
      const status = httpStatus(err);
      let message = err instanceof Error ? err.message : String(err);
      if (abort.signal.aborted) {
        // What failed was reading from, writing to, or working for a client that is gone.
        this.log('debug', `request ${id} ${req.method} ${path}: ended after the client went away: ${message}`);
      } else if (!(err instanceof EngineError)) {
        // One line with the stack, found by the id the client was given.
        this.log('error', `request ${id} ${req.method} ${path} failed: ${err instanceof Error ? err.stack : message}`);
        message = `${message} (request id ${id})`;
      }
      if (!responded) {
        sendJson(status, status === 304 ? undefined : { message });
      } else {
        // Cut the stream rather than end it: a truncated tar or log must not look complete.
        (res ?? upSocket)?.destroy();
      }
    } finally {
      this.log('debug', `${req.method} ${req.url} ${Date.now() - started}ms`);
    }
  }
}

/** Reads `len` bytes starting with `head` from a socket; returns them and the surplus. */
function readAll(stream: IncomingMessage): Promise<Buffer> {
  if (stream.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= LIMITS.bufferedBody) chunks.push(c);
      else reject(new TooLargeError(`request body is larger than the limit of ${LIMITS.bufferedBody} bytes`));
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.on('close', () => {
      if (!stream.readableEnded) reject(new InvalidArgumentError('the connection closed before the request body was complete'));
    });
  });
}

function readExactly(socket: Duplex, head: Buffer, len: number): Promise<[Buffer, Buffer]> {
  if (head.length >= len) return Promise.resolve([head.subarray(0, len), head.subarray(len)]);
  return new Promise((resolve, reject) => {
    let buf = head;
    // A client that leaves before its whole body came must not leave the handler waiting.
    const onClose = () => reject(new InvalidArgumentError('the connection closed before the request body was complete'));
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= len) {
        socket.off('data', onData);
        socket.off('error', reject);
        socket.off('close', onClose);
        socket.pause();
        resolve([buf.subarray(0, len), buf.subarray(len)]);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.once('close', onClose);
  });
}

function statusText(status: number): string {
  return ({
    200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
  } as Record<number, string>)[status] ?? 'OK';
}

