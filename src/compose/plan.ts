// The planner: the project model and what the engine has (containers,
// networks and volumes found by compose's labels and names) → what to do,
// per service, in the order dependencies allow. It decides; execute.ts acts.
import type { EngineClient } from '../client/engine-client.ts';
import { LABEL, type Project, type Service } from './model.ts';
import { configHash, containerName } from './container-config.ts';
import { containerNumber, isOneoff, projectContainers, type ContainerSummary } from './project-containers.ts';

export interface Observed {
  containers: ContainerSummary[];
  /** Engine network name → ID. */
  networks: Map<string, string>;
  /** Engine volume names. */
  volumes: Set<string>;
}

export function labelFilter(...labels: string[]): string {
  return JSON.stringify({ label: labels });
}

/** Everything of the project the engine has: its containers (one-off ones too), and the networks and volumes that exist. */
export async function observe(client: EngineClient, project: string): Promise<Observed> {
  const [containers, networks, volumes] = await Promise.all([
    projectContainers(client, project, { all: true, oneoff: 'include' }),
    client.call<Array<{ Name: string; Id: string }>>('GET', '/networks'),
    client.call<{ Volumes: Array<{ Name: string }> | null }>('GET', '/volumes'),
  ]);
  return {
    containers: containers.sort((a, b) => containerNumber(a) - containerNumber(b)),
    networks: new Map(networks.map((n) => [n.Name, n.Id])),
    volumes: new Set((volumes.Volumes ?? []).map((v) => v.Name)),
  };
}

export type ContainerAction =
  | { kind: 'create'; number: number; name: string }
  /** The config hash changed (or --force-recreate): replaced by a new container of the same number. */
  | { kind: 'recreate'; number: number; name: string; container: ContainerSummary }
  /** Up to date; started if it is not running. */
  | { kind: 'keep'; container: ContainerSummary }
  /** A dependency it declares `restart: true` on was recreated. */
  | { kind: 'restart'; container: ContainerSummary }
  /** Beyond the scale asked for. */
  | { kind: 'remove'; container: ContainerSummary };

export interface ServicePlan {
  service: Service;
  actions: ContainerAction[];
  /** Services of this plan it must wait for (its depends_on, as far as they are in the plan). */
  dependsOn: string[];
}

export interface ResourcePlan {
  key: string;
  name: string;
  /** Absent from the engine: to be created. */
  create: boolean;
  external: boolean;
}

export interface Plan {
  networks: ResourcePlan[];
  volumes: ResourcePlan[];
  services: Map<string, ServicePlan>;
  /** Containers of the project whose service the model no longer has. */
  orphans: ContainerSummary[];
}

export interface PlanOptions {
  /** Services named on the command line (all when empty). */
  services?: string[];
  noDeps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  /** --scale svc=N. */
  scale?: Record<string, number>;
  /** --always-recreate-deps: the dependencies of the services named are recreated too. */
  alwaysRecreateDeps?: boolean;
  /** Each service's current image ID: a container of another image (rebuilt, pulled anew) is outdated too. */
  images?: Map<string, string>;
}

/** The named services and, unless noDeps, everything they depend on; unknown names are an error as in compose. */
export function selectServices(project: Project, names: string[] = [], noDeps = false): string[] {
  if (names.length === 0) return Object.keys(project.services);
  const out = new Set<string>();
  const visit = (n: string) => {
    if (out.has(n)) return;
    if (!project.services[n]) throw new Error(`no such service: ${n}`);
    out.add(n);
    if (!noDeps) for (const d of Object.keys(project.services[n].depends_on)) if (project.services[d]) visit(d);
  };
  for (const n of names) visit(n);
  return [...out];
}

export function desiredScale(service: Service, scale: Record<string, number> = {}): number {
  return scale[service.name] ?? service.scale ?? service.deploy?.replicas ?? 1;
}

export function planUp(project: Project, observed: Observed, o: PlanOptions = {}): Plan {
  for (const name of Object.keys(o.scale ?? {})) if (!project.services[name]) throw new Error(`no such service: ${name}`);
  const selected = selectServices(project, o.services, o.noDeps);
  const inPlan = new Set(selected);
  const networks: ResourcePlan[] = [];
  const usedNetworks = new Set(selected.flatMap((s) => (project.services[s].network_mode ? [] : Object.keys(project.services[s].networks))));
  for (const [key, n] of Object.entries(project.networks)) {
    if (!usedNetworks.has(key)) continue;
    const exists = observed.networks.has(n.name);
    if (n.external && !exists) throw new Error(`network ${n.name} declared as external, but could not be found`);
    networks.push({ key, name: n.name, create: !exists && !n.external, external: n.external === true });
  }
  const volumes: ResourcePlan[] = [];
  for (const [key, v] of Object.entries(project.volumes)) {
    const exists = observed.volumes.has(v.name);
    if (v.external && !exists) throw new Error(`external volume "${v.name}" not found`);
    volumes.push({ key, name: v.name, create: !exists && !v.external, external: v.external === true });
  }

  const byService = new Map<string, ContainerSummary[]>();
  const orphans: ContainerSummary[] = [];
  for (const c of observed.containers) {
    if (isOneoff(c)) continue;
    const svc = c.Labels[LABEL.service];
    if (project.services[svc] || project.disabledServices[svc]) (byService.get(svc) ?? byService.set(svc, []).get(svc)!).push(c);
    else orphans.push(c);
  }

  const services = new Map<string, ServicePlan>();
  const recreated = new Set<string>();
  // Dependencies of the named services (or of all of them): what --always-recreate-deps recreates.
  const recreateDeps = new Set(o.alwaysRecreateDeps ? selected.flatMap((s) => Object.keys(project.services[s].depends_on)).filter((d) => inPlan.has(d)) : []);
  for (const name of selected) {
    const service = project.services[name];
    const want = desiredScale(service, o.scale);
    const have = byService.get(name) ?? [];
    const hash = configHash(service, project.environment);
    const actions: ContainerAction[] = [];
    const numbers = new Set<number>();
    for (const c of have) {
      const n = containerNumber(c);
      // Beyond the scale, or a duplicate number (two tools raced): removed, highest first as compose does.
      if (actions.filter((a) => a.kind !== 'remove').length >= want || numbers.has(n)) {
        actions.push({ kind: 'remove', container: c });
        continue;
      }
      numbers.add(n);
      const image = o.images?.get(name);
      const outdated = c.Labels[LABEL.configHash] !== hash || (image !== undefined && c.ImageID !== image);
      if (!o.noRecreate && (o.forceRecreate || outdated || recreateDeps.has(name))) {
        actions.push({ kind: 'recreate', number: n, name: containerName(project, service, n), container: c });
        recreated.add(name);
      } else {
        actions.push({ kind: 'keep', container: c });
      }
    }
    for (let n = 1; actions.filter((a) => a.kind !== 'remove').length < want; n++) {
      if (numbers.has(n)) continue;
      numbers.add(n);
      actions.push({ kind: 'create', number: n, name: containerName(project, service, n) });
    }
    if (service.container_name && want > 1) {
      throw new Error(`services.${name}: can't set container_name and ${name} as container name must be unique: invalid compose project`);
    }
    actions.sort((a, b) => (a.kind === 'remove' ? 1 : 0) - (b.kind === 'remove' ? 1 : 0));
    services.set(name, { service, actions, dependsOn: Object.keys(service.depends_on).filter((d) => inPlan.has(d)) });
  }
  // A service declaring `restart: true` on a recreated dependency has its running containers restarted.
  for (const sp of services.values()) {
    const restartOn = Object.entries(sp.service.depends_on).some(([d, dep]) => dep.restart === true && recreated.has(d));
    if (!restartOn) continue;
    sp.actions = sp.actions.map((a) => (a.kind === 'keep' && a.container.State === 'running' ? { kind: 'restart', container: a.container } : a));
  }
  return { networks, volumes, services, orphans };
}

/**
 * Services in waves: each after everything it depends on. A cycle (the loader
 * rejects them) would leave services out of every wave: they are reported
 * rather than waited for.
 */
export function dependencyOrder(deps: Map<string, string[]>): string[][] {
  const done = new Set<string>();
  const waves: string[][] = [];
  while (done.size < deps.size) {
    const wave = [...deps.keys()].filter((s) => !done.has(s) && deps.get(s)!.every((d) => done.has(d) || !deps.has(d)));
    if (wave.length === 0) throw new Error(`dependency cycle between services ${[...deps.keys()].filter((s) => !done.has(s)).join(', ')}`);
    for (const s of wave) done.add(s);
    waves.push(wave);
  }
  return waves;
}
