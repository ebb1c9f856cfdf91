// Daemon configuration: dockerd's flag names and daemon.json keys, merged as
// dockerd merges them (a key set in both places is an error).
import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { distDir } from '../dist-dir.ts';
import type { NetworkOptions } from '../network/service.ts';
import { RemapError, setupRemappedRoot, type UsernsRemap } from './userns-remap.ts';

export interface TlsOptions {
  verify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  defaultRuntime: string;
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  tls?: TlsOptions;
  /** `--tls=false` given explicitly: allows plain TCP, loudly. */
  tlsExplicitlyDisabled: boolean;
  logDriver: string;
  logOpts: Record<string, string>;
  /** Name of this daemon's cgroup parent, derived so several daemons never share one. */
  cgroupParent: string;
  shimPath: string;
  initPath: string;
  debug: boolean;
  /** insecure-registries, registry-mirrors, and the certs.d roots (registry TLS). */
  registries: { insecure: string[]; mirrors: string[]; certsDirs: string[]; trustPolicy?: string };
  network: NetworkOptions;
  /** userns-remap: containers' root mapped to an unprivileged range (ADR 0005). */
  usernsRemap?: UsernsRemap;
  /** The helper that mounts the idmapped view of the layers for it. */
  idmapPath: string;
  /** --ui: a loopback HOST:PORT where the daemon also serves the web dashboard (docs/dashboard.md). */
  ui?: string;
}

export const DEFAULT_SOCKET = '/run/berth.sock';
export const DEFAULT_DATA_ROOT = '/var/lib/berth';
export const DEFAULT_EXEC_ROOT = '/run/berth';

/** Flags as dockerd spells them, mapped to daemon.json keys. */
const FLAG_KEYS: Record<string, string> = {
  '-H': 'hosts', '--host': 'hosts', '--data-root': 'data-root', '--exec-root': 'exec-root', '-p': 'pidfile',
  '--pidfile': 'pidfile', '--log-level': 'log-level', '-l': 'log-level', '--default-runtime': 'default-runtime',
  '--add-runtime': 'runtimes', '--tlscacert': 'tlscacert', '--tlscert': 'tlscert', '--tlskey': 'tlskey',
  '--tlsverify': 'tlsverify', '--tls': 'tls', '--log-driver': 'log-driver', '--log-opt': 'log-opts',
  '--cgroup-parent': 'cgroup-parent', '-D': 'debug', '--debug': 'debug', '--config-file': 'config-file',
  '--bip': 'bip', '--fixed-cidr': 'fixed-cidr', '-b': 'bridge', '--bridge': 'bridge', '--iptables': 'iptables', '--icc': 'icc',
  '--default-address-pool': 'default-address-pools',
  '--userns-remap': 'userns-remap',
  '--insecure-registry': 'insecure-registries', '--registry-mirror': 'registry-mirrors', '--registry-certs-dir': 'registry-certs-dir',
  '--trust-policy': 'trust-policy',
  '--ui': 'ui',
};
const BOOL_FLAGS = new Set(['--tlsverify', '--tls', '-D', '--debug', '--iptables', '--icc']);
const MULTI_KEYS = new Set(['hosts', 'runtimes', 'log-opts', 'default-address-pools', 'insecure-registries', 'registry-mirrors']);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, unknown>;

export function parseDaemonFlags(argv: string[]): Raw {
  const out: Raw = {};
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const key = FLAG_KEYS[arg];
    if (!key) throw new ConfigError(`unknown flag: ${arg}`);
    if (BOOL_FLAGS.has(arg)) {
      out[key] = value === undefined ? true : value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag needs an argument: ${arg}`);
    }
    if (MULTI_KEYS.has(key)) {
      const list = (out[key] as string[] | undefined) ?? [];
      list.push(value);
      out[key] = list;
    } else {
      out[key] = value;
    }
  }
  return out;
}

function thisDir(): string {
  return distDir();
}

/** Finds a helper binary next to the bundle (dist/), or in the source tree's dist/. */
function helperPath(name: string): string {
  for (const p of [join(thisDir(), name), join(thisDir(), '../../dist', name)]) if (existsSync(p)) return p;
  return join(thisDir(), name);
}

function which(bin: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(d, bin);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function loadDaemonConfig(argv: string[]): DaemonConfig {
  const flags = parseDaemonFlags(argv);
  const configFile = (flags['config-file'] as string | undefined) ?? '/etc/berth/daemon.json';
  let file: Raw = {};
  if (existsSync(configFile)) {
    try {
      file = JSON.parse(readFileSync(configFile, 'utf8')) as Raw;
    } catch (err) {
      throw new ConfigError(`unable to configure the daemon with file ${configFile}: ${(err as Error).message}`);
    }
  } else if (flags['config-file'] !== undefined) {
    throw new ConfigError(`unable to configure the daemon with file ${configFile}: open ${configFile}: no such file or directory`);
  }
  const conflicts = Object.keys(flags).filter((k) => k !== 'config-file' && k in file);
  if (conflicts.length > 0) {
    throw new ConfigError(`the following directives are specified both as a flag and in the configuration file: ${conflicts.map((k) => `${k}: (from flag: ${JSON.stringify(flags[k])}, from file: ${JSON.stringify(file[k])})`).join(', ')}`);
  }
  const raw: Raw = { ...file, ...flags };

  const dataRoot = resolve((raw['data-root'] as string | undefined) ?? DEFAULT_DATA_ROOT);
  const execRoot = resolve((raw['exec-root'] as string | undefined) ?? DEFAULT_EXEC_ROOT);
  const hosts = (raw.hosts as string[] | undefined) ?? [`unix://${DEFAULT_SOCKET}`];

  const runtimes: DaemonConfig['runtimes'] = {};
  for (const name of ['runc', 'crun']) {
    const p = which(name);
    if (p) runtimes[name] = { path: p };
  }
  const fileRuntimes = file.runtimes;
  if (fileRuntimes && typeof fileRuntimes === 'object' && !Array.isArray(fileRuntimes)) {
    for (const [name, v] of Object.entries(fileRuntimes as Record<string, { path: string; runtimeArgs?: string[] }>)) runtimes[name] = v;
  }
  for (const spec of (flags.runtimes as string[] | undefined) ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new ConfigError(`invalid runtime ${spec}: expected NAME=PATH`);
    runtimes[spec.slice(0, eq)] = { path: spec.slice(eq + 1) };
  }
  const defaultRuntime = (raw['default-runtime'] as string | undefined) ?? 'runc';
  if (!runtimes[defaultRuntime]) throw new ConfigError(`default runtime ${defaultRuntime} not found (install runc, or pass --add-runtime)`);

  const logOpts: Record<string, string> = {};
  const lo = raw['log-opts'];
  if (Array.isArray(lo)) {
    for (const kv of lo as string[]) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new ConfigError(`invalid log-opt ${kv}`);
      logOpts[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  } else if (lo && typeof lo === 'object') {
    Object.assign(logOpts, lo);
  }

  const tlsverify = raw.tlsverify === true;
  const tlsFlag = raw.tls;
  const tls: TlsOptions | undefined = tlsverify || tlsFlag === true
    ? { verify: tlsverify, ca: raw.tlscacert as string | undefined, cert: raw.tlscert as string | undefined, key: raw.tlskey as string | undefined }
    : undefined;

  // The default daemon uses the plain name; any other data root gets its own,
  // so two daemons never manage each other's cgroups.
  const cgroupParent = (raw['cgroup-parent'] as string | undefined)
    ?? (dataRoot === DEFAULT_DATA_ROOT ? 'berth' : `berth-${createHash('sha256').update(dataRoot).digest('hex').slice(0, 8)}`);

  const tag = dataRoot === DEFAULT_DATA_ROOT ? '' : createHash('sha256').update(dataRoot).digest('hex').slice(0, 8);
  const network: NetworkOptions = {
    bridgeName: (raw.bridge as string | undefined) ?? (tag ? `berth-${tag}` : 'berth0'),
    chainTag: tag ? `BERTH-${tag}` : 'BERTH',
    bip: raw.bip as string | undefined,
    fixedCidr: raw['fixed-cidr'] as string | undefined,
    defaultPools: addressPools(raw['default-address-pools']),
    iptables: raw.iptables !== false,
    icc: raw.icc !== false,
  };
  if (network.bridgeName.length > 15) throw new ConfigError(`invalid bridge name ${network.bridgeName}: longer than 15 characters`);

  const remapSpec = raw['userns-remap'];
  if (remapSpec !== undefined && typeof remapSpec !== 'string') throw new ConfigError('userns-remap must be a string');
  let usernsRemap: UsernsRemap | undefined;
  try {
    usernsRemap = setupRemappedRoot(remapSpec);
  } catch (err) {
    if (err instanceof RemapError) throw new ConfigError(err.message);
    throw err;
  }

  return {
    network,
    usernsRemap,
    idmapPath: helperPath('berth-idmap'),
    hosts,
    dataRoot,
    execRoot,
    pidfile: resolve((raw.pidfile as string | undefined) ?? (execRoot === DEFAULT_EXEC_ROOT ? '/run/berth.pid' : join(execRoot, 'berth.pid'))),
    logLevel: (raw['log-level'] as DaemonConfig['logLevel'] | undefined) ?? (raw.debug === true ? 'debug' : 'info'),
    defaultRuntime,
    runtimes,
    tls,
    tlsExplicitlyDisabled: tlsFlag === false,
    logDriver: (raw['log-driver'] as string | undefined) ?? 'json-file',
    logOpts,
    cgroupParent,
    shimPath: helperPath('berth-shim'),
    initPath: which('tini-static') ?? '/usr/bin/tini-static',
    debug: raw.debug === true,
    registries: registrySettings(raw),
    ...(typeof raw.ui === 'string' ? { ui: raw.ui } : {}),
  };
}

function stringList(raw: Raw, key: string): string[] {
  const v = raw[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError(`${key} must be a list of strings`);
  return v as string[];
}

/** Registry access: mirrors must be URLs; the certs.d root defaults to berth's, then Docker's. */
function registrySettings(raw: Raw): DaemonConfig['registries'] {
  const mirrors = stringList(raw, 'registry-mirrors');
  for (const m of mirrors) {
    let u: URL | undefined;
    try {
      u = new URL(m);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new ConfigError(`invalid mirror: "${m}" is not a valid URI`);
  }
  const certsDir = raw['registry-certs-dir'];
  if (certsDir !== undefined && typeof certsDir !== 'string') throw new ConfigError('registry-certs-dir must be a path');
  return {
    insecure: stringList(raw, 'insecure-registries'),
    mirrors,
    certsDirs: certsDir ? [resolve(certsDir)] : ['/etc/berth/certs.d', '/etc/docker/certs.d'],
    ...(typeof raw['trust-policy'] === 'string' ? { trustPolicy: resolve(raw['trust-policy']) } : {}),
  };
}

/** default-address-pools from daemon.json ([{base, size}]) or flags (`base=…,size=…`); Docker's defaults otherwise. */
function addressPools(v: unknown): { base: string; size: number }[] {
  if (v === undefined) {
    // Docker's defaults: 172.17–172.31 as /16s, then 192.168.0.0/16 as /20s.
    return [...Array.from({ length: 15 }, (_, i) => ({ base: `172.${17 + i}.0.0/16`, size: 16 })), { base: '192.168.0.0/16', size: 20 }];
  }
  const list = Array.isArray(v) ? v : [v];
  return list.map((p) => {
    if (typeof p === 'string') {
      const kv = Object.fromEntries(p.split(',').map((x) => x.split('=') as [string, string]));
      p = { base: kv.base, size: Number(kv.size) };
    }
    const o = p as { base?: unknown; size?: unknown };
    if (typeof o.base !== 'string' || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(o.base) || typeof o.size !== 'number' || !Number.isInteger(o.size) || o.size < 1 || o.size > 30) {
      throw new ConfigError(`invalid default-address-pools entry ${JSON.stringify(p)}: want {"base": "a.b.c.d/n", "size": m}`);
    }
    return { base: o.base, size: o.size };
  });
}
