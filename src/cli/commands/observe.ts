// top and stats — at the top level and under `berth container`.
import type { Command } from 'commander';
import type { EngineClient } from '../../client/engine-client.ts';
import { bytesSize, humanSize } from '../../api/units.ts';
import { clientFor, CliError } from '../context.ts';
import { globals } from '../options.ts';
import { formatRows, tabwrite } from '../format/table.ts';

/** The fields of a StatsJSON the table needs. */
interface Stats {
  id: string;
  name: string;
  read: string;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats: { current?: number };
  blkio_stats: { io_service_bytes_recursive: { op: string; value: number }[] | null };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}
interface CpuStats { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number }

const STATS_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
const STATS_HEADERS = {
  Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS',
};

/** The docker CLI's figures from one StatsJSON (cli/command/container/stats_helpers.go). */
export function statsRow(container: string, s: Stats | undefined, trunc: boolean): Record<string, string> {
  const id = s?.id ?? container;
  const row = { Container: container, ID: trunc ? id.slice(0, 12) : id, Name: (s?.name ?? '').replace(/^\//, '') };
  if (!s || s.read.startsWith('0001-')) {
    // Not running: the docker CLI's zero figures.
    return { ...row, CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
  }
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 0;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  const m = s.memory_stats;
  const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file;
  const mem = (m.usage ?? 0) - (inactive !== undefined && inactive < (m.usage ?? 0) ? inactive : 0);
  const limit = m.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) { rx += n.rx_bytes; tx += n.tx_bytes; }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (/^r/i.test(e.op)) read += e.value;
    else if (/^w/i.test(e.op)) write += e.value;
  }
  return {
    ...row,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(read)} / ${humanSize(write)}`,
    PIDs: String(s.pids_stats.current ?? 0),
  };
}

interface StatsFlags { all?: boolean; stream: boolean; trunc: boolean; format?: string }

async function runStats(client: EngineClient, args: string[], f: StatsFlags): Promise<void> {
  const named = args.length > 0;
  const targets = named ? args : (await client.call<{ Id: string }[]>('GET', '/containers/json', { query: { all: f.all === true } })).map((c) => c.Id);
  const format = !f.format || f.format === 'table' ? STATS_TABLE : f.format;
  const render = (latest: Map<string, Stats | undefined>) => formatRows(format, [...latest].map(([c, s]) => statsRow(c, s, f.trunc)), { headers: STATS_HEADERS });
  if (!f.stream) {
    const latest = new Map<string, Stats | undefined>();
    const answers = await Promise.allSettled(targets.map((c) => client.call<Stats>('GET', `/containers/${c}/stats`, { query: { stream: false } })));
    const failed = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
    if (failed && named) throw failed.reason;
    targets.forEach((c, i) => { const a = answers[i]; if (a.status === 'fulfilled') latest.set(c, a.value); });
    process.stdout.write(render(latest));
    return;
  }
  const latest = new Map<string, Stats | undefined>();
  const follow = (c: string) => {
    latest.set(c, undefined);
    void (async () => {
      try {
        const res = await client.stream('GET', `/containers/${c}/stats`, { query: { stream: true } });
        let buf = '';
        for await (const chunk of res) {
          buf += String(chunk);
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() && latest.has(c)) latest.set(c, JSON.parse(line) as Stats);
          }
        }
      } catch (err) {
        if (named) {
          process.stderr.write(`${(err as Error).message}\n`);
          process.exit(1);
        }
      }
      if (!named) latest.delete(c);
    })();
  };
  for (const c of targets) follow(c);
  if (!named) {
    // New containers join the table as they start; stopped ones leave it unless -a.
    const events = await client.stream('GET', '/events', { query: { filters: JSON.stringify({ type: ['container'], event: ['start', 'die', 'destroy'] }) } });
    events.on('data', (chunk: Buffer) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as { Action: string; Actor: { ID: string } };
        if (e.Action === 'start' && !latest.has(e.Actor.ID)) follow(e.Actor.ID);
        if (e.Action === 'destroy' || (e.Action === 'die' && !f.all)) latest.delete(e.Actor.ID);
      }
    });
  }
  for (;;) {
    process.stdout.write('\x1b[2J\x1b[H' + render(latest));
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Observing commands, at the top level and under `berth container` (`group`). */
export function registerObserveCommands(program: Command, group: Command): void {
  for (const parent of [program, group]) {
    parent.command('stats')
      .description('Display a live stream of container(s) resource usage statistics')
      .argument('[containers...]')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('--format <format>', 'Format output using a custom template')
      .option('--no-stream', 'Disable streaming stats and only pull the first result')
      .option('--no-trunc', "Don't truncate output")
      .action(async (args: string[], f: StatsFlags, cmd: Command) => {
        await runStats(await clientFor(globals(cmd)), args, f);
      });

    parent.command('top')
      .description('Display the running processes of a container')
      .argument('<container>')
      .argument('[ps-options...]')
      .passThroughOptions()
      .action(async (container: string, psArgs: string[], _f: unknown, cmd: Command) => {
        const client = await clientFor(globals(cmd));
        const top = await client.call<{ Titles: string[]; Processes: string[][] } | undefined>('GET', `/containers/${container}/top`, { query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined } });
        if (!top) throw new CliError(`no process information for ${container}`, 1);
        // The docker CLI's tabwriter: minimum width 20, padding 3.
        process.stdout.write(tabwrite([top.Titles, ...top.Processes].map((r) => r.join('\t')).join('\n') + '\n', 20, 3));
      });
  }
}
