// An endpoint's driver options, given at create, are kept and shown by inspect (docker-py checks them).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi as api } from '../helpers/api-call.ts';

describe('endpoint driver options', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('DriverOpts of the create request\'s endpoint are in inspect, before and after start', async () => {
    const c = await api(d.socket, 'POST', '/containers/create?name=opts', {
      Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { NetworkMode: 'bridge' },
      NetworkingConfig: { EndpointsConfig: { bridge: { DriverOpts: { 'com.example.setting': 'on' } } } },
    });
    assert.equal(c.status, 201, c.body);
    const opts = async () => (JSON.parse((await api(d.socket, 'GET', '/containers/opts/json')).body) as { NetworkSettings: { Networks: Record<string, { DriverOpts: unknown }> } }).NetworkSettings.Networks.bridge.DriverOpts;
    assert.deepEqual(await opts(), { 'com.example.setting': 'on' });
    assert.equal((await api(d.socket, 'POST', '/containers/opts/start')).status, 204);
    assert.deepEqual(await opts(), { 'com.example.setting': 'on' });
    await api(d.socket, 'DELETE', '/containers/opts?force=1');
  });
});
