// Create-time work that needs no container yet: the request checked and
// completed as dockerd completes it (HostConfig defaults, the image's config
// as defaults, /etc/resolv.conf, the log attributes json-file records).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ContainerConfig, type ContainerRecord, type HostConfig, NAME_RE, newState, nowNano, type RestartPolicy } from '../api/container.ts';
import { InvalidArgumentError } from '../errors.ts';
import { checkResources, discardUnsupported } from '../runtime/resources.ts';
import { checkDevices } from '../runtime/devices.ts';
import { checkLogConfig, logPathFor } from './log-drivers.ts';
import { parseSecurityOpts } from '../runtime/security-opts.ts';
import { defaultCgroupnsMode } from './namespaces.ts';
import { checkHealthcheck, mergeHealthcheck, type Healthcheck } from './healthcheck.ts';
import type { Image } from '../images/store.ts';
import { emptyNetworkSettings } from '../network/model.ts';
import type { EndpointRequest } from '../network/model.ts';
import type { Mount } from '../storage/snapshotter.ts';
import type { ContainerServiceOptions } from './options.ts';

export interface CreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointRequest> } | null;
}

/** The request's HostConfig with dockerd's defaults filled in and its log, runtime and resource options checked. */
export function normalizeHostConfig(h: HostConfig, cfg: ContainerServiceOptions, warnings: string[] = []): HostConfig {
  const host: HostConfig = { ...h };
  warnings.push(...checkResources(host));
  discardUnsupported(host, warnings);
  checkDevices(host.Devices, host.DeviceCgroupRules);
  parseSecurityOpts(host.SecurityOpt);
  // dockerd's default: swap as large again as the memory limit.
  if ((host.Memory ?? 0) > 0 && !host.MemorySwap) host.MemorySwap = (host.Memory ?? 0) * 2;
  if (!host.NetworkMode || host.NetworkMode === 'default') host.NetworkMode = 'bridge';
  // As dockerd's mergeAndVerifyLogConfig: no type means the daemon's driver,
  // and the daemon's options fill in those the container did not set.
  const log = { Type: host.LogConfig?.Type || cfg.logDriver, Config: { ...(host.LogConfig?.Config ?? {}) } };
  if (log.Type === cfg.logDriver) for (const [k, v] of Object.entries(cfg.logOpts)) log.Config[k] ??= v;
  checkLogConfig(log.Type, log.Config);
  host.LogConfig = { Type: log.Type, Config: log.Config ?? {} };
  if (host.RestartPolicy) checkRestartPolicy(host.RestartPolicy);
  host.RestartPolicy = host.RestartPolicy?.Name ? host.RestartPolicy : { Name: 'no', MaximumRetryCount: 0 };
  if (host.AutoRemove && host.RestartPolicy.Name !== 'no') throw new InvalidArgumentError("can't create 'AutoRemove' container with restart policy");
  if (host.Runtime && !cfg.runtimes[host.Runtime]) throw new InvalidArgumentError(`unknown or invalid runtime name: ${host.Runtime}`);
  host.Runtime = host.Runtime || cfg.defaultRuntime;
  host.ShmSize = host.ShmSize || 64 * 1024 * 1024;
  host.IpcMode = host.IpcMode || 'private';
  host.CgroupnsMode = host.CgroupnsMode || defaultCgroupnsMode();
  host.Binds ??= null;
  host.PortBindings ??= {};
  return host;
}

/** dockerd's ValidateRestartPolicy, same wording. */
export function checkRestartPolicy(p: RestartPolicy): void {
  const n = p.MaximumRetryCount ?? 0;
  switch (p.Name) {
    case 'always': case 'unless-stopped': case 'no':
      if (n !== 0) {
        throw new InvalidArgumentError(`invalid restart policy: maximum retry count can only be used with 'on-failure'${n < 0 ? ' and cannot be negative' : ''}`);
      }
      break;
    case 'on-failure':
      if (n < 0) throw new InvalidArgumentError('invalid restart policy: maximum retry count cannot be negative');
      break;
    case '':
      break; // before API 1.44 an empty name was the default, with any count
    default:
      throw new InvalidArgumentError(`invalid restart policy: unknown policy '${p.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
}

/** The image's config is the default for everything the request leaves unset (dockerd's merge). */
export function mergeImageConfig(c: ContainerConfig, image: Image): ContainerConfig {
  const img = image.config.config ?? {};
  const out: ContainerConfig = { ...c };
  out.User = c.User || img.User || '';
  out.WorkingDir = c.WorkingDir || img.WorkingDir || '';
  const env = new Map<string, string>();
  for (const e of [...(img.Env ?? []), ...(c.Env ?? [])]) {
    const eq = e.indexOf('=');
    env.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  if (![...env.keys()].includes('PATH')) env.set('PATH', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  out.Env = [...env.values()];
  const ep = c.Entrypoint;
  if (!ep || ep.length === 0 || (ep.length === 1 && ep[0] === '')) {
    if (!c.Cmd || c.Cmd.length === 0) out.Cmd = img.Cmd ?? null;
    // Absent: inherit the image's. Given but empty (`--entrypoint ""`): cleared.
    out.Entrypoint = ep == null ? (img.Entrypoint ?? null) : null;
  } else if (!c.Cmd || c.Cmd.length === 0) {
    out.Cmd = null;
  }
  out.Labels = { ...(img.Labels ?? {}), ...(c.Labels ?? {}) };
  out.ExposedPorts = c.ExposedPorts || img.ExposedPorts ? { ...(img.ExposedPorts ?? {}), ...(c.ExposedPorts ?? {}) } : undefined;
  out.Volumes = c.Volumes || img.Volumes ? { ...(img.Volumes ?? {}), ...(c.Volumes ?? {}) } : null;
  out.StopSignal = c.StopSignal || img.StopSignal;
  checkHealthcheck(c.Healthcheck as Healthcheck | null | undefined);
  const health = mergeHealthcheck(c.Healthcheck as Healthcheck | null | undefined, img.Healthcheck as Healthcheck | null | undefined);
  if (health) out.Healthcheck = health;
  else delete out.Healthcheck;
  out.OnBuild = null;
  out.Tty = c.Tty === true;
  out.OpenStdin = c.OpenStdin === true;
  out.StdinOnce = c.StdinOnce === true;
  out.AttachStdin = c.AttachStdin === true;
  out.AttachStdout = c.AttachStdout === true;
  out.AttachStderr = c.AttachStderr === true;
  out.Domainname = c.Domainname ?? '';
  if (!out.ExposedPorts) delete out.ExposedPorts;
  if (!out.StopSignal) delete out.StopSignal;
  return out;
}

/** /etc/resolv.conf for a container: the host's, without loopback resolvers it could not reach. */
export function resolvConf(h: HostConfig): string {
  const lines: string[] = [];
  if (h.NetworkMode === 'host' && !h.Dns?.length && !h.DnsSearch?.length && !h.DnsOptions?.length) {
    return readHostFile('/etc/resolv.conf') ?? '';
  }
  const host = readHostFile('/etc/resolv.conf') ?? '';
  const ns = h.Dns?.length ? h.Dns : host.split('\n').filter((l) => /^\s*nameserver\s/.test(l)).map((l) => l.trim().split(/\s+/)[1]).filter((a) => !/^127\.|^::1$/.test(a));
  const search = h.DnsSearch?.length ? h.DnsSearch : host.split('\n').filter((l) => /^\s*search\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1));
  const opts = h.DnsOptions?.length ? h.DnsOptions : host.split('\n').filter((l) => /^\s*options\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1));
  for (const n of ns.length ? ns : ['8.8.8.8', '8.8.4.4']) lines.push(`nameserver ${n}`);
  if (search.length) lines.push(`search ${search.join(' ')}`);
  if (opts.length) lines.push(`options ${opts.join(' ')}`);
  return lines.join('\n') + '\n';
}

function readHostFile(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

export function graphDriverData(mounts: Mount[], merged: string): Record<string, string> {
  const data: Record<string, string> = { MergedDir: merged };
  for (const opt of mounts[0]?.options ?? []) {
    const [k, v] = opt.split('=', 2);
    if (k === 'lowerdir') data.LowerDir = v;
    if (k === 'upperdir') data.UpperDir = v;
    if (k === 'workdir') data.WorkDir = v;
  }
  return data;
}

/**
 * The extra attributes dockerd's json-file driver writes with each entry:
 * the container labels named by log-opt `labels`/`labels-regex` and the
 * environment variables named by `env`/`env-regex`.
 */
export function logAttributes(rec: ContainerRecord): Record<string, string> {
  const opts = rec.HostConfig.LogConfig?.Config ?? {};
  const names = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const regex = (v: string | undefined) => {
    try {
      return v ? new RegExp(v) : undefined;
    } catch {
      return undefined;
    }
  };
  const attrs: Record<string, string> = {};
  const labels = rec.Config.Labels ?? {};
  const labelRe = regex(opts['labels-regex']);
  for (const [k, v] of Object.entries(labels)) if (names(opts.labels).includes(k) || labelRe?.test(k)) attrs[k] = v;
  const envNames = names(opts.env);
  const envRe = regex(opts['env-regex']);
  for (const e of rec.Config.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    const k = e.slice(0, eq);
    if (envNames.includes(k) || envRe?.test(k)) attrs[k] = e.slice(eq + 1);
  }
  return attrs;
}

/** The request's own checks, before any lookup, in dockerd's order and wording; returns the name without its slash ('' = pick one). */
export function checkCreateRequest(body: CreateRequest, nameArg: string | undefined): string {
  if (!body || typeof body !== 'object') throw new InvalidArgumentError('config cannot be empty in order to create a container');
  if (!body.Image) throw new InvalidArgumentError('No image specified');
  let name = nameArg ?? '';
  if (name !== '') {
    if (!NAME_RE.test(name)) throw new InvalidArgumentError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    name = name.replace(/^\//, '');
  }
  if (body.WorkingDir && !body.WorkingDir.startsWith('/')) {
    throw new InvalidArgumentError(`the working directory '${body.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  return name;
}

/** A new container's record: what `inspect` shows from its create on. */
export function newRecord(n: {
  id: string; name: string; dir: string; image: string; host: HostConfig; config: ContainerConfig;
  endpoints: Record<string, unknown>; graphDriver: Record<string, string>;
}): ContainerRecord {
  const argv = [...(n.config.Entrypoint ?? []), ...(n.config.Cmd ?? [])];
  return {
    Id: n.id,
    Created: nowNano(),
    Path: argv[0],
    Args: argv.slice(1),
    State: newState(),
    Image: n.image,
    ResolvConfPath: join(n.dir, 'resolv.conf'),
    HostnamePath: join(n.dir, 'hostname'),
    HostsPath: join(n.dir, 'hosts'),
    LogPath: logPathFor(n.host.LogConfig?.Type ?? 'json-file', n.dir, n.id),
    Name: '/' + n.name,
    RestartCount: 0,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: parseSecurityOpts(n.host.SecurityOpt).apparmor ?? '',
    ExecIDs: null,
    HostConfig: n.host,
    GraphDriver: { Name: 'overlay2', Data: n.graphDriver },
    Mounts: [],
    Config: n.config,
    NetworkSettings: { ...emptyNetworkSettings(), Networks: n.endpoints } as unknown as Record<string, unknown>,
  };
}
