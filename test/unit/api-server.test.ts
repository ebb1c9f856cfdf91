// ApiServer's own guarantees, on a real unix socket with raw clients: an
// unexpected error is a 500 naming a request id logged once with its stack,
// ctx.pipe destroys its source when the client leaves, streams per peer are
// bounded (429), and a client too slow with its headers gets a 408.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ApiServer, LIMITS } from '../../src/daemon/server.ts';
import { NotFoundError } from '../../src/errors.ts';

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a raw request and resolves with the socket once the response's head arrived. */
function open(socketPath: string, path: string): Promise<{ sock: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`));
    sock.once('data', (c: Buffer) => resolve({ sock, head: c.toString('latin1') }));
  });
}

describe('ApiServer', () => {
  const dir = mkdtempSync('/tmp/berth-apiserver-');
  const socket = join(dir, 'api.sock');
  const logs: string[] = [];
  const api = new ApiServer();
  let destroyed: () => void;
  let sourceDestroyed = new Promise<void>((r) => { destroyed = r; });
  let pipeReturned = false;
  const savedTimeout = LIMITS.headersTimeoutMs;

  before(async () => {
    LIMITS.headersTimeoutMs = 800;
    api.log = (level, msg) => { logs.push(`${level} ${msg}`); };
    // A handler bug: reading a property of what turned out to be null.
    api.route('GET', '/boom', () => {
      const o = JSON.parse('null') as { x: number };
      return { body: o.x };
    });
    // A reply Node refuses to send (a header value with a newline).
    api.route('GET', '/badheader', () => ({ body: {}, headers: { 'X-Bad': 'a\nb' } }));
    api.route('GET', '/missing', () => {
      throw new NotFoundError('No such thing: x');
    });
    api.route('GET', '/endless', async (ctx) => {
      let n = 0;
      const source = new Readable({
        read() { this.push(Buffer.alloc(16 << 10, n++ & 0xff)); },
        destroy(err, cb) { destroyed(); cb(err); },
      });
      await ctx.pipe(200, 'application/octet-stream', source);
      pipeReturned = true;
    });
    api.route('GET', '/finite', (ctx) => ctx.pipe(200, 'text/plain', Readable.from(['one ', 'two'])));
    api.route('GET', '/hold', async (ctx) => {
      const out = ctx.stream(200, 'application/json');
      await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
      out.end();
    });
    const server = api.listenUnix(socket);
    await new Promise((r) => server.once('listening', r));
  });
  after(async () => {
    LIMITS.headersTimeoutMs = savedTimeout;
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an unexpected error: 500 with a request id, one log line with that id and the stack', async () => {
    const r = await get(socket, '/boom');
    assert.equal(r.status, 500);
    const message = (JSON.parse(r.body) as { message: string }).message;
    const m = /^Cannot read properties of null \(reading 'x'\) \(request id ([0-9a-f]{12})\)$/.exec(message);
    assert.ok(m, message);
    const lines = logs.filter((l) => l.includes(m[1]));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^error request [0-9a-f]{12} GET \/boom failed: TypeError: Cannot read properties of null[^\n]*\n +at /);
    // A typed error keeps its status and dockerd's wording, with no id and no error line.
    const before = logs.filter((l) => l.startsWith('error')).length;
    const nf = await get(socket, '/missing');
    assert.equal(nf.status, 404);
    assert.deepEqual(JSON.parse(nf.body), { message: 'No such thing: x' });
    assert.equal(logs.filter((l) => l.startsWith('error')).length, before);
  });

  test('a reply Node cannot send is a 500 with a request id too', async () => {
    const r = await get(socket, '/badheader');
    assert.equal(r.status, 500);
    assert.match((JSON.parse(r.body) as { message: string }).message, /Invalid character in header content \["X-Bad"\] \(request id [0-9a-f]{12}\)$/);
    assert.equal((await get(socket, '/missing')).status, 404, 'the server goes on');
  });

  test('ctx.pipe: a client that leaves destroys the source and ends the handler', async () => {
    const { sock, head } = await open(socket, '/endless');
    assert.match(head, /^HTTP\/1\.1 200 /);
    sock.destroy();
    await sourceDestroyed;
    for (let i = 0; i < 50 && !pipeReturned; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(pipeReturned, 'the handler returned');
    assert.deepEqual(logs.filter((l) => l.startsWith('error')).map((l) => l.slice(0, 200)).filter((l) => l.includes('/endless')), [], 'a client leaving is no error');
    sourceDestroyed = new Promise<void>((r) => { destroyed = r; });
  });

  test('streams per peer are bounded: 429 past the limit, room again once one closes', async () => {
    api.maxStreamsPerPeer = 3;
    const held = await Promise.all([1, 2, 3].map(() => open(socket, '/hold')));
    for (const h of held) assert.match(h.head, /^HTTP\/1\.1 200 /);
    const over = await get(socket, '/hold');
    assert.equal(over.status, 429);
    assert.match(over.body, /too many concurrent streams \(3\) from this client: at most 3/);
    held[0].sock.destroy();
    let again = '';
    for (let i = 0; i < 50 && !again.startsWith('HTTP/1.1 200'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      const o = await open(socket, '/hold');
      again = o.head;
      o.sock.destroy();
    }
    assert.match(again, /^HTTP\/1\.1 200 /);
    for (const h of held) h.sock.destroy();
    // The server sees those closes on its next turns.
    await new Promise((r) => setTimeout(r, 100));
  });

  test('a finished stream frees its place, also on a kept-alive connection', async () => {
    api.maxStreamsPerPeer = 2;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({ socketPath: socket, path: '/finite', agent }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => { body += c.toString(); });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
        assert.deepEqual(r, { status: 200, body: 'one two' }, `stream ${i}`);
      }
    } finally {
      agent.destroy();
    }
  });

  test('headers not complete in time: 408, and the socket is closed', async () => {
    const got = await new Promise<string>((resolve) => {
      const sock = connect(socket);
      let out = '';
      sock.on('connect', () => sock.write('GET /hold HTTP/1.1\r\nHost: t\r\nX-Slow: '));
      sock.on('data', (c: Buffer) => { out += c.toString(); });
      const timer = setTimeout(() => sock.destroy(), 10_000);
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
    assert.match(got, /^HTTP\/1\.1 408 /);
    assert.match(got, /request headers not received in time/);
  });
});
