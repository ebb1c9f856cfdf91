// The Engine API itself: versions, ping, errors with Docker's statuses and
// wording, and bad input that must leave no partial state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdirSync } from 'node:fs';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

interface Res { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function call(socketPath: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('Engine API', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('_ping answers GET and HEAD with the API version header', async () => {
    const g = await call(d.socket, 'GET', '/_ping');
    assert.equal(g.status, 200);
    assert.equal(g.body, 'OK');
    assert.equal(g.headers['api-version'], '1.51');
    const h = await call(d.socket, 'HEAD', '/_ping');
    assert.equal(h.status, 200);
    assert.equal(h.headers['api-version'], '1.51');
    assert.equal(h.body, '');
  });

  test('versioned and unversioned paths; too new and too old versions', async () => {
    assert.equal((await call(d.socket, 'GET', '/v1.41/version')).status, 200);
    const v = JSON.parse((await call(d.socket, 'GET', '/version')).body) as { ApiVersion: string; MinAPIVersion: string };
    assert.equal(v.ApiVersion, '1.51');
    assert.equal(v.MinAPIVersion, '1.24');
    const tooNew = await call(d.socket, 'GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.deepEqual(JSON.parse(tooNew.body), { message: 'client version 1.99 is too new. Maximum supported API version is 1.51' });
    const tooOld = await call(d.socket, 'GET', '/v1.12/version');
    assert.equal(tooOld.status, 400);
    assert.match(JSON.parse(tooOld.body).message, /client version 1.12 is too old. Minimum supported API version is 1.24/);
  });

  test('info reports real figures', async () => {
    d.berth(['create', '--name', 'counted', 'busybox', 'true']);
    const info = JSON.parse((await call(d.socket, 'GET', '/info')).body) as Record<string, unknown>;
    assert.equal(info.Containers, 1);
    assert.equal(info.ContainersStopped, 1);
    assert.equal(info.Images, 1);
    assert.equal(info.Driver, 'overlay2');
    assert.equal(info.DockerRootDir, d.dataRoot);
    assert.ok((info.NCPU as number) >= 1);
    d.berth(['rm', 'counted']);
  });

  test('errors: 404 unknown container/route, 400 malformed JSON and invalid names, 409 conflicts', async () => {
    const nf = await call(d.socket, 'GET', '/v1.51/containers/nope/json');
    assert.equal(nf.status, 404);
    assert.deepEqual(JSON.parse(nf.body), { message: 'No such container: nope' });
    assert.equal((await call(d.socket, 'GET', '/v1.51/nothing/here')).status, 404);

    const before = readdirSync(`${d.dataRoot}/containers`).length;
    const malformed = await call(d.socket, 'POST', '/v1.51/containers/create', '{"Image": "busybox",');
    assert.equal(malformed.status, 400);
    assert.match(JSON.parse(malformed.body).message, /invalid JSON/i);
    const badName = await call(d.socket, 'POST', '/v1.51/containers/create?name=bad%20name', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
    assert.equal(badName.status, 400);
    assert.equal(JSON.parse(badName.body).message, 'Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
    const noImage = await call(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'ghost:1', Cmd: ['true'] }));
    assert.equal(noImage.status, 404);
    assert.equal(JSON.parse(noImage.body).message, 'No such image: ghost:1');
    assert.equal(readdirSync(`${d.dataRoot}/containers`).length, before, 'failed creates leave nothing behind');

    const ok = await call(d.socket, 'POST', '/v1.51/containers/create?name=dup', JSON.stringify({ Image: 'busybox', Cmd: ['sleep', '60'] }));
    assert.equal(ok.status, 201);
    const dup = await call(d.socket, 'POST', '/v1.51/containers/create?name=dup', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
    assert.equal(dup.status, 409);
    const id = (JSON.parse(ok.body) as { Id: string }).Id;
    assert.equal((await call(d.socket, 'POST', `/v1.51/containers/${id}/start`)).status, 204);
    assert.equal((await call(d.socket, 'POST', `/v1.51/containers/${id}/start`)).status, 304);
    const rm = await call(d.socket, 'DELETE', `/v1.51/containers/${id}`);
    assert.equal(rm.status, 409);
    assert.equal(JSON.parse(rm.body).message, `You cannot remove a running container ${id}. Stop the container before attempting removal or force remove`);
    const badSig = await call(d.socket, 'POST', `/v1.51/containers/${id}/kill?signal=NOPE`);
    assert.equal(badSig.status, 400);
    assert.equal(JSON.parse(badSig.body).message, 'Invalid signal: NOPE');
    assert.equal((await call(d.socket, 'POST', `/v1.51/containers/${id}/stop?t=0`)).status, 204);
    assert.equal((await call(d.socket, 'POST', `/v1.51/containers/${id}/stop`)).status, 304);
    assert.equal((await call(d.socket, 'DELETE', `/v1.51/containers/${id}`)).status, 204);
  });

  test('wait answers with the exit code', async () => {
    const c = JSON.parse((await call(d.socket, 'POST', '/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['sh', '-c', 'exit 4'] }))).body) as { Id: string };
    const waited = call(d.socket, 'POST', `/containers/${c.Id}/wait?condition=next-exit`);
    await new Promise((r) => setTimeout(r, 100));
    await call(d.socket, 'POST', `/containers/${c.Id}/start`);
    const w = await waited;
    assert.equal(w.status, 200);
    assert.deepEqual(JSON.parse(w.body), { StatusCode: 4, Error: null });
    await call(d.socket, 'DELETE', `/containers/${c.Id}`);
  });

  test('the socket is mode 0660 and root-owned', async () => {
    const { statSync } = await import('node:fs');
    const st = statSync(d.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
  });
});
