// Hostile compose files: whatever a file holds, loading it either gives a
// project or one ComposeError (a message for the user) — never a TypeError,
// a RangeError or a hang. Files are built from compose's own vocabulary
// (keys of services, short and long syntaxes, interpolations) mixed with
// wrong types, so the schema, the normaliser and the checks all get reached.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadProject, ComposeError } from '../../src/compose/load/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-cfuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const scalar = fc.oneof(
  fc.constantFrom('', 'x', 'busybox', '80', '8080:80', '70000:80', '1-3:4-6', '[::1]:80:80', './d:/d:ro', 'v:/v', '/anon', '~/h:/h', '${A}', '${A:-d}', '${B:?must}', '${', '$$', 'a=b', 'service:web', '10s', '1m30s', 'bad', 'CMD', 'CMD-SHELL', 'NONE'),
  fc.integer({ min: -2, max: 70000 }), fc.boolean(), fc.constant(null), fc.string({ maxLength: 8 }),
);
const SERVICE_KEYS = ['image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'volumes', 'networks', 'network_mode', 'depends_on', 'healthcheck', 'extends', 'labels', 'profiles', 'deploy', 'scale', 'secrets', 'configs', 'tmpfs', 'dns', 'extra_hosts', 'ulimits', 'links', 'volumes_from', 'restart', 'stop_grace_period', 'x-ext', 'bogus'];
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('target', 'published', 'source', 'type', 'condition', 'test', 'interval', 'service', 'file', 'replicas', 'soft', 'hard', 'aliases', 'path', 'required', 'a', 'b'), tie('v'), { maxKeys: 3 })),
})).v;
const service = fc.dictionary(fc.constantFrom(...SERVICE_KEYS), value, { maxKeys: 6 });
const file = fc.record({
  name: fc.option(fc.constantFrom('proj', 'Bad Name', ''), { nil: undefined }),
  services: fc.dictionary(fc.constantFrom('web', 'db', 'x-y', 'a'), service, { maxKeys: 3 }),
  networks: fc.option(fc.dictionary(fc.constantFrom('front', 'default'), value, { maxKeys: 2 }), { nil: undefined }),
  volumes: fc.option(fc.dictionary(fc.constantFrom('v', 'data'), value, { maxKeys: 2 }), { nil: undefined }),
}, { requiredKeys: ['services'] });

test('any compose file loads or fails with one ComposeError', async () => {
  let n = 0;
  await fc.assert(fc.asyncProperty(file, async (doc) => {
    const path = join(dir, `c${n++}.yaml`);
    writeFileSync(path, stringify(doc));
    try {
      await loadProject({ files: [path], profiles: [], envFiles: [], env: { A: 'a' }, cwd: dir, warn: () => {} });
    } catch (err) {
      assert.ok(err instanceof ComposeError, `${String(err)}\n${stringify(doc)}`);
      assert.ok(err.message.length > 0);
    }
  }), { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 4242) });
});

// Shapes the schema lets through, with values that are wrong in their content:
// these reach the normaliser and the checks.
const names = fc.constantFrom('web', 'db', 'x', 'default', 'front');
const str = fc.constantFrom('', 'x', '80', '8080:80', '99999:80', '80:0', '1-3:4-6', '1-2:3', 'a:b', '[::1]:80:80', '[::1]:80', '::1:6000:6000', '1.2.3.4:80:80/udp', '80/sctp', '80/xyz', './d:/d:ro', 'v:/v:nocopy', 'v:/v:bad', '/a:/b:c:d', 'data:/data', '~:/h', '/anon', '${A}', '${A:-d}', 'sh -c "unterminated', '10x', '1m30s', '-1s', 'service:web', 'service:nope', 'container:c');
/** Absent three times in four: a file then often passes, and reaches what comes after. */
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: a, weight: 1 });
const svcValid = fc.record({
  image: opt(str),
  build: opt(fc.oneof(str, fc.record({ context: str, dockerfile: fc.option(str, { nil: undefined }), args: fc.option(fc.array(str, { maxLength: 2 }), { nil: undefined }) }))),
  command: opt(fc.oneof(str, fc.array(str, { maxLength: 3 }))),
  ports: opt(fc.array(fc.oneof(str, fc.integer({ min: 0, max: 70000 }), fc.record({ target: fc.integer({ min: 0, max: 70000 }), published: fc.option(str, { nil: undefined }) })), { maxLength: 3 })),
  volumes: opt(fc.array(fc.oneof(str, fc.record({ type: fc.constantFrom('bind', 'volume', 'tmpfs'), source: fc.option(str, { nil: undefined }), target: str })), { maxLength: 3 })),
  tmpfs: opt(fc.oneof(str, fc.array(str, { maxLength: 2 }))),
  depends_on: opt(fc.oneof(fc.uniqueArray(names, { maxLength: 3 }), fc.dictionary(names, fc.record({ condition: fc.constantFrom('service_started', 'service_healthy'), required: fc.boolean() }), { maxKeys: 2 }))),
  networks: opt(fc.oneof(fc.uniqueArray(names, { maxLength: 2 }), fc.dictionary(names, fc.constant(null), { maxKeys: 2 }))),
  network_mode: opt(str),
  healthcheck: opt(fc.record({ test: fc.option(fc.oneof(str, fc.array(str, { maxLength: 2 })), { nil: undefined }), interval: fc.option(str, { nil: undefined }) })),
  extends: fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, { arbitrary: names, weight: 1 }),
  environment: opt(fc.oneof(fc.array(str, { maxLength: 2 }), fc.dictionary(fc.constantFrom('A', 'C', 'D'), str, { maxKeys: 2 }))),
  env_file: opt(fc.array(fc.record({ path: str, required: fc.constant(false) }), { maxLength: 1 })),
  extra_hosts: opt(fc.array(str, { maxLength: 2 })),
  links: opt(fc.array(str, { maxLength: 2 })),
  volumes_from: opt(fc.array(str, { maxLength: 2 })),
  stop_grace_period: opt(str),
  scale: opt(fc.integer({ min: 0, max: 3 })),
  profiles: opt(fc.array(fc.constantFrom('p', 'q'), { maxLength: 2 })),
});

test('files the schema accepts, with wrong contents, load or fail with one ComposeError', async () => {
  let n = 0;
  await fc.assert(fc.asyncProperty(fc.dictionary(names, svcValid, { minKeys: 1, maxKeys: 3 }), fc.dictionary(names, fc.constant({}), { maxKeys: 2 }), async (services, volumes) => {
    const path = join(dir, `v${n++}.yaml`);
    writeFileSync(path, stringify(JSON.parse(JSON.stringify({ services, volumes, networks: { front: {} } }))));
    try {
      await loadProject({ files: [path], profiles: ['p'], envFiles: [], env: { A: 'a', HOME: '/home/x' }, cwd: dir, warn: () => {} });
    } catch (err) {
      assert.ok(err instanceof ComposeError, `${(err as Error).stack}\n${stringify(services)}`);
    }
  }), { numRuns: 600, seed: Number(process.env.FUZZ_SEED ?? 4242) });
});

test('raw bytes that are not a compose file fail with a ComposeError', async () => {
  await fc.assert(fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
    const path = join(dir, 'raw.yaml');
    writeFileSync(path, text);
    try {
      await loadProject({ files: [path], profiles: [], envFiles: [], env: {}, cwd: dir, warn: () => {} });
    } catch (err) {
      assert.ok(err instanceof ComposeError, `${String(err)} for ${JSON.stringify(text)}`);
    }
  }), { numRuns: 300, seed: 7 });
});
