// The published signer list on the CLI's side (ADR 0008): fetching and
// pinning it before anything is verified, and publishing a new version,
// signed by this client's root key, when a signer is added or removed.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Reference } from '../api/reference.ts';
import { keyId } from '../trust/keys.ts';
import { BadSignerListError, fetchSignerList, makeSignerList, publishSignerList, verifySignerList, type SignerList } from '../trust/signer-list.ts';
import { CombinedSigners, type SignerKey } from '../trust/signers.ts';
import { CliError } from './context.ts';
import { passphrase, type TrustContext } from './trust-context.ts';

export const ROOT_PASSPHRASE_ENV = 'DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE';

/**
 * The repository's published signer list, checked against its root pin
 * (pinning it on first use); undefined when the repository publishes none.
 * A list that vanished after its root was pinned is refused, as a list
 * could otherwise be rolled back to "no list".
 */
export async function publishedList(ctx: TrustContext, ref: Reference, o: { ownRoot?: string } = {}): Promise<SignerList | undefined> {
  const doc = await fetchSignerList(ctx.registry(ref.domain), ref);
  if (!doc) {
    const pin = ctx.pins.get(ref.name);
    // The holder of the pinned root may publish again; anyone else is refused.
    if (pin && pin.root !== o.ownRoot) throw new BadSignerListError(`signer list of ${ref.name} is missing from the registry, though root key ${pin.root.slice(0, 12)} (version ${pin.version}) was pinned for it`);
    return undefined;
  }
  const list = verifySignerList(doc, ref.name);
  ctx.pins.accept(list);
  return list;
}

/** Who may sign `ref`'s repository: the published list's signers and the locally added ones. */
export async function signerLookup(ctx: TrustContext, ref: Reference): Promise<{ lookup: CombinedSigners; list?: SignerList }> {
  const list = await publishedList(ctx, ref);
  return { lookup: new CombinedSigners(ctx.signers, ref.name, list?.signers), list };
}

/** This client's root key (one for all repositories, as the docker CLI reused it), made on first need, and unlocked. */
export async function rootKey(ctx: TrustContext, out: NodeJS.WritableStream): Promise<KeyObject> {
  let root = ctx.keys.list().find((k) => k.role === 'root');
  let pass: string;
  if (root) {
    pass = await passphrase(ROOT_PASSPHRASE_ENV, `Enter passphrase for root key with ID ${root.id.slice(0, 7)}: `);
  } else {
    pass = await passphrase(ROOT_PASSPHRASE_ENV, 'Enter passphrase for new root key: ', true);
    root = ctx.keys.generate('root', pass).key;
    out.write(`Root key with ID ${root.id} created\n`);
  }
  try {
    return ctx.keys.unlock(root, pass);
  } catch (err) {
    throw new CliError(`Error: ${(err as Error).message}`, 1);
  }
}

export type SignerChange = { add: { name: string; key: SignerKey } } | { remove: string };

/**
 * Publishes the repository's next signer list with `change` applied: the
 * published signers and the local ones, signed by this client's root. A list
 * published under another root is not this client's to change: then the
 * change stays local and 'local' is returned.
 */
export async function publishSigners(ctx: TrustContext, ref: Reference, change: SignerChange, out: NodeJS.WritableStream): Promise<'published' | 'local'> {
  const own = ctx.keys.list().find((k) => k.role === 'root');
  const current = await publishedList(ctx, ref, { ownRoot: own?.id });
  if (current && current.root.id !== own?.id) return 'local';
  const republish = !current && ctx.pins.get(ref.name) !== undefined;
  if (!current && !republish) out.write(`Initializing signed repository for ${ref.name}...\n`);
  const priv = await rootKey(ctx, out);
  const signers: Record<string, SignerKey[]> = structuredClone(current?.signers ?? {});
  for (const [name, keys] of Object.entries(ctx.signers.signers(ref.name))) {
    const have = (signers[name] ??= []);
    for (const k of keys) if (!have.some((h) => h.id === k.id)) have.push(k);
  }
  if ('add' in change) {
    const have = (signers[change.add.name] ??= []);
    if (!have.some((h) => h.id === change.add.key.id)) have.push(change.add.key);
  } else {
    delete signers[change.remove];
  }
  const version = Math.max(current?.version ?? 0, ctx.pins.get(ref.name)?.version ?? 0) + 1;
  const doc = makeSignerList({ repository: ref.name, version, signers }, priv);
  await publishSignerList(ctx.registry(ref.domain), ref, doc);
  ctx.pins.accept(verifySignerList(doc, ref.name));
  out.write(`Signer list version ${version} of ${ref.name} published, signed by root key ${keyId(createPublicKey(priv)).slice(0, 12)}\n`);
  if (!current && !republish) out.write(`Successfully initialized "${ref.name}"\n`);
  return 'published';
}
