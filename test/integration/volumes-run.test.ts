// Volumes, binds and tmpfs in real containers through berth's own CLI: what a
// user sees in the container, in inspect, and in `volume ls` after rm.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs } from '../helpers/build.ts';

describe('volumes and mounts in containers (berth CLI)', () => {
  let d: TestDaemon;
  const dirs = new TestDirs();
  const volumes = () => d.berth(['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean).sort();
  const ok = (args: string[]) => {
    const r = d.berth(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    d = await startSeededDaemon();
    // An image whose VOLUME has content, with an owner and mode to keep.
    const ctx = dirs.context({
      Dockerfile: 'FROM busybox\nRUN mkdir -p /seed/sub && echo seeded > /seed/a && chown 1000:1001 /seed/a && chmod 640 /seed/a && chmod 710 /seed/sub\nVOLUME /seed\n',
    });
    ok(['build', '-q', '-t', 'seeded', ctx]);
  });
  after(async () => {
    await d.destroy();
    dirs.removeAll();
  });

  test('a named volume keeps its files across containers, and rm never removes it', () => {
    ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f']);
    ok(['run', '--name', 'writer', '-v', 'keep:/data', 'busybox', 'true']);
    ok(['rm', '-v', 'writer']);
    assert.ok(volumes().includes('keep'), 'rm -v leaves a named volume');
    assert.equal(ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f']), 'kept\n');
    ok(['volume', 'rm', 'keep']);
  });

  test('inspect shows Mounts as dockerd does, and HostConfig.Binds/Mounts as sent', () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-bind-'));
    ok(['create', '--name', 'shape', '-v', 'shapevol:/data', '-v', `${host}:/host:ro`, '--mount', 'type=tmpfs,dst=/t,tmpfs-size=1m', 'busybox']);
    const c = JSON.parse(ok(['inspect', 'shape']))[0];
    const mountpoint = JSON.parse(ok(['volume', 'inspect', 'shapevol']))[0].Mountpoint;
    const byDest = Object.fromEntries(c.Mounts.map((m: { Destination: string }) => [m.Destination, m]));
    assert.deepEqual(byDest['/data'], { Type: 'volume', Name: 'shapevol', Source: mountpoint, Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' });
    assert.deepEqual(byDest['/host'], { Type: 'bind', Source: host, Destination: '/host', Mode: 'ro', RW: false, Propagation: 'rprivate' });
    assert.deepEqual(byDest['/t'], { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' });
    assert.deepEqual(c.HostConfig.Binds, ['shapevol:/data', `${host}:/host:ro`]);
    assert.deepEqual(c.HostConfig.Mounts, [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576 } }]);
    ok(['rm', 'shape']);
    ok(['volume', 'rm', 'shapevol']);
  });

  test("an anonymous volume is filled from the image, keeps owners and modes, and goes with rm -v", () => {
    const before = volumes();
    const out = ok(['run', '--name', 'anon', 'seeded', 'sh', '-c', 'cat /seed/a; stat -c "%u:%g %a" /seed/a /seed/sub; echo more > /seed/b']);
    assert.equal(out, 'seeded\n1000:1001 640\n0:0 710\n');
    const c = JSON.parse(ok(['inspect', 'anon']))[0];
    assert.equal(c.Mounts.length, 1);
    const anon = c.Mounts[0];
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual({ ...anon, Name: '', Source: '' }, { Type: 'volume', Name: '', Source: '', Destination: '/seed', Driver: 'local', Mode: '', RW: true, Propagation: '' });
    assert.equal(readFileSync(join(anon.Source, 'b'), 'utf8'), 'more\n', 'the volume holds what the container wrote');
    assert.deepEqual(volumes(), [...before, anon.Name].sort());
    ok(['rm', '-v', 'anon']);
    assert.deepEqual(volumes(), before);
    assert.equal(existsSync(anon.Source), false);
  });

  test('rm without -v keeps the anonymous volume; run --rm removes it but not a named one', () => {
    const before = volumes();
    ok(['run', '--name', 'anon2', 'seeded', 'true']);
    ok(['rm', 'anon2']);
    const left = volumes().filter((v) => !before.includes(v));
    assert.equal(left.length, 1);
    ok(['volume', 'rm', left[0]]);
    ok(['run', '--rm', '-v', 'named-rm:/named', 'seeded', 'true']);
    assert.deepEqual(volumes(), [...before, 'named-rm'].sort());
    ok(['volume', 'rm', 'named-rm']);
  });

  test('a named volume is filled only while empty, and never with volume-nocopy', () => {
    assert.equal(ok(['run', '--rm', '-v', 'filled:/seed', 'seeded', 'sh', '-c', 'cat /seed/a; echo mine > /seed/a']), 'seeded\n');
    assert.equal(ok(['run', '--rm', '-v', 'filled:/seed', 'seeded', 'cat', '/seed/a']), 'mine\n', 'not copied over again');
    assert.equal(ok(['run', '--rm', '--mount', 'type=volume,src=nocopy,dst=/seed,volume-nocopy', 'seeded', 'ls', '-A', '/seed']), '');
    assert.equal(ok(['run', '--rm', '-v', 'nocopy2:/seed:nocopy', 'seeded', 'ls', '-A', '/seed']), '');
    ok(['volume', 'rm', 'filled', 'nocopy', 'nocopy2']);
  });

  test("a volume's events are dockerd's: create, then mount at start and unmount at stop (none for the copy-up)", () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    ok(['run', '--rm', '-v', 'evvol:/seed', 'seeded', 'true']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const ev = ok(['events', '--since', String(since), '--until', String(until), '--filter', 'type=volume', '--format', '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.destination}}']);
    assert.deepEqual(ev.split('\n').filter((l) => l.includes(' evvol')), ['create evvol <no value>', 'mount evvol /seed', 'unmount evvol <no value>']);
    ok(['volume', 'rm', 'evvol']);
  });

  test('a local volume with tmpfs options is mounted for the container and unmounted when it stops', () => {
    ok(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=2m', 'tvol']);
    const data = JSON.parse(ok(['volume', 'inspect', 'tvol']))[0].Mountpoint;
    const hostMounted = () => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === data);
    ok(['run', '-d', '--name', 'tuser', '-v', 'tvol:/data', 'busybox', 'sleep', '60']);
    assert.match(ok(['exec', 'tuser', 'grep', ' /data ', '/proc/mounts']), /^tmpfs \/data tmpfs rw,.*size=2048k/);
    assert.ok(hostMounted(), 'mounted on the host while the container runs');
    ok(['rm', '-f', 'tuser']);
    assert.ok(!hostMounted(), 'unmounted once no container uses it');
    ok(['volume', 'rm', 'tvol']);
  });

  test('volume-subpath mounts a directory of the volume', () => {
    ok(['run', '--rm', '-v', 'subs:/v', 'busybox', 'sh', '-c', 'mkdir /v/inner && echo in > /v/inner/f']);
    assert.equal(ok(['run', '--rm', '--mount', 'type=volume,src=subs,dst=/s,volume-subpath=inner', 'busybox', 'cat', '/s/f']), 'in\n');
    const r = d.berth(['run', '--rm', '--mount', 'type=volume,src=subs,dst=/s,volume-subpath=missing', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /subpath missing does not exist in the volume/);
    // Symlinks in the volume resolve inside it: never to the host's /etc or /.
    ok(['run', '--rm', '-v', 'subs:/v', 'busybox', 'sh', '-c', 'ln -s /etc /v/abs && ln -s ../../.. /v/up']);
    const abs = d.berth(['run', '--rm', '--mount', 'type=volume,src=subs,dst=/s,volume-subpath=abs', 'busybox', 'ls', '/s']);
    assert.equal(abs.code, 125);
    assert.match(abs.stderr, /subpath abs does not exist in the volume/);
    assert.deepEqual(ok(['run', '--rm', '--mount', 'type=volume,src=subs,dst=/s,volume-subpath=up', 'busybox', 'ls', '/s']).split('\n').filter(Boolean), ['abs', 'inner', 'up'], 'up/../.. stops at the volume root');
    // A new empty subpath is filled from the image as a volume would be.
    ok(['run', '--rm', '-v', 'subs:/v', 'busybox', 'mkdir', '/v/empty']);
    assert.equal(ok(['run', '--rm', '--mount', 'type=volume,src=subs,dst=/seed,volume-subpath=empty', 'seeded', 'cat', '/seed/a']), 'seeded\n');
    assert.equal(ok(['run', '--rm', '-v', 'subs:/v', 'busybox', 'cat', '/v/empty/a']), 'seeded\n');
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    assert.ok(!mounts.includes(join(d.execRoot, 'subpaths')), 'no staging bind is left after the start');
    ok(['volume', 'rm', 'subs']);
  });

  test('a data container shares its volume with --volumes-from, and :ro refuses writes', () => {
    ok(['create', '-v', '/data', '--name', 'store', 'busybox']);
    ok(['run', '--rm', '--volumes-from', 'store', 'busybox', 'sh', '-c', 'echo shared > /data/s']);
    const r = d.berth(['run', '--rm', '--volumes-from', 'store:ro', 'busybox', 'sh', '-c', 'cat /data/s; echo x > /data/t']);
    assert.equal(r.stdout, 'shared\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Read-only file system/);
    const name = JSON.parse(ok(['inspect', 'store']))[0].Mounts[0].Name;
    ok(['run', '--name', 'user2', '--volumes-from', 'store', 'busybox', 'true']);
    ok(['rm', '-v', 'store']);
    assert.ok(volumes().includes(name), 'still used by user2: rm -v of store keeps it');
    ok(['rm', '-v', 'user2']);
    assert.ok(!volumes().includes(name), 'the last container that used it took it with rm -v');
  });

  test('a bind sees host changes while the container runs; :ro refuses writes; -v creates a missing host dir', async () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-bind-'));
    const child = d.spawnBerth(['run', '--rm', '-v', `${host}:/h`, 'busybox', 'sh', '-c', 'while [ ! -f /h/go ]; do sleep 0.05; done; cat /h/go; echo back > /h/reply']);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b; });
    const done = new Promise<number>((r) => child.once('close', (c) => r(c ?? -1)));
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(join(host, 'go'), 'from host\n');
    assert.equal(await done, 0);
    assert.equal(out, 'from host\n');
    assert.equal(readFileSync(join(host, 'reply'), 'utf8'), 'back\n');

    const ro = d.berth(['run', '--rm', '-v', `${host}:/h:ro`, 'busybox', 'sh', '-c', 'cat /h/go && touch /h/x']);
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /Read-only file system/);
    assert.equal(existsSync(join(host, 'x')), false);

    const missing = join(host, 'new', 'dir');
    ok(['run', '--rm', '-v', `${missing}:/m`, 'busybox', 'touch', '/m/made']);
    assert.ok(existsSync(join(missing, 'made')));
  });

  test("--mount binds: a missing source is refused, readonly and bind-recursive honoured, ./relative made absolute", () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-bind-'));
    const r = d.berth(['run', '--rm', '--mount', `type=bind,src=${host}/nope,dst=/x`, 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr, `berth: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${host}/nope\n`);
    assert.equal(existsSync(join(host, 'nope')), false);
    const ro = d.berth(['run', '--rm', '--mount', `type=bind,source=${host},target=/x,readonly`, 'busybox', 'touch', '/x/f']);
    assert.match(ro.stderr, /Read-only file system/);
    const mi = ok(['run', '--rm', '--mount', `type=bind,src=${host},dst=/x,bind-recursive=disabled,bind-propagation=rprivate`, 'busybox', 'grep', ' /x ', '/proc/self/mountinfo']);
    assert.match(mi, / \/x rw/);
    // As the docker CLI, `./` and `.` are taken from the CLI's working directory.
    writeFileSync(join(host, 'rel'), 'relative\n');
    const inDir = spawnSync(BERTH, ['-H', d.host, 'run', '--rm', '-v', './:/r', '--mount', 'type=bind,src=.,dst=/m', 'busybox', 'cat', '/r/rel', '/m/rel'], { cwd: host, encoding: 'utf8' });
    assert.equal(inDir.stdout, 'relative\nrelative\n', inDir.stderr);
  });

  test("a read-only bind is read-only in its submounts too (Docker 25+'s rro), unless bind-recursive=writable", () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-rro-'));
    const sub = join(host, 'sub');
    mkdirSync(sub);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', sub]).status, 0);
    try {
      const rro = d.berth(['run', '--rm', '-v', `${host}:/h:ro`, 'busybox', 'touch', '/h/sub/f']);
      assert.equal(rro.code, 1);
      assert.match(rro.stderr, /Read-only file system/);
      ok(['run', '--rm', '--mount', `type=bind,src=${host},dst=/h,readonly,bind-recursive=writable`, 'busybox', 'touch', '/h/sub/f']);
      assert.ok(existsSync(join(sub, 'f')));
      const top = d.berth(['run', '--rm', '--mount', `type=bind,src=${host},dst=/h,readonly,bind-recursive=writable`, 'busybox', 'touch', '/h/top']);
      assert.match(top.stderr, /Read-only file system/, 'the bind itself stays read-only');
    } finally {
      spawnSync('umount', ['-l', sub]);
    }
  });

  test('tmpfs mounts are tmpfs of the asked size and mode', () => {
    const t = ok(['run', '--rm', '--tmpfs', '/run:size=64m', 'busybox', 'grep', ' /run ', '/proc/mounts']);
    assert.match(t, /^tmpfs \/run tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k/);
    const m = ok(['run', '--rm', '--mount', 'type=tmpfs,dst=/scratch,tmpfs-size=2m,tmpfs-mode=1770', 'busybox', 'sh', '-c', 'grep " /scratch " /proc/mounts; stat -c %a /scratch']);
    assert.match(m, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k,mode=1770 0 0\n1770\n$/);
    const shm = ok(['run', '--rm', '--tmpfs', '/dev/shm:size=1m', 'busybox', 'grep', ' /dev/shm ', '/proc/mounts']);
    assert.equal(shm.split('\n').filter(Boolean).length, 1, 'replaces the default /dev/shm');
    assert.match(shm, /size=1024k/);
    // A --tmpfs beats a --mount of the same target, as in dockerd (a -v bind there is a duplicate).
    const both = ok(['run', '--rm', '--tmpfs', '/both:size=1m', '--mount', 'type=volume,src=tmpfs-wins,dst=/both', 'busybox', 'grep', ' /both ', '/proc/mounts']);
    assert.match(both, /^tmpfs \/both tmpfs .*size=1024k/);
    assert.equal(both.split('\n').filter(Boolean).length, 1);
    d.berth(['volume', 'rm', 'tmpfs-wins']);
  });

  test('a build RUN gets no anonymous volume from the image: VOLUME is metadata there', () => {
    const before = volumes();
    const ctx = dirs.context({ Dockerfile: 'FROM seeded\nRUN echo during-build > /seed/built\n' });
    ok(['build', '-q', '-t', 'seeded2', ctx]);
    assert.deepEqual(volumes(), before);
    assert.equal(ok(['run', '--rm', 'seeded2', 'cat', '/seed/built']), 'during-build\n', 'the RUN wrote the image, as BuildKit');
    assert.deepEqual(volumes(), before);
  });

  test('ps --filter volume= matches a volume\'s name or a mount\'s destination', () => {
    d.berth(['create', '--name', 'vf-named', '-v', 'vf-data:/srv', 'busybox', 'true']);
    d.berth(['create', '--name', 'vf-anon', '-v', '/cache', 'busybox', 'true']);
    const names = (v: string) => d.berth(['ps', '-a', '--filter', `volume=${v}`, '--format', '{{.Names}}']).stdout.trim().split('\n').sort().join(',');
    assert.equal(names('vf-data'), 'vf-named');
    assert.equal(names('/cache'), 'vf-anon');
    d.berth(['rm', '-v', 'vf-named', 'vf-anon']);
  });

  test('volume rm of a volume in use is a 409 with dockerd\'s message', () => {
    const id = ok(['create', '-v', 'busy:/b', 'busybox']).trim();
    const r = d.berth(['volume', 'rm', 'busy']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error response from daemon: remove busy: volume is in use - [${id}]\n`);
    ok(['rm', id]);
    ok(['volume', 'rm', 'busy']);
  });

  test('bad input is refused with dockerd\'s wording, leaving no container and no volume', () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-bind-'));
    const before = volumes();
    const cases: [string[], string][] = [
      [['-v', '/a:/x', '-v', '/b:/x'], 'Duplicate mount point: /x'],
      [['-v', 'dup:/x', '--mount', 'type=volume,src=dup2,dst=/x'], 'Duplicate mount point: /x'],
      [['-v', '/a:rel'], `invalid volume specification: '/a:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [['-v', 'vol:/x:bogus'], 'invalid mode: bogus'],
      [['-v', '/x:rw'], "invalid volume specification: '/x:rw'"],
      [['-v', 'a:b:c:d'], "invalid volume specification: 'a:b:c:d'"],
      [['--mount', 'type=volume,dst=rel'], `invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`],
      [['--mount', 'type=bind,src=/tmp,dst=/'], `invalid mount config for type "bind": invalid specification: destination can't be '/'`],
      [['--mount', 'type=volume,dst=/x,volume-subpath=../up,src=v'], 'invalid mount config for type "volume": subpath must be a relative path within the volume'],
      [['-v', 'a/b:/x'], 'create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [['--mount', 'type=volume,src=a/../b,dst=/x'], 'create a/../b: "a/../b" includes invalid characters for a local volume name'],
      [['--volumes-from', 'nosuch'], 'No such container: nosuch'],
      [['--volumes-from', 'nosuch:rshared'], 'invalid mode: rshared'],
      [['--tmpfs', 'rel'], "invalid mount path: 'rel' mount path must be absolute"],
      [['-v', 'good:/g', '-v', `${host}/f:/g2`, '--volumes-from', 'nosuch'], 'No such container: nosuch'],
      [['-v', `${d.dataRoot}:/dr:private`], `invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: "${d.dataRoot}", bind mount source: "${d.dataRoot}", propagation: "private"`],
    ];
    for (const [flags, msg] of cases) {
      const r = d.berth(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, flags.join(' '));
      assert.ok(r.stderr.startsWith(`berth: Error response from daemon: ${msg}`), `${flags.join(' ')}: ${r.stderr}`);
    }
    const cli: [string[], string][] = [
      [['--mount', 'type=bind,src=/tmp,dst=/x,bogus=1'], `invalid argument "type=bind,src=/tmp,dst=/x,bogus=1" for "--mount" flag: unknown option 'bogus' in 'bogus=1'`],
      [['--mount', 'type=tmpfs,dst=/x,volume-nocopy'], `invalid argument "type=tmpfs,dst=/x,volume-nocopy" for "--mount" flag: cannot mix 'volume-*' options with mount type 'tmpfs'`],
      [['--mount', 'type=bind,src=/tmp'], `invalid argument "type=bind,src=/tmp" for "--mount" flag: target is required`],
      [['--mount', 'type=bind,src=/tmp,dst=/x,bind-recursive=readonly'], `option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction`],
      [['-v', 'ab:cd:ef:gh'], 'invalid spec: ab:cd:ef:gh: too many colons'],
      [['-v', 'ab::cd'], 'invalid spec: ab::cd: empty section between colons'],
    ];
    for (const [flags, msg] of cli) {
      const r = d.berth(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, flags.join(' '));
      assert.ok(r.stderr.includes(msg), `${flags.join(' ')}: ${r.stderr}`);
    }
    assert.equal(existsSync(join(host, 'f')), false, 'no bind source was created for a refused container');
    assert.equal(d.berth(['ps', '-aq']).stdout, '');
    assert.deepEqual(volumes(), before, 'no volume made by a refused create');
  });

  test('binds of / and of the data root work as Docker allows them', () => {
    assert.equal(ok(['run', '--rm', '-v', '/:/host:ro', 'busybox', 'cat', '/host/proc/self/comm']).trim(), 'cat');
    const ls = ok(['run', '--rm', '-v', `${d.dataRoot}:/dr:ro`, 'busybox', 'ls', '/dr']);
    assert.match(ls, /^containers$/m);
    assert.match(ls, /^volumes$/m);
  });
});

