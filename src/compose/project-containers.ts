// A project's containers as the engine reports them: found by docker
// compose's labels, so projects made by docker compose, docker-compose 1.x
// and berth compose are all seen alike.
import type { EngineClient } from '../client/engine-client.ts';
import type { ContainerSummary } from '../api/container.ts';
import { LABEL } from './model.ts';

export type { ContainerSummary };

export type OneOff = 'exclude' | 'only' | 'include';

export interface ContainerQuery {
  /** Stopped containers too. */
  all?: boolean;
  /** Only these services (empty: every service). */
  services?: string[];
  oneoff?: OneOff;
}

/** The project's containers, sorted as docker compose sorts them: by name. */
export async function projectContainers(client: EngineClient, project: string, q: ContainerQuery = {}): Promise<ContainerSummary[]> {
  // The config hash marks what compose created (docker compose v2 and 1.x alike).
  const label = [`${LABEL.project}=${project}`, LABEL.configHash];
  const oneoff = q.oneoff ?? 'exclude';
  if (oneoff === 'exclude') label.push(`${LABEL.oneoff}=False`);
  if (oneoff === 'only') label.push(`${LABEL.oneoff}=True`);
  const filters: Record<string, string[]> = { label };
  // One service can go to the engine; several are filtered here.
  if (q.services?.length === 1) label.push(`${LABEL.service}=${q.services[0]}`);
  const list = await client.call<ContainerSummary[]>('GET', '/containers/json', { query: { all: q.all === true, filters: JSON.stringify(filters) } });
  const wanted = q.services?.length ? new Set(q.services) : undefined;
  return list
    .filter((c) => !wanted || wanted.has(c.Labels[LABEL.service]))
    .sort((a, b) => (containerName(a) < containerName(b) ? -1 : containerName(a) > containerName(b) ? 1 : 0));
}

/** A container `compose run` made. */
export function isOneoff(c: Pick<ContainerSummary, 'Labels'>): boolean {
  return c.Labels[LABEL.oneoff] === 'True';
}

/** The container's own name (not a legacy link alias), without the slash. */
export function containerName(c: Pick<ContainerSummary, 'Names' | 'Id'>): string {
  const own = c.Names.find((n) => n.lastIndexOf('/') === 0);
  return (own ?? c.Names[0] ?? `/${c.Id.slice(0, 12)}`).replace(/^\//, '');
}

/**
 * The name a log line is prefixed with: `web-1` for `<project>-web-1`, the
 * full name for a `container_name:` (or for docker-compose 1.x's
 * `<project>_web_1`, which is no default name in v2's eyes either).
 */
export function shortName(c: Pick<ContainerSummary, 'Names' | 'Id' | 'Labels'>): string {
  const project = c.Labels[LABEL.project] ?? '';
  const name = containerName(c);
  const fallback = `${project}-${c.Labels[LABEL.service]}-${c.Labels[LABEL.containerNumber]}`;
  return name === fallback ? name.slice(project.length + 1) : name;
}

/** The replica number docker compose gave the container (1 when unlabelled). */
export function containerNumber(c: Pick<ContainerSummary, 'Labels'>): number {
  const n = Number(c.Labels[LABEL.containerNumber]);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/**
 * The container `exec`, `cp` and `port` act on: the service's replica
 * `index` (the lowest-numbered when not given), with docker compose's error when it has none.
 */
export async function serviceContainer(client: EngineClient, project: string, service: string, index?: number, o: { all?: boolean } = {}): Promise<ContainerSummary> {
  const list = await projectContainers(client, project, { services: [service], all: o.all });
  if (index) {
    const match = list.find((c) => containerNumber(c) === index);
    if (!match) throw new ServiceNotRunningError(`service "${service}" is not running container #${index}`);
    return match;
  }
  if (list.length === 0) throw new ServiceNotRunningError(`service "${service}" is not running`);
  return list.reduce((a, b) => (containerNumber(b) < containerNumber(a) ? b : a));
}

/** No container of the service to act on: the command's error, not the engine's. */
export class ServiceNotRunningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceNotRunningError';
  }
}
