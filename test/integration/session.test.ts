// POST /session: BuildKit's client session, which every dockerd since 18.06
// serves whether BuildKit is enabled or not. berth has no BuildKit to call
// back into it, but keeps the session as dockerd does: BuildKit's checks and
// errors, a 101 to h2c, the daemon speaking HTTP/2 as the client on it (a
// client's gRPC server sees its preface and settings), one session per ID
// until the client closes it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createServer, type ServerHttp2Session } from 'node:http2';
import { TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

/** Sends an upgrade request for a session; resolves with the answer's head and the socket, left bytes put back. */
function upgrade(socketPath: string, headers: Record<string, string>): Promise<{ head: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const rest = buf.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve({ head: buf.subarray(0, end).toString(), socket });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`POST /session HTTP/1.1\r\nHost: berth\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  });
}

/** Serves HTTP/2 on the upgraded socket, as the client's gRPC server does; resolves once the daemon's settings arrived. */
function serveH2(socket: Socket): Promise<ServerHttp2Session> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('session', (s) => s.once('remoteSettings', () => resolve(s)));
    server.on('sessionError', reject);
    server.emit('connection', socket);
    socket.resume();
    setTimeout(() => reject(new Error('no HTTP/2 settings from the daemon')), 10_000).unref();
  });
}

describe('POST /session', () => {
  let d: TestDaemon;
  before(async () => {
    d = new TestDaemon();
    await d.start();
  });
  after(async () => { await d.destroy(); });

  test('an h2c upgrade is a 101 with the daemon as the HTTP/2 client; the session ID is taken until the client closes it', async () => {
    const first = await upgrade(d.socket, { Upgrade: 'h2c', Connection: 'Upgrade', 'X-Docker-Expose-Session-Uuid': 'sess-1' });
    assert.match(first.head, /^HTTP\/1\.1 101 /);
    assert.match(first.head, /\r\nUpgrade: h2c\r\n/i);
    assert.match(first.head, /\r\nConnection: Upgrade\r\n/i);
    const h2 = await serveH2(first.socket);

    const again = await upgrade(d.socket, { Upgrade: 'h2c', Connection: 'Upgrade', 'X-Docker-Expose-Session-Uuid': 'sess-1' });
    assert.match(again.head, /^HTTP\/1\.1 400 /);
    again.socket.resume();
    const body = await new Promise<string>((resolve) => { let t = ''; again.socket.on('data', (c: Buffer) => { t += c; }); again.socket.on('close', () => resolve(t)); });
    assert.match(body, /\{"message":"session sess-1 already exists"\}/);

    // The daemon is still serving other requests meanwhile.
    assert.equal((await callApi(d.socket, 'GET', '/_ping')).body, 'OK');
    h2.destroy();
    first.socket.destroy();
    // Closed: the ID is free again (the daemon notices the close on its own time).
    let head = '';
    for (let i = 0; i < 50; i++) {
      const r = await upgrade(d.socket, { Upgrade: 'h2c', Connection: 'Upgrade', 'X-Docker-Expose-Session-Uuid': 'sess-1' });
      head = r.head;
      r.socket.destroy();
      if (head.startsWith('HTTP/1.1 101')) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(head, /^HTTP\/1\.1 101 /);
  });

  test('no upgrade, or another protocol, is BuildKit\'s 400', async () => {
    const plain = await callApi(d.socket, 'POST', '/session');
    assert.deepEqual([plain.status, JSON.parse(plain.body)], [400, { message: 'no upgrade proto in request' }]);
    const tcp = await upgrade(d.socket, { Upgrade: 'tcp', Connection: 'Upgrade', 'X-Docker-Expose-Session-Uuid': 'sess-2' });
    assert.match(tcp.head, /^HTTP\/1\.1 400 /);
    tcp.socket.resume();
    const body = await new Promise<string>((resolve) => { let t = ''; tcp.socket.on('data', (c: Buffer) => { t += c; }); tcp.socket.on('close', () => resolve(t)); });
    assert.match(body, /\{"message":"protocol tcp not supported"\}/);
  });
});
