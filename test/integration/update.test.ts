// `update`: new limits reach a running container's cgroup at once and stay in
// its HostConfig for later starts; dockerd's checks refuse bad limits, at
// create and at update, with its words and nothing changed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

/** A file of the container's cgroup for `controller` (cgroup v1, as this host has; v2 has one directory). */
function cgroupFile(d: TestDaemon, name: string, controller: string, file: string): string {
  const pid = d.berth(['inspect', '-f', '{{.State.Pid}}', name]).stdout.trim();
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes(controller));
  const path = v1 ? `/sys/fs/cgroup/${controller}${v1.split(':')[2]}` : `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))?.slice(3)}`;
  return readFileSync(`${path}/${file}`, 'utf8').trim();
}

describe('update', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'live', '-m', '64m', 'busybox', 'sleep', '600']);
  });
  after(async () => { await d.destroy(); });

  test('memory, swap, CPUs and pids reach the running container\'s cgroup and its inspect', () => {
    // {{json}}: Go templates print a JSON number above 1e6 as a float, as docker inspect does.
    assert.equal(d.berth(['inspect', '-f', '{{json .HostConfig.MemorySwap}}', 'live']).stdout.trim(), String(128 * 1024 * 1024), 'swap defaults to twice the memory, as dockerd');
    const r = d.berth(['update', '-m', '96m', '--memory-swap', '200m', '--cpus', '0.5', '--pids-limit', '20', 'live']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'live\n', '']);
    assert.equal(cgroupFile(d, 'live', 'memory', 'memory.limit_in_bytes'), String(96 * 1024 * 1024));
    assert.equal(cgroupFile(d, 'live', 'cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile(d, 'live', 'pids', 'pids.max'), '20');
    assert.equal(d.berth(['inspect', '-f', '{{json .HostConfig.Memory}} {{json .HostConfig.MemorySwap}} {{json .HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}', 'live']).stdout.trim(),
      `${96 * 1024 * 1024} ${200 * 1024 * 1024} 500000000 20`);
    // A period and quota replace --cpus, as dockerd's.
    d.berth(['update', '--cpu-period', '50000', '--cpu-quota', '25000', 'live']);
    assert.equal(cgroupFile(d, 'live', 'cpu', 'cpu.cfs_period_us'), '50000');
    assert.equal(d.berth(['inspect', '-f', '{{json .HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}}', 'live']).stdout.trim(), '0 25000');
  });

  test('a lowered pids limit stops a fork bomb at once', () => {
    d.berth(['update', '--pids-limit', '10', 'live']);
    const r = d.berth(['exec', 'live', 'sh', '-c', 'for i in $(seq 30); do sleep 30 & done; wait']);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/);
    d.berth(['update', '--pids-limit', '-1', 'live']);
    assert.equal(cgroupFile(d, 'live', 'pids', 'pids.max'), 'max');
  });

  test('a stopped container keeps the new limits for its next start; a new restart policy is honoured', () => {
    d.berth(['create', '--name', 'later', 'busybox', 'sh', '-c', 'sleep 1; exit 3']);
    d.berth(['update', '-m', '50m', '--restart', 'on-failure:2', 'later']);
    d.berth(['start', 'later']);
    assert.equal(cgroupFile(d, 'later', 'memory', 'memory.limit_in_bytes'), String(50 * 1024 * 1024));
    const deadline = Date.now() + 30_000;
    let count = '';
    while (Date.now() < deadline) {
      count = d.berth(['inspect', '-f', '{{.RestartCount}} {{.State.Running}} {{.State.Restarting}}', 'later']).stdout.trim();
      if (count === '2 false false') break;
      spawnSync('sleep', ['0.5']);
    }
    assert.equal(count, '2 false false', 'restarted twice on failure, then left stopped');
  });

  test('bad limits are refused with dockerd\'s words and change nothing', async () => {
    const before = d.berth(['inspect', '-f', '{{json .HostConfig}}', 'live']).stdout;
    const cases: [unknown, number, string][] = [
      [{ NanoCpus: 9e9 }, 400, 'Range of CPUs is from 0.01 to'],
      [{ Memory: 1024 * 1024 }, 400, 'Minimum memory limit allowed is 6MB'],
      [{ Memory: 400 * 1024 * 1024 }, 409, 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time'],
      [{ CpusetCpus: '7' }, 400, 'Requested CPUs are not available'],
      [{ CpuPeriod: 10 }, 400, 'CPU cfs period can not be less than 1ms'],
      [{ BlkioWeight: 5 }, 400, 'Range of blkio weight is from 10 to 1000'],
      [{ RestartPolicy: { Name: 'bogus' } }, 400, "invalid restart policy: unknown policy 'bogus'"],
      [{ RestartPolicy: { Name: 'always', MaximumRetryCount: 2 } }, 400, "maximum retry count can only be used with 'on-failure'"],
      [{ Memory: 'lots' }, 400, 'json: cannot unmarshal string into Go struct field container.UpdateConfig.Memory of type int64'],
    ];
    for (const [body, status, message] of cases) {
      const r = await callApi(d.socket, 'POST', '/containers/live/update', body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.body}`);
      assert.ok((JSON.parse(r.body) as { message: string }).message.includes(message), r.body);
    }
    assert.equal((await callApi(d.socket, 'POST', '/containers/nope/update', { Memory: 10e6 })).status, 404);
    d.berth(['run', '-d', '--rm', '--name', 'auto', 'busybox', 'sleep', '600']);
    const auto = await callApi(d.socket, 'POST', '/containers/auto/update', { RestartPolicy: { Name: 'always' } });
    assert.deepEqual([auto.status, JSON.parse(auto.body)], [400, { message: 'Restart policy cannot be updated because AutoRemove is enabled for the container' }]);
    assert.equal(d.berth(['inspect', '-f', '{{json .HostConfig}}', 'live']).stdout, before);
    const none = d.berth(['update', 'live']);
    assert.deepEqual([none.code, none.stderr.trim()], [1, 'you must provide one or more flags when using this command']);
  });

  test('run\'s resource flags reach the cgroup; a limit the host cannot enforce is dropped with dockerd\'s warning', () => {
    const disk = readFileSync('/proc/partitions', 'utf8').split('\n').slice(2).map((l) => l.trim().split(/\s+/)[3]).find((n) => n && existsSync(`/dev/${n}`));
    const r = d.berth(['run', '-d', '--name', 'limited', '-m', '64m', '--memory-reservation', '32m', '--memory-swappiness', '10', '--oom-kill-disable',
      '--cpuset-cpus', '0', '--cpu-period', '50000', '--cpu-quota', '10000', '--blkio-weight', '300',
      ...(disk ? ['--device-read-bps', `/dev/${disk}:1mb`] : []), 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(cgroupFile(d, 'limited', 'memory', 'memory.soft_limit_in_bytes'), String(32 * 1024 * 1024));
    assert.equal(cgroupFile(d, 'limited', 'memory', 'memory.swappiness'), '10');
    assert.match(cgroupFile(d, 'limited', 'memory', 'memory.oom_control'), /oom_kill_disable 1/);
    assert.equal(cgroupFile(d, 'limited', 'cpuset', 'cpuset.cpus'), '0');
    assert.equal(cgroupFile(d, 'limited', 'cpu', 'cpu.cfs_quota_us'), '10000');
    if (disk) assert.match(cgroupFile(d, 'limited', 'blkio', 'blkio.throttle.read_bps_device'), /^\d+:\d+ 1048576$/m);
    if (existsSync('/sys/fs/cgroup/blkio/blkio.weight') || existsSync('/sys/fs/cgroup/blkio/blkio.bfq.weight')) {
      assert.equal(r.stderr, '');
    } else {
      assert.equal(r.stderr, 'WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n');
      assert.equal(d.berth(['inspect', '-f', '{{.HostConfig.BlkioWeight}}', 'limited']).stdout.trim(), '0');
    }
  });

  test('a process over its memory limit is OOM-killed: inspect says OOMKilled, an oom event precedes the die', () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const r = d.berth(['run', '--name', 'hog', '-m', '8m', '--memory-swap', '8m', 'busybox', 'tail', '/dev/zero'], { timeout: 60_000 });
    assert.equal(r.code, 137, r.stderr);
    assert.equal(d.berth(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'hog']).stdout.trim(), 'true 137');
    const events = d.berth(['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=hog', '--format', '{{.Action}}']).stdout;
    assert.match(events, /^oom\ndie\n/m);
    const plain = d.berth(['run', '--name', 'lean', '-m', '8m', 'busybox', 'true']);
    assert.equal(plain.code, 0);
    assert.equal(d.berth(['inspect', '-f', '{{.State.OOMKilled}}', 'lean']).stdout.trim(), 'false');
  });

  test('create refuses the same limits and leaves no container', async () => {
    const count = () => d.berth(['ps', '-aq']).stdout.trim().split('\n').length;
    const n = count();
    for (const [host, message] of [
      [{ Memory: 1024 }, 'Minimum memory limit allowed is 6MB'],
      [{ Memory: 64e6, MemorySwap: 32e6 }, 'Minimum memoryswap limit should be larger than memory limit'],
      [{ NanoCpus: 1e9, CpuQuota: 50000 }, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set'],
      [{ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -1 } }, 'invalid restart policy: maximum retry count cannot be negative'],
      [{ MemorySwappiness: 200 }, 'Invalid value: 200, valid memory swappiness range is 0-100'],
    ] as [unknown, string][]) {
      const r = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: host });
      assert.equal(r.status, 400, r.body);
      assert.ok(r.body.includes(message), r.body);
    }
    assert.equal(count(), n);
  });

  test('--cpus takes a rational number as the docker CLI does; anything else is refused before a request', () => {
    for (const [v, msg] of [['abc', 'failed to parse abc as a rational number'], ['0.0000000001', 'value is too precise'], ['', 'failed to parse  as a rational number']]) {
      const r = d.berth(['create', '--cpus', v, 'busybox', 'true']);
      assert.deepEqual([r.code, r.stderr.split('\n')[0]], [125, `invalid argument "${v}" for "--cpus" flag: ${msg}`]);
    }
    const c = d.berth(['create', '--cpus', '3/2', 'busybox', 'true']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(d.berth(['inspect', '-f', '{{.HostConfig.NanoCpus}}', c.stdout.trim()]).stdout, '1500000000\n');
    d.berth(['rm', c.stdout.trim()]);
  });

  test('the docker CLI, python docker and dockerode update a container', { skip: !DOCKER && 'no docker CLI' }, async () => {
    d.berth(['run', '-d', '--name', 'sdk', 'busybox', 'sleep', '600']);
    const r = d.docker(['update', '--cpu-shares', '512', '--memory', '80m', '--memory-swap', '-1', 'sdk']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(cgroupFile(d, 'sdk', 'cpu', 'cpu.shares'), '512');
    const py = spawnSync('python3', ['-c', `import docker; c = docker.DockerClient(base_url="unix://${d.socket}").containers.get("sdk"); print(c.update(mem_limit="90m", memswap_limit="180m"))`], { encoding: 'utf8' });
    assert.match(py.stdout, /'Warnings': (None|\[\])/, py.stderr);
    assert.equal(cgroupFile(d, 'sdk', 'memory', 'memory.limit_in_bytes'), String(90 * 1024 * 1024));
    await new Docker({ socketPath: d.socket }).getContainer('sdk').update({ PidsLimit: 33 });
    assert.equal(cgroupFile(d, 'sdk', 'pids', 'pids.max'), '33');
  });
});
