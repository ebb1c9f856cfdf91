// The builder's pure parts: .dockerignore rules, COPY source planning (globs,
// ignore, paths outside the context), destinations resolved through an
// image's symlinks, RUN --mount parsing, and the context cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ignoreMatcher, parseIgnoreFile } from '../../src/api/dockerignore.ts';
import { checksumEntries, planCopy, resolveInLayers, type PlanInput } from '../../src/build/copy.ts';
import { parseRunMount } from '../../src/build/run-mount.ts';
import { ContextCache } from '../../src/build/context-cache.ts';

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync('/tmp/berth-unit-copy-');
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

function plan(dir: string, sources: string[], dest: string, extra: Partial<PlanInput> = {}): Promise<{ dest: string; kind: string }[]> {
  return planCopy({
    root: { dir, isContext: true, ignore: extra.root?.ignore },
    sources,
    dest,
    destIsDir: dest.endsWith('/'),
    isDirInImage: async () => false,
    extractArchives: false,
    instruction: 'COPY',
    ...extra,
  }).then((es) => es.map((e) => ({ dest: e.dest, kind: e.kind })));
}

test('.dockerignore: comments, cleaning, exceptions, ** and parent directories', () => {
  const rules = parseIgnoreFile('# c\n\n /build/ \n*.log\n!important.log\n**/*.tmp\n./docs\n');
  assert.deepEqual(rules, ['build', '*.log', '!important.log', '**/*.tmp', 'docs']);
  const m = ignoreMatcher(rules);
  assert.equal(m.excludes('build/out.o'), true);
  assert.equal(m.excludes('a.log'), true);
  assert.equal(m.excludes('important.log'), false);
  assert.equal(m.excludes('x/y/z.tmp'), true);
  assert.equal(m.excludes('docs/index.md'), true);
  assert.equal(m.excludes('src/a.log'), false, '*.log matches at the top only');
  assert.equal(m.hasExceptions, true);
});

test('COPY sources: globs per path segment, directories copied by content, ignore applied, .. refused', async () => {
  const dir = tree({ 'a1.txt': '1', 'a2.txt': '2', 'b.txt': 'b', 'sub/x.txt': 'x', 'sub/skip.log': 's', 'sub/deep/y.txt': 'y' });
  try {
    assert.deepEqual(await plan(dir, ['a?.txt'], '/d/'), [{ dest: '/d/a1.txt', kind: 'file' }, { dest: '/d/a2.txt', kind: 'file' }]);
    assert.deepEqual(await plan(dir, ['b.txt'], '/file'), [{ dest: '/file', kind: 'file' }]);
    assert.deepEqual(await plan(dir, ['b.txt'], '/existing', { isDirInImage: async (p) => p === '/existing' }), [{ dest: '/existing/b.txt', kind: 'file' }]);
    const ignore = ignoreMatcher(parseIgnoreFile('sub/*.log\n'));
    assert.deepEqual(await plan(dir, ['sub'], '/s', { root: { dir, isContext: true, ignore } }), [
      { dest: '/s', kind: 'dir' }, { dest: '/s/deep', kind: 'dir' }, { dest: '/s/deep/y.txt', kind: 'file' }, { dest: '/s/x.txt', kind: 'file' },
    ]);
    await assert.rejects(plan(dir, ['../etc/passwd'], '/x'), /COPY failed: forbidden path outside the build context: \.\.\/etc\/passwd/);
    await assert.rejects(plan(dir, ['sub/../../x'], '/x'), /forbidden path outside the build context/);
    await assert.rejects(plan(dir, ['missing'], '/x'), /file not found in build context or excluded by \.dockerignore: stat missing/);
    await assert.rejects(plan(dir, ['nomatch*'], '/x'), /no source files were specified/);
    await assert.rejects(plan(dir, ['a*.txt'], '/notadir'), /must be a directory and end with a \//);
    // An absolute source names a context path.
    assert.deepEqual(await plan(dir, ['/b.txt'], '/y'), [{ dest: '/y', kind: 'file' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('context symlinks resolve inside the context; the checksum follows contents and modes', async () => {
  const dir = tree({ 'real.txt': 'inside' });
  const outside = tree({ 'secret.txt': 'host file' });
  try {
    symlinkSync(join(outside, 'secret.txt'), join(dir, 'abs-link'));
    symlinkSync('real.txt', join(dir, 'rel-link'));
    await assert.rejects(plan(dir, ['abs-link'], '/x'), /file not found in build context/);
    const viaLink = await planCopy({ root: { dir, isContext: true }, sources: ['rel-link'], dest: '/x', destIsDir: false, isDirInImage: async () => false, extractArchives: false, instruction: 'COPY' });
    assert.equal(viaLink[0].kind, 'file');
    const a = await checksumEntries(viaLink, '');
    writeFileSync(join(dir, 'real.txt'), 'changed');
    assert.notEqual(await checksumEntries(viaLink.map((e) => ({ ...e, size: 7 })), ''), a);
    assert.notEqual(await checksumEntries(viaLink, 'chown'), await checksumEntries(viaLink, ''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test('destinations resolve through the image layers\' symlinks, clamped at the root', () => {
  const lower = mkdtempSync('/tmp/berth-unit-layer-');
  const upper = mkdtempSync('/tmp/berth-unit-layer-');
  try {
    mkdirSync(join(lower, 'run'));
    mkdirSync(join(lower, 'var'));
    symlinkSync('/run', join(lower, 'var/run'));
    symlinkSync('../../../..', join(upper, 'up'));
    assert.equal(resolveInLayers([upper, lower], '/var/run/app.pid'), '/run/app.pid');
    assert.equal(resolveInLayers([upper, lower], '/up/etc/x'), '/etc/x');
    // The final component is not followed: COPY replaces a symlink at the destination.
    assert.equal(resolveInLayers([upper, lower], '/var/run'), '/var/run');
  } finally {
    rmSync(lower, { recursive: true, force: true });
    rmSync(upper, { recursive: true, force: true });
  }
});

test('RUN --mount specs parse as BuildKit does', () => {
  assert.deepEqual(parseRunMount('type=cache,target=/root/.cache,id=pip', '/'), {
    type: 'cache', target: '/root/.cache', source: undefined, from: undefined, id: 'pip', readonly: false, rw: false, required: false, mode: undefined, size: undefined,
  });
  const s = parseRunMount('type=secret,id=tok', '/');
  assert.equal(s.target, '/run/secrets/tok');
  assert.equal(parseRunMount('type=bind,source=a,dst=rel,ro', '/work').target, '/work/rel');
  assert.equal(parseRunMount('target=/x', '/').type, 'bind');
  assert.throws(() => parseRunMount('type=volume,target=/x', '/'), /unsupported mount type "volume"/);
  assert.throws(() => parseRunMount('type=cache', '/'), /requires a target/);
  assert.throws(() => parseRunMount('type=cache,target=/x,bogus=1', '/'), /unexpected key 'bogus'/);
});

test('the context cache: hits while clean, a dirty context is never handed out again', async () => {
  const cache = new ContextCache(1 << 20, 2 << 20);
  const dirA = mkdtempSync('/tmp/berth-unit-ctx-');
  const held = cache.adopt('aaa', dirA, 100);
  const again = cache.acquire('aaa');
  assert.equal(again?.dir, dirA);
  await again?.release();
  held.markDirty();
  assert.equal(cache.acquire('aaa'), undefined);
  await held.release();
  assert.equal(cache.acquire('aaa'), undefined);
  // Over the total size, idle contexts are evicted oldest first.
  const dirs = [0, 1, 2].map(() => mkdtempSync('/tmp/berth-unit-ctx-'));
  for (const [i, d] of dirs.entries()) await cache.adopt(`k${i}`, d, 900 * 1024).release();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cache.acquire('k0'), undefined);
  const k2 = cache.acquire('k2');
  assert.equal(k2?.dir, dirs[2]);
  await k2?.release();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  // Small contexts are bounded by their number; recent() hands out the last one used.
  const few = new ContextCache(1 << 20, 2 << 20, 2);
  const small = [0, 1, 2].map(() => mkdtempSync('/tmp/berth-unit-ctx-'));
  for (const [i, d] of small.entries()) {
    await few.adopt(`s${i}`, d, 10).release();
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(few.acquire('s0'), undefined);
  assert.equal(existsSync(small[0]), false, 'an evicted context is removed');
  const last = few.recent();
  assert.equal(last?.dir, small[2]);
  await last?.release();
  for (const d of small) rmSync(d, { recursive: true, force: true });
});
