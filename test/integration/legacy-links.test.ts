// Legacy links as names: a link's target is also listed as /<parent>/<alias>,
// and `rm --link` removes the link, not a container (docker-py's test_remove_link).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('legacy link names', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'target', 'busybox', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'parent', '--link', 'target:db', 'busybox', 'sleep', '600']);
  });
  after(async () => { await d.destroy(); });

  const names = async () => {
    const list = JSON.parse((await callApi(d.socket, 'GET', '/containers/json')).body) as { Names: string[] }[];
    return list.map((c) => c.Names.join(',')).sort();
  };

  test('the target is listed under its link name too; rm --link drops the link and keeps both containers', async () => {
    assert.deepEqual(await names(), ['/parent', '/target,/parent/db']);
    const r = d.berth(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']);
    assert.equal(r.stdout.trim(), '["target:db"]');
    const rm = await callApi(d.socket, 'DELETE', '/containers/parent/db?link=1');
    assert.equal(rm.status, 204, rm.body);
    assert.deepEqual(await names(), ['/parent', '/target']);
    assert.equal(d.berth(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']).stdout.trim(), 'null');
    const again = await callApi(d.socket, 'DELETE', '/containers/parent/db?link=1');
    assert.deepEqual([again.status, JSON.parse(again.body)], [404, { message: 'No such container: /parent/db' }]);
    const own = await callApi(d.socket, 'DELETE', '/containers/target?link=1');
    assert.deepEqual([own.status, JSON.parse(own.body)], [409, { message: 'Conflict, cannot remove the default link name of the container' }]);
  });

  test('python docker\'s remove_container(link=True) and the docker CLI\'s rm --link', { skip: !DOCKER && 'no docker CLI' }, () => {
    d.berth(['run', '-d', '--name', 'parent2', '--link', 'target:cache', '--link', 'target:db2', 'busybox', 'sleep', '600']);
    const py = spawnSync('python3', ['-c', `import docker; docker.APIClient(base_url="unix://${d.socket}").remove_container("parent2/cache", link=True)`], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const r = d.docker(['rm', '--link', '/parent2/db2']);
    assert.deepEqual([r.code, r.stdout], [0, '/parent2/db2\n']);
    assert.equal(d.berth(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent2']).stdout.trim(), 'null');
    assert.equal(d.berth(['ps', '-q']).stdout.trim().split('\n').length, 3);
  });
});
