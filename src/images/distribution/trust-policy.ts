// The daemon's content trust policy: repositories (or whole registries) whose
// images every pull through this daemon must find signed (ADR 0007's
// signatures) by one of the listed keys, whoever asks: the docker CLI, an SDK,
// a build's FROM. A JSON file (`--trust-policy`, daemon.json `trust-policy`,
// default /etc/berth/policy.json when it exists):
//   {"repositories": {"registry.example:5000/app": {"signers": {"alice": "/etc/berth/keys/alice.pub"}},
//                     "registry.example:5000": {"signers": {"ops": "-----BEGIN PUBLIC KEY-----\n…"}}}}
// A repository's own entry wins over its registry's.
import { existsSync, readFileSync } from 'node:fs';
import { ForbiddenError, InvalidArgumentError } from '../../errors.ts';
import { familiarString, type Reference } from '../../api/reference.ts';
import { expiresOf, keyId, parsePublicKey } from '../../trust/keys.ts';
import type { SignerKey } from '../../trust/signers.ts';
import type { Manifest } from '../../trust/registry.ts';
import type { Descriptor } from '../../api/oci.ts';
import { signaturesOf, type SignatureSource, type SignerLookup } from '../../trust/signatures.ts';
import type { RegistryClient } from './client.ts';
import { sha256 } from '../content.ts';

export const DEFAULT_POLICY_PATH = '/etc/berth/policy.json';
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

export class TrustPolicy implements SignerLookup {
  private readonly scopes = new Map<string, Record<string, SignerKey[]>>();

  /** Reads the policy file; a missing default file is no policy, a broken one stops the daemon's start. */
  static load(path: string | undefined): TrustPolicy | undefined {
    const file = path ?? DEFAULT_POLICY_PATH;
    if (!path && !existsSync(file)) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new InvalidArgumentError(`trust policy ${file}: ${(err as Error).message}`);
    }
    const repos = (raw as { repositories?: unknown } | null)?.repositories;
    if (!repos || typeof repos !== 'object' || Array.isArray(repos)) throw new InvalidArgumentError(`trust policy ${file}: "repositories" must be an object`);
    const policy = new TrustPolicy();
    for (const [scope, entry] of Object.entries(repos as Record<string, unknown>)) {
      const signers = (entry as { signers?: unknown } | null)?.signers;
      if (!signers || typeof signers !== 'object' || Array.isArray(signers) || Object.keys(signers).length === 0) {
        throw new InvalidArgumentError(`trust policy ${file}: ${scope}: "signers" must name at least one signer`);
      }
      const keys: Record<string, SignerKey[]> = {};
      for (const [name, v] of Object.entries(signers as Record<string, unknown>)) {
        const list = Array.isArray(v) ? v : [v];
        keys[name] = list.map((k) => {
          if (typeof k !== 'string') throw new InvalidArgumentError(`trust policy ${file}: ${scope}: signer ${name}: a key is a PEM or a path`);
          const pem = k.includes('-----BEGIN') ? k : readFileSync(k, 'utf8');
          const pub = parsePublicKey(pem);
          const expires = expiresOf(pem)?.toISOString().replace(/\.\d+Z$/, 'Z');
          return { id: keyId(pub), publicKey: pub.export({ type: 'spki', format: 'pem' }) as string, ...(expires ? { expires } : {}) };
        });
      }
      policy.scopes.set(scope, keys);
    }
    return policy;
  }

  private scopeOf(repo: string): Record<string, SignerKey[]> | undefined {
    return this.scopes.get(repo) ?? this.scopes.get(repo.slice(0, repo.indexOf('/')));
  }

  requires(repo: string): boolean {
    return this.scopeOf(repo) !== undefined;
  }

  signers(repo: string): Record<string, SignerKey[]> {
    return this.scopeOf(repo) ?? {};
  }

  signerOf(repo: string, id: string): { name: string; key: SignerKey } | undefined {
    for (const [name, keys] of Object.entries(this.signers(repo))) {
      const key = keys.find((k) => k.id === id);
      if (key) return { name, key };
    }
    return undefined;
  }

  /** Throws unless `digest` (what `ref` named in the registry) carries a signature the policy trusts for `ref`. */
  async check(client: RegistryClient, ref: Reference, digest: string): Promise<void> {
    const { valid, rejected } = await signaturesOf(sourceOf(client), this, ref, digest);
    const trusted = ref.digest ? valid : valid.filter((s) => s.tag === ref.tag);
    if (trusted.length > 0) return;
    const why = [...rejected.map((r) => r.reason), ...valid.filter((s) => s.tag !== ref.tag).map((s) => `signature is for tag ${s.tag}`)];
    throw new ForbiddenError(`Source image rejected: the daemon's trust policy requires a trusted signature for ${familiarString(ref)}: No valid trust data for ${ref.digest ?? ref.tag}` + (why.length ? ` (${why.join('; ')})` : ''));
  }
}

async function readLimited(body: AsyncIterable<unknown>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of body) {
    total += (c as Buffer).length;
    if (total > limit) throw new ForbiddenError(`${what}: over the ${limit} byte limit`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Signatures read through the pull's own (authenticated, mirror-aware) registry client. */
function sourceOf(client: RegistryClient): SignatureSource {
  const manifest = async (_repo: string, ref: string, limit = 4 << 20): Promise<Manifest | undefined> => {
    const res = await client.request('GET', `manifests/${ref}`, { headers: { Accept: MANIFEST_ACCEPT }, accept: [404] });
    if (res.status === 404) {
      await res.body.dump?.();
      return undefined;
    }
    const bytes = await readLimited(res.body, limit, `manifest ${ref}`);
    const digest = sha256(bytes);
    if (ref.startsWith('sha256:') && digest !== ref) throw new ForbiddenError(`manifest ${ref}: content does not match its digest`);
    return { digest, mediaType: res.headers.get('content-type') ?? '', bytes };
  };
  return {
    manifest,
    async referrers(_repo: string, digest: string, artifactType: string): Promise<Descriptor[]> {
      const res = await client.request('GET', `referrers/${digest}?artifactType=${encodeURIComponent(artifactType)}`, { accept: [404] });
      let index: { manifests?: Descriptor[] } | undefined;
      if (res.status === 404) {
        await res.body.dump?.();
        const fallback = await manifest('', digest.replace(':', '-'));
        index = fallback ? JSON.parse(fallback.bytes.toString('utf8')) as { manifests?: Descriptor[] } : undefined;
      } else {
        index = JSON.parse((await readLimited(res.body, 4 << 20, 'referrers')).toString('utf8')) as { manifests?: Descriptor[] };
      }
      return (index?.manifests ?? []).filter((d) => d.artifactType === artifactType);
    },
    async blob(_repo: string, digest: string, limit: number): Promise<Buffer> {
      const res = await client.request('GET', `blobs/${digest}`);
      const bytes = await readLimited(res.body, limit, `blob ${digest}`);
      if (sha256(bytes) !== digest) throw new ForbiddenError(`blob ${digest}: content does not match its digest`);
      return bytes;
    },
  };
}
