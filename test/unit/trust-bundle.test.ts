// The signature document and the key store of content trust (ADR 0007) on
// their own: what a hostile bundle can try, and keys at rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BadSignatureError, makeBundle, MAX_BUNDLE, verifyBundle } from '../../src/trust/bundle.ts';
import { KeyStore, keyId, parsePublicKey } from '../../src/trust/keys.ts';

const claim = { name: 'localhost:5000/app', digest: 'sha256:' + 'a'.repeat(64), tag: 'v1' };

test('a bundle verifies with its key and says what it claims; every altered part is refused', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const doc = makeBundle(claim, privateKey, keyId(publicKey));
  const bytes = (b: unknown): Buffer => Buffer.from(JSON.stringify(b));
  assert.deepEqual(verifyBundle(bytes(doc), publicKey), claim);

  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  assert.throws(() => verifyBundle(bytes(doc), other), /does not verify/);
  const payload = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString('utf8')) as { predicate: Record<string, string> };
  payload.predicate['dev.berth.tag'] = 'latest';
  const retagged = structuredClone(doc);
  retagged.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
  assert.throws(() => verifyBundle(bytes(retagged), publicKey), /does not verify/);
  const typed = structuredClone(doc);
  typed.dsseEnvelope.payloadType = 'text/plain';
  assert.throws(() => verifyBundle(bytes(typed), publicKey), /DSSE envelope/);
  const twice = structuredClone(doc);
  twice.dsseEnvelope.signatures.push(twice.dsseEnvelope.signatures[0]);
  assert.throws(() => verifyBundle(bytes(twice), publicKey), /single-signature/);
  for (const bad of [Buffer.from('[1]'), Buffer.from('null'), Buffer.from('{"mediaType":'), Buffer.alloc(MAX_BUNDLE + 1, 0x20)]) {
    assert.throws(() => verifyBundle(bad, publicKey), BadSignatureError);
  }
});

test('keys are stored encrypted under their ID, open only with their passphrase, and must be P-256', () => {
  const dir = mkdtempSync('/tmp/berth-keys-');
  try {
    const store = new KeyStore(dir);
    assert.throws(() => store.generate('alice', 'short'), /passphrase is too short/);
    const { key, publicPem } = store.generate('alice', 'long enough passphrase');
    assert.equal(key.id, keyId(parsePublicKey(publicPem)));
    assert.deepEqual(readdirSync(join(dir, 'private')), [`${key.id}.key`]);
    const pem = readFileSync(join(dir, 'private', `${key.id}.key`), 'utf8');
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: alice\n/);
    assert.ok(!pem.includes('long enough passphrase'));
    assert.throws(() => store.unlock(key, 'wrong passphrase!'), /wrong passphrase/);
    assert.equal(store.unlock(key, 'long enough passphrase').asymmetricKeyType, 'ec');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => parsePublicKey(rsa), /ECDSA P-256/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
