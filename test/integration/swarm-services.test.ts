// Swarm mode on one host (ADR 0009): a real etcd member under the daemon, real
// task containers, and the unmodified docker CLI as the client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

function call(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** Processes whose command line names this daemon's etcd data: its member, if running. */
function etcdPids(dataRoot: string): number[] {
  const want = join(dataRoot, 'swarm', 'data');
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return cmd[0].endsWith('etcd') && cmd.includes(want);
    } catch {
      return false;
    }
  }).map(Number);
}

describe('swarm mode on one host, driven by the docker CLI', { skip: !DOCKER || !existsSync('/usr/bin/etcd') }, () => {
  let d: TestDaemon;
  // Its own network namespace: swarm's port (2377) is the daemon's, not the machine's.
  before(async () => { d = await startSeededDaemon([], { ownNetns: true }); });
  after(async () => {
    // Leaving removes the task containers, so the daemon stops with nothing running.
    d.docker(['swarm', 'leave', '--force']);
    await d.destroy();
  });

  /** The running task containers of a service: name → container ID. */
  const tasks = (svc: string): Map<string, string> => {
    const r = d.docker(['ps', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--format', '{{.Names}} {{.ID}}']);
    assert.equal(r.code, 0, r.stderr);
    return new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  };
  const countIs = (svc: string, n: number) => waitFor(`${n} running tasks of ${svc}`, () => (tasks(svc).size === n ? tasks(svc) : undefined), 60_000);

  test('swarm init starts the etcd member and makes this node the one manager, the leader', () => {
    const init = d.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    assert.equal(init.code, 0, init.stderr);
    const id = /current node \(([a-z0-9]{25})\) is now a manager/.exec(init.stdout)?.[1];
    assert.ok(id, init.stdout);
    assert.match(init.stdout, /docker swarm join --token SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25} 127\.0\.0\.1:2377/);
    assert.equal(etcdPids(d.dataRoot).length, 1);

    const info = d.docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}} {{.Swarm.Nodes}} {{.Swarm.Managers}}']);
    assert.equal(info.stdout.trim(), `active true ${id} 1 1`, info.stderr);
    const nodes = d.docker(['node', 'ls', '--format', '{{.ID}} {{.Status}} {{.Availability}} {{.ManagerStatus}} {{.Self}}']);
    assert.equal(nodes.stdout.trim(), `${id} Ready Active Leader true`, nodes.stderr);
    const self = d.docker(['node', 'inspect', 'self', '--format', '{{.Spec.Role}} {{.ManagerStatus.Leader}}']);
    assert.equal(self.stdout.trim(), 'manager true', self.stderr);

    const worker = d.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const manager = d.docker(['swarm', 'join-token', '-q', 'manager']).stdout.trim();
    assert.match(worker, /^SWMTKN-1-/);
    assert.match(manager, /^SWMTKN-1-/);
    assert.notEqual(worker, manager);
    const again = d.docker(['swarm', 'init']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /This node is already part of a swarm/);
  });

  test('service create --replicas 3 runs three task containers named and labelled as dockerd does; service ls/ps/inspect show them', async () => {
    // Not detached: the CLI follows the tasks until they converge, as users see it.
    const r = d.docker(['service', 'create', '--name', 'web', '--replicas', '3', '--stop-grace-period', '2s', '--env', 'COLOUR=blue', '--label', 'tier=front', 'busybox', 'sleep', '1000']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /overall progress: 3 out of 3 tasks/);
    assert.match(r.stdout, /verify: Service [a-z0-9]{25} converged/);
    const serviceId = r.stdout.trim().split('\n')[0];
    const running = await countIs('web', 3);
    const names = [...running.keys()].sort();
    for (const [i, name] of names.entries()) assert.match(name, new RegExp(`^web\\.${i + 1}\\.[a-z0-9]{25}$`));

    const [, firstId] = [...running][0];
    const labels = JSON.parse(d.docker(['inspect', firstId, '--format', '{{json .Config.Labels}}']).stdout) as Record<string, string>;
    assert.equal(labels['com.docker.swarm.service.id'], serviceId);
    assert.equal(labels['com.docker.swarm.service.name'], 'web');
    assert.match(labels['com.docker.swarm.task.id'], /^[a-z0-9]{25}$/);
    assert.equal(d.docker(['exec', firstId, 'sh', '-c', 'echo $COLOUR']).stdout.trim(), 'blue');

    const ls = await waitFor('service ls 3/3', () => {
      const out = d.docker(['service', 'ls', '--format', '{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}']).stdout.trim();
      return out === 'web replicated 3/3 busybox:latest' ? out : undefined;
    });
    assert.ok(ls);
    const ps = d.docker(['service', 'ps', 'web', '--format', '{{.Name}} {{.DesiredState}} {{.CurrentState}}']);
    assert.equal(ps.code, 0, ps.stderr);
    const lines = ps.stdout.trim().split('\n').sort();
    assert.equal(lines.length, 3, ps.stdout);
    for (const [i, line] of lines.entries()) assert.match(line, new RegExp(`^web\\.${i + 1} Running Running `));

    const inspect = d.docker(['service', 'inspect', 'web', '--format', '{{.ID}} {{.Spec.Labels.tier}} {{.Spec.Mode.Replicated.Replicas}} {{index .Spec.TaskTemplate.ContainerSpec.Env 0}}']);
    assert.equal(inspect.stdout.trim(), `${serviceId} front 3 COLOUR=blue`, inspect.stderr);
    // GET /tasks in dockerd's shape, filtered by service name.
    const t = await call(d.socket, 'GET', `/v1.47/tasks?filters=${encodeURIComponent(JSON.stringify({ service: ['web'], 'desired-state': ['running'] }))}`);
    const list = JSON.parse(t.body) as { ServiceID: string; Slot: number; NodeID: string; DesiredState: string; Status: { State: string; ContainerStatus: { ContainerID: string } } }[];
    assert.equal(t.status, 200);
    assert.deepEqual(list.map((x) => x.Slot).sort(), [1, 2, 3]);
    assert.ok(list.every((x) => x.ServiceID === serviceId && x.Status.State === 'running' && running.size === 3 && [...running.values()].some((c) => x.Status.ContainerStatus.ContainerID.startsWith(c))));
  });

  test('service scale to 5 adds slots 4 and 5; to 1 leaves slot 1 alone', async () => {
    const up = d.docker(['service', 'scale', '-d', 'web=5']);
    assert.equal(up.code, 0, up.stderr);
    const five = await countIs('web', 5);
    assert.deepEqual([...five.keys()].map((n) => n.split('.')[1]).sort(), ['1', '2', '3', '4', '5']);
    const down = d.docker(['service', 'scale', '-d', 'web=1']);
    assert.equal(down.code, 0, down.stderr);
    const one = await countIs('web', 1);
    assert.match([...one.keys()][0], /^web\.1\./);
    // The removed slots' containers are gone, not just stopped.
    await waitFor('no stopped task containers left', () => (d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web']).stdout.trim().split('\n').length === 1 ? true : undefined));
  });

  test('a task whose container is killed is replaced in its slot (restart condition any); ps shows the failed one below', async () => {
    const [[name, id]] = [...tasks('web')];
    assert.equal(d.docker(['kill', id]).code, 0);
    const replaced = await waitFor('a new task container for slot 1', () => {
      const now = tasks('web');
      return now.size === 1 && !now.has(name) ? now : undefined;
    }, 60_000);
    assert.match([...replaced.keys()][0], /^web\.1\./);
    const ps = d.docker(['service', 'ps', 'web', '--no-trunc', '--format', '{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}']);
    const lines = ps.stdout.trim().split('\n');
    assert.match(lines[0], /^web\.1\|Running\|Running /);
    assert.ok(lines.some((l) => /^web\.1\|Shutdown\|Failed .*\|"task: non-zero exit \(137\)"$/.test(l)), ps.stdout);
    // As dockerd, the failed task's container is kept (stopped) with its history.
    assert.equal(d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web']).stdout.trim().split('\n').length, 2);
  });

  test('service update --env-add replaces the task with one of the new spec; the update completes', async () => {
    const before = tasks('web');
    const r = d.docker(['service', 'update', '--env-add', 'COLOUR=red', 'web'], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /converged/);
    const after = await waitFor('a new task container', () => {
      const now = tasks('web');
      return now.size === 1 && ![...now.keys()].some((n) => before.has(n)) ? now : undefined;
    });
    const [[name, id]] = [...after];
    assert.match(name, /^web\.1\./);
    assert.equal(d.docker(['exec', id, 'sh', '-c', 'echo $COLOUR']).stdout.trim(), 'red');
    // Completed once the new task has run for the update's monitor period (5 s).
    const status = await waitFor('the update completed', () => {
      const out = d.docker(['service', 'inspect', 'web', '--format', '{{.UpdateStatus.State}} {{len .PreviousSpec.TaskTemplate.ContainerSpec.Env}}']).stdout.trim();
      return out === 'completed 1' ? out : undefined;
    });
    assert.ok(status);
    // A scale changes no task spec: no update, the running task stays.
    assert.equal(d.docker(['service', 'scale', '-d', 'web=1']).code, 0);
    await new Promise((res) => setTimeout(res, 2000));
    assert.deepEqual(tasks('web'), after);
  });

  test('restart condition on-failure: a task that exits 0 completes and is not replaced', async () => {
    const r = d.docker(['service', 'create', '-d', '--name', 'once', '--restart-condition', 'on-failure', '--restart-delay', '1s', 'busybox', 'true']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('the task complete', () => (/^once\.1 Shutdown Complete/.test(d.docker(['service', 'ps', 'once', '--format', '{{.Name}} {{.DesiredState}} {{.CurrentState}}']).stdout) ? true : undefined));
    // Past its restart delay, still one task.
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal(d.docker(['service', 'ps', 'once', '-q']).stdout.trim().split('\n').length, 1);
    assert.equal(d.docker(['service', 'ls', '--filter', 'name=once', '--format', '{{.Replicas}}']).stdout.trim(), '0/1');
    assert.equal(d.docker(['service', 'rm', 'once']).code, 0);
  });

  test('bad input gets dockerd\'s status and words, and changes nothing', async () => {
    const dup = d.docker(['service', 'create', '-d', '--name', 'web', 'busybox', 'sleep', '1']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists/);
    const dupApi = await call(d.socket, 'POST', '/v1.47/services/create', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' } } });
    assert.equal(dupApi.status, 409);

    const badImage = d.docker(['service', 'create', '-d', '--name', 'bad', 'Not/A:Valid:Image']);
    assert.equal(badImage.code, 1);
    assert.match(badImage.stderr, /rpc error: code = InvalidArgument desc = ContainerSpec: "Not\/A:Valid:Image" is not a valid repository\/tag/);
    const badApi = await call(d.socket, 'POST', '/v1.47/services/create', { Name: 'bad', TaskTemplate: { ContainerSpec: { Image: 'UPPER' } } });
    assert.equal(badApi.status, 400);

    const scale = d.docker(['service', 'scale', 'nosuch=2']);
    assert.equal(scale.code, 1);
    assert.match(scale.stderr, /service nosuch not found/);
    assert.equal((await call(d.socket, 'GET', '/v1.47/services/nosuch')).status, 404);
    assert.equal((await call(d.socket, 'POST', '/v1.47/services/nosuch/update?version=1', { Name: 'nosuch', TaskTemplate: { ContainerSpec: { Image: 'busybox' } } })).status, 404);

    assert.equal(d.docker(['service', 'ls', '-q']).stdout.trim().split('\n').length, 1);
  });

  test('the etcd member killed is restarted by the daemon: the swarm answers again, still led, and scales', async () => {
    const [old] = etcdPids(d.dataRoot);
    process.kill(old, 'SIGKILL');
    const fresh = await waitFor('a new etcd member', () => {
      const now = etcdPids(d.dataRoot);
      return now.length === 1 && now[0] !== old ? now[0] : undefined;
    });
    assert.ok(fresh);
    // Meanwhile a request is a 503 naming the store, never a 500.
    await waitFor('the swarm answering again', () => (d.docker(['service', 'ls', '-q']).code === 0 ? true : undefined));
    await waitFor('the node ready and leader again', () => (d.docker(['node', 'ls', '--format', '{{.Status}} {{.ManagerStatus}}']).stdout.trim() === 'Ready Leader' ? true : undefined));
    assert.equal(d.docker(['service', 'scale', '-d', 'web=2']).code, 0);
    await countIs('web', 2);
    assert.equal(d.docker(['service', 'scale', '-d', 'web=1']).code, 0);
    await countIs('web', 1);
  });

  test('daemon kill -9 and restart while in a swarm: the service is kept and its running task adopted, no duplicate', async () => {
    const before = tasks('web');
    assert.equal(before.size, 1);
    const allContainers = () => d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web']).stdout.trim().split('\n').sort();
    const containersBefore = allContainers();
    const taskIds = () => d.docker(['service', 'ps', 'web', '-q', '--filter', 'desired-state=running']).stdout.trim();
    const runningTask = taskIds();
    await d.crash();
    await d.start();
    assert.equal(etcdPids(d.dataRoot).length, 1, 'one etcd member: the orphan of the killed daemon was ended');
    const ls = await waitFor('service ls after restart', () => {
      const out = d.docker(['service', 'ls', '--format', '{{.Name}} {{.Replicas}}']);
      return out.code === 0 && out.stdout.trim() === 'web 1/1' ? out.stdout : undefined;
    });
    assert.ok(ls);
    // Several reconcile periods later: the same container, the same task, nothing added.
    await new Promise((res) => setTimeout(res, 5000));
    assert.deepEqual(tasks('web'), before);
    assert.equal(taskIds(), runningTask);
    assert.deepEqual(allContainers(), containersBefore);
  });

  test('service rm removes its task containers', async () => {
    const rm = d.docker(['service', 'rm', 'web']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout.trim(), 'web');
    await waitFor('no web containers', () => (d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web']).stdout.trim() === '' ? true : undefined));
    assert.equal(d.docker(['service', 'ls', '-q']).stdout.trim(), '');
  });

  test('swarm leave needs --force on the last manager; with it, the routes answer the 503 again and etcd is stopped', async () => {
    const refused = d.docker(['swarm', 'leave']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Removing the last manager erases all current state of the swarm\. Use `--force` to ignore this message\./);
    const left = d.docker(['swarm', 'leave', '--force']);
    assert.equal(left.code, 0, left.stderr);
    assert.match(left.stdout, /Node left the swarm\./);
    assert.deepEqual(etcdPids(d.dataRoot), []);
    assert.equal(existsSync(join(d.dataRoot, 'swarm')), false);
    for (const path of ['/swarm', '/services', '/nodes', '/tasks']) {
      const r = await call(d.socket, 'GET', path);
      assert.equal(r.status, 503, path);
      assert.match(r.body, /This node is not a swarm manager/);
    }
    assert.equal(d.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim(), 'inactive');
    const again = d.docker(['swarm', 'leave', '--force']);
    assert.match(again.stderr, /This node is not part of a swarm/);
  });

  test('docker-py\'s swarm helpers: init, services.create, tasks, scale, remove, leave', () => {
    const script = `
import sys, time, docker
from docker.types import ServiceMode, RestartPolicy
c = docker.DockerClient(base_url=sys.argv[1])
def wait(what, fn):
    for _ in range(300):
        v = fn()
        if v: return v
        time.sleep(0.2)
    raise SystemExit('timed out waiting for ' + what)
node = c.swarm.init(advertise_addr='127.0.0.1')
print('node', node == c.info()['Swarm']['NodeID'], c.swarm.attrs['Spec']['Orchestration']['TaskHistoryRetentionLimit'])
s = c.services.create('busybox', ['sleep', '1000'], name='py', mode=ServiceMode('replicated', replicas=2),
                      env=['K=v'], labels={'from': 'py'}, restart_policy=RestartPolicy(condition='on-failure'))
running = lambda n: (lambda: len([t for t in s.tasks({'desired-state': 'running'}) if t['Status']['State'] == 'running']) == n)
wait('2 running', running(2))
print('created', s.name, s.attrs['Spec']['Labels']['from'], s.attrs['Spec']['TaskTemplate']['RestartPolicy']['Condition'])
s.scale(3)
s.reload()
wait('3 running', running(3))
print('scaled', s.attrs['Spec']['Mode']['Replicated']['Replicas'], len(c.containers.list(filters={'label': 'com.docker.swarm.service.name=py'})))
print('nodes', [n.attrs['Spec']['Role'] for n in c.nodes.list()])
s.remove()
wait('containers gone', lambda: not c.containers.list(all=True, filters={'label': 'com.docker.swarm.service.name=py'}))
print('left', c.swarm.leave(force=True), c.info()['Swarm']['LocalNodeState'])
`;
    const r = spawnSync('python3', ['-c', script, d.host], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'node True 5\ncreated py py on-failure\nscaled 3 3\nnodes [\'manager\']\nleft True inactive\n');
    assert.deepEqual(etcdPids(d.dataRoot), []);
  });
});
