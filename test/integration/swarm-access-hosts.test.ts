// Secrets delivered only to the tasks that use them, on three hosts (test/helpers/swarm-hosts.ts):
// A manager, B and C workers. Workers never hold the swarm's data key: a
// worker's agent asks a manager for its task's files over the swarm port,
// with its node certificate, and the manager answers only for tasks
// assigned to that node. A task whose manager cannot be reached waits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { Etcd3 } from 'etcd3';
import { DOCKER, run, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { waitSwarm, nodeLines, startSwarmHosts, stopSwarmHosts, type SwarmHost } from '../helpers/swarm-hosts.ts';

const TAG = Math.random().toString(16).slice(2, 8);
const SWARM = '/var/lib/berth/swarm';
const CERTS = `${SWARM}/certificates`;

/** A host's node certificate, key and CA, as its daemon keeps them. */
function nodeTls(h: SwarmHost): { ca: string; cert: string; key: string } {
  const read = (f: string) => {
    const r = h.exec(`cat ${CERTS}/${f}`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  return { ca: read('swarm-root-ca.crt'), cert: read('swarm-node.crt'), key: read('swarm-node.key') };
}

/** An etcd client showing h's node certificate, to the members h's daemon reaches. */
function etcdAs(h: SwarmHost): Etcd3 {
  const tls = nodeTls(h);
  const endpoints = (JSON.parse(h.exec(`cat ${SWARM}/state.json`).stdout) as { endpoints: string[] }).endpoints;
  return new Etcd3({
    hosts: endpoints,
    credentials: { rootCertificate: Buffer.from(tls.ca), certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) },
    // Members are dialled by IP; their certificates name the managers' role.
    grpcOptions: { 'grpc.ssl_target_name_override': 'swarm-manager' },
  });
}

/** What etcd answers a call: 'ok' or its error. */
async function outcome(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

const DENIED = /permission denied/;

/** POST to a manager's swarm port, with a node's certificate or none. */
function swarmPort(addr: string, path: string, body: unknown, tls: { ca: string; cert?: string; key?: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: addr, port: 2377, method: 'POST', path, ca: tls.ca, cert: tls.cert, key: tls.key, agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
    }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('swarm secrets only where their tasks run (three hosts)', { skip: (!debootstrapInstalled() && 'debootstrap is not installed') || (!DOCKER && 'no docker CLI') }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;
  let c: SwarmHost;
  const ids: Record<string, string> = {};

  /** The running task of svc: its ID and its container on h. */
  const runningTask = async (h: SwarmHost, svc: string) => {
    const container = await waitSwarm(`a running task of ${svc} on ${h.name}`, () => h.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.trim() || undefined, 120_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${a.docker(['service', 'ps', '--no-trunc', svc]).stdout}`); });
    const task = h.docker(['inspect', '--format', '{{index .Config.Labels "com.docker.swarm.task.id"}}', container]).stdout.trim();
    return { container, task };
  };
  const hasFile = (h: SwarmHost, path: string) => h.exec(`test -e ${path}`).code === 0;

  before(async () => {
    ({ d, hosts: [a, b, c] } = await startSwarmHosts(['a', 'b', 'c'].map((n) => `bt-sx${n}-${TAG}`)));
  });
  after(() => stopSwarmHosts(d, [a, b, c]));

  test('A inits, B and C join as workers: only the manager keeps the data key', async () => {
    const init = a.docker(['swarm', 'init', '--advertise-addr', a.addr]);
    assert.equal(init.code, 0, init.stderr);
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    for (const h of [b, c]) {
      const j = h.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`], { timeout: 180_000 });
      assert.equal(j.code, 0, j.stderr);
    }
    const want = [`${a.name} Ready Leader`, `${b.name} Ready`, `${c.name} Ready`].sort().join('\n');
    await waitSwarm('three ready nodes', () => (nodeLines(a) === want ? true : undefined)).catch((err: Error) => { throw new Error(`${err.message}: ${nodeLines(a)}`); });
    for (const h of [a, b, c]) ids[h.name] = h.docker(['info', '--format', '{{.Swarm.NodeID}}']).stdout.trim();
    assert.equal(a.exec(`stat -c '%a' ${SWARM}/secrets.key`).stdout, '600\n');
    assert.equal(hasFile(b, `${SWARM}/secrets.key`), false);
    assert.equal(hasFile(c, `${SWARM}/secrets.key`), false);
  });

  test('a worker\'s task gets its secret from a manager, on a tmpfs; the worker still holds no data key', async () => {
    assert.equal(a.berth(['secret', 'create', 'pw', '-'], { input: 'for-c-only' }).code, 0);
    assert.equal(a.berth(['secret', 'create', 'other', '-'], { input: 'for-b-only' }).code, 0);
    assert.equal(a.berth(['config', 'create', 'conf', '-'], { input: 'port=80\n' }).code, 0);
    const sc = a.docker(['service', 'create', '-d', '--name', 'onc', '--secret', 'pw', '--config', 'source=conf,target=/etc/app.conf', '--constraint', `node.hostname==${c.name}`, 'busybox', 'sleep', '3600']);
    assert.equal(sc.code, 0, sc.stderr);
    const sb = a.docker(['service', 'create', '-d', '--name', 'onb', '--secret', 'other', '--constraint', `node.hostname==${b.name}`, 'busybox', 'sleep', '3600']);
    assert.equal(sb.code, 0, sb.stderr);
    const { container } = await runningTask(c, 'onc');
    assert.equal(c.docker(['exec', container, 'cat', '/run/secrets/pw']).stdout, 'for-c-only');
    assert.equal(c.docker(['exec', container, 'cat', '/etc/app.conf']).stdout, 'port=80\n');
    const mounts = c.docker(['exec', container, 'cat', '/proc/mounts']).stdout.split('\n');
    assert.match(mounts.find((l) => l.includes(' /run/secrets/pw ')) ?? '', /^tmpfs \/run\/secrets\/pw tmpfs ro,/);
    // B's task has its own secret, and C's none of it.
    const onb = await runningTask(b, 'onb');
    assert.equal(b.docker(['exec', onb.container, 'cat', '/run/secrets/other']).stdout, 'for-b-only');
    assert.notEqual(c.docker(['exec', container, 'cat', '/run/secrets/other']).code, 0);
    assert.equal(hasFile(c, `${SWARM}/secrets.key`), false);
    assert.equal(hasFile(b, `${SWARM}/secrets.key`), false);
  });

  test('through the swarm port, C gets its own task\'s files and is refused another node\'s task, whatever the request or a forged task record says', async () => {
    const own = await runningTask(c, 'onc');
    const theirs = await runningTask(b, 'onb');
    const tls = nodeTls(c);
    const mine = await swarmPort(a.addr, '/task-files', { TaskID: own.task }, tls);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    const files = mine.body.Files as { Kind: string; Target: string; Data: string }[];
    assert.deepEqual(files.map((f) => [f.Kind, f.Target, Buffer.from(f.Data, 'base64').toString()]), [['secret', '/run/secrets/pw', 'for-c-only'], ['config', '/etc/app.conf', 'port=80\n']]);
    // The node is the one C's certificate names: a body naming B changes nothing.
    const refused = await swarmPort(a.addr, '/task-files', { TaskID: theirs.task, NodeID: ids[b.name] }, tls);
    assert.deepEqual([refused.status, refused.body.message], [403, `task ${theirs.task} is not assigned to node ${ids[c.name]}`]);
    const none = await swarmPort(a.addr, '/task-files', { TaskID: 'nosuchtask' }, tls);
    assert.deepEqual([none.status, none.body.message], [404, 'task nosuchtask not found']);
    // Without a node certificate, nothing.
    const anon = await swarmPort(a.addr, '/task-files', { TaskID: own.task }, { ca: tls.ca });
    assert.deepEqual([anon.status, anon.body.message], [403, 'a node certificate from this swarm is required']);
    // A task record C forges (its etcd user writes task records: their status) naming C and B's service
    // and secret: the leader never placed it, so no files; and the placement record is the managers' only.
    const forgedId = 'forgedtask000000000000000';
    const w = etcdAs(c);
    try {
      const real = JSON.parse((await w.get(`/berth/swarm/tasks/${theirs.task}`).string()) ?? '{}') as Record<string, unknown>;
      await w.put(`/berth/swarm/tasks/${forgedId}`).value(JSON.stringify({ ...real, ID: forgedId, NodeID: ids[c.name], Slot: 99 })).exec();
      const forged = await swarmPort(a.addr, '/task-files', { TaskID: forgedId }, tls);
      assert.deepEqual([forged.status, forged.body.message], [403, `task ${forgedId} is not assigned to node ${ids[c.name]}`]);
      assert.match(await outcome(() => w.put(`/berth/swarm/assignments/${forgedId}`).value(JSON.stringify({ NodeID: ids[c.name], ServiceID: real.ServiceID })).exec()), DENIED);
    } finally {
      await w.delete().key(`/berth/swarm/tasks/${forgedId}`).exec().catch(() => {});
      w.close();
    }
  });

  test('etcd by role: a worker\'s certificate cannot read secrets, configs, the unlock key or another node\'s heartbeat; it reads and writes what its daemon does; a manager\'s reads all', async () => {
    const w = etcdAs(c);
    const m = etcdAs(a);
    try {
      for (const prefix of ['/berth/swarm/secrets/', '/berth/swarm/configs/', '/berth/swarm/', '/berth/swarm/names/secrets/']) {
        assert.match(await outcome(() => w.getAll().prefix(prefix).keys()), DENIED, prefix);
      }
      assert.match(await outcome(() => w.get('/berth/swarm/unlock-key').string()), DENIED);
      assert.match(await outcome(() => w.put(`/berth/swarm/heartbeats/${ids[b.name]}`).value('x').exec()), DENIED);
      assert.match(await outcome(() => w.put('/berth/swarm/services/forged').value('{}').exec()), DENIED);
      assert.match(await outcome(() => w.auth.userList()), DENIED);
      assert.match(await outcome(() => w.cluster.memberAdd({ peerURLs: ['https://192.0.2.1:2380'], isLearner: true })), DENIED);
      // A watch on secrets is refused too.
      assert.match(await outcome(async () => {
        const watcher = await w.watch().prefix('/berth/swarm/secrets/').create();
        await watcher.cancel();
      }), DENIED);
      // What its agent reads and writes still answers.
      assert.ok((await w.getAll().prefix('/berth/swarm/tasks/').keys()).length > 0);
      assert.equal(await outcome(() => w.getAll().prefix('/berth/swarm/services/').keys()), 'ok');
      // The manager reads every key: the secrets, sealed.
      const sealed = await m.getAll().prefix('/berth/swarm/secrets/').strings();
      assert.equal(Object.keys(sealed).length, 2);
      assert.ok(Object.values(sealed).every((v) => !v.includes('for-c-only') && !v.includes(Buffer.from('for-c-only').toString('base64'))));
    } finally {
      w.close();
      m.close();
    }
  });

  test('a worker that cannot reach a manager\'s swarm port keeps its task waiting, never started without its secret; it starts once the port answers', async () => {
    const rule = `OUTPUT -d ${a.addr} -p tcp --dport 2377 -j REJECT --reject-with tcp-reset`;
    assert.equal(c.exec(`iptables -I ${rule}`).code, 0);
    try {
      const s = a.docker(['service', 'create', '-d', '--name', 'waits', '--secret', 'pw', '--constraint', `node.hostname==${c.name}`, 'busybox', 'sleep', '3600']);
      assert.equal(s.code, 0, s.stderr);
      await waitSwarm('the task assigned to C', () => (/Assigned|Preparing/.test(a.docker(['service', 'ps', 'waits', '--format', '{{.CurrentState}}']).stdout) ? true : undefined));
      await new Promise((r) => setTimeout(r, 8000));
      assert.equal(c.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=waits']).stdout.trim(), '', 'no container without its secret');
      const state = a.docker(['service', 'ps', 'waits', '--format', '{{.CurrentState}} {{.Error}}']).stdout.trim();
      assert.match(state, /^(Assigned|Preparing) /, state);
      assert.match(c.exec('cat /var/log/berth.log').stdout, /waits for its secrets and configs: no manager answered/);
    } finally {
      c.exec(`iptables -D ${rule}`);
    }
    const { container } = await runningTask(c, 'waits');
    assert.equal(c.docker(['exec', container, 'cat', '/run/secrets/pw']).stdout, 'for-c-only');
    assert.equal(a.docker(['service', 'rm', 'waits']).code, 0);
  });

  test('promoted, B keeps the data key and opens secrets as a manager; demoted, its key goes', async () => {
    assert.equal(a.docker(['node', 'promote', b.name]).code, 0);
    await waitSwarm('B a reachable manager', () => (nodeLines(a).includes(`${b.name} Ready Reachable`) ? true : undefined), 120_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${nodeLines(a)}`); });
    await waitSwarm('B\'s data key', () => (hasFile(b, `${SWARM}/secrets.key`) ? true : undefined));
    assert.equal(b.exec(`stat -c '%a' ${SWARM}/secrets.key`).stdout, '600\n');
    // B, a manager now, opens secrets for its own tasks: a new one placed on B reads its secret.
    const s = b.docker(['service', 'create', '-d', '--name', 'onb2', '--secret', 'pw', '--constraint', `node.hostname==${b.name}`, 'busybox', 'sleep', '3600']);
    assert.equal(s.code, 0, s.stderr);
    const { container } = await runningTask(b, 'onb2');
    assert.equal(b.docker(['exec', container, 'cat', '/run/secrets/pw']).stdout, 'for-c-only');
    const promoted = etcdAs(b);
    try {
      assert.equal(await outcome(() => promoted.getAll().prefix('/berth/swarm/secrets/').keys()), 'ok');
    } finally {
      promoted.close();
    }
    assert.equal(a.docker(['node', 'demote', b.name]).code, 0);
    await waitSwarm('B a worker without the data key', () => (!hasFile(b, `${SWARM}/secrets.key`) && b.docker(['info', '--format', '{{.Swarm.ControlAvailable}}']).stdout.trim() === 'false' ? true : undefined), 120_000);
    // Its etcd user loses root once its member has left (the leader's next pass).
    const demoted = etcdAs(b);
    try {
      const deadline = Date.now() + 30_000;
      let last = '';
      while (Date.now() < deadline && !DENIED.test(last = await outcome(() => demoted.getAll().prefix('/berth/swarm/secrets/').keys()))) await new Promise((r) => setTimeout(r, 1000));
      assert.match(last, DENIED);
      assert.equal(await outcome(() => demoted.getAll().prefix('/berth/swarm/tasks/').keys()), 'ok');
    } finally {
      demoted.close();
    }
    // B's task with the secret runs on as a worker's: its files came before.
    assert.equal(b.docker(['exec', container, 'cat', '/run/secrets/pw']).stdout, 'for-c-only');
    for (const svc of ['onb2']) assert.equal(a.docker(['service', 'rm', svc]).code, 0);
  });

  test('a swarm from before this change (etcd auth off, no users, a worker holding the data key) is migrated by restarts: auth on, the worker\'s key gone, its task still served', async () => {
    const onc = await runningTask(c, 'onc');
    const m = etcdAs(a);
    try {
      // Nor had it the leader's placement records.
      await m.delete().prefix('/berth/swarm/assignments/').exec();
      await m.auth.authDisable();
      for (const u of (await m.auth.userList()).users ?? []) await m.auth.userDelete({ name: u });
      for (const r of (await m.auth.roleList()).roles ?? []) if (r !== 'root') await m.auth.roleDelete({ role: r });
    } finally {
      m.close();
    }
    assert.equal(c.exec(`head -c 32 /dev/urandom | base64 > ${SWARM}/secrets.key && chmod 600 ${SWARM}/secrets.key`).code, 0);
    const before = etcdAs(c);
    try {
      // As every swarm was before: a worker's certificate read every key.
      assert.equal(await outcome(() => before.getAll().prefix('/berth/swarm/secrets/').keys()), 'ok');
    } finally {
      before.close();
    }
    await a.stopDaemon();
    await a.startDaemon();
    await c.stopDaemon();
    await c.startDaemon();
    const want = [`${a.name} Ready Leader`, `${b.name} Ready`, `${c.name} Ready`].sort().join('\n');
    await waitSwarm('three ready nodes again', () => (nodeLines(a) === want ? true : undefined), 120_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${nodeLines(a)}\n${[a, b, c].map((h) => `${h.name}:\n${h.exec('tail -25 /var/log/berth.log').stdout}`).join('\n')}`); });
    assert.equal(hasFile(c, `${SWARM}/secrets.key`), false);
    const after = etcdAs(c);
    try {
      const deadline = Date.now() + 30_000;
      let last = '';
      while (Date.now() < deadline && !DENIED.test(last = await outcome(() => after.getAll().prefix('/berth/swarm/secrets/').keys()))) await new Promise((r) => setTimeout(r, 1000));
      assert.match(last, DENIED);
    } finally {
      after.close();
    }
    // The placements were taken from the task records before auth went on.
    const m2 = etcdAs(a);
    try {
      assert.deepEqual(JSON.parse((await m2.get(`/berth/swarm/assignments/${onc.task}`).string()) ?? 'null'), { NodeID: ids[c.name], ServiceID: JSON.parse((await m2.get(`/berth/swarm/tasks/${onc.task}`).string()) ?? '{}').ServiceID });
    } finally {
      m2.close();
    }
    // A new task on C still gets its secret, from the manager.
    const s = a.docker(['service', 'create', '-d', '--name', 'after', '--secret', 'pw', '--constraint', `node.hostname==${c.name}`, 'busybox', 'sleep', '3600']);
    assert.equal(s.code, 0, s.stderr);
    const { container } = await runningTask(c, 'after');
    assert.equal(c.docker(['exec', container, 'cat', '/run/secrets/pw']).stdout, 'for-c-only');
  });

  test('with the worker\'s narrowed access its network pass still works (an overlay and the routing mesh on C), and no daemon met a permission denied', async () => {
    assert.equal(a.docker(['network', 'create', '-d', 'overlay', 'accessnet']).code, 0);
    const s = a.docker(['service', 'create', '-d', '--name', 'web', '--network', 'accessnet', '--publish', '18089:80', '--constraint', `node.hostname==${c.name}`,
      'busybox', 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www']);
    assert.equal(s.code, 0, s.stderr);
    const { container } = await runningTask(c, 'web');
    assert.match(c.docker(['inspect', '--format', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', container]).stdout, /accessnet/);
    const hostname = c.docker(['exec', container, 'hostname']).stdout.trim();
    // The mesh answers on every node's address, the workers' included, with the one task on C.
    for (const h of [a, b, c]) {
      const got = await waitSwarm(`${h.addr}:18089 answering`, () => {
        const r = run('curl', ['-s', '--max-time', '5', `http://${h.addr}:18089/`]);
        return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
      }, 60_000);
      assert.equal(got, hostname, h.name);
    }
    for (const h of [a, b, c]) assert.doesNotMatch(h.exec('cat /var/log/berth.log').stdout, /permission denied/i, h.name);
  });
});
