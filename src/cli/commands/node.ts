// `node ls|inspect|update|promote|demote|rm|ps`, as the docker CLI has them.
import type { Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { ApiError, type EngineClient } from '../../client/engine-client.ts';
import type { Node, SwarmInfo, Task } from '../../api/swarm.ts';
import { byNatural, listFormat, NODE_HEADERS, NODE_RAW, NODE_TABLE, nodePretty, nodeRow } from '../format/swarm-context.ts';
import { inspectEach } from '../output.ts';
import { goNode } from '../format/go-swarm.ts';
import { nodeReference, printTasks } from '../swarm-tasks.ts';
import { filterMap, type FilterMap } from '../swarm-flags.ts';

/** The role was already the one asked: nothing to send, not a failure. */
const NO_CHANGE = Symbol('no role change');

/** updateNodes: inspect, change the spec, send it with the version read; the first failure ends the command. */
async function updateNodes(client: EngineClient, refs: string[], merge: (n: Node) => typeof NO_CHANGE | void, done: (ref: string) => void): Promise<void> {
  for (const ref of refs) {
    const node = await client.call<Node>('GET', `/nodes/${encodeURIComponent(ref)}`);
    if (merge(node) === NO_CHANGE) continue;
    await client.status('POST', `/nodes/${encodeURIComponent(node.ID)}/update`, { query: { version: node.Version.Index }, body: node.Spec });
    done(ref);
  }
}

/** Failures reported one per line after the work, as errors.Join prints them. */
function joinErrors(errs: unknown[]): void {
  if (!errs.length) return;
  throw new CliError(errs.map((e) => (e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message)).join('\n'), 1);
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('Manage Swarm nodes');

  node.command('ls').alias('list')
    .description('List nodes in the swarm')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <string>', 'Format output using a custom template')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .action(async (f: { quiet?: boolean; format?: string; filter?: string[] }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const nodes = await client.call<Node[]>('GET', '/nodes', { query: { filters: JSON.stringify(filterMap(f.filter)) } });
      let self = '';
      let cluster: SwarmInfo['TLSInfo'];
      if (nodes.length && !f.quiet) {
        const info = (await client.call<{ Swarm: { NodeID: string; Cluster?: SwarmInfo | null } }>('GET', '/info')).Swarm;
        self = info.NodeID;
        cluster = info.Cluster?.TLSInfo;
      }
      nodes.sort((a, b) => byNatural(a.Description?.Hostname ?? '', b.Description?.Hostname ?? ''));
      const format = listFormat(f.format, f.quiet, NODE_TABLE, NODE_RAW, 'node_id: {{.ID}}');
      process.stdout.write(formatRows(format, nodes.map((n) => nodeRow(n, self, cluster)), { headers: NODE_HEADERS }));
    });

  node.command('inspect')
    .description('Display detailed information on one or more nodes')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument('<self|NODE...>')
    .action(async (refs: string[], f: { format?: string; pretty?: boolean }, cmd: Command) => {
      const format = f.pretty ? 'pretty' : f.format;
      if (format?.startsWith('pretty') && format !== 'pretty') throw new CliError('cannot supply extra formatting options to the pretty template', 1);
      const client = await clientFor(globals(cmd));
      const get = async (ref: string) => client.call<Node>('GET', `/nodes/${encodeURIComponent(await nodeReference(client, ref))}`);
      if (format !== 'pretty') {
        await inspectEach(refs, async (ref) => goNode(await get(ref)), format, true);
        return;
      }
      // As the docker CLI: the output is kept until every object rendered; the first failure ends it unprinted.
      const out: string[] = [];
      for (const ref of refs) {
        try {
          out.push(nodePretty(await get(ref)));
        } catch (err) {
          throw new CliError(err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message, 1);
        }
      }
      process.stdout.write(out.join('\n'));
    });

  node.command('update')
    .description('Update a node')
    .option('--availability <string>', 'Availability of the node ("active", "pause", "drain")')
    .option('--label-add <list>', 'Add or update a node label ("key=value")', collect)
    .option('--label-rm <list>', 'Remove a node label if exists', collect)
    .option('--role <string>', 'Role of the node ("worker", "manager")')
    .argument('<NODE>')
    .action(async (ref: string, f: { availability?: string; labelAdd?: string[]; labelRm?: string[]; role?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await updateNodes(client, [ref], (n) => {
        const spec = n.Spec;
        if (f.role !== undefined) spec.Role = f.role as 'worker' | 'manager';
        if (f.availability !== undefined) spec.Availability = f.availability as 'active';
        spec.Labels ??= {};
        for (const kv of f.labelAdd ?? []) {
          const eq = kv.indexOf('=');
          spec.Labels[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
        }
        for (const k of f.labelRm ?? []) {
          if (!(k in spec.Labels)) throw new CliError(`key ${k} doesn't exist in node's labels`, 1);
          delete spec.Labels[k];
        }
      }, (r) => process.stdout.write(r + '\n'));
    });

  node.command('promote')
    .description('Promote one or more nodes to manager in the swarm')
    .argument('<NODE...>')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await updateNodes(client, refs, (n) => {
        if (n.Spec.Role === 'manager') {
          process.stdout.write(`Node ${n.ID} is already a manager.\n`);
          return NO_CHANGE;
        }
        n.Spec.Role = 'manager';
      }, (r) => process.stdout.write(`Node ${r} promoted to a manager in the swarm.\n`));
    });

  node.command('demote')
    .description('Demote one or more nodes from manager in the swarm')
    .argument('<NODE...>')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await updateNodes(client, refs, (n) => {
        if (n.Spec.Role === 'worker') {
          process.stdout.write(`Node ${n.ID} is already a worker.\n`);
          return NO_CHANGE;
        }
        n.Spec.Role = 'worker';
      }, (r) => process.stdout.write(`Manager ${r} demoted in the swarm.\n`));
    });

  node.command('rm').alias('remove')
    .description('Remove one or more nodes from the swarm')
    .option('-f, --force', 'Force remove a node from the swarm')
    .argument('<NODE...>')
    .action(async (refs: string[], f: { force?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const errs: unknown[] = [];
      for (const ref of refs) {
        try {
          await client.status('DELETE', `/nodes/${encodeURIComponent(ref)}`, { query: f.force ? { force: '1' } : {} });
          process.stdout.write(ref + '\n');
        } catch (err) {
          errs.push(err);
        }
      }
      joinErrors(errs);
    });

  node.command('ps')
    .description('List tasks running on one or more nodes, defaults to current node')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Pretty-print tasks using a Go template')
    .option('--no-resolve', 'Do not map IDs to Names')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .argument('[NODE...]')
    .action(async (refs: string[], f: { filter?: string[]; format?: string; resolve: boolean; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const errs: unknown[] = [];
      const tasks: Task[] = [];
      for (const ref of refs.length ? refs : ['self']) {
        try {
          const n = await client.call<Node>('GET', `/nodes/${encodeURIComponent(await nodeReference(client, ref))}`);
          const filters: FilterMap = filterMap(f.filter);
          (filters.node ??= {})[n.ID] = true;
          tasks.push(...await client.call<Task[]>('GET', '/tasks', { query: { filters: JSON.stringify(filters) } }));
        } catch (err) {
          errs.push(err);
        }
      }
      if (!errs.length || tasks.length) {
        try {
          await printTasks(client, tasks, { noTrunc: !f.trunc, noResolve: !f.resolve, quiet: f.quiet, format: f.format });
        } catch (err) {
          errs.push(err);
        }
      }
      joinErrors(errs);
    });
}
