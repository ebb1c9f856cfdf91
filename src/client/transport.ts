// One HTTP/1.1 exchange with the daemon, over a fresh connection or, given a
// ConnectionPool, over one a previous exchange left open. node:http is not used: in Node 26 importing it loads undici, about 55 ms of a CLI
// whose whole `run --rm` budget is 100 ms. Requests are written here (they
// are a few lines); responses are parsed by http-parser-js.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { HTTPParser } from 'http-parser-js';
import { sshConnect, type SshTarget } from './ssh-conn.ts';

export interface Endpoint {
  socketPath?: string;
  hostname?: string;
  port?: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** ssh://: the connection is an ssh process running `berth system dial-stdio` remotely. */
  ssh?: SshTarget;
}

export interface RequestSpec {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** A whole body (sent with Content-Length), or a stream or a writer (sent chunked). */
  body?: Buffer | Readable | BodyWriter;
  /**
   * Bytes of the response body read ahead of its consumer (default 16 KiB).
   * A consumer that blocks now and then (cp's extraction, in creat(2)) keeps
   * the daemon writing meanwhile instead of stalling it at the socket's buffer.
   */
  readAhead?: number;
}

/**
 * A body that writes itself: each piece goes out as one HTTP chunk, and its
 * `done` is called once the socket has taken it (the writer reuses its buffer
 * then); the promise settles at the body's end.
 */
export type BodyWriter = (write: (bytes: Buffer, done: (err?: Error | null) => void) => void) => Promise<void>;

/** A response: its status and headers (names lower-cased), and its body as a stream. */
export class Response extends Readable {
  statusCode = 0;
  headers: Record<string, string> = {};
  private readonly onRead: () => void;
  constructor(onRead: () => void, highWaterMark?: number) {
    super({ highWaterMark });
    this.onRead = onRead;
  }
  override _read(): void {
    this.onRead();
  }
}

/** A response to an upgrade request that was accepted: the raw connection. */
export interface Upgraded {
  upgraded: true;
  statusCode: number;
  headers: Record<string, string>;
  socket: Socket;
}

async function open(ep: Endpoint): Promise<Socket> {
  if (ep.ssh) return sshConnect(ep.ssh);
  if (ep.socketPath) {
    const s = netConnect(ep.socketPath);
    await onceConnected(s, 'connect');
    return s;
  }
  // Loaded only for TCP hosts, synchronously: the CLI's startup snapshot has no dynamic import().
  const { connect: tlsConnect } = process.getBuiltinModule('node:tls');
  const host = ep.hostname ?? 'localhost';
  const s = tlsConnect({ host, port: ep.port, ca: ep.tls?.ca, cert: ep.tls?.cert, key: ep.tls?.key, ...(isIP(host) ? {} : { servername: host }) });
  await onceConnected(s, 'secureConnect');
  return s;
}

/**
 * Idle connections to one daemon, kept open between exchanges (HTTP/1.1
 * keep-alive). A client that makes many calls in a row (compose) pays the
 * connect once. Idle sockets are unref'd, so they never keep a process alive.
 */
export class ConnectionPool {
  private readonly idle: Socket[] = [];
  /** The listener put() added to each idle connection: take() removes exactly it, whatever else listens (an ssh connection's own). */
  private readonly drops = new WeakMap<Socket, () => void>();
  private readonly max: number;

  constructor(max = 8) {
    this.max = max;
  }

  take(): Socket | undefined {
    for (let s = this.idle.pop(); s; s = this.idle.pop()) {
      const drop = this.drops.get(s);
      if (drop) {
        s.off('error', drop);
        s.off('end', drop);
        this.drops.delete(s);
      }
      if (s.destroyed || !s.readable || !s.writable) continue;
      s.ref();
      return s;
    }
    return undefined;
  }

  put(s: Socket): void {
    if (this.idle.length >= this.max || s.destroyed) {
      s.destroy();
      return;
    }
    s.unref();
    // The daemon may close an idle connection (its keep-alive timeout): forget it then.
    const drop = (): void => {
      s.destroy();
      const i = this.idle.indexOf(s);
      if (i >= 0) this.idle.splice(i, 1);
    };
    this.drops.set(s, drop);
    s.once('error', drop);
    s.once('end', drop);
    s.resume();
    this.idle.push(s);
  }

  close(): void {
    for (const s of this.idle.splice(0)) s.destroy();
  }
}

/** A request with no body or a whole one: it can be sent again, so it may share connections. */
function replayable(r: RequestSpec): boolean {
  return r.body === undefined || Buffer.isBuffer(r.body);
}

/** A reused connection that failed before any response: the daemon closed it while idle. */
class StaleConnection extends Error {}

/** A new connection the daemon closed before any response (over TLS: it refused the client's certificate). */
export class NoResponseError extends Error {
  readonly code = 'ENORESPONSE';
  constructor() {
    super('the daemon closed the connection without a response');
  }
}

function onceConnected(s: Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once(event, () => {
      s.off('error', reject);
      resolve();
    });
    s.once('error', reject);
  });
}

function writeRequest(s: Socket, r: RequestSpec): void {
  const headers = { ...r.headers };
  if (Buffer.isBuffer(r.body)) headers['Content-Length'] = String(r.body.length);
  else if (r.body) headers['Transfer-Encoding'] = 'chunked';
  else if (r.method !== 'GET' && r.method !== 'HEAD') headers['Content-Length'] = '0';
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k + v)) throw new Error(`invalid header ${k}`);
    head += `${k}: ${v}\r\n`;
  }
  s.write(head + '\r\n');
  if (Buffer.isBuffer(r.body)) {
    if (r.body.length) s.write(r.body);
    return;
  }
  const body = r.body;
  if (!body) return;
  if (typeof body === 'function') {
    body((bytes, done) => {
      if (bytes.length === 0) {
        done();
        return;
      }
      // One writev for the chunk's size line, bytes and CRLF; writes complete in order.
      s.cork();
      s.write(`${bytes.length.toString(16)}\r\n`);
      s.write(bytes);
      s.write('\r\n', done);
      s.uncork();
    }).then(() => s.write('0\r\n\r\n'), (err: Error) => s.destroy(err));
    return;
  }
  body.on('data', (c: Buffer | string) => {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    if (b.length === 0) return;
    // One writev for the chunk's size line, bytes and CRLF.
    s.cork();
    s.write(`${b.length.toString(16)}\r\n`);
    s.write(b);
    const more = s.write('\r\n');
    s.uncork();
    if (!more) {
      body.pause();
      s.once('drain', () => body.resume());
    }
  });
  body.on('end', () => s.write('0\r\n\r\n'));
  body.on('error', (err) => s.destroy(err));
}

/**
 * Sends a request and resolves once the response headers are in: a Response
 * whose body streams, or, for an accepted upgrade (101), the raw socket.
 */
export async function exchange(ep: Endpoint, r: RequestSpec, pool?: ConnectionPool): Promise<Response | Upgraded> {
  // Only a request whose body can be sent again may go over a reused connection.
  const reused = pool && replayable(r) ? pool.take() : undefined;
  if (reused) {
    try {
      return await exchangeOn(reused, r, pool, true);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
    }
  }
  return exchangeOn(await open(ep), r, pool, false);
}

function exchangeOn(s: Socket, r: RequestSpec, pool: ConnectionPool | undefined, reused: boolean): Promise<Response | Upgraded> {
  writeRequest(s, r);
  return new Promise((resolve, reject) => {
    const parser = new HTTPParser(HTTPParser.RESPONSE);
    let res: Response | undefined;
    let upgraded = false;
    let finished = false;
    parser[HTTPParser.kOnHeadersComplete] = (info) => {
      const headers: Record<string, string> = {};
      for (let i = 0; i + 1 < info.headers.length; i += 2) {
        const k = info.headers[i].toLowerCase();
        headers[k] = k in headers ? `${headers[k]}, ${info.headers[i + 1]}` : info.headers[i + 1];
      }
      if (info.statusCode === 101 && info.upgrade) {
        upgraded = true;
        resolve({ upgraded: true, statusCode: 101, headers, socket: s });
        return 2; // stop: what follows is the upgraded stream
      }
      res = new Response(() => s.resume(), r.readAhead);
      // A body its reader gave up on (a followed log, events) closes the connection:
      // the daemon would otherwise go on streaming into a socket nobody reads.
      res.once('close', () => { if (!finished) s.destroy(); });
      res.statusCode = info.statusCode;
      res.headers = headers;
      resolve(res);
      return r.method === 'HEAD' ? 1 : 0;
    };
    parser[HTTPParser.kOnBody] = (chunk, offset, length) => {
      if (res && !res.push(chunk.subarray(offset, offset + length))) s.pause();
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      if (upgraded) return; // the parser "completes" the 101 itself; the stream goes on
      finished = true;
      res?.push(null);
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', onError);
      const reusable = pool && replayable(r) && res?.headers.connection?.toLowerCase() !== 'close';
      if (reusable) queueMicrotask(() => pool.put(s));
      else s.destroy();
    };
    const onData = (chunk: Buffer) => {
      const n = parser.execute(chunk);
      if (n instanceof Error) {
        s.destroy();
        const err = new Error(`malformed response from the daemon: ${n.message}`);
        if (res) res.destroy(err);
        else reject(err);
        return;
      }
      if (upgraded) {
        s.off('data', onData);
        s.off('end', onEnd);
        s.pause();
        if (n < chunk.length) s.unshift(chunk.subarray(n));
      }
    };
    const onEnd = () => {
      if (finished || upgraded) return;
      const err = parser.finish();
      if (res) {
        if (err instanceof Error) res.destroy(new Error('the daemon closed the connection mid-response'));
        else res.push(null);
      } else {
        reject(reused ? new StaleConnection() : new NoResponseError());
      }
    };
    const onError = (err: Error): void => {
      if (upgraded) return;
      if (res) res.destroy(err);
      else reject(reused ? new StaleConnection() : err);
    };
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('error', onError);
  });
}
