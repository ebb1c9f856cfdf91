// Swarm overlay networks on one host, end to end with the docker CLI: an
// overlay made by the cluster, a service's tasks on it, a container resolving
// the service to its VIP and reaching every task through it, tasks.<service>,
// and the routing mesh answering a published port on the node's addresses.
// The daemon runs in a network namespace of its own, so its bridges, rules
// and the "node address" the mesh is checked on exist only there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** busybox's httpd answering its container's hostname (the task container's short ID). */
const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'];

describe('swarm overlay networks, VIPs and the routing mesh on one host', { skip: !DOCKER || !existsSync('/usr/bin/etcd') }, () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon([], { ownNetns: true }); });
  after(async () => {
    d.docker(['service', 'rm', 'web', 'pub', 'rr', 'dyn', 'many']);
    d.docker(['swarm', 'leave', '--force']);
    await d.destroy();
  });

  /** A command in the daemon's network namespace (the "host" the node is). */
  const onHost = (cmd: string[]) => run('nsenter', [`--net=/proc/${d.pid}/ns/net`, '--', ...cmd], { timeout: 30_000 });
  const running = (svc: string) => d.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.trim().split('\n').filter(Boolean);
  const hostnames = (svc: string) => running(svc).map((id) => d.docker(['inspect', id, '--format', '{{.Config.Hostname}}']).stdout.trim()).sort();

  test('an overlay on a node in no swarm is refused with dockerd\'s words (503), and nothing is made', () => {
    const r = d.docker(['network', 'create', '-d', 'overlay', 'ov']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `Error response from daemon: ${NOT_MANAGER}`);
    assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'name=ov']).stdout.trim(), '');
  });

  test('network create -d overlay --attachable: a swarm-scoped network from the default pool (10.0.0.0/8, a /24)', () => {
    assert.equal(d.docker(['swarm', 'init']).code, 0);
    const r = d.docker(['network', 'create', '-d', 'overlay', '--attachable', 'ov']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^[a-z0-9]{25}$/);
    const ls = d.docker(['network', 'ls', '--filter', 'name=ov', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
    assert.equal(ls.stdout.trim(), 'ov overlay swarm');
    const ipam = d.docker(['network', 'inspect', 'ov', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Attachable}}']).stdout.trim();
    assert.match(ipam, /^10\.\d+\.\d+\.0\/24 10\.\d+\.\d+\.1 true$/);
  });

  test('an overlay subnet that collides with another network is refused with dockerd\'s words; nothing is left', () => {
    const subnet = d.docker(['network', 'inspect', 'ov', '--format', '{{(index .IPAM.Config 0).Subnet}}']).stdout.trim();
    const same = d.docker(['network', 'create', '-d', 'overlay', '--subnet', subnet, 'ov2']);
    assert.equal(same.code, 1);
    assert.equal(same.stderr.trim(), 'Error response from daemon: Pool overlaps with other one on this address space');
    assert.equal(d.docker(['network', 'create', '--subnet', '10.250.3.0/24', 'localnet']).code, 0);
    const local = d.docker(['network', 'create', '-d', 'overlay', '--subnet', '10.250.0.0/16', 'ov3']);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /Pool overlaps with other one on this address space/);
    assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'name=ov2']).stdout.trim(), '');
    assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'name=ov3']).stdout.trim(), '');
    assert.equal(d.docker(['network', 'rm', 'localnet']).code, 0);
    const dup = d.docker(['network', 'create', '-d', 'overlay', 'ov']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /network ov already exists/);
  });

  test('a service of 3 replicas on the overlay: its name resolves to the VIP, tasks.<name> to the 3 tasks, and the VIP reaches all three', async () => {
    const r = d.docker(['service', 'create', '-d', '--name', 'web', '--replicas', '3', '--network', 'ov', 'busybox', ...HTTPD]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('3 running tasks of web', () => (running('web').length === 3 ? true : undefined), 90_000);
    const taskIps = running('web').map((id) => d.docker(['inspect', id, '--format', '{{(index .NetworkSettings.Networks "ov").IPAddress}}']).stdout.trim()).sort();
    assert.equal(taskIps.length, 3);
    for (const ip of taskIps) assert.match(ip, /^10\./);

    // From a plain container on the (attachable) overlay, through the embedded DNS.
    const script = [
      'nslookup web 127.0.0.11', 'echo ---', 'nslookup tasks.web 127.0.0.11', 'echo ---',
      // (busybox's wget crashes in this rootfs; nc speaks the HTTP.)
      'for i in 1 2 3 4 5 6 7 8 9; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 80 | tail -n 1; done',
    ].join('; ');
    const c = d.docker(['run', '--rm', '--network', 'ov', 'busybox', 'sh', '-c', script], { timeout: 120_000 });
    assert.equal(c.code, 0, c.stderr + c.stdout);
    const [vipPart, tasksPart, replies] = c.stdout.split('---\n');
    const addrs = (s: string) => [...s.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).filter((a) => a !== '127.0.0.11').sort();
    const vip = addrs(vipPart);
    assert.equal(vip.length, 1, vipPart);
    assert.ok(!taskIps.includes(vip[0]), `the VIP ${vip[0]} is none of the tasks' addresses`);
    assert.deepEqual(addrs(tasksPart), taskIps);
    const seen = [...new Set(replies.trim().split('\n'))].sort();
    assert.deepEqual(seen, hostnames('web'), `every task answered through the VIP:\n${replies}`);
    // The VIP is the one the service shows.
    const shown = d.docker(['service', 'inspect', 'web', '--format', '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}']).stdout.trim();
    assert.equal(shown.split('/')[0], vip[0]);
  });

  test('network connect: a running container joins the attachable overlay and reaches the service by name; an overlay not --attachable is refused with dockerd\'s words', async () => {
    assert.equal(d.docker(['run', '-d', '--name', 'att', 'busybox', 'sleep', '300']).code, 0);
    try {
      const con = d.docker(['network', 'connect', 'ov', 'att']);
      assert.equal(con.code, 0, con.stderr);
      const reply = await waitFor('att → web through the VIP', () => {
        const x = d.docker(['exec', 'att', 'sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 80 | tail -n 1']);
        return x.code === 0 && x.stdout.trim() ? x.stdout.trim() : undefined;
      }, 30_000);
      assert.ok(hostnames('web').includes(reply), reply);
      assert.equal(d.docker(['network', 'disconnect', 'ov', 'att']).code, 0);
      assert.equal(d.docker(['inspect', 'att', '--format', '{{len .NetworkSettings.Networks}}']).stdout.trim(), '1');
    } finally {
      d.docker(['rm', '-f', 'att']);
    }
    assert.equal(d.docker(['network', 'create', '-d', 'overlay', 'closed']).code, 0);
    const r = d.docker(['run', '--rm', '--network', 'closed', 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Could not attach to network closed: rpc error: code = PermissionDenied desc = network closed not manually attachable/);
    assert.equal(d.docker(['network', 'rm', 'closed']).code, 0);
  });

  test('a service on a network the swarm does not have is refused (404, dockerd\'s words) and not created', () => {
    const r = d.docker(['service', 'create', '-d', '--name', 'lost', '--network', 'nosuch', 'busybox', 'sleep', '100']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /network nosuch not found/);
    assert.equal(d.docker(['service', 'ls', '-q', '--filter', 'name=lost']).stdout.trim(), '');
  });

  test('endpoint mode dnsrr: the name resolves to the tasks themselves', async () => {
    assert.equal(d.docker(['service', 'create', '-d', '--name', 'rr', '--replicas', '2', '--endpoint-mode', 'dnsrr', '--network', 'ov', 'busybox', ...HTTPD]).code, 0);
    await waitFor('2 running tasks of rr', () => (running('rr').length === 2 ? true : undefined), 90_000);
    const taskIps = running('rr').map((id) => d.docker(['inspect', id, '--format', '{{(index .NetworkSettings.Networks "ov").IPAddress}}']).stdout.trim()).sort();
    const c = d.docker(['run', '--rm', '--network', 'ov', 'busybox', 'nslookup', 'rr', '127.0.0.11']);
    assert.equal(c.code, 0, c.stderr);
    const got = [...c.stdout.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).filter((a) => a !== '127.0.0.11').sort();
    assert.deepEqual(got, taskIps);
  });

  test('service update --endpoint-mode dnsrr gives the VIP back: the name then resolves to the tasks; back to vip, a VIP again', async () => {
    const vips = () => d.docker(['service', 'inspect', 'web', '--format', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}']).stdout.trim();
    const before = vips();
    assert.match(before, /^10\./);
    assert.equal(d.docker(['service', 'update', '-d', '--endpoint-mode', 'dnsrr', 'web']).code, 0);
    await waitFor('no VIP', () => (vips() === '' ? true : undefined), 30_000);
    const taskIps = running('web').map((id) => d.docker(['inspect', id, '--format', '{{(index .NetworkSettings.Networks "ov").IPAddress}}']).stdout.trim()).sort();
    const got = await waitFor('web → its tasks', () => {
      const c = d.docker(['run', '--rm', '--network', 'ov', 'busybox', 'nslookup', 'web', '127.0.0.11']);
      const a = [...c.stdout.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).filter((x) => x !== '127.0.0.11').sort();
      return a.length === taskIps.length ? a : undefined;
    }, 30_000);
    assert.deepEqual(got, taskIps);
    assert.equal(d.docker(['service', 'update', '-d', '--endpoint-mode', 'vip', 'web']).code, 0);
    await waitFor('a VIP again', () => (/^10\./.test(vips()) ? true : undefined), 30_000);
  });

  test('--publish 18080:80 answers on the node\'s addresses (routing mesh), spread over the tasks', async () => {
    const r = d.docker(['service', 'create', '-d', '--name', 'pub', '--replicas', '2', '--publish', '18080:80', 'busybox', ...HTTPD]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('2 running tasks of pub', () => (running('pub').length === 2 ? true : undefined), 90_000);
    assert.equal(d.docker(['network', 'ls', '--filter', 'name=ingress', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']).stdout.trim(), 'ingress overlay swarm');
    // The node's address: one the test gives this namespace (as a host's own interface would have).
    const nodeIf = onHost(['sh', '-c', 'ip link add nodeif type veth peer name nodeif-peer && ip addr add 192.0.2.10/24 dev nodeif && ip link set nodeif up && ip link set nodeif-peer up']);
    assert.equal(nodeIf.code, 0, nodeIf.stderr);
    const want = hostnames('pub');
    for (const addr of ['127.0.0.1', '192.0.2.10']) {
      const seen = await waitFor(`both tasks answering on ${addr}:18080 (${d.docker(['ps', '--format', '{{.Names}}:{{.Networks}}']).stdout.replace(/\n/g, ' ')})`, () => {
        const got = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const c = onHost(['curl', '-s', '--max-time', '3', `http://${addr}:18080/`]);
          if (c.code === 0) got.add(c.stdout.trim());
        }
        return got.size === 2 ? [...got].sort() : undefined;
      }, 30_000);
      assert.deepEqual(seen, want);
    }
  });

  test('a published port another service has is refused with swarm\'s words; --publish 80 gets one from 30000 that answers', async () => {
    const clash = d.docker(['service', 'create', '-d', '--name', 'clash', '--publish', '18080:80', 'busybox', ...HTTPD]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /port '18080' is already in use by service 'pub' \([a-z0-9]{25}\) as an ingress port/);
    assert.equal(d.docker(['service', 'ls', '-q', '--filter', 'name=clash']).stdout.trim(), '');
    const dyn = d.docker(['service', 'create', '-d', '--name', 'dyn', '--publish', '80', 'busybox', ...HTTPD]);
    assert.equal(dyn.code, 0, dyn.stderr);
    const port = d.docker(['service', 'inspect', 'dyn', '--format', '{{range .Endpoint.Ports}}{{.PublishedPort}}/{{.PublishMode}}{{end}}']).stdout.trim();
    assert.equal(port, '30000/ingress');
    await waitFor('the task of dyn', () => (running('dyn').length === 1 ? true : undefined), 90_000);
    const got = await waitFor('127.0.0.1:30000 answering', () => {
      const c = onHost(['curl', '-s', '--max-time', '3', 'http://127.0.0.1:30000/']);
      return c.code === 0 && c.stdout.trim() ? c.stdout.trim() : undefined;
    }, 30_000);
    assert.deepEqual([got], hostnames('dyn'));
    assert.equal(d.docker(['service', 'rm', 'dyn']).code, 0);
  });

  test('an overlay\'s addresses run out: the task that finds none is rejected with libnetwork\'s words, the others run', async () => {
    // A /29: 5 addresses past the gateway, one of them this node's own: room for 4 tasks.
    assert.equal(d.docker(['network', 'create', '-d', 'overlay', '--subnet', '10.251.0.0/29', 'tiny']).code, 0);
    assert.equal(d.docker(['service', 'create', '-d', '--name', 'many', '--replicas', '5', '--endpoint-mode', 'dnsrr', '--network', 'tiny', 'busybox', 'sleep', '1000']).code, 0);
    const err = await waitFor('a task rejected for want of an address', () => {
      const ps = d.docker(['service', 'ps', 'many', '--no-trunc', '--format', '{{.Error}}']).stdout;
      return /no available IPv4 addresses on this network's address pools: tiny/.test(ps) ? ps : undefined;
    }, 90_000);
    assert.ok(err);
    await waitFor('4 tasks running', () => (running('many').length === 4 ? true : undefined), 90_000);
    assert.equal(d.docker(['service', 'rm', 'many']).code, 0);
    await waitFor('network rm tiny', () => (d.docker(['network', 'rm', 'tiny']).code === 0 ? true : undefined), 60_000);
  });

  test('docker stack deploy: services of a compose file on its overlay reach each other by their short names; stack rm leaves no service, network or bridge', async () => {
    const dir = mkdtempSync('/tmp/bt-stack-');
    writeFileSync(join(dir, 'compose.yml'), [
      'services:',
      '  web:',
      '    image: busybox',
      `    command: ${JSON.stringify(HTTPD)}`,
      '    networks: [front]',
      '  client:',
      '    image: busybox',
      '    command: ["sleep", "1000"]',
      '    networks: [front]',
      'networks:',
      '  front: {}',
      '',
    ].join('\n'));
    try {
      const dep = d.docker(['stack', 'deploy', '-c', join(dir, 'compose.yml'), 'st']);
      assert.equal(dep.code, 0, dep.stderr);
      assert.equal(d.docker(['network', 'ls', '--filter', 'name=st_front', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']).stdout.trim(), 'st_front overlay swarm');
      await waitFor('both stack tasks running', () => (running('st_web').length === 1 && running('st_client').length === 1 ? true : undefined), 90_000);
      const reply = await waitFor('client → web by its short name', () => {
        const x = d.docker(['exec', running('st_client')[0], 'sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 80 | tail -n 1']);
        return x.code === 0 && x.stdout.trim() ? x.stdout.trim() : undefined;
      }, 30_000);
      assert.deepEqual([reply], hostnames('st_web'));
      const bridge = `br-${d.docker(['network', 'inspect', 'st_front', '--format', '{{.Id}}']).stdout.trim().slice(0, 12)}`;
      assert.equal(d.docker(['stack', 'rm', 'st']).code, 0);
      await waitFor('the stack gone: services, network, bridge', () => (
        d.docker(['service', 'ls', '-q', '--filter', 'name=st_']).stdout.trim() === ''
        && d.docker(['network', 'ls', '-q', '--filter', 'name=st_front']).stdout.trim() === ''
        && onHost(['ip', 'link', 'show', bridge]).code !== 0 ? true : undefined), 60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an overlay a service uses is not removed; once the services are gone it is, with its bridge', async () => {
    const busy = d.docker(['network', 'rm', 'ov']);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /is in use by service/);
    const bridge = `br-${d.docker(['network', 'inspect', 'ov', '--format', '{{.Id}}']).stdout.trim().slice(0, 12)}`;
    assert.equal(onHost(['ip', 'link', 'show', bridge]).code, 0);
    assert.equal(d.docker(['service', 'rm', 'web', 'rr']).code, 0);
    await waitFor('the tasks gone', () => (running('web').length + running('rr').length === 0 ? true : undefined), 60_000);
    const rm = await waitFor('network rm ov', () => {
      const x = d.docker(['network', 'rm', 'ov']);
      return x.code === 0 ? x : undefined;
    }, 30_000);
    assert.equal(rm.stdout.trim(), 'ov');
    await waitFor('the bridge gone', () => (onHost(['ip', 'link', 'show', bridge]).code !== 0 ? true : undefined), 15_000);
    assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'name=^ov$']).stdout.trim(), '');
  });
});
