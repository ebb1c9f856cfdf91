// `compose logs`: every selected container's logs through one printer; with
// `follow`, containers that start meanwhile (a restart, a scale-up) join,
// and each exit is reported as docker compose reports it. Following ends
// when no selected container is running any more.
import { ApiError, type EngineClient } from '../client/engine-client.ts';
import { LABEL } from './model.ts';
import { composeWarn } from './warn.ts';
import { type LogPrinter, type LogStreamOptions, printContainerLogs } from './log-printer.ts';
import { type ContainerSummary, containerName, containerNumber, projectContainers, ServiceNotRunningError, shortName } from './project-containers.ts';

export interface ProjectLogOptions extends LogStreamOptions {
  /** Only these services (empty: all of them). */
  services: string[];
  /** Only this replica of the (one) service. */
  index?: number;
}

interface Inspected { Id: string; Config: { Tty: boolean }; State: { Running: boolean; StartedAt: string; FinishedAt: string; ExitCode: number; Restarting: boolean } }

interface EngineEvent { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } }

/**
 * One container's logs; a logging driver that cannot be read back (none,
 * syslog…) is a warning, as compose gives it, not the end of the command.
 */
async function containerLogs(client: EngineClient, c: { id: string; name: string; canonical: string; tty: boolean }, printer: LogPrinter, o: LogStreamOptions): Promise<void> {
  try {
    await printContainerLogs(client, c.id, c.name, c.tty, printer, o);
  } catch (err) {
    // dockerd answers 501 Not Implemented; the wording is the same everywhere.
    if (!(err instanceof ApiError) || !/does not support reading/.test(err.message)) throw err;
    composeWarn(`Can't retrieve logs for ${JSON.stringify(c.canonical)}: ${err.message}`);
  }
}

export async function printProjectLogs(client: EngineClient, project: string, printer: LogPrinter, o: ProjectLogOptions): Promise<void> {
  const containers = (await projectContainers(client, project, { all: true, services: o.services }))
    .filter((c) => o.index === undefined || containerNumber(c) === o.index);
  if (o.index !== undefined && containers.length === 0) throw new ServiceNotRunningError(`service "${o.services[0]}" is not running container #${o.index}`);
  for (const c of containers) printer.register(shortName(c));
  const inspect = (id: string) => client.call<Inspected>('GET', `/containers/${id}/json`);
  if (!o.follow) {
    // Each container's logs whole, one after another in name order, as they come back.
    const all = await Promise.all(containers.map(async (c) => ({ c, info: await inspect(c.Id) })));
    await Promise.all(all.map(({ c, info }) => containerLogs(client, { id: c.Id, name: shortName(c), canonical: containerName(c), tty: info.Config.Tty }, printer, o)));
    return;
  }
  const following = new Set<string>();
  const wanted = (labels: Record<string, string>) =>
    labels[LABEL.project] === project && labels[LABEL.oneoff] !== 'True' && (o.services.length === 0 || o.services.includes(labels[LABEL.service]))
    && (o.index === undefined || Number(labels[LABEL.containerNumber]) === o.index);
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => { finish = r; });
  // A followed container's log stream can end before its `die` event is handled: the
  // exit line is waited for (a little) before following ends, or it would be lost.
  const exitsDue = new Set<string>();
  let grace: NodeJS.Timeout | undefined;
  const settle = async () => {
    if (following.size > 0) return;
    const running = await projectContainers(client, project, { services: o.services }).catch(() => []);
    if (running.length > 0) return;
    if (exitsDue.size === 0) finish();
    else grace ??= setTimeout(finish, 2000);
  };
  const follow = (id: string, name: string, canonical: string, tty: boolean, since?: string) => {
    if (following.has(id)) return;
    following.add(id);
    exitsDue.add(id);
    void containerLogs(client, { id, name, canonical, tty }, printer, { ...o, since: since ?? o.since })
      .catch(() => {})
      .finally(() => {
        following.delete(id);
        void settle();
      });
  };
  // Listen before the first logs are asked for, so a start in between is not missed.
  const events = await client.stream('GET', '/events', {
    query: { filters: JSON.stringify({ type: ['container'], event: ['start', 'die'], label: [`${LABEL.project}=${project}`] }) },
  });
  let buf = '';
  events.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) void onEvent(JSON.parse(line) as EngineEvent);
    }
  });
  const onEvent = async (e: EngineEvent) => {
    if (!wanted(e.Actor.Attributes)) return;
    const info = await inspect(e.Actor.ID).catch(() => undefined);
    const name = shortName({ Id: e.Actor.ID, Names: [`/${e.Actor.Attributes.name ?? ''}`], Labels: e.Actor.Attributes });
    if (e.Action === 'die') {
      printer.status(name, `exited with code ${e.Actor.Attributes.exitCode ?? info?.State.ExitCode ?? 0}${info?.State.Restarting ? ' (restarting)' : ''}`);
      exitsDue.delete(e.Actor.ID);
      void settle();
    } else if (info) {
      // From the end of its previous run (a restart), or from its first line (a new container):
      // not from StartedAt, which the engine records after the process may have written.
      const previous = info.State.FinishedAt && !info.State.FinishedAt.startsWith('0001-') ? info.State.FinishedAt : undefined;
      follow(info.Id, name, e.Actor.Attributes.name ?? name, info.Config.Tty, previous);
    }
  };
  const running = containers.filter((c: ContainerSummary) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting');
  for (const c of containers) {
    const info = await inspect(c.Id).catch(() => undefined);
    if (!info) continue;
    if (running.includes(c)) follow(c.Id, shortName(c), containerName(c), info.Config.Tty);
    else await containerLogs(client, { id: c.Id, name: shortName(c), canonical: containerName(c), tty: info.Config.Tty }, printer, { ...o, follow: false });
  }
  await settle();
  await finished;
  clearTimeout(grace);
  events.destroy();
}
