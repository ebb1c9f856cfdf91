// login, logout, push, search: the commands that talk to registries through
// the daemon, with credentials from the client config (credentials.ts).
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ApiError, type EngineClient } from '../../client/engine-client.ts';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { parseNormalizedNamed, familiarString, referenceString, withDefaultTag } from '../../api/reference.ts';
import {
  DEFAULT_SERVER, configDir, eraseCredential, getCredential, registryAuthHeader, serverKey, storeCredential,
} from '../credentials.ts';
import { progressPrinter } from '../pull.ts';
import { contentTrustOption, signTag, trustContext, trustEnabled } from '../trust.ts';
import type { SearchResult } from '../../api/search.ts';

interface StreamMessage {
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string; Size?: number };
}

function configFlag(cmd: Command): string {
  return configDir(globals(cmd).config);
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks on the terminal; the password without echo. */
async function prompt(question: string, hidden: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  if (hidden) {
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    out._writeToOutput = (s: string) => {
      if (!asked) {
        process.stdout.write(s);
        asked = true;
      }
    };
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (hidden) process.stdout.write('\n');
  }
}

function defineLogin(program: Command): void {
  program.command('login')
    .description('Authenticate to a registry')
    .option('-u, --username <username>', 'Username')
    .option('-p, --password <password>', 'Password or Personal Access Token (PAT)')
    .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
    .argument('[server]')
    .action(async (server: string | undefined, f: { username?: string; password?: string; passwordStdin?: boolean }, cmd: Command) => {
      if (f.password !== undefined && f.passwordStdin) throw new CliError('--password and --password-stdin are mutually exclusive', 1);
      let password = f.password;
      if (f.passwordStdin) {
        if (f.username === undefined) throw new CliError('Must provide --username with --password-stdin', 1);
        password = (await readAllStdin()).replace(/\r?\n$/, '');
      } else if (password !== undefined) {
        process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      }
      const dir = configFlag(cmd);
      const key = serverKey(server);
      const address = server ? key : DEFAULT_SERVER;
      let username = f.username?.trim();
      // Without flags, stored credentials are tried first (as the docker CLI does).
      if (username === undefined && password === undefined) {
        const stored = getCredential(dir, key);
        if (stored) {
          const client = await clientFor(globals(cmd));
          try {
            await login(client, address, stored.username, stored.password, stored.identitytoken);
            process.stdout.write('Login Succeeded\n');
            return;
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
          }
        }
      }
      if (username === undefined || password === undefined) {
        if (!process.stdin.isTTY) throw new CliError('Error: Cannot perform an interactive login from a non TTY device', 1);
        if (username === undefined) username = (await prompt('Username: ', false)).trim();
        if (!username) throw new CliError('Error: Non-null Username Required', 1);
        if (password === undefined) password = await prompt('Password: ', true);
        if (!password) throw new CliError('Error: Password Required', 1);
      }
      const client = await clientFor(globals(cmd));
      const res = await login(client, address, username, password);
      storeCredential(dir, key, res.IdentityToken ? { username, password: '', identitytoken: res.IdentityToken } : { username, password });
      process.stdout.write('Login Succeeded\n');
    });
}

function login(client: EngineClient, server: string, username: string, password: string, identitytoken?: string): Promise<{ Status: string; IdentityToken?: string }> {
  return client.call('POST', '/auth', { body: { username, password, serveraddress: server, identitytoken } });
}

function defineLogout(program: Command): void {
  program.command('logout')
    .description('Log out from a registry')
    .argument('[server]')
    .action((server: string | undefined, _f: unknown, cmd: Command) => {
      const key = serverKey(server);
      if (!eraseCredential(configFlag(cmd), key)) {
        process.stdout.write(`Not logged in to ${key}\n`);
        return;
      }
      process.stdout.write(`Removing login credentials for ${key}\n`);
    });
}

/** Reads a push/pull JSON stream, printing progress unless quiet; an error message becomes a CliError. */
async function followStream(res: NodeJS.ReadableStream, quiet: boolean): Promise<StreamMessage[]> {
  const print = quiet ? () => {} : progressPrinter(process.stdout);
  const seen: StreamMessage[] = [];
  for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    let m: StreamMessage;
    try {
      m = JSON.parse(line) as StreamMessage;
    } catch {
      continue;
    }
    if (m.error !== undefined || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
    seen.push(m);
    if (m.aux) continue;
    print(m);
  }
  return seen;
}

function definePush(parent: Command): void {
  parent.command('push')
    .description('Upload an image to a registry')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .addOption(contentTrustOption('Skip image signing (default true)'))
    .argument('<name[:tag]>')
    .action(async (name: string, f: { allTags?: boolean; quiet?: boolean; disableContentTrust?: boolean }, cmd: Command) => {
      let ref;
      try {
        ref = parseNormalizedNamed(name);
      } catch (err) {
        throw new CliError(`invalid reference format: ${(err as Error).message}`, 1);
      }
      if (f.allTags && (ref.tag || ref.digest)) throw new CliError('tag can\'t be used with --all-tags/-a', 1);
      if (!f.allTags && !ref.tag && !ref.digest) {
        ref = withDefaultTag(ref);
        if (!f.quiet) process.stdout.write(`Using default tag: ${ref.tag}\n`);
      }
      const client = await clientFor(globals(cmd));
      const auth = registryAuthHeader(ref.domain, configFlag(cmd));
      const res = await client.stream('POST', `/images/${familiarString({ ...ref, tag: undefined, digest: undefined })}/push`, {
        query: { tag: f.allTags ? undefined : ref.tag },
        headers: { 'X-Registry-Auth': auth ?? Buffer.from('{}').toString('base64url') },
      });
      const seen = await followStream(res, f.quiet === true);
      // With content trust, every tag pushed is signed to the digest the registry took.
      if (trustEnabled(f.disableContentTrust)) {
        const ctx = trustContext(globals(cmd).config);
        const pushed = seen.filter((m) => m.aux?.Tag && m.aux.Digest);
        if (pushed.length === 0) throw new CliError('Error: no tag was pushed, nothing to sign', 1);
        for (const m of pushed) await signTag(ctx, ref, m.aux!.Tag!, m.aux!.Digest!, process.stdout);
      }
      if (f.quiet) process.stdout.write(`${f.allTags ? ref.name : referenceString(ref)}\n`);
    });
}

function defineSearch(program: Command): void {
  program.command('search')
    .description('Search Docker Hub for images')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Pretty-print search using a Go template')
    .option('--limit <int>', 'Max number of search results')
    .option('--no-trunc', "Don't truncate output")
    .argument('<term>')
    .action(async (term: string, f: { filter?: string[]; format?: string; limit?: string; trunc: boolean }, cmd: Command) => {
      const filters: Record<string, Record<string, boolean>> = {};
      for (const kv of f.filter ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new CliError(`invalid argument "${kv}" for "-f, --filter" flag: bad format of filter (expected name=value)`, 125);
        (filters[kv.slice(0, eq)] ??= {})[kv.slice(eq + 1)] = true;
      }
      if (f.limit !== undefined && !/^-?\d+$/.test(f.limit)) throw new CliError(`invalid argument "${f.limit}" for "--limit" flag: strconv.ParseInt: parsing "${f.limit}": invalid syntax`, 125);
      const client = await clientFor(globals(cmd));
      const slash = term.indexOf('/');
      const domain = slash > 0 && /[.:]|^localhost$/.test(term.slice(0, slash)) ? term.slice(0, slash) : 'docker.io';
      const auth = registryAuthHeader(domain, configFlag(cmd));
      const results = await client.call<SearchResult[]>('GET', '/images/search', {
        query: { term, limit: f.limit, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
        headers: auth ? { 'X-Registry-Auth': auth } : {},
      });
      const rows = results.map((r) => {
        const desc = r.description.replace(/\n/g, ' ');
        return {
          Name: r.name,
          Description: f.trunc && [...desc].length > 45 ? [...desc].slice(0, 44).join('') + '…' : desc,
          StarCount: String(r.star_count),
          IsOfficial: f.format ? String(r.is_official) : r.is_official ? '[OK]' : '',
          IsAutomated: f.format ? String(r.is_automated) : r.is_automated ? '[OK]' : '',
        };
      });
      const format = !f.format || f.format === 'table' ? 'table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}' : f.format;
      process.stdout.write(formatRows(format, rows, { headers: { Name: 'NAME', Description: 'DESCRIPTION', StarCount: 'STARS', IsOfficial: 'OFFICIAL', IsAutomated: 'AUTOMATED' } }));
    });
}

export function registerRegistryCommands(program: Command): void {
  defineLogin(program);
  defineLogout(program);
  definePush(program);
  const image = program.commands.find((c) => c.name() === 'image');
  if (image) definePush(image);
  defineSearch(program);
}
