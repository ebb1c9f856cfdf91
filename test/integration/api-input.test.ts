// Inputs the route fuzz (fuzz.test.ts) found the daemon mishandling, each
// kept as a plain case: the answer a client sees, and a daemon still there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

interface Res { status: number; body: string }

function call(socketPath: string, method: string, path: string, body?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends bytes as they are and returns the status line's code and the body (the daemon closes after). */
function raw(socketPath: string, data: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let text = '';
    s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    // A server that answers before the request is all sent closes with the rest
    // unread, which a client still sending may see as a reset: the answer counts.
    s.on('error', (err) => { if (!text) reject(err); });
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
    s.end(data);
  });
}

describe('input the fuzz found', () => {
  let d: TestDaemon;
  // Its own network namespace: a login to the default registry must not leave the machine.
  before(async () => { d = await startSeededDaemon([], { ownNetns: true }); });
  after(async () => { await d.destroy(); });

  test('a request target that is no URL is a 400, and the daemon lives', async () => {
    const r = await raw(d.socket, 'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body).message, /invalid request target: http:\/\/\[/);
    assert.equal((await call(d.socket, 'GET', '/_ping')).status, 200);
  });

  test('a request the HTTP parser refuses is answered with a message, even to a client still sending', async () => {
    const big = await raw(d.socket, `GET /system/df?x=${'9'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\nX-A: ${'x'.repeat(1 << 20)}\r\n\r\n${'y'.repeat(100_000)}`);
    assert.equal(big.status, 431);
    assert.equal(JSON.parse(big.body).message, 'request headers are larger than 1048576 bytes');
    const framing = await raw(d.socket, 'POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n');
    assert.equal(framing.status, 400);
    assert.match(JSON.parse(framing.body).message, /^malformed HTTP request: HPE_/);
  });

  test('CONNECT is answered like any unknown route', async () => {
    const r = await raw(d.socket, 'CONNECT /containers/json HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(r.body), { message: 'page not found' });
  });

  test('a body field of the wrong JSON type is a 400 in encoding/json words, and nothing is created', async () => {
    const net = await call(d.socket, 'POST', '/networks/create', JSON.stringify({ Name: 'typed', IPAM: { Config: [{ Subnet: 0 }] } }));
    assert.equal(net.status, 400);
    assert.equal(JSON.parse(net.body).message, 'json: cannot unmarshal number into Go struct field network.CreateRequest.IPAM.Config.Subnet of type string');
    const ctr = await call(d.socket, 'POST', '/containers/create?name=typed', JSON.stringify({ Image: 'busybox', HostConfig: { Memory: '1g' } }));
    assert.equal(ctr.status, 400);
    assert.equal(JSON.parse(ctr.body).message, 'json: cannot unmarshal string into Go struct field container.CreateRequest.HostConfig.Memory of type int64');
    const exec = await call(d.socket, 'POST', '/containers/nosuch/exec', '[]');
    assert.equal(exec.status, 400);
    assert.equal(JSON.parse(exec.body).message, 'json: cannot unmarshal array into Go value of type container.ExecOptions');
    assert.equal(d.berth(['ps', '-aq']).stdout, '');
    assert.doesNotMatch(d.berth(['network', 'ls']).stdout, /typed/);
  });

  test('null fields are not set, null elements empty, as Go decodes them', async () => {
    const r = await call(d.socket, 'POST', '/containers/create?name=nulls', JSON.stringify({ Image: 'busybox', Cmd: null, Labels: { a: null }, HostConfig: null, Hostname: null, Env: ['A=1', null] }));
    assert.equal(r.status, 201, r.body);
    assert.equal(d.berth(['inspect', '-f', '{{.Config.Cmd}} {{json .Config.Labels}}', 'nulls']).stdout.trim(), '[sh] {"a":""}');
    d.berth(['rm', 'nulls']);
  });

  test('a login body that is null or of the wrong type is not a 500', async () => {
    const arr = await call(d.socket, 'POST', '/auth', '[]');
    assert.equal(arr.status, 400);
    assert.equal(JSON.parse(arr.body).message, 'json: cannot unmarshal array into Go value of type registry.AuthConfig');
    const num = await call(d.socket, 'POST', '/auth', '{"serveraddress":5}');
    assert.equal(num.status, 400);
    // null is an empty login: to the default registry, which is not reachable from a test (or answers); never a TypeError.
    const nul = await call(d.socket, 'POST', '/auth', JSON.stringify(null));
    assert.doesNotMatch(nul.body, /Cannot read properties/);
  });

  test('a login to an address no URL can be made of is a 400', async () => {
    const r = await call(d.socket, 'POST', '/auth', JSON.stringify({ serveraddress: ' ' }));
    assert.equal(r.status, 400, r.body);
    assert.equal(JSON.parse(r.body).message, 'Get "https:// /v2/": invalid URL');
    const empty = await call(d.socket, 'POST', '/auth', JSON.stringify({ serveraddress: 'https://' }));
    assert.equal(empty.status, 400, empty.body);
    assert.equal(JSON.parse(empty.body).message, 'Get "https:///v2/": invalid URL');
  });

  test('build: JSON query parameters of the wrong type are 400s, null ones empty', async () => {
    const bad: [string, string][] = [
      ['buildargs', '[1]'], ['buildargs', '{"A":1}'], ['labels', '{"a":{}}'], ['cachefrom', '"x"'], ['secrets', '[null, 2]'],
    ];
    for (const [k, v] of bad) {
      const r = await call(d.socket, 'POST', `/build?${k}=${encodeURIComponent(v)}`, 'FROM scratch\n');
      assert.equal(r.status, 400, `${k}=${v}: ${r.body}`);
      assert.match(JSON.parse(r.body).message, new RegExp(`^error reading ${k}: json: cannot unmarshal`));
    }
    const ok = await call(d.socket, 'POST', '/build?t=nullargs&buildargs=null&labels=null&cachefrom=null', 'FROM scratch\nLABEL a=b\n');
    assert.equal(ok.status, 200, ok.body);
    assert.doesNotMatch(ok.body, /error/);
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Config.Labels.a}}', 'nullargs']).stdout.trim(), 'b');
    d.berth(['rmi', 'nullargs']);
  });

  test('a Dockerfile name no filesystem can hold is a 400', async () => {
    for (const name of ['9'.repeat(1000), 'a\0b']) {
      const r = await call(d.socket, 'POST', `/build?dockerfile=${encodeURIComponent(name)}`, 'FROM busybox\n');
      assert.equal(r.status, 400, r.body);
      assert.equal(JSON.parse(r.body).message, `Cannot locate specified Dockerfile: ${name}`);
    }
  });
});
