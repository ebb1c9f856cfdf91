// Build contexts through the real docker CLI (DOCKER_BUILDKIT=0, the classic
// builder's API) and berth's: directories, -f, stdin Dockerfiles and tars in
// every compression, URLs, git repositories, hostile tars, and a 2 GB context
// streamed within bounded daemon memory.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs } from '../helpers/build.ts';
import { serveDir } from '../helpers/serve-dir.ts';
import { serveGit } from '../helpers/git-server.ts';

const LEGACY = { ...process.env, DOCKER_BUILDKIT: '0' };

function tarOf(dir: string, compress: '' | 'z' | 'J' | 'j'): Buffer {
  return execFileSync('tar', [`-c${compress}f`, '-', '-C', dir, '.'], { maxBuffer: 64 << 20 });
}

describe('build contexts', () => {
  let d: TestDaemon;
  const dirs = new TestDirs();
  const ctx = dirs.context;
  before(async () => {
    d = await startSeededDaemon();
  });
  after(async () => {
    await d.destroy();
    dirs.removeAll();
  });

  test('docker build -t x ., -f, --build-arg, --target, -q and --iidfile through the docker CLI', { skip: !DOCKER }, () => {
    const dir = ctx({
      'Dockerfile': 'FROM busybox AS base\nARG MSG=default\nRUN echo "$MSG" > /msg\nFROM base AS final\nCMD ["cat", "/msg"]\n',
      'alt/Other.Dockerfile': 'FROM busybox\nCOPY hello.txt /\nCMD ["cat", "/hello.txt"]\n',
      'hello.txt': 'hello via -f\n',
    });
    const r = d.docker(['build', '-t', 'dk1', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Step 1\/5 : FROM busybox AS base\n ---> [a-f0-9]{12}\n/);
    assert.match(r.stdout, /Step 3\/5 : RUN echo "\$MSG" > \/msg\n ---> Running in [a-f0-9]{12}\n/);
    assert.match(r.stdout, /Successfully built [a-f0-9]{12}\nSuccessfully tagged dk1:latest\n/);
    assert.equal(d.docker(['run', '--rm', 'dk1']).stdout, 'default\n');

    const f = d.docker(['build', '-f', join(dir, 'alt/Other.Dockerfile'), '-t', 'dk2', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(f.code, 0, f.stderr + f.stdout);
    assert.equal(d.docker(['run', '--rm', 'dk2']).stdout, 'hello via -f\n');

    const a = d.docker(['build', '--build-arg', 'MSG=from-arg', '-t', 'dk3', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(d.docker(['run', '--rm', 'dk3']).stdout, 'from-arg\n');

    const t = d.docker(['build', '--target', 'base', '-t', 'dk4', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /Step 3\/3 : RUN/);
    const iid = join(dir, 'iid');
    const q = d.docker(['build', '-q', '--iidfile', iid, dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
    // The docker CLI writes what the quiet stream said (dockerd's `sha256:…\n`).
    assert.equal(readFileSync(iid, 'utf8').trim(), q.stdout.trim());

    const fail = d.docker(['build', dir, '-f', '-'], { env: LEGACY, input: 'FROM busybox\nRUN exit 4\n', timeout: 120_000 });
    assert.equal(fail.code, 4, fail.stderr);
    assert.match(fail.stderr, /The command '\/bin\/sh -c exit 4' returned a non-zero code: 4/);
    const missing = d.docker(['build', '-f', 'nope', dir], { env: LEGACY, timeout: 60_000 });
    assert.notEqual(missing.code, 0);
  });

  test('docker build - < Dockerfile and - < ctx.tar.gz', { skip: !DOCKER }, () => {
    const r = d.docker(['build', '-t', 'dstdin', '-'], { env: LEGACY, input: 'FROM busybox\nRUN echo from-stdin > /s\nCMD ["cat", "/s"]\n', timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(d.docker(['run', '--rm', 'dstdin']).stdout, 'from-stdin\n');
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY data.txt /\nCMD ["cat", "/data.txt"]\n', 'data.txt': 'from a gzipped tar\n' });
    const g = d.docker(['build', '-t', 'dtgz', '-'], { env: LEGACY, input: tarOf(dir, 'z'), timeout: 120_000 });
    assert.equal(g.code, 0, g.stderr + g.stdout);
    assert.equal(d.docker(['run', '--rm', 'dtgz']).stdout, 'from a gzipped tar\n');
  });

  test('berth build - with a Dockerfile, and with tar, tar.gz, tar.xz, tar.bz2; -f - with a directory', () => {
    const r = d.berth(['build', '-t', 'bstdin', '-'], { input: 'FROM busybox\nCMD ["echo", "stdin dockerfile"]\n', timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(d.berth(['run', '--rm', 'bstdin']).stdout, 'stdin dockerfile\n');
    // An empty context: COPY finds nothing.
    const empty = d.berth(['build', '-'], { input: 'FROM busybox\nCOPY x /\n', timeout: 60_000 });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /file not found in build context/);
    for (const c of ['', 'z', 'J', 'j'] as const) {
      const dir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY data.txt /\nCMD ["cat", "/data.txt"]\n', 'data.txt': `compression ${c || 'none'}\n` });
      const b = d.berth(['build', '-t', `btar${c || 'plain'}`.toLowerCase(), '-'], { input: tarOf(dir, c), timeout: 120_000 });
      assert.equal(b.code, 0, `${c}: ${b.stderr}${b.stdout}`);
      assert.equal(d.berth(['run', '--rm', `btar${c || 'plain'}`.toLowerCase()]).stdout, `compression ${c || 'none'}\n`);
    }
    const dir = ctx({ 'data.txt': 'context file\n' });
    const fstdin = d.berth(['build', '-f', '-', '-t', 'bfstdin', dir], { input: 'FROM busybox\nCOPY data.txt /\nCMD ["cat", "/data.txt"]\n', timeout: 120_000 });
    assert.equal(fstdin.code, 0, fstdin.stderr);
    assert.equal(d.berth(['run', '--rm', 'bfstdin']).stdout, 'context file\n');
  });

  // berth's CLI names a context it sent before by its digest when nothing in it changed (by lstat).
  test('an unchanged context is named, not sent; an edit, however quick, is sent; a daemon that lost it gets it whole', async () => {
    const dd = await startSeededDaemon(['--log-level', 'debug']);
    const cache = dirs.track(mkdtempSync('/tmp/berth-xdg-'));
    const env = { ...process.env, XDG_CACHE_HOME: cache };
    try {
      const dir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY f /f\nRUN cat /f\n', 'f': 'one\n' });
      const build = () => dd.berth(['build', '--progress=plain', dir], { env, timeout: 120_000 });
      const named = () => dd.log().split('\n').filter((l) => /POST \/v[\d.]+\/build\?.*contextdigest=sha256%3A[0-9a-f]{64}/.test(l)).length;
      await new Promise((r) => setTimeout(r, 400)); // older than the coarse clock's tick: the context is settled
      const first = build();
      assert.equal(first.code, 0, first.stderr + first.stdout);
      assert.match(first.stdout, /\none\n/);
      assert.equal(named(), 0);
      const second = build();
      assert.equal(second.code, 0, second.stderr + second.stdout);
      assert.match(second.stdout, /Step 3\/3 : RUN cat \/f\n ---> Using cache/);
      assert.equal(named(), 1, 'the second build named the context');
      // Same size, at once: the new bytes are built.
      writeFileSync(join(dir, 'f'), 'two\n');
      const edited = build();
      assert.equal(edited.code, 0, edited.stderr + edited.stdout);
      assert.match(edited.stdout, /\ntwo\n/);
      assert.equal(named(), 1);
      await new Promise((r) => setTimeout(r, 400));
      writeFileSync(join(dir, 'f'), 'six\n');
      await new Promise((r) => setTimeout(r, 400));
      const later = build();
      assert.match(later.stdout, /\nsix\n/);
      // Some files changed: only they are sent, the rest is taken from the last context; a removed one is gone.
      writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /c/\nRUN cat /c/f /c/g; ls /c\n');
      writeFileSync(join(dir, 'g'), 'gee\n');
      writeFileSync(join(dir, 'h'), 'aitch\n');
      await new Promise((r) => setTimeout(r, 400));
      build();
      const onTop = () => dd.log().split('\n').filter((l) => /POST \/v[\d.]+\/build\?.*contextbase=sha256%3A[0-9a-f]{64}/.test(l)).length;
      const deltas = onTop();
      writeFileSync(join(dir, 'g'), 'GEE\n');
      rmSync(join(dir, 'h'));
      await new Promise((r) => setTimeout(r, 400));
      const delta = build();
      assert.equal(delta.code, 0, delta.stderr + delta.stdout);
      assert.equal(onTop(), deltas + 1, 'sent on top of the last context');
      assert.match(delta.stdout, /\nsix\nGEE\nDockerfile\nf\ng\n/);
      // A context on top of another may only take regular files from inside it.
      const base = /contextbase=(sha256%3A[0-9a-f]{64})/.exec(dd.log().split('\n').filter((l) => /contextbase=/.test(l)).at(-1) ?? '')?.[1] as string;
      for (const files of [['../../../../etc/passwd'], ['nonexistent'], ['.']]) {
        const pack = tar.pack();
        const chunks: Buffer[] = [];
        pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
        const done = new Promise<void>((r) => pack.on('end', () => r()));
        pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY . /c/\n');
        pack.entry({ name: '.berth-context-base.json' }, JSON.stringify({ files }));
        pack.finalize();
        await done;
        const r = spawnSync('curl', ['-s', '-w', '\n%{http_code}', '--unix-socket', dd.socket, '-X', 'POST', '-H', 'Content-Type: application/x-tar',
          '--data-binary', '@-', `http://x/build?contextbase=${base}`], { input: Buffer.concat(chunks), encoding: 'utf8' });
        assert.match(r.stdout, /invalid build context on top of an earlier one: .*\n400$/s, `${files[0]}: ${r.stdout}${r.stderr}`);
      }
      // A restarted daemon keeps no contexts: it answers 412 and the CLI sends the tar.
      build();
      await dd.stop();
      // Counted once the daemon is down: its line for the build just before may be written after the CLI exits.
      const before = named();
      await dd.start();
      const again = build();
      assert.equal(again.code, 0, again.stderr + again.stdout);
      assert.match(again.stdout, /Step 3\/3 : RUN cat \/c\/f \/c\/g; ls \/c\n ---> Using cache/);
      assert.equal(named(), before + 1);
    } finally {
      await dd.destroy();
    }
  });

  // A context is unpacked beside the last one, linking the files that did not change: these builds
  // check that a file counts as unchanged only by its bytes, never through the last context's symlinks.
  test('rebuilding with an edited context: new bytes with the same size and mtime are seen; old symlinks lead nowhere', async () => {
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000);
    const outsideDir = mkdtempSync('/tmp/berth-outside-');
    dirs.track(outsideDir);
    const outside = join(outsideDir, 'secret');
    writeFileSync(outside, 'S');
    utimesSync(outside, mtime, mtime);
    const tarWith = async (entries: Array<[string, string] | [string, 'dir'] | [string, '->', string]>) => {
      const pack = tar.pack();
      const chunks: Buffer[] = [];
      pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
      const done = new Promise<void>((r) => pack.on('end', () => r()));
      for (const e of entries) {
        if (e[1] === 'dir') pack.entry({ name: e[0] + '/', type: 'directory', mode: 0o755, mtime });
        else if (e[1] === '->') pack.entry({ name: e[0], type: 'symlink', linkname: e[2], mtime });
        else pack.entry({ name: e[0], mode: 0o644, uid: 0, gid: 0, mtime }, e[1]);
      }
      pack.finalize();
      await done;
      return Buffer.concat(chunks);
    };
    const dockerfile = 'FROM busybox\nCOPY . /ctx/\nRUN cat /ctx/d/f /ctx/same\n';
    const build = (input: Buffer) => d.berth(['build', '--progress=plain', '-'], { input, timeout: 120_000 });
    const first = build(await tarWith([['Dockerfile', dockerfile], ['d', 'dir'], ['d/f', 'aaaa\n'], ['same', 'kept\n']]));
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /aaaa\nkept\n/);
    const second = build(await tarWith([['Dockerfile', dockerfile], ['d', 'dir'], ['d/f', 'bbbb\n'], ['same', 'kept\n']]));
    assert.equal(second.code, 0, second.stderr + second.stdout);
    assert.match(second.stdout, /bbbb\nkept\n/);
    // The last context's d is a symlink to a host directory; the next one's d/secret has the host file's bytes and metadata.
    const lure = build(await tarWith([['Dockerfile', 'FROM busybox\nRUN true\n'], ['d', '->', outsideDir]]));
    assert.equal(lure.code, 0, lure.stderr + lure.stdout);
    const third = build(await tarWith([['Dockerfile', 'FROM busybox\nCOPY d /d\nRUN cat /d/secret\n'], ['d', 'dir'], ['d/secret', 'S']]));
    assert.equal(third.code, 0, third.stderr + third.stdout);
    assert.equal(statSync(outside).nlink, 1, 'the host file was not linked into a context or a layer');
  });

  test('a context tar with ../ entries and absolute links writes nothing outside its directory', async () => {
    const marker = `/tmp/berth-escape-${process.pid}-${Date.now()}`;
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    const done = new Promise<void>((r) => pack.on('end', () => r()));
    pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort\n');
    pack.entry({ name: `../../../../../..${marker}` }, 'escaped');
    pack.entry({ name: 'evil', type: 'symlink', linkname: '/tmp' });
    pack.entry({ name: `evil/${marker.slice(5)}-via-link` }, 'escaped');
    pack.finalize();
    await done;
    const r = d.berth(['build', '--progress=plain', '-'], { input: Buffer.concat(chunks), timeout: 120_000 });
    assert.equal(existsSync(marker), false, 'no file outside the context');
    assert.equal(existsSync(`${marker}-via-link`), false, 'no file through a symlink');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    // The entries were cleaned into the context.
    assert.match(r.stdout, new RegExp(`/ctx${marker.replace(/\//g, '\\/')}\\n`));
  });

  test('http(s) URL contexts: a Dockerfile, and a tarball', async () => {
    const tarDir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY data.txt /\nCMD ["cat", "/data.txt"]\n', 'data.txt': 'from a remote tarball\n' });
    const served = ctx({ 'Dockerfile': 'FROM busybox\nCMD ["echo", "remote dockerfile"]\n' });
    writeFileSync(join(served, 'ctx.tar.gz'), tarOf(tarDir, 'z'));
    const { port, stop } = await serveDir(served);
    try {
      const a = d.berth(['build', '-t', 'urldf', `http://127.0.0.1:${port}/Dockerfile`], { timeout: 120_000 });
      assert.equal(a.code, 0, a.stderr + a.stdout);
      assert.equal(d.berth(['run', '--rm', 'urldf']).stdout, 'remote dockerfile\n');
      const b = d.berth(['build', '-t', 'urltar', `http://127.0.0.1:${port}/ctx.tar.gz`], { timeout: 120_000 });
      assert.equal(b.code, 0, b.stderr + b.stdout);
      assert.equal(d.berth(['run', '--rm', 'urltar']).stdout, 'from a remote tarball\n');
      const missing = d.berth(['build', `http://127.0.0.1:${port}/nothing-here`], { timeout: 60_000 });
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /unable to download remote context/);
    } finally {
      stop();
    }
  });

  test('git contexts: git:// with #ref:subdir', { skip: spawnSync('git', ['--version']).status !== 0 }, async () => {
    const base = mkdtempSync('/tmp/berth-git-');
    dirs.track(base);
    const work = join(base, 'work');
    mkdirSync(join(work, 'sub'), { recursive: true });
    const git = (...args: string[]) => execFileSync('git', ['-C', work, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args]);
    execFileSync('git', ['init', '-q', '-b', 'main', work]);
    writeFileSync(join(work, 'sub/Dockerfile'), 'FROM busybox\nCOPY v.txt /\nCMD ["cat", "/v.txt"]\n');
    writeFileSync(join(work, 'sub/v.txt'), 'on main\n');
    git('add', '.');
    git('commit', '-qm', 'one');
    git('checkout', '-qb', 'feature');
    writeFileSync(join(work, 'sub/v.txt'), 'on feature\n');
    git('commit', '-qam', 'two');
    execFileSync('git', ['clone', '-q', '--bare', work, join(base, 'repo.git')]);
    const server = await serveGit(base);
    const repo = server.gitUrl('repo');
    try {
      const r = d.berth(['build', '-t', 'gitctx', `${repo}#feature:sub`], { timeout: 120_000 });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(d.berth(['run', '--rm', 'gitctx']).stdout, 'on feature\n');
      const m = d.berth(['build', '-t', 'gitmain', `${repo}#main:sub`], { timeout: 120_000 });
      assert.equal(m.code, 0, m.stderr);
      assert.equal(d.berth(['run', '--rm', 'gitmain']).stdout, 'on main\n');
      const bad = d.berth(['build', server.gitUrl('nosuch')], { timeout: 60_000 });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unable to prepare context/);
    } finally {
      await server.stop();
    }
  });

  test('a 2 GB context is streamed: the daemon stays within bounded memory', () => {
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY small.txt /\nRUN cat /small.txt\n', 'small.txt': 'small\n' });
    // A sparse 2 GiB file: every byte of it travels through the tar stream.
    const fd = openSync(join(dir, 'big.bin'), 'w');
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    const pid = Number(readFileSync(join(d.dir, 'berth.pid'), 'utf8'));
    const rssBefore = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
    // Sample the daemon's RSS while the build runs (VmHWM would include start-up peaks).
    // Outside the context: a file growing inside it would be sent while it changes.
    const samples = join(dirs.track(mkdtempSync('/tmp/berth-rss-')), 'rss.log');
    const sampler = spawn('sh', ['-c', `while kill -0 ${pid} 2>/dev/null; do grep VmRSS /proc/${pid}/status >> ${samples}; sleep 0.2; done`], { stdio: 'ignore' });
    const r = d.berth(['build', '--progress=plain', dir], { timeout: 280_000 });
    sampler.kill('SIGKILL');
    let peak = rssBefore;
    for (const m of readFileSync(samples, 'utf8').matchAll(/VmRSS:\s+(\d+)/g)) peak = Math.max(peak, Number(m[1]) * 1024);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\nsmall\n/);
    assert.ok(peak - rssBefore < 256 * 1024 * 1024, `daemon RSS grew by ${Math.round((peak - rssBefore) / 1048576)} MiB while receiving 2 GiB`);
  });
});
