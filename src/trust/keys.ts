// Signing keys as Docker Content Trust keeps them: ECDSA P-256 private keys,
// PKCS#8 PEM encrypted with a passphrase (PBES2: PBKDF2 + AES-256-CBC), in
// <trust dir>/private/<keyid>.key with the Docker CLI's `role: NAME` header.
// A key's ID is the sha256 of its SubjectPublicKeyInfo, which is also the
// public-key hint of the bundles it signs.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';
import { InvalidArgumentError, NotFoundError } from '../errors.ts';

export interface StoredKey {
  id: string;
  role: string;
  /** The encrypted PEM as stored, with its header. */
  pem: string;
}

/** The key ID: hex sha256 of the DER SubjectPublicKeyInfo. */
export function keyId(pub: KeyObject): string {
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Signing keys are good for 10 years, as Notary's delegation certificates were. */
const KEY_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;

/** PEM with Docker's `role:` header line (and berth's `expires:`); parsers that know no headers get them stripped by `stripHeaders`. */
function withHeaders(pem: string, headers: Record<string, string>): string {
  const lines = pem.trimEnd().split('\n');
  return [lines[0], ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ...lines.slice(1)].join('\n') + '\n';
}

/** When a public key file says its key stops being valid, if it says so. */
export function expiresOf(pem: string): Date | undefined {
  const v = /^expires: (.+)$/m.exec(pem)?.[1]?.trim();
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid expires header "${v}" in public key`);
  return new Date(t);
}

export function stripHeaders(pem: string): string {
  return pem.split('\n').filter((l) => !/^[A-Za-z-]+: /.test(l) && l.trim() !== '').join('\n') + '\n';
}

export function roleOf(pem: string): string | undefined {
  return /^role: (.+)$/m.exec(pem)?.[1]?.trim();
}

export function parsePublicKey(pem: string): KeyObject {
  try {
    const k = createPublicKey(stripHeaders(pem));
    if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not an ECDSA P-256 key');
    return k;
  } catch (err) {
    throw new InvalidArgumentError(`failed to parse public key: ${(err as Error).message}`);
  }
}

export class KeyStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  private get privateDir(): string {
    return join(this.dir, 'private');
  }

  /** A new P-256 key for `role`, stored encrypted; returns it and its public PEM (with the role header). */
  generate(role: string, passphrase: string): { key: StoredKey; publicPem: string } {
    if (passphrase.length < 8) throw new InvalidArgumentError('passphrase is too short. Please use a password manager to generate and store a good random passphrase.');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return this.store(role, privateKey, publicKey, passphrase);
  }

  /** Imports an existing private key PEM (plain or encrypted with `filePassphrase`) under `role`. */
  load(role: string, pem: string, filePassphrase: string | undefined, passphrase: string): { key: StoredKey; publicPem: string } {
    let priv: KeyObject;
    try {
      priv = createPrivateKey({ key: stripHeaders(pem), format: 'pem', passphrase: filePassphrase });
    } catch (err) {
      throw new InvalidArgumentError(`failed to load private key: ${(err as Error).message}`);
    }
    if (priv.asymmetricKeyType !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new InvalidArgumentError('failed to load private key: only ECDSA P-256 keys are supported');
    return this.store(role, priv, createPublicKey(priv), passphrase);
  }

  private store(role: string, priv: KeyObject, pub: KeyObject, passphrase: string): { key: StoredKey; publicPem: string } {
    const id = keyId(pub);
    const enc = priv.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
    const pem = withHeaders(enc, { role });
    mkdirSync(this.privateDir, { recursive: true, mode: 0o700 });
    writeFileAtomicSync(join(this.privateDir, `${id}.key`), pem, 0o600);
    const expires = new Date(Date.now() + KEY_LIFETIME_MS).toISOString().replace(/\.\d+Z$/, 'Z');
    return { key: { id, role, pem }, publicPem: withHeaders(pub.export({ type: 'spki', format: 'pem' }) as string, { role, expires }) };
  }

  list(): StoredKey[] {
    if (!existsSync(this.privateDir)) return [];
    return readdirSync(this.privateDir).filter((f) => /^[a-f0-9]{64}\.key$/.test(f)).map((f) => {
      const pem = readFileSync(join(this.privateDir, f), 'utf8');
      return { id: f.slice(0, 64), role: roleOf(pem) ?? '', pem };
    });
  }

  get(id: string): StoredKey {
    const k = this.list().find((x) => x.id === id);
    if (!k) throw new NotFoundError(`private key ${id} not found`);
    return k;
  }

  /** Decrypts a stored key; a wrong passphrase is the error, never the passphrase. */
  unlock(key: StoredKey, passphrase: string): KeyObject {
    try {
      return createPrivateKey({ key: stripHeaders(key.pem), format: 'pem', passphrase });
    } catch {
      throw new InvalidArgumentError(`could not decrypt private key ${key.id} (${key.role}): wrong passphrase`);
    }
  }

}
