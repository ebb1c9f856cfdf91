// Devices: --device adds a host device node with the access asked for,
// --device-cgroup-rule lets the container make and use others, --privileged
// gives it every host device; bad ones are refused at create.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, lstatSync } from 'node:fs';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

/** The host's device nodes under /dev, as --privileged must show them (pts, shm, mqueue, console and ptmx aside). */
function hostDeviceCount(dir = '/dev'): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    // ptmx: the runtime makes it a link to pts/ptmx, as in every container.
    if (dir === '/dev' && ['pts', 'shm', 'fd', 'mqueue', 'console', 'ptmx'].includes(name)) continue;
    const st = lstatSync(`${dir}/${name}`);
    if (st.isDirectory()) n += hostDeviceCount(`${dir}/${name}`);
    else if (st.isCharacterDevice() || st.isBlockDevice()) n++;
  }
  return n;
}

// /dev/kmsg (c 1:11) is outside Docker's default device list, and a write to it only adds a kernel log line.
const WRITE = 'echo berth-devices-test > /dev/k && echo wrote';

describe('devices', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('--device maps a host device to a path of its own with the access asked for', () => {
    const ls = d.berth(['run', '--rm', '--device', '/dev/kmsg:/dev/k', 'busybox', 'ls', '-l', '/dev/k']);
    assert.match(ls.stdout, /^c.* 1,\s+11 .* \/dev\/k\n$/, ls.stderr);
    assert.equal(d.berth(['run', '--rm', '--device', '/dev/kmsg:/dev/k:w', 'busybox', 'sh', '-c', WRITE]).stdout, 'wrote\n');
    const ro = d.berth(['run', '--rm', '--device', '/dev/kmsg:/dev/k:r', 'busybox', 'sh', '-c', WRITE]);
    assert.match(ro.stderr, /can't create \/dev\/k: Operation not permitted/);
    assert.equal(ro.stdout, '');
  });

  test('--device-cgroup-rule lets the container make and use a device it was not given', () => {
    const denied = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `mknod /dev/k c 1 11 && ${WRITE}`]);
    assert.match(denied.stderr, /Operation not permitted/);
    const allowed = d.berth(['run', '--rm', '--device-cgroup-rule', 'c 1:11 rwm', 'busybox', 'sh', '-c', `mknod /dev/k c 1 11 && ${WRITE}`]);
    assert.equal(allowed.stdout, 'wrote\n', allowed.stderr);
  });

  test('--privileged shows every host device, where a default container has a handful', () => {
    const count = (args: string[]) => Number(d.berth(['run', '--rm', ...args, 'busybox', 'sh', '-c', 'find /dev -type c -o -type b | grep -v -e ^/dev/pts/ -e ^/dev/console -e ^/dev/mqueue -e ^/dev/shm | wc -l']).stdout.trim());
    assert.equal(count(['--privileged']), hostDeviceCount());
    assert.ok(count([]) <= 10);
  });

  test('a missing device, a bad mode or rule is refused at create, and no container is made', async () => {
    const before = d.berth(['ps', '-aq']).stdout;
    const cases: [unknown, string][] = [
      [{ Devices: [{ PathOnHost: '/dev/nope', PathInContainer: '/dev/nope', CgroupPermissions: 'rwm' }] }, 'error gathering device information while adding custom device "/dev/nope": no such file or directory'],
      [{ Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'rwx' }] }, 'invalid device mode: rwx'],
      [{ DeviceCgroupRules: ['c 1:11'] }, "invalid device cgroup rule format: 'c 1:11'"],
    ];
    for (const [host, message] of cases) {
      const r = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: host });
      assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message }]);
    }
    const cli = d.berth(['run', '--rm', '--device', '/dev/null:/dev/n:xyz', 'busybox', 'true']);
    assert.equal(cli.code, 125);
    assert.match(cli.stderr, /invalid argument "\/dev\/null:\/dev\/n:xyz" for "--device" flag: bad mode specified: xyz/);
    assert.equal(d.berth(['ps', '-aq']).stdout, before);
  });

  test('the docker CLI maps a device', { skip: !DOCKER && 'no docker CLI' }, () => {
    const r = d.docker(['run', '--rm', '--device', '/dev/kmsg:/dev/k:w', 'busybox', 'sh', '-c', WRITE]);
    assert.equal(r.stdout, 'wrote\n', r.stderr);
  });
});
