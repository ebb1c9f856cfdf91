// image prune and system df: what images cost on disk and getting it back.
import type { Command } from 'commander';
import { clientFor } from '../context.ts';
import { collect, filterFlags, globals } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { createdSince, humanSize, humanSize4 } from '../../api/units.ts';
import { confirm } from '../prompt.ts';
import { VOLUME_HEADERS, volumeRow, type VolumeJson } from '../format/volume-context.ts';

function definePrune(group: Command): void {
  group.command('prune')
    .description('Remove unused images')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { all?: boolean; filter?: string[]; force?: boolean }, cmd: Command) => {
      const filters = filterFlags(f.filter);
      if (f.all) filters.dangling = ['false'];
      else filters.dangling ??= ['true'];
      const warning = f.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!f.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const client = await clientFor(globals(cmd));
      const r = await client.call<{ ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed: number }>('POST', '/images/prune', { query: { filters: JSON.stringify(filters) } });
      if (r.ImagesDeleted?.length) {
        const lines = r.ImagesDeleted.map((d) => (d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted}`));
        process.stdout.write(`Deleted Images:\n${lines.join('\n')}\n\n`);
      }
      process.stdout.write(`Total reclaimed space: ${humanSize4(r.SpaceReclaimed)}\n`);
    });
}

interface DiskUsage {
  LayersSize: number;
  Images: { Id: string; RepoTags: string[] | null; Created: number; Size: number; SharedSize: number; Containers: number }[];
  Containers: { Id: string; Image: string; Command: string; Created: number; Status: string; State: string; Names: string[]; SizeRw?: number; SizeRootFs?: number; Mounts?: { Driver?: string }[] | null }[];
  Volumes: VolumeJson[] | null;
  BuildCache: { ID: string; Type: string; Size: number; InUse: boolean; Shared: boolean; CreatedAt: string; LastUsedAt: string | null; UsageCount: number }[] | null;
}

const percent = (part: number, total: number) => (total > 0 ? `${humanSize4(part)} (${Math.floor((part * 100) / total)}%)` : humanSize4(part));

/** The docker client's totals of a pre-1.52 df answer: active volumes are referenced ones; sizes of -1 (unknown) count as nothing. */
function volumeUsage(list: VolumeJson[]): { total: number; active: number; size: number; used: number } {
  const r = { total: list.length, active: 0, size: 0, used: 0 };
  for (const v of list) {
    if (!v.UsageData) continue;
    if (v.UsageData.RefCount > 0) {
      r.active++;
      r.used += v.UsageData.Size;
    }
    if (v.UsageData.Size > 0) r.size += v.UsageData.Size;
  }
  return r;
}

function defineDf(group: Command): void {
  group.command('df')
    .description('Show docker disk usage')
    .option('--format <format>', 'Format output using a custom template')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .action(async (f: { format?: string; verbose?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const df = await client.call<DiskUsage>('GET', '/system/df');
      const active = (s: string) => s === 'running' || s === 'paused' || s === 'restarting';
      if (f.verbose && !f.format) {
        printVerbose(df, active);
        return;
      }
      const used = df.Images.filter((i) => i.Containers > 0).reduce((n, i) => n + i.Size - i.SharedSize, 0);
      const rw = df.Containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
      const rwIdle = df.Containers.filter((c) => !active(c.State)).reduce((n, c) => n + (c.SizeRw ?? 0), 0);
      const vols = volumeUsage(df.Volumes ?? []);
      const cache = df.BuildCache ?? [];
      const cacheSize = cache.reduce((n, c) => n + c.Size, 0);
      const rows = [
        { Type: 'Images', TotalCount: String(df.Images.length), Active: String(df.Images.filter((i) => i.Containers > 0).length), Size: humanSize4(df.LayersSize), Reclaimable: percent(df.LayersSize - used, df.LayersSize) },
        { Type: 'Containers', TotalCount: String(df.Containers.length), Active: String(df.Containers.filter((c) => active(c.State)).length), Size: humanSize4(rw), Reclaimable: percent(rwIdle, rw) },
        { Type: 'Local Volumes', TotalCount: String(vols.total), Active: String(vols.active), Size: humanSize4(vols.size), Reclaimable: percent(vols.size - vols.used, vols.size) },
        { Type: 'Build Cache', TotalCount: String(cache.length), Active: String(cache.filter((c) => c.InUse).length), Size: humanSize4(cacheSize), Reclaimable: humanSize4(cache.filter((c) => !c.InUse && !c.Shared).reduce((n, c) => n + c.Size, 0)) },
      ];
      const format = !f.format || f.format === 'table' ? 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}' : f.format;
      process.stdout.write(formatRows(format, rows, { headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' } }));
    });
}

function printVerbose(df: DiskUsage, active: (s: string) => boolean): void {
  const now = new Date();
  const images = df.Images.flatMap((i) => {
    const base = {
      ID: i.Id.slice(7, 19), CreatedSince: createdSince(new Date(i.Created * 1000), now), Size: humanSize(i.Size),
      SharedSize: humanSize4(i.SharedSize), UniqueSize: humanSize4(i.Size - i.SharedSize), Containers: String(i.Containers),
    };
    const tags = i.RepoTags?.length ? i.RepoTags : ['<none>:<none>'];
    return tags.map((t) => ({ ...base, Repository: t.slice(0, t.lastIndexOf(':')), Tag: t.slice(t.lastIndexOf(':') + 1) }));
  });
  process.stdout.write('Images space usage:\n\n');
  process.stdout.write(formatRows('table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}', images, {
    headers: { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' },
  }));
  const containers = df.Containers.map((c) => ({
    ID: c.Id.slice(0, 12), Image: c.Image, Command: JSON.stringify(c.Command.length > 20 ? c.Command.slice(0, 19) + '…' : c.Command), LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    Size: humanSize(c.SizeRw ?? 0),
    RunningFor: createdSince(new Date(c.Created * 1000), now), Status: c.Status, Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
    active: active(c.State),
  }));
  process.stdout.write('\nContainers space usage:\n\n');
  process.stdout.write(formatRows('table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}', containers, {
    headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', RunningFor: 'CREATED', Status: 'STATUS', Names: 'NAMES' },
  }));
  process.stdout.write('\nLocal Volumes space usage:\n\n');
  process.stdout.write(formatRows('table {{.Name}}\t{{.Links}}\t{{.Size}}', (df.Volumes ?? []).map(volumeRow), { headers: VOLUME_HEADERS }));
  // As the docker CLI: least recently used first.
  const cache = [...(df.BuildCache ?? [])].sort((a, b) => Date.parse(a.LastUsedAt ?? '') - Date.parse(b.LastUsedAt ?? ''));
  process.stdout.write(`\nBuild cache usage: ${humanSize4(cache.reduce((n, c) => n + c.Size, 0))}\n\n`);
  process.stdout.write(formatRows('table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}', cache.map((c) => ({
    ID: c.ID.slice(0, 12), CacheType: c.Type, Size: humanSize(c.Size), CreatedSince: createdSince(new Date(c.CreatedAt), now),
    LastUsedSince: c.LastUsedAt ? createdSince(new Date(c.LastUsedAt), now) : '', UsageCount: String(c.UsageCount), Shared: String(c.Shared),
  })), { headers: { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' } }));
}

export function registerImageUsageCommands(imageGroup: Command, program: Command): void {
  definePrune(imageGroup);
  const system = program.commands.find((c) => c.name() === 'system') ?? program.command('system').description('Manage berth');
  defineDf(system);
}
