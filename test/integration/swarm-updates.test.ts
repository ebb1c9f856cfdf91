// Rolling updates and rollbacks on one host (ADR 0009): UpdateConfig's
// parallelism, delay, order, monitor and failure action, RollbackConfig, and
// `service rollback` / `update --rollback`, with UpdateStatus as dockerd
// reports it. Driven by the unmodified docker CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { DOCKER, startSwarmManager, stopSwarmManager, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

describe('swarm rolling updates and rollbacks, driven by the docker CLI', { skip: !DOCKER || !existsSync('/usr/bin/etcd') }, () => {
  let d: TestDaemon;
  before(async () => { d = await startSwarmManager(); });
  after(() => stopSwarmManager(d));

  /** Running task containers of a service → the value of $V in each. */
  const running = (svc: string): string[] => {
    const r = d.docker(['ps', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--format', '{{.Names}}']);
    return r.stdout.trim().split('\n').filter(Boolean);
  };
  const status = (svc: string) => d.docker(['service', 'inspect', svc, '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}|{{.UpdateStatus.Message}}{{end}}']).stdout.trim();
  const envOf = (name: string) => d.docker(['inspect', name, '--format', '{{range .Config.Env}}{{.}} {{end}}']).stdout;

  /** Runs a docker command in the background while sampling how many of svc's tasks run; the fewest seen. */
  async function sampled(svc: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; fewest: number }> {
    const child = spawn(DOCKER as string, args, { env: { ...process.env, DOCKER_HOST: d.host } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c; });
    child.stderr.on('data', (c: Buffer) => { stderr += c; });
    let done = false;
    const exited = new Promise<number>((res) => child.on('close', (code) => { done = true; res(code ?? -1); }));
    let fewest = Infinity;
    while (!done) {
      fewest = Math.min(fewest, running(svc).length);
      await new Promise((res) => setTimeout(res, 100));
    }
    return { code: await exited, stdout, stderr, fewest };
  }

  test('start-first, parallelism 2, delay 1s: every task replaced, never fewer than the replicas running; the update completes', async () => {
    const c = d.docker(['service', 'create', '--name', 'sf', '--replicas', '3', '--env', 'V=1', '--stop-grace-period', '1s',
      '--update-parallelism', '2', '--update-delay', '1s', '--update-order', 'start-first', '--update-monitor', '1s', 'busybox', 'sleep', '1000']);
    assert.equal(c.code, 0, c.stderr);
    await waitFor('3 running', () => (running('sf').length === 3 ? true : undefined));
    const r = await sampled('sf', ['service', 'update', '--env-add', 'V=2', 'sf']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verify: Service \w+ converged/);
    assert.ok(r.fewest >= 3, `start-first kept ${r.fewest} running at one point`);
    const names = await waitFor('3 new tasks', () => {
      const n = running('sf');
      return n.length === 3 && n.every((x) => envOf(x).includes('V=2')) ? n : undefined;
    });
    assert.equal(names.length, 3);
    assert.equal(await waitFor('completed', () => (status('sf') === 'completed|update completed' ? status('sf') : undefined)), 'completed|update completed');
    const cfg = d.docker(['service', 'inspect', 'sf', '--format', '{{.Spec.UpdateConfig.Parallelism}} {{.Spec.UpdateConfig.Delay}} {{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}}']);
    assert.equal(cfg.stdout.trim(), '2 1s start-first pause');
  });

  test('stop-first, parallelism 1: one task at a time, never fewer than n-1 running', async () => {
    const c = d.docker(['service', 'update', '-d', '--update-parallelism', '1', '--update-delay', '0s', '--update-order', 'stop-first', 'sf']);
    assert.equal(c.code, 0, c.stderr);
    const r = await sampled('sf', ['service', 'update', '--env-add', 'V=3', 'sf']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.fewest >= 2, `stop-first with parallelism 1 went down to ${r.fewest}`);
    await waitFor('3 tasks of V=3', () => {
      const n = running('sf');
      return n.length === 3 && n.every((x) => envOf(x).includes('V=3')) ? true : undefined;
    });
    // The updater writes "completed" after its monitor period, which bumps the service's version: a rollback
    // sent before that (the CLI sends the version it read) is "update out of sequence", with dockerd too.
    await waitFor('update completed', () => (status('sf') === 'completed|update completed' ? true : undefined));
  });

  test('`service rollback` brings back the previous spec: rollback_started "manually requested rollback", then rollback_completed', async () => {
    const r = d.docker(['service', 'rollback', 'sf'], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rollback: manually requested rollback/);
    assert.match(r.stdout, /verify: Service \w+ converged/);
    await waitFor('3 tasks of V=2 again', () => {
      const n = running('sf');
      return n.length === 3 && n.every((x) => envOf(x).includes('V=2') && !envOf(x).includes('V=3')) ? true : undefined;
    });
    assert.equal(await waitFor('rollback completed', () => (status('sf') === 'rollback_completed|rollback completed' ? true : undefined)), true);
    // The previous spec is now the one rolled back from: a second rollback goes forward again.
    const again = d.docker(['service', 'update', '--rollback', 'sf'], { timeout: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    await waitFor('3 tasks of V=3', () => {
      const n = running('sf');
      return n.length === 3 && n.every((x) => envOf(x).includes('V=3')) ? true : undefined;
    });
    assert.equal(d.docker(['service', 'rm', 'sf']).code, 0);
  });

  test('failure action pause: a new task that fails pauses the update, old tasks keep running, the CLI says why', async () => {
    const c = d.docker(['service', 'create', '--name', 'pz', '--replicas', '3', '--restart-delay', '10s', '--stop-grace-period', '1s',
      '--update-failure-action', 'pause', '--update-monitor', '3s', 'busybox', 'sleep', '1000']);
    assert.equal(c.code, 0, c.stderr);
    // The new task runs a second, then fails: within the monitor, and before the delay would start the next slot.
    const r = d.docker(['service', 'update', '--update-delay', '5s', '--entrypoint', 'sh -c "sleep 1; exit 3"', 'pz'], { timeout: 120_000 });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /service update paused: update paused due to failure or early termination of task [a-z0-9]{25}/);
    assert.match(status('pz'), /^paused\|update paused due to failure or early termination of task [a-z0-9]{25}$/);
    // Paused: the two untouched old tasks still run, a few passes later too.
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal(running('pz').length, 2);
    assert.equal(status('pz').split('|')[0], 'paused');

    // A rollback out of the pause restores all three.
    const back = d.docker(['service', 'rollback', 'pz'], { timeout: 120_000 });
    assert.equal(back.code, 0, back.stderr);
    await waitFor('3 running again', () => (running('pz').length === 3 ? true : undefined), 60_000);
    assert.equal(d.docker(['service', 'inspect', 'pz', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Command}}']).stdout.trim(), '[]');
    assert.equal(d.docker(['service', 'rm', 'pz']).code, 0);
  });

  test('failure action rollback: the failing update is rolled back by the cluster, with its message', async () => {
    const c = d.docker(['service', 'create', '--name', 'rb', '--replicas', '2', '--restart-delay', '1s', '--stop-grace-period', '1s',
      '--update-failure-action', 'rollback', '--update-monitor', '3s', '--rollback-parallelism', '0', '--rollback-monitor', '1s', 'busybox', 'sleep', '1000']);
    assert.equal(c.code, 0, c.stderr);
    const r = d.docker(['service', 'update', '--entrypoint', 'false', 'rb'], { timeout: 120_000 });
    assert.match(r.stdout, /rollback: update rolled back due to failure or early termination of task [a-z0-9]{25}/);
    assert.equal(await waitFor('rollback completed', () => (status('rb') === 'rollback_completed|rollback completed' ? true : undefined), 60_000), true);
    // The spec is the old one, and swarm drops the previous spec after an automatic rollback.
    assert.equal(d.docker(['service', 'inspect', 'rb', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Command}} {{.PreviousSpec}} {{.Spec.RollbackConfig.Parallelism}}']).stdout.trim(), '[] <nil> 0');
    await waitFor('2 running', () => (running('rb').length === 2 ? true : undefined), 60_000);
    assert.equal(d.docker(['service', 'rm', 'rb']).code, 0);
  });

  test('bad input: a rollback with no previous spec, an unknown failure action or order', () => {
    const c = d.docker(['service', 'create', '-d', '--name', 'fresh', 'busybox', 'sleep', '1000']);
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    const r = d.docker(['service', 'rollback', 'fresh']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`rpc error: code = FailedPrecondition desc = service ${id} does not have a previous spec`));
    const action = d.docker(['service', 'update', '--update-failure-action', 'explode', 'fresh']);
    assert.equal(action.code, 1);
    const order = d.docker(['service', 'update', '--update-order', 'sideways', 'fresh']);
    assert.equal(order.code, 1);
    assert.equal(status('fresh'), '');
    assert.equal(d.docker(['service', 'rm', 'fresh']).code, 0);
  });
});
