// `secret create|ls|inspect|rm` and `config create|ls|inspect|rm`, as the
// docker CLI has them: two object kinds of one shape, so one definition.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { ApiError } from '../../client/engine-client.ts';
import type { SecretOrConfig } from '../../api/swarm.ts';
import { byNatural, CONFIG_TABLE, goTime, listFormat, pretty, SECRET_HEADERS, SECRET_TABLE, secretRow } from '../format/swarm-context.ts';
import { inspectEach } from '../output.ts';
import { filterMap } from '../swarm-flags.ts';

// Twice swarm's 500 KiB limit: the daemon says no beyond it, this only bounds what is read.
const MAX_READ = 2 * 500 * 1024;

async function readData(kind: 'secret' | 'config', file: string | undefined): Promise<Buffer> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of process.stdin) {
      chunks.push(c as Buffer);
      n += (c as Buffer).length;
      if (n >= MAX_READ) break;
    }
    const data = Buffer.concat(chunks).subarray(0, MAX_READ);
    if (!data.length) throw new Error('error reading from STDIN: data is empty');
    return data;
  }
  if (!file) throw new Error(`${kind} file is required`);
  let data: Buffer;
  try {
    data = readFileSync(file).subarray(0, MAX_READ);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`error reading from ${file}: open ${file}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'EISDIR' ? 'is a directory' : e.message}`);
  }
  if (!data.length) throw new Error(`error reading from ${file}: data is empty`);
  return data;
}

function labelLines(labels: Record<string, string> | undefined): string[] {
  const l = labels ?? {};
  if (!Object.keys(l).length) return [];
  return ['Labels:', ...Object.keys(l).sort().map((k) => ` - ${k}${l[k] ? '=' + l[k] : ''}`)];
}

function prettySecret(s: SecretOrConfig): string {
  return [`ID:              ${s.ID}`, `Name:              ${s.Spec.Name}`, ...labelLines(s.Spec.Labels), `Driver:            ${s.Spec.Driver?.Name ?? ''}`,
    `Created at:        ${pretty(goTime(s.CreatedAt))}`, `Updated at:        ${pretty(goTime(s.UpdatedAt))}`].join('\n') + '\n';
}

function prettyConfig(c: SecretOrConfig): string {
  return [`ID:\t\t\t${c.ID}`, `Name:\t\t\t${c.Spec.Name}`, ...labelLines(c.Spec.Labels), `Created at:            \t${pretty(goTime(c.CreatedAt))}`,
    `Updated at:            \t${pretty(goTime(c.UpdatedAt))}`, 'Data:', Buffer.from(c.Spec.Data ?? '', 'base64').toString('utf8')].join('\n') + '\n';
}

function kvMap(items: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of items) {
    const eq = kv.indexOf('=');
    out[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
  }
  return out;
}

function registerKind(program: Command, kind: 'secret' | 'config'): void {
  const Kind = kind === 'secret' ? 'Secret' : 'Config';
  const group = program.command(kind).description(`Manage Swarm ${kind}s`);

  const create = group.command('create')
    .description(kind === 'secret' ? 'Create a secret from a file or STDIN as content' : 'Create a config from a file or STDIN')
    .option('-l, --label <label>', `${Kind} labels`, collect)
    .option('--template-driver <string>', 'Template driver');
  if (kind === 'secret') create.option('-d, --driver <string>', 'Secret driver');
  create
    .argument(`<${kind.toUpperCase()}>`)
    .argument('[file|-]')
    .action(async (name: string, file: string | undefined, f: { label?: string[]; templateDriver?: string; driver?: string }, cmd: Command) => {
      let data: Buffer | undefined;
      if (f.driver) {
        if (file) throw new CliError('When using secret driver secret data must be empty', 1);
      } else {
        try {
          data = await readData(kind, file);
        } catch (err) {
          throw new CliError(kind === 'config' ? `Error reading content from "${file ?? ''}": ${(err as Error).message}` : (err as Error).message, 1);
        }
      }
      const spec: Record<string, unknown> = { Name: name, Labels: kvMap(f.label) };
      if (data) spec.Data = data.toString('base64');
      if (f.driver) spec.Driver = { Name: f.driver };
      if (f.templateDriver) spec.Templating = { Name: f.templateDriver };
      const client = await clientFor(globals(cmd));
      const r = await client.call<{ ID: string }>('POST', `/${kind}s/create`, { body: spec });
      process.stdout.write(r.ID + '\n');
    });

  group.command('ls').alias('list')
    .description(`List ${kind}s`)
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <string>', 'Format output using a custom template')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .action(async (f: { quiet?: boolean; format?: string; filter?: string[] }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const list = await client.call<SecretOrConfig[]>('GET', `/${kind}s`, { query: { filters: JSON.stringify(filterMap(f.filter)) } });
      list.sort((a, b) => byNatural(a.Spec.Name, b.Spec.Name));
      const format = listFormat(f.format, f.quiet, kind === 'secret' ? SECRET_TABLE : CONFIG_TABLE,
        kind === 'secret' ? 'id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\ncreated_at: {{.CreatedAt}}\nupdated_at: {{.UpdatedAt}}\n' : 'id: {{.ID}}\nname: {{.Name}}\ncreated_at: {{.CreatedAt}}\nupdated_at: {{.UpdatedAt}}\n');
      process.stdout.write(formatRows(format, list.map((s) => secretRow(s)), { headers: SECRET_HEADERS }));
    });

  group.command('inspect')
    .description(`Display detailed information on one or more ${kind}s`)
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument(`<${kind.toUpperCase()}...>`)
    .action(async (refs: string[], f: { format?: string; pretty?: boolean }, cmd: Command) => {
      const format = f.pretty ? 'pretty' : f.format;
      if (format?.startsWith('pretty') && format !== 'pretty') throw new CliError('cannot supply extra formatting options to the pretty template', 1);
      const client = await clientFor(globals(cmd));
      const get = (ref: string) => client.call<SecretOrConfig>('GET', `/${kind}s/${encodeURIComponent(ref)}`);
      if (format !== 'pretty') {
        // As the docker CLI 28: a secret's or config's raw JSON, as the daemon sent it.
        await inspectEach(refs, get, format, true);
        return;
      }
      const out: string[] = [];
      const errs: string[] = [];
      for (const ref of refs) {
        try {
          const o = await get(ref);
          out.push(kind === 'secret' ? prettySecret(o) : prettyConfig(o));
        } catch (err) {
          errs.push(err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message);
        }
      }
      process.stdout.write(out.join('\n'));
      if (errs.length) throw new CliError(errs.join('\n'), 1);
    });

  group.command('rm').alias('remove')
    .description(`Remove one or more ${kind}s`)
    .argument(`<${kind.toUpperCase()}...>`)
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const errs: string[] = [];
      for (const ref of refs) {
        try {
          await client.status('DELETE', `/${kind}s/${encodeURIComponent(ref)}`);
          process.stdout.write(ref + '\n');
        } catch (err) {
          errs.push(err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message);
        }
      }
      if (errs.length) throw new CliError(errs.join('\n'), 1);
    });
}

export function registerSecretConfigCommands(program: Command): void {
  registerKind(program, 'secret');
  registerKind(program, 'config');
}
