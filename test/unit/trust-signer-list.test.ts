// The signer list document and the root pins (ADR 0008) against hostile
// input: each flaw a clear BadSignerListError, and a pin that only moves
// forward under the same root.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { keyId } from '../../src/trust/keys.ts';
import { PinStore } from '../../src/trust/pins.ts';
import { BadSignerListError, makeSignerList, verifySignerList, type SignerListContent } from '../../src/trust/signer-list.ts';

const REPO = 'registry.example:5000/app';
const root = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const alice = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const alicePem = alice.export({ type: 'spki', format: 'pem' }) as string;
const content = (version: number, repository = REPO): SignerListContent => ({ repository, version, signers: { alice: [{ id: keyId(alice), publicKey: alicePem, expires: '2036-01-01T00:00:00Z' }] } });
const edit = (doc: Buffer, f: (d: { rootKey: { keyid: string; publicKey: string }; dsseEnvelope: { payload: string; signatures: { keyid: string; sig: string }[] } }) => void): Buffer => {
  const d = JSON.parse(doc.toString('utf8')) as Parameters<typeof f>[0];
  f(d);
  return Buffer.from(JSON.stringify(d));
};

describe('signer list', () => {
  test('a list made with a root key verifies and says what it lists', () => {
    const l = verifySignerList(makeSignerList(content(3), root.privateKey), REPO);
    assert.equal(l.version, 3);
    assert.equal(l.root.id, keyId(root.publicKey));
    assert.deepEqual(Object.keys(l.signers), ['alice']);
    assert.equal(l.signers.alice[0].id, keyId(alice));
    assert.equal(l.signers.alice[0].expires, '2036-01-01T00:00:00Z');
  });

  test('each flaw is refused', () => {
    const good = makeSignerList(content(1), root.privateKey);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length >> 1), /is not valid JSON/],
      ['oversized', Buffer.alloc(70_000, 0x20), /over the 65536 byte limit/],
      ['another repository', makeSignerList(content(1, 'registry.example:5000/other'), root.privateKey), /is for repository registry.example:5000\/other/],
      ['tampered payload', edit(good, (d) => { d.dsseEnvelope.payload = Buffer.from(JSON.stringify({ _type: 'application/vnd.dev.berth.trust.signers.payload.v1+json', ...content(99) })).toString('base64'); }), /does not verify with its root key/],
      ['root key swapped, signature kept', edit(good, (d) => { d.rootKey.publicKey = other.publicKey.export({ type: 'spki', format: 'pem' }) as string; d.rootKey.keyid = keyId(other.publicKey); d.dsseEnvelope.signatures[0].keyid = keyId(other.publicKey); }), /does not verify with its root key/],
      ['signature names another key', edit(good, (d) => { d.dsseEnvelope.signatures[0].keyid = 'f'.repeat(64); }), /signed by a key other than its root key/],
      ['two signatures', edit(good, (d) => { d.dsseEnvelope.signatures.push(d.dsseEnvelope.signatures[0]); }), /no single-signature envelope/],
      ['RSA root', edit(good, (d) => { d.rootKey.publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string; }), /unreadable root key/],
      ['version 0', makeSignerList(content(0), root.privateKey), /no valid version/],
    ];
    for (const [what, doc, why] of cases) assert.throws(() => verifySignerList(doc, REPO), (e: unknown) => e instanceof BadSignerListError && why.test(e.message), what);
  });

  test('a pin is set on first use, moves only forward, and holds to its root', () => {
    const dir = mkdtempSync('/tmp/berth-pins-');
    try {
      const pins = new PinStore(dir);
      pins.accept(verifySignerList(makeSignerList(content(2), root.privateKey), REPO));
      const v2 = verifySignerList(makeSignerList(content(2), root.privateKey), REPO);
      pins.accept(v2);
      assert.deepEqual({ ...pins.get(REPO), pinned: '' }, { root: keyId(root.publicKey), version: 2, payload: v2.payloadDigest, pinned: '' });
      pins.accept(verifySignerList(makeSignerList(content(2), root.privateKey), REPO));
      // The same version saying something else (a signer dropped) is no update.
      assert.throws(() => pins.accept(verifySignerList(makeSignerList({ ...content(2), signers: {} }, root.privateKey), REPO)), /changed without a new version \(version 2\)/);
      pins.accept(verifySignerList(makeSignerList(content(5), root.privateKey), REPO));
      assert.equal(pins.get(REPO)?.version, 5);
      assert.throws(() => pins.accept(verifySignerList(makeSignerList(content(4), root.privateKey), REPO)), /has version 4, older than version 5 already seen: rollback refused/);
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      assert.throws(() => pins.accept(verifySignerList(makeSignerList(content(9), other.privateKey), REPO)), /is signed by root key [a-f0-9]{12}, not by the root key [a-f0-9]{12} pinned on first use/);
      assert.equal(pins.get(REPO)?.version, 5, 'a refused list moves nothing');
      assert.match(readFileSync(join(dir, 'roots.json'), 'utf8'), /"version": 5/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
