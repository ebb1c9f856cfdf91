// One HTTP/1.1 exchange with the daemon over a fresh connection. node:http
// is not used: in Node 26 importing it loads undici, about 55 ms of a CLI
// whose whole `run --rm` budget is 100 ms. Requests are written here (they
// are a few lines); responses are parsed by http-parser-js.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { HTTPParser } from 'http-parser-js';

export interface Endpoint {
  socketPath?: string;
  hostname?: string;
  port?: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
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
export async function exchange(ep: Endpoint, r: RequestSpec): Promise<Response | Upgraded> {
  const s = await open(ep);
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
      s.destroy();
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
        reject(new Error('the daemon closed the connection without a response'));
      }
    };
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('error', (err) => {
      if (upgraded) return;
      if (res) res.destroy(err);
      else reject(err);
    });
  });
}
