// Mounts through other clients (the docker CLI, docker-py, the raw API with
// dockerd's statuses) and across a daemon's kill -9 and restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs } from '../helpers/build.ts';
import { callApi } from '../helpers/api-call.ts';

const hasPy = spawnSync('python3', ['-c', 'import docker']).status === 0;

describe('volume mounts through the docker CLI, docker-py and the API', () => {
  let d: TestDaemon;
  const dirs = new TestDirs();
  const volumes = () => d.berth(['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean).sort();

  before(async () => { d = await startSeededDaemon(); });
  after(async () => {
    await d.destroy();
    dirs.removeAll();
  });

  test('docker CLI: named and anonymous volumes, binds, --mount, --tmpfs, inspect', { skip: !DOCKER }, () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-dk-'));
    writeFileSync(join(host, 'in'), 'host file\n');
    const ok = (args: string[]) => {
      const r = d.docker(args);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    ok(['run', '--rm', '-v', 'dkvol:/data', 'busybox', 'sh', '-c', 'echo via-docker > /data/f']);
    assert.equal(ok(['run', '--rm', '--mount', 'source=dkvol,target=/v,readonly', 'busybox', 'cat', '/v/f']), 'via-docker\n');
    const roWrite = d.docker(['run', '--rm', '--mount', 'source=dkvol,target=/v,readonly', 'busybox', 'touch', '/v/g']);
    assert.equal(roWrite.code, 1);
    assert.match(roWrite.stderr, /Read-only file system/);
    assert.equal(ok(['run', '--rm', '-v', `${host}:/h`, 'busybox', 'sh', '-c', 'cat /h/in; echo out > /h/out']), 'host file\n');
    assert.equal(readFileSync(join(host, 'out'), 'utf8'), 'out\n');
    assert.match(ok(['run', '--rm', '--tmpfs', '/tt:size=3m', 'busybox', 'grep', ' /tt ', '/proc/mounts']), /size=3072k/);

    const before = volumes();
    ok(['run', '--name', 'dkanon', '-v', '/anon', '--mount', `type=bind,src=${host},dst=/b,bind-propagation=rprivate`, 'busybox', 'true']);
    const mounts = JSON.parse(ok(['inspect', '--format', '{{json .Mounts}}', 'dkanon']));
    const anon = mounts.find((m: { Destination: string }) => m.Destination === '/anon');
    assert.equal(anon.Type, 'volume');
    assert.equal(anon.Driver, 'local');
    assert.deepEqual(mounts.find((m: { Destination: string }) => m.Destination === '/b'),
      { Type: 'bind', Source: host, Destination: '/b', Mode: '', RW: true, Propagation: 'rprivate' });
    assert.deepEqual(JSON.parse(ok(['inspect', '--format', '{{json .Config.Volumes}}', 'dkanon'])), { '/anon': {} });
    assert.deepEqual(volumes(), [...before, anon.Name].sort());
    ok(['rm', '-v', 'dkanon']);
    assert.deepEqual(volumes(), before);

    const bad = d.docker(['run', '--rm', '--mount', `type=bind,src=${host}/missing,dst=/m`, 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, new RegExp(`invalid mount config for type "bind": bind source path does not exist: ${host}/missing`));
    const busy = d.docker(['volume', 'rm', 'dkvol']);
    assert.equal(busy.code, 0, busy.stderr);
  });

  test('docker-py: volumes= binds and named volumes, mounts=, remove(v=True)', { skip: !hasPy }, () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-py-'));
    const script = `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
host = sys.argv[2]
print(c.containers.run('busybox', ['sh', '-c', 'echo py > /data/f; cat /data/f'], remove=True,
      volumes={'pyvol': {'bind': '/data', 'mode': 'rw'}, host: {'bind': '/h', 'mode': 'ro'}}).decode().strip())
print(c.volumes.get('pyvol').name)
m = docker.types.Mount('/d', 'pyvol', type='volume', read_only=True)
print(c.containers.run('busybox', ['cat', '/d/f'], remove=True, mounts=[m]).decode().strip())
ct = c.containers.create('busybox', ['true'], volumes=['/anon'], name='pyanon')
ct.reload()
name = ct.attrs['Mounts'][0]['Name']
print(ct.attrs['Mounts'][0]['Destination'], name in [v.name for v in c.volumes.list()])
ct.remove(v=True)
print(name in [v.name for v in c.volumes.list()])
try:
    c.volumes.get('pyvol').remove()
    print('removed')
except docker.errors.APIError as e:
    print(e.status_code)
`;
    const r = run('python3', ['-c', script, d.host, host]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'py\npyvol\npy\n/anon True\nFalse\nremoved\n');
  });

  test('bad input over the API: dockerd\'s statuses and messages, nothing left behind', async () => {
    const before = volumes();
    const create = (body: Record<string, unknown>) => callApi(d.socket, 'POST', '/v1.45/containers/create', { Image: 'busybox', Cmd: ['true'], ...body });
    const cases: [Record<string, unknown>, number, string][] = [
      [{ HostConfig: { Binds: ['..:/x'] } }, 400, 'create ..: ".." includes invalid characters for a local volume name'],
      [{ HostConfig: { Binds: ['a/b:/x'] } }, 400, 'create a/b: "a/b" includes invalid characters'],
      [{ HostConfig: { Binds: ['/tmp:/x', '/var:/x/'] } }, 400, 'Duplicate mount point: /x'],
      [{ HostConfig: { Binds: ['/tmp:/x'], Tmpfs: { '/x': '' } } }, 400, 'Duplicate mount point: /x'],
      [{ HostConfig: { Binds: ['/tmp:/x'], Mounts: [{ Type: 'volume', Target: '/x' }] } }, 400, 'Duplicate mount point: /x'],
      [{ HostConfig: { Binds: ['/tmp:x'] } }, 400, "invalid volume specification: '/tmp:x': invalid mount config for type \"bind\": invalid mount path: 'x' mount path must be absolute"],
      [{ HostConfig: { Binds: ['/tmp:/'] } }, 400, "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"],
      [{ HostConfig: { Mounts: [{ Type: 'bind', Source: '/no/such/dir', Target: '/x' }] } }, 400, 'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'],
      [{ HostConfig: { Mounts: [{ Type: 'bind', Source: 'rel', Target: '/x' }] } }, 400, "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"],
      [{ HostConfig: { Mounts: [{ Type: 'tmpfs', Source: '/x', Target: '/x' }] } }, 400, 'invalid mount config for type "tmpfs": field Source must not be specified'],
      [{ HostConfig: { Mounts: [{ Type: 'bogus', Target: '/x' }] } }, 400, 'invalid mount config for type "bogus": mount type unknown'],
      [{ HostConfig: { Mounts: [{ Type: 'volume', Target: '/x', BindOptions: {} }] } }, 400, 'invalid mount config for type "volume": field BindOptions must not be specified'],
      [{ HostConfig: { Mounts: [{ Type: 'volume', Target: '/x', VolumeOptions: { Subpath: 'a' } }] } }, 400, 'invalid mount config for type "volume": must not set Subpath when using anonymous volumes'],
      [{ HostConfig: { Mounts: [{ Type: 'volume', Source: 'v', Target: '/x', VolumeOptions: { DriverConfig: { Name: 'nosuchdriver' } } }] } }, 404, 'create v: error looking up volume plugin nosuchdriver: plugin "nosuchdriver" not found'],
      [{ HostConfig: { VolumesFrom: ['nosuch'] } }, 400, 'No such container: nosuch'],
      [{ HostConfig: { VolumesFrom: [''] } }, 400, 'volumes-from specification cannot be an empty string'],
      [{ HostConfig: { Tmpfs: { '/': '' } } }, 400, "invalid specification: destination can't be '/'"],
      [{ Volumes: { 'rel/dir': {} } }, 400, "invalid mount path: 'rel/dir' mount path must be absolute"],
      [{ Volumes: { '/etc/passwd': {} } }, 400, 'cannot mount volume over existing file, file exists '],
      [{ Volumes: { '/ok': {} }, HostConfig: { Binds: ['good:/g'], VolumesFrom: ['nosuch'] } }, 400, 'No such container: nosuch'],
    ];
    for (const [body, status, msg] of cases) {
      const r = await create(body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.body}`);
      assert.ok((JSON.parse(r.body) as { message: string }).message.startsWith(msg), `${JSON.stringify(body)}: ${r.body}`);
    }
    const list = await callApi(d.socket, 'GET', '/containers/json?all=1');
    assert.deepEqual(JSON.parse(list.body), []);
    assert.deepEqual(volumes(), before);
  });

  test('the API round-trips HostConfig.Binds and Mounts, and rm ?v=1 removes anonymous volumes only', async () => {
    const before = volumes();
    const r = await callApi(d.socket, 'POST', '/containers/create?name=rt', {
      Image: 'busybox', Cmd: ['true'], Volumes: { '/anon': {} },
      HostConfig: { Binds: ['rtvol:/n:ro,nocopy'], Mounts: [{ Type: 'volume', Source: 'rtvol2', Target: '/m', VolumeOptions: { NoCopy: true, Labels: { a: 'b' } } }] },
    });
    assert.equal(r.status, 201, r.body);
    const c = JSON.parse((await callApi(d.socket, 'GET', '/containers/rt/json')).body);
    assert.deepEqual(c.HostConfig.Binds, ['rtvol:/n:ro,nocopy']);
    assert.deepEqual(c.HostConfig.Mounts, [{ Type: 'volume', Source: 'rtvol2', Target: '/m', VolumeOptions: { NoCopy: true, Labels: { a: 'b' } } }]);
    const n = c.Mounts.find((m: { Destination: string }) => m.Destination === '/n');
    assert.deepEqual({ ...n, Source: '' }, { Type: 'volume', Name: 'rtvol', Source: '', Destination: '/n', Driver: 'local', Mode: 'ro,nocopy', RW: false, Propagation: '' });
    assert.deepEqual(JSON.parse((await callApi(d.socket, 'GET', '/volumes/rtvol2')).body).Labels, { a: 'b' });
    const list = JSON.parse((await callApi(d.socket, 'GET', '/containers/json?all=1')).body);
    assert.equal(list[0].Mounts.length, 3, 'ps shows the mounts too');
    assert.equal((await callApi(d.socket, 'DELETE', '/containers/rt?v=1')).status, 204);
    assert.deepEqual(volumes(), [...before, 'rtvol', 'rtvol2'].sort());
    for (const v of ['rtvol', 'rtvol2']) assert.equal((await callApi(d.socket, 'DELETE', `/volumes/${v}`)).status, 204);
  });
});

describe('volumes across a daemon kill -9 and restart', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('data and references survive: an in-use volume is still a 409, a running container\'s volume still mounted', async () => {
    const ok = (args: string[]) => {
      const r = d.berth(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    ok(['run', '--name', 'holder', '-v', 'durable:/data', 'busybox', 'sh', '-c', 'echo survives > /data/f']);
    ok(['run', '-d', '--name', 'runner', '-v', 'live:/data', '--mount', 'type=volume,dst=/anon', 'busybox', 'sh', '-c', 'while true; do sleep 0.2; done']);
    const anon = JSON.parse(ok(['inspect', 'runner']))[0].Mounts.find((m: { Destination: string }) => m.Destination === '/anon').Name;
    await d.crash();
    await d.start();
    for (const v of ['durable', 'live', anon]) {
      const r = d.berth(['volume', 'rm', v]);
      assert.equal(r.code, 1, `${v} is still referenced after the restart`);
      assert.match(r.stderr, new RegExp(`remove ${v}: volume is in use - \\[[0-9a-f]{64}\\]`));
    }
    assert.equal(ok(['run', '--rm', '-v', 'durable:/data', 'busybox', 'cat', '/data/f']), 'survives\n');
    ok(['exec', 'runner', 'sh', '-c', 'echo after-restart > /data/g']);
    assert.equal(ok(['run', '--rm', '-v', 'live:/data', 'busybox', 'cat', '/data/g']), 'after-restart\n');
    ok(['rm', '-f', '-v', 'runner']);
    ok(['rm', 'holder']);
    assert.deepEqual(d.berth(['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean).sort(), ['durable', 'live']);
    ok(['volume', 'rm', 'durable', 'live']);
  });
});
