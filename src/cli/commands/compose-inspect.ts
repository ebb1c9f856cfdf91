// `compose ps`, `ls`, `images`, `top`, `port`, `version`: what a project runs,
// printed as docker compose v2 prints it.
import type { Command } from 'commander';
import type { EngineClient } from '../../client/engine-client.ts';
import { LABEL } from '../../compose/model.ts';
import { type ContainerSummary, containerName, projectContainers, serviceContainer } from '../../compose/project-containers.ts';
import { COMPOSE_VERSION, COMPOSE_VERSION_SHORT } from '../../compose/version.ts';
import { createdSince, humanSize } from '../../api/units.ts';
import { goTimeString } from '../format/go-time.ts';
import { formatRows, tabwrite } from '../format/table.ts';
import { composeWarn } from '../../compose/warn.ts';
import { clientFor, CliError } from '../context.ts';
import { resolveProject, indexFlag } from '../compose-project.ts';
import { collect, filterFlags, globals } from '../options.ts';

const PS_TABLE = 'table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}';
const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Name: 'NAME', Project: 'PROJECT', Service: 'SERVICE', Image: 'IMAGE', Command: 'COMMAND',
  CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE',
  Labels: 'LABELS', Health: 'HEALTH', ExitCode: 'EXIT CODE', Names: 'NAMES', Mounts: 'MOUNTS', Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES', Publishers: 'PUBLISHERS',
};

interface Inspected { State: { Status: string; ExitCode: number; Health?: { Status: string } } }

function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length > max ? chars.slice(0, max - 1).join('') + '…' : s;
}

/** docker's port column: `0.0.0.0:8080->80/tcp, 443/tcp`, sorted by container port. */
function portsColumn(ports: ContainerSummary['Ports']): string {
  return [...ports].sort((a, b) => a.PrivatePort - b.PrivatePort)
    .map((p) => (p.PublicPort ? `${p.IP?.includes(':') ? `[${p.IP}]` : p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', ');
}

/** The fields of docker compose's ContainerContext. */
function psRow(c: ContainerSummary, info: Inspected | undefined, trunc: boolean, json: boolean): Record<string, unknown> {
  const state = info?.State;
  const exitCode = state && (state.Status === 'exited' || state.Status === 'dead') ? state.ExitCode : 0;
  const mounts = (c.Mounts ?? []).map((m) => m.Name || m.Source || '');
  return {
    ID: trunc ? c.Id.slice(0, 12) : c.Id,
    Name: containerName(c),
    Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
    Project: c.Labels[LABEL.project] ?? '',
    Service: c.Labels[LABEL.service] ?? '',
    Image: c.Image,
    // JSON Lines carry the command as it is (compose's documented output); a table quotes it.
    Command: json ? c.Command : JSON.stringify(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: goTimeString(c.Created),
    RunningFor: createdSince(new Date(c.Created * 1000), new Date()),
    ExitCode: exitCode,
    State: c.State,
    Status: c.Status,
    Health: state?.Status === 'running' ? state.Health?.Status ?? '' : '',
    Publishers: [...c.Ports].sort((a, b) => a.PrivatePort - b.PrivatePort)
      .map((p) => ({ URL: p.IP ?? '', TargetPort: p.PrivatePort, PublishedPort: p.PublicPort ?? 0, Protocol: p.Type })),
    Ports: portsColumn(c.Ports),
    Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(','),
    Label: (k: string) => c.Labels[k] ?? '',
    Mounts: mounts.map((m) => (trunc ? ellipsis(m, 15) : m)).join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).join(','),
    Size: '0B',
  };
}

interface PsFlags { all?: boolean; quiet?: boolean; services?: boolean; status?: string[]; filter?: string; format?: string; trunc: boolean; orphans?: string | boolean }

async function runPs(client: EngineClient, project: string, services: string[], f: PsFlags): Promise<void> {
  const status = [...(f.status ?? [])];
  if (f.filter !== undefined) {
    const eq = f.filter.indexOf('=');
    if (eq < 0) throw new CliError('arguments to --filter should be in form KEY=VAL', 1);
    const key = f.filter.slice(0, eq);
    if (key !== 'status') throw new CliError(key === 'source' ? 'not implemented' : `unknown filter ${key}`, 1);
    status.push(f.filter.slice(eq + 1));
  }
  const all = f.all === true || status.length > 0;
  let list = (await projectContainers(client, project, { all, services, oneoff: all ? 'include' : 'exclude' })) as ContainerSummary[];
  if (status.length) list = list.filter((c) => status.includes(c.State));
  if (f.quiet) {
    process.stdout.write(list.map((c) => c.Id + '\n').join(''));
    return;
  }
  if (f.services) {
    process.stdout.write([...new Set(list.map((c) => c.Labels[LABEL.service]))].join('\n') + '\n');
    return;
  }
  const infos = await Promise.all(list.map((c) => client.call<Inspected>('GET', `/containers/${c.Id}/json`).catch(() => undefined)));
  const format = !f.format || f.format === 'table' ? PS_TABLE : f.format;
  const rows = list.map((c, i) => psRow(c, infos[i], f.trunc && format !== 'json', format === 'json'));
  process.stdout.write(formatRows(format, rows, { headers: PS_HEADERS }));
}

/** `compose ls`: projects found by their label across the engine. */
async function runLs(client: EngineClient, f: { all?: boolean; quiet?: boolean; format: string; filter?: string[] }): Promise<void> {
  const filters = filterFlags(f.filter);
  for (const k of Object.keys(filters)) if (k !== 'name') throw new CliError(`invalid filter '${k}'`, 1);
  const list = await client.call<ContainerSummary[]>('GET', '/containers/json', {
    query: { all: f.all === true, filters: JSON.stringify({ label: [LABEL.project, LABEL.configHash] }) },
  });
  const byProject = new Map<string, ContainerSummary[]>();
  for (const c of list) {
    const p = c.Labels[LABEL.project];
    byProject.set(p, [...(byProject.get(p) ?? []), c]);
  }
  const names = [...byProject.keys()].sort();
  // A name filter matches exactly or as a regular expression, as compose's does.
  const matches = (name: string) => (filters.name ?? []).some((n) => {
    if (n === name) return true;
    try {
      return new RegExp(n).test(name);
    } catch {
      return false;
    }
  });
  const stacks = names.filter((n) => !filters.name || matches(n)).map((name) => {
    const containers = byProject.get(name) ?? [];
    const counts = new Map<string, number>();
    for (const c of containers) counts.set(c.State, (counts.get(c.State) ?? 0) + 1);
    const status = [...counts.keys()].sort().map((s) => `${s}(${counts.get(s)})`).join(', ');
    const files: string[] = [];
    let missing = false;
    for (const c of containers) {
      const label = c.Labels[LABEL.configFiles];
      if (label === undefined) missing = true;
      for (const file of (label ?? '').split(',')) if (!files.includes(file)) files.push(file);
    }
    if (missing) composeWarn(`no label "${LABEL.configFiles}" set on container of compose project ${name}`);
    return { Name: name, Status: status, ConfigFiles: missing ? 'N/A' : files.join(',') };
  });
  if (f.quiet) {
    process.stdout.write(stacks.map((s) => s.Name + '\n').join(''));
    return;
  }
  if (f.format === 'json') {
    process.stdout.write(JSON.stringify(stacks) + '\n');
    return;
  }
  if (f.format !== 'table' && f.format !== 'pretty') throw new CliError(`format value ${JSON.stringify(f.format)} could not be parsed: parsing failed`, 1);
  const lines = ['NAME\tSTATUS\tCONFIG FILES', ...stacks.map((s) => `${s.Name}\t${s.Status}\t${s.ConfigFiles}`)];
  process.stdout.write(tabwrite(lines.join('\n') + '\n', 20, 3));
}

interface ImageInspect { Id: string; Size: number; Created?: string; Os?: string; Architecture?: string; Variant?: string }

/** `compose images`: the image of every container of the project, by container name. */
async function runImages(client: EngineClient, project: string, services: string[], f: { quiet?: boolean; format: string }): Promise<void> {
  const list = await projectContainers(client, project, { all: true, services, oneoff: 'include' });
  const rows = await Promise.all(list.map(async (c) => {
    const img = await client.call<ImageInspect>('GET', `/images/${encodeURIComponent(c.Image)}/json`).catch(() => undefined);
    // A reference by digest or ID names no repository.
    const byId = /^(sha256:)?[0-9a-f]{12,64}$/.test(c.Image) || c.Image.includes('@');
    const at = c.Image.lastIndexOf(':');
    const tagged = !byId && at > c.Image.lastIndexOf('/');
    const repository = byId ? '' : tagged ? c.Image.slice(0, at) : c.Image;
    const tag = byId ? '' : tagged ? c.Image.slice(at + 1) : 'latest';
    const platform = img?.Os ? [img.Os, img.Architecture, img.Variant].filter(Boolean).join('/') : '';
    return { container: containerName(c), id: img?.Id ?? c.ImageID, repository, tag, platform, size: img?.Size ?? 0, created: img?.Created };
  }));
  rows.sort((a, b) => (a.container < b.container ? -1 : a.container > b.container ? 1 : 0));
  if (f.quiet) {
    const ids = [...new Set(rows.map((r) => r.id.replace(/^[^:]*:/, '')))];
    process.stdout.write(ids.map((i) => i + '\n').join(''));
    return;
  }
  if (f.format === 'json') {
    const out = rows.map((r) => ({ ID: r.id, ContainerName: r.container, Repository: r.repository, Tag: r.tag, Platform: r.platform, Size: r.size, ...(r.created ? { Created: r.created } : {}) }));
    process.stdout.write(JSON.stringify(out.length ? out : null) + '\n');
    return;
  }
  const lines = ['CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED', ...rows.map((r) => [
    r.container, r.repository || '<none>', r.tag || '<none>', r.platform, r.id.replace(/^sha256:/, '').slice(0, 12), humanSize(r.size),
    r.created ? createdSince(new Date(r.created), new Date()) : 'N/A',
  ].join('\t'))];
  process.stdout.write(tabwrite(lines.join('\n') + '\n', 20, 3));
}

/** `compose top`: one table for all containers, SERVICE and # first and CMD last, as compose v2 prints it. */
async function runTop(client: EngineClient, project: string, services: string[]): Promise<void> {
  const list = await projectContainers(client, project, { services, oneoff: 'include' });
  const tops = await Promise.all(list.map((c) => client.call<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${c.Id}/top`)));
  const header: string[] = ['SERVICE', '#'];
  const rows: Array<Record<string, string>> = [];
  list.forEach((c, i) => {
    for (const proc of tops[i].Processes) {
      const row: Record<string, string> = { SERVICE: c.Labels[LABEL.service] ?? containerName(c), '#': c.Labels[LABEL.containerNumber] ?? '' };
      tops[i].Titles.forEach((t, j) => {
        if (!header.includes(t)) header.push(t);
        row[t] = proc[j];
      });
      rows.push(row);
    }
  });
  if (rows.length === 0) return;
  if (header.includes('CMD')) header.push(...header.splice(header.indexOf('CMD'), 1));
  const lines = [header.join('\t'), ...rows.map((r) => header.map((h) => r[h] ?? '-').join('\t'))];
  process.stdout.write(tabwrite(lines.join('\n') + '\n', 4, 2));
}

async function runPort(client: EngineClient, project: string, service: string, port: string, f: { protocol: string; index?: string }): Promise<void> {
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new CliError(`strconv.ParseUint: parsing ${JSON.stringify(port)}: ${/^\d+$/.test(port) ? 'value out of range' : 'invalid syntax'}`, 1);
  const protocol = f.protocol.toLowerCase();
  const c = await serviceContainer(client, project, service, indexFlag(f.index) || undefined);
  const p = c.Ports.find((x) => x.PrivatePort === Number(port) && x.Type === protocol && x.PublicPort);
  if (!p) {
    const have = c.Ports.map((x) => `${x.PrivatePort}/${x.Type}`).join(', ');
    throw new CliError(`no port ${Number(port)}/${protocol} for container ${containerName(c)}: ${have}`, 1);
  }
  process.stdout.write(`${p.IP ?? ''}:${p.PublicPort}\n`);
}

export function registerComposeInspectCommands(compose: Command): void {
  compose.command('ps')
    .description('List containers')
    .argument('[services...]')
    .option('-a, --all', 'Show all stopped containers (including those created by the run command)')
    .option('-q, --quiet', 'Only display IDs')
    .option('--services', 'Display services')
    .option('--status <status>', 'Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]', collect)
    .option('--filter <filter>', 'Filter services by a property (supported filters: status)')
    .option('--format <format>', 'Format output using a custom template: table, json or a Go template', 'table')
    .option('--no-trunc', "Don't truncate output")
    .option('--orphans [bool]', 'Include orphaned services (not declared by project)')
    .action(async (services: string[], f: PsFlags, cmd: Command) => {
      const scope = await resolveProject(cmd, 'name');
      for (const s of services) if (scope.services && !scope.services.includes(s)) throw new CliError(`no such service: ${s}`, 1);
      // --orphans=false: only the services the compose file declares.
      const noOrphans = f.orphans === 'false' || f.orphans === false;
      const chosen = services.length === 0 && noOrphans && scope.services ? scope.services : services;
      await runPs(await clientFor(globals(cmd)), scope.name, chosen, f);
    });

  compose.command('ls')
    .description('List running compose projects')
    .option('-a, --all', 'Show all stopped Compose projects')
    .option('-q, --quiet', 'Only display project names')
    .option('--format <format>', 'Format the output. Values: [table | json]', 'table')
    .option('--filter <filter>', 'Filter output based on conditions provided', collect)
    .action(async (f: { all?: boolean; quiet?: boolean; format: string; filter?: string[] }, cmd: Command) => {
      await runLs(await clientFor(globals(cmd)), f);
    });

  compose.command('images')
    .description('List images used by the created containers')
    .argument('[services...]')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <format>', 'Format the output. Values: [table | json]', 'table')
    .action(async (services: string[], f: { quiet?: boolean; format: string }, cmd: Command) => {
      await runImages(await clientFor(globals(cmd)), (await resolveProject(cmd, 'name')).name, services, f);
    });

  compose.command('top')
    .description('Display the running processes')
    .argument('[services...]')
    .action(async (services: string[], _f: unknown, cmd: Command) => {
      await runTop(await clientFor(globals(cmd)), (await resolveProject(cmd, 'name')).name, services);
    });

  compose.command('port')
    .description('Print the public port for a port binding')
    .argument('<service>')
    .argument('<private_port>')
    .option('--protocol <protocol>', 'tcp or udp', 'tcp')
    .option('--index <index>', 'Index of the container if service has multiple replicas')
    .action(async (service: string, port: string, f: { protocol: string; index?: string }, cmd: Command) => {
      await runPort(await clientFor(globals(cmd)), (await resolveProject(cmd, 'name')).name, service, port, f);
    });

  compose.command('version')
    .description('Show the Docker Compose version information')
    .option('-f, --format <format>', 'Format the output. Values: [pretty | json]. (Default: pretty)')
    .option('--short', "Shows only Compose's version number")
    .action((f: { format?: string; short?: boolean }) => {
      if (f.short) process.stdout.write(COMPOSE_VERSION_SHORT + '\n');
      else if (f.format === 'json') process.stdout.write(JSON.stringify({ version: COMPOSE_VERSION }) + '\n');
      else process.stdout.write(`Docker Compose version ${COMPOSE_VERSION}\n`);
    });
}
