// loadProject on real files in temp directories: lookup, .env and env_file,
// merge of several files, extends, include, profiles, names, normalisation
// to the model's long forms, and the errors of bad input.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadProject, withServicesEnabled, ComposeError } from '../../src/compose/load/index.ts';
import type { LoadOptions } from '../../src/compose/model.ts';

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

/** A temp project directory holding `files` (path → text). */
function project(files: Record<string, string>, name = 'proj'): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-cload-'));
  roots.push(root);
  const dir = join(root, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

function opts(cwd: string, more: Partial<LoadOptions> = {}): LoadOptions {
  return { files: [], profiles: [], envFiles: [], env: { HOME: '/home/u' }, cwd, warn: () => {}, ...more };
}

async function loadError(cwd: string, more: Partial<LoadOptions> = {}): Promise<string> {
  try {
    await loadProject(opts(cwd, more));
  } catch (err) {
    assert.ok(err instanceof ComposeError, `expected a ComposeError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('the project loaded');
}

describe('files and names', () => {
  test('compose.yaml is found from a subdirectory upward, with its override; the name is the directory', async () => {
    const dir = project({
      'compose.yaml': 'services:\n  web:\n    image: a\n',
      'compose.override.yaml': 'services:\n  web:\n    image: b\n',
      'sub/deeper/.keep': '',
    }, 'My.App-1');
    const p = await loadProject(opts(join(dir, 'sub/deeper')));
    assert.equal(p.name, 'myapp-1');
    assert.equal(p.workingDir, dir);
    assert.deepEqual(p.configFiles, [join(dir, 'compose.yaml'), join(dir, 'compose.override.yaml')]);
    assert.equal(p.services.web.image, 'b');
  });
  test('docker-compose.yml is found when there is no compose.yaml', async () => {
    const dir = project({ 'docker-compose.yml': 'services:\n  a:\n    image: x\n' });
    assert.deepEqual(Object.keys((await loadProject(opts(dir))).services), ['a']);
  });
  test('no file anywhere up the tree', async () => {
    const dir = project({ '.keep': '' });
    assert.match(await loadError(dir), /no configuration file provided: not found/);
  });
  test('project name: -p over COMPOSE_PROJECT_NAME over name: over the directory; bad names refused', async () => {
    const dir = project({ 'compose.yaml': 'name: fromfile\nservices:\n  a:\n    image: x\n' });
    assert.equal((await loadProject(opts(dir))).name, 'fromfile');
    assert.equal((await loadProject(opts(dir, { env: { COMPOSE_PROJECT_NAME: 'fromenv' } }))).name, 'fromenv');
    assert.equal((await loadProject(opts(dir, { projectName: 'flag', env: { COMPOSE_PROJECT_NAME: 'fromenv' } }))).name, 'flag');
    assert.equal(await loadError(dir, { projectName: 'Bad' }),
      'invalid project name "Bad": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number');
    assert.match(await loadError(dir, { projectName: '-x' }), /invalid project name "-x"/);
  });
  test('COMPOSE_FILE from .env, with the path separator', async () => {
    const dir = project({
      '.env': 'COMPOSE_FILE=one.yaml:two.yaml\nCOMPOSE_PROJECT_NAME=dotenv\n',
      'one.yaml': 'services:\n  a:\n    image: one\n',
      'two.yaml': 'services:\n  b:\n    image: two\n',
    });
    const p = await loadProject(opts(dir));
    assert.equal(p.name, 'dotenv');
    assert.deepEqual(Object.keys(p.services).sort(), ['a', 'b']);
  });
});

describe('interpolation environment', () => {
  test('.env fills in variables; the shell wins over it; --env-file replaces it', async () => {
    const dir = project({
      '.env': 'TAG=fromdotenv\nOTHER=o\n',
      'alt.env': 'TAG=fromalt\n',
      'compose.yaml': 'services:\n  a:\n    image: "busybox:${TAG}"\n    environment:\n      O: ${OTHER:-none}\n',
    });
    assert.equal((await loadProject(opts(dir))).services.a.image, 'busybox:fromdotenv');
    assert.equal((await loadProject(opts(dir, { env: { TAG: 'shell' } }))).services.a.image, 'busybox:shell');
    const alt = await loadProject(opts(dir, { envFiles: [join(dir, 'alt.env')] }));
    assert.equal(alt.services.a.image, 'busybox:fromalt');
    assert.equal(alt.services.a.environment.O, 'none');
  });
  test('a missing required variable names the file and the key', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: "${IMG:?must be set}"\n' });
    assert.equal(await loadError(dir), `${join(dir, 'compose.yaml')}: error while interpolating services.a.image: required variable IMG is missing a value: must be set`);
  });
  test('$$ is a literal dollar; --no-interpolate keeps values as written', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    command: echo $$HOME ${X:-y}\n' });
    assert.deepEqual((await loadProject(opts(dir))).services.a.command, ['echo', '$HOME', 'y']);
    assert.deepEqual((await loadProject(opts(dir, { noInterpolate: true }))).services.a.command, ['echo', '$$HOME', '${X:-y}']);
  });
  test('env_file: string, list, long form with required:false; environment list and map; then environment wins', async () => {
    const dir = project({
      'a.env': 'A=1\nSHARED=from-a\n',
      'b.env': 'B=2\nSHARED=from-b\n',
      'compose.yaml': [
        'services:',
        '  one:', '    image: x', '    env_file: a.env', '    environment: [C=3, SHARED=mine, FROMSHELL, UNSET]',
        '  two:', '    image: x', '    env_file: [a.env, b.env]',
        '  three:', '    image: x',
        '    env_file:', '      - path: ./b.env', '      - path: ./missing.env', '        required: false',
        '    environment: {N: 1, T: true, E: ""}',
      ].join('\n'),
    });
    const p = await loadProject(opts(dir, { env: { FROMSHELL: 'sh' } }));
    assert.deepEqual(p.services.one.environment, { A: '1', SHARED: 'mine', C: '3', FROMSHELL: 'sh', UNSET: null });
    assert.deepEqual(p.services.two.environment, { A: '1', SHARED: 'from-b', B: '2' });
    assert.deepEqual(p.services.three.environment, { B: '2', SHARED: 'from-b', N: '1', T: 'true', E: '' });
  });
  test('a required env_file that is missing is an error naming it', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    env_file: nope.env\n' });
    assert.match(await loadError(dir), new RegExp(`env file ${join(dir, 'nope.env')} not found`));
  });
});

describe('normalisation', () => {
  test('ports: short forms, ranges, host ip, protocol; long form kept', async () => {
    const dir = project({ 'compose.yaml': [
      'services:', '  a:', '    image: x', '    ports:',
      '      - "3000"', '      - "3000-3001"', '      - "8000:8000"', '      - "9090-9091:8080-8081"', '      - "8000-9000:80"',
      '      - "127.0.0.1:5000:5000"', '      - "[::1]:6001:6001"', '      - "6060:6060/udp"', '      - 7000',
      '      - {target: 80, published: "8080", host_ip: 0.0.0.0, protocol: tcp, mode: host, name: web}',
    ].join('\n') });
    const ports = (await loadProject(opts(dir))).services.a.ports;
    // "3000" and the first port of "3000-3001" are one port: kept once.
    assert.deepEqual(ports, [
      { mode: 'ingress', target: 3000, protocol: 'tcp' },
      { mode: 'ingress', target: 3001, protocol: 'tcp' },
      { mode: 'ingress', target: 8000, published: '8000', protocol: 'tcp' },
      { mode: 'ingress', target: 8080, published: '9090', protocol: 'tcp' },
      { mode: 'ingress', target: 8081, published: '9091', protocol: 'tcp' },
      { mode: 'ingress', target: 80, published: '8000-9000', protocol: 'tcp' },
      { mode: 'ingress', host_ip: '127.0.0.1', target: 5000, published: '5000', protocol: 'tcp' },
      { mode: 'ingress', host_ip: '::1', target: 6001, published: '6001', protocol: 'tcp' },
      { mode: 'ingress', target: 6060, published: '6060', protocol: 'udp' },
      { mode: 'ingress', target: 7000, protocol: 'tcp' },
      { name: 'web', mode: 'host', host_ip: '0.0.0.0', target: 80, published: '8080', protocol: 'tcp' },
    ]);
  });
  test('volumes: relative and ~ binds resolved, named, anonymous, options, long form', async () => {
    const dir = project({
      'compose.yaml': [
        'services:', '  a:', '    image: x', '    volumes:',
        '      - ./data:/data:ro', '      - ../up:/up:rw,z', '      - ~/cache:/cache', '      - /abs:/abs:rshared',
        '      - named:/n:nocopy', '      - /anon',
        '      - {type: bind, source: ./src, target: /src, bind: {create_host_path: false}}',
        '      - {type: tmpfs, target: /t, tmpfs: {size: 1000}}',
        'volumes:', '  named: {}',
      ].join('\n'),
    });
    const v = (await loadProject(opts(dir))).services.a.volumes;
    assert.deepEqual(v, [
      { type: 'bind', source: join(dir, 'data'), target: '/data', read_only: true, bind: { create_host_path: true } },
      { type: 'bind', source: join(dirname(dir), 'up'), target: '/up', bind: { create_host_path: true, selinux: 'z' } },
      { type: 'bind', source: '/home/u/cache', target: '/cache', bind: { create_host_path: true } },
      { type: 'bind', source: '/abs', target: '/abs', bind: { create_host_path: true, propagation: 'rshared' } },
      { type: 'volume', source: 'named', target: '/n', volume: { nocopy: true } },
      { type: 'volume', target: '/anon', volume: {} },
      { type: 'bind', source: join(dir, 'src'), target: '/src', bind: { create_host_path: false } },
      { type: 'tmpfs', target: '/t', tmpfs: { size: 1000 } },
    ]);
  });
  test('depends_on, networks, build, command, healthcheck, durations, labels, scale, resource names', async () => {
    const dir = project({
      'compose.yaml': [
        'services:',
        '  web:', '    build: ./app', '    command: sh -c "echo hi; sleep 1"', '    entrypoint: ["/bin/sh"]',
        '    depends_on: [db]', '    labels: [a=1, b]',
        '    healthcheck: {test: curl -f localhost, interval: 90s, timeout: 500ms, start_period: 1h2m}',
        '    stop_grace_period: 1m30s', '    deploy: {replicas: 3}', '    extra_hosts: ["h:1.2.3.4", "g=5.6.7.8"]',
        '    ulimits: {nofile: 1024, nproc: {soft: 1, hard: 2}}',
        '  db:', '    image: pg', '    build: {context: db, args: [A=1, B]}', '    networks: [back]',
        '    depends_on: {cache: {condition: service_healthy}}',
        '  cache:', '    image: redis', '    network_mode: host', '    scale: 2',
        'networks:', '  back: {}', '  ext: {external: true}', '  named: {name: custom}',
        'volumes:', '  data: {}', '  old: {external: true, name: old-vol}',
        'secrets:', '  s: {file: ./s.txt}',
      ].join('\n'),
    });
    const p = await loadProject(opts(dir, { env: { B: 'fromshell' } }));
    const { web, db, cache } = p.services;
    assert.deepEqual(web.build, { context: join(dir, 'app'), dockerfile: 'Dockerfile' });
    assert.deepEqual(web.command, ['sh', '-c', 'echo hi; sleep 1']);
    assert.deepEqual(web.entrypoint, ['/bin/sh']);
    assert.deepEqual(web.depends_on, { db: { condition: 'service_started', required: true } });
    assert.deepEqual(web.networks, { default: null });
    assert.deepEqual(web.labels, { a: '1', b: '' });
    assert.deepEqual(web.healthcheck, { test: ['CMD-SHELL', 'curl -f localhost'], interval: '1m30s', timeout: '500ms', start_period: '1h2m0s' });
    assert.equal(web.stop_grace_period, '1m30s');
    assert.equal(web.scale, 3);
    assert.deepEqual(web.extra_hosts, ['h=1.2.3.4', 'g=5.6.7.8']);
    assert.deepEqual(web.ulimits, { nofile: { soft: 1024, hard: 1024 }, nproc: { soft: 1, hard: 2 } });
    assert.deepEqual(db.build, { context: join(dir, 'db'), dockerfile: 'Dockerfile', args: { A: '1', B: 'fromshell' } });
    const noShell = await loadProject(opts(dir));
    assert.deepEqual(noShell.services.db.build?.args, { A: '1' });
    assert.deepEqual(db.networks, { back: null });
    assert.deepEqual(db.depends_on, { cache: { condition: 'service_healthy', required: true } });
    assert.deepEqual(cache.networks, {});
    assert.equal(cache.scale, 2);
    assert.deepEqual(p.networks, {
      back: { name: 'proj_back' }, ext: { name: 'ext', external: true }, named: { name: 'custom' }, default: { name: 'proj_default' },
    });
    assert.deepEqual(p.volumes, { data: { name: 'proj_data' }, old: { name: 'old-vol', external: true } });
    assert.deepEqual(p.secrets, { s: { name: 'proj_s', file: join(dir, 's.txt') } });
  });
});

describe('normalisation: the rest', () => {
  test('an empty networks list means the default network (compose-go normalizeNetworks\' corner case)', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    networks: []\n' });
    const p = await loadProject(opts(dir));
    assert.deepEqual(p.services.a.networks, { default: null });
    assert.deepEqual(p.networks, { default: { name: 'proj_default' } });
  });
  test('resolvePaths: false keeps host paths as written', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    build: ./app\n    volumes: ["./data:/d", {type: bind, source: ../up, target: /u}]\n    secrets: [s]\nsecrets:\n  s: {file: ./s.txt}\n' });
    const p = await loadProject(opts(dir, { resolvePaths: false }));
    assert.equal(p.services.a.build?.context, './app');
    assert.deepEqual(p.services.a.volumes.map((v) => ('source' in v ? v.source : undefined)), ['./data', '../up']);
    assert.equal(p.secrets.s.file, './s.txt');
  });
  test('sizes in bytes (binary units, as go-units RAMInBytes)', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    mem_limit: 512m\n    memswap_limit: -1\n    shm_size: 64M\n    deploy: {resources: {limits: {memory: 1g}, reservations: {memory: "1024"}}}\n    volumes: [{type: tmpfs, target: /t, tmpfs: {size: 1k}}]\n    build: {context: ., shm_size: 2g}\n' });
    const a = (await loadProject(opts(dir))).services.a;
    assert.deepEqual([a.mem_limit, (a as unknown as Record<string, unknown>).memswap_limit, a.shm_size, a.build?.shm_size], [512 * 2 ** 20, -1, 64 * 2 ** 20, 2 * 2 ** 30]);
    assert.deepEqual(a.deploy?.resources, { limits: { memory: 2 ** 30 }, reservations: { memory: 1024 } });
    assert.deepEqual(a.volumes[0], { type: 'tmpfs', target: '/t', tmpfs: { size: 1024 } });
  });
  test('label_file under labels, pull_policy, develop.watch paths, implicit dependencies, top-level x- keys', async () => {
    const dir = project({
      'app.labels': 'a=from-file\nb=from-file\n',
      'compose.yaml': [
        'x-shared: {k: v}',
        'services:',
        '  web:', '    image: x', '    label_file: ./app.labels', '    labels: {b: mine}', '    pull_policy: if_not_present',
        '    develop: {watch: [{path: ./src, action: sync, target: /app}]}', '    x-note: kept',
        '  side:', '    image: x', '    network_mode: "service:web"', '    volumes_from: [web]', '    links: ["web:w"]',
      ].join('\n'),
    });
    const p = await loadProject(opts(dir));
    assert.deepEqual(p.services.web.labels, { a: 'from-file', b: 'mine' });
    assert.equal(p.services.web.pull_policy, 'missing');
    assert.deepEqual(p.services.web.develop?.watch, [{ path: join(dir, 'src'), action: 'sync', target: '/app' }]);
    assert.equal(p.services.web['x-note'], 'kept');
    assert.deepEqual(p.services.side.depends_on, { web: { condition: 'service_started', restart: true, required: true } });
    assert.deepEqual(p.extensions, { 'x-shared': { k: 'v' } });
  });
});

describe('several files: the spec\'s merge rules', () => {
  test('a port given short in one file and long in another is one port', async () => {
    const dir = project({
      'a.yaml': 'services:\n  s:\n    image: x\n    ports: ["8080:80"]\n',
      'b.yaml': 'services:\n  s:\n    ports: [{target: 80, published: "8080", app_protocol: http}]\n',
    });
    const p = await loadProject(opts(dir, { files: ['a.yaml', 'b.yaml'] }));
    assert.deepEqual(p.services.s.ports, [{ mode: 'ingress', target: 80, published: '8080', protocol: 'tcp', app_protocol: 'http' }]);
  });
  test('mappings merge, sequences append, command replaces, unique keys keep one entry, !reset and !override', async () => {
    const dir = project({
      'compose.yaml': [
        'services:', '  a:', '    image: x', '    command: [echo, base]', '    dns: [1.1.1.1]',
        '    environment: {A: "1", B: "1"}', '    labels: [l1=base]',
        '    ports: ["8080:80", "9090:90"]', '    volumes: ["v1:/work", "/keep"]', '    expose: ["1"]',
        '    healthcheck: {test: [CMD, a], interval: 10s}',
        '  b:', '    image: y', '    ports: ["1000:1000"]', '    environment: {X: "1"}', '    cap_add: [NET_ADMIN]',
        'volumes:', '  v1: {}', '  v2: {}',
      ].join('\n'),
      'override.yaml': [
        'services:', '  a:', '    command: [echo, override]', '    dns: [8.8.8.8]',
        '    environment: [B=2, C=3]', '    labels: {l2: over}',
        '    ports: ["8080:80"]', '    volumes: ["v2:/work"]', '    expose: ["1", "2"]',
        '    healthcheck: {test: [CMD, b]}',
        '  b:', '    ports: !override ["2000:2000"]', '    environment: !reset {}', '    cap_add: !reset []',
      ].join('\n'),
    });
    const p = await loadProject(opts(dir, { files: ['compose.yaml', 'override.yaml'] }));
    const { a, b } = p.services;
    assert.deepEqual(a.command, ['echo', 'override']);
    assert.deepEqual(a.dns, ['1.1.1.1', '8.8.8.8']);
    assert.deepEqual(a.environment, { A: '1', B: '2', C: '3' });
    assert.deepEqual(a.labels, { l1: 'base', l2: 'over' });
    assert.deepEqual(a.ports.map((x) => `${x.published}:${x.target}`), ['8080:80', '9090:90']);
    assert.deepEqual(a.volumes.map((v) => `${'source' in v ? v.source ?? '' : ''}:${v.target}`), ['v2:/work', ':/keep']);
    assert.deepEqual(a.expose, ['1', '2']);
    assert.deepEqual(a.healthcheck, { test: ['CMD', 'b'], interval: '10s' });
    assert.deepEqual(b.ports.map((x) => x.target), [2000]);
    assert.deepEqual(b.environment, {});
    assert.equal(b.cap_add, undefined);
  });
});

describe('extends, include, profiles', () => {
  test('extends in the same file and from another file (its relative paths kept relative to it)', async () => {
    const dir = project({
      'common/base.yaml': 'services:\n  tpl:\n    build: ./ctx\n    environment: {TZ: utc, PORT: "80"}\n    volumes: ["./data:/data"]\n',
      'compose.yaml': [
        'services:',
        '  base:', '    image: busybox', '    user: root', '    security_opt: [label:role:ROLE]',
        '  common:', '    extends: base', '    environment: {A: "1"}',
        '  cli:', '    extends: {service: common}', '    security_opt: [label:user:USER]', '    environment: [B=2]',
        '  other:', '    extends: {file: common/base.yaml, service: tpl}', '    environment: {PORT: "8080"}',
      ].join('\n'),
    });
    const p = await loadProject(opts(dir));
    assert.equal(p.services.cli.image, 'busybox');
    assert.equal(p.services.cli.user, 'root');
    assert.deepEqual(p.services.cli.security_opt, ['label:role:ROLE', 'label:user:USER']);
    assert.deepEqual(p.services.cli.environment, { A: '1', B: '2' });
    assert.deepEqual(p.services.other.build, { context: join(dir, 'common/ctx'), dockerfile: 'Dockerfile' });
    assert.deepEqual(p.services.other.environment, { TZ: 'utc', PORT: '8080' });
    assert.equal(p.services.other.volumes[0].type === 'bind' && p.services.other.volumes[0].source, join(dir, 'common/data'));
  });
  test('extends of an unknown service, and a circular extends', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    extends: nope\n' });
    assert.match(await loadError(dir), /cannot extend service "a" in .*compose\.yaml: service "nope" not found/);
    const loop = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n' });
    assert.match(await loadError(loop), /circular reference with extends/);
  });
  test('include: string and long form with project_directory and env_file; its .env is its own', async () => {
    const dir = project({
      'compose.yaml': 'include:\n  - lib/compose.yaml\n  - path: other/o.yaml\n    project_directory: other\n    env_file: other/vars.env\nservices:\n  main:\n    image: m\n    depends_on: [lib]\n',
      'lib/compose.yaml': 'services:\n  lib:\n    image: "lib:${LIBTAG}"\n    volumes: ["./d:/d"]\n',
      'lib/.env': 'LIBTAG=7\n',
      'other/o.yaml': 'services:\n  o:\n    image: "o:${OTAG}"\n    build: .\n',
      'other/vars.env': 'OTAG=9\n',
    });
    const p = await loadProject(opts(dir));
    assert.deepEqual(Object.keys(p.services).sort(), ['lib', 'main', 'o']);
    assert.equal(p.services.lib.image, 'lib:7');
    assert.equal(p.services.lib.volumes[0].type === 'bind' && p.services.lib.volumes[0].source, join(dir, 'lib/d'));
    assert.equal(p.services.o.image, 'o:9');
    assert.equal(p.services.o.build?.context, join(dir, 'other'));
  });
  test('an include cycle is reported', async () => {
    const dir = project({ 'compose.yaml': 'include: [compose.yaml]\nservices:\n  a:\n    image: x\n' });
    assert.match(await loadError(dir), /^include cycle detected/);
  });
  test('profiles: services without profiles always on; --profile, COMPOSE_PROFILES, *; naming a service enables it and its dependencies', async () => {
    const dir = project({ 'compose.yaml': [
      'services:', '  app:', '    image: x',
      '  debug:', '    image: x', '    profiles: [debug]', '    depends_on: [tools]',
      '  tools:', '    image: x', '    profiles: [tools]',
    ].join('\n') });
    assert.deepEqual(Object.keys((await loadProject(opts(dir))).services), ['app']);
    assert.deepEqual(Object.keys((await loadProject(opts(dir, { profiles: ['tools'] }))).services), ['app', 'tools']);
    assert.deepEqual(Object.keys((await loadProject(opts(dir, { env: { COMPOSE_PROFILES: 'tools,debug' } }))).services), ['app', 'debug', 'tools']);
    assert.deepEqual(Object.keys((await loadProject(opts(dir, { profiles: ['*'] }))).services).sort(), ['app', 'debug', 'tools']);
    assert.match(await loadError(dir, { profiles: ['debug'] }), /service "tools" is required by "debug" but is disabled\. Can be enabled by profiles \[tools\]/);
    const named = await loadProject(opts(dir, { services: ['debug'] }));
    assert.deepEqual(Object.keys(named.services).sort(), ['app', 'debug', 'tools']);
    const base = await loadProject(opts(dir));
    assert.deepEqual(Object.keys(withServicesEnabled(base, ['tools']).services).sort(), ['app', 'tools']);
  });
});

describe('bad input: one clear error naming the file and key', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown key', 'services:\n  web:\n    image: x\n    imagee: y\n', /^validating .*compose\.yaml: services\.web additional properties 'imagee' not allowed$/],
    ['unknown top-level key', 'servics: {}\n', /^validating .*compose\.yaml: \(root\) additional properties 'servics' not allowed$/],
    ['wrong type', 'services:\n  web:\n    image: [x]\n', /^validating .*compose\.yaml: services\.web\.image must be a string$/],
    ['wrong type of a mapping', 'services:\n  web:\n    image: x\n    environment: 3\n', /^validating .*compose\.yaml: services\.web\.environment must be a (mapping|array)/],
    ['depends_on cycle', 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n', /compose\.yaml: dependency cycle detected: a -> b -> a$/],
    ['depends_on undefined', 'services:\n  a:\n    image: x\n    depends_on: [ghost]\n', /compose\.yaml: service "a" depends on undefined service "ghost": invalid compose project$/],
    ['undefined network', 'services:\n  a:\n    image: x\n    networks: [front]\n', /compose\.yaml: service "a" refers to undefined network front: invalid compose project$/],
    ['undefined volume', 'services:\n  a:\n    image: x\n    volumes: ["data:/d"]\n', /compose\.yaml: service "a" refers to undefined volume data: invalid compose project$/],
    ['undefined secret', 'services:\n  a:\n    image: x\n    secrets: [token]\n', /compose\.yaml: service "a" refers to undefined secret token: invalid compose project$/],
    ['undefined config', 'services:\n  a:\n    image: x\n    configs: [conf]\n', /compose\.yaml: service "a" refers to undefined config conf: invalid compose project$/],
    ['bad interpolation', 'services:\n  a:\n    image: "${VAR:?must be set}"\n', /compose\.yaml: error while interpolating services\.a\.image: required variable VAR is missing a value: must be set$/],
    ['invalid template', 'services:\n  a:\n    image: "x${"\n', /compose\.yaml: invalid interpolation format for services\.a\.image\.\nYou may need to escape any \$ with another \$\.\nx\$\{$/],
    ['host port out of range', 'services:\n  a:\n    image: x\n    ports: ["70000:80"]\n', /compose\.yaml: services\.a\.ports: invalid hostPort: 70000$/],
    ['container port out of range', 'services:\n  a:\n    image: x\n    ports: ["80:65536"]\n', /compose\.yaml: services\.a\.ports: invalid containerPort: 65536$/],
    ['long-form port out of range', 'services:\n  a:\n    image: x\n    ports: [{target: 99999}]\n', /compose\.yaml: services\.a\.ports: invalid containerPort: 99999$/],
    ['neither image nor build', 'services:\n  a:\n    command: x\n', /service "a" has neither an image nor a build context specified: invalid compose project$/],
    ['YAML syntax', 'services:\n  a: [\n', /^failed to parse .*compose\.yaml: yaml: line \d+: /],
    ['duplicate key', 'services:\n  a:\n    image: x\n    image: y\n', /^failed to parse .*compose\.yaml: yaml: line 4: Map keys must be unique/],
    ['a service that is not a mapping', 'services:\n  a:\n', /^validating .*compose\.yaml: services\.a must be a mapping$/],
    ['a bad duration', 'services:\n  a:\n    image: x\n    healthcheck: {interval: 10x}\n', /compose\.yaml: services\.a\.healthcheck\.interval: time: invalid duration "10x"$/],
    ['a secret with neither file nor environment', 'services:\n  a:\n    image: x\nsecrets:\n  s: {labels: {a: b}}\n', /compose\.yaml: secrets\.s: one of file\|environment must be set$/],
    ['a secret with two sources', 'services:\n  a:\n    image: x\nsecrets:\n  s: {file: ./f, environment: E}\n', /secrets\.s: file\|environment attributes are mutually exclusive$/],
    ['an external volume with a driver (compose-go TestInvalidExternalAndDriverCombination)', 'volumes:\n  external_volume:\n    external: true\n    driver: foobar\n', /volumes\.external_volume: conflicting parameters "external" and "driver" specified$/],
    ['name and external.name (compose-go TestLoadVolumeInvalidExternalNameAndNameCombination)', 'volumes:\n  external_volume:\n    name: user_specified_name\n    external:\n      name: external_name\n', /volumes\.external_volume: name and external\.name conflict; only use name$/],
    ['a host_ip that is no address', 'services:\n  a:\n    image: x\n    ports: [{target: 80, host_ip: nowhere}]\n', /services\.a\.ports\.\[\]: invalid ip address: nowhere$/],
    ['two mounts on one path', 'services:\n  a:\n    image: x\n    tmpfs: [/data]\n    volumes: ["/h:/data"]\n', /services\.a\.volumes\[0\]: target \/data already mounted as services\.a\.tmpfs\[0\]$/],
    ['a remote include', 'include: [oci://registry.example/project:latest]\nservices:\n  a:\n    image: x\n', /compose\.yaml: include of a remote resource is not supported: oci:\/\/registry\.example\/project:latest$/],
    ['a bad size', 'services:\n  a:\n    image: x\n    mem_limit: lots\n', /compose\.yaml: services\.a\.mem_limit: invalid size: 'lots'$/],
    ['a file mode that is not octal', 'services:\n  a:\n    image: x\n    secrets: [{source: s, mode: "rwx"}]\nsecrets:\n  s: {file: ./s}\n', /compose\.yaml: services\.a\.secrets: invalid file mode "rwx"$/],
    ['a remote extends', 'services:\n  a:\n    extends: {file: "https://example.com/c.yaml", service: b}\n', /cannot extend service "a" in .*compose\.yaml: extending from a remote resource is not supported: https:\/\/example\.com\/c\.yaml$/],
    ['an empty file', '', /^empty compose file$/],
    ['scale and replicas differ', 'services:\n  a:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n', /services\.a: can't set distinct values on 'scale' and 'deploy\.replicas'/],
  ];
  for (const [what, text, want] of cases) {
    test(what, async () => {
      const dir = project({ 'compose.yaml': text });
      assert.match(await loadError(dir), want);
    });
  }
  test('the obsolete version attribute is warned about and dropped', async () => {
    const dir = project({ 'compose.yaml': 'version: "3.8"\nservices:\n  a:\n    image: x\n' });
    const warnings: string[] = [];
    await loadProject(opts(dir, { warn: (m) => warnings.push(m) }));
    assert.deepEqual(warnings, [`${join(dir, 'compose.yaml')}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`]);
  });
  test('an optional dependency that is missing is dropped with a warning', async () => {
    const dir = project({ 'compose.yaml': 'services:\n  a:\n    image: x\n    depends_on: {ghost: {condition: service_started, required: false}}\n' });
    const warnings: string[] = [];
    const p = await loadProject(opts(dir, { warn: (m) => warnings.push(m) }));
    assert.deepEqual(p.services.a.depends_on, {});
    assert.equal(warnings.length, 1);
  });
});
