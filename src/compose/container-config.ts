// One service replica → the Engine API's container create body, labelled
// exactly as docker compose labels its containers so that either tool finds
// the other's project.
import { createHash } from 'node:crypto';
import { LABEL, type Project, type Service, type ServiceFileObject } from './model.ts';
import { durationNs, sizeBytes } from './units.ts';
import { COMPOSE_VERSION_SHORT } from './version.ts';


export interface EndpointSettings {
  Aliases?: string[];
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] };
  MacAddress?: string;
}

export interface CreateBody {
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Env: string[];
  Labels: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  User?: string;
  WorkingDir?: string;
  Hostname?: string;
  Domainname?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  StopSignal?: string;
  StopTimeout?: number;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number };
  HostConfig: Record<string, unknown>;
  NetworkingConfig?: { EndpointsConfig: Record<string, EndpointSettings> };
}

export interface ReplicaOptions {
  /** The replica's number (1-based); it names the container and labels it. */
  number: number;
  /** The image's ID, for com.docker.compose.image. */
  imageId?: string;
  oneoff?: boolean;
  /** Where environment- and content-backed secrets/configs of this project were written (see writeFileObjects). */
  fileObjects?: Record<string, string>;
  /** Container name of a service's first replica, for network_mode/volumes_from `service:x` and links. */
  containerOf?: (service: string) => string | undefined;
  /** Anonymous volumes of the container this one replaces, by target: kept, as docker compose keeps them (unless -V). */
  anonymousVolumes?: Record<string, string>;
  /** A recreate: the replaced container's `<service>-<n>` (or container_name), compose's com.docker.compose.replace. */
  replaces?: string;
}

export function containerName(project: Project, service: Service, n: number): string {
  return service.container_name ?? `${project.name}-${service.name}-${n}`;
}

/** The image a service runs: its `image:`, or `<project>-<service>` for one built without a name, as compose v2 names it. */
export function serviceImage(project: Project, service: Service): string {
  return service.image ?? `${project.name}-${service.name}`;
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sorted(x);
    }
    return out;
  }
  return v;
}

/**
 * The config hash: sha256 of the service's normalised model as canonical JSON
 * (keys sorted), its environment as the container gets it (a bare variable
 * resolved from the project's environment). Left out, as docker compose v2's
 * ServiceHash leaves them out: the replica count (scale, deploy.replicas),
 * how the image is obtained (build, pull_policy), depends_on and profiles.
 * An edit of anything else (image, env, ports, networks, develop, ...)
 * changes the hash and recreates the service. The bytes hashed are not
 * compose v2's (Go's encoding of compose-go's structs), so the two tools'
 * hashes of one service differ.
 */
export function configHash(service: Service, env: Record<string, string> = {}): string {
  const { scale: _s, build: _b, pull_policy: _p, depends_on: _d, profiles: _f, ...rest } = service;
  const deploy = rest.deploy ? { ...rest.deploy, replicas: undefined } : undefined;
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(rest.environment)) {
    const value = v ?? env[k];
    if (value !== undefined && value !== null) environment[k] = value;
  }
  return createHash('sha256').update(JSON.stringify(sorted({ ...rest, environment, deploy }))).digest('hex');
}

/**
 * External secrets and configs live in a swarm; like docker compose without
 * one, they are refused, before anything of the project is created.
 */
export function checkFileObjects(project: Project, services: Service[]): void {
  for (const service of services) {
    for (const [kind, refs] of [['secret', service.secrets], ['config', service.configs]] as const) {
      for (const ref of refs ?? []) {
        const top = kind === 'secret' ? project.secrets[ref.source] : project.configs[ref.source];
        if (top?.external) throw new Error(`unsupported external ${kind} ${top.name}`);
      }
    }
  }
}

/** com.docker.compose.depends_on: `service:condition:restart` joined by commas, as compose v2 writes it. */
export function dependsOnLabel(service: Service): string {
  return Object.entries(service.depends_on)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, d]) => `${name}:${d.condition}:${d.restart === true}`)
    .join(',');
}

export function projectLabels(project: Project): Record<string, string> {
  return { [LABEL.project]: project.name, [LABEL.version]: COMPOSE_VERSION_SHORT };
}

function environment(project: Project, service: Service): string[] {
  const env: string[] = [];
  for (const [k, v] of Object.entries(service.environment)) {
    // null: the value comes from the shell (the loader's environment); unset there means left out.
    const value = v ?? project.environment[k];
    if (value !== undefined && value !== null) env.push(`${k}=${value}`);
  }
  return env;
}

function ports(service: Service): { exposed: Record<string, Record<string, never>>; bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of service.ports) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.host_ip ?? '', HostPort: p.published ?? '' });
  }
  for (const e of service.expose ?? []) {
    const [port, proto = 'tcp'] = e.split('/');
    exposed[`${port}/${proto}`] = {};
  }
  return { exposed, bindings };
}

interface Mount {
  Type: string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean; Subpath?: string; Labels?: Record<string, string> };
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

function mounts(project: Project, service: Service, o: ReplicaOptions): { mounts: Mount[]; binds: string[] } {
  const out: Mount[] = [];
  const binds: string[] = [];
  for (const v of service.volumes) {
    if (v.type === 'volume') {
      const named = v.source ? project.volumes[v.source] : undefined;
      const opts: Mount['VolumeOptions'] = {};
      if (v.volume?.nocopy) opts.NoCopy = true;
      if (v.volume?.subpath) opts.Subpath = v.volume.subpath;
      const kept = v.source ? undefined : o.anonymousVolumes?.[v.target];
      out.push({
        Type: 'volume',
        // A source that is not a top-level key is taken as an engine volume name, as compose does for external ones.
        ...(v.source ? { Source: named?.name ?? v.source } : kept ? { Source: kept } : {}),
        Target: v.target,
        ...(v.read_only ? { ReadOnly: true } : {}),
        ...(Object.keys(opts).length ? { VolumeOptions: opts } : {}),
      });
    } else if (v.type === 'bind') {
      // Binds (not Mounts) so that the engine creates a missing host path, as the short syntax promises.
      if (v.bind?.create_host_path !== false && !v.bind?.propagation) {
        const flags = [...(v.read_only ? ['ro'] : []), ...(v.bind?.selinux ? [v.bind.selinux] : [])];
        binds.push(`${v.source}:${v.target}${flags.length ? `:${flags.join(',')}` : ''}`);
      } else {
        out.push({ Type: 'bind', Source: v.source, Target: v.target, ...(v.read_only ? { ReadOnly: true } : {}), ...(v.bind?.propagation ? { BindOptions: { Propagation: v.bind.propagation } } : {}) });
      }
    } else if (v.type === 'tmpfs') {
      const t: Mount['TmpfsOptions'] = {};
      if (v.tmpfs?.size !== undefined) t.SizeBytes = sizeBytes(v.tmpfs.size);
      if (v.tmpfs?.mode !== undefined) t.Mode = v.tmpfs.mode;
      out.push({ Type: 'tmpfs', Target: v.target, ...(v.read_only ? { ReadOnly: true } : {}), ...(Object.keys(t).length ? { TmpfsOptions: t } : {}) });
    } else {
      throw new Error(`service "${service.name}": volume type ${v.type} is not supported`);
    }
  }
  // The replaced container's other anonymous volumes (its image's VOLUMEs) come along too.
  const targets = new Set([...out.map((m) => m.Target), ...binds.map((b) => b.split(':')[1])]);
  for (const [target, name] of Object.entries(o.anonymousVolumes ?? {})) {
    if (!targets.has(target)) out.push({ Type: 'volume', Source: name, Target: target });
  }
  // Secrets under /run/secrets/<target>, configs at their target (default /<name>): read-only binds of a file.
  const fileObject = (kind: 'secret' | 'config', ref: ServiceFileObject): void => {
    const top = kind === 'secret' ? project.secrets[ref.source] : project.configs[ref.source];
    if (!top) throw new Error(`service "${service.name}" refers to undefined ${kind} ${ref.source}`);
    if (top.external) throw new Error(`unsupported external ${kind} ${top.name}`);
    const source = top.file ?? o.fileObjects?.[`${kind}:${ref.source}`];
    if (!source) throw new Error(`${kind} ${ref.source}: its content was not prepared`);
    const target = kind === 'secret'
      ? (ref.target?.startsWith('/') ? ref.target : `/run/secrets/${ref.target ?? ref.source}`)
      : (ref.target ?? `/${ref.source}`);
    out.push({ Type: 'bind', Source: source, Target: target, ReadOnly: true });
  };
  for (const s of service.secrets ?? []) fileObject('secret', s);
  for (const c of service.configs ?? []) fileObject('config', c);
  return { mounts: out, binds };
}

function restartPolicy(service: Service): { Name: string; MaximumRetryCount?: number } | undefined {
  if (service.restart) {
    const [name, count] = service.restart.split(':');
    return { Name: name === 'no' ? '' : name, ...(count ? { MaximumRetryCount: Number(count) } : {}) };
  }
  const rp = service.deploy?.restart_policy;
  if (!rp) return undefined;
  const name = rp.condition === 'none' ? '' : rp.condition === 'any' || rp.condition === undefined ? 'always' : 'on-failure';
  return { Name: name, ...(rp.max_attempts ? { MaximumRetryCount: rp.max_attempts } : {}) };
}

/** Networks in the order compose attaches them: by priority (highest first), then by name. */
export function serviceNetworks(service: Service): string[] {
  return Object.keys(service.networks).sort((a, b) => {
    const pa = service.networks[a]?.priority ?? 0;
    const pb = service.networks[b]?.priority ?? 0;
    return pb - pa || a.localeCompare(b);
  });
}

function serviceRef(mode: string, o: ReplicaOptions, what: string): string {
  if (!mode.startsWith('service:')) return mode;
  const name = o.containerOf?.(mode.slice('service:'.length));
  if (!name) throw new Error(`${what}: no container of service ${mode.slice('service:'.length)}`);
  return `container:${name}`;
}

export function containerConfig(project: Project, service: Service, o: ReplicaOptions): { name: string; body: CreateBody } {
  const name = containerName(project, service, o.number);
  const hc: Record<string, unknown> = {};
  const { exposed, bindings } = ports(service);
  const { mounts: ms, binds } = mounts(project, service, o);
  if (Object.keys(bindings).length) hc.PortBindings = bindings;
  if (ms.length) hc.Mounts = ms;
  if (binds.length) hc.Binds = binds;
  const rp = restartPolicy(service);
  if (rp) hc.RestartPolicy = rp;
  const tmpfs: Record<string, string> = {};
  for (const t of service.tmpfs ?? []) {
    const i = t.indexOf(':');
    if (i < 0) tmpfs[t] = '';
    else tmpfs[t.slice(0, i)] = t.slice(i + 1);
  }
  if (Object.keys(tmpfs).length) hc.Tmpfs = tmpfs;
  const limits = service.deploy?.resources?.limits;
  const cpus = limits?.cpus ?? service.cpus;
  if (cpus !== undefined) hc.NanoCpus = Math.round(Number(cpus) * 1e9);
  const memory = limits?.memory ?? service.mem_limit;
  if (memory !== undefined) hc.Memory = sizeBytes(memory);
  if (limits?.pids !== undefined) hc.PidsLimit = limits.pids;
  const reservation = service.deploy?.resources?.reservations?.memory;
  if (reservation !== undefined) hc.MemoryReservation = sizeBytes(reservation);
  if (service.shm_size !== undefined) hc.ShmSize = sizeBytes(service.shm_size);
  if (service.dns) hc.Dns = service.dns;
  if (service.dns_search) hc.DnsSearch = service.dns_search;
  if (service.dns_opt) hc.DnsOptions = service.dns_opt;
  // compose accepts host=ip and host:ip; the engine wants host:ip.
  if (service.extra_hosts) hc.ExtraHosts = service.extra_hosts.map((h) => (h.includes('=') ? h.replace('=', ':') : h));
  if (service.cap_add) hc.CapAdd = service.cap_add;
  if (service.cap_drop) hc.CapDrop = service.cap_drop;
  if (service.privileged) hc.Privileged = true;
  if (service.read_only) hc.ReadonlyRootfs = true;
  if (service.init !== undefined) hc.Init = service.init;
  if (service.security_opt) hc.SecurityOpt = service.security_opt;
  if (service.group_add) hc.GroupAdd = service.group_add;
  if (service.ipc) hc.IpcMode = serviceRef(service.ipc, o, 'ipc');
  if (service.pid) hc.PidMode = serviceRef(service.pid, o, 'pid');
  if (service.sysctls) hc.Sysctls = service.sysctls;
  if (service.ulimits) hc.Ulimits = Object.entries(service.ulimits).map(([n, l]) => ({ Name: n, Soft: l.soft, Hard: l.hard }));
  if (service.logging) hc.LogConfig = { Type: service.logging.driver ?? '', Config: service.logging.options ?? {} };
  if (service.devices) {
    hc.Devices = service.devices.map((d) => {
      const [host, inner = host, perms = 'rwm'] = d.split(':');
      return { PathOnHost: host, PathInContainer: inner, CgroupPermissions: perms };
    });
  }
  if (service.volumes_from) {
    hc.VolumesFrom = service.volumes_from.map((v) => {
      const [kind, ref, mode] = v.startsWith('container:') ? ['container', ...v.slice(10).split(':')] : ['service', ...v.replace(/^service:/, '').split(':')];
      const target = kind === 'service' ? o.containerOf?.(ref) : ref;
      if (!target) throw new Error(`volumes_from: no container of service ${ref}`);
      return mode ? `${target}:${mode}` : target;
    });
  }
  if (service.links) {
    hc.Links = service.links.map((l) => {
      const [svc, alias = svc] = l.split(':');
      return `${o.containerOf?.(svc) ?? svc}:${alias}`;
    });
  }

  const endpoints: Record<string, EndpointSettings> = {};
  if (service.network_mode) {
    hc.NetworkMode = serviceRef(service.network_mode, o, 'network_mode');
  } else {
    const nets = serviceNetworks(service);
    for (const key of nets) {
      const net = project.networks[key];
      if (!net) throw new Error(`service "${service.name}" refers to undefined network ${key}: invalid compose project`);
      const sn = service.networks[key] ?? {};
      const ep: EndpointSettings = { Aliases: [service.name, ...(sn.aliases ?? [])] };
      if (sn.ipv4_address || sn.ipv6_address || sn.link_local_ips) {
        ep.IPAMConfig = { ...(sn.ipv4_address ? { IPv4Address: sn.ipv4_address } : {}), ...(sn.ipv6_address ? { IPv6Address: sn.ipv6_address } : {}), ...(sn.link_local_ips ? { LinkLocalIPs: sn.link_local_ips } : {}) };
      }
      if (sn.mac_address) ep.MacAddress = sn.mac_address;
      endpoints[net.name] = ep;
    }
    if (nets.length) hc.NetworkMode = project.networks[nets[0]].name;
  }

  const labels: Record<string, string> = {
    ...service.labels,
    ...(service.deploy?.labels ?? {}),
    ...projectLabels(project),
    [LABEL.service]: service.name,
    [LABEL.containerNumber]: String(o.number),
    [LABEL.oneoff]: o.oneoff ? 'True' : 'False',
    [LABEL.configHash]: configHash(service, project.environment),
    [LABEL.workingDir]: project.workingDir,
    [LABEL.configFiles]: project.configFiles.join(','),
    ...(project.envFiles?.length ? { [LABEL.environmentFile]: project.envFiles.join(',') } : {}),
    ...(o.replaces ? { [LABEL.replace]: o.replaces } : {}),
    [LABEL.dependsOn]: dependsOnLabel(service),
    ...(o.imageId ? { [LABEL.image]: o.imageId } : {}),
  };

  const body: CreateBody = {
    Image: serviceImage(project, service),
    Env: environment(project, service),
    Labels: labels,
    HostConfig: hc,
    AttachStdout: true,
    AttachStderr: true,
  };
  if (service.command) body.Cmd = service.command;
  if (service.entrypoint) body.Entrypoint = service.entrypoint;
  if (Object.keys(exposed).length) body.ExposedPorts = exposed;
  if (service.user !== undefined) body.User = service.user;
  if (service.working_dir !== undefined) body.WorkingDir = service.working_dir;
  if (service.hostname !== undefined) body.Hostname = service.hostname;
  if (service.domainname !== undefined) body.Domainname = service.domainname;
  if (service.tty) body.Tty = true;
  if (service.stdin_open) body.OpenStdin = true;
  if (service.stop_signal) body.StopSignal = service.stop_signal;
  if (service.stop_grace_period) body.StopTimeout = Math.round(durationNs(service.stop_grace_period) / 1e9);
  const h = service.healthcheck;
  if (h) {
    if (h.disable) body.Healthcheck = { Test: ['NONE'] };
    else {
      body.Healthcheck = {
        ...(h.test ? { Test: h.test } : {}),
        ...(h.interval ? { Interval: durationNs(h.interval) } : {}),
        ...(h.timeout ? { Timeout: durationNs(h.timeout) } : {}),
        ...(h.retries !== undefined ? { Retries: h.retries } : {}),
        ...(h.start_period ? { StartPeriod: durationNs(h.start_period) } : {}),
        ...(h.start_interval ? { StartInterval: durationNs(h.start_interval) } : {}),
      };
    }
  }
  if (Object.keys(endpoints).length) body.NetworkingConfig = { EndpointsConfig: endpoints };
  return { name, body };
}
