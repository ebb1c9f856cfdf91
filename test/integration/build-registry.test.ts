// berth build with images from a registry (the CNCF docker-registry on
// loopback): --cache-from an image pulled onto a daemon that never built it,
// a base image the store lacks being pulled, and --pull fetching a newer base.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { steps } from '../helpers/build.ts';
import { type CncfRegistry, startCncfRegistry } from '../helpers/registries.ts';
import { hasBinary } from '../registry/helpers.ts';

const SKIP = hasBinary('docker-registry') ? false : 'no docker-registry';

function imageId(d: TestDaemon, ref: string): string {
  const r = d.berth(['image', 'inspect', '--format', '{{.Id}}', ref]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function ok(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return r.stdout;
}

describe('build with registry images', { skip: SKIP }, () => {
  let a: TestDaemon;
  let b: TestDaemon;
  let c: TestDaemon;
  let e: TestDaemon;
  let reg: CncfRegistry;
  const dirs: string[] = [];
  const context = (files: Record<string, string>): string => {
    const dir = mkdtempSync('/tmp/berth-bregctx-');
    dirs.push(dir);
    for (const [p, content] of Object.entries(files)) writeFileSync(join(dir, p), content);
    return dir;
  };
  before(async () => {
    reg = await startCncfRegistry();
    a = await startSeededDaemon();
    b = await startSeededDaemon();
    c = await startSeededDaemon();
    e = await startSeededDaemon();
  });
  after(async () => {
    await a?.destroy();
    await b?.destroy();
    await c?.destroy();
    await e?.destroy();
    await reg?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('--cache-from an image pulled onto a fresh daemon: every step after FROM is a cache hit and the result is that image', () => {
    // The base comes from the registry too: seeded busyboxes differ per daemon (their import time).
    const base = `${reg.host}/bb:1`;
    ok(a.berth(['tag', 'busybox', base]));
    ok(a.berth(['push', base], { timeout: 120_000 }));
    const dir = context({
      Dockerfile: [
        `FROM ${base}`,
        'ENV GREETING=hello',
        'COPY app.txt /app/',
        'RUN echo "built at $(date +%s%N)" > /built.txt',
        'WORKDIR /work',
        'CMD ["cat", "/app/app.txt"]',
        '',
      ].join('\n'),
      'app.txt': 'the app\n',
    });
    const ref = `${reg.host}/app:1`;
    ok(a.berth(['build', '-t', ref, dir], { timeout: 120_000 }));
    const built = imageId(a, ref);
    ok(a.berth(['push', ref], { timeout: 120_000 }));

    // B and C have only the pulled image (the builds pull its base): no parent links to the steps that made it.
    for (const d of [b, c, e]) {
      ok(d.berth(['pull', ref], { timeout: 120_000 }));
      assert.equal(imageId(d, ref), built);
    }

    const withCache = ok(b.berth(['build', '--cache-from', ref, '-t', 'rebuilt', dir], { timeout: 120_000 }));
    assert.deepEqual(steps(withCache).map((s) => s.cached), [false, true, true, true, true, true], withCache);
    assert.doesNotMatch(withCache, /Running in/);
    assert.equal(imageId(b, 'rebuilt'), built);
    // The restored steps are real images: the result runs and has the file the cached RUN made.
    assert.match(ok(b.berth(['run', '--rm', 'rebuilt', 'cat', '/built.txt'], { timeout: 60_000 })), /^built at \d+/);
    assert.equal(ok(b.berth(['run', '--rm', 'rebuilt'], { timeout: 60_000 })), 'the app\n');

    // Without --cache-from the pulled image is no cache: C builds every step.
    const without = ok(c.berth(['build', '-t', 'rebuilt', dir], { timeout: 120_000 }));
    assert.deepEqual(steps(without).map((s) => s.cached), [false, false, false, false, false, false], without);
    assert.match(without, /Running in/);
    assert.notEqual(imageId(c, 'rebuilt'), built);

    // Linked in, it is local cache from now on: a plain rebuild on B lands on it too.
    const plain = ok(b.berth(['build', '-t', 'rebuilt-again', dir], { timeout: 120_000 }));
    assert.deepEqual(steps(plain).map((s) => s.cached), [false, true, true, true, true, true], plain);
    assert.equal(imageId(b, 'rebuilt-again'), built);

    // The real docker CLI's legacy builder sends --cache-from as the API's cachefrom list.
    if (DOCKER) {
      const env = { ...process.env, DOCKER_BUILDKIT: '0' };
      const docker = ok(e.docker(['build', '--cache-from', ref, '-t', 'rebuilt', dir], { env, timeout: 120_000 }));
      assert.deepEqual(steps(docker).map((s) => s.cached), [false, true, true, true, true, true], docker);
      assert.equal(imageId(e, 'rebuilt'), built);
    }

    // A cache source whose history differs from some step on matches only the steps before it.
    writeFileSync(join(dir, 'app.txt'), 'the app, edited\n');
    const edited = ok(b.berth(['build', '--cache-from', ref, '-t', 'edited', dir], { timeout: 120_000 }));
    assert.deepEqual(steps(edited).map((s) => s.cached), [false, true, false, false, false, false], edited);
    assert.equal(ok(b.berth(['run', '--rm', 'edited'], { timeout: 60_000 })), 'the app, edited\n');
  });

  test('a base image missing from the store is pulled, with its progress in the build output; --pull fetches a newer one', () => {
    const base = `${reg.host}/base:1`;
    ok(a.berth(['tag', 'busybox', base]));
    ok(a.berth(['push', base], { timeout: 120_000 }));
    const v1 = imageId(a, base);

    const dir = context({ Dockerfile: `FROM ${base}\nRUN cat /marker 2>/dev/null || echo no-marker\n` });
    assert.equal(c.berth(['image', 'inspect', base]).code, 1, 'C does not have the base yet');
    const first = ok(c.berth(['build', '--progress=plain', dir], { timeout: 120_000 }));
    assert.match(first, /^1: Pulling from base$/m);
    assert.match(first, new RegExp(`Status: Downloaded newer image for ${base}`));
    assert.match(first, /^no-marker$/m);
    assert.equal(imageId(c, base), v1);

    // A newer base under the same tag.
    const v2dir = context({ Dockerfile: 'FROM busybox\nRUN echo v2 > /marker\n' });
    ok(a.berth(['build', '-t', base, v2dir], { timeout: 120_000 }));
    ok(a.berth(['push', base], { timeout: 120_000 }));
    const v2 = imageId(a, base);
    assert.notEqual(v2, v1);

    // Without --pull the local base is used as it is.
    const local = ok(c.berth(['build', '--no-cache', '--progress=plain', dir], { timeout: 120_000 }));
    assert.doesNotMatch(local, /Pulling|Downloaded newer image/);
    assert.match(local, /^no-marker$/m);

    const pulled = ok(c.berth(['build', '--pull', '--progress=plain', '-t', 'on-v2', dir], { timeout: 120_000 }));
    assert.match(pulled, new RegExp(`Status: Downloaded newer image for ${base}`));
    assert.match(pulled, /^v2$/m);
    assert.equal(imageId(c, base), v2);
    assert.equal(ok(c.berth(['run', '--rm', 'on-v2', 'cat', '/marker'], { timeout: 60_000 })), 'v2\n');
  });
});
