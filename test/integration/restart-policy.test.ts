// Restart policies as dockerd's: the backoff between restarts, the retry
// count, and which containers come back when the daemon starts again after a
// kill -9 (always, even stopped by hand; unless-stopped unless stopped by hand).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

describe('restart policies', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });
  const state = (name: string) => d.berth(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', name]).stdout.trim();

  test('on-failure:3 restarts a failing container three times, each wait twice the one before', async () => {
    const since = String(Date.now() / 1000);
    d.berth(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', 'busybox', 'sh', '-c', 'exit 1']);
    await waitFor('three restarts', () => (state('flaky') === 'exited 3') || undefined, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(state('flaky'), 'exited 3', 'no fourth restart');
    const events = d.berth(['events', '--since', since, '--until', String(Date.now() / 1000), '--filter', 'container=flaky', '--filter', 'event=start', '--format', '{{.TimeNano}}']).stdout.trim().split('\n').map(Number);
    assert.equal(events.length, 4, 'the first start and three restarts');
    const gaps = events.slice(1).map((t, i) => (t - events[i]) / 1e6);
    assert.ok(gaps[0] >= 100 && gaps[1] >= 200 && gaps[2] >= 400, `gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
  });

  test('a clean exit is not restarted by on-failure, and is by always', async () => {
    d.berth(['run', '-d', '--name', 'clean', '--restart', 'on-failure', 'busybox', 'true']);
    d.berth(['run', '-d', '--name', 'looping', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3']);
    await waitFor('looping restarted twice', () => (Number(state('looping').split(' ')[1]) >= 2) || undefined, 60_000);
    assert.equal(state('clean'), 'exited 0');
    d.berth(['stop', 'looping']);
  });

  test('after a kill -9 of the daemon: always comes back even stopped by hand, unless-stopped only if not, a container that died meanwhile is restarted', async () => {
    d.berth(['run', '-d', '--name', 'always-stopped', '--restart', 'always', 'busybox', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'unless-stopped', '--restart', 'unless-stopped', 'busybox', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'unless-running', '--restart', 'unless-stopped', 'busybox', 'sleep', '600']);
    d.berth(['run', '-d', '--name', 'dies-meanwhile', '--restart', 'on-failure', 'busybox', 'sh', '-c', 'sleep 2; exit 3']);
    d.berth(['run', '-d', '--name', 'no-policy', 'busybox', 'sh', '-c', 'sleep 2; exit 3']);
    d.berth(['stop', '-t', '0', 'always-stopped', 'unless-stopped']);
    await d.crash();
    await new Promise((r) => setTimeout(r, 3000));
    await d.start();
    await waitFor('dies-meanwhile restarted', () => (/^(running|restarting) [1-9]/.test(state('dies-meanwhile')) || state('dies-meanwhile').startsWith('exited 1')) || undefined, 60_000);
    assert.match(state('always-stopped'), /^running /);
    assert.match(state('unless-stopped'), /^exited /);
    assert.match(state('unless-running'), /^running /);
    assert.match(state('no-policy'), /^exited 0$/);
    assert.equal(d.berth(['inspect', '-f', '{{.State.ExitCode}}', 'no-policy']).stdout.trim(), '3');
  });
});
