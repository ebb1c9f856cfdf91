// What a healthcheck probe reports (run by the container's shim, one frame
// each way): its exit code and first 4 KiB of stdout and stderr in
// State.Health.Log, dockerd's -1 for a probe that could not run, and health
// kept across a daemon's clean stop and its kill -9.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { waitFor } from '../helpers/wait.ts';

interface Entry { Start: string; ExitCode: number; Output: string }
interface Health { Status: string; FailingStreak: number; Log: Entry[] }

function health(d: TestDaemon, name: string): Health | null {
  return JSON.parse(d.berth(['inspect', '-f', '{{json .State.Health}}', name]).stdout) as Health | null;
}

describe('healthcheck probes', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('a probe\'s exit code and its stdout and stderr are in the log; failures in a row turn it unhealthy', async () => {
    const r = d.berth(['run', '-d', '--name', 'talky', '--health-cmd', 'echo out; echo err >&2; exit 3', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    const h = await waitFor('unhealthy', () => { const v = health(d, 'talky'); return v?.Status === 'unhealthy' ? v : undefined; });
    assert.ok(h.FailingStreak >= 2, JSON.stringify(h));
    // runc copies the probe's stdout and stderr in two goroutines: the lines may come in either order (as with dockerd).
    for (const e of h.Log) assert.deepEqual({ code: e.ExitCode, out: e.Output.split('\n').sort().join('\n') }, { code: 3, out: '\nerr\nout' });
    d.berth(['rm', '-f', 'talky']);
  });

  test('output past 4 KiB is cut there with dockerd\'s "..."', async () => {
    d.berth(['run', '-d', '--name', 'chatty', '--health-cmd', 'head -c 5000 /dev/zero | tr "\\000" a', '--health-interval', '200ms', 'busybox', 'sleep', '600']);
    const h = await waitFor('healthy', () => { const v = health(d, 'chatty'); return v?.Status === 'healthy' ? v : undefined; });
    assert.equal(h.Log[0].ExitCode, 0);
    assert.equal(h.Log[0].Output, 'a'.repeat(4096) + '...');
    d.berth(['rm', '-f', 'chatty']);
  });

  test('a probe that cannot run is -1 with the runtime\'s reason, as dockerd reports it', async () => {
    const c = await callApi(d.socket, 'POST', '/containers/create?name=norun', {
      Image: 'busybox', Cmd: ['sleep', '600'], Healthcheck: { Test: ['CMD', '/no/such/probe'], Interval: 200e6, Retries: 1 },
    });
    assert.equal(c.status, 201, c.body);
    assert.equal(d.berth(['start', 'norun']).code, 0);
    const h = await waitFor('unhealthy', () => { const v = health(d, 'norun'); return v?.Status === 'unhealthy' ? v : undefined; });
    assert.equal(h.Log[0].ExitCode, -1);
    assert.match(h.Log[0].Output, /^OCI runtime exec failed: .*\/no\/such\/probe.*: unknown$/);
    // The container itself is unharmed, and an ordinary exec still works.
    assert.equal(d.berth(['exec', 'norun', 'echo', 'still']).stdout, 'still\n');
    d.berth(['rm', '-f', 'norun']);
  });

  test('a clean stop of the daemon keeps every probe result; a kill -9 keeps the status and failing streak', async () => {
    // Probes every 200 ms until healthy, then every 2 s: what inspect shows right after a restart is what was saved.
    d.berth(['run', '-d', '--name', 'steady', '--health-cmd', 'true', '--health-interval', '2s', '--health-start-period', '1m', '--health-start-interval', '200ms', 'busybox', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'sick', '--health-cmd', 'false', '--health-interval', '300ms', '--health-retries', '2', 'busybox', 'sleep', '600']);
    await waitFor('three results', () => ((health(d, 'steady')?.Log.length ?? 0) >= 3 ? true : undefined));
    await waitFor('unhealthy', () => (health(d, 'sick')?.Status === 'unhealthy' ? true : undefined));
    const before = health(d, 'steady');
    assert.equal(before?.Status, 'healthy');
    await d.stop();
    await d.start();
    const after = health(d, 'steady');
    assert.equal(after?.Status, 'healthy');
    assert.ok((after?.Log.at(-1)?.Start ?? '') >= (before?.Log.at(-1)?.Start ?? '~'), `${JSON.stringify(before?.Log)}\n${JSON.stringify(after?.Log)}`);
    assert.ok((after?.Log.length ?? 0) >= 3);

    await d.crash();
    await d.start();
    const sick = health(d, 'sick');
    assert.equal(sick?.Status, 'unhealthy');
    assert.ok((sick?.FailingStreak ?? 0) >= 2, JSON.stringify(sick));
    // And the probes go on.
    const last = sick?.Log.at(-1)?.Start;
    await waitFor('a new probe', () => (health(d, 'sick')?.Log.at(-1)?.Start !== last ? true : undefined));
    d.berth(['rm', '-f', 'steady', 'sick']);
  });
});
