// Namespace modes: --ipc (shareable, container:X, none, host), --pid
// (container:X, host), --uts host, --cgroupns private, with dockerd's errors
// for a bad mode or a donor that cannot give its namespace; --group-add and
// --oom-score-adj reach the process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('namespace modes', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'donor', '--ipc', 'shareable', 'busybox', 'sh', '-c', 'echo from-donor > /dev/shm/note; exec sleep 600']);
    d.berth(['run', '-d', '--name', 'private', 'busybox', 'sleep', '600']);
  });
  after(async () => { await d.destroy(); });

  const ns = (name: string, kind: string) => d.berth(['exec', name, 'readlink', `/proc/self/ns/${kind}`]).stdout.trim();

  test('--ipc container:X shares the donor\'s IPC namespace and /dev/shm; none has no /dev/shm; host has the host\'s', () => {
    const r = d.berth(['run', '--rm', '--ipc', 'container:donor', 'busybox', 'sh', '-c', 'cat /dev/shm/note; readlink /proc/self/ns/ipc']);
    assert.equal(r.stdout, `from-donor\n${ns('donor', 'ipc')}\n`, r.stderr);
    assert.notEqual(ns('private', 'ipc'), ns('donor', 'ipc'));
    const none = d.berth(['run', '--rm', '--ipc', 'none', 'busybox', 'sh', '-c', 'test -e /dev/shm || echo no-shm']);
    assert.equal(none.stdout, 'no-shm\n');
    const host = d.berth(['run', '--rm', '--ipc', 'host', 'busybox', 'readlink', '/proc/self/ns/ipc']);
    assert.equal(host.stdout.trim(), readlinkSync('/proc/self/ns/ipc'));
  });

  test('--pid container:X sees the donor\'s processes; --pid host the host\'s; --uts host its hostname; --cgroupns private its own', () => {
    const ps = d.berth(['run', '--rm', '--pid', 'container:donor', 'busybox', 'ps', '-o', 'pid,args']);
    assert.match(ps.stdout, /^\s*1 sleep 600$/m);
    assert.equal(d.berth(['run', '--rm', '--pid', 'host', 'busybox', 'readlink', '/proc/self/ns/pid']).stdout.trim(), readlinkSync('/proc/self/ns/pid'));
    assert.equal(d.berth(['run', '--rm', '--uts', 'host', 'busybox', 'hostname']).stdout.trim(), hostname());
    const cg = d.berth(['run', '--rm', '--cgroupns', 'private', 'busybox', 'readlink', '/proc/self/ns/cgroup']).stdout.trim();
    assert.notEqual(cg, readlinkSync('/proc/self/ns/cgroup'));
    assert.equal(d.berth(['inspect', '-f', '{{.HostConfig.CgroupnsMode}}', 'private']).stdout.trim() !== '', true);
  });

  test('namespaced sysctls are set in the container', () => {
    const r = d.berth(['run', '--rm', '--sysctl', 'kernel.shmmni=1024', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=80', 'busybox', 'sh', '-c',
      'cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start']);
    assert.equal(r.stdout, '1024\n80\n', r.stderr);
  });

  test('--group-add and --oom-score-adj reach the process', () => {
    const r = d.berth(['run', '--rm', '--group-add', '1234', '--oom-score-adj', '321', 'busybox', 'sh', '-c', 'id -G; cat /proc/self/oom_score_adj']);
    assert.match(r.stdout, /^0 10 1234\n321\n$/);
  });

  test('bad modes and donors are refused with dockerd\'s words', async () => {
    const before = d.berth(['ps', '-aq']).stdout;
    for (const [host, status, message] of [
      [{ IpcMode: 'bogus' }, 400, 'invalid IPC mode: bogus'],
      [{ PidMode: 'container' }, 400, 'invalid PID mode: container'],
      [{ UTSMode: 'private' }, 400, 'invalid UTS mode: private'],
      [{ CgroupnsMode: 'shared' }, 400, 'invalid cgroup namespace mode: shared'],
      [{ UsernsMode: 'remap' }, 400, 'invalid USER mode: remap'],
      [{ IpcMode: 'container:ghost' }, 404, 'No such container: ghost'],
      [{ Sysctls: { 'kernel.hostname': 'x' } }, 400, "sysctl 'kernel.hostname' is not allowed"],
      [{ Sysctls: { 'net.ipv4.ip_forward': '1' }, NetworkMode: 'host' }, 400, "sysctl 'net.ipv4.ip_forward' is not allowed in host network namespace"],
    ] as [unknown, number, string][]) {
      const r = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: host });
      assert.deepEqual([r.status, JSON.parse(r.body)], [status, { message }]);
    }
    assert.equal(d.berth(['ps', '-aq']).stdout, before);
    const nonShareable = d.berth(['run', '--rm', '--ipc', 'container:private', 'busybox', 'true']);
    assert.match(nonShareable.stderr, /non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);
    d.berth(['create', '--name', 'stopped', '--ipc', 'shareable', 'busybox', 'true']);
    const notRunning = d.berth(['run', '--rm', '--pid', 'container:stopped', 'busybox', 'true']);
    assert.match(notRunning.stderr, /cannot join PID of a non running container: [0-9a-f]{64}/);
  });

  test('the donor\'s /dev/shm goes with it', () => {
    d.berth(['run', '-d', '--name', 'brief', '--ipc', 'shareable', 'busybox', 'sleep', '600']);
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'brief']).stdout.trim();
    const mounted = () => readFileSync('/proc/self/mounts', 'utf8').includes(`${id}/mounts/shm`);
    assert.ok(mounted());
    d.berth(['rm', '-f', 'brief']);
    assert.ok(!mounted());
  });

  test('the docker CLI joins a donor', { skip: !DOCKER && 'no docker CLI' }, () => {
    const r = d.docker(['run', '--rm', '--ipc', 'container:donor', 'busybox', 'cat', '/dev/shm/note']);
    assert.equal(r.stdout, 'from-donor\n', r.stderr);
  });
});
