// How a swarm reaches across two berth hosts (the swarm tests' Debian hosts,
// each with its own address and daemon, a manager A and a worker B): an
// overlay is made on a node only while something there uses it; every node's
// embedded DNS answers the containers on other nodes by name; `service logs`
// on the manager returns the worker's task logs too (tail, timestamps,
// follow); and the worker pulls an image it lacks from a registry on A with
// the credentials the service was created with, or fails with dockerd's words.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BERTH, DOCKER, ROOT, TestDaemon, busyboxTarPath } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { startSwarmHost, type SwarmHost } from '../helpers/swarm-hosts.ts';
import { writeHtpasswd } from '../helpers/registries.ts';
import { waitFor } from '../helpers/wait.ts';

const TAG = randomBytes(3).toString('hex');
const REG_PORT = 5000;

describe('a swarm reaching across two hosts', { skip: !DOCKER || !existsSync('/usr/bin/etcd') || !debootstrapInstalled() }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;
  let reg = '';
  let netId = '';

  /** Task containers of a service on a host. */
  const tasksOn = (h: SwarmHost, svc: string) => h.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.trim().split('\n').filter(Boolean);
  const bridgeOn = (h: SwarmHost) => h.exec(`ip link show br-${netId.slice(0, 12)}`).code === 0;
  const listed = (h: SwarmHost) => h.docker(['network', 'ls', '--format', '{{.Name}}']).stdout.split('\n').includes('ov');
  const addrs = (s: string) => [...s.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).filter((x) => x !== '127.0.0.11');

  before(async () => {
    d = new TestDaemon();
    await d.start();
    [a, b] = await Promise.all([startSwarmHost(d, `bt-ra-${TAG}`), startSwarmHost(d, `bt-rb-${TAG}`)]);
    reg = `${a.addr}:${REG_PORT}`;
    // A registry on A, behind htpasswd; both daemons talk to it over plain HTTP.
    const dir = mkdtempSync(join(d.dir, 'reach-reg-'));
    const htpasswd = readFileSync(writeHtpasswd(dir, { alice: 'pw-alice' }), 'utf8');
    rmSync(dir, { recursive: true, force: true });
    const r = a.exec(`set -e; mkdir -p /srv/reg; printf '%s' '${htpasswd.trim()}' > /srv/reg/htpasswd
printf '%s\\n' 'version: 0.1' 'storage: { filesystem: { rootdirectory: /srv/reg/data } }' 'http: { addr: "${reg}" }' 'auth: { htpasswd: { realm: basic-realm, path: /srv/reg/htpasswd } }' > /srv/reg/config.yml
setsid ${BERTH} registry serve /srv/reg/config.yml --allow-insecure-http </dev/null >/var/log/registry.log 2>&1 &`);
    assert.equal(r.code, 0, r.stderr);
    for (const h of [a, b]) {
      assert.equal(h.exec(`mkdir -p /etc/berth && printf '{"insecure-registries": ["${reg}"]}' > /etc/berth/daemon.json`).code, 0);
      await h.stopDaemon();
      await h.startDaemon();
    }
    for (let i = 0; (await fetch(`http://${reg}/v2/`).then((x) => x.status, () => 0)) !== 401; i++) {
      if (i > 100) throw new Error(`the registry on A did not start: ${a.exec('cat /var/log/registry.log').stdout}`);
      await new Promise((res) => setTimeout(res, 300));
    }
  });

  after(async () => {
    a?.docker(['service', 'rm', 'web', 'ticker', 'pulled', 'noauth', 'nosuch', 'slowpull']);
    b?.docker(['rm', '-f', 'att']);
    b?.docker(['swarm', 'leave', '--force']);
    a?.docker(['swarm', 'leave', '--force']);
    await b?.stop();
    await a?.stop();
    await d?.destroy();
  });

  test('an overlay is made on a node only once something there uses it: the manager lists it, the worker neither lists it nor has its bridge', async () => {
    assert.equal(a.docker(['swarm', 'init', '--advertise-addr', a.addr]).code, 0);
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const join = b.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`]);
    assert.equal(join.code, 0, join.stderr);
    await waitFor('2 ready nodes', () => (a.docker(['node', 'ls', '--format', '{{.Status}}']).stdout.trim().split('\n').filter((l) => l === 'Ready').length === 2 ? true : undefined), 60_000);
    const net = a.docker(['network', 'create', '-d', 'overlay', '--attachable', 'ov']);
    assert.equal(net.code, 0, net.stderr);
    netId = net.stdout.trim();
    // The manager shows the swarm's network (dockerd lists the cluster's on a manager) without making it.
    assert.equal(a.docker(['network', 'inspect', 'ov', '--format', '{{.Driver}} {{.Scope}} {{.Id}}']).stdout.trim(), `overlay swarm ${netId}`);
    assert.ok(listed(a), 'the manager lists ov');
    await new Promise((r) => setTimeout(r, 3000)); // a few network passes
    assert.ok(!listed(b), b.docker(['network', 'ls']).stdout);
    assert.equal(b.docker(['network', 'inspect', 'ov']).code, 1);
    assert.ok(!bridgeOn(b) && !bridgeOn(a), 'no node made the overlay');
  });

  test('a service on the overlay, one task per host: each node makes the overlay, and a container on either host resolves the task on the other by its task name and short ID', async () => {
    const svc = a.docker(['service', 'create', '-d', '--name', 'web', '--replicas', '2', '--replicas-max-per-node', '1', '--network', 'ov', 'busybox',
      'sh', '-c', 'echo "hello from $(hostname)"; echo "to stderr" >&2; mkdir -p /www && exec httpd -f -p 80 -h /www']);
    assert.equal(svc.code, 0, svc.stderr);
    await waitFor('a task of web on each host', () => (tasksOn(a, 'web').length === 1 && tasksOn(b, 'web').length === 1 ? true : undefined), 120_000);
    assert.ok(listed(b) && bridgeOn(b) && bridgeOn(a), 'both nodes made ov');
    const b2 = b.docker(['run', '-d', '--name', 'att', '--network', 'ov', '--network-alias', 'attalias', 'busybox', 'sleep', '600']);
    assert.equal(b2.code, 0, b2.stderr);
    const info = (h: SwarmHost, ref: string) => {
      const [name, ip] = h.docker(['inspect', ref, '--format', '{{.Name}} {{(index .NetworkSettings.Networks "ov").IPAddress}}']).stdout.trim().split(' ');
      return { name: name.replace(/^\//, ''), ip };
    };
    const onA = { ...info(a, tasksOn(a, 'web')[0]), id: tasksOn(a, 'web')[0] };
    const onB = { ...info(b, tasksOn(b, 'web')[0]), id: tasksOn(b, 'web')[0] };
    const att = info(b, 'att');
    assert.match(onB.name, /^web\.\d\.[a-z0-9]{25}$/);
    const ask = (h: SwarmHost, names: string[]) => h.berth(['run', '--rm', '--network', 'ov', 'busybox', 'sh', '-c', names.map((n) => `nslookup ${n} 127.0.0.11; echo ---`).join('; ')], { timeout: 120_000 });
    // From A: B's task by its name and short ID, the container attached on B by name and alias.
    const fromA = await waitFor('A resolving B\'s containers', () => {
      const x = ask(a, [onB.name, onB.id.slice(0, 12), 'att', 'attalias']);
      return x.code === 0 && x.stdout.split('---').slice(0, 4).every((p) => addrs(p).length) ? x.stdout : undefined;
    }, 60_000);
    assert.deepEqual(fromA.split('---').slice(0, 4).map(addrs), [[onB.ip], [onB.ip], [att.ip], [att.ip]], fromA);
    // From B: A's task the same ways; an unknown task name is not found.
    const fromB = ask(b, [onA.name, onA.id.slice(0, 12), `web.9.${'x'.repeat(25)}`]);
    const parts = fromB.stdout.split('---');
    assert.deepEqual(parts.slice(0, 2).map(addrs), [[onA.ip], [onA.ip]], fromB.stdout + fromB.stderr);
    assert.deepEqual(addrs(parts[2]), [], parts[2]);
  });

  test('service logs on the manager show both hosts\' tasks, prefixed as the docker CLI prints them, with --tail and --timestamps; task logs of the worker\'s task too', async () => {
    const nodeName = (h: SwarmHost) => h.docker(['info', '--format', '{{.Name}}']).stdout.trim();
    const want = [a, b].map((h) => `hello from ${tasksOn(h, 'web')[0].slice(0, 12)}`).sort();
    const logs = await waitFor('both tasks\' first line', () => {
      const r = a.docker(['service', 'logs', '--raw', 'web']);
      const hellos = r.stdout.split('\n').filter((l) => l.startsWith('hello from')).sort();
      return r.code === 0 && hellos.join() === want.join() ? r : undefined;
    }, 60_000);
    assert.match(logs.stderr, /^to stderr$/m);
    const full = a.docker(['service', 'logs', '--no-trunc', 'web']);
    assert.equal(full.code, 0, full.stderr);
    for (const h of [a, b]) {
      const id = tasksOn(h, 'web')[0];
      const task = h.docker(['inspect', id, '--format', '{{index .Config.Labels "com.docker.swarm.task.id"}} {{index .Config.Labels "com.docker.swarm.task.name"}}']).stdout.trim().split(' ');
      assert.match(full.stdout, new RegExp(`^${task[1].replace(/\./g, '\\.')}@${nodeName(h)}\\s*\\| hello from ${id.slice(0, 12)}$`, 'm'), `${h.name}'s task line`);
      // The worker's task through /tasks/{id}/logs: the CLI takes a task ID too.
      if (h === b) {
        const t = a.docker(['service', 'logs', '--raw', '--timestamps', task[0]]);
        assert.equal(t.code, 0, t.stderr);
        assert.match(t.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+Z hello from ${id.slice(0, 12)}$`, 'm'));
      }
    }
    const ticker = a.docker(['service', 'create', '-d', '--name', 'ticker', '--constraint', 'node.role==worker', 'busybox', 'sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.5; done']);
    assert.equal(ticker.code, 0, ticker.stderr);
    await waitFor('ticks on B', () => (/tick 4/.test(a.docker(['service', 'logs', '--raw', 'ticker']).stdout) ? true : undefined), 120_000);
    const tail = a.docker(['service', 'logs', '--raw', '--tail', '2', 'ticker']);
    assert.equal(tail.stdout.trim().split('\n').length, 2, tail.stdout);
    // --follow from the manager: new lines of the worker's task keep coming, from the last one on.
    const last = Number(/tick (\d+)\s*$/.exec(tail.stdout)?.[1]);
    const env = { ...process.env, DOCKER_HOST: a.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(d.dir, 'swarm-client-tls'), DOCKER_CONFIG: join(d.dir, 'swarm-client-tls', 'config') };
    const p = spawn(DOCKER as string, ['service', 'logs', '--raw', '--follow', '--tail', '1', 'ticker'], { env });
    let out = '';
    p.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    try {
      const ticks = await waitFor('followed ticks', () => {
        const n = [...out.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
        return n.length >= 5 ? n : undefined;
      }, 60_000);
      assert.ok(ticks[0] >= last, `starts at the tail: ${ticks.join(',')}`);
      assert.deepEqual(ticks.slice(1), ticks.slice(1).map((_, i) => ticks[1] + i), `in order, none lost: ${ticks.join(',')}`);
      assert.equal(p.exitCode, null, 'still following');
    } finally {
      p.kill();
    }
  });

  test('the worker pulls an image only the registry has, with the credentials of --with-registry-auth, the task preparing meanwhile; without them, or for a tag the registry lacks, the task is rejected with "No such image"', async () => {
    const login = a.docker(['login', reg, '-u', 'alice', '-p', 'pw-alice']);
    assert.equal(login.code, 0, login.stderr);
    // An image of its own (busybox with an environment of its own), made on A, pushed, and removed there.
    const mk = a.berth(['import', '--change', 'ENV MADE=made-on-a', '--change', 'CMD ["sh"]', busyboxTarPath(), `${reg}/app:v1`], { timeout: 300_000 });
    assert.equal(mk.code, 0, mk.stderr);
    const push = a.docker(['push', `${reg}/app:v1`]);
    assert.equal(push.code, 0, push.stderr);
    assert.equal(a.docker(['rmi', `${reg}/app:v1`]).code, 0);
    assert.equal(b.docker(['image', 'inspect', `${reg}/app:v1`]).code, 1, 'B lacks it');

    const svc = a.docker(['service', 'create', '-d', '--name', 'pulled', '--with-registry-auth', '--constraint', 'node.role==worker', '--restart-condition', 'none',
      `${reg}/app:v1`, 'sh', '-c', 'echo "$MADE"; sleep 600']);
    assert.equal(svc.code, 0, svc.stderr);
    const state = (name: string) => a.docker(['service', 'ps', name, '--no-trunc', '--format', '{{.Node}}|{{.CurrentState}}|{{.Error}}']).stdout.trim();
    await waitFor('pulled running on B', () => (/\|Running /.test(state('pulled')) ? true : undefined), 120_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${state('pulled')}`); });
    // The CLI pinned the tag to its digest (as the docker CLI does); B holds the image by it, as dockerd's pull by digest.
    const pinned = a.docker(['service', 'inspect', 'pulled', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}']).stdout.trim();
    assert.match(pinned, new RegExp(`^${reg.replace(/\./g, '\\.')}/app:v1@sha256:[0-9a-f]{64}$`));
    assert.ok(b.docker(['image', 'inspect', pinned, '--format', '{{json .Config.Env}}']).stdout.includes('"MADE=made-on-a"'));
    await waitFor('its output through service logs', () => (a.docker(['service', 'logs', '--raw', 'pulled']).stdout.trim() === 'made-on-a' ? true : undefined), 60_000);
    // The credentials are swarm's own: service inspect never shows them.
    assert.ok(!a.docker(['service', 'inspect', 'pulled']).stdout.includes('PullOptions'));

    // A registry that accepts connections and never answers: the task stays preparing while its pull waits.
    const silent = a.exec(`setsid ${realpathSync(join(ROOT, 'node_modules', '.bin', 'node'))} -e "require('net').createServer(() => {}).listen(5001, '${a.addr}')" </dev/null >/dev/null 2>&1 &`);
    assert.equal(silent.code, 0, silent.stderr);
    const slow = a.docker(['service', 'create', '-d', '--name', 'slowpull', '--no-resolve-image', '--constraint', 'node.role==worker', `${a.addr}:5001/app:v1`, 'true']);
    assert.equal(slow.code, 0, slow.stderr);
    await waitFor('slowpull preparing on B', () => (/\|Preparing /.test(state('slowpull')) ? true : undefined), 60_000)
      .catch((err: Error) => { throw new Error(`${err.message}: ${state('slowpull')}`); });
    await new Promise((r) => setTimeout(r, 3000));
    assert.match(state('slowpull'), /\|Preparing /, 'still preparing while the pull waits');
    assert.equal(a.docker(['service', 'rm', 'slowpull']).code, 0);

    // Without --with-registry-auth: B's pull is refused by the registry, and the create fails as dockerd's does.
    assert.equal(a.docker(['service', 'rm', 'pulled']).code, 0);
    await waitFor('pulled\'s container gone from B', () => (b.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=pulled']).stdout.trim() === '' ? true : undefined), 60_000);
    const rmi = b.docker(['rmi', pinned]);
    assert.equal(rmi.code, 0, rmi.stderr);
    for (const [name, image] of [['noauth', `${reg}/app:v1`], ['nosuch', `${reg}/app:nope`]]) {
      const r = a.docker(['service', 'create', '-d', '--name', name, ...(name === 'nosuch' ? ['--with-registry-auth'] : []), '--constraint', 'node.role==worker', '--restart-condition', 'none', image, 'true']);
      assert.equal(r.code, 0, r.stderr);
      const s = await waitFor(`${name} rejected`, () => {
        const x = state(name);
        return /\|Rejected /.test(x) ? x : undefined;
      }, 120_000);
      // The CLI quotes a task's error.
      assert.match(s, new RegExp(`\\|"No such image: ${image.replace(/[.]/g, '\\.')}"$`), s);
    }
  });

  test('the last task gone, the worker drops the overlay (bridge, listing) while the manager still lists it; a container run there makes it again', async () => {
    const rm = a.docker(['service', 'rm', 'web', 'ticker']);
    assert.equal(rm.code, 0, rm.stderr);
    a.docker(['service', 'rm', 'pulled', 'noauth', 'nosuch', 'slowpull']);
    await waitFor('web\'s task gone from B', () => (tasksOn(b, 'web').length === 0 ? true : undefined), 60_000);
    assert.ok(listed(b), 'att still holds ov on B');
    assert.equal(b.docker(['rm', '-f', 'att']).code, 0);
    await waitFor('ov gone from B', () => (!listed(b) && !bridgeOn(b) ? true : undefined), 60_000);
    await waitFor('ov gone from A\'s links', () => (!bridgeOn(a) ? true : undefined), 60_000);
    assert.ok(listed(a), 'the manager lists the swarm\'s network still');
    // `run --network ov` on the worker makes it there again, for that container.
    const subnet = a.docker(['network', 'inspect', 'ov', '--format', '{{(index .IPAM.Config 0).Subnet}}']).stdout.trim();
    const run = b.berth(['run', '--rm', '--network', 'ov', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0'], { timeout: 120_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes(`inet ${subnet.split('.').slice(0, 3).join('.')}.`), `${run.stdout} in ${subnet}`);
    assert.ok(listed(b));
    assert.equal(a.docker(['network', 'rm', 'ov']).code, 0);
    await waitFor('ov gone from B once removed from the swarm', () => (!listed(b) && !bridgeOn(b) ? true : undefined), 60_000);
    assert.ok(!listed(a));
  });
});
