// What a finished exec leaves behind, seen through the Engine API as an SDK
// sees it: not running, its exit code, and no longer in the container's ExecIDs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi as api } from '../helpers/api-call.ts';

describe('exec records', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'box', 'busybox', 'sleep', '600']);
  });
  after(async () => { await d.destroy(); });

  test('once the attached stream of a short exec ends, inspect says it exited (never still running), for every one of many at once', async () => {
    const one = async (i: number) => {
      const c = await api(d.socket, 'POST', '/containers/box/exec', { Cmd: ['sh', '-c', `exit ${i % 3}`], AttachStdout: true });
      const id = (JSON.parse(c.body) as { Id: string }).Id;
      await api(d.socket, 'POST', `/exec/${id}/start`, { Detach: false });
      const ins = JSON.parse((await api(d.socket, 'GET', `/exec/${id}/json`)).body) as { Running: boolean; ExitCode: number };
      return [ins.Running, ins.ExitCode];
    };
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => one(i)));
    assert.deepEqual(results, Array.from({ length: 30 }, (_, i) => [false, i % 3]));
  });

  test('ExecIDs lists an exec while it runs and forgets it once it exited, as dockerd', async () => {
    const c = await api(d.socket, 'POST', '/containers/box/exec', { Cmd: ['sleep', '2'] });
    const id = (JSON.parse(c.body) as { Id: string }).Id;
    assert.equal((await api(d.socket, 'POST', `/exec/${id}/start`, { Detach: true })).status, 200);
    const during = JSON.parse((await api(d.socket, 'GET', '/containers/box/json')).body) as { ExecIDs: string[] | null };
    assert.ok(during.ExecIDs?.includes(id), JSON.stringify(during.ExecIDs));
    for (let i = 0; i < 100; i++) {
      const e = JSON.parse((await api(d.socket, 'GET', `/exec/${id}/json`)).body) as { Running: boolean };
      if (!e.Running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const afterExit = JSON.parse((await api(d.socket, 'GET', '/containers/box/json')).body) as { ExecIDs: string[] | null };
    assert.equal(afterExit.ExecIDs, null);
    const ins = JSON.parse((await api(d.socket, 'GET', `/exec/${id}/json`)).body) as { Running: boolean; ExitCode: number };
    assert.deepEqual([ins.Running, ins.ExitCode], [false, 0], 'the exited exec can still be inspected');
  });

  test('a TTY exec started with Tty false is multiplexed, as dockerd frames by the start request (docker-py relies on it)', async () => {
    const c = await api(d.socket, 'POST', '/containers/box/exec', { Cmd: ['printf', 'yay'], Tty: true, AttachStdout: true });
    const id = (JSON.parse(c.body) as { Id: string }).Id;
    const out = Buffer.from((await api(d.socket, 'POST', `/exec/${id}/start`, { Detach: false, Tty: false })).body, 'latin1');
    assert.deepEqual([out[0], out.readUInt32BE(4), out.subarray(8).toString()], [1, 3, 'yay']);

    const raw = await api(d.socket, 'POST', '/containers/box/exec', { Cmd: ['printf', 'yay'], Tty: true, AttachStdout: true });
    const rawId = (JSON.parse(raw.body) as { Id: string }).Id;
    assert.equal((await api(d.socket, 'POST', `/exec/${rawId}/start`, { Detach: false, Tty: true })).body, 'yay');
  });
});
