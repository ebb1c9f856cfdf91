// Swarm secrets and configs on one host (ADR 0009): created, listed and
// removed through the docker CLI and docker-py, sealed at rest in etcd,
// delivered only to the tasks that reference them (secrets on a tmpfs at
// /run/secrets/<target>), and refused with dockerd's words while in use.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { DOCKER, startSwarmManager, stopSwarmManager, type TestDaemon } from '../helpers/daemon.ts';
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

/** Every file under dir (etcd's db and WAL among them). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

const SECRET = 'hunter2-correct-horse-battery';

describe('swarm secrets and configs, driven by the docker CLI and docker-py', { skip: !DOCKER || !existsSync('/usr/bin/etcd') }, () => {
  let d: TestDaemon;
  before(async () => { d = await startSwarmManager(); });
  after(() => stopSwarmManager(d));

  const taskContainer = (svc: string) => waitFor(`a running task of ${svc}`, () => d.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.trim().split('\n').filter(Boolean)[0], 60_000);

  test('secret create, ls, inspect: the data is never shown, and etcd holds it only sealed (key file 0600)', async () => {
    const c = d.docker(['secret', 'create', '--label', 'team=ops', 'pw', '-'], { input: SECRET });
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    assert.match(id, /^[a-z0-9]{25}$/);
    assert.equal(d.docker(['secret', 'ls', '--format', '{{.ID}} {{.Name}}']).stdout.trim(), `${id} pw`);
    assert.equal(d.docker(['secret', 'inspect', 'pw', '--format', '{{.ID}} {{.Spec.Name}} {{.Spec.Labels.team}} {{len .Spec.Data}}']).stdout.trim(), `${id} pw ops 0`);
    const raw = await call(d.socket, 'GET', `/v1.47/secrets/${id}`);
    assert.equal(raw.status, 200);
    assert.ok(!raw.body.includes('Data') && !raw.body.includes(Buffer.from(SECRET).toString('base64')), raw.body);
    assert.equal((await call(d.socket, 'GET', '/v1.47/secrets?filters=' + encodeURIComponent(JSON.stringify({ name: ['p'] })))).body.includes(id), true);

    const key = join(d.dataRoot, 'swarm', 'secrets.key');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    // etcd's files hold the secret's name and ID, never its data (in the clear or in base64).
    const blobs = filesUnder(join(d.dataRoot, 'swarm')).map((f) => readFileSync(f));
    assert.ok(blobs.some((b) => b.includes(id)), 'the secret is in etcd\'s files');
    assert.ok(!blobs.some((b) => b.includes(SECRET) || b.includes(Buffer.from(SECRET).toString('base64'))), 'the secret\'s data is in etcd\'s files');
  });

  test('a service\'s tasks get the secret on a tmpfs at /run/secrets/<target> (uid, gid, mode) and the config at its target; another service gets neither', async () => {
    const cfg = d.docker(['config', 'create', 'app.conf', '-'], { input: 'port=80\n' });
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.equal(d.docker(['config', 'inspect', 'app.conf', '--format', '{{printf "%s" .Spec.Data}}']).stdout, 'port=80\n\n');
    const s = d.docker(['service', 'create', '--name', 'withsec', '--secret', 'pw', '--secret', 'source=pw,target=other,uid=1000,gid=1001,mode=0400',
      '--config', 'source=app.conf,target=/etc/app.conf,mode=0440', 'busybox', 'sleep', '1000']);
    assert.equal(s.code, 0, s.stderr);
    const id = await taskContainer('withsec');
    assert.equal(d.docker(['exec', id, 'cat', '/run/secrets/pw']).stdout, SECRET);
    assert.equal(d.docker(['exec', id, 'stat', '-c', '%u %g %a', '/run/secrets/pw', '/run/secrets/other', '/etc/app.conf']).stdout, '0 0 444\n1000 1001 400\n0 0 440\n');
    assert.equal(d.docker(['exec', id, 'cat', '/etc/app.conf']).stdout, 'port=80\n');
    // The secret's file lives on a tmpfs (never on disk); the config's does not.
    const mounts = d.docker(['exec', id, 'cat', '/proc/mounts']).stdout.split('\n');
    assert.match(mounts.find((l) => l.includes(' /run/secrets/pw ')) ?? '', /^tmpfs \/run\/secrets\/pw tmpfs ro,/);
    assert.doesNotMatch(mounts.find((l) => l.includes(' /etc/app.conf ')) ?? 'none', /^tmpfs /);
    // Read-only in the task.
    assert.notEqual(d.docker(['exec', id, 'sh', '-c', 'echo x > /run/secrets/pw']).code, 0);

    const plain = d.docker(['service', 'create', '--name', 'nosec', 'busybox', 'sleep', '1000']);
    assert.equal(plain.code, 0, plain.stderr);
    const other = await taskContainer('nosec');
    assert.notEqual(d.docker(['exec', other, 'ls', '/run/secrets']).code, 0);
    assert.notEqual(d.docker(['exec', other, 'cat', '/etc/app.conf']).code, 0);
  });

  test('removing a secret or config in use is refused with dockerd\'s words; once unused it goes, and the task\'s tmpfs with its container', async () => {
    const rm = d.docker(['secret', 'rm', 'pw']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /Error response from daemon: rpc error: code = InvalidArgument desc = secret 'pw' is in use by the following service: withsec/);
    const rmc = d.docker(['config', 'rm', 'app.conf']);
    assert.equal(rmc.code, 1);
    assert.match(rmc.stderr, /config 'app\.conf' is in use by the following service: withsec/);
    assert.equal(d.docker(['secret', 'ls', '-q']).stdout.trim().split('\n').length, 1);

    assert.equal(d.docker(['service', 'rm', 'withsec', 'nosec']).code, 0);
    await waitFor('the task containers gone', () => (d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.task']).stdout.trim() === '' ? true : undefined), 60_000);
    const filesDir = join(d.dataRoot, 'swarm-files');
    await waitFor('the task files released', () => (readFileSync('/proc/self/mounts', 'utf8').includes(filesDir) || (existsSync(filesDir) && readdirSync(filesDir).length) ? undefined : true));
    assert.equal(d.docker(['secret', 'rm', 'pw']).code, 0);
    assert.equal(d.docker(['config', 'rm', 'app.conf']).code, 0);
    assert.equal(d.docker(['secret', 'ls', '-q']).stdout.trim(), '');
  });

  test('bad input: a secret that does not exist (CLI and API), a taken or bad name, empty data, an update of more than labels', async () => {
    const missing = d.docker(['service', 'create', '-d', '--name', 'x', '--secret', 'nope', 'busybox']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /secret not found: nope/);
    const api = await call(d.socket, 'POST', '/v1.47/services/create', {
      Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'busybox', Secrets: [{ SecretID: 'abc', SecretName: 'nope', File: { Name: 'nope', UID: '0', GID: '0', Mode: 292 } }] } },
    });
    assert.equal(api.status, 400);
    assert.match(api.body, /rpc error: code = InvalidArgument desc = secret not found: nope/);
    const cfgMissing = await call(d.socket, 'POST', '/v1.47/services/create', {
      Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'busybox', Configs: [{ ConfigID: 'a', ConfigName: 'c1', File: { Name: '/c1' } }, { ConfigID: 'b', ConfigName: 'c2', File: { Name: '/c2' } }] } },
    });
    assert.match(cfgMissing.body, /configs not found: c1, c2/);
    const noTarget = await call(d.socket, 'POST', '/v1.47/services/create', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'busybox', Secrets: [{ SecretID: 'a', SecretName: 'b' }] } } });
    assert.match(noTarget.body, /malformed secret reference, no target provided/);
    assert.equal(d.docker(['service', 'ls', '-q']).stdout.trim(), '');

    assert.equal(d.docker(['secret', 'create', 'dup', '-'], { input: 'a' }).code, 0);
    const dup = d.docker(['secret', 'create', 'dup', '-'], { input: 'b' });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /rpc error: code = AlreadyExists desc = secret dup already exists/);
    const bad = d.docker(['secret', 'create', 'bad-', '-'], { input: 'a' });
    assert.match(bad.stderr, /invalid name, only 64 \[a-zA-Z0-9-_.\] characters allowed, and the start and end character must be \[a-zA-Z0-9\]/);
    const empty = await call(d.socket, 'POST', '/v1.47/secrets/create', { Name: 'empty', Data: '' });
    assert.equal(empty.status, 400);
    assert.match(empty.body, /secret data must be larger than 0 and less than 512000 bytes/);
    const gone = d.docker(['secret', 'rm', 'nosuch']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /secret nosuch not found/);

    const cur = JSON.parse((await call(d.socket, 'GET', '/v1.47/secrets/dup')).body) as { ID: string; Version: { Index: number } };
    const relabel = await call(d.socket, 'POST', `/v1.47/secrets/${cur.ID}/update?version=${cur.Version.Index}`, { Name: 'dup', Labels: { k: 'v' } });
    assert.equal(relabel.status, 200, relabel.body);
    assert.equal(d.docker(['secret', 'inspect', 'dup', '--format', '{{.Spec.Labels.k}}']).stdout.trim(), 'v');
    const now = JSON.parse((await call(d.socket, 'GET', '/v1.47/secrets/dup')).body) as { Version: { Index: number } };
    const redata = await call(d.socket, 'POST', `/v1.47/secrets/${cur.ID}/update?version=${now.Version.Index}`, { Name: 'dup', Labels: {}, Data: Buffer.from('other').toString('base64') });
    assert.equal(redata.status, 400);
    assert.match(redata.body, /only updates to Labels are allowed/);
    const stale = await call(d.socket, 'POST', `/v1.47/secrets/${cur.ID}/update?version=${cur.Version.Index}`, { Name: 'dup', Labels: {} });
    assert.equal(stale.status, 409);
    assert.equal(d.docker(['secret', 'rm', 'dup']).code, 0);
  });

  test('docker-py: secrets.create, a service with a SecretReference, the file in its task, remove refused while in use', () => {
    const script = `
import sys, time, docker
from docker.types import SecretReference
c = docker.DockerClient(base_url=sys.argv[1])
def wait(what, fn):
    for _ in range(300):
        v = fn()
        if v: return v
        time.sleep(0.2)
    raise SystemExit('timed out waiting for ' + what)
s = c.secrets.create(name='pysec', data=b'from-python', labels={'by': 'py'})
print('created', c.secrets.get(s.id).name, c.secrets.get(s.id).attrs['Spec']['Labels']['by'], [x.name for x in c.secrets.list(filters={'name': 'pysec'})])
svc = c.services.create('busybox', ['sleep', '1000'], name='pysvc', secrets=[SecretReference(s.id, 'pysec', filename='token', mode=0o440)])
ctr = wait('a task container', lambda: c.containers.list(filters={'label': 'com.docker.swarm.service.name=pysvc'}))[0]
print('file', ctr.exec_run(['cat', '/run/secrets/token']).output.decode(), ctr.exec_run(['stat', '-c', '%a', '/run/secrets/token']).output.decode().strip())
try:
    s.remove()
    print('removed while in use')
except docker.errors.APIError as e:
    print('refused', e.status_code, 'is in use by the following service: pysvc' in str(e))
try:
    c.services.create('busybox', ['true'], name='bad', secrets=[SecretReference('nosuchid', 'nosuch')])
except docker.errors.APIError as e:
    print('missing', e.status_code, 'secret not found: nosuch' in str(e))
svc.remove()
wait('containers gone', lambda: not c.containers.list(all=True, filters={'label': 'com.docker.swarm.service.name=pysvc'}))
print('removed', s.remove(), c.secrets.list())
`;
    const r = spawnSync('python3', ['-c', script, d.host], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "created pysec py ['pysec']\nfile from-python 440\nrefused 400 True\nmissing 400 True\nremoved True []\n");
  });
});
