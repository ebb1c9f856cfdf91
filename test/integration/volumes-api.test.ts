// The volume API end to end against a real daemon: the Engine API's shapes and
// statuses, the berth CLI beside the docker CLI (same command lines, same
// output), docker-py, dockerd's errors for bad input, and a store that kill -9
// cannot leave half made. A volume in use by a container is the mounts'
// side (vol-mounts); here "in use" is covered in test/unit/volume-service.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, run, TestDaemon, waitForNextSecond } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('volume API', () => {
  let d: TestDaemon;
  before(async () => {
    d = new TestDaemon();
    await d.start();
  });
  after(async () => { await d?.destroy(); });

  const must = (r: { code: number; stdout: string; stderr: string }) => {
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const json = <T>(s: string) => JSON.parse(s) as T;

  test('POST /volumes/create answers 201 with dockerd\'s Volume, GET shows the same, list has {Volumes, Warnings}', async () => {
    const c = await callApi(d.socket, 'POST', '/v1.47/volumes/create', { Name: 'api-vol', Labels: { a: 'b' }, DriverOpts: {} });
    assert.equal(c.status, 201, c.body);
    const v = json<Record<string, unknown>>(c.body);
    assert.deepEqual(Object.keys(v).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.equal(v.Driver, 'local');
    assert.equal(v.Scope, 'local');
    assert.equal(v.Mountpoint, join(d.dataRoot, 'volumes', 'api-vol', '_data'));
    assert.match(String(v.CreatedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    assert.ok(existsSync(String(v.Mountpoint)));
    const g = await callApi(d.socket, 'GET', '/volumes/api-vol');
    assert.equal(g.status, 200);
    assert.deepEqual(json(g.body), v);
    const again = await callApi(d.socket, 'POST', '/volumes/create', { Name: 'api-vol' });
    assert.equal(again.status, 201);
    assert.deepEqual(json(again.body), v, 'an existing name is returned as it is');
    const l = await callApi(d.socket, 'GET', '/volumes?filters=' + encodeURIComponent('{"name":["api-vol"]}'));
    assert.equal(l.status, 200);
    assert.deepEqual(json(l.body), { Volumes: [v], Warnings: null });
    const del = await callApi(d.socket, 'DELETE', '/volumes/api-vol');
    assert.equal(del.status, 204);
    assert.equal(del.body, '');
    assert.equal(existsSync(String(v.Mountpoint)), false);
  });

  test('bad input: 4xx with dockerd\'s words, and nothing made', async () => {
    const cases: [unknown, number, string][] = [
      [{ Name: 'x' }, 400, 'create x: volume name is too short, names should be at least two alphanumeric characters'],
      [{ Name: '../up' }, 400, 'create ../up: "../up" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [{ Name: 'a/b' }, 400, 'create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [{ Name: 'n'.repeat(300) }, 400, `create ${'n'.repeat(300)}: volume name is too long, names should be at most 255 characters`],
      [{ Name: 'okname', DriverOpts: { foo: 'bar' } }, 400, 'create okname: invalid option: "foo"'],
      [{ Name: 'okname', DriverOpts: { type: 'tmpfs' } }, 400, 'create okname: missing required option: "device"'],
      [{ Name: 'okname', DriverOpts: { size: '10m' } }, 400, 'create okname: quota size requested but no quota support'],
      [{ Name: 'okname', Driver: 'convoy' }, 404, 'create okname: error looking up volume plugin convoy: plugin "convoy" not found'],
      [{ Name: 7 }, 400, 'json: cannot unmarshal number into Go struct field volume.CreateOptions.Name of type string'],
      [{ Labels: ['a'] }, 400, 'json: cannot unmarshal array into Go struct field volume.CreateOptions.Labels of type map[string]string'],
    ];
    for (const [body, status, message] of cases) {
      const r = await callApi(d.socket, 'POST', '/volumes/create', body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.body}`);
      assert.deepEqual(json(r.body), { message });
    }
    const missing = await callApi(d.socket, 'GET', '/volumes/nosuch');
    assert.equal(missing.status, 404);
    assert.deepEqual(json(missing.body), { message: 'get nosuch: no such volume' });
    assert.equal((await callApi(d.socket, 'DELETE', '/volumes/nosuch')).status, 404);
    assert.equal((await callApi(d.socket, 'DELETE', '/volumes/nosuch?force=1')).status, 204);
    const put = await callApi(d.socket, 'PUT', '/volumes/nosuch?version=1', {});
    assert.equal(put.status, 503);
    assert.deepEqual(json(put.body), { message: 'volume update only valid for cluster volumes, but swarm is unavailable' });
    const bad = await callApi(d.socket, 'GET', '/volumes?filters=' + encodeURIComponent('{"dangling":["maybe"]}'));
    assert.equal(bad.status, 400);
    assert.deepEqual(json(bad.body), { message: "invalid filter 'dangling=maybe'" });
    assert.equal((await callApi(d.socket, 'GET', '/volumes?filters=' + encodeURIComponent('{"until":["1h"]}'))).status, 400);
    assert.deepEqual(readdirSync(join(d.dataRoot, 'volumes')), []);
  });

  test('prune: anonymous volumes only since API 1.42, named ones too before it or with all=true', async () => {
    const anon = json<{ Name: string }>((await callApi(d.socket, 'POST', '/volumes/create', {})).body).Name;
    await callApi(d.socket, 'POST', '/volumes/create', { Name: 'named-a' });
    writeFileSync(join(d.dataRoot, 'volumes', anon, '_data', 'f'), Buffer.alloc(2500));
    const p1 = await callApi(d.socket, 'POST', '/v1.44/volumes/prune');
    assert.equal(p1.status, 200);
    assert.deepEqual(json(p1.body), { VolumesDeleted: [anon], SpaceReclaimed: 2500 });
    const p2 = await callApi(d.socket, 'POST', '/v1.44/volumes/prune');
    assert.deepEqual(json(p2.body), { VolumesDeleted: [], SpaceReclaimed: 0 });
    const p3 = await callApi(d.socket, 'POST', '/v1.41/volumes/prune');
    assert.deepEqual(json(p3.body), { VolumesDeleted: ['named-a'], SpaceReclaimed: 0 });
  });

  test('/system/df lists local volumes without mount options, with Size and RefCount', async () => {
    must(d.berth(['volume', 'create', 'df-vol']));
    must(d.berth(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'df-tmpfs']));
    writeFileSync(join(d.dataRoot, 'volumes', 'df-vol', '_data', 'f'), Buffer.alloc(4321));
    const df = json<{ Volumes: { Name: string; UsageData: unknown }[]; LayersSize: number }>((await callApi(d.socket, 'GET', '/system/df')).body);
    assert.equal(typeof df.LayersSize, 'number');
    assert.deepEqual(df.Volumes.map((v) => [v.Name, v.UsageData]), [['df-vol', { Size: 4321, RefCount: 0 }]]);
    const summary = must(d.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}']));
    assert.match(summary, /^Local Volumes 1 0 4\.321kB 4\.321kB \(100%\)$/m);
    assert.equal(must(d.berth(['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}'])), summary);
    const verbose = must(d.docker(['system', 'df', '-v']));
    assert.match(verbose, /Local Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\ndf-vol        0         4\.321kB\n/);
    assert.equal(must(d.berth(['system', 'df', '-v'])), verbose);
    must(d.berth(['volume', 'rm', 'df-vol', 'df-tmpfs']));
  });

  test('the berth CLI prints what the docker CLI prints, for every volume command', { skip: !DOCKER }, () => {
    const both = (args: string[]) => {
      const b = d.berth(args);
      const k = d.docker(args);
      assert.equal(b.stdout, k.stdout, `berth ${args.join(' ')} (stdout)`);
      assert.equal(b.stderr, k.stderr, `berth ${args.join(' ')} (stderr)`);
      assert.equal(b.code, k.code, `berth ${args.join(' ')} (exit code)`);
      return b;
    };
    must(d.berth(['volume', 'create', '--label', 'app=web', '--label', 'tier', 'vol10']));
    must(d.docker(['volume', 'create', '-d', 'local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'vol2']));
    assert.equal(must(d.berth(['volume', 'create', '--name', 'vol1'])), 'vol1\n');
    assert.equal(both(['volume', 'ls']).stdout, 'DRIVER    VOLUME NAME\nlocal     vol1\nlocal     vol2\nlocal     vol10\n');
    assert.equal(both(['volume', 'ls', '-q']).stdout, 'vol1\nvol2\nvol10\n');
    // {{.Labels}} of two labels: the docker CLI joins them in Go's random map order, so compare them as a set.
    const labels = d.berth(['volume', 'ls', '--filter', 'label=app=web', '--format', '{{.Labels}}']).stdout.trim().split(',').sort();
    assert.deepEqual(labels, ['app=web', 'tier=']);
    assert.equal(both(['volume', 'ls', '--filter', 'label=app=web', '--format', '{{.Name}}|{{.Label "app"}}|{{.Label "tier"}}|{{.Scope}}|{{.Links}}|{{.Size}}']).stdout, 'vol10|web||local|N/A|N/A\n');
    // JSON lines: the docker CLI's Labels cell is joined in Go's random map order, so it is compared as a set; everything else as printed.
    const jsonRows = (out: string) => out.split('\n').filter(Boolean).map((l) => {
      const row = JSON.parse(l) as Record<string, unknown>;
      return { ...row, Labels: String(row.Labels).split(',').sort() };
    });
    const [bj, kj] = [d.berth(['volume', 'ls', '--format', 'json']), d.docker(['volume', 'ls', '--format', 'json'])];
    assert.deepEqual([bj.code, bj.stderr], [kj.code, kj.stderr]);
    assert.equal(jsonRows(bj.stdout).length, 3);
    assert.deepEqual(jsonRows(bj.stdout), jsonRows(kj.stdout));
    // The keys in the docker CLI's order too.
    assert.deepEqual(bj.stdout.split('\n').filter(Boolean).map((l) => Object.keys(JSON.parse(l) as object)), kj.stdout.split('\n').filter(Boolean).map((l) => Object.keys(JSON.parse(l) as object)));
    both(['volume', 'ls', '--format', 'table {{.Name}}\t{{.Mountpoint}}\t{{.Driver}}']);
    both(['volume', 'ls', '-f', 'name=vol1', '-f', 'dangling=true']);
    both(['volume', 'ls', '-f', 'bogus=1']);
    // A bad flag value: docker's usage lines name docker, berth's name berth; the first line and the code agree.
    const [bf, kf] = [d.berth(['volume', 'ls', '-f', 'nofilter']), d.docker(['volume', 'ls', '-f', 'nofilter'])];
    assert.deepEqual([bf.code, bf.stderr.split('\n')[0]], [kf.code, kf.stderr.split('\n')[0]]);
    both(['volume', 'inspect', 'vol1', 'vol2']);
    both(['volume', 'inspect', '--format', '{{.Name}} {{.Driver}} {{.Options.type}} {{json .Labels}}', 'vol2', 'nosuch', 'vol10']);
    both(['volume', 'inspect', '-f', 'json', 'vol1']);
    both(['volume', 'create', 'x']);
    both(['volume', 'create', '-d', 'flocker', 'vol3']);
    both(['volume', 'create', '-o', 'size=1g', 'vol3']);
    both(['volume', 'create', '--name', 'a1', 'a2']);
    both(['volume', 'rm', 'nosuch', 'nosuch2']);
    both(['volume', 'rm', '-f', 'nosuch']);
    both(['volume', 'prune', '-a', '-f', '--filter', 'all=1']);
    assert.equal(both(['volume', 'prune', '-f']).stdout, 'Total reclaimed space: 0B\n');
    // What changes the store runs once, through one client or the other.
    const rm = d.berth(['volume', 'rm', 'nosuch', 'vol1']);
    assert.deepEqual([rm.code, rm.stdout, rm.stderr], [1, 'vol1\n', 'Error response from daemon: get nosuch: no such volume\n']);
    assert.equal(must(d.berth(['volume', 'prune', '-a', '-f', '--filter', 'label=app=web'])), 'Deleted Volumes:\nvol10\n\nTotal reclaimed space: 0B\n');
    assert.equal(must(d.docker(['volume', 'prune', '-af'])), 'Total reclaimed space: 0B\n', 'a volume with mount options is not pruned (dockerd)');
    assert.equal(must(d.docker(['volume', 'rm', 'vol2'])), 'vol2\n');
  });

  test('events: volume create, destroy and prune as dockerd publishes them', () => {
    // Whole seconds (as the CLI sends them): start in a second no other test used.
    waitForNextSecond();
    const since = String(Math.floor(Date.now() / 1000));
    must(d.berth(['volume', 'create', 'ev-vol']));
    must(d.berth(['volume', 'rm', 'ev-vol']));
    must(d.berth(['volume', 'prune', '-f']));
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const r = must(d.berth(['events', '--since', since, '--until', until, '--filter', 'type=volume', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}']));
    assert.equal(r, 'volume create ev-vol {"driver":"local"}\nvolume destroy ev-vol {"driver":"local"}\nvolume prune  {"reclaimed":"0"}\n');
  });

  test('docker-py: volumes.create/get/list/remove/prune and its errors', () => {
    const script = `
import docker
c = docker.DockerClient(base_url='${d.host}')
v = c.volumes.create('pyvol', driver='local', labels={'k': 'v'}, driver_opts={'type': 'tmpfs', 'device': 'tmpfs', 'o': 'size=1m'})
print(v.name, v.attrs['Driver'], v.attrs['Labels'], v.attrs['Options']['o'])
print(c.volumes.get('pyvol').attrs['Mountpoint'].endswith('/volumes/pyvol/_data'))
print([x.name for x in c.volumes.list(filters={'label': 'k=v'})])
anon = c.volumes.create()
print(len(anon.name), anon.attrs['Labels'])
print(sorted(c.volumes.prune()['VolumesDeleted']) == [anon.name])
try:
    c.volumes.get('nosuch')
except docker.errors.NotFound as e:
    print('NotFound', e.explanation)
try:
    c.volumes.create('x')
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)
v.remove()
print([x.name for x in c.volumes.list()])
`;
    const r = run('/usr/bin/python3', ['-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      "pyvol local {'k': 'v'} size=1m",
      'True',
      "['pyvol']",
      "64 {'com.docker.volume.anonymous': ''}",
      'True',
      'NotFound get nosuch: no such volume',
      '400 create x: volume name is too short, names should be at least two alphanumeric characters',
      '[]',
      '',
    ].join('\n'));
  });
});

describe('volumes and kill -9', () => {
  let d: TestDaemon;
  before(async () => {
    d = new TestDaemon();
    await d.start();
  });
  after(async () => { await d?.destroy(); });

  test('kill -9 during concurrent creates and removes leaves a consistent store, and volume data survives the restart', async () => {
    const kept = d.berth(['volume', 'create', '--label', 'keep=1', 'precious']);
    assert.equal(kept.code, 0, kept.stderr);
    writeFileSync(join(d.dataRoot, 'volumes', 'precious', '_data', 'data.txt'), 'still here');
    for (let round = 0; round < 3; round++) {
      // 32 requests in flight at all times (creates, every third volume removed again), so
      // the kill lands inside creates and removes, not between them.
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const name = `r${round}w${w}v${i}`;
          const ok = await callApi(d.socket, 'POST', '/volumes/create', { Name: name, Labels: { w: String(w) } }).then((r) => r.status === 201, () => false);
          if (!ok) return;
          if (i % 3 === 0 && !(await callApi(d.socket, 'DELETE', `/volumes/${name}`).then(() => true, () => false))) return;
        }
      };
      const workers = Array.from({ length: 32 }, (_, w) => worker(w));
      await sleep(300 + round * 250);
      await d.crash();
      stop = true;
      await Promise.all(workers);
      await d.start();
      const root = join(d.dataRoot, 'volumes');
      const listed = d.berth(['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean).sort();
      const onDisk = readdirSync(root).sort();
      assert.deepEqual(onDisk, listed, `round ${round}: every directory is a listed volume, nothing half made`);
      assert.ok(listed.includes('precious'));
      for (const name of listed) {
        const files = readdirSync(join(root, name)).sort();
        assert.deepEqual(files, ['_data', 'volume.json'], `round ${round}: ${name} has ${files.join(',')}`);
      }
      const inspect = d.berth(['volume', 'inspect', '--format', '{{.Name}} {{.Driver}}', ...listed]);
      assert.equal(inspect.stdout, listed.map((n) => `${n} local\n`).join(''), inspect.stderr);
      assert.equal(readFileSync(join(root, 'precious', '_data', 'data.txt'), 'utf8'), 'still here');
      assert.equal(d.berth(['volume', 'inspect', '--format', '{{.Labels.keep}}', 'precious']).stdout, '1\n');
      // The names of volumes cut short are free again.
      const again = d.berth(['volume', 'create', `r${round}w0v0`]);
      assert.equal(again.code, 0, again.stderr);
    }
  });
});
