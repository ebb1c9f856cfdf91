// Pulling through the daemon with the docker CLI's progress output: `pull`,
// and the implicit pull of `run`/`create`.
import { createInterface } from 'node:readline';
import type { EngineClient } from '../client/engine-client.ts';
import { parseNormalizedNamed, referenceString, withDefaultTag } from '../api/reference.ts';
import { CliError } from './context.ts';
import { configDir, registryAuthHeader } from './credentials.ts';
import { trustContext, trustedDigest } from './trust.ts';
import { signerLookup } from './trust-signers.ts';
import { signedTags } from '../trust/signatures.ts';

interface PullMessage {
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Prints pull progress as the docker CLI's jsonmessage does: on a terminal one
 * line per layer, rewritten in place; otherwise plain `id: status` lines with
 * the progress bars left out.
 */
export function progressPrinter(out: NodeJS.WriteStream): (m: PullMessage) => void {
  const tty = out.isTTY === true;
  const lines: string[] = [];
  return (m) => {
    const text = (m.id ? `${m.id}: ` : '') + (m.status ?? '') + (tty && m.progress ? ` ${m.progress}` : '');
    if (!tty) {
      if (m.progress) return;
      out.write(text + '\n');
      return;
    }
    if (!m.id) {
      out.write(text + '\n');
      lines.length = 0;
      return;
    }
    const idx = lines.indexOf(m.id);
    if (idx === -1) {
      lines.push(m.id);
      out.write(text + '\n');
      return;
    }
    const up = lines.length - idx;
    out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  };
}

/**
 * Pulls `name` through the daemon, printing Docker's progress lines to `out`
 * (nothing when `quiet`); a stream error becomes a CliError. Returns the full
 * reference pulled. Also what `run`/`create` use for an image they lack.
 */
export async function pullImage(client: EngineClient, name: string, o: { platform?: string; quiet?: boolean; allTags?: boolean; out: NodeJS.WriteStream; config?: string; trust?: boolean }): Promise<string> {
  let ref;
  try {
    ref = parseNormalizedNamed(name);
    if (o.allTags && (ref.tag || ref.digest)) throw new CliError('tag can\'t be used with --all-tags/-a', 1);
    if (!o.allTags) ref = withDefaultTag(ref);
  } catch (err) {
    throw new CliError(`${(err as Error).message}`, 1);
  }
  if (o.trust && o.allTags) {
    // Every tag a trusted signer signed, each by its digest, as the docker CLI's trusted `pull -a`.
    const ctx = trustContext(o.config);
    let sigs;
    try {
      sigs = await signedTags(ctx.registry(ref.domain), (await signerLookup(ctx, ref)).lookup, ref);
    } catch (err) {
      throw new CliError(`Error: ${(err as Error).message}`, 1);
    }
    const tags = [...new Map(sigs.map((s) => [s.tag, s.digest])).entries()].sort(([a], [b]) => a.localeCompare(b));
    if (tags.length === 0) throw new CliError(`No trusted tags for ${ref.name}`, 1);
    for (const [i, [tag, digest]] of tags.entries()) {
      if (!o.quiet) o.out.write(`Pull (${i + 1} of ${tags.length}): ${ref.name}:${tag}@${digest}\n`);
      await pullImage(client, `${ref.name}@${digest}`, { ...o, trust: false, allTags: false });
      if (!o.quiet) o.out.write(`Tagging ${ref.name}@${digest} as ${ref.name}:${tag}\n`);
      await client.status('POST', `/images/${ref.name}@${digest}/tag`, { query: { repo: ref.name, tag } });
    }
    return ref.name;
  }
  if (o.trust && !ref.digest) {
    // As the docker CLI: the signed digest is pulled, then tagged.
    const { digest } = await trustedDigest(trustContext(o.config), name);
    const tagged = referenceString(ref);
    if (!o.quiet) o.out.write(`Pull (1 of 1): ${tagged}@${digest}\n`);
    await pullImage(client, `${ref.name}@${digest}`, { ...o, trust: false, quiet: o.quiet });
    if (!o.quiet) o.out.write(`Tagging ${ref.name}@${digest} as ${tagged}\n`);
    await client.status('POST', `/images/${ref.name}@${digest}/tag`, { query: { repo: ref.name, tag: ref.tag } });
    return tagged;
  }
  // --config's credentials, as login stored them there.
  const auth = registryAuthHeader(ref.domain, configDir(o.config));
  const res = await client.stream('POST', '/images/create', {
    query: { fromImage: ref.name, tag: o.allTags ? undefined : ref.digest ?? ref.tag, platform: o.platform },
    headers: auth ? { 'X-Registry-Auth': auth } : {},
  });
  const print = o.quiet ? () => {} : progressPrinter(o.out);
  for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    let m: PullMessage;
    try {
      m = JSON.parse(line) as PullMessage;
    } catch {
      continue;
    }
    if (m.error !== undefined || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
    print(m);
  }
  return o.allTags ? ref.name : referenceString(ref);
}
