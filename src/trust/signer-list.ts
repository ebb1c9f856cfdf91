// The signer list a repository publishes (ADR 0008): who may sign it, signed
// by the repository's root key, with a version that only goes up. It is an
// OCI image manifest (artifactType SIGNER_LIST_MEDIA_TYPE, the empty config,
// the list document as its one layer) under the fixed tag SIGNER_LIST_TAG.
// A client pins the root key on first use (pins.ts); the document is
// hostile until its root signature, repository and version have been checked.
import { createHash, createPublicKey, sign as signBytes, verify as verifyBytes, type KeyObject } from 'node:crypto';
import type { Reference } from '../api/reference.ts';
import { OCI_MANIFEST } from '../api/oci.ts';
import { pae } from './bundle.ts';
import { keyId, parsePublicKey } from './keys.ts';
import type { RegistryClient } from './registry.ts';
import type { SignerKey } from './signers.ts';

export const SIGNER_LIST_MEDIA_TYPE = 'application/vnd.dev.berth.trust.signers.v1+json';
export const SIGNER_LIST_PAYLOAD_TYPE = 'application/vnd.dev.berth.trust.signers.payload.v1+json';
/** The tag the signer list lives under in every repository that has one. */
export const SIGNER_LIST_TAG = 'berth-trust-signers';
const EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json';
/** Larger lists (or their manifests) are refused unread. */
export const MAX_SIGNER_LIST = 64 * 1024;
const MAX_LIST_MANIFEST = 16 * 1024;

/** What the root key signs. */
export interface SignerListContent {
  repository: string;
  version: number;
  signers: Record<string, SignerKey[]>;
}

export interface SignerList extends SignerListContent {
  root: { id: string; publicKey: string };
  /** sha256 of the signed payload, to tell two lists of one version apart. */
  payloadDigest: string;
}

export class BadSignerListError extends Error {}

/** The document: the root's public key and a DSSE envelope over the content, signed by it. */
export function makeSignerList(content: SignerListContent, root: KeyObject): Buffer {
  const pub = createPublicKey(root);
  const payload = Buffer.from(JSON.stringify({ _type: SIGNER_LIST_PAYLOAD_TYPE, ...content }));
  const sig = signBytes('sha256', pae(SIGNER_LIST_PAYLOAD_TYPE, payload), root);
  const id = keyId(pub);
  return Buffer.from(JSON.stringify({
    mediaType: SIGNER_LIST_MEDIA_TYPE,
    rootKey: { keyid: id, publicKey: pub.export({ type: 'spki', format: 'pem' }) },
    dsseEnvelope: { payload: payload.toString('base64'), payloadType: SIGNER_LIST_PAYLOAD_TYPE, signatures: [{ keyid: id, sig: sig.toString('base64') }] },
  }));
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Checks a list document's own root signature and its repository; whether that root is trusted is the pin's business. */
export function verifySignerList(doc: Buffer, repository: string): SignerList {
  if (doc.length > MAX_SIGNER_LIST) throw new BadSignerListError(`signer list of ${repository} is ${doc.length} bytes, over the ${MAX_SIGNER_LIST} byte limit`);
  let d: unknown;
  try {
    d = JSON.parse(doc.toString('utf8'));
  } catch (err) {
    throw new BadSignerListError(`signer list of ${repository} is not valid JSON: ${(err as Error).message}`);
  }
  const bad = (why: string): never => {
    throw new BadSignerListError(`signer list of ${repository} ${why}`);
  };
  if (!isObject(d) || d.mediaType !== SIGNER_LIST_MEDIA_TYPE || !isObject(d.rootKey) || !isObject(d.dsseEnvelope)) return bad('is not a signer list');
  const rootPem = d.rootKey.publicKey;
  if (typeof rootPem !== 'string') return bad('names no root key');
  let root: KeyObject;
  try {
    root = parsePublicKey(rootPem);
  } catch {
    return bad('has an unreadable root key');
  }
  const id = keyId(root);
  const env = d.dsseEnvelope;
  const sigs = env.signatures;
  if (env.payloadType !== SIGNER_LIST_PAYLOAD_TYPE || typeof env.payload !== 'string' || !Array.isArray(sigs) || sigs.length !== 1 || !isObject(sigs[0])) return bad('has no single-signature envelope');
  if (sigs[0].keyid !== id) return bad('is signed by a key other than its root key');
  const payload = Buffer.from(env.payload, 'base64');
  if (!verifyBytes('sha256', pae(SIGNER_LIST_PAYLOAD_TYPE, payload), root, Buffer.from(String(sigs[0].sig), 'base64'))) return bad(`does not verify with its root key ${id.slice(0, 12)}`);
  let c: unknown;
  try {
    c = JSON.parse(payload.toString('utf8'));
  } catch {
    return bad('has a signed payload that is not JSON');
  }
  if (!isObject(c) || c._type !== SIGNER_LIST_PAYLOAD_TYPE) return bad('has no signer list payload');
  if (c.repository !== repository) return bad(`is for repository ${String(c.repository)}`);
  if (typeof c.version !== 'number' || !Number.isSafeInteger(c.version) || c.version < 1) return bad('has no valid version');
  if (!isObject(c.signers)) return bad('lists no signers');
  const signers: Record<string, SignerKey[]> = {};
  for (const [name, keys] of Object.entries(c.signers)) {
    if (!Array.isArray(keys)) return bad(`has a malformed signer ${name}`);
    signers[name] = keys.map((k: unknown) => {
      if (!isObject(k) || typeof k.publicKey !== 'string' || (k.expires !== undefined && (typeof k.expires !== 'string' || Number.isNaN(Date.parse(k.expires))))) return bad(`has a malformed key of signer ${name}`);
      const pub = parsePublicKey(k.publicKey);
      return { id: keyId(pub), publicKey: pub.export({ type: 'spki', format: 'pem' }) as string, ...(k.expires !== undefined ? { expires: k.expires as string } : {}) };
    });
  }
  return { repository, version: c.version, signers, root: { id, publicKey: root.export({ type: 'spki', format: 'pem' }) as string }, payloadDigest: createHash('sha256').update(payload).digest('hex') };
}

/** The published list document of `ref`'s repository, unverified; undefined when there is none. */
export async function fetchSignerList(reg: RegistryClient, ref: Reference): Promise<Buffer | undefined> {
  const m = await reg.manifest(ref.path, SIGNER_LIST_TAG, MAX_LIST_MANIFEST);
  if (!m) return undefined;
  let doc: { artifactType?: unknown; layers?: { mediaType?: unknown; digest?: unknown; size?: unknown }[] };
  try {
    doc = JSON.parse(m.bytes.toString('utf8')) as typeof doc;
  } catch {
    throw new BadSignerListError(`signer list manifest of ${ref.name} is not valid JSON`);
  }
  const layer = Array.isArray(doc.layers) && doc.layers.length === 1 ? doc.layers[0] : undefined;
  if (doc.artifactType !== SIGNER_LIST_MEDIA_TYPE || !layer || layer.mediaType !== SIGNER_LIST_MEDIA_TYPE || typeof layer.digest !== 'string') {
    throw new BadSignerListError(`tag ${SIGNER_LIST_TAG} of ${ref.name} holds no signer list`);
  }
  if (typeof layer.size !== 'number' || layer.size > MAX_SIGNER_LIST) throw new BadSignerListError(`signer list of ${ref.name} is ${String(layer.size)} bytes, over the ${MAX_SIGNER_LIST} byte limit`);
  return reg.blob(ref.path, layer.digest, MAX_SIGNER_LIST);
}

/** Pushes a list document under SIGNER_LIST_TAG. */
export async function publishSignerList(reg: RegistryClient, ref: Reference, doc: Buffer): Promise<void> {
  const docDigest = await reg.putBlob(ref.path, doc);
  const empty = Buffer.from('{}');
  const emptyDigest = await reg.putBlob(ref.path, empty);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SIGNER_LIST_MEDIA_TYPE,
    config: { mediaType: EMPTY_CONFIG, digest: emptyDigest, size: empty.length },
    layers: [{ mediaType: SIGNER_LIST_MEDIA_TYPE, digest: docDigest, size: doc.length }],
    annotations: { 'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
  }));
  await reg.putManifest(ref.path, SIGNER_LIST_TAG, OCI_MANIFEST, manifest);
}
