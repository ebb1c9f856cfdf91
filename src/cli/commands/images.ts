// images, rmi, import, tag, history, and the `berth image` group.
import { createReadStream, existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { type Command, Option } from 'commander';
import { ApiError } from '../../client/engine-client.ts';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { inspectEach } from '../output.ts';
import { formatRows } from '../format/table.ts';
import { createdSince, humanSize } from '../../api/units.ts';
import { goTimeString } from '../format/go-time.ts';
import { pullImage } from '../pull.ts';
import { contentTrustOption, trustEnabled } from '../trust.ts';

interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT',
  Size: 'SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE',
};

function imageRows(list: ImageSummary[], trunc: boolean): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const img of list) {
    const id = trunc ? img.Id.replace(/^sha256:/, '').slice(0, 12) : img.Id;
    const base = {
      ID: id, Digest: '<none>', CreatedSince: createdSince(new Date(img.Created * 1000), new Date()),
      CreatedAt: goTimeString(img.Created), Size: humanSize(img.Size), VirtualSize: humanSize(img.Size),
      Containers: img.Containers < 0 ? 'N/A' : String(img.Containers), SharedSize: 'N/A', UniqueSize: 'N/A',
    };
    const tags = img.RepoTags ?? [];
    const digests = img.RepoDigests ?? [];
    const repoOf = (d: string) => d.slice(0, d.indexOf('@'));
    if (tags.length === 0 && digests.length === 0) {
      rows.push({ ...base, Repository: '<none>', Tag: '<none>' });
      continue;
    }
    const digestOf = (repo: string) => digests.find((d) => repoOf(d) === repo)?.slice(repo.length + 1) ?? '<none>';
    for (const t of tags) {
      const i = t.lastIndexOf(':');
      const repo = t.slice(0, i);
      rows.push({ ...base, Repository: repo, Tag: t.slice(i + 1), Digest: digestOf(repo) });
    }
    // A repository the image has only by digest gets a row of its own, as the docker CLI shows it.
    const tagged = new Set(tags.map((t) => t.slice(0, t.lastIndexOf(':'))));
    for (const d of digests) {
      if (!tagged.has(repoOf(d))) rows.push({ ...base, Repository: repoOf(d), Tag: '<none>', Digest: d.slice(d.indexOf('@') + 1) });
    }
  }
  return rows;
}

function defineImages(parent: Command, name: string, aliases: string[] = []): void {
  parent.command(name).aliases(aliases)
    .description('List images')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('--digests', 'Show digests')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .argument('[repository]')
    .action(async (repo: string | undefined, f: { all?: boolean; digests?: boolean; filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const filters: Record<string, string[]> = {};
      for (const kv of f.filter ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new CliError(`invalid argument "${kv}" for "-f, --filter" flag: bad format of filter (expected name=value)`, 125);
        (filters[kv.slice(0, eq)] ??= []).push(kv.slice(eq + 1));
      }
      if (repo) (filters.reference ??= []).push(repo);
      const list = await client.call<ImageSummary[]>('GET', '/images/json', { query: { all: f.all, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
      const rows = imageRows(list, f.trunc);
      if (f.quiet && !f.format) {
        const seen = new Set<string>();
        for (const r of rows) if (!seen.has(r.ID as string)) { seen.add(r.ID as string); process.stdout.write(`${r.ID}\n`); }
        return;
      }
      const table = f.digests
        ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
        : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
      const format = !f.format || f.format === 'table' ? table : f.format;
      process.stdout.write(formatRows(format, rows, { headers: IMAGE_HEADERS }));
    });
}

function defineRmi(parent: Command, name: string, aliases: string[] = []): void {
  parent.command(name).aliases(aliases)
    .description('Remove one or more images')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .argument('<image...>')
    .action(async (refs: string[], f: { force?: boolean; prune: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      let failed = false;
      for (const r of refs) {
        try {
          const res = await client.call<Record<string, string>[]>('DELETE', `/images/${r}`, { query: { force: f.force, noprune: !f.prune } });
          for (const item of res) {
            if (item.Untagged) process.stdout.write(`Untagged: ${item.Untagged}\n`);
            if (item.Deleted) process.stdout.write(`Deleted: ${item.Deleted}\n`);
          }
        } catch (err) {
          failed = true;
          process.stderr.write(err instanceof ApiError ? `Error response from daemon: ${err.message}\n` : `${(err as Error).message}\n`);
        }
      }
      if (failed) throw new CliError('', 1);
    });
}

function defineImport(parent: Command): void {
  parent.command('import')
    .description('Import the contents from a tarball to create a filesystem image')
    .option('-c, --change <change>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <message>', 'Set commit message for imported image')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .argument('<file|URL|->')
    .argument('[repository[:tag]]')
    .action(async (src: string, repo: string | undefined, f: { change?: string[]; message?: string; platform?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      let stream: Readable | undefined;
      let fromSrc = src;
      if (src === '-') {
        stream = process.stdin;
      } else if (!/^https?:\/\//.test(src)) {
        if (!existsSync(src)) throw new CliError(`open ${src}: no such file or directory`, 1);
        stream = createReadStream(src);
        fromSrc = '-';
      }
      const messages = await client.messages<{ status?: string; error?: string }>('POST', '/images/create', {
        query: { fromSrc, repo, changes: f.change, message: f.message, platform: f.platform },
        stream,
      });
      for (const m of messages) {
        if (m.error) throw new CliError(m.error, 1);
        if (m.status) process.stdout.write(m.status + '\n');
      }
    });
}


function definePull(parent: Command): void {
  parent.command('pull')
    .description('Download an image from a registry')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .option('-q, --quiet', 'Suppress verbose output')
    .addOption(contentTrustOption('Skip image verification (default true)'))
    .argument('<name[:tag|@digest]>')
    .action(async (name: string, f: { platform?: string; quiet?: boolean; allTags?: boolean; disableContentTrust?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const client = await clientFor(g);
      const ref = await pullImage(client, name, { platform: f.platform, quiet: f.quiet, allTags: f.allTags, out: process.stdout, config: g.config, trust: trustEnabled(f.disableContentTrust) });
      process.stdout.write(ref + '\n');
    });
}

function defineTag(parent: Command): void {
  parent.command('tag')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>')
    .argument('<target>')
    .action(async (source: string, target: string, _f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const at = target.lastIndexOf(':');
      const slash = target.lastIndexOf('/');
      const [repo, tag] = at > slash ? [target.slice(0, at), target.slice(at + 1)] : [target, 'latest'];
      await client.status('POST', `/images/${source}/tag`, { query: { repo, tag } });
    });
}

/** Go's time.Format(time.RFC3339) in the local zone. */
function rfc3339(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().replace(/\.\d+Z$/, '');
  if (off === 0) return local + 'Z';
  const abs = Math.abs(off);
  return `${local}${off > 0 ? '+' : '-'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function defineHistory(parent: Command): void {
  parent.command('history')
    .description('Show the history of an image')
    .option('--format <format>', 'Format output using a custom template')
    .addOption(new Option('-H, --human [bool]', 'Print sizes and dates in human readable format').default(true).argParser((v: string) => v !== 'false' && v !== '0'))
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .argument('<image>')
    .action(async (ref: string, f: { format?: string; human: boolean; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const hist = await client.call<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }[]>('GET', `/images/${ref}/history`);
      const rows = hist.map((h) => {
        const createdBy = h.CreatedBy.replaceAll('\t', ' ');
        return {
          ID: f.trunc ? h.Id.replace(/^sha256:/, '').slice(0, 12) : h.Id,
          CreatedSince: f.human ? createdSince(new Date(h.Created * 1000), new Date()) : rfc3339(h.Created),
          CreatedAt: rfc3339(h.Created),
          CreatedBy: f.trunc && [...createdBy].length > 45 ? [...createdBy].slice(0, 44).join('') + '…' : createdBy,
          Size: f.human ? humanSize(h.Size) : String(h.Size),
          Comment: h.Comment,
        };
      });
      const format = f.quiet ? '{{.ID}}' : !f.format || f.format === 'table' ? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}' : f.format;
      process.stdout.write(formatRows(format, rows, { headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' } }));
    });
}

/** Image commands, at the top level and under `berth image` (`group`). */
export function registerImageCommands(program: Command, group: Command): void {
  defineImages(program, 'images');
  defineImages(group, 'ls', ['list']);
  defineRmi(program, 'rmi');
  defineRmi(group, 'rm', ['remove']);
  for (const parent of [program, group]) {
    definePull(parent);
    defineImport(parent);
    defineTag(parent);
    defineHistory(parent);
  }
  group.command('inspect')
    .description('Display detailed information on one or more images')
    .option('-f, --format <format>', 'Format output using a custom template')
    .argument('<image...>')
    .action(async (refs: string[], f: { format?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await inspectEach(refs, (r) => client.call('GET', `/images/${r}/json`), f.format);
    });
}
