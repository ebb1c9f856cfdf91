// `stack deploy|ls|ps|services|rm`: swarm stacks from compose files, client
// side as in the docker CLI (src/stack converts and deploys through the API).
import type { Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { ApiError } from '../../client/engine-client.ts';
import type { Service } from '../../api/swarm.ts';
import { loadProject } from '../../compose/load/index.ts';
import { ComposeError } from '../../compose/load/errors.ts';
import { parseNormalizedNamed } from '../../api/reference.ts';
import { checkStackName, deployStack, removeStack, stackServices, stackTasks, StackError, waitStackTasksGone } from '../../stack/deploy.ts';
import { composeChecks, LABEL_NAMESPACE } from '../../stack/convert.ts';
import { byNatural, listFormat, SERVICE_HEADERS, SERVICE_RAW, SERVICE_TABLE, serviceRow, sortServices, STACK_HEADERS, STACK_TABLE } from '../format/swarm-context.ts';
import { printTasks } from '../swarm-tasks.ts';
import { waitOnService } from '../service-progress.ts';
import { filterMap } from '../swarm-flags.ts';

const log = { out: (l: string) => process.stdout.write(l + '\n'), err: (l: string) => process.stderr.write(l + '\n'), errText: (t: string) => process.stderr.write(t) };

/** A stack's failure as the CLI reports it (its own words, exit 1). */
async function reported<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StackError || err instanceof ComposeError) throw new CliError(err.message, 1);
    throw err;
  }
}

export function registerStackCommands(program: Command): void {
  const stack = program.command('stack').description('Manage Swarm stacks');

  stack.command('deploy').alias('up')
    .description('Deploy a new stack or update an existing stack')
    .option('-c, --compose-file <strings>', 'Path to a Compose file, or "-" to read from stdin', collect)
    .option('-d, --detach', 'Exit immediately instead of waiting for the stack services to converge (default true)')
    .option('--no-detach', 'Wait for the stack services to converge (as --detach=false)')
    .option('--prune', 'Prune services that are no longer referenced')
    .option('-q, --quiet', 'Suppress progress output')
    .option('--resolve-image <string>', 'Query the registry to resolve image digest and supported platforms ("always", "changed", "never")', 'always')
    .option('--with-registry-auth', 'Send registry authentication details to Swarm agents')
    .argument('<STACK>')
    .action(async (name: string, f: { composeFile?: string[]; detach?: boolean; prune?: boolean; quiet?: boolean; resolveImage: string }, cmd: Command) => {
      // The docker CLI's order: the name and the files, the file loaded, then the flags checked and the note printed.
      await reported(async () => checkStackName(name));
      if (!f.composeFile?.length) throw new CliError('Specify a Compose file (with --compose-file)', 1);
      const detach = f.detach !== false;
      await reported(async () => {
        const project = await loadProject({ files: f.composeFile!, projectName: name, profiles: [], envFiles: [], env: process.env, cwd: process.cwd() } as Parameters<typeof loadProject>[0]);
        process.stderr.write(composeChecks(project));
        for (const s of Object.values(project.services)) {
          if (!s.image) throw new StackError(`invalid image reference for service ${s.name}: no image specified`);
          try {
            parseNormalizedNamed(s.image);
          } catch (err) {
            throw new StackError(`invalid image reference for service ${s.name}: ${(err as Error).message}`);
          }
        }
        if (!['always', 'changed', 'never'].includes(f.resolveImage)) throw new CliError(`Invalid option ${f.resolveImage} for flag --resolve-image`, 1);
        if (f.detach === undefined) {
          process.stderr.write('Since --detach=false was not specified, tasks will be created in the background.\nIn a future release, --detach=false will become the default.\n');
        }
        const client = await clientFor(globals(cmd));
        const ids = await deployStack(client, name, project, { prune: f.prune === true, resolveImage: f.resolveImage as 'always' }, log);
        if (detach) return;
        const errs: string[] = [];
        for (const id of ids) {
          try {
            await waitOnService(client, id, f.quiet === true);
          } catch (err) {
            errs.push(`${id}: ${err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message}`);
          }
        }
        if (errs.length) throw new CliError(errs.join('\n'), 1);
      });
    });

  stack.command('ls').alias('list')
    .description('List stacks')
    .option('--format <string>', 'Format output using a custom template')
    .action(async (f: { format?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const services = await client.call<Service[]>('GET', '/services', { query: { filters: JSON.stringify({ label: { [LABEL_NAMESPACE]: true } }) } });
      const counts = new Map<string, number>();
      for (const s of services) {
        const ns = s.Spec.Labels?.[LABEL_NAMESPACE];
        if (ns !== undefined) counts.set(ns, (counts.get(ns) ?? 0) + 1);
      }
      const rows = [...counts].sort(([a], [b]) => byNatural(a, b)).map(([Name, n]) => ({ Name, Services: String(n) }));
      const format = !f.format || f.format === 'table' ? STACK_TABLE : f.format;
      process.stdout.write(formatRows(format, rows, { headers: STACK_HEADERS }));
    });

  stack.command('ps')
    .description('List the tasks in the stack')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .option('--no-resolve', 'Do not map IDs to Names')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .argument('<STACK>')
    .action(async (name: string, f: { filter?: string[]; format?: string; resolve: boolean; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      await reported(async () => checkStackName(name));
      const client = await clientFor(globals(cmd));
      const filters = filterMap(f.filter);
      (filters.label ??= {})[`${LABEL_NAMESPACE}=${name}`] = true;
      const tasks = f.filter?.length ? await client.call<never[]>('GET', '/tasks', { query: { filters: JSON.stringify(filters) } }) : await stackTasks(client, name);
      if (!tasks.length) throw new CliError(`nothing found in stack: ${name}`, 1);
      await printTasks(client, tasks, { noTrunc: !f.trunc, noResolve: !f.resolve, quiet: f.quiet, format: f.format });
    });

  stack.command('services')
    .description('List the services in the stack')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .option('-q, --quiet', 'Only display IDs')
    .argument('<STACK>')
    .action(async (name: string, f: { filter?: string[]; format?: string; quiet?: boolean }, cmd: Command) => {
      await reported(async () => checkStackName(name));
      const client = await clientFor(globals(cmd));
      const filters = filterMap(f.filter);
      (filters.label ??= {})[`${LABEL_NAMESPACE}=${name}`] = true;
      const list = f.filter?.length || !f.quiet
        ? await client.call<Service[]>('GET', '/services', { query: { filters: JSON.stringify(filters), status: f.quiet ? undefined : 'true' } })
        : await stackServices(client, name);
      if (!list.length) {
        process.stderr.write(`Nothing found in stack: ${name}\n`);
        return;
      }
      const format = listFormat(f.format, f.quiet, SERVICE_TABLE, SERVICE_RAW);
      process.stdout.write(formatRows(format, sortServices(list).map(serviceRow), { headers: SERVICE_HEADERS }));
    });

  stack.command('rm').alias('remove').alias('down')
    .description('Remove one or more stacks')
    .option('-d, --detach', 'Do not wait for stack removal (default true)')
    .option('--no-detach', 'Wait for the stack removal (as --detach=false)')
    .argument('<STACK...>')
    .action(async (names: string[], f: { detach?: boolean | string }, cmd: Command) => {
      await reported(async () => names.forEach(checkStackName));
      const detach = f.detach !== false;
      const client = await clientFor(globals(cmd));
      const errs: string[] = [];
      for (const name of names) {
        const r = await removeStack(client, name, log);
        if (r === 'empty') {
          process.stderr.write(`Nothing found in stack: ${name}\n`);
          continue;
        }
        if (r === 'failed') {
          errs.push(`failed to remove some resources from stack: ${name}`);
          continue;
        }
        if (!detach) {
          try {
            await waitStackTasksGone(client, name);
          } catch (err) {
            errs.push(`failed to wait on tasks of stack: ${name}: ${(err as Error).message}`);
          }
        }
      }
      if (errs.length) throw new CliError(errs.join('\n'), 1);
    });
}
