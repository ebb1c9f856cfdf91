// Signatures in the registry beside the image (ADR 0007): each one an OCI
// manifest with the bundle's artifactType, the empty config, the bundle as
// its one layer and the signed manifest as its subject, found through the
// referrers API or its fallback tag. What a pull trusts is decided here.
import type { KeyObject } from 'node:crypto';
import type { Reference } from '../api/reference.ts';
import { NotFoundError, UnauthorizedError } from '../errors.ts';
import { BadSignatureError, BUNDLE_MEDIA_TYPE, bundleHint, makeBundle, MAX_BUNDLE, verifyBundle } from './bundle.ts';
import { parsePublicKey } from './keys.ts';
import { sha256, type Manifest, type RegistryClient } from './registry.ts';
import { OCI_MANIFEST, type Descriptor } from '../api/oci.ts';
import { expired, type SignerKey } from './signers.ts';
import { SIGNER_LIST_TAG } from './signer-list.ts';

/** Where signatures are read from: berth's client (src/trust/registry.ts) or the daemon's registry client. */
export interface SignatureSource {
  referrers(repo: string, digest: string, artifactType: string): Promise<Descriptor[]>;
  manifest(repo: string, ref: string, limit?: number): Promise<Manifest | undefined>;
  blob(repo: string, digest: string, limit: number): Promise<Buffer>;
}

/** Who may sign a repository: the client's SignerStore, or the daemon's policy. */
export interface SignerLookup {
  signers(repo: string): Record<string, SignerKey[]>;
  signerOf(repo: string, id: string): { name: string; key: SignerKey } | undefined;
}

const EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json';
const MAX_SIGNATURE_MANIFEST = 16 * 1024;

export interface Signature {
  /** The signature manifest's digest. */
  id: string;
  tag: string;
  digest: string;
  signer: string;
  keyid: string;
}

export interface Rejected {
  id: string;
  reason: string;
}

/** Pushes a signature of `name:tag` → `digest`; returns the signature manifest's digest. */
export async function pushSignature(reg: RegistryClient, ref: Reference, tag: string, digest: string, key: KeyObject, keyid: string): Promise<string> {
  const subject = await reg.manifest(ref.path, digest);
  if (!subject) throw new NotFoundError(`manifest ${ref.name}@${digest} not found in the registry`);
  const bundle = Buffer.from(JSON.stringify(makeBundle({ name: ref.name, digest, tag }, key, keyid)));
  const bundleDigest = await reg.putBlob(ref.path, bundle);
  const empty = Buffer.from('{}');
  const emptyDigest = await reg.putBlob(ref.path, empty);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: { mediaType: EMPTY_CONFIG, digest: emptyDigest, size: empty.length },
    layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: bundleDigest, size: bundle.length, annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' } }],
    subject: { mediaType: subject.mediaType, digest, size: subject.bytes.length },
    annotations: { 'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d+Z$/, 'Z'), 'dev.berth.tag': tag },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const put = await reg.putManifest(ref.path, sha256(bytes), OCI_MANIFEST, bytes);
  if (!put.subjectTaken) {
    await reg.updateFallback(ref.path, digest, { add: { mediaType: OCI_MANIFEST, digest: put.digest, size: bytes.length, artifactType: BUNDLE_MEDIA_TYPE, annotations: manifest.annotations } });
  }
  return put.digest;
}

/**
 * Every signature attached to `digest`, sorted into those a signer of the
 * repository made for this repository and digest, and the rest with why.
 */
export async function signaturesOf(reg: SignatureSource, signers: SignerLookup, ref: Reference, digest: string): Promise<{ valid: Signature[]; rejected: Rejected[] }> {
  const valid: Signature[] = [];
  const rejected: Rejected[] = [];
  for (const d of await reg.referrers(ref.path, digest, BUNDLE_MEDIA_TYPE)) {
    try {
      valid.push(await checkOne(reg, signers, ref, digest, d.digest));
    } catch (err) {
      if (err instanceof UnauthorizedError) throw err;
      rejected.push({ id: d.digest, reason: (err as Error).message });
    }
  }
  return { valid, rejected };
}

async function checkOne(reg: SignatureSource, signers: SignerLookup, ref: Reference, digest: string, id: string): Promise<Signature> {
  const m = await reg.manifest(ref.path, id, MAX_SIGNATURE_MANIFEST);
  if (!m) throw new BadSignatureError('signature manifest is gone');
  const doc = JSON.parse(m.bytes.toString('utf8')) as { subject?: { digest?: string }; layers?: { mediaType?: string; digest?: string; size?: number }[] };
  if (doc.subject?.digest !== digest) throw new BadSignatureError('signature manifest is for another image');
  const layer = doc.layers?.length === 1 ? doc.layers[0] : undefined;
  if (!layer || layer.mediaType !== BUNDLE_MEDIA_TYPE || typeof layer.digest !== 'string') throw new BadSignatureError('signature manifest holds no bundle');
  if (typeof layer.size !== 'number' || layer.size > MAX_BUNDLE) throw new BadSignatureError(`signature document is ${String(layer.size)} bytes, over the ${MAX_BUNDLE} byte limit`);
  const blob = await reg.blob(ref.path, layer.digest, MAX_BUNDLE);
  const hint = bundleHint(blob);
  const signer = signers.signerOf(ref.name, hint);
  if (!signer) throw new BadSignatureError(`signed by key ${hint.slice(0, 12)}, which is not a signer of ${ref.name}`);
  if (expired(signer.key)) throw new BadSignatureError(`key ${hint.slice(0, 12)} of signer ${signer.name} expired on ${signer.key.expires}`);
  const claim = verifyBundle(blob, parsePublicKey(signer.key.publicKey));
  if (claim.name !== ref.name) throw new BadSignatureError(`signature is for repository ${claim.name}, not ${ref.name}`);
  if (claim.digest !== digest) throw new BadSignatureError(`signature is for ${claim.digest}, not ${digest}`);
  return { id, tag: claim.tag, digest, signer: signer.name, keyid: hint };
}

/**
 * The digest `ref.tag` names, if a signer of the repository signed that tag
 * to that digest; otherwise Docker's "No valid trust data" with the reasons.
 */
export async function resolveTrusted(reg: SignatureSource, signers: SignerLookup, ref: Reference & { tag: string }): Promise<{ digest: string; signatures: Signature[] }> {
  if (Object.keys(signers.signers(ref.name)).length === 0) {
    throw new NotFoundError(`remote trust data does not exist for ${ref.name}: no signers are trusted for it (berth trust signer add)`);
  }
  const m = await reg.manifest(ref.path, ref.tag);
  if (!m) throw new NotFoundError(`No valid trust data for ${ref.tag}: manifest unknown`);
  const { valid, rejected } = await signaturesOf(reg, signers, ref, m.digest);
  const forTag = valid.filter((s) => s.tag === ref.tag);
  if (forTag.length === 0) {
    const why = [...rejected.map((r) => r.reason), ...valid.filter((s) => s.tag !== ref.tag).map((s) => `signature is for tag ${s.tag}`)];
    throw new NotFoundError(`No valid trust data for ${ref.tag}` + (why.length ? ` (${why.join('; ')})` : ''));
  }
  return { digest: m.digest, signatures: forTag };
}

/** The tags of a repository (or the one tag asked for) that a trusted signer signed, with their signatures. */
export async function signedTags(reg: SignatureSource & { tags(repo: string): Promise<string[]> }, signers: SignerLookup, ref: Reference): Promise<Signature[]> {
  const tags = ref.tag ? [ref.tag] : (await reg.tags(ref.path)).filter((t) => !/^sha256-[a-f0-9]{64}$/.test(t) && t !== SIGNER_LIST_TAG);
  const out: Signature[] = [];
  for (const tag of tags) {
    const m = await reg.manifest(ref.path, tag);
    if (!m) continue;
    const { valid } = await signaturesOf(reg, signers, ref, m.digest);
    out.push(...valid.filter((s) => s.tag === tag));
  }
  return out;
}
