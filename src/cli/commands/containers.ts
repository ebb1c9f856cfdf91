// ps, stop, kill, restart, wait, rm, rename, logs, inspect, diff, export, prune —
// at the top level and under `berth container`.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { EngineClient } from '../../client/engine-client.ts';
import { ApiError } from '../../client/engine-client.ts';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { copyOutput } from '../streams.ts';
import { forEach, InspectMiss, printInspect } from '../output.ts';
import { formatRows } from '../format/table.ts';
import { createdSince, humanSize } from '../../api/units.ts';
import { checkTimeFlags } from '../options.ts';
import { confirm } from '../prompt.ts';
import { goTimeString } from '../format/go-time.ts';
import type { ContainerSummary } from '../../api/container.ts';

const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS',
  State: 'STATE', Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES', Label: 'LABEL',
};

function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length > max ? chars.slice(0, max - 1).join('') + '…' : s;
}

/** The fields `docker ps --format` offers, computed as the docker CLI computes them. */
function psRow(c: ContainerSummary, trunc: boolean): Record<string, unknown> {
  const image = c.Image.startsWith('sha256:') && trunc ? c.Image.slice(7, 19) : c.Image;
  return {
    ID: trunc ? c.Id.slice(0, 12) : c.Id,
    Image: image,
    Command: JSON.stringify(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: goTimeString(c.Created),
    RunningFor: createdSince(new Date(c.Created * 1000), new Date()),
    Ports: (c.Ports as { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[])
      .map((p) => (p.PublicPort ? `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', '),
    State: c.State,
    Status: c.Status,
    Size: c.SizeRw !== undefined ? `${humanSize(c.SizeRw)} (virtual ${humanSize(c.SizeRootFs ?? 0)})` : '',
    Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
    Labels: Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    Label: (k: string) => c.Labels?.[k] ?? '',
    Mounts: '',
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','),
    LocalVolumes: '0',
    Platform: null, // docker 28's field: the image manifest's platform, which berth does not record
  };
}

export async function inspectContainers(client: EngineClient, refs: string[], size: boolean): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const r of refs) out.push(await client.call('GET', `/containers/${r}/json`, { query: { size } }));
  return out;
}

function definePs(parent: Command, name: string, aliases: string[] = []): void {
  parent.command(name).aliases(aliases)
    .description('List containers')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('-n, --last <n>', 'Show n last created containers (includes all states)', '-1')
    .option('-l, --latest', 'Show the latest created container (includes all states)')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only display container IDs')
    .option('-s, --size', 'Display total file sizes')
    .action(async (f: { all?: boolean; filter?: string[]; format?: string; last: string; latest?: boolean; trunc: boolean; quiet?: boolean; size?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const filters: Record<string, string[]> = {};
      for (const kv of f.filter ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new CliError(`invalid argument "${kv}" for "-f, --filter" flag: bad format of filter (expected name=value)`, 125);
        (filters[kv.slice(0, eq)] ??= []).push(kv.slice(eq + 1));
      }
      const limit = f.latest ? 1 : Number(f.last);
      // As the docker CLI: the size is asked for when the template uses it (`{{json .}}` uses every field).
      const wantSize = f.size === true || /\.Size\b|\{\{-?\s*json\s+\.\s*-?\}\}/.test(f.format ?? '') || f.format === 'json';
      const list = await client.call<ContainerSummary[]>('GET', '/containers/json', {
        query: { all: f.all === true, limit: limit > 0 ? limit : undefined, size: wantSize, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
      });
      const rows = list.map((c) => psRow(c, f.trunc));
      const table = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}' + (f.size ? '\t{{.Size}}' : '');
      const format = f.quiet && !f.format ? '{{.ID}}' : f.format ?? table;
      process.stdout.write(formatRows(format === 'table' ? table : format, rows, { headers: PS_HEADERS }));
    });
}

/** Container commands, at the top level and under `berth container` (`group`). */
export function registerContainerCommands(program: Command, group: Command): void {
  definePs(program, 'ps');
  definePs(group, 'ls', ['ps', 'list']);

  for (const parent of [program, group]) {
    // stop and restart take the same flags and print each name as it is done.
    for (const [name, description] of [['stop', 'Stop one or more running containers'], ['restart', 'Restart one or more containers']] as const) {
      parent.command(name)
        .description(description)
        .option('-s, --signal <signal>', 'Signal to send to the container')
        .option('-t, --time <seconds>', 'Seconds to wait before killing the container')
        .addOption(new Option('--timeout <seconds>').hideHelp())
        .argument('<container...>')
        .action(async (ids: string[], f: { signal?: string; time?: string; timeout?: string }, cmd: Command) => {
          const client = await clientFor(globals(cmd));
          await forEach(ids, async (id) => {
            await client.status('POST', `/containers/${id}/${name}`, { query: { t: f.time ?? f.timeout, signal: f.signal } });
            process.stdout.write(id + '\n');
          });
        });
    }

    parent.command('kill')
      .description('Kill one or more running containers')
      .option('-s, --signal <signal>', 'Signal to send to the container')
      .argument('<container...>')
      .action(async (ids: string[], f: { signal?: string }, cmd: Command) => {
        const client = await clientFor(globals(cmd));
        await forEach(ids, async (id) => {
          await client.status('POST', `/containers/${id}/kill`, { query: { signal: f.signal } });
          process.stdout.write(id + '\n');
        });
      });

    parent.command('wait')
      .description('Block until one or more containers stop, then print their exit codes')
      .argument('<container...>')
      .action(async (ids: string[], _f: unknown, cmd: Command) => {
        const client = await clientFor(globals(cmd));
        await forEach(ids, async (id) => {
          const r = await client.call<{ StatusCode: number }>('POST', `/containers/${id}/wait`);
          process.stdout.write(`${r.StatusCode}\n`);
        });
      });

    parent.command('rm').aliases(parent === program ? [] : ['remove'])
      .description('Remove one or more containers')
      .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
      .option('-l, --link', 'Remove the specified link')
      .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
      .argument('<container...>')
      .action(async (ids: string[], f: { force?: boolean; link?: boolean; volumes?: boolean }, cmd: Command) => {
        const client = await clientFor(globals(cmd));
        await forEach(ids, async (id) => {
          await client.status('DELETE', `/containers/${id}`, { query: { force: f.force, v: f.volumes, link: f.link } });
          process.stdout.write(id + '\n');
        });
      });

    parent.command('rename')
      .description('Rename a container')
      .argument('<container>')
      .argument('<new-name>')
      .action(async (ref: string, name: string, _f: unknown, cmd: Command) => {
        const oldName = ref.trim();
        const newName = name.trim();
        if (!oldName || !newName) throw new CliError('Error: Neither old nor new names may be empty', 1);
        const client = await clientFor(globals(cmd));
        try {
          await client.status('POST', `/containers/${oldName}/rename`, { query: { name: newName } });
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          // docker's wording: the daemon's error, then its own line.
          process.stderr.write(`Error response from daemon: ${err.message}\n`);
          throw new CliError(`Error: failed to rename container named ${oldName}`, 1);
        }
      });

    parent.command('logs')
      .description('Fetch the logs of a container')
      .option('--details', 'Show extra details provided to logs')
      .option('-f, --follow', 'Follow log output')
      .option('--since <time>', 'Show logs since timestamp or relative (e.g. 42m)')
      .option('-n, --tail <n>', 'Number of lines to show from the end of the logs', 'all')
      .option('-t, --timestamps', 'Show timestamps')
      .option('--until <time>', 'Show logs before a timestamp or relative')
      .argument('<container>')
      .action(async (ref: string, f: { details?: boolean; follow?: boolean; since?: string; tail: string; timestamps?: boolean; until?: string }, cmd: Command) => {
        checkTimeFlags({ since: f.since, until: f.until }, true);
        const client = await clientFor(globals(cmd));
        const info = await client.call<{ Id: string; Config: { Tty: boolean } }>('GET', `/containers/${ref}/json`);
        const res = await client.stream('GET', `/containers/${info.Id}/logs`, {
          query: { stdout: true, stderr: true, follow: f.follow, since: f.since, until: f.until, timestamps: f.timestamps, details: f.details, tail: f.tail },
        });
        await copyOutput(res, info.Config.Tty);
      });

    parent.command('inspect')
      .description(parent === program ? 'Return low-level information on Docker objects' : 'Display detailed information on one or more containers')
      .option('-f, --format <format>', 'Format output using a custom template')
      .option('-s, --size', 'Display total file sizes')
      .option('--type <type>', 'Only inspect objects of the given type')
      .argument('<name...>')
      .action(async (refs: string[], f: { format?: string; size?: boolean; type?: string }, cmd: Command) => {
        const client = await clientFor(globals(cmd));
        const type = parent === program ? f.type : 'container';
        const found: unknown[] = [];
        for (const r of refs) {
          const tries: [string, string][] = [];
          if (!type || type === 'container') tries.push(['container', `/containers/${r}/json`]);
          if (!type || type === 'image') tries.push(['image', `/images/${r}/json`]);
          if (parent === program && (!type || type === 'network')) tries.push(['network', `/networks/${encodeURIComponent(r)}`]);
          let hit: unknown;
          for (const [, path] of tries) {
            try {
              hit = await client.call('GET', path, { query: path.startsWith('/containers') ? { size: f.size } : {} });
              break;
            } catch (err) {
              if (!(err instanceof ApiError) || err.status !== 404) throw err;
            }
          }
          if (hit === undefined) {
            if (type === 'container') found.push(new InspectMiss(`Error response from daemon: No such container: ${r}`));
            else if (type === 'image') found.push(new InspectMiss(`Error response from daemon: No such image: ${r}`));
            else found.push(new InspectMiss(`Error: No such object: ${r}`));
          } else {
            found.push(hit);
          }
        }
        printInspect(found, f.format, true);
      });

    parent.command('diff')
      .description("Inspect changes to files or directories on a container's filesystem")
      .argument('<container>')
      .action(async (ref: string, _f: unknown, cmd: Command) => {
        const client = await clientFor(globals(cmd));
        const changes = await client.call<Array<{ Path: string; Kind: number }> | null>('GET', `/containers/${ref}/changes`);
        process.stdout.write((changes ?? []).map((c) => `${'CAD'[c.Kind] ?? '?'} ${c.Path}\n`).join(''));
      });

    parent.command('export')
      .description("Export a container's filesystem as a tar archive")
      .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
      .argument('<container>')
      .action(async (ref: string, f: { output?: string }, cmd: Command) => {
        if (!f.output && process.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
        const client = await clientFor(globals(cmd));
        const res = await client.stream('GET', `/containers/${ref}/export`);
        await pipeline(res, f.output ? createWriteStream(f.output) : process.stdout);
      });
  }

  group.command('prune')
    .description('Remove all stopped containers')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { filter?: string[]; force?: boolean }, cmd: Command) => {
      if (!f.force && !(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) return;
      const client = await clientFor(globals(cmd));
      const filters: Record<string, string[]> = {};
      for (const kv of f.filter ?? []) {
        const eq = kv.indexOf('=');
        (filters[kv.slice(0, eq)] ??= []).push(kv.slice(eq + 1));
      }
      const r = await client.call<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters: JSON.stringify(filters) } });
      if (r.ContainersDeleted?.length) process.stdout.write(`Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    });
}
