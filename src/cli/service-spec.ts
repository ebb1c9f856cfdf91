// The ServiceSpec the docker CLI builds from `service create|update` flags
// (service/opts.go ToService, update.go updateService): the same fields,
// defaults and omissions, so a daemon sees the same request. The flags
// themselves are in service-flags.ts.
import { readFileSync } from 'node:fs';
import type { EngineClient } from '../client/engine-client.ts';
import type { Mount, PortConfig, SecretOrConfig, SecretReference, ServiceMode, ServiceSpec, TaskSpec, UpdateConfig } from '../api/swarm.ts';
import { ramInBytes } from '../api/units.ts';
import { CliError } from './context.ts';
import { parseMountFlag } from './mount-flags.ts';
import {
  dnsServers, effectiveCaps, filterMap, floatFlag, intFlag, nanoCpusFlag, ulimits, updateCaps, parseFileReference, parsePlacementPref, parsePortFlag, positiveDurationFlag, uintFlag,
} from './swarm-flags.ts';
import { splitShellWords } from '../compose/load/shell-words.ts';

export interface ServiceFlags {
  [k: string]: string | string[] | boolean | undefined;
}

const str = (f: ServiceFlags, k: string) => f[k] as string | undefined;
const list = (f: ServiceFlags, k: string) => (f[k] as string[] | undefined) ?? [];
const given = (f: ServiceFlags, ...ks: string[]) => ks.some((k) => f[k] !== undefined);

/** ValidateEnv: a bare name takes its value from this environment when set there. */
function envValue(e: string): string {
  if (e.includes('=')) return e;
  return process.env[e] !== undefined ? `${e}=${process.env[e]}` : e;
}

function kvMap(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of items) {
    const eq = kv.indexOf('=');
    out[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
  }
  return out;
}

function readEnvFiles(files: string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, 1);
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) continue;
      out.push(envValue(line));
    }
  }
  return out;
}

/** makeEnv: files then flags, a later value of a name replacing an earlier one. */
function makeEnv(files: string[], env: string[]): string[] {
  let cur: string[] = [];
  for (const e of [...readEnvFiles(files), ...env.map(envValue)]) {
    if (cur.includes(e)) continue;
    const k = e.split('=')[0];
    cur = cur.filter((c) => !c.startsWith(k + '='));
    cur.push(e);
  }
  return cur;
}

const ms = (flag: string, v: string | undefined) => (v === undefined ? undefined : positiveDurationFlag(flag, v));

function healthConfig(f: ServiceFlags): Record<string, unknown> | undefined {
  const any = given(f, 'healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod', 'healthStartInterval');
  if (f.healthcheck === false) {
    if (any) throw new CliError('--no-healthcheck conflicts with --health-* options', 1);
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  const h: Record<string, unknown> = {};
  if (str(f, 'healthCmd')) h.Test = ['CMD-SHELL', str(f, 'healthCmd')];
  for (const [flag, key] of [['healthInterval', 'Interval'], ['healthTimeout', 'Timeout'], ['healthStartPeriod', 'StartPeriod'], ['healthStartInterval', 'StartInterval']] as const) {
    const v = ms(flag.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), str(f, flag));
    if (v) h[key] = v;
  }
  if (str(f, 'healthRetries') !== undefined && intFlag('health-retries', str(f, 'healthRetries')!)) h.Retries = intFlag('health-retries', str(f, 'healthRetries')!);
  return h;
}

/** swarmkit's defaults, which a changed update/rollback/restart flag starts from. */
const defaultUpdateConfig = (): UpdateConfig => ({ Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
const defaultRestartPolicy = () => ({ Condition: 'any', Delay: 5e9, MaxAttempts: 0 } as NonNullable<TaskSpec['RestartPolicy']>);

function mergeUpdateConfig(kind: 'update' | 'rollback', f: ServiceFlags, base: UpdateConfig | undefined): UpdateConfig | undefined {
  const k = (s: string) => kind + s;
  if (!given(f, k('Parallelism'), k('Delay'), k('Monitor'), k('FailureAction'), k('MaxFailureRatio'), k('Order'))) return base;
  const c = base ?? defaultUpdateConfig();
  const flag = (s: string) => `${kind}-${s}`;
  if (str(f, k('Parallelism')) !== undefined) c.Parallelism = uintFlag(flag('parallelism'), str(f, k('Parallelism'))!);
  if (str(f, k('Delay')) !== undefined) c.Delay = positiveDurationFlag(flag('delay'), str(f, k('Delay'))!);
  if (str(f, k('Monitor')) !== undefined) c.Monitor = positiveDurationFlag(flag('monitor'), str(f, k('Monitor'))!);
  if (str(f, k('FailureAction')) !== undefined) c.FailureAction = str(f, k('FailureAction'));
  if (str(f, k('MaxFailureRatio')) !== undefined) c.MaxFailureRatio = floatFlag(flag('max-failure-ratio'), str(f, k('MaxFailureRatio'))!);
  if (str(f, k('Order')) !== undefined) c.Order = str(f, k('Order'));
  if (!c.Delay) delete c.Delay;
  return c;
}

function mergeRestartPolicy(f: ServiceFlags, base: TaskSpec['RestartPolicy']): TaskSpec['RestartPolicy'] {
  if (!given(f, 'restartCondition', 'restartDelay', 'restartMaxAttempts', 'restartWindow')) return base;
  const p = base ?? defaultRestartPolicy();
  if (str(f, 'restartCondition') !== undefined) p.Condition = str(f, 'restartCondition');
  if (str(f, 'restartDelay') !== undefined) p.Delay = positiveDurationFlag('restart-delay', str(f, 'restartDelay')!);
  if (str(f, 'restartMaxAttempts') !== undefined) p.MaxAttempts = uintFlag('restart-max-attempts', str(f, 'restartMaxAttempts')!);
  if (str(f, 'restartWindow') !== undefined) p.Window = positiveDurationFlag('restart-window', str(f, 'restartWindow')!);
  return p;
}

function serviceMode(f: ServiceFlags): ServiceMode {
  const replicas = str(f, 'replicas') === undefined ? undefined : uintFlag('replicas', str(f, 'replicas')!);
  const maxReplicas = str(f, 'replicasMaxPerNode') === undefined ? 0 : uintFlag('replicas-max-per-node', str(f, 'replicasMaxPerNode')!);
  const concurrent = str(f, 'maxConcurrent') === undefined ? undefined : uintFlag('max-concurrent', str(f, 'maxConcurrent')!);
  const mode = str(f, 'mode') ?? 'replicated';
  const noReplicas = () => {
    if (replicas !== undefined) throw new CliError('replicas can only be used with replicated or replicated-job mode', 1);
  };
  const noMax = () => {
    if (maxReplicas > 0) throw new CliError('replicas-max-per-node can only be used with replicated or replicated-job mode', 1);
  };
  const noConcurrent = () => {
    if (concurrent !== undefined) throw new CliError('max-concurrent can only be used with replicated-job mode', 1);
  };
  switch (mode) {
    case 'global': noReplicas(); noMax(); noConcurrent(); return { Global: {} };
    case 'replicated': noConcurrent(); return { Replicated: replicas === undefined ? {} : { Replicas: replicas } };
    case 'replicated-job': return { ReplicatedJob: { MaxConcurrent: concurrent ?? replicas, TotalCompletions: replicas } };
    case 'global-job': noMax(); noConcurrent(); noReplicas(); return { GlobalJob: {} };
    default: throw new CliError(`Unknown mode: ${mode}, only replicated and global supported`, 1);
  }
}

/** NetworkOpt: `name` or `name=x,alias=y,driver-opt=k=v`; the target resolved to the network's ID. */
async function networkAttachments(client: EngineClient, values: string[]): Promise<NonNullable<TaskSpec['Networks']>> {
  const out: NonNullable<TaskSpec['Networks']> = [];
  for (const v of values) {
    const n: NonNullable<TaskSpec['Networks']>[number] = { Target: v };
    if (v.includes('=')) {
      n.Target = '';
      for (const field of v.split(',')) {
        const eq = field.indexOf('=');
        const key = field.slice(0, eq).toLowerCase();
        const val = field.slice(eq + 1);
        if (key === 'name') n.Target = val;
        else if (key === 'alias') (n.Aliases ??= []).push(val);
        else if (key === 'driver-opt') {
          const e2 = val.indexOf('=');
          (n.DriverOpts ??= {})[val.slice(0, e2)] = val.slice(e2 + 1);
        } else throw new CliError(`invalid argument "${v}" for "--network" flag: invalid field key ${key}`, 125);
      }
      if (!n.Target) throw new CliError(`invalid argument "${v}" for "--network" flag: network name/id is not specified`, 125);
    }
    out.push(n);
  }
  for (const n of out) {
    const net = await client.call<{ Id: string; Scope?: string }>('GET', `/networks/${encodeURIComponent(n.Target)}`);
    n.Target = net.Id;
  }
  return out.sort((a, b) => (a.Target < b.Target ? -1 : a.Target > b.Target ? 1 : 0));
}

/** ParseSecrets/ParseConfigs: names resolved to IDs, one target per file. */
export async function resolveReferences(client: EngineClient, kind: 'secret' | 'config', values: string[]): Promise<SecretReference[]> {
  if (!values.length) return [];
  const refs = new Map<string, ReturnType<typeof parseFileReference>>();
  for (const v of values) {
    const r = parseFileReference(kind, v);
    if (refs.has(r.File!.Name)) throw new CliError(`duplicate ${kind} target for ${r.source} not allowed`, 1);
    refs.set(r.File!.Name, r);
  }
  const filters = { name: Object.fromEntries([...refs.values()].map((r) => [r.source, true])) };
  const found = await client.call<SecretOrConfig[]>('GET', `/${kind}s`, { query: { filters: JSON.stringify(filters) } });
  const ids = new Map(found.map((s) => [s.Spec.Name, s.ID]));
  return [...refs.values()].map((r) => {
    const id = ids.get(r.source);
    if (!id) throw new CliError(`${kind} not found: ${r.source}`, 1);
    return kind === 'secret' ? { File: r.File, SecretID: id, SecretName: r.source } : { File: r.File, ConfigID: id, ConfigName: r.source };
  });
}

function ports(values: string[]): PortConfig[] {
  return values.flatMap(parsePortFlag);
}

function resources(f: ServiceFlags, base: TaskSpec['Resources'] | undefined, always: boolean): TaskSpec['Resources'] {
  const r = base ?? {};
  if (always || given(f, 'limitCpu', 'limitMemory', 'limitPids')) {
    const l = (r.Limits ??= {});
    if (str(f, 'limitCpu') !== undefined) l.NanoCPUs = nanoCpusFlag('limit-cpu', str(f, 'limitCpu')!);
    if (str(f, 'limitMemory') !== undefined) l.MemoryBytes = memFlag('limit-memory', str(f, 'limitMemory')!);
    if (str(f, 'limitPids') !== undefined) l.Pids = intFlag('limit-pids', str(f, 'limitPids')!);
    for (const k of ['NanoCPUs', 'MemoryBytes', 'Pids'] as const) if (!l[k]) delete l[k];
  }
  if (always || given(f, 'reserveCpu', 'reserveMemory')) {
    const v = (r.Reservations ??= {});
    if (str(f, 'reserveCpu') !== undefined) v.NanoCPUs = nanoCpusFlag('reserve-cpu', str(f, 'reserveCpu')!);
    if (str(f, 'reserveMemory') !== undefined) v.MemoryBytes = memFlag('reserve-memory', str(f, 'reserveMemory')!);
    for (const k of ['NanoCPUs', 'MemoryBytes'] as const) if (!v[k]) delete v[k];
  }
  return r;
}

function memFlag(flag: string, v: string): number {
  try {
    return ramInBytes(v);
  } catch (err) {
    throw new CliError(`invalid argument "${v}" for "--${flag}" flag: ${(err as Error).message}`, 125);
  }
}

function shellWords(flag: string, v: string): string[] {
  try {
    return splitShellWords(v);
  } catch (err) {
    throw new CliError(`invalid argument "${v}" for "--${flag}" flag: ${(err as Error).message}`, 125);
  }
}

const intOpt = (flag: string, v: string | undefined) => (v === undefined ? undefined : intFlag(flag, v));

/** ToService: the spec `service create` sends. */
export async function createSpec(client: EngineClient, image: string, args: string[], f: ServiceFlags): Promise<ServiceSpec> {
  const env = makeEnv(list(f, 'envFile'), list(f, 'env'));
  const health = healthConfig(f);
  const mode = serviceMode(f);
  const update = mergeUpdateConfig('update', f, undefined);
  const rollback = mergeUpdateConfig('rollback', f, undefined);
  if ((mode.ReplicatedJob || mode.GlobalJob) && (update || rollback)) throw new CliError('update and rollback configuration is not supported for jobs', 1);
  const mounts: Mount[] = list(f, 'mount').map(parseMountFlag) as Mount[];
  const cs: NonNullable<TaskSpec['ContainerSpec']> = { Image: image };
  const labels = kvMap(list(f, 'containerLabel'));
  if (Object.keys(labels).length) cs.Labels = labels;
  if (str(f, 'entrypoint') !== undefined) cs.Command = shellWords('entrypoint', str(f, 'entrypoint')!);
  if (args.length) cs.Args = args;
  if (str(f, 'hostname')) cs.Hostname = str(f, 'hostname');
  if (env.length) cs.Env = env;
  if (str(f, 'workdir')) cs.Dir = str(f, 'workdir');
  if (str(f, 'user')) cs.User = str(f, 'user');
  if (list(f, 'group').length) cs.Groups = list(f, 'group');
  if (str(f, 'stopSignal')) cs.StopSignal = str(f, 'stopSignal');
  if (f.tty) cs.TTY = true;
  if (f.readOnly) cs.ReadOnly = true;
  if (mounts.length) cs.Mounts = mounts;
  if (str(f, 'stopGracePeriod') !== undefined) cs.StopGracePeriod = positiveDurationFlag('stop-grace-period', str(f, 'stopGracePeriod')!);
  if (health) cs.Healthcheck = health;
  if (list(f, 'host').length) cs.Hosts = list(f, 'host').map((h) => { const i = h.indexOf(':'); return `${h.slice(i + 1)} ${h.slice(0, i)}`; });
  cs.Init = f.init === true;
  const dns: NonNullable<NonNullable<TaskSpec['ContainerSpec']>['DNSConfig']> = {};
  if (list(f, 'dns').length) dns.Nameservers = dnsServers('dns', list(f, 'dns'));
  if (list(f, 'dnsSearch').length) dns.Search = list(f, 'dnsSearch');
  if (list(f, 'dnsOption').length) dns.Options = list(f, 'dnsOption');
  cs.DNSConfig = dns;
  const task: TaskSpec = { ContainerSpec: cs };
  const networks = await networkAttachments(client, list(f, 'network'));
  task.Resources = resources(f, undefined, true);
  const restart = mergeRestartPolicy(f, undefined);
  if (restart) task.RestartPolicy = restart;
  const placement: NonNullable<TaskSpec['Placement']> = {};
  if (list(f, 'constraint').length) placement.Constraints = list(f, 'constraint');
  if (list(f, 'placementPref').length) placement.Preferences = list(f, 'placementPref').map(parsePlacementPref);
  const maxReplicas = str(f, 'replicasMaxPerNode');
  if (maxReplicas !== undefined && uintFlag('replicas-max-per-node', maxReplicas)) placement.MaxReplicas = Number(maxReplicas);
  task.Placement = placement;
  if (networks.length) task.Networks = networks;
  if (str(f, 'logDriver')) task.LogDriver = { Name: str(f, 'logDriver')!, ...(list(f, 'logOpt').length ? { Options: kvMap(list(f, 'logOpt')) } : {}) };
  // Go's TaskSpec has no omitempty on ForceUpdate: the docker CLI always sends it.
  task.ForceUpdate = 0;
  const spec: ServiceSpec = { Name: str(f, 'name') ?? '', Labels: kvMap(list(f, 'label')), TaskTemplate: task, Mode: mode };
  if (update) spec.UpdateConfig = update;
  if (rollback) spec.RollbackConfig = rollback;
  const published = ports(list(f, 'publish'));
  spec.EndpointSpec = { Mode: str(f, 'endpointMode') ?? 'vip', ...(published.length ? { Ports: published } : {}) };
  const secrets = await resolveReferences(client, 'secret', list(f, 'secret'));
  if (secrets.length) cs.Secrets = secrets;
  const configs = await resolveReferences(client, 'config', list(f, 'config'));
  if (configs.length) cs.Configs = configs;
  if (str(f, 'isolation')) cs.Isolation = str(f, 'isolation');
  if (list(f, 'sysctl').length) cs.Sysctls = kvMap(list(f, 'sysctl'));
  const caps = effectiveCaps(list(f, 'capAdd'), list(f, 'capDrop'));
  if (caps.add.length) cs.CapabilityAdd = caps.add;
  if (caps.drop.length) cs.CapabilityDrop = caps.drop;
  const ul = ulimits('ulimit', list(f, 'ulimit'));
  if (ul.length) cs.Ulimits = ul;
  const oom = intOpt('oom-score-adj', str(f, 'oomScoreAdj'));
  if (oom) cs.OomScoreAdj = oom;
  return spec;
}

/** updateService: the flags given change the service's current spec. */
export async function mergeUpdate(client: EngineClient, spec: ServiceSpec, f: ServiceFlags): Promise<void> {
  const task = spec.TaskTemplate;
  const cs = (task.ContainerSpec ??= {});
  const addRm = (key: string, cur: string[] | undefined, keyOf: (s: string) => string = (s) => s): string[] | undefined => {
    const add = list(f, `${key}Add`);
    const rm = new Set(list(f, `${key}Rm`));
    if (!add.length && !rm.size) return cur;
    const out = (cur ?? []).filter((x) => !rm.has(keyOf(x)) && !add.some((a) => keyOf(a) === keyOf(x)));
    return [...out, ...add];
  };
  const mapAddRm = (key: string, cur: Record<string, string> | undefined): Record<string, string> | undefined => {
    const add = list(f, `${key}Add`);
    const rm = list(f, `${key}Rm`);
    if (!add.length && !rm.length) return cur;
    const m = { ...(cur ?? {}) };
    Object.assign(m, kvMap(add));
    for (const k of rm) delete m[k];
    return m;
  };
  spec.Labels = mapAddRm('label', spec.Labels);
  cs.Labels = mapAddRm('containerLabel', cs.Labels);
  if (str(f, 'image') !== undefined) cs.Image = str(f, 'image');
  if (str(f, 'args') !== undefined) cs.Args = shellWords('args', str(f, 'args')!);
  if (str(f, 'entrypoint') !== undefined) cs.Command = shellWords('entrypoint', str(f, 'entrypoint')!);
  if (given(f, 'envAdd', 'envRm')) {
    const envKey = (e: string) => e.split('=')[0];
    const rm = new Set(list(f, 'envRm').map(envKey));
    const add = list(f, 'envAdd').map(envValue);
    cs.Env = [...(cs.Env ?? []).filter((e) => !rm.has(envKey(e)) && !add.some((a) => envKey(a) === envKey(e))), ...add];
  }
  if (str(f, 'workdir') !== undefined) cs.Dir = str(f, 'workdir');
  if (str(f, 'user') !== undefined) cs.User = str(f, 'user');
  if (str(f, 'hostname') !== undefined) cs.Hostname = str(f, 'hostname');
  if (f.init !== undefined) cs.Init = f.init === true;
  if (given(f, 'mountAdd', 'mountRm')) {
    const add = list(f, 'mountAdd').map(parseMountFlag) as Mount[];
    const rm = new Set(list(f, 'mountRm'));
    if (new Set(add.map((m) => m.Target)).size < add.length) throw new CliError('duplicate mount target', 1);
    // updateMounts: by target, the added replacing the old, sorted by source then target.
    const key = (m: Mount) => [m.Source ?? '', m.Target ?? ''] as const;
    cs.Mounts = [...(cs.Mounts ?? []).filter((m) => !rm.has(m.Target ?? '') && !add.some((a) => a.Target === m.Target)), ...add.filter((m) => !rm.has(m.Target ?? ''))]
      .sort((a, b) => (key(a)[0] !== key(b)[0] ? (key(a)[0] < key(b)[0] ? -1 : 1) : key(a)[1] < key(b)[1] ? -1 : key(a)[1] > key(b)[1] ? 1 : 0));
  }
  if (given(f, 'limitCpu', 'limitMemory', 'limitPids', 'reserveCpu', 'reserveMemory')) task.Resources = resources(f, task.Resources, false);
  if (str(f, 'stopGracePeriod') !== undefined) cs.StopGracePeriod = positiveDurationFlag('stop-grace-period', str(f, 'stopGracePeriod')!);
  task.RestartPolicy = mergeRestartPolicy(f, task.RestartPolicy);
  if (given(f, 'constraintAdd', 'constraintRm')) {
    const p = (task.Placement ??= {});
    // Sorted, as the docker CLI does, so that the result is predictable.
    p.Constraints = [...new Set(addRm('constraint', p.Constraints))].sort();
  }
  if (given(f, 'placementPrefAdd', 'placementPrefRm')) {
    const p = (task.Placement ??= {});
    const rm = new Set(list(f, 'placementPrefRm').map((v) => parsePlacementPref(v).Spread.SpreadDescriptor));
    p.Preferences = [...(p.Preferences ?? []).filter((x) => !rm.has(x.Spread.SpreadDescriptor)), ...list(f, 'placementPrefAdd').map(parsePlacementPref)];
  }
  if (given(f, 'networkAdd', 'networkRm')) {
    const rmIds = new Set<string>();
    for (const n of list(f, 'networkRm')) rmIds.add((await client.call<{ Id: string }>('GET', `/networks/${encodeURIComponent(n)}`)).Id);
    const add = await networkAttachments(client, list(f, 'networkAdd'));
    const cur = (task.Networks ?? []).filter((n) => !rmIds.has(n.Target));
    for (const a of add) {
      if (cur.some((n) => n.Target === a.Target)) throw new CliError(`service is already attached to network ${a.Target}`, 1);
      cur.push(a);
    }
    task.Networks = cur.sort((a, b) => (a.Target < b.Target ? -1 : a.Target > b.Target ? 1 : 0));
  }
  if (str(f, 'replicas') !== undefined) {
    // The docker CLI 28's updateReplicas: replicated services only.
    const mode = (spec.Mode ??= {});
    if (!mode.Replicated) throw new CliError('replicas can only be used with replicated mode', 1);
    mode.Replicated.Replicas = uintFlag('replicas', str(f, 'replicas')!);
  }
  if (str(f, 'replicasMaxPerNode') !== undefined) (task.Placement ??= {}).MaxReplicas = uintFlag('replicas-max-per-node', str(f, 'replicasMaxPerNode')!);
  spec.UpdateConfig = mergeUpdateConfig('update', f, spec.UpdateConfig);
  spec.RollbackConfig = mergeUpdateConfig('rollback', f, spec.RollbackConfig);
  if (str(f, 'endpointMode') !== undefined) (spec.EndpointSpec ??= {}).Mode = str(f, 'endpointMode');
  if (given(f, 'groupAdd', 'groupRm')) cs.Groups = [...new Set(addRm('group', cs.Groups))].sort();
  if (given(f, 'publishAdd', 'publishRm')) {
    // updatePorts: the current set less the removed (protocol, target, mode), plus the added, sorted by their string form.
    const ep = (spec.EndpointSpec ??= {});
    const str = (p: PortConfig) => `${p.PublishedPort ?? 0}:${p.TargetPort ?? 0}/${p.Protocol ?? ''}/${p.PublishMode ?? ''}`;
    const same = (a: string | undefined, b: string | undefined, dflt: string) => a === b || (!a && b === dflt) || (!b && a === dflt);
    const set = new Map<string, PortConfig>();
    for (const p of ep.Ports ?? []) if (!set.has(str(p))) set.set(str(p), p);
    const rm = list(f, 'publishRm').flatMap(parsePortFlag);
    const out = [...set.values()].filter((p) => !rm.some((r) => same(p.Protocol, r.Protocol, 'tcp') && p.TargetPort === r.TargetPort && same(p.PublishMode, r.PublishMode, 'ingress')));
    for (const p of ports(list(f, 'publishAdd'))) if (!set.has(str(p))) out.push(p);
    ep.Ports = out.sort((a, b) => (str(a) < str(b) ? -1 : str(a) > str(b) ? 1 : 0));
  }
  if (given(f, 'hostAdd', 'hostRm')) {
    const toSwarm = (h: string) => { const i = h.indexOf(':'); return `${h.slice(i + 1)} ${h.slice(0, i)}`; };
    const rm = new Set(list(f, 'hostRm').map((h) => (h.includes(':') ? toSwarm(h) : h)));
    cs.Hosts = [...(cs.Hosts ?? []).filter((h) => !rm.has(h) && !rm.has(h.split(' ').slice(1).join(' '))), ...list(f, 'hostAdd').map(toSwarm)];
  }
  if (str(f, 'logDriver') !== undefined) task.LogDriver = { Name: str(f, 'logDriver')!, ...(list(f, 'logOpt').length ? { Options: kvMap(list(f, 'logOpt')) } : {}) };
  if (f.force) task.ForceUpdate = (task.ForceUpdate ?? 0) + 1;
  if (given(f, 'healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod', 'healthStartInterval') || f.healthcheck === false) {
    const h = healthConfig(f)!;
    cs.Healthcheck = f.healthcheck === false ? h : { ...(cs.Healthcheck?.Test?.[0] === 'NONE' ? {} : cs.Healthcheck ?? {}), ...h };
  }
  if (given(f, 'dnsAdd', 'dnsRm', 'dnsOptionAdd', 'dnsOptionRm', 'dnsSearchAdd', 'dnsSearchRm')) {
    // updateDNSConfig: each list with its additions, deduplicated, less its removals, sorted.
    const cur = cs.DNSConfig ?? {};
    const merged = (have: string[] | undefined, add: string[], rm: string[]) => {
      const out = [...new Set([...(have ?? []), ...add])].filter((x) => !rm.includes(x)).sort();
      return out.length ? out : undefined;
    };
    cs.DNSConfig = {};
    const ns = merged(cur.Nameservers, dnsServers('dns-add', list(f, 'dnsAdd')), list(f, 'dnsRm'));
    const search = merged(cur.Search, list(f, 'dnsSearchAdd'), list(f, 'dnsSearchRm'));
    const options = merged(cur.Options, list(f, 'dnsOptionAdd'), list(f, 'dnsOptionRm'));
    if (ns) cs.DNSConfig.Nameservers = ns;
    if (search) cs.DNSConfig.Search = search;
    if (options) cs.DNSConfig.Options = options;
  }
  if (given(f, 'sysctlAdd', 'sysctlRm')) {
    const m = { ...(cs.Sysctls ?? {}) };
    if (cs.Sysctls) for (const k of Object.keys(kvMap(list(f, 'sysctlRm')))) delete m[k];
    Object.assign(m, kvMap(list(f, 'sysctlAdd')));
    cs.Sysctls = m;
  }
  if (given(f, 'ulimitAdd', 'ulimitRm')) {
    const m = new Map((cs.Ulimits ?? []).map((u) => [u.Name, u]));
    for (const k of Object.keys(kvMap(list(f, 'ulimitRm')))) m.delete(k);
    for (const u of ulimits('ulimit-add', list(f, 'ulimitAdd'))) m.set(u.Name, u);
    const out = [...m.values()].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    cs.Ulimits = out.length ? out : undefined;
  }
  if (given(f, 'capAdd', 'capDrop')) {
    const caps = updateCaps(cs.CapabilityAdd, cs.CapabilityDrop, list(f, 'capAdd'), list(f, 'capDrop'));
    cs.CapabilityAdd = caps.add.length ? caps.add : undefined;
    cs.CapabilityDrop = caps.drop.length ? caps.drop : undefined;
  }
  if (str(f, 'oomScoreAdj') !== undefined) cs.OomScoreAdj = intOpt('oom-score-adj', str(f, 'oomScoreAdj'));
  if (str(f, 'isolation') !== undefined) cs.Isolation = str(f, 'isolation');
  if (f.tty !== undefined) cs.TTY = f.tty === true;
  if (f.readOnly !== undefined) cs.ReadOnly = f.readOnly === true;
  if (str(f, 'stopSignal') !== undefined) cs.StopSignal = str(f, 'stopSignal');
  for (const kind of ['secret', 'config'] as const) {
    const add = list(f, `${kind}Add`);
    const rm = new Set(list(f, `${kind}Rm`));
    if (!add.length && !rm.size) continue;
    const key = kind === 'secret' ? 'Secrets' : 'Configs';
    const nameOf = (r: SecretReference) => (kind === 'secret' ? r.SecretName : r.ConfigName) ?? '';
    const idOf = (r: SecretReference) => (kind === 'secret' ? r.SecretID : r.ConfigID) ?? '';
    const kept = (cs[key] ?? []).filter((r) => !rm.has(nameOf(r)) && !rm.has(idOf(r)));
    cs[key] = [...kept, ...await resolveReferences(client, kind, add)];
  }
}

export { filterMap };
