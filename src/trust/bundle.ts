// A signature as a Sigstore bundle v0.3 (ADR 0007): a DSSE envelope over an
// in-toto Statement naming the repository, the manifest digest and the tag,
// signed with an ECDSA P-256 key named by its hint. `verifyBundle` treats the
// document as hostile: every field is checked before it is believed.
import { sign as signBytes, verify as verifyBytes, type KeyObject } from 'node:crypto';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
export const TAG_KEY = 'dev.berth.tag';
/** Larger signature documents are refused unread. */
export const MAX_BUNDLE = 64 * 1024;

export interface Bundle {
  mediaType: string;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: unknown[]; timestampVerificationData: Record<string, unknown> };
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid: string }[] };
}

export interface SignedClaim {
  /** Full repository name, docker.io/library/x. */
  name: string;
  digest: string;
  tag: string;
}

/** DSSE's pre-authentication encoding: what is actually signed. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

export function makeBundle(claim: SignedClaim, key: KeyObject, keyid: string): Bundle {
  const [alg, hex] = claim.digest.split(':');
  const statement = {
    _type: STATEMENT_TYPE,
    subject: [{ name: claim.name, digest: { [alg]: hex } }],
    predicateType: PREDICATE_TYPE,
    predicate: { [TAG_KEY]: claim.tag },
  };
  const payload = Buffer.from(JSON.stringify(statement));
  const sig = signBytes('sha256', pae(PAYLOAD_TYPE, payload), key);
  return {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: keyid }, tlogEntries: [], timestampVerificationData: {} },
    dsseEnvelope: { payload: payload.toString('base64'), payloadType: PAYLOAD_TYPE, signatures: [{ sig: sig.toString('base64'), keyid }] },
  };
}

export class BadSignatureError extends Error {}

/** The key hint a bundle names, before anything is verified (to find the key). */
export function bundleHint(doc: Buffer): string {
  const b = parse(doc);
  const hint = b.verificationMaterial?.publicKey?.hint;
  if (typeof hint !== 'string' || !/^[a-f0-9]{64}$/.test(hint)) throw new BadSignatureError('signature names no valid public key');
  return hint;
}

function parse(doc: Buffer): Partial<Bundle> {
  if (doc.length > MAX_BUNDLE) throw new BadSignatureError(`signature document is ${doc.length} bytes, over the ${MAX_BUNDLE} byte limit`);
  try {
    const v = JSON.parse(doc.toString('utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Partial<Bundle>;
  } catch (err) {
    throw new BadSignatureError(`signature document is not valid JSON: ${(err as Error).message}`);
  }
}

/** Verifies a bundle with `key` and returns what it claims; any flaw is a BadSignatureError. */
export function verifyBundle(doc: Buffer, key: KeyObject): SignedClaim {
  const b = parse(doc);
  if (b.mediaType !== BUNDLE_MEDIA_TYPE) throw new BadSignatureError(`unsupported signature media type ${String(b.mediaType)}`);
  const env = b.dsseEnvelope;
  if (!env || env.payloadType !== PAYLOAD_TYPE || typeof env.payload !== 'string' || !Array.isArray(env.signatures) || env.signatures.length !== 1) {
    throw new BadSignatureError('signature document has no single-signature DSSE envelope');
  }
  const payload = Buffer.from(env.payload, 'base64');
  const sig = Buffer.from(String(env.signatures[0].sig), 'base64');
  if (!verifyBytes('sha256', pae(env.payloadType, payload), key, sig)) throw new BadSignatureError('signature does not verify with the signer\'s key');
  let st: { _type?: unknown; subject?: { name?: unknown; digest?: Record<string, unknown> }[]; predicateType?: unknown; predicate?: Record<string, unknown> };
  try {
    st = JSON.parse(payload.toString('utf8')) as typeof st;
  } catch {
    throw new BadSignatureError('signed statement is not valid JSON');
  }
  const subj = st.subject;
  if (st._type !== STATEMENT_TYPE || st.predicateType !== PREDICATE_TYPE || !Array.isArray(subj) || subj.length !== 1) throw new BadSignatureError('signed statement is not an image signature');
  const sha = subj[0].digest?.sha256;
  const tag = st.predicate?.[TAG_KEY];
  if (typeof subj[0].name !== 'string' || typeof sha !== 'string' || !/^[a-f0-9]{64}$/.test(sha) || typeof tag !== 'string') throw new BadSignatureError('signed statement names no image');
  return { name: subj[0].name, digest: `sha256:${sha}`, tag };
}
