// Content trust on the CLI's side, as the docker CLI did it: the CLI
// resolves a tag to the digest a trusted signature names before it asks the
// daemon for anything, and signs after a push. Keys, signers and the
// registry's signatures are src/trust/'s (ADR 0007).
import { Option } from 'commander';
import { parseNormalizedNamed, withDefaultTag, type Reference } from '../api/reference.ts';
import type { StoredKey } from '../trust/keys.ts';
import { expired, signerKeyOf } from '../trust/signers.ts';
import { pushSignature, resolveTrusted } from '../trust/signatures.ts';
import { CliError } from './context.ts';
import { passphrase, REPOSITORY_PASSPHRASE_ENV, type TrustContext } from './trust-context.ts';
import { publishSigners, signerLookup } from './trust-signers.ts';

export { passphrase, REPOSITORY_PASSPHRASE_ENV, trustContext, type TrustContext } from './trust-context.ts';


/**
 * `--disable-content-trust`: the docker CLI's flag (trust is off unless
 * DOCKER_CONTENT_TRUST is set). A boolean flag only: an optional value
 * would swallow the image argument after it.
 */
export function contentTrustOption(what: string): Option {
  return new Option('--disable-content-trust', what);
}

/** Go's strconv.ParseBool of $DOCKER_CONTENT_TRUST, overridden by the flag. */
export function trustEnabled(disable: boolean | undefined): boolean {
  if (disable !== undefined) return !disable;
  return /^(1|t|T|true|TRUE|True)$/.test(process.env.DOCKER_CONTENT_TRUST ?? '');
}

export function parseImage(image: string): Reference {
  try {
    return parseNormalizedNamed(image);
  } catch (err) {
    throw new CliError(`invalid reference format: ${(err as Error).message}`, 1);
  }
}

/** The repository's tag resolved to its signed digest; a trust failure is a CliError with Docker's wording. */
export async function trustedDigest(ctx: TrustContext, image: string): Promise<{ ref: Reference & { tag: string }; digest: string }> {
  const parsed = withDefaultTag(parseImage(image));
  const ref = { ...parsed, tag: parsed.tag ?? 'latest' };
  try {
    const { lookup } = await signerLookup(ctx, ref);
    const { digest } = await resolveTrusted(ctx.registry(ref.domain), lookup, ref);
    return { ref, digest };
  } catch (err) {
    throw new CliError(`Error: ${(err as Error).message}`, 1);
  }
}

/**
 * The key to sign `ref` with: a local private key that is a signer of the
 * repository; with no signers at all, a new repository key made a signer
 * (as a first trusted push initialised a Notary repository).
 */
export async function signingKey(ctx: TrustContext, ref: Reference, out: NodeJS.WritableStream): Promise<{ key: StoredKey; signer: string }> {
  const { lookup } = await signerLookup(ctx, ref).catch((err: unknown) => {
    throw new CliError(`Error: ${(err as Error).message}`, 1);
  });
  const signers = lookup.signers(ref.name);
  let lapsed: string | undefined;
  for (const k of ctx.keys.list()) {
    const s = lookup.signerOf(ref.name, k.id);
    if (s && expired(s.key)) lapsed = `key ${k.id.slice(0, 12)} of signer ${s.name} expired on ${s.key.expires}`;
    else if (s) return { key: k, signer: s.name };
  }
  if (lapsed) throw new CliError(`Error: ${lapsed}: generate a new key and add it with berth trust signer add`, 1);
  if (Object.keys(signers).length > 0) {
    throw new CliError(`Error: no private key of a signer of ${ref.name} (${Object.keys(signers).join(', ')}) is loaded: berth trust key load`, 1);
  }
  const pass = await passphrase(REPOSITORY_PASSPHRASE_ENV, `Enter passphrase for new repository key for ${ref.name}: `, true);
  const { key, publicPem } = ctx.keys.generate('repository', pass);
  // Published first (initialising the repository and its root), then trusted locally.
  await publishSigners(ctx, ref, { add: { name: 'repository', key: signerKeyOf(publicPem) } }, out).catch((err: unknown) => {
    throw err instanceof CliError ? err : new CliError(`Error: failed to publish the signer list of ${ref.name}: ${(err as Error).message}`, 1);
  });
  ctx.signers.add(ref.name, 'repository', publicPem);
  out.write(`Repository key with ID ${key.id} created, signer "repository" added to ${ref.name}\n`);
  return { key, signer: 'repository' };
}

/** Signs `ref:tag` → `digest` in the registry, printing the docker CLI's lines. */
export async function signTag(ctx: TrustContext, ref: Reference, tag: string, digest: string, out: NodeJS.WritableStream): Promise<void> {
  const { key, signer } = await signingKey(ctx, ref, out);
  out.write(`Signing and pushing trust metadata\n`);
  const pass = await passphrase(REPOSITORY_PASSPHRASE_ENV, `Enter passphrase for ${signer} key with ID ${key.id.slice(0, 7)}: `);
  let priv;
  try {
    priv = ctx.keys.unlock(key, pass);
  } catch (err) {
    throw new CliError(`Error: ${(err as Error).message}`, 1);
  }
  try {
    await pushSignature(ctx.registry(ref.domain), ref, tag, digest, priv, key.id);
  } catch (err) {
    throw new CliError(`Error: failed to sign ${ref.name}:${tag}: ${(err as Error).message}`, 1);
  }
  out.write(`Successfully signed ${ref.name}:${tag}\n`);
}

// The docker CLI's FROM line pattern, with the flags before the image (--platform) kept aside.
const FROM_LINE = /^(\s*FROM[ \f\r\t\v]+)((?:--[^ \f\r\t\v\n]+[ \f\r\t\v]+)*)([^ \f\r\t\v\n#]+)(.*)$/i;

/**
 * A Dockerfile whose FROM images are pinned to the digests their trusted
 * signatures name, as the docker CLI's build does with content trust: the
 * daemon then builds (and pulls, if it must) only those digests. Stage
 * names, `scratch`, digests and build-arg references are left as written.
 */
export async function trustedDockerfile(ctx: TrustContext, text: string): Promise<{ text: string; pinned: { tagged: Reference & { tag: string }; digestRef: string }[] }> {
  const stages = new Set<string>();
  const pinned: { tagged: Reference & { tag: string }; digestRef: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = FROM_LINE.exec(lines[i]);
    if (!m) continue;
    const [, head, flags, image, rest] = m;
    const as = /^\s+AS\s+([^\s#]+)/i.exec(rest)?.[1];
    const skip = image.toLowerCase() === 'scratch' || image.includes('$') || stages.has(image.toLowerCase()) || image.includes('@');
    if (as) stages.add(as.toLowerCase());
    if (skip) continue;
    const { ref, digest } = await trustedDigest(ctx, image);
    const digestRef = `${ref.name}@${digest}`;
    pinned.push({ tagged: ref, digestRef });
    lines[i] = `${head}${flags}${digestRef}${rest}`;
  }
  return { text: lines.join('\n'), pinned };
}
