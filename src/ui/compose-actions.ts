// A compose project's up/down/restart from its containers' labels: the
// browser has no compose file, so it can act only on what the project
// already made. `up` starts the project's existing containers, dependencies
// first (com.docker.compose.depends_on); `down` does what `docker compose
// down` does without its file: stops and removes the containers, dependents
// first, then the networks labelled with the project; volumes are kept.
import { call } from './api.ts';

export const PROJECT = 'com.docker.compose.project';
export const SERVICE = 'com.docker.compose.service';
const DEPENDS_ON = 'com.docker.compose.depends_on';

export interface ProjectContainer { Id: string; State: string; Labels?: Record<string, string> }

/** The containers in dependency order: a service's dependencies before it (a cycle, or one left, keeps list order). */
export function dependencyOrder<C extends ProjectContainer>(members: C[]): C[] {
  const service = (c: C): string => c.Labels?.[SERVICE] ?? '';
  const needs = (c: C): string[] => (c.Labels?.[DEPENDS_ON] ?? '').split(',').map((d) => d.split(':')[0]).filter(Boolean);
  const out: C[] = [];
  const placed = new Set<C>();
  const visiting = new Set<string>();
  const visit = (c: C): void => {
    if (placed.has(c) || visiting.has(service(c))) return;
    visiting.add(service(c));
    for (const dep of needs(c)) for (const d of members.filter((m) => service(m) === dep)) visit(d);
    visiting.delete(service(c));
    placed.add(c);
    out.push(c);
  };
  for (const c of members) visit(c);
  return out;
}

const running = (c: ProjectContainer): boolean => c.State === 'running' || c.State === 'paused' || c.State === 'restarting';

export async function projectUp(members: ProjectContainer[]): Promise<void> {
  for (const c of dependencyOrder(members)) {
    if (c.State === 'paused') await call('POST', `/containers/${c.Id}/unpause`);
    else if (!running(c)) await call('POST', `/containers/${c.Id}/start`);
  }
}

export async function projectStop(members: ProjectContainer[]): Promise<void> {
  for (const c of dependencyOrder(members).reverse()) if (running(c)) await call('POST', `/containers/${c.Id}/stop`);
}

export async function projectRestart(members: ProjectContainer[]): Promise<void> {
  for (const c of dependencyOrder(members)) await call('POST', `/containers/${c.Id}/restart`);
}

/** Stops and removes the containers (dependents first), then the project's networks; returns the networks removed. */
export async function projectDown(project: string, members: ProjectContainer[]): Promise<string[]> {
  await projectStop(members);
  for (const c of dependencyOrder(members).reverse()) await call('DELETE', `/containers/${c.Id}`, { query: { force: true } });
  const nets = await call<{ Id: string; Name: string }[]>('GET', '/networks', { query: { filters: JSON.stringify({ label: [`${PROJECT}=${project}`] }) } });
  for (const n of nets) await call('DELETE', `/networks/${n.Id}`);
  return nets.map((n) => n.Name);
}
