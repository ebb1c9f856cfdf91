// The client's keep-alive pool, against a real HTTP server on a unix socket:
// calls in a row share one connection, a connection the server closed while
// idle is replaced without the caller seeing it, and a client without the
// pool opens one connection per call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '../../src/client/engine-client.ts';

async function serve(keepAliveTimeout: number): Promise<{ server: Server; socketPath: string; connections: () => number; done: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-keepalive-'));
  const socketPath = join(dir, 's.sock');
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ path: req.url, body: Buffer.concat(chunks).toString() }));
    });
  });
  server.keepAliveTimeout = keepAliveTimeout;
  // Node adds a grace period to the timeout (keepAliveTimeoutBuffer, 1 s by default).
  (server as Server & { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    server, socketPath, connections: () => connections,
    done: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('calls in a row share one connection when the client keeps them', async () => {
  const s = await serve(5000);
  try {
    const client = new EngineClient({ url: `unix://${s.socketPath}`, socketPath: s.socketPath }).keepAlive();
    for (let i = 0; i < 5; i++) {
      const r = await client.call<{ path: string; body: string }>('POST', `/x/${i}`, { body: { i } });
      assert.equal(r.body, JSON.stringify({ i }));
      assert.match(r.path, new RegExp(`/x/${i}$`));
    }
    assert.equal(s.connections(), 1);
    // Parallel calls each need a connection of their own, and come back to the pool.
    await Promise.all([1, 2, 3].map((i) => client.call('GET', `/p/${i}`)));
    assert.equal(s.connections(), 3);
    await client.call('GET', '/after');
    assert.equal(s.connections(), 3);
  } finally {
    await s.done();
  }
});

test('a connection the server closed while idle is replaced, unseen by the caller', async () => {
  const s = await serve(50);
  try {
    const client = new EngineClient({ url: `unix://${s.socketPath}`, socketPath: s.socketPath }).keepAlive();
    await client.call('GET', '/one');
    await new Promise((r) => setTimeout(r, 1500));
    const r = await client.call<{ path: string }>('GET', '/two');
    assert.match(r.path, /\/two$/);
    assert.equal(s.connections(), 2);
  } finally {
    await s.done();
  }
});

test('without keep-alive every call opens its own connection', async () => {
  const s = await serve(5000);
  try {
    const client = new EngineClient({ url: `unix://${s.socketPath}`, socketPath: s.socketPath });
    for (let i = 0; i < 3; i++) await client.call('GET', `/x/${i}`);
    assert.equal(s.connections(), 3);
  } finally {
    await s.done();
  }
});

test('a reused connection that dies before answering is retried once on a new one', async () => {
  // A raw server: each connection answers its first request, then hangs up on
  // the next without a word, as a daemon closing an idle connection at the
  // moment the client reuses it would.
  const { createServer: createNetServer } = await import('node:net');
  const dir = mkdtempSync(join(tmpdir(), 'berth-keepalive-'));
  const socketPath = join(dir, 's.sock');
  let connections = 0;
  const socks = new Set<import('node:net').Socket>();
  const server = createNetServer((sock) => {
    connections++;
    socks.add(sock);
    let answered = false;
    sock.on('data', () => {
      if (answered) return void sock.destroy();
      answered = true;
      const body = JSON.stringify({ n: connections });
      sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  try {
    const client = new EngineClient({ url: `unix://${socketPath}`, socketPath }).keepAlive();
    assert.deepEqual(await client.call('GET', '/a'), { n: 1 });
    assert.deepEqual(await client.call('POST', '/b', { body: {} }), { n: 2 });
    assert.equal(connections, 2);
  } finally {
    for (const sock of socks) sock.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
