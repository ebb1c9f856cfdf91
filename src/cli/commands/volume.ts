// `volume create|ls|inspect|rm|prune`, as the docker CLI has them.
import type { Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { collect, filterFlags, globals, keyValues } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { humanSize4 } from '../../api/units.ts';
import { naturalLess, VOLUME_HEADERS, volumeRow, type VolumeJson } from '../format/volume-context.ts';
import { inspectEach } from '../output.ts';
import { confirm } from '../prompt.ts';

export function registerVolumeCommands(program: Command): void {
  const vol = program.command('volume').description('Manage volumes');

  vol.command('create')
    .description('Create a volume')
    .option('-d, --driver <driver>', 'Specify volume driver name', 'local')
    .option('--label <label>', 'Set metadata for a volume', collect)
    .option('-o, --opt <opt>', 'Set driver specific options', collect)
    .option('--name <name>', 'Specify volume name')
    .argument('[volume]')
    .action(async (name: string | undefined, f: { driver: string; label?: string[]; opt?: string[]; name?: string }, cmd: Command) => {
      if (name !== undefined && f.name) throw new CliError('conflicting options: cannot specify a volume-name through both --name and as a positional arg', 1);
      for (const l of f.label ?? []) if (l.startsWith('=')) throw new CliError(`invalid argument "${l}" for "--label" flag: invalid label '${l}': empty name`, 125);
      const client = await clientFor(globals(cmd));
      const v = await client.call<VolumeJson>('POST', '/volumes/create', {
        body: { Name: name ?? f.name ?? '', Driver: f.driver, DriverOpts: keyValues(f.opt), Labels: keyValues(f.label) },
      });
      process.stdout.write(v.Name + '\n');
    });

  vol.command('ls').alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'Only display volume names')
    .option('--format <format>', 'Format output using a custom template')
    .option('-f, --filter <filter>', 'Provide filter values (e.g. "dangling=true")', collect)
    .option('--cluster', 'Display only cluster volumes, and use cluster volume list formatting')
    .action(async (f: { quiet?: boolean; format?: string; filter?: string[]; cluster?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const res = await client.call<{ Volumes: VolumeJson[] | null }>('GET', '/volumes', { query: { filters: JSON.stringify(filterFlags(f.filter)) } });
      // No volume here is a cluster volume (berth has no swarm).
      const list = f.cluster ? [] : [...(res.Volumes ?? [])];
      list.sort((a, b) => (naturalLess(a.Name, b.Name) ? -1 : naturalLess(b.Name, a.Name) ? 1 : 0));
      let format = f.format ?? '';
      if (format === '' || format === 'table') format = f.quiet ? '{{.Name}}' : f.cluster ? 'table {{.Name}}\t{{.Group}}\t{{.Driver}}\t{{.Availability}}\t{{.Status}}' : 'table {{.Driver}}\t{{.Name}}';
      else if (format === 'raw') format = f.quiet ? 'name: {{.Name}}' : 'name: {{.Name}}\ndriver: {{.Driver}}\n';
      process.stdout.write(formatRows(format, list.map(volumeRow), { headers: VOLUME_HEADERS }));
    });

  vol.command('inspect')
    .description('Display detailed information on one or more volumes')
    .option('-f, --format <format>', 'Format output using a custom template')
    .argument('<volume...>')
    .action(async (names: string[], f: { format?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await inspectEach(names, (n) => client.call('GET', `/volumes/${encodeURIComponent(n)}`), f.format);
    });

  vol.command('rm').alias('remove')
    .description('Remove one or more volumes')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .argument('<volume...>')
    .action(async (names: string[], f: { force?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      let failed = false;
      for (const n of names) {
        try {
          await client.status('DELETE', `/volumes/${encodeURIComponent(n)}`, { query: f.force ? { force: '1' } : {} });
          process.stdout.write(n + '\n');
        } catch (err) {
          process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
          failed = true;
        }
      }
      if (failed) throw new CliError('', 1);
    });

  vol.command('prune')
    .description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<label>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { all?: boolean; filter?: string[]; force?: boolean }, cmd: Command) => {
      const filters = filterFlags(f.filter);
      if (f.all) {
        if ('all' in filters) throw new CliError('conflicting options: cannot specify both --all and --filter all=1', 1);
        filters.all = ['true'];
      }
      const warning = f.all
        ? 'WARNING! This will remove all local volumes not used by at least one container.'
        : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
      if (!f.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const client = await clientFor(globals(cmd));
      const r = await client.call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: JSON.stringify(filters) } });
      // As the docker CLI: the space counts only when something went.
      if (r.VolumesDeleted?.length) process.stdout.write(`Deleted Volumes:\n${r.VolumesDeleted.join('\n')}\n\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize4(r.VolumesDeleted?.length ? r.SpaceReclaimed : 0)}\n`);
    });
}
