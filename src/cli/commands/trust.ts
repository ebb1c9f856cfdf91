// `berth trust`: the docker CLI's trust commands (key generate/load, signer
// add/remove, sign, inspect, revoke) over berth's signatures (ADR 0007).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Reference } from '../../api/reference.ts';
import { parsePublicKey } from '../../trust/keys.ts';
import { signerKeyOf } from '../../trust/signers.ts';
import { ConflictError, NotFoundError } from '../../errors.ts';
import { publishedList, publishSigners, signerLookup } from '../trust-signers.ts';
import { signedTags } from '../../trust/signatures.ts';
import { ApiError } from '../../client/engine-client.ts';
import { clientFor, CliError } from '../context.ts';
import { globals } from '../options.ts';
import { confirm } from '../prompt.ts';
import { parseImage, passphrase, REPOSITORY_PASSPHRASE_ENV, signTag, trustContext, type TrustContext } from '../trust.ts';
import { formatRows } from '../format/table.ts';
import { configDir, registryAuthHeader } from '../credentials.ts';
import { createInterface } from 'node:readline';
import { progressPrinter } from '../pull.ts';

const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;

function fail(err: unknown): never {
  throw err instanceof CliError ? err : new CliError(`Error: ${(err as Error).message}`, 1);
}

function defineKey(trust: Command): void {
  const key = trust.command('key').description('Manage keys for signing Docker images');
  key.command('generate')
    .description('Generate and load a signing key-pair')
    .option('--dir <dir>', 'Directory to generate key in, defaults to current directory')
    .argument('<name>')
    .action(async (name: string, f: { dir?: string }, cmd: Command) => {
      if (!NAME_RE.test(name)) throw new CliError(`key name "${name}" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character`, 1);
      const pubPath = resolve(f.dir ?? '.', `${name}.pub`);
      if (existsSync(pubPath)) throw new CliError(`public key file already exists: "${pubPath}"`, 1);
      const ctx = trustContext(globals(cmd).config);
      process.stdout.write(`Generating key for ${name}...\n`);
      const pass = await passphrase(REPOSITORY_PASSPHRASE_ENV, `Enter passphrase for new ${name} key: `, true);
      try {
        const { publicPem } = ctx.keys.generate(name, pass);
        writeFileSync(pubPath, publicPem, { mode: 0o644 });
      } catch (err) {
        fail(err);
      }
      process.stdout.write(`Successfully generated and loaded private key. Corresponding public key available: ${pubPath}\n`);
    });
  key.command('load')
    .description('Load a private key file for signing')
    .option('--name <name>', 'Name for the loaded key', 'signer')
    .argument('<keyfile>')
    .action(async (file: string, f: { name: string }, cmd: Command) => {
      if (!NAME_RE.test(f.name)) throw new CliError(`key name "${f.name}" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character`, 1);
      let pem: string;
      try {
        pem = readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`error reading key file: ${(err as Error).message}`, 1);
      }
      const ctx = trustContext(globals(cmd).config);
      process.stdout.write(`Loading key from "${file}"...\n`);
      const pass = await passphrase(REPOSITORY_PASSPHRASE_ENV, `Enter passphrase for new ${f.name} key: `, true);
      try {
        // An encrypted key file is opened with the same passphrase it will be kept under.
        ctx.keys.load(f.name, pem, pass, pass);
      } catch (err) {
        throw new CliError(`error importing key from ${file}: ${(err as Error).message}`, 1);
      }
      process.stdout.write(`Successfully imported key from ${file}\n`);
    });
}

function repoName(s: string): Reference {
  const ref = parseImage(s);
  if (ref.tag || ref.digest) throw new CliError(`invalid repository name "${s}": a repository has no tag or digest`, 1);
  return ref;
}

function defineSigner(trust: Command): void {
  const signer = trust.command('signer').description('Manage entities who can sign Docker images');
  signer.command('add')
    .description('Add a signer')
    .requiredOption('--key <keys>', 'Path to the signer\'s public key file', (v: string, prev: string[] = []) => [...prev, v])
    .argument('<name>')
    .argument('<repositories...>')
    .action(async (name: string, repos: string[], f: { key: string[] }, cmd: Command) => {
      if (!NAME_RE.test(name) || name === 'releases') throw new CliError(`signer name "${name}" must start with lowercase alphanumeric characters and can include "-" or "_" after the first character`, 1);
      const ctx = trustContext(globals(cmd).config);
      const pems = f.key.map((p) => {
        try {
          const pem = readFileSync(p, 'utf8');
          parsePublicKey(pem);
          return pem;
        } catch (err) {
          throw new CliError(`unable to read public key from file: ${p}: ${(err as Error).message}`, 1);
        }
      });
      let failed = 0;
      for (const r of repos) {
        const ref = repoName(r);
        process.stdout.write(`Adding signer "${name}" to ${r}...\n`);
        try {
          for (const pem of pems) {
            const key = signerKeyOf(pem);
            if (ctx.signers.signerOf(ref.name, key.id)?.name === name) throw new ConflictError(`key ${key.id.slice(0, 12)} is already a key of signer ${name} for ${ref.name}`);
            // Published first, so a failure leaves the local signers as they were.
            const where = await publishSigners(ctx, ref, { add: { name, key } }, process.stdout);
            if (where === 'local') process.stdout.write(`The signer list of ${r} is published under a root key this client does not hold: ${name} is trusted by this client only\n`);
            ctx.signers.add(ref.name, name, pem);
          }
          process.stdout.write(`Successfully added signer: ${name} to ${r}\n`);
        } catch (err) {
          if (err instanceof CliError && err.message === '') throw err;
          process.stderr.write(`Failed to add signer to: ${r}: ${(err as Error).message.replace(/^Error: /, '')}\n`);
          failed++;
        }
      }
      if (failed) throw new CliError(`Error: failed to add signer to: ${failed} repositor${failed === 1 ? 'y' : 'ies'}`, 1);
    });
  signer.command('remove')
    .description('Remove a signer')
    .option('-f, --force', 'Do not prompt for confirmation before removing the most recent signer')
    .argument('<name>')
    .argument('<repositories...>')
    .action(async (name: string, repos: string[], f: { force?: boolean }, cmd: Command) => {
      const ctx = trustContext(globals(cmd).config);
      let failed = 0;
      for (const r of repos) {
        const ref = repoName(r);
        process.stdout.write(`Removing signer "${name}" from ${r}...\n`);
        let published: Record<string, unknown> | undefined;
        try {
          published = (await publishedList(ctx, ref))?.signers;
        } catch (err) {
          process.stderr.write(`Error: ${(err as Error).message}\n`);
          failed++;
          continue;
        }
        const local = ctx.signers.signers(ref.name);
        const others = [...new Set([...Object.keys(published ?? {}), ...Object.keys(local)])].filter((n) => n !== name);
        if (others.length === 0 && !f.force && !(await confirm(`The signer "${name}" signs the last released version of ${r}. Removing this signer will make ${r} unpullable with content trust. Are you sure you want to continue?`))) {
          process.stdout.write(`\nAborting action.\n`);
          continue;
        }
        try {
          if (!(name in local) && !(published && name in published)) throw new NotFoundError(`No signer ${name} for repository ${ref.name}`);
          if (published && name in published && (await publishSigners(ctx, ref, { remove: name }, process.stdout)) === 'local') {
            const why = `signer ${name} is in the signer list of ${ref.name}, which is published under a root key this client does not hold`;
            if (!(name in local)) throw new ConflictError(why);
            process.stdout.write(`${why[0].toUpperCase()}${why.slice(1)}: removed for this client only\n`);
          }
          if (name in local) ctx.signers.remove(ref.name, name);
          process.stdout.write(`Successfully removed ${name} from ${r}\n\n`);
        } catch (err) {
          process.stderr.write(`Error: ${(err as Error).message.replace(/^Error: /, '')}\n`);
          failed++;
        }
      }
      if (failed) throw new CliError(`Error removing signer from: ${repos.join(', ')}`, 1);
    });
}

interface TrustInfo {
  Name: string;
  SignedTags: { SignedTag: string; Digest: string; Signers: string[] }[];
  Signers: { Name: string; Keys: { ID: string }[] }[];
  AdministrativeKeys: { Name: string; Keys: { ID: string }[] }[];
}

async function inspectOne(ctx: TrustContext, name: string): Promise<TrustInfo> {
  const ref = parseImage(name);
  const { lookup, list } = await signerLookup(ctx, ref);
  const sigs = await signedTags(ctx.registry(ref.domain), lookup, ref);
  const byTag = new Map<string, { SignedTag: string; Digest: string; Signers: string[] }>();
  for (const s of sigs) {
    const k = `${s.tag}@${s.digest}`;
    const row = byTag.get(k) ?? { SignedTag: s.tag, Digest: s.digest.replace(/^sha256:/, ''), Signers: [] };
    if (!row.Signers.includes(s.signer)) row.Signers.push(s.signer);
    byTag.set(k, row);
  }
  const signers = Object.entries(lookup.signers(ref.name)).map(([n, keys]) => ({ Name: n, Keys: keys.map((k) => ({ ID: k.id })) }));
  return {
    Name: name,
    SignedTags: [...byTag.values()].sort((a, b) => a.SignedTag.localeCompare(b.SignedTag)),
    Signers: signers.filter((s) => s.Name !== 'repository').sort((a, b) => a.Name.localeCompare(b.Name)),
    // The root key of the published signer list, then the repository key, as docker's inspect lists them.
    AdministrativeKeys: [
      ...(list ? [{ Name: 'Root', Keys: [{ ID: list.root.id }] }] : []),
      ...signers.filter((s) => s.Name === 'repository').map((s) => ({ Name: 'Repository', Keys: s.Keys })),
    ],
  };
}

function pretty(info: TrustInfo): string {
  if (info.SignedTags.length === 0 && info.Signers.length === 0 && info.AdministrativeKeys.length === 0) return `\nNo signatures or cannot access ${info.Name}\n`;
  let s = `\nSignatures for ${info.Name}\n\n`;
  s += formatRows('table {{.SignedTag}}\t{{.Digest}}\t{{.Signers}}', info.SignedTags.map((t) => ({ SignedTag: t.SignedTag, Digest: t.Digest, Signers: t.Signers.join(', ') })), { headers: { SignedTag: 'SIGNED TAG', Digest: 'DIGEST', Signers: 'SIGNERS' } });
  if (info.Signers.length) {
    s += `\nList of signers and their keys for ${info.Name}\n\n`;
    s += formatRows('table {{.Name}}\t{{.Keys}}', info.Signers.map((x) => ({ Name: x.Name, Keys: x.Keys.map((k) => k.ID.slice(0, 12)).join(', ') })), { headers: { Name: 'SIGNER', Keys: 'KEYS' } });
  }
  if (info.AdministrativeKeys.length) {
    s += `\nAdministrative keys for ${info.Name}\n\n`;
    // docker prints the targets (Repository) key before the root key.
    for (const a of [...info.AdministrativeKeys].reverse()) s += `  ${a.Name} Key:\t${a.Keys.map((k) => k.ID).join(', ')}\n`;
  }
  return s;
}

function defineInspect(trust: Command): void {
  trust.command('inspect')
    .description('Return low-level information about keys and signatures')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument('<image...>')
    .action(async (images: string[], f: { pretty?: boolean }, cmd: Command) => {
      const ctx = trustContext(globals(cmd).config);
      const infos: TrustInfo[] = [];
      for (const i of images) infos.push(await inspectOne(ctx, i).catch(fail));
      if (f.pretty) process.stdout.write(infos.map(pretty).join(''));
      else process.stdout.write(JSON.stringify(infos, null, 4) + '\n');
    });
}

function defineSign(trust: Command): void {
  trust.command('sign')
    .description('Sign an image')
    .option('--local', 'Sign a locally tagged image')
    .argument('<image:tag>')
    .action(async (image: string, _f: unknown, cmd: Command) => {
      const ref = parseImage(image);
      if (!ref.tag || ref.digest) throw new CliError(`No tag specified for ${image}`, 1);
      const g = globals(cmd);
      const ctx = trustContext(g.config);
      const client = await clientFor(g);
      let digest: string | undefined;
      // A local image is pushed first, as docker trust sign does; otherwise the registry's tag is signed.
      const local = await client.call('GET', `/images/${encodeURIComponent(image)}/json`).then(() => true, (e: unknown) => {
        if (e instanceof ApiError && e.status === 404) return false;
        throw e;
      });
      if (local) {
        process.stdout.write(`Signing and pushing trust data for local image ${image}, may overwrite remote trust data\n`);
        const auth = registryAuthHeader(ref.domain, configDir(g.config));
        const res = await client.stream('POST', `/images/${ref.name}/push`, { query: { tag: ref.tag }, headers: { 'X-Registry-Auth': auth ?? Buffer.from('{}').toString('base64url') } });
        const print = progressPrinter(process.stdout);
        for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
          if (!line.trim()) continue;
          const m = JSON.parse(line) as { error?: string; errorDetail?: { message?: string }; aux?: { Digest?: string }; status?: string; id?: string };
          if (m.error !== undefined || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
          if (m.aux?.Digest) digest = m.aux.Digest;
          else if (!m.aux) print(m);
        }
      } else {
        process.stdout.write(`Signing and pushing trust metadata for ${image}\n`);
        digest = (await ctx.registry(ref.domain).manifest(ref.path, ref.tag).catch(fail))?.digest;
      }
      if (!digest) throw new CliError(`No such image: ${image}`, 1);
      await signTag(ctx, ref, ref.tag, digest, process.stdout);
    });
}

function defineRevoke(trust: Command): void {
  trust.command('revoke')
    .description('Remove trust for an image')
    .option('-y, --yes', 'Do not prompt for confirmation')
    .argument('<image[:tag]>')
    .action(async (image: string, f: { yes?: boolean }, cmd: Command) => {
      const ref = parseImage(image);
      if (ref.digest) throw new CliError('cannot use a digest reference for IMAGE:TAG', 1);
      if (!ref.tag && !f.yes && !(await confirm(`Please confirm you would like to delete all signature data for ${image}?`))) {
        process.stdout.write('\nAborting action.\n');
        return;
      }
      const ctx = trustContext(globals(cmd).config);
      const reg = ctx.registry(ref.domain);
      const sigs = await signerLookup(ctx, ref).then(({ lookup }) => signedTags(reg, lookup, ref)).catch(fail);
      if (sigs.length === 0) throw new CliError(`Error: could not remove signature for ${image}: No signature found`, 1);
      for (const s of sigs) {
        await reg.deleteManifest(ref.path, s.id).catch((err: unknown) => {
          throw new CliError(`Error: could not remove signature for ${image}: ${(err as Error).message}`, 1);
        });
        // A registry without the referrers API lists signatures in the fallback tag.
        await reg.updateFallback(ref.path, s.digest, { remove: s.id }).catch(() => {});
      }
      process.stdout.write(`Successfully deleted signature for ${image}\n`);
    });
}

export function registerTrustCommands(program: Command): void {
  const trust = program.command('trust').description('Manage trust on Docker images');
  defineKey(trust);
  defineSigner(trust);
  defineInspect(trust);
  defineSign(trust);
  defineRevoke(trust);
}
