// One service's raw definition (merged, extended, interpolated) in the
// model's long forms: the shape `docker compose config` prints.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { BuildConfig, DependsOn, Healthcheck, PortConfig, Service, ServiceFileObject, ServiceNetwork, ServiceVolume } from '../model.ts';
import { ComposeError, isMapping, type Mapping } from './errors.ts';
import { normaliseDuration } from './duration.ts';
import { ramInBytes } from '../../api/units.ts';
import { toKeyValueMap } from './merge.ts';
import { parsePortSpec, parseVolumeSpec, resolveHostPath, sortPort } from './short-syntax.ts';
import { splitShellWords } from './shell-words.ts';
import { readEnvFile } from './env-file.ts';

export interface ServiceContext {
  workingDir: string;
  /** The interpolation environment: env_file values may use it, `KEY` entries take from it. */
  env: Record<string, string>;
  /** false: host paths are printed as written (`config --no-path-resolution`); files are still read where they are. */
  resolvePaths: boolean;
  /** `config --no-env-resolution`: env_file listed rather than read, bare `KEY` entries not looked up. */
  noEnvResolution?: boolean;
  /** `config --no-normalize`: no implicit defaults (default network, Dockerfile, dependencies, resource names). */
  noNormalize?: boolean;
}

/** A host path of the model: absolute against the project, unless paths are left as written. */
export function hostPath(p: string, ctx: ServiceContext): string {
  return ctx.resolvePaths ? resolveHostPath(p, ctx.workingDir, ctx.env.HOME) : p;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const strList = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : [str(v)]);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(toKeyValueMap(v))) out[k] = x === null || x === undefined ? '' : str(x);
  return out;
}

function command(v: unknown): string[] | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  return Array.isArray(v) ? v.map(str) : splitShellWords(str(v));
}

function isRemoteContext(c: string): boolean {
  return /^(https?:\/\/|git@|git:\/\/|github\.com\/)/.test(c) || /\.git(#.*)?$/.test(c);
}

function build(v: unknown, ctx: ServiceContext, where: string): BuildConfig {
  const b: Mapping = typeof v === 'string' ? { context: v } : { ...(v as Mapping) };
  const context = str(b.context ?? '.');
  const out: BuildConfig = { context: isRemoteContext(context) ? context : hostPath(context, ctx) };
  if (b.dockerfile === undefined && b.dockerfile_inline === undefined && !ctx.noNormalize) out.dockerfile = 'Dockerfile';
  const rest: Mapping = { ...b };
  delete rest.context;
  for (const [k, x] of Object.entries(rest)) {
    if (k === 'args') {
      const args: Record<string, string | null> = {};
      // A bare arg takes the environment's value, and is dropped when there is none (as compose).
      for (const [ak, av] of Object.entries(toKeyValueMap(x))) {
        if (av !== null && av !== undefined) args[ak] = str(av);
        else if (ctx.env[ak] !== undefined) args[ak] = ctx.env[ak];
      }
      out.args = args;
    } else if (k === 'labels') out.labels = stringMap(x);
    else if (k === 'extra_hosts') out.extra_hosts = extraHosts(x);
    else if (k === 'secrets') out.secrets = fileObjects(x, `${where}.build.secrets`);
    else if (k === 'cache_from' || k === 'cache_to' || k === 'tags' || k === 'platforms') (out as unknown as Mapping)[k] = strList(x);
    else if (k === 'shm_size') out.shm_size = bytes(x, `${where}.build.shm_size`);
    else (out as unknown as Mapping)[k] = x;
  }
  return out;
}

/**
 * A byte size ("512m", "1g", 1048576, "-1") as a number of bytes, as compose
 * reads it (go-units RAMInBytes: binary units); `where` names a bad one's key.
 */
function bytes(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  const s = str(v).trim();
  if (/^-?\d+$/.test(s)) return Number(s);
  try {
    return ramInBytes(s);
  } catch {
    throw new ComposeError(`${where}: invalid size: '${s}'`);
  }
}

/** `host=ip` entries: from a mapping, `host:ip` or `host=ip` strings, and comma-separated addresses. */
function extraHosts(v: unknown): string[] {
  if (isMapping(v)) {
    return Object.entries(v).flatMap(([h, ip]) => (Array.isArray(ip) ? ip : [ip]).map((i) => `${h}=${str(i)}`));
  }
  return strList(v).flatMap((e) => {
    const eq = e.indexOf('=');
    const i = eq >= 0 ? eq : e.indexOf(':');
    if (i < 0) return [e];
    const host = e.slice(0, i);
    return e.slice(i + 1).split(',').map((ip) => `${host}=${ip}`);
  });
}

/** A string or a list of strings, without the empty ones (`dns: ${UNSET}` means none). */
const nonEmptyList = (v: unknown): string[] => strList(v).filter((x) => x !== '');

function fileObjects(v: unknown, where: string): ServiceFileObject[] {
  return (v as unknown[]).map((e) => {
    if (typeof e === 'string') return { source: e };
    const o = { ...(e as Mapping) };
    // A mode written as a string is octal ("0440"), as compose reads it.
    if (typeof o.mode === 'string') {
      if (!/^(0o)?[0-7]+$/.test(o.mode.trim())) throw new ComposeError(`${where}: invalid file mode ${JSON.stringify(o.mode)}`);
      o.mode = parseInt(o.mode.trim().replace(/^0o/, ''), 8);
    }
    if (o.uid !== undefined) o.uid = str(o.uid);
    if (o.gid !== undefined) o.gid = str(o.gid);
    return o as unknown as ServiceFileObject;
  });
}

function ports(v: unknown, where: string): PortConfig[] {
  const out: PortConfig[] = [];
  for (const p of v as unknown[]) {
    try {
      if (isMapping(p)) {
        const target = Number(p.target);
        if (!Number.isInteger(target) || target < 1 || target > 65535) throw new ComposeError(`invalid containerPort: ${str(p.target)}`);
        const published = p.published === undefined || p.published === null ? undefined : str(p.published);
        if (published !== undefined && published !== '') {
          const m = /^(\d+)(?:-(\d+))?$/.exec(published);
          if (!m || Number(m[1]) > 65535 || (m[2] !== undefined && Number(m[2]) > 65535)) throw new ComposeError(`invalid hostPort: ${published}`);
        }
        out.push(sortPort({
          ...(p as unknown as PortConfig), target,
          ...(published ? { published } : { published: undefined }),
          protocol: str(p.protocol ?? 'tcp').toLowerCase() as PortConfig['protocol'],
        }));
      } else {
        out.push(...parsePortSpec(p as string | number));
      }
    } catch (err) {
      if (err instanceof ComposeError) throw new ComposeError(`${where}.ports: ${err.message}`);
      throw err;
    }
  }
  // Short and long forms of one port meet only now: the later one wins, in the earlier's place (compose-go's second unicity pass).
  const at = new Map<string, number>();
  const unique: PortConfig[] = [];
  for (const p of out) {
    const key = `${p.host_ip ?? ''}:${p.published ?? ''}:${p.target}/${p.protocol}`;
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, unique.length);
      unique.push(p);
    } else {
      unique[i] = p;
    }
  }
  return unique;
}

function volumes(v: unknown, ctx: ServiceContext, where: string): ServiceVolume[] {
  return (v as unknown[]).map((e) => {
    try {
      if (typeof e === 'string') return parseVolumeSpec(e, ctx.workingDir, ctx.env.HOME, ctx.resolvePaths);
      const m = { ...(e as Mapping) } as Mapping;
      if (m.type === 'bind') {
        if (!m.source) throw new ComposeError('invalid mount config for type "bind": field Source must not be empty');
        m.source = hostPath(str(m.source), ctx);
        // As compose-go: a `bind:` section defaults create_host_path to true; without one there is none.
        if (isMapping(m.bind)) m.bind = { create_host_path: true, ...m.bind };
      }
      if (m.type === 'volume' && m.volume === undefined) m.volume = {};
      if (m.type === 'tmpfs' && isMapping(m.tmpfs) && m.tmpfs.size !== undefined) m.tmpfs = { ...m.tmpfs, size: bytes(m.tmpfs.size, `${where}.volumes`) };
      if (typeof m.target === 'string') m.target = posix.normalize(m.target);
      const ordered: Mapping = { type: m.type, ...(m.source !== undefined ? { source: m.source } : {}), target: m.target };
      for (const [k, x] of Object.entries(m)) if (!(k in ordered)) ordered[k] = x;
      return ordered as unknown as ServiceVolume;
    } catch (err) {
      if (err instanceof ComposeError) throw new ComposeError(`${where}.volumes: ${err.message}`);
      throw err;
    }
  });
}

function dependsOn(v: unknown): Record<string, DependsOn> {
  const out: Record<string, DependsOn> = {};
  if (Array.isArray(v)) {
    for (const name of v) out[str(name)] = { condition: 'service_started', required: true };
    return out;
  }
  for (const [name, d] of Object.entries(v as Mapping)) {
    const m = isMapping(d) ? d : {};
    out[name] = withExtensions({
      condition: (m.condition as DependsOn['condition']) ?? 'service_started',
      ...(m.restart !== undefined ? { restart: Boolean(m.restart) } : {}),
      required: m.required === undefined ? true : Boolean(m.required),
    }, m);
  }
  return out;
}

/** `x-…` keys of `from` kept on the normalised `to` (compose keeps extensions everywhere). */
function withExtensions<T extends object>(to: T, from: Mapping): T {
  for (const [k, x] of Object.entries(from)) if (k.startsWith('x-')) (to as Record<string, unknown>)[k] = x;
  return to;
}

function healthcheck(v: Mapping, where: string): Healthcheck {
  const h: Healthcheck = {};
  if (v.test !== undefined) h.test = typeof v.test === 'string' ? ['CMD-SHELL', v.test] : strList(v.test);
  for (const k of ['interval', 'timeout', 'start_period', 'start_interval'] as const) {
    const d = normaliseDuration(v[k], `${where}.healthcheck.${k}`);
    if (d !== undefined) h[k] = d;
  }
  if (v.retries !== undefined) h.retries = Number(v.retries);
  if (v.disable !== undefined) h.disable = Boolean(v.disable);
  return withExtensions(h, v);
}

/** env_file entries (string, list, long form) read in order; `required: false` files may be missing. */
function envFiles(v: unknown, ctx: ServiceContext): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const e of Array.isArray(v) ? v : [v]) {
    const entry: Mapping = isMapping(e) ? e : { path: e };
    const path = resolveHostPath(str(entry.path), ctx.workingDir, ctx.env.HOME);
    const required = entry.required === undefined ? true : Boolean(entry.required);
    try {
      const lookup = (n: string): string | undefined => ctx.env[n] ?? (Object.hasOwn(out, n) ? (out[n] ?? undefined) : undefined);
      Object.assign(out, entry.format === 'raw' ? readRaw(path) : readEnvFile(path, lookup));
    } catch (err) {
      if (!required && err instanceof ComposeError && / not found/.test(err.message)) continue;
      throw err;
    }
  }
  return out;
}

/** env_file entries in their long form, unread (`config --no-env-resolution`). */
function envFileList(v: unknown, ctx: ServiceContext): Array<{ path: string; required: boolean; format?: string }> {
  return (Array.isArray(v) ? v : [v]).map((e) => {
    const entry: Mapping = isMapping(e) ? e : { path: e };
    const out: { path: string; required: boolean; format?: string } = { path: hostPath(str(entry.path), ctx), required: entry.required === undefined ? true : Boolean(entry.required) };
    if (entry.format !== undefined) out.format = str(entry.format);
    return out;
  });
}

/** label_file(s), read as env files are, in order (`labels` wins over them). */
function labelFiles(v: unknown, ctx: ServiceContext): Record<string, string> {
  if (v === undefined) return {};
  const out: Record<string, string> = {};
  for (const f of Array.isArray(v) ? v : [v]) {
    const path = resolveHostPath(str(f), ctx.workingDir, ctx.env.HOME);
    try {
      Object.assign(out, readEnvFile(path, (n) => ctx.env[n]));
    } catch (err) {
      if (err instanceof ComposeError) throw new ComposeError(err.message.replace(/^env file/, 'label file'));
      throw err;
    }
  }
  return out;
}

function readRaw(path: string): Record<string, string> {
  // `format: raw`: each KEY=VALUE line as written, no quotes or substitution.
  const out: Record<string, string> = {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ComposeError(`env file ${path} not found: stat ${path}: no such file or directory`);
  }
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf('=');
    if (line.trim() === '' || line.trimStart().startsWith('#') || i < 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return out;
}

/**
 * Links, `service:` namespaces and volumes_from make a service depend on
 * another as depends_on does (compose-go's normalisation): it must exist and
 * start first.
 */
function implicitDependencies(raw: Mapping, s: Mapping): void {
  const deps = (s.depends_on as Record<string, DependsOn> | undefined) ?? {};
  const add = (name: string, restart: boolean): void => {
    if (!deps[name]) deps[name] = { condition: 'service_started', restart, required: true };
  };
  for (const l of Array.isArray(raw.links) ? raw.links : []) add(str(l).split(':')[0], true);
  for (const ns of ['network_mode', 'ipc', 'pid', 'uts', 'cgroup']) {
    const v = raw[ns];
    if (typeof v === 'string' && v.startsWith('service:')) add(v.slice('service:'.length), true);
  }
  for (const v of Array.isArray(raw.volumes_from) ? raw.volumes_from : []) {
    if (!str(v).startsWith('container:')) add(str(v).split(':')[0], false);
  }
  if (Object.keys(deps).length > 0) s.depends_on = deps;
}

export function normaliseService(name: string, raw: Mapping, ctx: ServiceContext): Service {
  const where = `services.${name}`;
  const s: Mapping = {};
  const environment: Record<string, string | null> = raw.env_file !== undefined && !ctx.noEnvResolution ? envFiles(raw.env_file, ctx) : {};
  if (raw.env_file !== undefined && ctx.noEnvResolution) s.env_file = envFileList(raw.env_file, ctx);
  for (const [k, v] of Object.entries(toKeyValueMap(raw.environment ?? {}))) {
    if (/\s$/.test(k)) throw new ComposeError(`environment variable ${k} is declared with a trailing space`);
    // A key without a value takes the shell's, or stays unset (and is not looked up at all without env resolution).
    environment[k] = v === null || v === undefined ? (ctx.noEnvResolution ? null : (ctx.env[k] ?? null)) : str(v);
  }
  for (const [k, v] of Object.entries(raw)) {
    switch (k) {
      case 'extends': case 'env_file': case 'environment': case 'label_file': break;
      case 'build': s.build = build(v, ctx, where); break;
      case 'command': case 'entrypoint': s[k] = command(v); break;
      case 'ports': s.ports = ports(v, where); break;
      case 'volumes': s.volumes = volumes(v, ctx, where); break;
      case 'depends_on': s.depends_on = dependsOn(v); break;
      case 'healthcheck': s.healthcheck = healthcheck(v as Mapping, where); break;
      case 'labels': s.labels = { ...labelFiles(raw.label_file, ctx), ...stringMap(v) }; break;
      case 'annotations': case 'sysctls': s[k] = stringMap(v); break;
      case 'pull_policy': s[k] = v === 'if_not_present' ? 'missing' : v; break;
      case 'develop': {
        // Watched paths are relative to the project directory.
        const d = { ...(v as Mapping) };
        if (Array.isArray(d.watch)) {
          d.watch = d.watch.map((w) => (isMapping(w) && typeof w.path === 'string' ? { ...w, path: hostPath(w.path, ctx) } : w));
        }
        s.develop = d;
        break;
      }
      case 'expose': s.expose = strList(v); break;
      case 'dns': case 'dns_search': case 'dns_opt': case 'tmpfs': s[k] = nonEmptyList(v); break;
      case 'extra_hosts': s.extra_hosts = extraHosts(v); break;
      case 'secrets':
        // A service's secret lands in /run/secrets/<source> unless it says where.
        s.secrets = fileObjects(v, `${where}.secrets`).map((o) => (o.target === undefined ? { ...o, target: `/run/secrets/${o.source}` } : o));
        break;
      case 'configs': s.configs = fileObjects(v, `${where}.configs`); break;
      case 'mem_limit': case 'mem_reservation': case 'memswap_limit': case 'shm_size': s[k] = bytes(v, `${where}.${k}`); break;
      case 'deploy': {
        const d = { ...(v as Mapping) };
        if (isMapping(d.resources)) {
          const r: Mapping = { ...d.resources };
          for (const part of ['limits', 'reservations']) {
            if (isMapping(r[part]) && (r[part] as Mapping).memory !== undefined) {
              r[part] = { ...(r[part] as Mapping), memory: bytes((r[part] as Mapping).memory, `${where}.deploy.resources.${part}.memory`) };
            }
          }
          d.resources = r;
        }
        s.deploy = d;
        break;
      }
      case 'stop_grace_period': s[k] = normaliseDuration(v, `${where}.stop_grace_period`); break;
      case 'ulimits': {
        const u: Record<string, { soft: number; hard: number }> = {};
        for (const [uk, uv] of Object.entries(v as Mapping)) {
          u[uk] = isMapping(uv) ? { soft: Number(uv.soft), hard: Number(uv.hard) } : { soft: Number(uv), hard: Number(uv) };
        }
        s.ulimits = u;
        break;
      }
      case 'networks': {
        const n: Record<string, ServiceNetwork | null> = {};
        for (const [nk, nv] of Object.entries(toKeyValueMap(v))) n[nk] = (nv ?? null) as ServiceNetwork | null;
        s.networks = n;
        break;
      }
      case 'logging': {
        const l = { ...(v as Mapping) };
        if (l.options !== undefined) l.options = stringMap(l.options);
        s.logging = l;
        break;
      }
      default: s[k] = v;
    }
  }
  if (raw.labels === undefined && raw.label_file !== undefined) s.labels = labelFiles(raw.label_file, ctx);
  if (!ctx.noNormalize) implicitDependencies(raw, s);
  const deploy = isMapping(raw.deploy) ? raw.deploy : undefined;
  if (raw.scale !== undefined && deploy?.replicas !== undefined && Number(raw.scale) !== Number(deploy.replicas)) {
    throw new ComposeError(`services.${name}: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project`);
  }
  const scale = raw.scale ?? deploy?.replicas;
  if (scale !== undefined) s.scale = Number(scale);
  // No networks (or an empty list) and no network_mode: the project's default network.
  if (!ctx.noNormalize && !raw.network_mode && (s.networks === undefined || Object.keys(s.networks as Mapping).length === 0)) s.networks = { default: null };
  return {
    ...s,
    name,
    environment,
    ports: (s.ports as PortConfig[] | undefined) ?? [],
    volumes: (s.volumes as ServiceVolume[] | undefined) ?? [],
    networks: (s.networks as Record<string, ServiceNetwork | null> | undefined) ?? {},
    depends_on: (s.depends_on as Record<string, DependsOn> | undefined) ?? {},
    labels: (s.labels as Record<string, string> | undefined) ?? {},
  } as Service;
}
