// Validation of every identifier that arrives from outside: repository names,
// tags, digests and upload ids. They end up in filesystem paths, so anything
// not matching the spec's grammar is refused before it gets near the store.
import { RegistryError } from './errors.ts';

// From the distribution spec ("Pulling manifests"). Components can never be
// "." or ".." and never start with "_", which keeps our own "_manifests"
// style directories out of the name space.
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const UPLOAD_ID_RE = /^[a-f0-9]{32}$/;
export const MAX_NAME_LENGTH = 255;

/** Digest algorithms we compute and verify, with the hex length of each. */
export const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

export interface Digest {
  algorithm: string;
  hex: string;
  /** The canonical "algorithm:hex" form. */
  text: string;
}

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function checkName(name: string): string {
  if (!isValidName(name)) throw new RegistryError(400, 'NAME_INVALID', 'invalid repository name', { name: name.slice(0, 300) });
  return name;
}

export function isTag(ref: string): boolean {
  return TAG_RE.test(ref);
}

/** Parses a digest or returns undefined; only lower-case hex of the right length is accepted. */
export function parseDigest(text: string): Digest | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const algorithm = text.slice(0, colon);
  const hex = text.slice(colon + 1);
  const len = ALGORITHMS[algorithm];
  if (len === undefined || hex.length !== len || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm, hex, text };
}

/** Parses a digest from a request, answering 400 DIGEST_INVALID when it is malformed or uses an unknown algorithm. */
export function requireDigest(text: string | null | undefined): Digest {
  const d = text ? parseDigest(text) : undefined;
  if (!d) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid or unsupported digest', { digest: (text ?? '').slice(0, 200) });
  return d;
}

/** Looks like a digest (has a colon) even if it is not a valid one. */
export function looksLikeDigest(ref: string): boolean {
  return ref.includes(':');
}

export function isUploadId(id: string): boolean {
  return UPLOAD_ID_RE.test(id);
}
