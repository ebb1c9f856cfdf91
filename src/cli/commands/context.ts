// `context create|ls|use|show|inspect|rm|update|export|import`, as the docker
// CLI has them, on the docker CLI's own store (context-store.ts): contexts
// made by either tool are usable by both.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CliError, defaultHost, type GlobalOptions } from '../context.ts';
import { selectedContext } from '../docker-contexts.ts';
import { checkName, ContextStore, DEFAULT_DESCRIPTION, exportTar, importTar, readTlsFiles, type ContextMetadata, type TlsMaterial } from '../context-store.ts';
import { globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { InspectMiss, printInspect } from '../output.ts';

interface Loaded { meta: ContextMetadata; tls: Record<string, TlsMaterial> }

/** The `default` context: DOCKER_HOST or berth's default socket, kept nowhere (as docker's, "in memory"). */
function defaultContext(): Loaded {
  const tls: Record<string, TlsMaterial> = {};
  if (process.env.DOCKER_TLS_VERIFY) {
    const dir = process.env.DOCKER_CERT_PATH ?? join(process.env.HOME ?? '/root', '.docker');
    const files: TlsMaterial = {};
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) if (existsSync(join(dir, f))) files[f] = readFileSync(join(dir, f));
    tls.docker = files;
  }
  return { meta: { Name: 'default', Metadata: {}, Endpoints: { docker: { Host: defaultHost(), SkipTLSVerify: false } } }, tls };
}

function load(store: ContextStore, name: string): Loaded {
  if (name === 'default') return defaultContext();
  return { meta: store.read(name), tls: store.tls(name) };
}

/** The context in use: --context, else default when DOCKER_HOST is set, else DOCKER_CONTEXT, else config.json's. */
function currentName(g: GlobalOptions): string {
  return selectedContext(g.context, g.config) ?? 'default';
}

/** `--docker host=…,ca=…,cert=…,key=…,skip-tls-verify=…`. */
function dockerEndpoint(spec: string): Loaded['meta']['Endpoints']['docker'] & { tls: TlsMaterial } {
  const kv: Record<string, string> = {};
  for (const part of spec.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    if (!['host', 'ca', 'cert', 'key', 'skip-tls-verify'].includes(k)) throw new CliError(`unable to create docker endpoint config: unrecognized config key: ${k}`, 1);
    kv[k] = v;
  }
  const skip = kv['skip-tls-verify'];
  if (skip !== undefined && !['true', 'false', '1', '0', ''].includes(skip)) throw new CliError(`unable to create docker endpoint config: strconv.ParseBool: parsing "${skip}": invalid syntax`, 1);
  const tls = readTlsFiles({ ca: kv.ca, cert: kv.cert, key: kv.key });
  return { Host: kv.host || defaultHost(), SkipTLSVerify: skip === 'true' || skip === '1', tls };
}

function describe(c: ContextMetadata): string {
  return typeof c.Metadata.Description === 'string' ? c.Metadata.Description : '';
}

export function registerContextCommands(program: Command): void {
  const ctx = program.command('context').description('Manage contexts');

  ctx.command('create')
    .description('Create a context')
    .option('--description <description>', 'Description of the context')
    .option('--docker <spec>', 'set the docker endpoint')
    .option('--from <context>', 'create context from a named context')
    .argument('<context>')
    .action((name: string, f: { description?: string; docker?: string; from?: string }, cmd: Command) => {
      const store = new ContextStore(globals(cmd).config);
      checkName(name);
      if (store.exists(name)) throw new CliError(`context "${name}" already exists`, 1);
      if (f.from !== undefined && f.docker !== undefined) throw new CliError('cannot use --docker flag when --from is set', 1);
      let made: Loaded;
      if (f.docker !== undefined) {
        const { tls, ...ep } = dockerEndpoint(f.docker);
        made = { meta: { Name: name, Metadata: {}, Endpoints: { docker: ep } }, tls: Object.keys(tls).length ? { docker: tls } : {} };
        if (f.description !== undefined) made.meta.Metadata.Description = f.description;
      } else {
        // From --from, else from the context in use, TLS material included.
        const from = load(store, f.from ?? currentName(globals(cmd)));
        const description = f.description ?? (from.meta.Name === 'default' ? DEFAULT_DESCRIPTION : describe(from.meta));
        made = { meta: { ...from.meta, Name: name, Metadata: { ...from.meta.Metadata, ...(description ? { Description: description } : {}) } }, tls: from.tls };
      }
      store.write(made.meta, made.tls);
      process.stdout.write(`${name}\n`);
      process.stderr.write(`Successfully created context "${name}"\n`);
    });

  ctx.command('update')
    .description('Update a context')
    .option('--description <description>', 'Description of the context')
    .option('--docker <spec>', 'set the docker endpoint')
    .argument('<context>')
    .action((name: string, f: { description?: string; docker?: string }, cmd: Command) => {
      const store = new ContextStore(globals(cmd).config);
      if (name === 'default') throw new CliError('context "default" cannot be updated', 1);
      const cur = load(store, name);
      if (f.description !== undefined) cur.meta.Metadata = { ...cur.meta.Metadata, Description: f.description };
      if (f.docker !== undefined) {
        const { tls, ...ep } = dockerEndpoint(f.docker);
        cur.meta.Endpoints = { ...cur.meta.Endpoints, docker: ep };
        const rest = { ...cur.tls };
        delete rest.docker;
        cur.tls = Object.keys(tls).length ? { ...rest, docker: tls } : rest;
      }
      store.write(cur.meta, cur.tls);
      process.stdout.write(`${name}\n`);
      process.stderr.write(`Successfully updated context "${name}"\n`);
    });

  ctx.command('ls').alias('list')
    .description('List contexts')
    .option('--format <format>', 'Format output using a custom template')
    .option('-q, --quiet', 'Only show context names')
    .action((f: { format?: string; quiet?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const store = new ContextStore(g.config);
      const current = currentName(g);
      const all = [defaultContext().meta, ...store.list()].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      const table = !f.format || f.format === 'table';
      const rows = all.map((c) => ({
        Name: c.Name + (table && !f.quiet && c.Name === current ? ' *' : ''),
        Description: c.Name === 'default' ? DEFAULT_DESCRIPTION : describe(c),
        DockerEndpoint: c.Endpoints.docker?.Host ?? '',
        Current: c.Name === current,
        Error: '',
      }));
      const format = f.quiet ? '{{.Name}}' : table ? 'table {{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}' : f.format!;
      process.stdout.write(formatRows(format, rows, { headers: { Name: 'NAME', Description: 'DESCRIPTION', DockerEndpoint: 'DOCKER ENDPOINT', Current: 'CURRENT', Error: 'ERROR' } }));
      if (process.env.DOCKER_HOST && !g.context) {
        process.stderr.write('Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.\n');
      }
    });

  ctx.command('use')
    .description('Set the current docker context')
    .argument('<context>')
    .action((name: string, _f: unknown, cmd: Command) => {
      const store = new ContextStore(globals(cmd).config);
      if (name !== 'default') store.read(name);
      store.setCurrent(name);
      process.stdout.write(`${name}\n`);
      process.stderr.write(`Current context is now "${name}"\n`);
      if (name !== 'default' && process.env.DOCKER_HOST) {
        process.stderr.write('Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.\n');
      }
    });

  ctx.command('show')
    .description('Print the name of the current context')
    .action((_f: unknown, cmd: Command) => {
      process.stdout.write(`${currentName(globals(cmd))}\n`);
    });

  ctx.command('inspect')
    .description('Display detailed information on one or more contexts')
    .option('-f, --format <format>', 'Format output using a custom template')
    .argument('[context...]')
    .action((names: string[], f: { format?: string }, cmd: Command) => {
      const g = globals(cmd);
      const store = new ContextStore(g.config);
      const items = (names.length ? names : [currentName(g)]).map((n) => {
        try {
          const { meta, tls } = load(store, n);
          const material = Object.fromEntries(Object.entries(tls).map(([ep, files]) => [ep, Object.keys(files)]));
          const memory = n === 'default';
          return {
            ...meta,
            TLSMaterial: memory ? {} : material,
            Storage: memory ? { MetadataPath: '<IN MEMORY>', TLSPath: '<IN MEMORY>' } : { MetadataPath: store.metaPath(n), TLSPath: store.tlsPath(n) },
          };
        } catch (err) {
          if (err instanceof CliError) return new InspectMiss(err.message);
          throw err;
        }
      });
      printInspect(items, f.format);
    });

  ctx.command('rm').alias('remove')
    .description('Remove one or more contexts')
    .option('-f, --force', 'Force the removal of a context in use')
    .argument('<context...>')
    .action((names: string[], f: { force?: boolean }, cmd: Command) => {
      const store = new ContextStore(globals(cmd).config);
      const current = store.current();
      const errors: string[] = [];
      for (const n of names) {
        if (n === 'default') {
          errors.push('default: context "default" cannot be removed');
          continue;
        }
        if (!store.exists(n)) {
          if (!f.force) errors.push(`context "${n}" does not exist`);
          continue;
        }
        if (n === current) {
          if (!f.force) {
            errors.push(`context "${n}" is in use, set -f flag to force remove`);
            continue;
          }
          store.setCurrent('default');
        }
        store.remove(n);
        process.stdout.write(`${n}\n`);
      }
      if (errors.length) throw new CliError(errors.join('\n'), 1);
    });

  ctx.command('export')
    .description('Export a context to a tar archive FILE or a tar stream on STDOUT.')
    .argument('<context>')
    .argument('[file]')
    .action((name: string, file: string | undefined, _f: unknown, cmd: Command) => {
      const store = new ContextStore(globals(cmd).config);
      const { meta, tls } = load(store, name);
      const tar = exportTar(meta, tls);
      if (file === '-') {
        process.stdout.write(tar);
        return;
      }
      const dest = file ?? `${name}.dockercontext`;
      try {
        writeFileSync(dest, tar, { flag: 'wx', mode: 0o600 });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new CliError(e.code === 'EEXIST' ? `open ${dest}: file exists` : e.message, 1);
      }
      process.stderr.write(`Written file "${dest}"\n`);
    });

  ctx.command('import')
    .description('Import a context from a tar or zip file')
    .argument('<context>')
    .argument('<file>')
    .action((name: string, file: string, _f: unknown, cmd: Command) => {
      const store = new ContextStore(globals(cmd).config);
      checkName(name);
      if (store.exists(name)) throw new CliError(`context "${name}" already exists`, 1);
      let data: Buffer;
      try {
        data = readFileSync(file === '-' ? 0 : file);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new CliError(e.code === 'ENOENT' ? `open ${file}: no such file or directory` : e.message, 1);
      }
      const { meta, tls } = importTar(data);
      store.write({ ...meta, Name: name }, tls);
      process.stdout.write(`${name}\n`);
      process.stderr.write(`Successfully imported context "${name}"\n`);
    });
}
