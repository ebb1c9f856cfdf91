// What `cp` may touch (issue #14): a container's root and its mounts, never
// the host's files. Hostile tars (`..`, absolute names, symlink and hard
// link escapes), hostile symlinks inside the container (to `/`, to a host
// path), volumes and binds mounted in a container (read-only ones refused),
// and GET/PUT streams a client abandons: the daemon gets its fds and the
// temporary mounts of a stopped container back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar } from '../helpers/tar.ts';
import { fdCount, fdTargets } from '../helpers/proc-fds.ts';

interface Answer { status: number; body: Buffer }

function api(d: TestDaemon, method: string, path: string, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path, headers: body ? { 'Content-Type': 'application/x-tar' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const message = (a: Answer) => (JSON.parse(a.body.toString()) as { message: string }).message;

describe('cp stays inside the container', () => {
  let d: TestDaemon;
  /** A host directory with a file no container may read or change. */
  let host: string;
  let secret: string;

  before(async () => {
    d = await startSeededDaemon();
    host = mkdtempSync('/tmp/berth-cp-host-');
    secret = join(host, 'secret');
    writeFileSync(secret, 'HOST SECRET\n');
    assert.equal(d.berth(['run', '-d', '--name', 'box', 'busybox', 'sleep', '1000']).code, 0);
    // Inside the container: a symlink to /, one to the host directory's path, and that path with the container's own file.
    const r = d.berth(['exec', 'box', 'sh', '-c', `ln -s / /tmp/root && ln -s ${secret} /tmp/evil && ln -s ${host} /tmp/hostdir && mkdir -p ${host} && echo CONTAINER FILE > ${secret}`]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await d.destroy();
    rmSync(host, { recursive: true, force: true });
  });

  const hostUntouched = () => {
    assert.deepEqual(readdirSync(host), ['secret']);
    assert.equal(readFileSync(secret, 'utf8'), 'HOST SECRET\n');
    assert.equal(statSync(secret).nlink, 1);
  };

  test('symlinks in the container to / and to a host path name the container\'s files, both ways', () => {
    let r = d.berth(['cp', 'box:/tmp/root/etc/hostname', '-']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(spawnSync('tar', ['-xO'], { input: Buffer.from(r.stdout, 'latin1'), encoding: 'utf8' }).stdout, d.berth(['exec', 'box', 'cat', '/etc/hostname']).stdout);
    const out = mkdtempSync('/tmp/berth-cp-out-');
    try {
      r = d.berth(['cp', '-L', 'box:/tmp/evil', join(out, 'got')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(out, 'got'), 'utf8'), 'CONTAINER FILE\n');
      r = d.berth(['cp', 'box:/tmp/evil/', join(out, 'x')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a directory/);
      // Into the symlinked directory: the file lands in the container's directory of that name.
      writeFileSync(join(out, 'dropped'), 'dropped\n');
      r = d.berth(['cp', join(out, 'dropped'), 'box:/tmp/hostdir/']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(d.berth(['exec', 'box', 'cat', join(host, 'dropped')]).stdout, 'dropped\n');
      // A tar extracted into the symlink to /: the container's root.
      r = d.berth(['cp', join(out, 'dropped'), 'box:/tmp/root/']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(d.berth(['exec', 'box', 'cat', '/dropped']).stdout, 'dropped\n');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    hostUntouched();
  });

  test('hostile tars: .. is refused, absolute names, symlinked parents and hard link targets resolve in the container', async () => {
    let r = await api(d, 'PUT', '/containers/box/archive?path=/tmp', await makeTar([{ name: '../../../../../../..' + host + '/dotdot', content: 'x' }]));
    assert.equal(r.status, 400);
    assert.match(message(r), /is outside of "\/tmp"$/);
    r = await api(d, 'PUT', '/containers/box/archive?path=/tmp', await makeTar([{ name: host + '/abs', content: 'abs' }]));
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(d.berth(['exec', 'box', 'cat', `/tmp${host}/abs`]).stdout, 'abs');
    // A symlink the tar makes, then a file through it: the link is followed inside the container.
    r = await api(d, 'PUT', '/containers/box/archive?path=/tmp', await makeTar([
      { name: 'esc', type: 'symlink', linkname: host },
      { name: 'esc/through-abs', content: 'a' },
      { name: 'esc2', type: 'symlink', linkname: '../../../../../../../../' + host },
      { name: 'esc2/through-rel', content: 'r' },
    ]));
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(d.berth(['exec', 'box', 'ls', host]).stdout, 'dropped\nsecret\nthrough-abs\nthrough-rel\n');
    // Hard links to the secret's path, however spelt, link the container's file of that path.
    for (const linkname of ['../../../../../../..' + secret, secret, '/etc/../../' + secret]) {
      r = await api(d, 'PUT', '/containers/box/archive?path=/', await makeTar([{ name: 'hl', type: 'link', linkname }]));
      assert.equal(r.status, 200, `hard link to ${linkname}: ${r.body}`);
      assert.equal(d.berth(['exec', 'box', 'cat', '/hl']).stdout, 'CONTAINER FILE\n');
    }
    // A path only the host has is no link target.
    writeFileSync(join(host, 'only-on-host'), 'host\n');
    r = await api(d, 'PUT', '/containers/box/archive?path=/', await makeTar([{ name: 'hl2', type: 'link', linkname: '../../..' + join(host, 'only-on-host') }]));
    assert.equal(r.status, 400, r.body.toString());
    assert.match(message(r), /does not exist/);
    rmSync(join(host, 'only-on-host'));
    // A hard link to a file of the container is fine.
    r = await api(d, 'PUT', '/containers/box/archive?path=/tmp', await makeTar([{ name: 'hl-ok', type: 'link', linkname: 'esc/through-abs' }]));
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(d.berth(['exec', 'box', 'cat', '/tmp/hl-ok']).stdout, 'a');
    hostUntouched();
  });

  test('volumes and binds mounted in a running container: cp in and out goes through the mount; :ro refuses', async () => {
    const bind = mkdtempSync('/tmp/berth-cp-bind-');
    try {
      let r = d.berth(['run', '-d', '--name', 'vols', '-v', 'cpvol:/data', '-v', `${bind}:/bind`, '-v', 'cpro:/ro:ro', 'busybox', 'sleep', '1000']);
      assert.equal(r.code, 0, r.stderr);
      const local = mkdtempSync('/tmp/berth-cp-src-');
      mkdirSync(join(local, 'tree'));
      writeFileSync(join(local, 'tree', 'f'), 'in a volume\n');
      r = d.berth(['cp', join(local, 'tree'), 'vols:/data/']);
      assert.equal(r.code, 0, r.stderr);
      r = d.berth(['cp', join(local, 'tree', 'f'), 'vols:/bind/g']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(bind, 'g'), 'utf8'), 'in a volume\n', 'the bind\'s host directory has it');
      // The volume has it: another container sees it; the container's own layer does not.
      assert.equal(d.berth(['run', '--rm', '-v', 'cpvol:/x', 'busybox', 'cat', '/x/tree/f']).stdout, 'in a volume\n');
      assert.deepEqual(d.berth(['diff', 'vols']).stdout.split('\n').filter(Boolean), ['A /bind', 'A /data', 'A /ro']);
      if (DOCKER) {
        // The docker CLI, the same way in and out of the mounts.
        r = d.docker(['cp', join(local, 'tree', 'f'), 'vols:/bind/from-docker']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(readFileSync(join(bind, 'from-docker'), 'utf8'), 'in a volume\n');
        r = d.docker(['cp', 'vols:/data/tree', join(local, 'back')]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(readFileSync(join(local, 'back', 'f'), 'utf8'), 'in a volume\n');
        r = d.docker(['cp', join(local, 'tree', 'f'), 'vols:/ro/']);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error response from daemon: mounted volume is marked read-only\n');
      }
      r = d.berth(['cp', join(local, 'tree', 'f'), 'vols:/ro/']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'Error response from daemon: mounted volume is marked read-only\n');
      // Out: the root's tar walks into the mounts, as dockerd's view has them.
      writeFileSync(join(bind, 'live'), 'from the host\n');
      const all = await api(d, 'GET', '/containers/vols/archive?path=/');
      const names = spawnSync('tar', ['-t'], { input: all.body, encoding: 'utf8' }).stdout.split('\n');
      for (const n of ['/data/tree/f', '/bind/g', '/bind/live']) assert.ok(names.includes(n), `${n} in the tar of /`);
      r = d.berth(['cp', 'vols:/bind/live', '-']);
      assert.equal(spawnSync('tar', ['-xO'], { input: Buffer.from(r.stdout, 'latin1'), encoding: 'utf8' }).stdout, 'from the host\n');
      // export is the container's own filesystem: mount points, not what is mounted on them (as dockerd).
      const exported = spawnSync(BERTH, ['-H', d.host, 'export', 'vols'], { maxBuffer: 64 << 20 }).stdout;
      const exportedNames = spawnSync('tar', ['-t'], { input: exported, encoding: 'utf8' }).stdout.split('\n');
      assert.ok(exportedNames.includes('data/') && exportedNames.includes('etc/passwd'), 'export has the mount points and the rootfs');
      assert.ok(!exportedNames.some((n) => n.startsWith('data/tree') || n.startsWith('bind/g')), 'export leaves volume and bind content out');
      // A tar with a file where a mount point is: refused, the volume untouched.
      const bad = await api(d, 'PUT', '/containers/vols/archive?path=/', await makeTar([{ name: 'data', content: 'x' }]));
      assert.equal(bad.status, 400);
      assert.equal(message(bad), 'cannot overwrite mount point "/data"');
      // Stopped: the same paths still go to the volume.
      assert.equal(d.berth(['stop', '-t', '0', 'vols']).code, 0);
      r = d.berth(['cp', join(local, 'tree', 'f'), 'vols:/data/while-stopped']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(d.berth(['run', '--rm', '-v', 'cpvol:/x', 'busybox', 'cat', '/x/while-stopped']).stdout, 'in a volume\n');
      // commit leaves volume and bind data out.
      const img = d.berth(['commit', 'vols', 'cp-commit:1']);
      assert.equal(img.code, 0, img.stderr);
      assert.equal(d.berth(['run', '--rm', 'cp-commit:1', 'sh', '-c', 'ls -A /data /bind']).stdout, '/bind:\n\n/data:\n');
      rmSync(local, { recursive: true, force: true });
    } finally {
      d.berth(['rm', '-f', 'vols']);
      rmSync(bind, { recursive: true, force: true });
    }
  });

  test('abandoned GET and PUT streams of a stopped container leave no fds and no mounts', async () => {
    assert.equal(d.berth(['create', '--name', 'cold', 'busybox', 'true']).code, 0);
    const tarOfBig = await makeTar([{ name: 'big', content: randomBytes(32 << 20) }]);
    assert.equal((await api(d, 'PUT', '/containers/cold/archive?path=/', tarOfBig)).status, 200);
    const pid = Number(readFileSync(d.pidFile, 'utf8'));
    const exportsDir = join(d.execRoot, 'exports');
    const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(exportsDir + '/'));
    const base = fdCount(pid);
    for (let i = 0; i < 5; i++) {
      // GET: read a little of the tar, then go away.
      await new Promise<void>((resolve) => {
        const s = connect(d.socket);
        let got = 0;
        s.on('data', (c: Buffer) => {
          got += c.length;
          if (got > 256 * 1024) s.destroy();
        });
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.write('GET /containers/cold/archive?path=/big HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      // PUT: announce the whole tar, send part of it, go away.
      await new Promise<void>((resolve) => {
        const s = connect(d.socket);
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.write(`PUT /containers/cold/archive?path=/tmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: ${tarOfBig.length}\r\n\r\n`);
        s.write(tarOfBig.subarray(0, 1 << 20), () => setTimeout(() => s.destroy(), 50));
      });
    }
    const deadline = Date.now() + 15_000;
    while ((fdCount(pid) > base + 5 || mounted().length > 0 || readdirSync(exportsDir).length > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(fdCount(pid) <= base + 5, `daemon fds back near ${base} (now ${fdCount(pid)}: ${fdTargets(pid)})`);
    assert.deepEqual(mounted(), []);
    assert.deepEqual(readdirSync(exportsDir), []);
    // And the container still answers; the daemon is the same process.
    assert.equal((await api(d, 'HEAD', '/containers/cold/archive?path=/big')).status, 200);
    assert.ok(existsSync(`/proc/${pid}`));
  });
});
