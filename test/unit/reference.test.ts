import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarString, parseNormalizedNamed, referenceString, withDefaultTag } from '../../src/api/reference.ts';

test('references normalize as Docker does', () => {
  const same = ['busybox', 'busybox:latest', 'library/busybox', 'library/busybox:latest', 'docker.io/library/busybox:latest', 'index.docker.io/library/busybox', 'docker.io/busybox'];
  for (const s of same) {
    assert.equal(referenceString(withDefaultTag(parseNormalizedNamed(s))), 'docker.io/library/busybox:latest', s);
    assert.equal(familiarString(withDefaultTag(parseNormalizedNamed(s))), 'busybox:latest', s);
  }
  const r = parseNormalizedNamed('localhost:5000/app/web:1.2');
  assert.deepEqual([r.domain, r.path, r.tag], ['localhost:5000', 'app/web', '1.2']);
  assert.equal(familiarString(r), 'localhost:5000/app/web:1.2');
  assert.equal(familiarString(parseNormalizedNamed('foo/bar')), 'foo/bar');
  const digest = 'sha256:' + 'a'.repeat(64);
  const d = parseNormalizedNamed(`busybox@${digest}`);
  assert.equal(d.digest, digest);
  assert.equal(withDefaultTag(d).tag, undefined);
});

test('invalid references get Docker\'s errors', () => {
  assert.throws(() => parseNormalizedNamed('Busybox'), /invalid reference format: repository name \(library\/Busybox\) must be lowercase/);
  assert.throws(() => parseNormalizedNamed('a:b:c'), /invalid reference format/);
  assert.throws(() => parseNormalizedNamed('bad//name'), /invalid reference format/);
  assert.throws(() => parseNormalizedNamed('x:' + 't'.repeat(129)), /invalid reference format/);
  assert.throws(() => parseNormalizedNamed('a'.repeat(64)), /cannot specify 64-byte hexadecimal strings/);
});
