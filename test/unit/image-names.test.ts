// Pure rules about image names: reference parsing corner cases as Docker's
// distribution/reference has them, archive entry names, and rmi's "all names
// in one repository" test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarString, parseNormalizedNamed, referenceString, withDefaultTag } from '../../src/api/reference.ts';
import { cleanArchiveName } from '../../src/images/archive/load.ts';
import { isSingleReference } from '../../src/images/remove.ts';

const full = (s: string) => referenceString(withDefaultTag(parseNormalizedNamed(s)));

test('domains, ports, IPv6, digests and tags normalize as Docker does', () => {
  assert.equal(full('localhost/app'), 'localhost/app:latest');
  assert.equal(full('localhost:5000/a/b'), 'localhost:5000/a/b:latest');
  assert.equal(full('[::1]:5000/app:1'), '[::1]:5000/app:1');
  assert.equal(full('example.com/x:UPPER_ok'), 'example.com/x:UPPER_ok');
  assert.equal(full('docker.io/foo/bar/baz'), 'docker.io/foo/bar/baz:latest');
  assert.equal(familiarString(parseNormalizedNamed('docker.io/library/foo/bar')), 'library/foo/bar');
  const dg = 'sha256:' + 'b'.repeat(64);
  assert.equal(full(`example.com:5000/a@${dg}`), `example.com:5000/a@${dg}`);
  assert.equal(full(`busybox:1@${dg}`), `docker.io/library/busybox:1@${dg}`);
  // An uppercase first component is a registry host to Docker, not a repository.
  assert.equal(parseNormalizedNamed('Foo/bar').domain, 'Foo');
});

test('invalid names get Docker\'s wording', () => {
  for (const bad of ['busybox:', ':tag', 'busybox@sha256:abc', '-busybox', 'busybox!', 'a/', '/a', 'a..b', '']) {
    assert.throws(() => parseNormalizedNamed(bad), /^InvalidReferenceError: invalid reference format$|invalid reference format/, JSON.stringify(bad));
  }
  assert.throws(() => parseNormalizedNamed('docker.io/Library/busybox'), /invalid reference format: repository name \(Library\/busybox\) must be lowercase/);
  assert.throws(() => parseNormalizedNamed('localhost:5000/App'), /repository name \(App\) must be lowercase/);
  assert.throws(() => parseNormalizedNamed('a/' + 'b'.repeat(260)), /repository name must not be more than 255 characters/);
});

test('archive entry names stay inside the archive', () => {
  assert.equal(cleanArchiveName('./blobs//sha256/ab/', 'entry'), 'blobs/sha256/ab');
  assert.equal(cleanArchiveName('a/../b', 'entry'), 'b');
  assert.throws(() => cleanArchiveName('../x', 'entry'), /invalid archive: entry "\.\.\/x" points outside the archive/);
  assert.throws(() => cleanArchiveName('a/../../x', 'entry'), /points outside the archive/);
  assert.throws(() => cleanArchiveName('/etc/passwd', 'path'), /invalid archive: path "\/etc\/passwd" is an absolute path/);
});

test('rmi by ID untags when every name is in one repository', () => {
  const refs = (...s: string[]) => s.map(parseNormalizedNamed).map((r) => (r.digest ? r : withDefaultTag(r)));
  const dg = 'sha256:' + 'c'.repeat(64);
  assert.equal(isSingleReference(refs()), false);
  assert.equal(isSingleReference(refs('busybox')), true);
  assert.equal(isSingleReference(refs('busybox:1', 'busybox:2')), true);
  assert.equal(isSingleReference(refs('busybox:1', `busybox@${dg}`)), true);
  assert.equal(isSingleReference(refs('busybox:1', 'other:1')), false);
  assert.equal(isSingleReference(refs('busybox:1', `other@${dg}`)), true);
  assert.equal(isSingleReference(refs(`a@${dg}`, `b@${dg}`)), false);
});
