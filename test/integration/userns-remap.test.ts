// Daemon userns-remap (ADR 0005): a daemon started with `--userns-remap
// default` runs containers with their root mapped to dockremap's subordinate
// range; what they write to binds and volumes is owned by that range on the
// host, the image's files look like the image's inside, the layers on disk
// stay unshifted (a commit is the same as without remap), --userns=host opts
// out, and what dockerd refuses under remap or as a bad setting is refused
// with its words.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, run, TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

/** dockremap's first subordinate uid and gid (the daemon makes the user and ranges if missing). */
function dockremapStart(file: string): number {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('dockremap:'));
  assert.ok(line, `no dockremap range in ${file}`);
  return Number(line.split(':')[1]);
}

describe('userns-remap', () => {
  let d: TestDaemon;
  let uid0: number;
  let gid0: number;
  let bind: string;
  before(async () => {
    d = new TestDaemon(['--userns-remap', 'default']);
    // As with dockerd, the remapped root must be able to search the way to the roots (mkdtemp makes it 0700).
    chmodSync(d.dir, 0o711);
    await d.start();
    d.seedBusybox();
    uid0 = dockremapStart('/etc/subuid');
    gid0 = dockremapStart('/etc/subgid');
    bind = join(d.dir, 'bind');
    mkdirSync(bind);
    chmodSync(bind, 0o777);
  });
  after(async () => { await d.destroy(); });

  test('the container\'s root is uid 0 inside and the range on the host; the image\'s files are root\'s inside', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c "%u:%g %a" /bin/busybox /etc/passwd; head -1 /etc/passwd']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.deepEqual(lines.slice(0, 4), ['0', '0', `0 ${uid0} 65536`, `0 ${gid0} 65536`]);
    assert.deepEqual(lines.slice(4, 7), ['0:0 755', '0:0 644', 'root:x:0:0:root:/root:/bin/sh']);
    // Seen from the host, its process runs as the range's first uid.
    d.berth(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '600']);
    const pid = d.berth(['inspect', '-f', '{{.State.Pid}}', 'sleeper']).stdout.trim();
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${uid0}\\s+${uid0}\\s+${uid0}\\s+${uid0}$`, 'm'));
    // Its state is reachable by the remapped root's group, by no one else.
    const x = statSync(d.execRoot);
    assert.deepEqual([x.mode & 0o777, x.uid, x.gid], [0o710, 0, gid0]);
    // exec joins the same namespace.
    assert.equal(d.berth(['exec', 'sleeper', 'cat', '/proc/self/uid_map']).stdout.trim().split(/\s+/).join(' '), `0 ${uid0} 65536`);
    d.berth(['rm', '-f', 'sleeper']);
  });

  test('files the container writes to a bind and to a volume are owned by the range on the host', () => {
    const r = d.berth(['run', '--rm', '-v', `${bind}:/b`, '-v', 'data:/v', 'busybox', 'sh', '-c', 'echo a > /b/f && echo b > /v/f && chown 1000:1000 /v && touch /b/g && chown 7:8 /b/g']);
    assert.equal(r.code, 0, r.stderr);
    const f = statSync(join(bind, 'f'));
    assert.deepEqual([f.uid, f.gid], [uid0, gid0]);
    const g = statSync(join(bind, 'g'));
    assert.deepEqual([g.uid, g.gid], [uid0 + 7, gid0 + 8]);
    const vol = d.berth(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'data']).stdout.trim();
    const v = statSync(join(vol, 'f'));
    assert.deepEqual([v.uid, v.gid], [uid0, gid0]);
    assert.equal(statSync(vol).uid, uid0 + 1000);
    // A new volume's data belongs to the remapped root, so the container's root can write to it.
    d.berth(['volume', 'create', 'fresh']);
    const fresh = statSync(d.berth(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'fresh']).stdout.trim());
    assert.deepEqual([fresh.uid, fresh.gid], [uid0, gid0]);
  });

  test('a volume filled from the image (copy-up) is owned as the container sees the image', () => {
    const r = d.berth(['run', '--rm', '-v', 'etc:/etc', 'busybox', 'stat', '-c', '%u:%g', '/etc/passwd']);
    assert.equal(r.stdout.trim(), '0:0', r.stderr);
    const vol = d.berth(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'etc']).stdout.trim();
    const st = statSync(join(vol, 'passwd'));
    assert.deepEqual([st.uid, st.gid], [uid0, gid0]);
  });

  test('the layers stay unshifted: a commit of a remapped container has its files owned as inside', () => {
    const r = d.berth(['run', '--name', 'writer', 'busybox', 'sh', '-c', 'mkdir /made && touch /made/root-file && touch /made/user-file && chown 1234:4321 /made/user-file && rm /bin/ls']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['commit', 'writer', 'made:1']).code, 0);
    d.berth(['rm', 'writer']);
    // Read back without any mapping: the owners are the container's IDs, not the range's.
    const host = d.berth(['run', '--rm', '--userns', 'host', 'made:1', 'sh', '-c', 'stat -c "%u:%g %n" /made/root-file /made/user-file; test -e /bin/ls || echo ls-gone']);
    assert.equal(host.stdout, '0:0 /made/root-file\n1234:4321 /made/user-file\nls-gone\n', host.stderr);
  });

  test('cp and export show and take owners as the container sees them, running or stopped', () => {
    const src = join(d.dir, 'cp-src');
    mkdirSync(src);
    writeFileSync(join(src, 'in'), 'x');
    d.berth(['run', '-d', '--name', 'cpbox', '-v', 'cpvol:/vol', 'busybox', 'sh', '-c', 'touch /own /vol/own && chown 1234:4321 /own /vol/own && exec sleep 600']);
    for (let i = 0; i < 50 && d.berth(['exec', 'cpbox', 'test', '-e', '/vol/own']).code !== 0; i++) run('sleep', ['0.1']);
    for (const state of ['running', 'stopped']) {
      if (state === 'stopped') d.berth(['stop', '-t', '0', 'cpbox']);
      const listing = (path: string) => run('tar', ['-tvf', '-', '--numeric-owner'], { input: d.berth(['cp', `cpbox:${path}`, '-']).stdout });
      assert.match(listing('/own').stdout, /^-\S+ 1234\/4321 /m, state);
      assert.match(listing('/vol/own').stdout, /^-\S+ 1234\/4321 /m, state);
      assert.match(listing('/etc/passwd').stdout, /^-\S+ 0\/0 /m, state);
      // In: a tar's owners (cp -a keeps them; plain cp makes them root's) are the container's IDs.
      assert.equal(d.berth(['cp', '-a', join(src, 'in'), `cpbox:/in-${state}`]).code, 0);
    }
    assert.equal(d.berth(['export', '-o', join(d.dir, 'export.tar'), 'cpbox']).code, 0);
    const exported = run('tar', ['-tvf', join(d.dir, 'export.tar'), '--numeric-owner']).stdout;
    assert.match(exported, /^-\S+ 1234\/4321 .* own$/m);
    assert.match(exported, /^-\S+ 0\/0 .* etc\/passwd$/m);
    d.berth(['start', 'cpbox']);
    const inside = d.berth(['exec', 'cpbox', 'stat', '-c', '%u:%g %n', '/in-running', '/in-stopped']);
    assert.equal(inside.stdout, '0:0 /in-running\n0:0 /in-stopped\n', inside.stderr);
    d.berth(['rm', '-f', 'cpbox']);
  });

  test('container:X (network, IPC, PID) shares the donor\'s user namespace too, as dockerd', () => {
    d.berth(['run', '-d', '--name', 'netdonor', 'busybox', 'sleep', '600']);
    const ns = (args: string[]) => d.berth(args).stdout.trim();
    const joiner = d.berth(['run', '--rm', '--net', 'container:netdonor', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/user; cat /proc/self/uid_map']);
    assert.equal(joiner.code, 0, joiner.stderr);
    const [net, user, map] = joiner.stdout.trim().split('\n');
    assert.equal(net, ns(['exec', 'netdonor', 'readlink', '/proc/self/ns/net']));
    assert.equal(user, ns(['exec', 'netdonor', 'readlink', '/proc/self/ns/user']));
    assert.equal(map.trim().split(/\s+/).join(' '), `0 ${uid0} 65536`);
    // --ipc container:X with a network of its own: its namespace is made in the donor's user namespace, and exec enters it.
    d.berth(['rm', '-f', 'netdonor']);
    d.berth(['run', '-d', '--name', 'ipcdonor', '--ipc', 'shareable', 'busybox', 'sleep', '600']);
    const j = d.berth(['run', '-d', '--name', 'ipcjoiner', '--ipc', 'container:ipcdonor', 'busybox', 'sleep', '600']);
    assert.equal(j.code, 0, j.stderr);
    const seen = d.berth(['exec', 'ipcjoiner', 'sh', '-c', 'readlink /proc/self/ns/ipc; readlink /proc/self/ns/user; ip -o -4 addr show eth0 | wc -l']);
    assert.equal(seen.stdout, `${ns(['exec', 'ipcdonor', 'readlink', '/proc/self/ns/ipc'])}\n${ns(['exec', 'ipcdonor', 'readlink', '/proc/self/ns/user'])}\n1\n`, seen.stderr);
    const ps = d.berth(['run', '--rm', '--pid', 'container:ipcdonor', 'busybox', 'ps', '-o', 'pid,args']);
    assert.match(ps.stdout, /^\s*1 sleep 600$/m, ps.stderr);
    d.berth(['rm', '-f', 'ipcjoiner', 'ipcdonor']);
  });

  test('a build under remap: RUN runs remapped, and the image\'s files are owned as the steps made them', () => {
    const ctx = join(d.dir, 'build-ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'f.txt'), 'copied\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY --chown=42:43 f.txt /f.txt\nRUN cat /proc/self/uid_map > /map && touch /made && chown 7:8 /made\n');
    const b = d.berth(['build', '-q', '-t', 'remapped-build', ctx]);
    assert.equal(b.code, 0, b.stderr);
    const r = d.berth(['run', '--rm', '--userns=host', 'remapped-build', 'sh', '-c', 'stat -c "%u:%g %n" /f.txt /made; cat /map']);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['42:43 /f.txt', '7:8 /made'], r.stderr);
    assert.equal(lines[2].trim().split(/\s+/).join(' '), `0 ${uid0} 65536`);
  });

  test('--userns=host opts out: no mapping, and what it writes is host root\'s', () => {
    const r = d.berth(['run', '--rm', '--userns=host', '-v', `${bind}:/b`, 'busybox', 'sh', '-c', 'cat /proc/self/uid_map; echo h > /b/host-file']);
    assert.equal(r.stdout.trim().split(/\s+/).join(' '), '0 0 4294967295', r.stderr);
    assert.equal(statSync(join(bind, 'host-file')).uid, 0);
    assert.equal(d.berth(['inspect', '-f', '{{.HostConfig.UsernsMode}}', d.berth(['create', '--userns=host', 'busybox']).stdout.trim()]).stdout.trim(), 'host');
  });

  test('docker info shows the remap in SecurityOptions', { skip: !DOCKER }, () => {
    const r = d.docker(['info', '--format', '{{json .SecurityOptions}}']);
    assert.deepEqual(JSON.parse(r.stdout), ['name=seccomp,profile=builtin', 'name=userns']);
  });

  test('dockerd\'s refusals under remap, unless --userns=host; a bad UsernsMode as dockerd', { skip: !DOCKER }, async () => {
    const before = d.berth(['ps', '-aq']).stdout;
    for (const [flags, message] of [
      [['--privileged'], 'privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode'],
      [['--net', 'host'], "cannot share the host's network namespace when user namespaces are enabled"],
      [['--pid', 'host'], 'cannot share the host PID namespace when user namespaces are enabled'],
    ] as const) {
      const r = d.docker(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`Error response from daemon: ${message.replace(/[.()]/g, '\\$&')}`), flags.join(' '));
    }
    // The docker CLI checks --userns itself; the API answers as dockerd.
    const bad = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', HostConfig: { UsernsMode: 'private' } });
    assert.deepEqual([bad.status, JSON.parse(bad.body)], [400, { message: 'invalid USER mode: private' }]);
    const priv = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', HostConfig: { Privileged: true } });
    assert.equal(priv.status, 400);
    assert.equal(d.berth(['ps', '-aq']).stdout, before, 'nothing was created');
    const ok = d.docker(['run', '--rm', '--privileged', '--userns=host', '--net', 'host', 'busybox', 'cat', '/proc/self/uid_map']);
    assert.equal(ok.stdout.trim().split(/\s+/).join(' '), '0 0 4294967295', ok.stderr);
  });

  test('after a kill -9 the daemon comes back with its remap: running containers keep going, new ones are remapped', async () => {
    d.berth(['run', '-d', '--name', 'survivor', 'busybox', 'sleep', '600']);
    await d.crash();
    await d.start();
    assert.equal(d.berth(['exec', 'survivor', 'cat', '/proc/self/uid_map']).stdout.trim().split(/\s+/).join(' '), `0 ${uid0} 65536`);
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'touch /x && stat -c %u /x']);
    assert.equal(r.stdout, '0\n', r.stderr);
    d.berth(['rm', '-f', 'survivor']);
  });
});

describe('userns-remap settings refused as dockerd refuses them', () => {
  const dirs: string[] = [];
  after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

  function startWith(args: string[], config?: object): { code: number; stderr: string } {
    const dir = mkdtempSync('/tmp/bt-');
    dirs.push(dir);
    const extra = config ? ['--config-file', join(dir, 'daemon.json')] : [];
    if (config) writeFileSync(join(dir, 'daemon.json'), JSON.stringify(config));
    return run(BERTH, ['daemon', '-H', `unix://${join(dir, 's.sock')}`, '--data-root', join(dir, 'd'), '--exec-root', join(dir, 'x'), '--pidfile', join(dir, 'pid'), ...extra, ...args], { timeout: 20_000 });
  }

  test('an exec root the remapped root cannot reach', () => {
    const r = startWith(['--userns-remap', 'default']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /start-up failed: a subdirectory in your exec root path \(\/tmp\/bt-\w+\/x\) restricts access to the remapped root uid\/gid: \/tmp\/bt-\w+; please fix by allowing 'o\+x' permissions/);
  });

  test('malformed, unknown user or group, and a user without subordinate ranges', () => {
    const nobody = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))?.split(':');
    assert.ok(nobody, 'the host has a nobody user');
    for (const [args, config, message] of [
      [['--userns-remap', 'a:b:c'], undefined, 'Invalid user/group specification in --userns-remap: "a:b:c"'],
      [['--userns-remap', 'no-such-user-x'], undefined, 'Error during uid lookup for "no-such-user-x": getent unable to find entry "no-such-user-x" in passwd database'],
      [[], { 'userns-remap': 'dockremap:no-such-group-x' }, 'Error during groupname lookup for "no-such-group-x": getent unable to find entry "no-such-group-x" in group database'],
      [['--userns-remap', '4000000'], undefined, 'Uid 4000000 has no entry in /etc/passwd: getent unable to find entry "4000000" in passwd database'],
      [['--userns-remap', `nobody:${nobody[3]}`], undefined, 'Can\'t create ID mappings: no subuid ranges found for user "nobody"'],
    ] as const) {
      const r = startWith([...args], config);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), `berth daemon: ${message}`);
    }
  });
});
