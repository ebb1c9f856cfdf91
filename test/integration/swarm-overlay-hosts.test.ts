// An overlay across two berth hosts (the swarm tests' Debian hosts, each its
// own address and daemon): a service's tasks spread over both, a container on
// either host reaching the task on the other by name and through the VIP over
// VXLAN, and the routing mesh answering on the host that runs no task.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DOCKER, run, TestDaemon } from '../helpers/daemon.ts';
import { debootstrapInstalled } from '../helpers/machine-host.ts';
import { startSwarmHost, type SwarmHost } from '../helpers/swarm-hosts.ts';
import { waitFor } from '../helpers/wait.ts';

const TAG = randomBytes(3).toString('hex');
const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'];

describe('an overlay across two hosts', { skip: !DOCKER || !existsSync('/usr/bin/etcd') || !debootstrapInstalled() }, () => {
  let d: TestDaemon;
  let a: SwarmHost;
  let b: SwarmHost;
  before(async () => {
    d = new TestDaemon();
    await d.start();
    a = await startSwarmHost(d, `bt-ova-${TAG}`);
    b = await startSwarmHost(d, `bt-ovb-${TAG}`);
  });
  after(async () => {
    a?.docker(['service', 'rm', 'web', 'pub']);
    b?.docker(['swarm', 'leave', '--force']);
    a?.docker(['swarm', 'leave', '--force']);
    await b?.stop();
    await a?.stop();
    await d?.destroy();
  });

  /** Task container IDs (= their hostnames) of a service on a host. */
  const tasksOn = (h: SwarmHost, svc: string) => h.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.trim().split('\n').filter(Boolean);
  const addrs = (s: string) => [...s.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).filter((x) => x !== '127.0.0.11').sort();

  test('a swarm of two: the worker joins, an overlay is made, a service of 2 spreads over both hosts', async () => {
    assert.equal(a.docker(['swarm', 'init', '--advertise-addr', a.addr]).code, 0);
    const token = a.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const join = b.docker(['swarm', 'join', '--token', token, `${a.addr}:2377`]);
    assert.equal(join.code, 0, join.stderr);
    await waitFor('2 ready nodes', () => (a.docker(['node', 'ls', '--format', '{{.Status}}']).stdout.trim().split('\n').filter((l) => l === 'Ready').length === 2 ? true : undefined), 60_000);
    const net = a.docker(['network', 'create', '-d', 'overlay', '--attachable', 'ov']);
    assert.equal(net.code, 0, net.stderr);
    const svc = a.docker(['service', 'create', '-d', '--name', 'web', '--replicas', '2', '--network', 'ov', 'busybox', ...HTTPD]);
    assert.equal(svc.code, 0, svc.stderr);
    await waitFor('a task of web on each host', () => (tasksOn(a, 'web').length === 1 && tasksOn(b, 'web').length === 1 ? true : undefined), 120_000);
    // The worker has the overlay too, with the same subnet.
    const subnet = (h: SwarmHost) => h.docker(['network', 'inspect', 'ov', '--format', '{{(index .IPAM.Config 0).Subnet}}']).stdout.trim();
    await waitFor('the overlay on the worker', () => (subnet(b) && subnet(b) === subnet(a) ? true : undefined), 30_000);
    // A worker makes none: dockerd's words.
    const onWorker = b.docker(['network', 'create', '-d', 'overlay', 'fromworker']);
    assert.equal(onWorker.code, 1);
    assert.match(onWorker.stderr, /Worker nodes can't be used to view or modify cluster state/);
  });

  test('from a container on each host: tasks.web names both tasks, the VIP and each task on the other host answer over the VXLAN', async () => {
    const want = [...tasksOn(a, 'web'), ...tasksOn(b, 'web')].sort();
    const ipOf = (h: SwarmHost) => h.docker(['inspect', tasksOn(h, 'web')[0], '--format', '{{(index .NetworkSettings.Networks "ov").IPAddress}}']).stdout.trim();
    const [ipA, ipB] = [ipOf(a), ipOf(b)];
    for (const [h, remote] of [[a, ipB], [b, ipA]] as const) {
      const script = [
        'nslookup tasks.web 127.0.0.11', 'echo ---',
        `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 ${remote} 80 | tail -n 1`, 'echo ---',
        'for i in 1 2 3 4 5 6; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 web 80 | tail -n 1; done',
      ].join('; ');
      const r = await waitFor(`a container on ${h.name} reaching the other host's task`, () => {
        // berth's CLI: the docker CLI's attached `run` over TCP+TLS comes back with no output (noticed, Hosts' part).
        const x = h.berth(['run', '--rm', '--network', 'ov', 'busybox', 'sh', '-c', script], { timeout: 120_000 });
        return x.code === 0 && x.stdout.split('---\n')[1]?.trim() ? x : undefined;
      }, 60_000);
      const [names, direct, viaVip] = r.stdout.split('---\n');
      assert.deepEqual(addrs(names), [ipA, ipB].sort(), names);
      assert.ok(want.includes(direct.trim()) && !tasksOn(h, 'web').includes(direct.trim()), `the other host's task answered: ${direct}`);
      assert.deepEqual([...new Set(viaVip.trim().split('\n'))].sort(), want, `both tasks through the VIP from ${h.name}:\n${viaVip}`);
    }
  });

  test('--publish 18080:80 with one task answers on both hosts\' addresses (routing mesh over the overlay)', async () => {
    const r = a.docker(['service', 'create', '-d', '--name', 'pub', '--replicas', '1', '--publish', '18080:80', 'busybox', ...HTTPD]);
    assert.equal(r.code, 0, r.stderr);
    const task = await waitFor('the task of pub', () => {
      const all = [...tasksOn(a, 'pub'), ...tasksOn(b, 'pub')];
      return all.length === 1 ? all[0] : undefined;
    }, 120_000);
    for (const h of [a, b]) {
      const got = await waitFor(`${h.addr}:18080 answering`, () => {
        const c = run('curl', ['-s', '--max-time', '5', `http://${h.addr}:18080/`]);
        return c.code === 0 && c.stdout.trim() ? c.stdout.trim() : undefined;
      }, 60_000);
      assert.equal(got, task, `${h.name} forwards to the one task`);
    }
  });

  test('the worker\'s daemon killed with -9 and started again: its task is adopted, its overlay and VIP work as before, no address was handed out twice', async () => {
    const before = tasksOn(b, 'web');
    await b.stopDaemon('KILL');
    await b.startDaemon();
    await waitFor('the worker ready again', () => (a.docker(['node', 'ls', '--format', '{{.Status}}']).stdout.trim().split('\n').filter((l) => l === 'Ready').length === 2 ? true : undefined), 60_000);
    assert.deepEqual(tasksOn(b, 'web'), before, 'the same task container runs on');
    const want = [...tasksOn(a, 'web'), ...before].sort();
    const script = 'for i in 1 2 3 4 5 6; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 web 80 | tail -n 1; done; ip -4 -o addr show eth0';
    const r = await waitFor('a container on the restarted worker reaching both tasks through the VIP', () => {
      const x = b.berth(['run', '--rm', '--network', 'ov', 'busybox', 'sh', '-c', script], { timeout: 120_000 });
      const seen = [...new Set(x.stdout.trim().split('\n').slice(0, -1))].sort();
      return x.code === 0 && seen.join() === want.join() ? x : undefined;
    }, 90_000);
    const own = /inet (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
    const taskIps = [a, b].map((h) => h.docker(['inspect', tasksOn(h, 'web')[0], '--format', '{{(index .NetworkSettings.Networks "ov").IPAddress}}']).stdout.trim());
    assert.ok(own && !taskIps.includes(own), `the new container's address ${own} is none of the tasks' (${taskIps.join(', ')})`);
  });
});
