// No swarm mode: its routes answer as dockerd on a node in no swarm, which
// the clients handle (docker-py's leave_swarm(force=True) ignores the 503).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('swarm routes on a node in no swarm', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('inspecting the swarm or listing its objects is a 503 saying this node is no manager; leave says it is in no swarm', async () => {
    for (const path of ['/swarm', '/services', '/nodes', '/tasks', '/secrets', '/configs', '/v1.47/secrets/abc']) {
      const r = await callApi(d.socket, 'GET', path);
      assert.equal(r.status, 503, path);
      assert.match(r.body, /This node is not a swarm manager/);
    }
    const leave = await callApi(d.socket, 'POST', '/swarm/leave?force=1');
    assert.deepEqual([leave.status, JSON.parse(leave.body)], [503, { message: 'This node is not part of a swarm' }]);
  });

  test('python docker\'s leave_swarm(force=True) succeeds; the docker CLI prints dockerd\'s message', () => {
    const py = spawnSync('python3', ['-c', 'import docker; print(docker.APIClient(base_url="unix://' + d.socket + '").leave_swarm(force=True))'], { encoding: 'utf8' });
    assert.equal(py.stdout, 'True\n', py.stderr);
    if (!DOCKER) return;
    const r = d.docker(['service', 'ls']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: This node is not a swarm manager/);
  });

  test('a join with no manager address or a malformed token is a 400 with dockerd\'s words, and the node stays in no swarm', async () => {
    const none = await callApi(d.socket, 'POST', '/swarm/join', { JoinToken: 'SWMTKN-1-x' });
    assert.deepEqual([none.status, JSON.parse(none.body)], [400, { message: 'at least 1 RemoteAddr is required to join' }]);
    const bad = await callApi(d.socket, 'POST', '/swarm/join', { RemoteAddrs: ['127.0.0.1:2377'], JoinToken: 'SWMTKN-1-nonsense' });
    assert.deepEqual([bad.status, JSON.parse(bad.body)], [400, { message: 'invalid join token' }]);
    const avail = await callApi(d.socket, 'POST', '/swarm/join', { RemoteAddrs: ['127.0.0.1:2377'], JoinToken: 'SWMTKN-1-x', Availability: 'asleep' });
    assert.deepEqual([avail.status, JSON.parse(avail.body)], [400, { message: 'invalid availability "asleep"' }]);
    const info = await callApi(d.socket, 'GET', '/info');
    assert.equal((JSON.parse(info.body) as { Swarm: { LocalNodeState: string } }).Swarm.LocalNodeState, 'inactive');
  });
});

