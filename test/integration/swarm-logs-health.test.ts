// Service and task logs, and healthchecks in tasks (ADR 0009), on one host
// through the unmodified docker CLI: `docker service logs` prints each line
// with its task and node, as it does against dockerd; a task with a
// healthcheck is starting until healthy, and one whose container turns
// unhealthy fails and is replaced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { DOCKER, startSwarmManager, stopSwarmManager, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

describe('swarm service logs and task healthchecks, driven by the docker CLI', { skip: !DOCKER || !existsSync('/usr/bin/etcd') }, () => {
  let d: TestDaemon;
  before(async () => { d = await startSwarmManager(); });
  after(() => stopSwarmManager(d));

  const running = (svc: string) => d.docker(['ps', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--format', '{{.Names}}']).stdout.trim().split('\n').filter(Boolean);
  const ps = (svc: string) => d.docker(['service', 'ps', svc, '--no-trunc', '--format', '{{.ID}}|{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}']).stdout.trim().split('\n').filter(Boolean);

  test('service logs: each line with its task and node; stderr to stderr; --raw, --tail, --timestamps; a task\'s own logs', async () => {
    const c = d.docker(['service', 'create', '--name', 'talker', '--replicas', '2', '--stop-grace-period', '1s', 'busybox', 'sh', '-c', 'echo "hello from slot"; echo oops >&2; echo second; sleep 1000']);
    assert.equal(c.code, 0, c.stderr);
    await waitFor('2 running', () => (running('talker').length === 2 ? true : undefined));
    const logs = await waitFor('all lines logged', () => {
      const r = d.docker(['service', 'logs', '--no-task-ids', 'talker']);
      return r.code === 0 && r.stdout.split('\n').filter(Boolean).length === 4 ? r : undefined;
    });
    const host = hostname();
    const out = logs.stdout.split('\n').filter(Boolean).map((l) => l.replace(/ +\|/, ' |')).sort();
    assert.deepEqual(out, [`talker.1@${host} | hello from slot`, `talker.1@${host} | second`, `talker.2@${host} | hello from slot`, `talker.2@${host} | second`]);
    assert.deepEqual(logs.stderr.split('\n').filter(Boolean).map((l) => l.replace(/ +\|/, ' |')).sort(), [`talker.1@${host} | oops`, `talker.2@${host} | oops`]);

    // With task IDs (truncated to 12 as the CLI prints them), they are the tasks' own.
    const ids = ps('talker').map((l) => l.split('|')[0]);
    const withIds = d.docker(['service', 'logs', 'talker']).stdout.split('\n').filter(Boolean);
    for (const l of withIds) assert.ok(ids.some((id) => l.startsWith(`talker.${l.split('.')[1]}.${id.slice(0, 12)}@${host}`)), l);

    assert.deepEqual(d.docker(['service', 'logs', '--raw', 'talker']).stdout.split('\n').filter(Boolean).sort(), ['hello from slot', 'hello from slot', 'second', 'second']);
    // --tail counts per task, both streams together (their order in the log is the order the copies ran).
    const tail = d.docker(['service', 'logs', '--raw', '--tail', '1', 'talker']);
    assert.equal([...tail.stdout.split('\n'), ...tail.stderr.split('\n')].filter(Boolean).length, 2, tail.stdout + tail.stderr);
    assert.match(d.docker(['service', 'logs', '--raw', '--timestamps', 'talker']).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z second$/m);

    // A task's logs: only its own lines.
    const one = d.docker(['service', 'logs', '--raw', ids[0]]);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(one.stdout.split('\n').filter(Boolean), ['hello from slot', 'second']);

    const none = d.docker(['service', 'logs', 'nosuch']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no such task or service: nosuch/);
    assert.equal(d.docker(['service', 'rm', 'talker']).code, 0);
  });

  test('service logs --follow streams the lines the task writes after the request', async () => {
    const c = d.docker(['service', 'create', '--name', 'ticker', '--stop-grace-period', '1s', 'busybox', 'sh', '-c', 'i=0; while true; i=$((i+1)); do echo tick $i; sleep 0.3; done']);
    assert.equal(c.code, 0, c.stderr);
    const child = spawn(DOCKER as string, ['service', 'logs', '--follow', '--raw', 'ticker'], { env: d.env });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    const ticks = () => out.split('\n').filter((l) => /^tick \d+$/.test(l)).map((l) => Number(l.slice(5)));
    try {
      const first = await waitFor('a first tick', () => (ticks().length ? Math.max(...ticks()) : undefined));
      // Later lines arrive on the same response, in order.
      await waitFor('five more ticks streamed', () => (Math.max(...ticks()) >= first + 5 ? true : undefined), 30_000);
      const seen = ticks();
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
      assert.equal(child.exitCode, null, 'the follow is still open');
    } finally {
      child.kill();
    }
    assert.equal(d.docker(['service', 'rm', 'ticker']).code, 0);
  });

  test('service logs --follow takes in the tasks that start after it: a scale\'s new replica is followed from its first line', async () => {
    const c = d.docker(['service', 'create', '--name', 'grower', '--stop-grace-period', '1s', 'busybox', 'sh', '-c', 'echo first of $(hostname); i=0; while true; i=$((i+1)); do echo beat $i; sleep 0.5; done']);
    assert.equal(c.code, 0, c.stderr);
    const child = spawn(DOCKER as string, ['service', 'logs', '--follow', 'grower'], { env: d.env });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    const lines = (slot: number) => out.split('\n').filter((l) => l.startsWith(`grower.${slot}.`));
    try {
      await waitFor('the first replica\'s lines', () => (lines(1).some((l) => / \| beat \d+$/.test(l)) ? true : undefined), 60_000);
      assert.equal(lines(2).length, 0);
      const scale = d.docker(['service', 'scale', '--detach', 'grower=2']);
      assert.equal(scale.code, 0, scale.stderr);
      // The new replica's lines reach the open follow, its first line included.
      await waitFor('the second replica\'s lines on the same follow', () => (lines(2).some((l) => / \| beat \d+$/.test(l)) ? true : undefined), 60_000);
      assert.ok(lines(2).some((l) => / \| first of \S+$/.test(l)), lines(2).join('\n'));
      assert.equal(child.exitCode, null, 'the follow is still open');
    } finally {
      child.kill();
    }
    assert.equal(d.docker(['service', 'rm', 'grower']).code, 0);
  });

  test('--health-* reach the task\'s container; the task is starting until healthy, then running', async () => {
    const c = d.docker(['service', 'create', '-d', '--name', 'hc', '--stop-grace-period', '1s', '--health-cmd', 'test -f /tmp/ok', '--health-interval', '1s',
      '--health-retries', '2', '--health-start-period', '30s', 'busybox', 'sh', '-c', 'sleep 4; touch /tmp/ok; sleep 1000']);
    assert.equal(c.code, 0, c.stderr);
    const starting = await waitFor('the task starting', () => ps('hc').find((l) => /\|Running\|Starting /.test(l)), 60_000);
    assert.ok(starting);
    const [name] = running('hc');
    assert.equal(d.docker(['inspect', name, '--format', '{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}']).stdout.trim(), '["CMD-SHELL","test -f /tmp/ok"] 1s 2');
    await waitFor('the task running once healthy', () => ps('hc').find((l) => /\|Running\|Running /.test(l)), 60_000);
    assert.equal(d.docker(['inspect', name, '--format', '{{.State.Health.Status}}']).stdout.trim(), 'healthy');
  });

  test('a task whose container turns unhealthy fails with dockerd\'s words and is replaced', async () => {
    const [name] = running('hc');
    const taskId = name.split('.')[2];
    assert.equal(d.docker(['exec', name, 'rm', '/tmp/ok']).code, 0);
    // The agent reports Failed first; the orchestrator then sets the desired state to Shutdown (swarmkit's order too),
    // so a look in between sees Running|Failed. Wait for both.
    const failed = await waitFor('the task failed unhealthy and shut down', () => ps('hc').find((l) => l.startsWith(taskId) && /\|Shutdown\|Failed /.test(l)), 60_000);
    assert.match(failed, /\|Shutdown\|Failed .*\|"dockerexec: unhealthy container"$/);
    await waitFor('a new task running', () => ps('hc').find((l) => !l.startsWith(taskId) && /\|Running\|Running /.test(l)), 90_000);
    assert.equal(d.docker(['service', 'rm', 'hc']).code, 0);
  });
});
