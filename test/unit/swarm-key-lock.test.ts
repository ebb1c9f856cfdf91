// Autolock's key files (src/cluster/key-lock.ts) and the renewal point of a
// node certificate (cert-renewal.ts), on files in a temporary directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { humanKey, keyHash, NodeKeys, newUnlockKey, parseHumanKey } from '../../src/cluster/key-lock.ts';
import { issueNodeCert, makeCsr, makeRootCa } from '../../src/cluster/ca.ts';
import { renewalDelayMs } from '../../src/cluster/cert-renewal.ts';

test('the unlock key prints as swarm\'s SWMKEY-1-<raw base64> and parses back; anything else is "invalid key string"', () => {
  const k = newUnlockKey();
  const text = humanKey(k);
  assert.match(text, /^SWMKEY-1-[A-Za-z0-9+/]{43}$/);
  assert.deepEqual(parseHumanKey(text), k);
  for (const bad of ['', 'SWMKEY-2-abc', 'swmkey-1-abc', 'SWMKEY-1-a', 'SWMKEY-1-####']) assert.throws(() => parseHumanKey(bad), /^InvalidArgumentError: invalid key string$|invalid key string/);
  assert.notEqual(keyHash(k), keyHash(newUnlockKey()));
});

test('key files sealed under a key read back only with it; apply rewrites them plain or under a new key; a mixed set still opens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-keylock-'));
  try {
    mkdirSync(join(dir, 'certificates'));
    writeFileSync(join(dir, 'certificates/node.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    writeFileSync(join(dir, 'secrets.key'), 'c2VjcmV0');
    const names = ['certificates/node.key', 'secrets.key', 'certificates/absent.key'];
    const keys = new NodeKeys(dir, () => names);
    assert.equal(keys.sealed(), false);
    const k1 = newUnlockKey();
    await keys.apply(k1);
    assert.equal(keys.sealed(), true);
    assert.equal(keys.settled(), true);
    assert.doesNotMatch(readFileSync(join(dir, 'certificates/node.key'), 'utf8'), /PRIVATE KEY|AAAA/);
    assert.equal(statSync(join(dir, 'secrets.key')).mode & 0o777, 0o600);
    // A fresh process (no key in memory): the wrong key is refused, the right one opens every file.
    const later = new NodeKeys(dir, () => names);
    assert.throws(() => later.read('secrets.key'), /invalid key provided/);
    assert.throws(() => later.unlock(newUnlockKey()), /swarm could not be unlocked: invalid key provided/);
    later.unlock(k1);
    assert.equal(later.read('secrets.key').toString(), 'c2VjcmV0');
    // A sealed file moved under another name does not open (the name is bound in).
    writeFileSync(join(dir, 'moved.key'), readFileSync(join(dir, 'secrets.key')));
    assert.throws(() => later.read('moved.key'), /invalid key provided/);
    // Rotated: the old key no longer opens them.
    const k2 = newUnlockKey();
    await later.apply(k2);
    assert.throws(() => new NodeKeys(dir, () => names).unlock(k1), /invalid key provided/);
    // A crash half-way through a change leaves one file plain: the key still opens the set, and settled() says to finish.
    writeFileSync(join(dir, 'secrets.key'), 'c2VjcmV0');
    const mixed = new NodeKeys(dir, () => names);
    mixed.unlock(k2);
    assert.equal(mixed.settled(), false);
    assert.equal(mixed.read('certificates/node.key').toString(), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    await mixed.apply(undefined);
    assert.equal(mixed.sealed(), false);
    assert.match(readFileSync(join(dir, 'certificates/node.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a node certificate is renewed between 50% and 80% of its lifetime, counted from its notBefore', () => {
  const ca = makeRootCa();
  const cert = issueNodeCert(ca, makeCsr().csr, { nodeId: 'n1', role: 'worker', clusterId: 'c1', addr: '10.0.0.1', expiryNs: 100e9 });
  // notBefore 10 s back (a tenth of the validity), notAfter 100 s on: a 110 s lifetime.
  const early = renewalDelayMs(cert, 0);
  const late = renewalDelayMs(cert, 1);
  assert.ok(Math.abs(early - 45_000) < 2000, String(early));
  assert.ok(Math.abs(late - 78_000) < 2000, String(late));
});
