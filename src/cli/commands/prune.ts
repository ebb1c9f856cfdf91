// system prune and builder prune: each object type's prune route in turn,
// reported as the docker CLI reports them (a section per type, then the total).
import type { Command } from 'commander';
import type { EngineClient } from '../../client/engine-client.ts';
import { humanSize4, ramInBytes } from '../../api/units.ts';
import { clientFor } from '../context.ts';
import { collect, filterFlags, globals } from '../options.ts';
import { confirm } from '../prompt.ts';

type Filters = Record<string, string[]>;

/** A section of the report: the space freed and the lines the docker CLI prints for it ('' when nothing went). */
interface Pruned { space: number; output: string }

const section = (title: string, lines: string[] | null | undefined) => (lines?.length ? `${title}:\n${lines.join('\n')}\n` : '');

async function pruneContainers(c: EngineClient, filters: Filters): Promise<Pruned> {
  const r = await c.call<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters: JSON.stringify(filters) } });
  return { space: r.SpaceReclaimed ?? 0, output: section('Deleted Containers', r.ContainersDeleted) };
}

async function pruneNetworks(c: EngineClient, filters: Filters): Promise<Pruned> {
  const r = await c.call<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters: JSON.stringify(filters) } });
  return { space: 0, output: section('Deleted Networks', r.NetworksDeleted) };
}

async function pruneVolumes(c: EngineClient, filters: Filters, all: boolean): Promise<Pruned> {
  const f = all ? { ...filters, all: ['true'] } : filters;
  const r = await c.call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: JSON.stringify(f) } });
  return { space: r.SpaceReclaimed ?? 0, output: section('Deleted Volumes', r.VolumesDeleted) };
}

async function pruneImages(c: EngineClient, filters: Filters, all: boolean): Promise<Pruned> {
  const f = { ...filters, dangling: [all ? 'false' : 'true'] };
  const r = await c.call<{ ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed: number }>('POST', '/images/prune', { query: { filters: JSON.stringify(f) } });
  const lines = (r.ImagesDeleted ?? []).map((d) => (d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted}`));
  return { space: r.SpaceReclaimed ?? 0, output: section('Deleted Images', lines) };
}

async function pruneBuildCache(c: EngineClient, filters: Filters, all: boolean, keepStorage?: number): Promise<Pruned> {
  const r = await c.call<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/build/prune', {
    query: { all, filters: JSON.stringify(filters), 'keep-storage': keepStorage },
  });
  return { space: r.SpaceReclaimed ?? 0, output: section('Deleted build cache objects', r.CachesDeleted) };
}

function report(parts: Pruned[]): void {
  for (const p of parts) if (p.output) process.stdout.write(p.output + '\n');
  process.stdout.write(`Total reclaimed space: ${humanSize4(parts.reduce((n, p) => n + p.space, 0))}\n`);
}

export function registerPruneCommands(program: Command, builder: Command): void {
  const system = program.commands.find((c) => c.name() === 'system') ?? program.command('system').description('Manage berth');
  system.command('prune')
    .description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<key>=<value>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--volumes', 'Prune anonymous volumes')
    .action(async (f: { all?: boolean; filter?: string[]; force?: boolean; volumes?: boolean }, cmd: Command) => {
      const warning = [
        'WARNING! This will remove:',
        '  - all stopped containers',
        '  - all networks not used by at least one container',
        ...(f.volumes ? ['  - all anonymous volumes not used by at least one container'] : []),
        f.all ? '  - all images without at least one container associated to them' : '  - all dangling images',
        f.all ? '  - all build cache' : '  - unused build cache',
        '',
      ].join('\n');
      if (!f.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const client = await clientFor(globals(cmd));
      const filters = filterFlags(f.filter);
      const parts = [await pruneContainers(client, filters), await pruneNetworks(client, filters)];
      if (f.volumes) parts.push(await pruneVolumes(client, filters, false));
      parts.push(await pruneImages(client, filters, f.all === true), await pruneBuildCache(client, filters, f.all === true));
      report(parts);
    });

  builder.command('prune')
    .description('Remove build cache')
    .option('-a, --all', 'Remove all unused build cache, not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=24h")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--keep-storage <bytes>', 'Amount of disk space to keep for cache')
    .action(async (f: { all?: boolean; filter?: string[]; force?: boolean; keepStorage?: string }, cmd: Command) => {
      const warning = f.all ? 'WARNING! This will remove all build cache.' : 'WARNING! This will remove all dangling build cache.';
      if (!f.force && !(await confirm(`${warning} Are you sure you want to continue?`))) return;
      const client = await clientFor(globals(cmd));
      report([await pruneBuildCache(client, filterFlags(f.filter), f.all === true, f.keepStorage ? ramInBytes(f.keepStorage) : undefined)]);
    });
}
