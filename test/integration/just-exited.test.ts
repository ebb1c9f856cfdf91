// A container that exits an instant before a request reaches runc: the
// runtime has already deleted it while the daemon still thinks it runs.
// That is the container's doing, not a server fault.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi as api } from '../helpers/api-call.ts';

describe('requests racing a container\'s exit', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('commit (with its default pause) of a container that just exited succeeds, every time', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const c = JSON.parse((await api(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['touch', '/test'] })).body) as { Id: string };
      await api(d.socket, 'POST', `/containers/${c.Id}/start`);
      const r = await api(d.socket, 'POST', `/commit?container=${c.Id}`);
      statuses.push(r.status);
      if (r.status !== 201) assert.fail(`commit answered ${r.status}: ${r.body}`);
    }
    assert.deepEqual(statuses, Array(12).fill(201));
  });

  test('pause of a container that just exited is a 409 "is not running", never a 500', async () => {
    for (let i = 0; i < 12; i++) {
      const c = JSON.parse((await api(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })).body) as { Id: string };
      await api(d.socket, 'POST', `/containers/${c.Id}/start`);
      const r = await api(d.socket, 'POST', `/containers/${c.Id}/pause`);
      if (r.status === 204) {
        await api(d.socket, 'POST', `/containers/${c.Id}/unpause`);
        continue;
      }
      assert.equal(r.status, 409, r.body);
      assert.match(r.body, /is not running/);
    }
  });

  test('a container waiting for its restart policy cannot be removed without force, as dockerd', async () => {
    const c = JSON.parse((await api(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '1'], HostConfig: { RestartPolicy: { Name: 'always' }, NetworkMode: 'none' } })).body) as { Id: string };
    await api(d.socket, 'POST', `/containers/${c.Id}/start`);
    await api(d.socket, 'POST', `/containers/${c.Id}/wait`);
    const r = await api(d.socket, 'DELETE', `/containers/${c.Id}`);
    assert.equal(r.status, 409, r.body);
    assert.match(r.body.toLowerCase(), /stop the container before/);
    assert.equal((await api(d.socket, 'DELETE', `/containers/${c.Id}?force=1`)).status, 204);
    assert.equal((await api(d.socket, 'GET', `/containers/${c.Id}/json`)).status, 404);
  });

  test('an unknown log driver is refused at create with dockerd\'s words', async () => {
    const r = await api(d.socket, 'POST', '/containers/create', { Image: 'busybox', HostConfig: { LogConfig: { Type: 'asdf', Config: {} } } });
    assert.equal(r.status, 400);
    assert.equal((JSON.parse(r.body) as { message: string }).message, "logger: no log driver named 'asdf' is registered");
  });
});
