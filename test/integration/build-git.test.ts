// ADD <git URL> <dest>: repositories the test makes and serves on loopback
// (git:// and smart HTTP), checked out into the image with BuildKit's modes,
// `#ref:subdir`, --keep-git-dir, --checksum, a cache keyed by the commit the
// ref names, the docker CLI's classic builder, and hostile repositories.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs, steps } from '../helpers/build.ts';
import { HAVE_GIT, serveGit, TestRepo, type GitServer } from '../helpers/git-server.ts';

const LEGACY = { ...process.env, DOCKER_BUILDKIT: '0' };

describe('build: ADD from git repositories', { skip: !HAVE_GIT }, () => {
  let d: TestDaemon;
  let server: GitServer;
  let repo: TestRepo;
  let firstCommit: string;
  const dirs = new TestDirs();
  const ctx = dirs.context;
  const base = dirs.track(mkdtempSync('/tmp/berth-gitsrv-'));
  before(async () => {
    repo = new TestRepo(base, 'app');
    repo.write({
      'README': 'the app\n',
      'sub/app.txt': 'v1\n',
      'sub/run.sh': { content: '#!/bin/sh\necho run\n', mode: 0o755 },
      'sub/private.txt': { content: 'group-writable in the repo\n', mode: 0o664 },
      'sub/deeper/d.txt': 'deep\n',
    });
    firstCommit = repo.commit('first');
    repo.git('tag', '-a', '-m', 'release one', 'v1');
    repo.git('push', '-q', '--tags', 'origin');
    server = await serveGit(base);
    d = await startSeededDaemon();
  });
  after(async () => {
    await d.destroy();
    await server.stop();
    dirs.removeAll();
  });

  test('git:// with #ref:subdir and http(s)://….git with --keep-git-dir: the files land with BuildKit\'s modes', () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox',
        `ADD ${server.gitUrl('app')}#main:sub /src`,
        `ADD --keep-git-dir=true ${server.httpUrl('app')}#v1 /full/`,
        `ADD ${server.httpUrl('app')} /plain`,
        '',
      ].join('\n'),
    });
    const r = d.berth(['build', '-t', 'gitadd', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const run = (cmd: string) => d.berth(['run', '--rm', 'gitadd', 'sh', '-c', cmd]);
    assert.equal(run('cat /src/app.txt /src/deeper/d.txt').stdout, 'v1\ndeep\n');
    assert.equal(run('ls -A /src').stdout, 'app.txt\ndeeper\nprivate.txt\nrun.sh\n', 'the subdirectory\'s contents, no .git');
    // Files 0644, 0755 when executable; directories 0755 (whatever the repository or umask said).
    assert.equal(run('stat -c "%a %n" /src /src/deeper /src/app.txt /src/run.sh /src/private.txt').stdout,
      '755 /src\n755 /src/deeper\n644 /src/app.txt\n755 /src/run.sh\n644 /src/private.txt\n');
    assert.equal(run('/src/run.sh').stdout, 'run\n');
    // --keep-git-dir keeps .git, at the commit the tag names.
    assert.equal(run('cat /full/README; test -d /full/.git && echo has-git; cat /full/.git/HEAD').stdout, `the app\nhas-git\n${firstCommit}\n`);
    assert.equal(run('ls -A /plain').stdout, 'README\nsub\n');
    const hist = d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'gitadd']).stdout;
    assert.match(hist, /#\(nop\) ADD git:[a-f0-9]{64} in \/src /);
  });

  test('the step is a cache hit while the ref names the same commit; a new commit invalidates it; --checksum checks the commit', () => {
    const dir = ctx({ 'Dockerfile': `FROM busybox\nADD ${server.gitUrl('app')}#main:sub /src\nRUN cat /src/app.txt\n` });
    const first = d.berth(['build', '-t', 'gitcache', dir], { timeout: 120_000 });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const again = d.berth(['build', '-t', 'gitcache', dir], { timeout: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(steps(again.stdout).map((s) => s.cached), [false, true, true]);

    repo.write({ 'sub/app.txt': 'v2\n' });
    const second = repo.commit('second');
    const moved = d.berth(['build', '-t', 'gitcache', dir], { timeout: 120_000 });
    assert.equal(moved.code, 0, moved.stderr);
    assert.deepEqual(steps(moved.stdout).map((s) => s.cached), [false, false, false]);
    assert.match(moved.stdout, /\nv2\n/);
    assert.equal(d.berth(['run', '--rm', 'gitcache', 'cat', '/src/app.txt']).stdout, 'v2\n');

    // The tag still names the first commit: its ADD is unaffected by the branch moving.
    const tagDir = ctx({ 'Dockerfile': `FROM busybox\nADD --checksum=${firstCommit.slice(0, 10)} ${server.gitUrl('app')}#v1:sub /src\n` });
    const t1 = d.berth(['build', '-t', 'gittag', tagDir], { timeout: 120_000 });
    assert.equal(t1.code, 0, t1.stderr + t1.stdout);
    assert.equal(d.berth(['run', '--rm', 'gittag', 'cat', '/src/app.txt']).stdout, 'v1\n');
    const t2 = d.berth(['build', tagDir], { timeout: 120_000 });
    assert.deepEqual(steps(t2.stdout).map((s) => s.cached), [false, true]);

    // A full commit ID as the ref, and an abbreviated one (only a fetch can resolve it).
    const byId = ctx({ 'Dockerfile': `FROM busybox\nADD ${server.gitUrl('app')}#${firstCommit}:sub /a\nADD ${server.gitUrl('app')}#${second.slice(0, 8)}:sub /b\n` });
    const ids = d.berth(['build', '-t', 'gitids', byId], { timeout: 120_000 });
    assert.equal(ids.code, 0, ids.stderr + ids.stdout);
    assert.equal(d.berth(['run', '--rm', 'gitids', 'cat', '/a/app.txt', '/b/app.txt']).stdout, 'v1\nv2\n');

    const wrong = ctx({ 'Dockerfile': `FROM busybox\nADD --checksum=0000000 ${server.gitUrl('app')}#v1 /src\n` });
    const w = d.berth(['build', wrong], { timeout: 120_000 });
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, new RegExp(`expected checksum to match 0000000, got ${firstCommit}`));
  });

  test('through the docker CLI\'s classic builder', { skip: !DOCKER }, () => {
    const dir = ctx({ 'Dockerfile': `FROM busybox\nADD ${server.httpUrl('app')}#main:sub/deeper /deep\nCMD ["cat", "/deep/d.txt"]\n` });
    const r = d.docker(['build', '-t', 'dkgit', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(d.docker(['run', '--rm', 'dkgit']).stdout, 'deep\n');
  });

  test('errors: COPY of a git URL, a missing repository, ref or subdirectory, an unreachable git@ host', () => {
    const cases: Array<[string, RegExp]> = [
      [`COPY ${server.gitUrl('app')} /x`, /source can't be a git ref for COPY/],
      [`ADD ${server.gitUrl('nosuch')} /x`, /ADD failed: unable to fetch git repository git:\/\/127\.0\.0\.1:\d+\/nosuch\.git: .*exit status 128/],
      [`ADD ${server.gitUrl('app')}#nosuchbranch /x`, /ADD failed: unable to fetch git repository .*nosuchbranch|couldn't find remote ref/],
      [`ADD ${server.gitUrl('app')}#main:nosuchdir /x`, /ADD failed: subdirectory nosuchdir of git:\/\/.* does not exist/],
      ['ADD git@127.0.0.1:nosuch/repo.git /x', /ADD failed: unable to fetch git repository git@127\.0\.0\.1:nosuch\/repo\.git/],
    ];
    for (const [line, want] of cases) {
      const r = d.berth(['build', ctx({ 'Dockerfile': `FROM busybox\n${line}\n` })], { timeout: 120_000 });
      assert.notEqual(r.code, 0, line);
      assert.match(r.stderr, want, line);
    }
  });

  test('a hostile repository: symlinks out of it read nothing of the host, and nothing is written outside the image', () => {
    const host = dirs.track(mkdtempSync('/tmp/berth-hostside-'));
    writeFileSync(join(host, 'secret'), 'host secret\n');
    mkdirSync(join(host, 'dropbox'));
    const evil = new TestRepo(base, 'evil');
    evil.write({
      'escape': { link: '/etc' },
      'hostdir': { link: host },
      'drop': { link: join(host, 'dropbox') },
      'up': { link: '../../../../../../../../..' + host },
      'ok.txt': 'fine\n',
    });
    evil.commit('evil');
    // The repository's symlinks are copied as symlinks; a later ADD through one lands in the image.
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox',
        `ADD ${server.gitUrl('evil')} /evil`,
        `ADD ${server.gitUrl('app')}#main:sub /evil/drop/`,
        'RUN readlink /evil/escape && readlink /evil/hostdir && cat /evil/drop/app.txt',
        '',
      ].join('\n'),
    });
    const r = d.berth(['build', '-t', 'evil', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`/etc\n${host}\nv2\n`));
    assert.deepEqual(readdirSync(join(host, 'dropbox')), [], 'nothing was written to the host directory');
    // The image's own path of that name holds the files.
    assert.equal(d.berth(['run', '--rm', 'evil', 'cat', join(host, 'dropbox/app.txt')]).stdout, 'v2\n');
    // A subdirectory that is a symlink out of the checkout resolves inside it, where it does not exist.
    for (const sub of ['escape', 'hostdir', 'up']) {
      const x = d.berth(['build', ctx({ 'Dockerfile': `FROM busybox\nADD ${server.gitUrl('evil')}#main:${sub} /x\nRUN ls -la /x\n` })], { timeout: 120_000 });
      assert.notEqual(x.code, 0, sub + ': ' + x.stdout);
      assert.match(x.stderr, new RegExp(`subdirectory ${sub} of .* does not exist`));
      assert.doesNotMatch(x.stdout, /secret|passwd/);
    }
  });
});
