// A compose project as a swarm stack, as the docker CLI converts it
// (cli/compose/convert): networks (overlay unless the file says otherwise),
// secrets, configs and services, each named <stack>_<key> and labelled
// com.docker.stack.namespace=<stack>.
import { readFileSync } from 'node:fs';
import type { EngineClient } from '../client/engine-client.ts';
import type { Project, Service as ComposeService } from '../compose/model.ts';
import type { Mount, PortConfig, SecretOrConfig, SecretReference, ServiceMode, ServiceSpec, TaskSpec, UpdateConfig } from '../api/swarm.ts';
import { parseGoDuration } from '../api/units.ts';

export const LABEL_NAMESPACE = 'com.docker.stack.namespace';
export const LABEL_IMAGE = 'com.docker.stack.image';

/** A stack's failure, worded as the docker CLI words it. */
export class StackError extends Error {}

export const scope = (stack: string, name: string) => `${stack}_${name}`;

// The docker CLI's compose loader for stacks (cli/compose/types): what a stack refuses, ignores, or ignores with a note.
const UNSUPPORTED = ['build', 'cgroupns_mode', 'cgroup_parent', 'devices', 'domainname', 'external_links', 'ipc', 'links', 'mac_address', 'network_mode', 'pid', 'privileged',
  'restart', 'security_opt', 'shm_size', 'userns_mode'];
const DEPRECATED: Record<string, string> = {
  container_name: 'Setting the container name is not supported.',
  expose: 'Exposing ports is unnecessary - services on the same network can access each other\'s containers on any port.',
};
const FORBIDDEN: Record<string, string> = {
  extends: 'Support for `extends` is not implemented yet.',
  volume_driver: 'Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.',
  volumes_from: 'To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.',
  cpu_quota: 'Set resource limits using deploy.resources',
  cpu_shares: 'Set resource limits using deploy.resources',
  cpuset: 'Set resource limits using deploy.resources',
  mem_limit: 'Set resource limits using deploy.resources',
  memswap_limit: 'Set resource limits using deploy.resources',
};

const warnings = (found: Record<string, string>) => Object.entries(found).map(([k, v]) => `${k}: ${v}`).sort().join('\n\n');

/** The loader's checks: a forbidden key fails the deploy; unsupported and deprecated ones are reported on stderr (text, or ''). */
export function composeChecks(p: Project): string {
  const set = (keys: string[]) => new Set(Object.values(p.services).flatMap((s) => keys.filter((k) => (s as unknown as Record<string, unknown>)[k] !== undefined)));
  const pick = (table: Record<string, string>) => Object.fromEntries([...set(Object.keys(table))].map((k) => [k, table[k]]));
  const forbidden = pick(FORBIDDEN);
  // The docker CLI's message ends with a newline before its own: an empty line follows it.
  if (Object.keys(forbidden).length) throw new StackError(`Compose file contains unsupported options:\n\n${warnings(forbidden)}\n\n`);
  let out = '';
  const unsupported = [...set(UNSUPPORTED)].sort();
  if (unsupported.length) out += `Ignoring unsupported options: ${unsupported.join(', ')}\n\n`;
  const deprecated = pick(DEPRECATED);
  if (Object.keys(deprecated).length) out += `Ignoring deprecated options:\n\n${warnings(deprecated)}\n\n`;
  return out;
}

const withStackLabel = (stack: string, labels: Record<string, string> | undefined) => ({ ...(labels ?? {}), [LABEL_NAMESPACE]: stack });

export interface NetworkCreate {
  Name: string;
  Driver: string;
  Labels: Record<string, string>;
  Options?: Record<string, string>;
  Internal?: boolean;
  Attachable?: boolean;
  IPAM?: { Driver?: string; Config?: { Subnet?: string }[] };
  Scope: 'swarm';
}

export interface StackObjects {
  networks: NetworkCreate[];
  externalNetworks: string[];
  secrets: { Name: string; Labels: Record<string, string>; Data: string }[];
  configs: { Name: string; Labels: Record<string, string>; Data: string }[];
}

const ns = (d: string | undefined) => (d === undefined ? undefined : parseGoDuration(d));

/** Networks, secrets and configs of the stack (convert.Networks, Secrets, Configs). */
export function stackObjects(stack: string, p: Project): StackObjects {
  const used = new Set<string>();
  for (const s of Object.values(p.services)) {
    const nets = Object.keys(s.networks ?? {});
    if (nets.length === 0) used.add('default');
    for (const n of nets) used.add(n);
  }
  const out: StackObjects = { networks: [], externalNetworks: [], secrets: [], configs: [] };
  for (const key of [...used].sort()) {
    const n = p.networks[key] ?? { name: scope(stack, key) };
    if (n.external) {
      out.externalNetworks.push(n.name);
      continue;
    }
    const c: NetworkCreate = { Name: n.name || scope(stack, key), Driver: n.driver || 'overlay', Labels: withStackLabel(stack, n.labels), Scope: 'swarm' };
    if (n.driver_opts) c.Options = n.driver_opts;
    if (n.internal) c.Internal = true;
    if (n.attachable) c.Attachable = true;
    if (n.ipam && (n.ipam.driver || n.ipam.config?.length)) c.IPAM = { Driver: n.ipam.driver ?? '', Config: (n.ipam.config ?? []).map((x) => ({ Subnet: x.subnet })) };
    out.networks.push(c);
  }
  for (const [kind, objects] of [['secrets', p.secrets], ['configs', p.configs]] as const) {
    for (const [key, o] of Object.entries(objects ?? {})) {
      if (o.external) continue;
      let data: Buffer;
      if (o.file !== undefined) {
        try {
          data = readFileSync(o.file);
        } catch (err) {
          throw new StackError(`open ${o.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
        }
      } else if (o.content !== undefined) data = Buffer.from(o.content);
      else if (o.environment !== undefined) data = Buffer.from(p.environment[o.environment] ?? process.env[o.environment] ?? '');
      else data = Buffer.alloc(0);
      out[kind].push({ Name: o.name || scope(stack, key), Labels: withStackLabel(stack, o.labels), Data: data.toString('base64') });
    }
  }
  return out;
}

/** Service secrets/configs as references, resolved to IDs by name (ParseSecrets/ParseConfigs). */
async function references(client: EngineClient, stack: string, kind: 'secret' | 'config', p: Project, refs: ComposeService['secrets']): Promise<SecretReference[]> {
  const defs = kind === 'secret' ? p.secrets : p.configs;
  const wanted = (refs ?? []).map((r) => {
    const def = defs?.[r.source];
    if (!def) throw new StackError(`undefined ${kind} "${r.source}"`);
    // compose puts a secret without a target at /run/secrets/<source>; swarm does the same with the bare name.
    let target = r.target ?? r.source;
    if (kind === 'secret' && target === `/run/secrets/${r.source}`) target = r.source;
    return { name: def.name || scope(stack, r.source), file: { Name: target, UID: r.uid ?? '0', GID: r.gid ?? '0', Mode: r.mode ?? 0o444 } };
  });
  if (!wanted.length) return [];
  const filters = { name: Object.fromEntries(wanted.map((w) => [w.name, true])) };
  const found = await client.call<SecretOrConfig[]>('GET', `/${kind}s`, { query: { filters: JSON.stringify(filters) } });
  const ids = new Map(found.map((o) => [o.Spec.Name, o.ID]));
  const seen = new Set<string>();
  const out: SecretReference[] = [];
  for (const w of wanted) {
    if (seen.has(w.file.Name)) throw new StackError(`duplicate ${kind} target for ${w.name} not allowed`);
    seen.add(w.file.Name);
    const id = ids.get(w.name);
    if (!id) throw new StackError(`${kind} not found: ${w.name}`);
    out.push(kind === 'secret' ? { File: w.file, SecretID: id, SecretName: w.name } : { File: w.file, ConfigID: id, ConfigName: w.name });
  }
  const nameOf = (r: SecretReference) => (kind === 'secret' ? r.SecretName : r.ConfigName) ?? '';
  return out.sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
}

function mounts(stack: string, p: Project, s: ComposeService): Mount[] {
  return (s.volumes ?? []).map((v) => {
    const m: Mount = { Type: v.type, Target: v.target };
    if (v.read_only) m.ReadOnly = true;
    if ('source' in v && v.source) m.Source = v.source;
    if (v.type === 'volume' && v.source) {
      const def = p.volumes[v.source];
      if (!def) throw new StackError(`undefined volume "${v.source}"`);
      m.Source = def.name || scope(stack, v.source);
      const vo: Record<string, unknown> = {};
      if (v.volume?.nocopy) vo.NoCopy = true;
      if (v.volume?.subpath) vo.Subpath = v.volume.subpath;
      if (!def.external) {
        vo.Labels = withStackLabel(stack, def.labels);
        if (def.driver || def.driver_opts) vo.DriverConfig = { Name: def.driver ?? '', Options: def.driver_opts };
      }
      m.VolumeOptions = vo;
    }
    if (v.type === 'bind' && v.bind?.propagation) m.BindOptions = { Propagation: v.bind.propagation };
    return m;
  });
}

function restartPolicy(s: ComposeService): TaskSpec['RestartPolicy'] | undefined {
  const rp = s.deploy?.restart_policy;
  if (rp) {
    const out: NonNullable<TaskSpec['RestartPolicy']> = { Condition: rp.condition ?? '' };
    if (rp.delay !== undefined) out.Delay = ns(rp.delay);
    if (rp.max_attempts !== undefined) out.MaxAttempts = rp.max_attempts;
    if (rp.window !== undefined) out.Window = ns(rp.window);
    return out;
  }
  const r = s.restart ?? '';
  const [name, count] = r.split(':');
  const max = count ? Number(count) : 0;
  switch (name) {
    case '': case 'no': return undefined;
    case 'always': case 'unless-stopped': return { Condition: 'any', ...(max > 0 ? { MaxAttempts: max } : {}) };
    case 'on-failure': return { Condition: 'on-failure', ...(max > 0 ? { MaxAttempts: max } : {}) };
    default: throw new StackError(`invalid restart policy: unknown policy '${name}' (must be one of 'no', 'always', 'on-failure', or 'unless-stopped')`);
  }
}

function updateConfig(raw: unknown): UpdateConfig | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const u = raw as { parallelism?: number; delay?: string; failure_action?: string; monitor?: string; max_failure_ratio?: number; order?: string };
  const c: UpdateConfig = { Parallelism: u.parallelism ?? 1 };
  if (u.delay) c.Delay = ns(u.delay);
  if (u.failure_action) c.FailureAction = u.failure_action;
  if (u.monitor) c.Monitor = ns(u.monitor);
  c.MaxFailureRatio = u.max_failure_ratio ?? 0;
  if (u.order) c.Order = u.order;
  return c;
}

function serviceMode(s: ComposeService): ServiceMode {
  const replicas = s.deploy?.replicas;
  switch (s.deploy?.mode ?? '') {
    case 'global':
      if (replicas !== undefined) throw new StackError('replicas can only be used with replicated or replicated-job mode');
      return { Global: {} };
    case 'global-job':
      if (replicas !== undefined) throw new StackError('replicas can only be used with replicated or replicated-job mode');
      return { GlobalJob: {} };
    case 'replicated-job': return { ReplicatedJob: { MaxConcurrent: replicas, TotalCompletions: replicas } };
    case 'replicated': case '': return { Replicated: replicas === undefined ? {} : { Replicas: replicas } };
    default: throw new StackError(`unknown mode: ${s.deploy?.mode}`);
  }
}

// The order of Go's swarm.ContainerSpec fields, in which the docker CLI sends them.
const CONTAINER_SPEC_ORDER = ['Image', 'Labels', 'Command', 'Args', 'Hostname', 'Env', 'Dir', 'User', 'Groups', 'Privileges', 'Init', 'StopSignal', 'TTY', 'OpenStdin',
  'ReadOnly', 'Mounts', 'StopGracePeriod', 'Healthcheck', 'Hosts', 'DNSConfig', 'Secrets', 'Configs', 'Isolation', 'Sysctls', 'CapabilityAdd', 'CapabilityDrop', 'Ulimits'];

function goContainerOrder<T extends object>(cs: T): T {
  const r = cs as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of CONTAINER_SPEC_ORDER) if (r[k] !== undefined) out[k] = r[k];
  for (const [k, v] of Object.entries(r)) if (!(k in out) && v !== undefined) out[k] = v;
  return out as T;
}

const cpus = (v: string | number | undefined) => (v === undefined || v === '' ? 0 : Math.round(Number(v) * 1e9));

/** convert.Service: one compose service as a ServiceSpec. */
export async function serviceSpec(client: EngineClient, stack: string, p: Project, s: ComposeService): Promise<ServiceSpec> {
  const deploy = (s.deploy ?? {}) as NonNullable<ComposeService['deploy']> & { endpoint_mode?: string; placement?: { constraints?: string[]; preferences?: { spread: string }[]; max_replicas_per_node?: number }; update_config?: unknown; rollback_config?: unknown };
  const secrets = await references(client, stack, 'secret', p, s.secrets);
  const configs = await references(client, stack, 'config', p, s.configs);
  const env = Object.entries(s.environment ?? {}).map(([k, v]) => (v === null ? k : `${k}=${v}`)).sort();
  const cs: NonNullable<TaskSpec['ContainerSpec']> = { Image: s.image ?? '' };
  if (s.entrypoint?.length) cs.Command = s.entrypoint;
  if (s.command?.length) cs.Args = s.command;
  if (s.hostname) cs.Hostname = s.hostname;
  const hosts = (s.extra_hosts ?? []).flatMap((h) => { const i = h.search(/[:=]/); return i < 0 ? [] : [`${h.slice(i + 1)} ${h.slice(0, i)}`]; });
  if (hosts.length) cs.Hosts = hosts;
  if (s.dns?.length || s.dns_search?.length) cs.DNSConfig = { Nameservers: s.dns, Search: s.dns_search };
  const h = s.healthcheck;
  if (h) {
    if (h.disable) cs.Healthcheck = { Test: ['NONE'] };
    else {
      cs.Healthcheck = { Test: h.test };
      for (const [k, key] of [['interval', 'Interval'], ['timeout', 'Timeout'], ['start_period', 'StartPeriod'], ['start_interval', 'StartInterval']] as const) if (h[k]) cs.Healthcheck[key] = ns(h[k]);
      if (h.retries) cs.Healthcheck.Retries = h.retries;
    }
  }
  if (env.length) cs.Env = env;
  cs.Labels = withStackLabel(stack, s.labels);
  if (s.working_dir) cs.Dir = s.working_dir;
  if (s.user) cs.User = s.user;
  const m = mounts(stack, p, s);
  if (m.length) cs.Mounts = m;
  if (s.stop_grace_period) cs.StopGracePeriod = ns(s.stop_grace_period);
  if (s.stop_signal) cs.StopSignal = s.stop_signal;
  if (s.tty) cs.TTY = true;
  if (s.stdin_open) cs.OpenStdin = true;
  if (secrets.length) cs.Secrets = secrets;
  if (configs.length) cs.Configs = configs;
  if (s.read_only) cs.ReadOnly = true;
  // The docker CLI always sends its (empty) privileges.
  cs.Privileges = { CredentialSpec: null, SELinuxContext: null, NoNewPrivileges: false };
  if (s.init !== undefined) cs.Init = s.init;
  if (s.sysctls && Object.keys(s.sysctls).length) cs.Sysctls = s.sysctls;
  if (s.cap_add?.length) cs.CapabilityAdd = s.cap_add;
  if (s.cap_drop?.length) cs.CapabilityDrop = s.cap_drop;
  const task: TaskSpec = { ContainerSpec: goContainerOrder(cs) };
  if (s.logging) task.LogDriver = { Name: s.logging.driver ?? '', ...(s.logging.options ? { Options: s.logging.options } : {}) };
  const res = deploy.resources;
  const resources: NonNullable<TaskSpec['Resources']> = {};
  if (res?.limits) resources.Limits = { ...(cpus(res.limits.cpus) ? { NanoCPUs: cpus(res.limits.cpus) } : {}), ...(res.limits.memory ? { MemoryBytes: Number(res.limits.memory) } : {}), ...(res.limits.pids ? { Pids: res.limits.pids } : {}) };
  if (res?.reservations) resources.Reservations = { ...(cpus(res.reservations.cpus) ? { NanoCPUs: cpus(res.reservations.cpus) } : {}), ...(res.reservations.memory ? { MemoryBytes: Number(res.reservations.memory) } : {}) };
  task.Resources = resources;
  const rp = restartPolicy(s);
  if (rp) task.RestartPolicy = rp;
  const pl = deploy.placement ?? {};
  task.Placement = {
    ...(pl.constraints?.length ? { Constraints: pl.constraints } : {}),
    ...(pl.preferences?.length ? { Preferences: pl.preferences.map((x) => ({ Spread: { SpreadDescriptor: x.spread } })) } : {}),
    ...(pl.max_replicas_per_node ? { MaxReplicas: pl.max_replicas_per_node } : {}),
  };
  const nets = Object.keys(s.networks ?? {}).length ? s.networks : { default: null };
  task.Networks = Object.entries(nets).map(([key, cfg]) => {
    const def = p.networks[key];
    if (!def && key !== 'default') throw new StackError(`undefined network "${key}"`);
    const target = def?.name || scope(stack, key);
    // A user-defined network also knows the task by its service's name.
    const aliases = [...(cfg?.aliases ?? []), ...(['bridge', 'host', 'none', 'default'].includes(target) ? [] : [s.name])];
    return { Target: target, Aliases: aliases };
  }).sort((a, b) => (a.Target < b.Target ? -1 : a.Target > b.Target ? 1 : 0));
  const ports: PortConfig[] = (s.ports ?? []).map((x) => ({ Protocol: x.protocol, TargetPort: x.target, ...(x.published ? { PublishedPort: Number(x.published) } : {}), PublishMode: x.mode ?? 'ingress' }));
  ports.sort((a, b) => (a.Protocol ?? '').localeCompare(b.Protocol ?? '') || (a.TargetPort ?? 0) - (b.TargetPort ?? 0) || (a.PublishedPort ?? 0) - (b.PublishedPort ?? 0));
  const spec: ServiceSpec = {
    Name: scope(stack, s.name),
    Labels: { ...withStackLabel(stack, deploy.labels), [LABEL_IMAGE]: s.image ?? '' },
    TaskTemplate: task,
    Mode: serviceMode(s),
    EndpointSpec: { Mode: (deploy.endpoint_mode ?? '').toLowerCase(), ...(ports.length ? { Ports: ports } : {}) },
  };
  const u = updateConfig(deploy.update_config);
  if (u) spec.UpdateConfig = u;
  const r = updateConfig(deploy.rollback_config);
  if (r) spec.RollbackConfig = r;
  return spec;
}
