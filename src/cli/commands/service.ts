// `service create|ls|ps|inspect|logs|scale|update|rollback|rm`, as the docker
// CLI has them: the spec it builds (service-spec.ts), its outputs, and its
// progress while a service converges (service-progress.ts).
import type { Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { ApiError, type EngineClient } from '../../client/engine-client.ts';
import type { Service, ServiceSpec, Task } from '../../api/swarm.ts';
import { listFormat, SERVICE_HEADERS, SERVICE_RAW, SERVICE_TABLE, serviceRow, sortServices, truncateId } from '../format/swarm-context.ts';
import { servicePretty } from '../format/service-pretty.ts';
import { goService } from '../format/go-swarm.ts';
import { InspectMiss, printInspect } from '../output.ts';
import { nodeReference, printTasks, resolver } from '../swarm-tasks.ts';
import { filterMap, type FilterMap } from '../swarm-flags.ts';
import { createSpec, mergeUpdate, type ServiceFlags } from '../service-spec.ts';
import { addCreateFlags, addServiceFlags, addUpdateFlags } from '../service-flags.ts';
import { prepareServiceImage } from '../../client/service-image.ts';
import { waitOnService } from '../service-progress.ts';
import { FrameDecoder } from '../../api/stream-frames.ts';

const apiMessage = (e: unknown) => (e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);

function joinErrors(errs: string[]): void {
  if (errs.length) throw new CliError(errs.join('\n'), 1);
}

/** ServiceUpdate of the Go client: the image tagged (and pinned with `query`), the version read sent back. */
async function sendUpdate(client: EngineClient, s: Service, spec: ServiceSpec, rollback: boolean, authFromSpec: boolean, query = false): Promise<string[]> {
  const warnings = await prepareServiceImage(client, spec.TaskTemplate, query);
  const r = await client.call<{ Warnings?: string[] | null }>('POST', `/services/${encodeURIComponent(s.ID)}/update`, {
    query: { version: s.Version.Index, rollback: rollback ? 'previous' : undefined, registryAuthFrom: authFromSpec ? 'spec' : undefined },
    body: spec,
  });
  return [...warnings, ...(r?.Warnings ?? [])];
}

/** logdetails.Parse: `k=v,k2=v2`, values query-escaped. */
function parseDetails(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const pair of s.split(',')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    m.set(decodeURIComponent(pair.slice(0, eq)), decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' ')));
  }
  return m;
}

export function registerServiceCommands(program: Command): void {
  const svc = program.command('service').description('Manage Swarm services').enablePositionalOptions();

  addCreateFlags(addServiceFlags(svc.command('create').description('Create a new service')))
    .argument('<IMAGE>')
    .argument('[COMMAND...]')
    .passThroughOptions()
    .action(async (image: string, args: string[], f: ServiceFlags, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const spec = await createSpec(client, image, args, f);
      const warnings = await prepareServiceImage(client, spec.TaskTemplate, f.resolveImage !== false);
      const r = await client.call<{ ID: string; Warnings?: string[] | null }>('POST', '/services/create', { body: spec });
      for (const w of [...warnings, ...(r.Warnings ?? [])]) process.stderr.write(w + '\n');
      process.stdout.write(r.ID + '\n');
      if (!f.detach) await waitOnService(client, r.ID, f.quiet === true);
    });

  svc.command('ls').alias('list')
    .description('List services')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <string>', 'Format output using a custom template')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .action(async (f: { quiet?: boolean; format?: string; filter?: string[] }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const list = await client.call<Service[]>('GET', '/services', { query: { filters: JSON.stringify(filterMap(f.filter)), status: f.quiet ? undefined : 'true' } });
      const format = listFormat(f.format, f.quiet, SERVICE_TABLE, SERVICE_RAW);
      process.stdout.write(formatRows(format, sortServices(list).map(serviceRow), { headers: SERVICE_HEADERS }));
    });

  svc.command('ps')
    .description('List the tasks of one or more services')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Pretty-print tasks using a Go template')
    .option('--no-resolve', 'Do not map IDs to Names')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .argument('<SERVICE...>')
    .action(async (refs: string[], f: { filter?: string[]; format?: string; resolve: boolean; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const filters: FilterMap = filterMap(f.filter);
      const byId = await client.call<Service[]>('GET', '/services', { query: { filters: JSON.stringify({ id: Object.fromEntries(refs.map((r) => [r, true])) }) } });
      const byName = await client.call<Service[]>('GET', '/services', { query: { filters: JSON.stringify({ name: Object.fromEntries(refs.map((r) => [r, true])) }) } });
      const notFound: string[] = [];
      let count = 0;
      const add = (id: string) => {
        (filters.service ??= {})[id] = true;
        count++;
      };
      for (const ref of refs) {
        const exact = byId.find((s) => s.ID === ref) ?? byName.find((s) => s.Spec.Name === ref);
        if (exact) {
          add(exact.ID);
          continue;
        }
        const prefixed = byId.filter((s) => s.ID.startsWith(ref));
        if (prefixed.length > 1) throw new CliError(`multiple services found with provided prefix: ${ref}`, 1);
        if (prefixed.length === 1) add(prefixed[0].ID);
        else notFound.push(`no such service: ${ref}`);
      }
      if (count === 0) throw new CliError(notFound.join('\n'), 1);
      if (filters.node) {
        const nodes: Record<string, boolean> = {};
        for (const n of Object.keys(filters.node)) nodes[await nodeReference(client, n)] = true;
        filters.node = nodes;
      }
      const tasks = await client.call<Task[]>('GET', '/tasks', { query: { filters: JSON.stringify(filters) } });
      await printTasks(client, tasks, { noTrunc: !f.trunc || f.quiet, noResolve: !f.resolve, quiet: f.quiet, format: f.format });
      joinErrors(notFound);
    });

  svc.command('inspect')
    .description('Display detailed information on one or more services')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument('<SERVICE...>')
    .action(async (refs: string[], f: { format?: string; pretty?: boolean }, cmd: Command) => {
      if (f.pretty && f.format) throw new CliError('--format is incompatible with human friendly format', 1);
      const format = f.pretty ? 'pretty' : f.format;
      // The docker CLI 28 words this one, service inspect's, with a capital.
      if (format?.startsWith('pretty') && format !== 'pretty') throw new CliError('Cannot supply extra formatting options to the pretty template', 1);
      const client = await clientFor(globals(cmd));
      const found: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(goService(await client.call<Service>('GET', `/services/${encodeURIComponent(ref)}`, { query: { insertDefaults: 'true' } })));
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err;
          found.push(new InspectMiss(`Error: no such service: ${ref}`));
        }
      }
      if (format !== 'pretty') {
        printInspect(found, format);
        return;
      }
      // As the docker CLI: the output is kept until every service rendered; the first miss ends it unprinted.
      const out: string[] = [];
      for (const s of found) {
        if (s instanceof InspectMiss) throw new CliError(s.message, 1);
        const networks = new Map<string, string>();
        for (const n of (s as Service).Spec.TaskTemplate.Networks ?? []) {
          try {
            networks.set(n.Target, (await client.call<{ Name: string }>('GET', `/networks/${encodeURIComponent(n.Target)}`, { query: { scope: 'swarm' } })).Name);
          } catch {
            // An unknown network is shown by its ID.
          }
        }
        out.push(servicePretty(s as Service, networks));
      }
      process.stdout.write(out.join(''));
    });

  svc.command('logs')
    .description('Fetch the logs of a service or task')
    .option('--details', 'Show extra details provided to logs')
    .option('-f, --follow', 'Follow log output')
    .option('--no-resolve', 'Do not map IDs to Names in output')
    .option('--no-task-ids', 'Do not include task IDs in output')
    .option('--no-trunc', 'Do not truncate output')
    .option('--raw', 'Do not neatly format logs')
    .option('--since <string>', 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'Show timestamps')
    .argument('<SERVICE|TASK>')
    .action(async (target: string, f: { details?: boolean; follow?: boolean; resolve: boolean; taskIds: boolean; trunc: boolean; raw?: boolean; since?: string; tail: string; timestamps?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      let tty = false;
      let padding = 1;
      let path: string;
      try {
        const s = await client.call<Service>('GET', `/services/${encodeURIComponent(target)}`);
        tty = s.Spec.TaskTemplate.ContainerSpec?.TTY === true;
        if (s.Spec.Mode?.Replicated?.Replicas !== undefined) padding = String(s.Spec.Mode.Replicated.Replicas).length;
        path = `/services/${encodeURIComponent(target)}/logs`;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        let t: Task;
        try {
          t = await client.call<Task>('GET', `/tasks/${encodeURIComponent(target)}`);
        } catch (e2) {
          if (e2 instanceof ApiError && e2.status === 404) throw new CliError(`no such task or service: ${target}`, 1);
          throw e2;
        }
        tty = t.Spec.ContainerSpec?.TTY === true;
        padding = String(t.Slot ?? 0).length;
        path = `/tasks/${encodeURIComponent(target)}/logs`;
      }
      if (tty && !f.raw) throw new CliError('tty service logs only supported with --raw', 1);
      const res = await client.stream('GET', path, {
        query: { stdout: true, stderr: true, since: f.since, timestamps: f.timestamps, follow: f.follow, tail: f.tail, details: f.details || !f.raw },
      });
      if (tty) {
        for await (const c of res) process.stdout.write(c as Buffer);
        return;
      }
      const names = resolver(client, !f.resolve);
      const cache = new Map<string, string>();
      const context = async (d: Map<string, string>): Promise<string> => {
        const [node, service, task] = ['com.docker.swarm.node.id', 'com.docker.swarm.service.id', 'com.docker.swarm.task.id'].map((k) => {
          const v = d.get(k);
          if (v === undefined) throw new CliError(`missing ${k.split('.')[3]} id in details: map[${[...d].map(([a, b]) => `${a}:${b}`).join(' ')}]`, 1);
          d.delete(k);
          return v;
        });
        const key = `${node}/${service}/${task}`;
        const hit = cache.get(key);
        if (hit) return hit;
        const t = await client.call<Task>('GET', `/tasks/${encodeURIComponent(task)}`);
        await names.prepare([{ ...t, NodeID: node, ServiceID: service }]);
        let name = `${names.r.service(service)}.${t.Slot ?? 0}`;
        if (f.taskIds) name += '.' + (f.trunc ? truncateId(t.ID) : t.ID);
        const s = `${name}@${names.r.node(node)}${' '.repeat(Math.max(0, padding - String(t.Slot ?? 0).length))}`;
        cache.set(key, s);
        return s;
      };
      const decoder = new FrameDecoder();
      for await (const chunk of res) {
        for (const frame of decoder.push(chunk as Buffer)) {
          const out = frame.stream === 2 ? process.stderr : process.stdout;
          if (f.raw) {
            out.write(frame.payload);
            continue;
          }
          const text = frame.payload.toString('utf8');
          const parts = text.split(' ');
          const di = f.timestamps ? 1 : 0;
          const details = parseDetails(parts[di] ?? '');
          const ctx = await context(details);
          let line = f.timestamps ? parts[0] + ' ' : '';
          line += `${ctx}    | `;
          if (f.details) line += [...details].map(([k, v]) => `${k}=${v}`).sort().join(',') + ' ';
          line += parts.slice(di + 1).join(' ');
          out.write(line);
        }
      }
    });

  svc.command('scale')
    .description('Scale one or multiple replicated services')
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .argument('<SERVICE=REPLICAS...>')
    .action(async (args: string[], f: { detach?: boolean }, cmd: Command) => {
      for (const a of args) {
        const eq = a.indexOf('=');
        if (eq <= 0 || eq === a.length - 1) {
          throw new CliError(`invalid scale specifier '${a}'.\nSee 'berth service scale --help'.\n\nUsage:  berth service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\nScale one or multiple replicated services`, 1);
        }
      }
      const client = await clientFor(globals(cmd));
      const errs: string[] = [];
      const scaled: string[] = [];
      for (const a of args) {
        const [id, value] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
        if (!/^\d+$/.test(value)) {
          errs.push(`${id}: invalid replicas value ${value}: strconv.ParseUint: parsing "${value}": invalid syntax`);
          continue;
        }
        try {
          const s = await client.call<Service>('GET', `/services/${encodeURIComponent(id)}`);
          const mode = s.Spec.Mode ?? {};
          if (mode.Replicated) mode.Replicated.Replicas = Number(value);
          else if (mode.ReplicatedJob) mode.ReplicatedJob.TotalCompletions = Number(value);
          else throw new CliError('scale can only be used with replicated or replicated-job mode', 1);
          for (const w of await sendUpdate(client, s, s.Spec, false, false)) process.stderr.write(w + '\n');
          process.stdout.write(`${id} scaled to ${value}\n`);
          scaled.push(id);
        } catch (err) {
          errs.push(`${id}: ${apiMessage(err)}`);
        }
      }
      if (!f.detach) {
        for (const id of scaled) {
          try {
            await waitOnService(client, id);
          } catch (err) {
            errs.push(`${id}: ${apiMessage(err)}`);
          }
        }
      }
      joinErrors(errs);
    });

  addUpdateFlags(addServiceFlags(svc.command('update').description('Update a service')))
    .argument('<SERVICE>')
    .action(async (ref: string, f: ServiceFlags, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const s = await client.call<Service>('GET', `/services/${encodeURIComponent(ref)}`);
      if (f.rollback) {
        // Negatable flags (--no-resolve-image, --no-healthcheck) default to true: only false was given.
        const others = Object.entries(f).filter(([k, v]) => v !== undefined && v !== (k === 'resolveImage' || k === 'healthcheck') && !['rollback', 'detach', 'quiet'].includes(k));
        if (others.length) throw new CliError('other flags may not be combined with --rollback', 1);
      }
      const spec = s.Spec;
      await mergeUpdate(client, spec, f);
      // As the docker CLI: the registry is asked only for an image given here.
      const query = f.image !== undefined && f.resolveImage !== false;
      for (const w of await sendUpdate(client, s, spec, f.rollback === true, f.withRegistryAuth !== true, query)) process.stderr.write(w + '\n');
      process.stdout.write(ref + '\n');
      if (!f.detach) await waitOnService(client, ref, f.quiet === true);
    });

  svc.command('rollback')
    .description('Revert changes to a service\'s configuration')
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .argument('<SERVICE>')
    .action(async (ref: string, f: { detach?: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const s = await client.call<Service>('GET', `/services/${encodeURIComponent(ref)}`);
      for (const w of await sendUpdate(client, s, s.Spec, true, false)) process.stderr.write(w + '\n');
      process.stdout.write(ref + '\n');
      if (!f.detach) await waitOnService(client, ref, f.quiet === true);
    });

  svc.command('rm').alias('remove')
    .description('Remove one or more services')
    .argument('<SERVICE...>')
    .action(async (refs: string[], _f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const errs: string[] = [];
      for (const ref of refs) {
        try {
          await client.status('DELETE', `/services/${encodeURIComponent(ref)}`);
          process.stdout.write(ref + '\n');
        } catch (err) {
          errs.push(apiMessage(err));
        }
      }
      joinErrors(errs);
    });
}
