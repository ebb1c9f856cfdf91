// Who may sign a repository: the client's trust policy, as Notary's
// delegations were. $DOCKER_CONFIG/trust/signers.json maps a repository
// (its full name, docker.io/library/x) to signer names and their public keys.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { expiresOf, keyId, parsePublicKey } from './keys.ts';

export interface SignerKey {
  id: string;
  /** SPKI PEM without headers. */
  publicKey: string;
  /** RFC 3339; signatures by the key are not trusted after it. */
  expires?: string;
}

/** repository → signer name → keys */
type SignerFile = Record<string, Record<string, SignerKey[]>>;

/** Whether a signer's key has passed its expiry. */
export function expired(key: SignerKey, now = new Date()): boolean {
  return key.expires !== undefined && Date.parse(key.expires) <= now.getTime();
}

export class SignerStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  private get path(): string {
    return join(this.dir, 'signers.json');
  }

  private read(): SignerFile {
    if (!existsSync(this.path)) return {};
    const v = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as SignerFile) : {};
  }

  private write(f: SignerFile): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomicSync(join(this.dir, 'signers.json'), JSON.stringify(f, null, 2) + '\n', 0o600);
  }

  signers(repo: string): Record<string, SignerKey[]> {
    return this.read()[repo] ?? {};
  }

  /** Adds `publicPem` as a key of signer `name` for `repo`; the same key twice is a conflict. */
  add(repo: string, name: string, publicPem: string): SignerKey {
    const key = signerKeyOf(publicPem);
    const f = this.read();
    const repoSigners = (f[repo] ??= {});
    const keys = (repoSigners[name] ??= []);
    if (keys.some((k) => k.id === key.id)) throw new ConflictError(`key ${key.id.slice(0, 12)} is already a key of signer ${name} for ${repo}`);
    keys.push(key);
    this.write(f);
    return key;
  }

  remove(repo: string, name: string): void {
    const f = this.read();
    if (!f[repo]?.[name]) throw new NotFoundError(`No signer ${name} for repository ${repo}`);
    delete f[repo][name];
    if (Object.keys(f[repo]).length === 0) delete f[repo];
    this.write(f);
  }

  /** The signer a key ID belongs to for `repo`, if any. */
  signerOf(repo: string, id: string): { name: string; key: SignerKey } | undefined {
    for (const [name, keys] of Object.entries(this.signers(repo))) {
      const key = keys.find((k) => k.id === id);
      if (key) return { name, key };
    }
    return undefined;
  }
}

/** A signer key from a public key PEM (with its `expires:` header, if any). */
export function signerKeyOf(publicPem: string): SignerKey {
  const pub = parsePublicKey(publicPem);
  const expires = expiresOf(publicPem)?.toISOString().replace(/\.\d+Z$/, 'Z');
  return { id: keyId(pub), publicKey: pub.export({ type: 'spki', format: 'pem' }) as string, ...(expires ? { expires } : {}) };
}

/** The local signers and the published list's together: a key of either is trusted. */
export class CombinedSigners {
  private readonly local: { signers(repo: string): Record<string, SignerKey[]> };
  private readonly published: Record<string, SignerKey[]>;
  private readonly repo: string;
  constructor(local: { signers(repo: string): Record<string, SignerKey[]> }, repo: string, published: Record<string, SignerKey[]> = {}) {
    this.local = local;
    this.repo = repo;
    this.published = published;
  }

  signers(repo: string): Record<string, SignerKey[]> {
    const out: Record<string, SignerKey[]> = {};
    const sources = repo === this.repo ? [this.published, this.local.signers(repo)] : [this.local.signers(repo)];
    for (const src of sources) {
      for (const [name, keys] of Object.entries(src)) {
        const have = (out[name] ??= []);
        for (const k of keys) if (!have.some((h) => h.id === k.id)) have.push(k);
      }
    }
    return out;
  }

  signerOf(repo: string, id: string): { name: string; key: SignerKey } | undefined {
    for (const [name, keys] of Object.entries(this.signers(repo))) {
      const key = keys.find((k) => k.id === id);
      if (key) return { name, key };
    }
    return undefined;
  }
}
