// `compose logs`, `events`, `wait`: the commands that follow a project as it runs.
import type { Command } from 'commander';
import type { EngineClient } from '../../client/engine-client.ts';
import { LABEL } from '../../compose/model.ts';
import { apiTime, LogPrinter } from '../../compose/log-printer.ts';
import { printProjectLogs } from '../../compose/project-logs.ts';
import { projectContainers } from '../../compose/project-containers.ts';
import { clientFor, CliError, StatusError } from '../context.ts';
import { ansiEnabled, bareProject, resolveProject, indexFlag } from '../compose-project.ts';
import { down } from '../../compose/lifecycle.ts';
import { Progress } from '../../compose/progress.ts';
import { checkTimeFlags, globals } from '../options.ts';

interface LogsFlags { follow?: boolean; index?: string; since?: string; until?: string; color: boolean; logPrefix: boolean; timestamps?: boolean; tail: string }

interface EngineEvent { Type: string; Action: string; time: number; timeNano?: number; Actor: { ID: string; Attributes: Record<string, string> } }

/** Go's time.Format("2006-01-02 15:04:05.000000") in local time. */
function eventTime(ns: bigint): string {
  const d = new Date(Number(ns / 1_000_000n));
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const micros = Number((ns / 1000n) % 1_000_000n);
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(micros, 6)}`;
}

/** RFC 3339 with nanoseconds and the local offset, as Go marshals a time.Time. */
function eventTimeJson(ns: bigint): string {
  const d = new Date(Number(ns / 1_000_000n));
  const off = -d.getTimezoneOffset();
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = String(ns % 1_000_000_000n).padStart(9, '0').replace(/0+$/, '');
  const local = new Date(d.getTime() + off * 60_000);
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${local.toISOString().slice(0, 19)}${frac ? '.' + frac : ''}${zone}`;
}

async function runEvents(client: EngineClient, project: string, services: string[], f: { json?: boolean; since?: string; until?: string }): Promise<void> {
  const res = await client.stream('GET', '/events', {
    query: { since: apiTime(f.since, new Date()), until: apiTime(f.until, new Date()), filters: JSON.stringify({ label: [`${LABEL.project}=${project}`] }) },
  });
  let buf = '';
  for await (const chunk of res) {
    buf += String(chunk);
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const e = JSON.parse(line) as EngineEvent;
      const a = e.Actor.Attributes ?? {};
      if (e.Type !== 'container' || a[LABEL.oneoff] === 'True') continue;
      const service = a[LABEL.service] ?? '';
      if (services.length && !services.includes(service)) continue;
      const attributes = Object.fromEntries(Object.entries(a).filter(([k]) => !k.startsWith('com.docker.compose.')));
      const ns = e.timeNano ? BigInt(e.timeNano) : BigInt(e.time) * 1_000_000_000n;
      if (f.json) {
        process.stdout.write(JSON.stringify({ action: e.Action, attributes, id: e.Actor.ID, service, time: eventTimeJson(ns), type: 'container' }) + '\n');
      } else {
        const attr = Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(', ');
        process.stdout.write(`${eventTime(ns)} container ${e.Action} ${e.Actor.ID} (${attr})\n\n`);
      }
    }
  }
}

/** `compose wait`: each selected container's exit, reported as it comes; the command exits with the last one's code. */
async function runWait(client: EngineClient, project: string, services: string[]): Promise<number> {
  const list = await projectContainers(client, project, { services, oneoff: 'include' });
  if (list.length === 0) throw new CliError(`no containers for project ${JSON.stringify(project)}`, 1);
  let code = 0;
  await Promise.all(list.map(async (c) => {
    const r = await client.call<{ StatusCode: number }>('POST', `/containers/${c.Id}/wait`);
    process.stdout.write(`container ${JSON.stringify(c.Id)} exited with status code ${r.StatusCode}\n`);
    code = r.StatusCode;
  }));
  return code;
}

export function registerComposeFollowCommands(compose: Command): void {
  compose.command('logs')
    .description('View output from containers')
    .argument('[services...]')
    .option('-f, --follow', 'Follow log output')
    .option('--index <index>', 'index of the container if service has multiple replicas')
    .option('--since <since>', 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
    .option('--until <until>', 'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
    .option('--no-color', 'Produce monochrome output')
    .option('--no-log-prefix', "Don't print prefix in logs")
    .option('-t, --timestamps', 'Show timestamps')
    .option('-n, --tail <n>', 'Number of lines to show from the end of the logs for each container', 'all')
    .action(async (services: string[], f: LogsFlags, cmd: Command) => {
      if (indexFlag(f.index) && services.length !== 1) throw new CliError('--index requires one service to be selected', 1);
      checkTimeFlags({ since: f.since, until: f.until }, false);
      const scope = await resolveProject(cmd, 'name');
      const client = await clientFor(globals(cmd));
      const printer = new LogPrinter(process.stdout, { color: f.color && ansiEnabled(cmd), prefix: f.logPrefix });
      const chosen = services.length ? services : scope.services ?? [];
      await printProjectLogs(client, scope.name, printer, {
        services: chosen, follow: f.follow, tail: f.tail, since: f.since, until: f.until, timestamps: f.timestamps,
        index: indexFlag(f.index) || undefined,
      });
    });

  compose.command('events')
    .description('Receive real time events from containers')
    .argument('[services...]')
    .option('--json', 'Output events as a stream of json objects')
    .option('--since <since>', 'Show all events created since timestamp')
    .option('--until <until>', 'Stream events until this timestamp')
    .action(async (services: string[], f: { json?: boolean; since?: string; until?: string }, cmd: Command) => {
      checkTimeFlags({ since: f.since, until: f.until }, false);
      await runEvents(await clientFor(globals(cmd)), (await resolveProject(cmd, 'name')).name, services, f);
    });

  compose.command('wait')
    .description('Block until containers of all (or specified) services stop.')
    .argument('<services...>')
    .option('--down-project', 'Drops project when the first container stops')
    .action(async (services: string[], f: { downProject?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const name = (await resolveProject(cmd, 'name')).name;
      const code = await runWait(client, name, services);
      if (f.downProject) {
        // As compose: once the waited containers are done, the project goes by its name, orphans included.
        const progress = new Progress('auto');
        try {
          await down({ client, project: bareProject(name), progress }, { removeOrphans: true, haveModel: false });
        } finally {
          progress.stop();
        }
      }
      if (code !== 0) throw new StatusError(code);
    });
}
