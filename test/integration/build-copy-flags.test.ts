// COPY --parents (paths kept under the destination, the /./ pivot, **) and
// COPY/ADD --link (a layer made as if onto an empty filesystem, reused by
// diff ID when an earlier step changes), through berth and the docker CLI's
// classic builder, checked by running the images.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs, steps } from '../helpers/build.ts';

const LEGACY = { ...process.env, DOCKER_BUILDKIT: '0' };

function layers(d: TestDaemon, ref: string): string[] {
  const r = d.berth(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

describe('build: COPY --parents and --link', () => {
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

  const parentsContext = () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox AS build',
        'RUN mkdir -p /out/bin && echo tool > /out/bin/tool',
        'FROM busybox',
        'COPY ./x/a.txt ./y/a.txt /no_parents/',
        'COPY --parents ./x/a.txt ./y/a.txt /parents/',
        'COPY --parents ./p/./q/*.txt /pivot/',
        'COPY --parents --exclude=*.md ./src/**/*.txt /deep/',
        'COPY --parents dir /d/',
        'COPY --from=build --parents /out/./bin/tool /opt/',
        'CMD ["sh", "-c", "find /no_parents /parents /pivot /deep /d /opt -type f | sort; cat /no_parents/a.txt /parents/x/a.txt /opt/bin/tool; stat -c %a /deep/src/x"]',
        '',
      ].join('\n'),
      'x/a.txt': 'x a\n',
      'y/a.txt': 'y a\n',
      'p/q/a.txt': 'pq a\n',
      'p/q/b.txt': 'pq b\n',
      'p/top.txt': 'not below the pattern\n',
      'src/a.txt': '1\n',
      'src/x/b.txt': '2\n',
      'src/x/y/c.txt': '3\n',
      'src/x/notes.md': 'no\n',
      'dir/one': '1\n',
      'dir/sub/two': '2\n',
    });
    chmodSync(join(dir, 'src/x'), 0o750);
    return dir;
  };
  const parentsOutput = [
    '/d/dir/one', '/d/dir/sub/two',
    '/deep/src/a.txt', '/deep/src/x/b.txt', '/deep/src/x/y/c.txt',
    '/no_parents/a.txt',
    '/opt/bin/tool',
    '/parents/x/a.txt', '/parents/y/a.txt',
    '/pivot/q/a.txt', '/pivot/q/b.txt',
    // Without --parents the second a.txt overwrites the first.
    'y a', 'x a', 'tool',
    // Parent directories keep their modes.
    '750',
    '',
  ].join('\n');

  test('COPY --parents keeps the sources\' paths, from the /./ pivot on; ** matches any depth', () => {
    const dir = parentsContext();
    const r = d.berth(['build', '-t', 'parents', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(d.berth(['run', '--rm', 'parents']).stdout, parentsOutput);

    const bad = d.berth(['build', ctx({ 'Dockerfile': 'FROM busybox\nCOPY --parents ../x /y/\n' })], { timeout: 60_000 });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /forbidden path outside the build context: \.\.\/x/);
    const none = d.berth(['build', ctx({ 'Dockerfile': 'FROM busybox\nCOPY --parents nosuch/*.txt /y/\n', 'a.txt': '' })], { timeout: 60_000 });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no source files were specified/);
    const flag = d.berth(['build', ctx({ 'Dockerfile': 'FROM busybox\nCOPY --parents=maybe a.txt /y/\n', 'a.txt': '' })], { timeout: 60_000 });
    assert.match(flag.stderr, /invalid value for --parents: maybe/);
  });

  test('COPY --parents through the docker CLI\'s classic builder', { skip: !DOCKER }, () => {
    const r = d.docker(['build', '-t', 'dkparents', parentsContext()], { env: LEGACY, timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(d.docker(['run', '--rm', 'dkparents']).stdout, parentsOutput);
  });

  const linkDockerfile = [
    'FROM busybox',
    'ARG BUMP=1',
    'RUN echo "$BUMP" > /bump && mkdir -m 700 /target /target2 && ln -s /target /lnk && ln -s /target2 /lnk2 && mkdir -m 711 /data /data2',
    'COPY --link a.txt /lnk/',
    'ADD --link b.txt /data/',
    'COPY b.txt /data2/',
    'COPY --link=false a.txt /lnk2/',
    '',
  ].join('\n');
  const linkView = 'test -L /lnk && echo lnk-is-link; test -d /lnk && cat /lnk/a.txt; ls /target; stat -c "%a %n" /data /data2; cat /data/b.txt /data2/b.txt; ls /target2; cat /bump';

  test('--link: the layer is made as if onto an empty filesystem, and stays a cache hit, with its diff ID, when an earlier step changes', () => {
    const dir = ctx({ 'Dockerfile': linkDockerfile, 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const first = d.berth(['build', '-t', 'link1', dir], { timeout: 120_000 });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    // --link did not follow /lnk (it is a directory now, the symlink's target untouched) and its
    // parent directories are its own (0755 over /data's 0711); without --link both follow the image.
    assert.equal(d.berth(['run', '--rm', 'link1', 'sh', '-c', linkView]).stdout,
      'a\n755 /data\n711 /data2\nb\nb\na.txt\n1\n');

    // The RUN changes: the --link steps are still cache hits, with the same layers; the plain COPYs are redone.
    const second = d.berth(['build', '--build-arg', 'BUMP=2', '-t', 'link2', dir], { timeout: 120_000 });
    assert.equal(second.code, 0, second.stderr + second.stdout);
    assert.deepEqual(steps(second.stdout).map((s) => [s.step.split(' ').slice(0, 2).join(' '), s.cached]), [
      ['FROM busybox', false], ['ARG BUMP=1', true], ['RUN echo', false],
      ['COPY --link', true], ['ADD --link', true], ['COPY b.txt', false], ['COPY --link=false', false],
    ]);
    const l1 = layers(d, 'link1');
    const l2 = layers(d, 'link2');
    const base = layers(d, 'busybox').length;
    assert.notEqual(l2[base], l1[base], 'the RUN layer differs');
    assert.equal(l2[base + 1], l1[base + 1], 'COPY --link reuses its layer');
    assert.equal(l2[base + 2], l1[base + 2], 'ADD --link reuses its layer');
    assert.equal(d.berth(['run', '--rm', 'link2', 'sh', '-c', linkView]).stdout,
      'a\n755 /data\n711 /data2\nb\nb\na.txt\n2\n');

    // Changing the copied file is a miss, as always.
    writeFileSync(join(dir, 'a.txt'), 'a2\n');
    const third = d.berth(['build', '--build-arg', 'BUMP=2', '-t', 'link3', dir], { timeout: 120_000 });
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(steps(third.stdout).map((s) => s.cached), [false, true, true, false, true, false, false]);
    assert.equal(d.berth(['run', '--rm', 'link3', 'cat', '/lnk/a.txt']).stdout, 'a2\n');

    // --no-cache redoes every step.
    const nocache = d.berth(['build', '--no-cache', '--build-arg', 'BUMP=3', dir], { timeout: 120_000 });
    assert.equal(nocache.code, 0, nocache.stderr);
    assert.ok(steps(nocache.stdout).every((s) => !s.cached), nocache.stdout);
  });

  test('--link through the docker CLI\'s classic builder: a cache hit after the RUN before it changed', { skip: !DOCKER }, () => {
    const dir = ctx({ 'Dockerfile': linkDockerfile, 'a.txt': 'dk a\n', 'b.txt': 'dk b\n' });
    const first = d.docker(['build', '--build-arg', 'BUMP=10', '-t', 'dklink1', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const second = d.docker(['build', '--build-arg', 'BUMP=11', '-t', 'dklink2', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(second.code, 0, second.stderr + second.stdout);
    assert.match(second.stdout, /Step 4\/7 : COPY --link a\.txt \/lnk\/\n ---> Using cache\n/);
    assert.equal(d.docker(['run', '--rm', 'dklink2', 'sh', '-c', 'cat /lnk/a.txt /bump']).stdout, 'dk a\n11\n');
    const base = layers(d, 'busybox').length;
    assert.equal(layers(d, 'dklink2')[base + 1], layers(d, 'dklink1')[base + 1]);
  });
});
