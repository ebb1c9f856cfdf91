// Swarm scheduling on one host (ADR 0009): global mode, placement constraints
// and preferences, resource reservations and limits, and the task no node can
// take, left pending with dockerd's "no suitable node (…)". Driven by the
// unmodified docker CLI against a real etcd member and real task containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { DOCKER, startSwarmManager, stopSwarmManager, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

describe('swarm scheduling on one host, driven by the docker CLI', { skip: !DOCKER || !existsSync('/usr/bin/etcd') }, () => {
  let d: TestDaemon;
  let nodeId = '';
  before(async () => {
    d = await startSwarmManager();
    nodeId = d.docker(['info', '--format', '{{.Swarm.NodeID}}']).stdout.trim();
  });
  after(() => stopSwarmManager(d));

  const running = (svc: string): string[] => {
    const r = d.docker(['ps', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--format', '{{.Names}}']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean);
  };
  const ps = (svc: string) => d.docker(['service', 'ps', svc, '--no-trunc', '--format', '{{.Name}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}']).stdout.trim().split('\n').filter(Boolean);

  test('global mode: one task on the node, named <service>.<node ID>; service ls shows global 1/1', async () => {
    const r = d.docker(['service', 'create', '--name', 'agent', '--mode', 'global', 'busybox', 'sleep', '1000']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verify: Service [a-z0-9]{25} converged/);
    const names = await waitFor('one global task running', () => {
      const n = running('agent');
      return n.length === 1 ? n : undefined;
    });
    assert.match(names[0], new RegExp(`^agent\\.${nodeId}\\.[a-z0-9]{25}$`));
    const lines = ps('agent');
    assert.equal(lines.length, 1);
    assert.match(lines[0], new RegExp(`^agent\\.${nodeId}\\|${hostname()}\\|Running\\|Running `));
    const ls = await waitFor('service ls global 1/1', () => {
      const out = d.docker(['service', 'ls', '--filter', 'name=agent', '--format', '{{.Mode}} {{.Replicas}}']).stdout.trim();
      return out === 'global 1/1' ? out : undefined;
    });
    assert.ok(ls);
    assert.equal(d.docker(['service', 'ls', '--filter', 'mode=global', '--format', '{{.Name}}']).stdout.trim(), 'agent');
    assert.equal(d.docker(['service', 'ls', '--filter', 'mode=replicated', '--format', '{{.Name}}']).stdout.trim(), '');
    // Scaling a global service is refused (by the CLI, as with dockerd), and a mode change by the daemon.
    const scale = d.docker(['service', 'scale', 'agent=2']);
    assert.equal(scale.code, 1);
    assert.match(scale.stderr, /scale can only be used with replicated or replicated-job mode/);
    assert.equal(d.docker(['service', 'rm', 'agent']).code, 0);
    await waitFor('agent gone', () => (running('agent').length === 0 ? true : undefined));
  });

  test('a constraint no node meets: the task stays pending with dockerd\'s "no suitable node" message; met, it runs', async () => {
    const r = d.docker(['service', 'create', '-d', '--name', 'mars', '--constraint', 'node.labels.zone==mars', 'busybox', 'sleep', '1000']);
    assert.equal(r.code, 0, r.stderr);
    const line = await waitFor('a pending task', () => ps('mars').find((l) => l.includes('Pending')));
    assert.match(line, /^mars\.1\|\|Running\|Pending .*\|"no suitable node \(scheduling constraints not satisfied on 1 node\)"$/);
    // Still pending a few passes later, and no container was made.
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(ps('mars').length, 1);
    assert.equal(d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=mars']).stdout.trim(), '');
    assert.equal(d.docker(['service', 'ls', '--filter', 'name=mars', '--format', '{{.Replicas}}']).stdout.trim(), '0/1');

    // Constraints the node meets, by each key swarm knows, with == and !=.
    const ok = d.docker(['service', 'update', '--constraint-rm', 'node.labels.zone==mars',
      '--constraint-add', `node.hostname==${hostname()}`, '--constraint-add', 'node.role==manager', '--constraint-add', `node.id==${nodeId}`,
      '--constraint-add', 'node.platform.os==linux', '--constraint-add', 'node.labels.zone!=mars', '--constraint-add', 'engine.labels.nope!=x', 'mars'], { timeout: 120_000 });
    assert.equal(ok.code, 0, ok.stderr);
    await waitFor('mars running', () => (running('mars').length === 1 ? true : undefined), 60_000);
    assert.equal(d.docker(['service', 'rm', 'mars']).code, 0);
  });

  test('--reserve-memory and --reserve-cpu beyond the node: pending "insufficient resources"; --limit-* reach the container', async () => {
    const big = d.docker(['service', 'create', '-d', '--name', 'big', '--reserve-memory', '100T', 'busybox', 'sleep', '1000']);
    assert.equal(big.code, 0, big.stderr);
    const line = await waitFor('big pending', () => ps('big').find((l) => l.includes('Pending')));
    assert.match(line, /"no suitable node \(insufficient resources on 1 node\)"$/);
    const cpu = d.docker(['service', 'create', '-d', '--name', 'cpu', '--reserve-cpu', '1000', 'busybox', 'sleep', '1000']);
    assert.equal(cpu.code, 0, cpu.stderr);
    assert.match(await waitFor('cpu pending', () => ps('cpu').find((l) => l.includes('Pending'))), /insufficient resources on 1 node/);
    // Two filters the node fails: swarm counts a node against the first it fails, resources before constraints.
    const both = d.docker(['service', 'update', '-d', '--constraint-add', 'node.role==worker', 'big']);
    assert.equal(both.code, 0, both.stderr);
    assert.match(await waitFor('big still pending', () => ps('big').find((l) => l.startsWith('big.1|') && l.includes('Pending'))), /"no suitable node \(insufficient resources on 1 node\)"$/);
    assert.equal(d.docker(['service', 'rm', 'big', 'cpu']).code, 0);

    const lim = d.docker(['service', 'create', '--name', 'lim', '--reserve-memory', '8M', '--reserve-cpu', '0.01', '--limit-memory', '64M', '--limit-cpu', '0.5', '--limit-pids', '50', 'busybox', 'sleep', '1000']);
    assert.equal(lim.code, 0, lim.stderr);
    const [name] = await waitFor('lim running', () => {
      const n = running('lim');
      return n.length === 1 ? n : undefined;
    });
    assert.equal(d.docker(['inspect', name, '--format', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}']).stdout.trim(), '67108864 500000000 50');
    const spec = d.docker(['service', 'inspect', 'lim', '--format', '{{.Spec.TaskTemplate.Resources.Reservations.MemoryBytes}} {{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}}']);
    assert.equal(spec.stdout.trim(), '8388608 500000000');
    assert.equal(d.docker(['service', 'rm', 'lim']).code, 0);
  });

  test('placement preferences and max replicas per node: spread over one node; the replica past the limit pends', async () => {
    const r = d.docker(['service', 'create', '-d', '--name', 'spread', '--replicas', '3', '--placement-pref', 'spread=node.labels.dc', '--replicas-max-per-node', '2', 'busybox', 'sleep', '1000']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('two running', () => (running('spread').length === 2 ? true : undefined), 60_000);
    const pending = await waitFor('the third pending', () => ps('spread').find((l) => l.includes('Pending')));
    assert.match(pending, /"no suitable node \(max replicas per node limit exceed\)"$/);
    assert.equal(d.docker(['service', 'inspect', 'spread', '--format', '{{(index .Spec.TaskTemplate.Placement.Preferences 0).Spread.SpreadDescriptor}} {{.Spec.TaskTemplate.Placement.MaxReplicas}}']).stdout.trim(), 'node.labels.dc 2');
    assert.equal(d.docker(['service', 'rm', 'spread']).code, 0);
  });

  test('drain: the node\'s tasks are shut down and their replacements pend ("1 node not available for new tasks"); active again, they run', async () => {
    const c = d.docker(['service', 'create', '--name', 'mover', '--replicas', '2', '--stop-grace-period', '1s', 'busybox', 'sleep', '1000']);
    assert.equal(c.code, 0, c.stderr);
    const drain = d.docker(['node', 'update', '--availability', 'drain', nodeId]);
    assert.equal(drain.code, 0, drain.stderr);
    await waitFor('no mover task running', () => (running('mover').length === 0 ? true : undefined), 60_000);
    const pending = await waitFor('two pending', () => {
      const p = ps('mover').filter((l) => l.includes('|Running|Pending '));
      return p.length === 2 ? p : undefined;
    });
    for (const l of pending) assert.match(l, /"no suitable node \(1 node not available for new tasks\)"$/);
    assert.equal(ps('mover').filter((l) => /\|Shutdown\|(Shutdown|Complete|Failed) /.test(l)).length, 2, ps('mover').join('\n'));
    assert.equal(d.docker(['node', 'update', '--availability', 'active', nodeId]).code, 0);
    await waitFor('two running again', () => (running('mover').length === 2 ? true : undefined), 60_000);
    assert.equal(d.docker(['service', 'rm', 'mover']).code, 0);
  });

  test('a node label added meets a pending task\'s constraint: it is placed', async () => {
    const c = d.docker(['service', 'create', '-d', '--name', 'zoned', '--constraint', 'node.labels.zone==mars', '--placement-pref', 'spread=node.labels.zone', 'busybox', 'sleep', '1000']);
    assert.equal(c.code, 0, c.stderr);
    await waitFor('pending', () => ps('zoned').find((l) => l.includes('Pending')));
    assert.equal(d.docker(['node', 'update', '--label-add', 'zone=MARS', nodeId]).code, 0);
    // Values compare case-insensitively, as swarm's constraints do.
    await waitFor('zoned running', () => (running('zoned').length === 1 ? true : undefined), 60_000);
    assert.equal(d.docker(['node', 'update', '--label-rm', 'zone', nodeId]).code, 0);
    assert.equal(d.docker(['service', 'rm', 'zoned']).code, 0);
  });

  test('--publish mode=host: the task\'s container is bound on the node; a second replica of the port pends ("host-mode port already in use")', async () => {
    // The daemon's own network namespace: any port is free there.
    const port = 18080;
    // Read from that namespace as a user would on the node: a container on the host network.
    const get = () => d.docker(['run', '--rm', '--network', 'host', 'busybox', 'wget', '-qO-', `http://127.0.0.1:${port}/`]);
    const c = d.docker(['service', 'create', '-d', '--name', 'web', '--replicas', '2', '--stop-grace-period', '1s', '--publish', `mode=host,target=80,published=${port}`,
      'busybox', 'sh', '-c', 'mkdir -p /www && echo hello-host-mode > /www/index.html && exec httpd -f -p 80 -h /www']);
    assert.equal(c.code, 0, c.stderr);
    await waitFor('one web running', () => (running('web').length === 1 ? true : undefined), 60_000);
    const body = await waitFor('the port answering', () => {
      const r = get();
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.equal(body, 'hello-host-mode\n');
    const pending = await waitFor('the second pending', () => ps('web').find((l) => l.includes('Pending')));
    assert.match(pending, /"no suitable node \(host-mode port already in use on 1 node\)"$/);
    // docker service ps shows the port as dockerd reports it in the task's PortStatus.
    const ports = d.docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Ports}}']).stdout.trim().split('\n').filter(Boolean);
    assert.ok(ports.includes(`*:${port}->80/tcp`), ports.join('\n'));
    // Scaled to one, nothing pends; the port stays served.
    assert.equal(d.docker(['service', 'scale', '-d', 'web=1']).code, 0);
    await waitFor('no pending task', () => (ps('web').some((l) => l.includes('Pending')) ? undefined : true));
    assert.equal(get().stdout, 'hello-host-mode\n');
    assert.equal(d.docker(['service', 'rm', 'web']).code, 0);
  });

  test('replicated-job: 3 completions at most 2 at a time; the CLI waits for "job complete"; an update runs it again', async () => {
    const r = d.docker(['service', 'create', '--name', 'job', '--mode', 'replicated-job', '--replicas', '3', '--max-concurrent', '2', 'busybox', 'sh', '-c', 'sleep 1; echo done'], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /active tasks: 2 out of 2 tasks/);
    assert.doesNotMatch(r.stdout, /active tasks: [3-9]/);
    assert.match(r.stdout, /job complete/);
    const states = () => d.docker(['service', 'ps', 'job', '--format', '{{.DesiredState}} {{.CurrentState}}']).stdout.trim().split('\n').filter(Boolean);
    assert.deepEqual(states().map((l) => l.split(' ').slice(0, 2).join(' ')), ['Complete Complete', 'Complete Complete', 'Complete Complete']);
    assert.equal(d.docker(['service', 'ls', '--filter', 'name=job', '--format', '{{.Mode}} {{.Replicas}}']).stdout.trim(), 'replicated job 0/0 (3/3 completed)');
    assert.equal(d.docker(['service', 'inspect', 'job', '--format', '{{.Spec.Mode.ReplicatedJob.MaxConcurrent}} {{.Spec.Mode.ReplicatedJob.TotalCompletions}} {{.JobStatus.JobIteration.Index}}']).stdout.trim(), '2 3 0');
    // Never more than MaxConcurrent of its containers were made at once: 3 in all, each done.
    const logs = d.docker(['ps', '-a', '--filter', 'label=com.docker.swarm.service.name=job', '--format', '{{.Status}}']).stdout.trim().split('\n');
    assert.equal(logs.length, 3);
    assert.ok(logs.every((l) => l.startsWith('Exited (0)')), logs.join('\n'));

    const again = d.docker(['service', 'update', '--env-add', 'RUN=2', 'job'], { timeout: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /job complete/);
    assert.equal(d.docker(['service', 'inspect', 'job', '--format', '{{.JobStatus.JobIteration.Index}}']).stdout.trim(), '1');
    assert.equal(states().filter((l) => l.startsWith('Complete Complete')).length, 6);
    assert.equal(d.docker(['service', 'rm', 'job']).code, 0);
  });

  test('global-job: one task to completion on the node; a failing job task is restarted per its policy', async () => {
    const r = d.docker(['service', 'create', '--name', 'gjob', '--mode', 'global-job', 'busybox', 'true'], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /job complete/);
    assert.equal(d.docker(['service', 'ps', 'gjob', '--format', '{{.Name}} {{.CurrentState}}']).stdout.trim().replace(/ Complete .*/, ' Complete'), `gjob.${nodeId} Complete`);
    assert.equal(d.docker(['service', 'rm', 'gjob']).code, 0);

    const f = d.docker(['service', 'create', '-d', '--name', 'failing', '--mode', 'replicated-job', '--restart-condition', 'on-failure', '--restart-delay', '0s', '--restart-max-attempts', '2', 'busybox', 'false']);
    assert.equal(f.code, 0, f.stderr);
    // The first attempt and two restarts, all failed; then no more.
    const failed = await waitFor('3 failed attempts', () => {
      const l = ps('failing');
      return l.length === 3 && l.every((x) => x.includes('|Failed ')) ? l : undefined;
    }, 60_000);
    assert.ok(failed.every((l) => l.endsWith('"task: non-zero exit (1)"')), failed.join('\n'));
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal(ps('failing').length, 3);
    assert.equal(d.docker(['service', 'rm', 'failing']).code, 0);
  });

  test('bad placement and resources get swarm\'s words and create nothing', () => {
    const noOp = d.docker(['service', 'create', '-d', '--name', 'bad', '--constraint', 'node.role', 'busybox']);
    assert.equal(noOp.code, 1);
    assert.match(noOp.stderr, /Error response from daemon: rpc error: code = Unknown desc = constraint expected one operator from ==, !=/);
    const badKey = d.docker(['service', 'create', '-d', '--name', 'bad', '--constraint', '1node==x', 'busybox']);
    assert.match(badKey.stderr, /key '1node' is invalid/);
    const badValue = d.docker(['service', 'create', '-d', '--name', 'bad', '--constraint', 'node.role==<x>', 'busybox']);
    assert.match(badValue.stderr, /value '<x>' is invalid/);
    const mem = d.docker(['service', 'create', '-d', '--name', 'bad', '--limit-memory', '1M', 'busybox']);
    assert.equal(mem.code, 1);
    assert.match(mem.stderr, /rpc error: code = InvalidArgument desc = invalid memory value 1048576: Must be at least 4MiB/);
    const ratio = d.docker(['service', 'create', '-d', '--name', 'bad', '--update-max-failure-ratio', '2', 'busybox']);
    assert.equal(ratio.code, 1);
    assert.match(ratio.stderr, /update-maxfailureratio cannot be less than 0 or bigger than 1/);
    const ls = d.docker(['service', 'ls', '--format', '{{.Name}}']).stdout.trim();
    assert.equal(ls, '', ls);
  });
});
