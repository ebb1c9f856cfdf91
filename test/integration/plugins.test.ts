// No managed plugins: the engine answers as a dockerd with none installed, so
// SDKs that list plugins get an empty list instead of a 404 "page not found".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('plugin routes on an engine without plugins', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('the list is empty; a named plugin is not found; installing one is not implemented', async () => {
    assert.deepEqual(await callApi(d.socket, 'GET', '/plugins'), { status: 200, body: '[]\n' });
    for (const [method, path] of [['GET', '/plugins/foo/json'], ['DELETE', '/plugins/foo'], ['POST', '/plugins/foo/enable'], ['POST', '/v1.47/plugins/foo/disable']]) {
      const r = await callApi(d.socket, method, path);
      assert.deepEqual([r.status, JSON.parse(r.body)], [404, { message: 'plugin "foo" not found' }], path);
    }
    const pull = await callApi(d.socket, 'POST', '/plugins/pull?remote=foo', []);
    assert.equal(pull.status, 501);
    assert.match(pull.body, /does not support managed plugins/);
  });

  test('python docker lists no plugins; the docker CLI shows an empty table and dockerd\'s not-found message', () => {
    const py = spawnSync('python3', ['-c', 'import docker; print(docker.DockerClient(base_url="unix://' + d.socket + '").plugins.list())'], { encoding: 'utf8' });
    assert.equal(py.stdout, '[]\n', py.stderr);
    if (!DOCKER) return;
    const ls = d.docker(['plugin', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^ID\s+NAME\s+DESCRIPTION\s+ENABLED\n$/);
    const inspect = d.docker(['plugin', 'inspect', 'foo']);
    assert.equal(inspect.code, 1);
    assert.match(inspect.stderr, /Error response from daemon: plugin "foo" not found/);
  });
});
