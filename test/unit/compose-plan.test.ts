// The create body a service becomes, its labels and hash, and what the
// planner decides from the engine's state: pure functions, no daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Project, Service } from '../../src/compose/model.ts';
import { configHash, containerConfig } from '../../src/compose/container-config.ts';
import { dependencyOrder, planUp, type Observed } from '../../src/compose/plan.ts';
import type { ContainerSummary } from '../../src/compose/project-containers.ts';
import { durationNs, sizeBytes } from '../../src/compose/units.ts';

function service(name: string, s: Partial<Service> = {}): Service {
  return { name, image: 'busybox', environment: {}, ports: [], volumes: [], networks: { default: null }, depends_on: {}, labels: {}, ...s };
}

function project(services: Service[], extra: Partial<Project> = {}): Project {
  return {
    name: 'p', workingDir: '/src/p', configFiles: ['/src/p/compose.yaml', '/src/p/compose.override.yaml'],
    services: Object.fromEntries(services.map((s) => [s.name, s])), disabledServices: {},
    networks: { default: { name: 'p_default' }, back: { name: 'p_back' } }, volumes: { data: { name: 'p_data' } }, secrets: {}, configs: {}, environment: { FROM_SHELL: 'yes' },
    ...extra,
  };
}

function container(svc: Service, n: number, state = 'running', hash = configHash(svc, { FROM_SHELL: 'yes' })): ContainerSummary {
  return {
    Id: `${svc.name}${n}`.padEnd(64, '0'), Names: [`/p-${svc.name}-${n}`], Image: 'busybox', ImageID: 'sha256:busybox', State: state, Status: '',
    Command: '', Created: 0, Ports: [], HostConfig: { NetworkMode: 'p_default' }, NetworkSettings: { Networks: {} }, Mounts: [],
    Labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': svc.name, 'com.docker.compose.container-number': String(n), 'com.docker.compose.oneoff': 'False', 'com.docker.compose.config-hash': hash },
  };
}

const empty = (): Observed => ({ containers: [], networks: new Map(), volumes: new Set() });

test('a service becomes the create body docker compose sends, with its labels', () => {
  const web = service('web', {
    command: ['httpd', '-f'], environment: { A: '1', FROM_SHELL: null, UNSET: null },
    ports: [{ target: 80, published: '8080', protocol: 'tcp', host_ip: '127.0.0.1' }, { target: 53, protocol: 'udp' }],
    volumes: [{ type: 'volume', source: 'data', target: '/data' }, { type: 'bind', source: '/etc/hosts', target: '/h', read_only: true }, { type: 'tmpfs', target: '/t', tmpfs: { size: '1m' } }, { type: 'volume', target: '/anon' }],
    networks: { default: null, back: { aliases: ['www'], ipv4_address: '10.9.0.5' } },
    depends_on: { db: { condition: 'service_healthy', required: true, restart: true } },
    healthcheck: { test: ['CMD', 'true'], interval: '1m30s', timeout: '500ms', retries: 3 },
    restart: 'on-failure:3', stop_grace_period: '1m', deploy: { resources: { limits: { cpus: '0.5', memory: '64m', pids: 50 } } },
    labels: { mine: 'x' }, extra_hosts: ['h=1.2.3.4'], ulimits: { nofile: { soft: 10, hard: 20 } }, init: true,
  });
  const { name, body } = containerConfig(project([web]), web, { number: 2, imageId: 'sha256:abc' });
  assert.equal(name, 'p-web-2');
  assert.deepEqual(body.Cmd, ['httpd', '-f']);
  assert.deepEqual(body.Env, ['A=1', 'FROM_SHELL=yes']);
  assert.deepEqual(body.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(body.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostIp: '', HostPort: '' }] });
  assert.deepEqual(body.HostConfig.Mounts, [
    { Type: 'volume', Source: 'p_data', Target: '/data' },
    { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576 } },
    { Type: 'volume', Target: '/anon' },
  ]);
  assert.deepEqual(body.HostConfig.Binds, ['/etc/hosts:/h:ro']);
  assert.equal(body.HostConfig.NetworkMode, 'p_back');
  assert.deepEqual(body.NetworkingConfig?.EndpointsConfig, { p_back: { Aliases: ['web', 'www'], IPAMConfig: { IPv4Address: '10.9.0.5' } }, p_default: { Aliases: ['web'] } });
  assert.deepEqual(body.Healthcheck, { Test: ['CMD', 'true'], Interval: 90e9, Timeout: 500e6, Retries: 3 });
  assert.deepEqual(body.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.equal(body.StopTimeout, 60);
  assert.equal(body.HostConfig.NanoCpus, 5e8);
  assert.equal(body.HostConfig.Memory, 64 * 1024 * 1024);
  assert.equal(body.HostConfig.PidsLimit, 50);
  assert.deepEqual(body.HostConfig.ExtraHosts, ['h:1.2.3.4']);
  assert.deepEqual(body.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 10, Hard: 20 }]);
  assert.equal(body.HostConfig.Init, true);
  assert.deepEqual(body.Labels, {
    mine: 'x',
    'com.docker.compose.project': 'p', 'com.docker.compose.version': body.Labels['com.docker.compose.version'],
    'com.docker.compose.service': 'web', 'com.docker.compose.container-number': '2', 'com.docker.compose.oneoff': 'False',
    'com.docker.compose.config-hash': configHash(web, { FROM_SHELL: 'yes' }), 'com.docker.compose.project.working_dir': '/src/p',
    'com.docker.compose.project.config_files': '/src/p/compose.yaml,/src/p/compose.override.yaml',
    'com.docker.compose.depends_on': 'db:service_healthy:true', 'com.docker.compose.image': 'sha256:abc',
  });
  assert.match(configHash(web), /^[0-9a-f]{64}$/);
});

test('the hash ignores the replica count and how the image is got, and follows everything else', () => {
  const a = service('a', { command: ['x'] });
  assert.equal(configHash(a), configHash({ ...a, scale: 3, pull_policy: 'always', build: { context: '/x' } }));
  assert.notEqual(configHash(a), configHash({ ...a, command: ['y'] }));
  assert.notEqual(configHash(a), configHash({ ...a, environment: { A: '1' } }));
  const bare = { ...a, environment: { A: null } };
  assert.equal(configHash(bare, { A: '1' }), configHash({ ...a, environment: { A: '1' } }), 'a bare variable hashes as its value');
  assert.notEqual(configHash(bare, { A: '1' }), configHash(bare, { A: '2' }));
});

test('durations and sizes read as compose reads them', () => {
  assert.equal(durationNs('1h2m3.5s'), (3723.5) * 1e9);
  assert.equal(durationNs('10'), 10e9);
  assert.throws(() => durationNs('10x'), /invalid duration/);
  assert.equal(sizeBytes('1g'), 1024 ** 3);
  assert.equal(sizeBytes('512mb'), 512 * 1024 ** 2);
  assert.throws(() => sizeBytes('lots'), /invalid size/);
});

test('the planner creates what is missing, keeps what is current, recreates what changed, and scales', () => {
  const db = service('db');
  const web = service('web', { depends_on: { db: { condition: 'service_started', required: true, restart: true } } });
  const worker = service('worker', { scale: 2 });
  const p = project([db, web, worker]);
  const fresh = planUp(p, empty());
  assert.deepEqual(fresh.networks.map((n) => [n.name, n.create]), [['p_default', true]], 'only networks a service uses');
  assert.deepEqual(fresh.volumes.map((n) => [n.name, n.create]), [['p_data', true]]);
  assert.deepEqual(fresh.services.get('worker')!.actions.map((a) => a.kind === 'create' && a.name), ['p-worker-1', 'p-worker-2']);
  assert.deepEqual(fresh.services.get('web')!.dependsOn, ['db']);

  const observed: Observed = { containers: [container(db, 1, 'running', 'old'), container(web, 1), container(worker, 1, 'exited'), container(worker, 2), container(worker, 3), container(service('gone'), 1)], networks: new Map([['p_default', 'n1']]), volumes: new Set(['p_data']) };
  const plan = planUp(p, observed);
  assert.deepEqual(plan.services.get('db')!.actions.map((a) => a.kind), ['recreate']);
  assert.deepEqual(plan.services.get('web')!.actions.map((a) => a.kind), ['restart'], 'depends_on restart: true');
  assert.deepEqual(plan.services.get('worker')!.actions.map((a) => a.kind), ['keep', 'keep', 'remove']);
  assert.deepEqual(plan.orphans.map((c) => c.Names[0]), ['/p-gone-1']);
  assert.deepEqual(plan.networks.map((n) => n.create), [false]);

  assert.deepEqual(planUp(p, observed, { noRecreate: true }).services.get('db')!.actions.map((a) => a.kind), ['keep']);
  assert.deepEqual(planUp(p, observed, { forceRecreate: true }).services.get('worker')!.actions.map((a) => a.kind), ['recreate', 'recreate', 'remove']);
  assert.deepEqual(planUp(p, observed, { scale: { worker: 4 } }).services.get('worker')!.actions.map((a) => a.kind === 'create' ? a.name : a.kind), ['keep', 'keep', 'keep', 'p-worker-4']);
  assert.deepEqual([...planUp(p, observed, { services: ['web'] }).services.keys()].sort(), ['db', 'web']);
  assert.deepEqual([...planUp(p, observed, { services: ['web'], noDeps: true }).services.keys()], ['web']);
  assert.throws(() => planUp(p, observed, { services: ['nope'] }), /no such service: nope/);
  const current: Observed = { containers: [container(db, 1), container(web, 1)], networks: new Map(), volumes: new Set() };
  const deps = planUp(p, current, { services: ['web'], alwaysRecreateDeps: true });
  assert.deepEqual([deps.services.get('db')!.actions[0].kind, deps.services.get('web')!.actions[0].kind], ['recreate', 'restart'], '--always-recreate-deps');
  assert.deepEqual(planUp(p, current, { services: ['web'] }).services.get('db')!.actions.map((a) => a.kind), ['keep']);
});

test('external resources must exist; dependency waves never deadlock', () => {
  const p = project([service('a')], { networks: { default: { name: 'outside', external: true } } });
  assert.throws(() => planUp(p, empty()), /network outside declared as external, but could not be found/);
  assert.deepEqual(dependencyOrder(new Map([['a', []], ['b', ['a']], ['c', ['a', 'b']], ['d', ['missing']]])), [['a', 'd'], ['b'], ['c']]);
  assert.throws(() => dependencyOrder(new Map([['a', ['b']], ['b', ['a']]])), /dependency cycle between services a, b/);
});
