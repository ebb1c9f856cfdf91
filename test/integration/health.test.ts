// Healthchecks: probes run as execs every interval while the container runs,
// State.Health keeps the last five results, and the status moves starting →
// healthy ⇄ unhealthy with `health_status` events, through every client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import Docker from 'dockerode';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { context } from '../helpers/build.ts';
import { waitFor } from '../helpers/wait.ts';

interface Health { Status: string; FailingStreak: number; Log: { ExitCode: number; Output: string }[] }

function health(d: TestDaemon, name: string): Health | null {
  return JSON.parse(d.berth(['inspect', '-f', '{{json .State.Health}}', name]).stdout) as Health | null;
}

describe('healthchecks', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('a failing check turns the container unhealthy after its retries, a passing one healthy again, each change an event', async () => {
    const events: string[] = [];
    const req = request({ socketPath: d.socket, path: '/events?filters=' + encodeURIComponent(JSON.stringify({ type: ['container'] })) }, (res) => {
      res.on('data', (c: Buffer) => {
        for (const line of String(c).split('\n').filter(Boolean)) {
          const e = JSON.parse(line) as { Action: string; Actor: { Attributes: { name: string } } };
          if (e.Action.startsWith('health_status') && e.Actor.Attributes.name === 'probed') events.push(e.Action);
        }
      });
    });
    req.end();
    // Listening before the container starts (the berth calls below block this process, and with it the request).
    await new Promise((resolve) => req.once('response', resolve));
    const r = d.berth(['run', '-d', '--name', 'probed', '--health-cmd', 'cat /tmp/ok', '--health-interval', '300ms', '--health-retries', '2', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    // Starting until the first probe: one an hour away stays so however slow this host is (a probe 300 ms away need not).
    assert.equal(d.berth(['run', '-d', '--name', 'waiting', '--health-cmd', 'true', '--health-interval', '1h', 'busybox', 'sleep', '600']).code, 0);
    assert.equal(health(d, 'waiting')?.Status, 'starting');
    assert.match(d.berth(['ps', '--filter', 'name=waiting', '--format', '{{.Status}}']).stdout, /^Up .* \(health: starting\)\n$/);
    d.berth(['rm', '-f', 'waiting']);
    const sick = await waitFor('unhealthy', () => { const h = health(d, 'probed'); return h?.Status === 'unhealthy' ? h : undefined; });
    assert.ok(sick.FailingStreak >= 2);
    assert.match(sick.Log[0].Output, /No such file or directory/);
    assert.equal(sick.Log[0].ExitCode, 1);
    assert.match(d.berth(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}} {{.Status}}']).stdout, /^probed Up .* \(unhealthy\)\n$/);
    d.berth(['exec', 'probed', 'sh', '-c', 'echo fine > /tmp/ok']);
    const well = await waitFor('healthy', () => { const h = health(d, 'probed'); return h?.Status === 'healthy' ? h : undefined; });
    assert.equal(well.FailingStreak, 0);
    assert.equal(well.Log.at(-1)?.Output, 'fine\n');
    await waitFor('five log entries', () => (health(d, 'probed')?.Log.length === 5 ? true : undefined));
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(health(d, 'probed')?.Log.length, 5, 'only the last five results are kept');
    req.destroy();
    assert.deepEqual(events, ['health_status: unhealthy', 'health_status: healthy']);
  });

  test('a probe is an exec with its events, forgotten once it exits as dockerd forgets its probes', async () => {
    const since = Math.floor(Date.now() / 1000);
    assert.equal(d.berth(['run', '-d', '--name', 'transient', '--health-cmd', 'true', '--health-interval', '200ms', 'busybox', 'sleep', '600']).code, 0);
    await waitFor('three results', () => ((health(d, 'transient')?.Log.length ?? 0) >= 3 ? true : undefined));
    const until = Math.floor(Date.now() / 1000) + 1;
    await new Promise((r) => setTimeout(r, 1100));
    const lines = d.berth(['events', '--since', String(since), '--until', String(until), '--filter', 'container=transient', '--format', '{{.Action}} {{.Actor.Attributes.execID}}']).stdout.trim().split('\n');
    const created = lines.filter((l) => l.startsWith('exec_create: /bin/sh -c true ')).map((l) => l.split(' ').at(-1) ?? '');
    const died = new Set(lines.filter((l) => l.startsWith('exec_die ')).map((l) => l.split(' ').at(-1)));
    assert.ok(created.length >= 3, lines.join('\n'));
    for (const id of created.filter((x) => died.has(x))) {
      const r = await callApi(d.socket, 'GET', `/exec/${id}/json`);
      assert.equal(r.status, 404, `probe exec ${id}: ${r.body}`);
    }
    // A user's exec is still kept for `exec inspect` after it exits.
    const mine = await callApi(d.socket, 'POST', '/containers/transient/exec', { Cmd: ['true'] });
    const { Id } = JSON.parse(mine.body) as { Id: string };
    await callApi(d.socket, 'POST', `/exec/${Id}/start`, { Detach: false });
    const kept = await callApi(d.socket, 'GET', `/exec/${Id}/json`);
    assert.equal(kept.status, 200);
    d.berth(['rm', '-f', 'transient']);
  });

  test('a check over its timeout fails with dockerd\'s message; failures in the start period do not count', async () => {
    d.berth(['run', '-d', '--name', 'slow', '--health-cmd', 'sleep 10', '--health-timeout', '200ms', '--health-interval', '300ms', '--health-start-period', '1h', 'busybox', 'sleep', '600']);
    const h = await waitFor('five results', () => { const v = health(d, 'slow'); return (v?.Log.length ?? 0) >= 5 ? v : undefined; });
    assert.deepEqual(h?.Log[0] && { code: h.Log[0].ExitCode, out: h.Log[0].Output }, { code: -1, out: 'Health check exceeded timeout (200ms)' });
    assert.equal(h?.Status, 'starting');
    assert.equal(h?.FailingStreak, 0);
    // The timed-out probes were killed: five timed out, and at most the probe in flight and one just killed
    // (not yet reaped on a loaded machine) are left beside the container's own sleep.
    const top = JSON.parse((await callApi(d.socket, 'GET', '/containers/slow/top')).body) as { Processes: string[][] };
    assert.ok(top.Processes.filter((p) => p.at(-1) === 'sleep 10').length <= 2, JSON.stringify(top.Processes));
  });

  test('an image\'s HEALTHCHECK runs; --no-healthcheck turns it off; ps filters by health', async () => {
    const dir = context({ Dockerfile: 'FROM busybox\nHEALTHCHECK --interval=300ms --retries=1 CMD ["true"]\n' });
    try {
      const b = d.berth(['build', '-q', '-t', 'checked', dir], { timeout: 120_000 });
      assert.equal(b.code, 0, b.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    d.berth(['run', '-d', '--name', 'imaged', 'checked', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'unchecked', '--no-healthcheck', 'checked', 'sleep', '600']);
    await waitFor('healthy', () => (health(d, 'imaged')?.Status === 'healthy' ? true : undefined));
    assert.equal(health(d, 'unchecked'), null);
    assert.equal(d.berth(['inspect', '-f', '{{json .Config.Healthcheck.Test}}', 'unchecked']).stdout.trim(), '["NONE"]');
    const none = d.berth(['ps', '--filter', 'health=none', '--format', '{{.Names}}']).stdout.split('\n');
    assert.ok(none.includes('unchecked') && !none.includes('imaged'), none.join(','));
    const bad = await callApi(d.socket, 'GET', '/containers/json?filters=' + encodeURIComponent('{"health":["sick"]}'));
    assert.deepEqual([bad.status, JSON.parse(bad.body)], [400, { message: 'Unrecognised filter value for health: sick' }]);
  });

  test('probes go on after the daemon is killed and restarted', async () => {
    d.berth(['run', '-d', '--name', 'survivor', '--health-cmd', 'true', '--health-interval', '300ms', 'busybox', 'sleep', '600']);
    await waitFor('healthy', () => (health(d, 'survivor')?.Status === 'healthy' ? true : undefined));
    await d.crash();
    await d.start();
    const last = () => JSON.stringify(health(d, 'survivor')?.Log.at(-1));
    const seen = last();
    await waitFor('a new probe', () => (last() !== seen ? true : undefined));
    assert.equal(health(d, 'survivor')?.Status, 'healthy');
  });

  test('bad healthchecks are refused with dockerd\'s words and nothing is created', async () => {
    const n = d.berth(['ps', '-aq']).stdout;
    for (const [hc, message] of [
      [{ Test: ['CMD', 'true'], Interval: 1000 }, 'Interval in Healthcheck cannot be less than 1ms'],
      [{ Test: ['CMD', 'true'], Timeout: 5 }, 'Timeout in Healthcheck cannot be less than 1ms'],
      [{ Test: ['CMD', 'true'], Retries: -1 }, 'Retries in Healthcheck cannot be negative'],
    ] as [unknown, string][]) {
      const r = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], Healthcheck: hc });
      assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message }]);
    }
    const conflict = d.berth(['run', '--no-healthcheck', '--health-cmd', 'true', 'busybox', 'true']);
    assert.deepEqual([conflict.code, conflict.stderr.trim()], [125, '--no-healthcheck conflicts with --health-* options']);
    const dur = d.berth(['run', '--health-interval', 'soon', 'busybox', 'true']);
    assert.equal(dur.code, 125);
    assert.match(dur.stderr, /invalid argument "soon" for "--health-interval" flag: time: invalid duration "soon"/);
    assert.equal(d.berth(['ps', '-aq']).stdout, n);
  });

  test('the docker CLI, python docker and dockerode see the health', { skip: !DOCKER && 'no docker CLI' }, async () => {
    const r = d.docker(['run', '-d', '--name', 'viadocker', '--health-cmd', 'true', '--health-interval', '300ms', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('healthy', () => (/\(healthy\)/.test(d.docker(['ps', '--filter', 'name=viadocker', '--format', '{{.Status}}']).stdout) ? true : undefined));
    const py = spawnSync('python3', ['-c', `import docker; print(docker.DockerClient(base_url="unix://${d.socket}").containers.get("viadocker").health)`], { encoding: 'utf8' });
    assert.equal(py.stdout, 'healthy\n', py.stderr);
    const info = await new Docker({ socketPath: d.socket }).getContainer('viadocker').inspect();
    assert.equal(info.State.Health?.Status, 'healthy');
  });
});
