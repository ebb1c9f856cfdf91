// Reads the CNCF distribution registry's YAML configuration (the parts that
// apply to berth) so an existing registry's config.yml works unchanged, plus a
// few berth extensions, each marked below. Unknown sections (notifications,
// redis, health, ...) are ignored, as they do not change what a client sees.
import { readFile } from 'node:fs/promises';
import { isAbsolute, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isLoopbackAddress } from '../api/address.ts';

export const DEFAULT_ROOT = '/var/lib/berth-registry';
export const DEFAULT_ADDR = '127.0.0.1:5000';
/** The spec asks registries to accept manifests of at least 4 MB. */
export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

export interface AccessRule {
  /** Glob over repository names: "*" stays inside one path component, "**" crosses them. */
  match: string;
  anonymous: Action[];
  users: Record<string, Action[]>;
  teams: Record<string, Action[]>;
}

/** berth extension: who may do what, per repository. */
export interface AccessConfig {
  admins: string[];
  teams: Record<string, string[]>;
  repositories: AccessRule[];
}

export interface TokenConfig {
  realm?: string;
  service: string;
  issuer: string;
  /** PEM certificates (or public keys) whose keys sign tokens we accept. */
  rootCertBundle?: string;
  /** berth extension: PEM private key (EC P-256 for ES256, RSA for RS256) for the built-in token service. */
  signingKey?: string;
  /** berth extension: htpasswd file of the users the built-in token service authenticates. */
  htpasswd?: string;
  /** berth extension: token lifetime in seconds. */
  expiration: number;
  /** berth extension: allowed clock skew in seconds when checking exp/nbf. */
  leeway: number;
  autoRedirect: boolean;
}

export interface RegistryConfig {
  /** Where the config was read from, for messages; undefined for defaults. */
  source?: string;
  storage: {
    rootDirectory: string;
    deleteEnabled: boolean;
    readOnly: boolean;
    uploadPurging: { enabled: boolean; ageMs: number; intervalMs: number };
    /** berth extension (storage.maxmanifestsize): largest manifest accepted, in bytes. */
    maxManifestBytes: number;
  };
  http: {
    addr: string;
    host: string;
    port: number;
    tls?: { certificate: string; key: string };
    /** berth extension: allow plain HTTP on a non-loopback address. */
    allowInsecure: boolean;
    headers: Record<string, string[]>;
  };
  log: { level: 'debug' | 'info' | 'warn' | 'error'; formatter: 'text' | 'json'; accessLog: boolean };
  auth: {
    htpasswd?: { realm: string; path: string };
    token?: TokenConfig;
  };
  access?: AccessConfig;
  proxy?: { remoteUrl: string; username?: string; password?: string; ttlMs: number };
}

export class ConfigError extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function section(parent: Obj, key: string, where: string): Obj | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new ConfigError(`${where}${key}: expected a mapping`);
  return v;
}

function str(parent: Obj, key: string, where: string): string | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new ConfigError(`${where}${key}: expected a string`);
  return v;
}

function bool(parent: Obj, key: string, where: string, dflt: boolean): boolean {
  const v = parent[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ConfigError(`${where}${key}: expected true or false`);
}

/** Go-style durations ("168h", "1h30m", "300ms"); a bare number means seconds. */
export function parseDuration(v: unknown, what: string): number {
  if (typeof v === 'number') return v * 1000;
  if (typeof v !== 'string') throw new ConfigError(`${what}: expected a duration such as 10m or 168h`);
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < v.length) {
    re.lastIndex = pos;
    const m = re.exec(v);
    if (!m) throw new ConfigError(`${what}: invalid duration ${JSON.stringify(v)}`);
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (v.length === 0) throw new ConfigError(`${what}: empty duration`);
  return total;
}

/** Splits "host:port", ":port" or "[v6]:port". */
export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new ConfigError(`http.addr: expected host:port, got ${JSON.stringify(addr)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`http.addr: port out of range in ${JSON.stringify(addr)}`);
  return { host: m[1] ?? m[2] ?? '', port };
}

function actions(v: unknown, where: string): Action[] {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : undefined;
  if (!list) throw new ConfigError(`${where}: expected a list of actions (pull, push, delete, *)`);
  const out = new Set<Action>();
  for (const raw of list) {
    const a = String(raw).trim();
    if (a === '*') ACTIONS.forEach((x) => out.add(x));
    else if ((ACTIONS as readonly string[]).includes(a)) out.add(a as Action);
    else throw new ConfigError(`${where}: unknown action ${JSON.stringify(a)} (use pull, push, delete or *)`);
  }
  return [...out];
}

function actionMap(v: unknown, where: string): Record<string, Action[]> {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new ConfigError(`${where}: expected a mapping of name to actions`);
  const out: Record<string, Action[]> = {};
  for (const [k, acts] of Object.entries(v)) out[k] = actions(acts, `${where}.${k}`);
  return out;
}

function parseAccess(raw: Obj): AccessConfig {
  const teams: Record<string, string[]> = {};
  const rawTeams = section(raw, 'teams', 'access.');
  for (const [team, members] of Object.entries(rawTeams ?? {})) {
    if (!Array.isArray(members)) throw new ConfigError(`access.teams.${team}: expected a list of user names`);
    teams[team] = members.map(String);
  }
  const admins = raw.admins === undefined ? [] : Array.isArray(raw.admins) ? raw.admins.map(String) : undefined;
  if (!admins) throw new ConfigError('access.admins: expected a list of user names');
  const repos = raw.repositories ?? [];
  if (!Array.isArray(repos)) throw new ConfigError('access.repositories: expected a list of rules');
  const repositories = repos.map((r: unknown, i: number): AccessRule => {
    const where = `access.repositories[${i}]`;
    if (!isObj(r) || typeof r.match !== 'string') throw new ConfigError(`${where}: each rule needs a "match" glob`);
    return {
      match: r.match,
      anonymous: r.anonymous === undefined ? [] : actions(r.anonymous, `${where}.anonymous`),
      users: actionMap(r.users, `${where}.users`),
      teams: actionMap(r.teams, `${where}.teams`),
    };
  });
  return { admins, teams, repositories };
}

function resolvePath(p: string, base: string | undefined): string {
  return isAbsolute(p) || !base ? p : resolve(dirname(base), p);
}

/** Builds a config from parsed YAML (an empty object gives the defaults). */
export function buildConfig(doc: unknown, source?: string): RegistryConfig {
  if (doc === null || doc === undefined) doc = {};
  if (!isObj(doc)) throw new ConfigError('the configuration must be a YAML mapping');
  const p = (x: string): string => resolvePath(x, source);

  // storage: exactly one driver, and it must be filesystem.
  const storage = section(doc, 'storage', '') ?? {};
  let rootDirectory = DEFAULT_ROOT;
  for (const driver of Object.keys(storage)) {
    if (['delete', 'maintenance', 'cache', 'redirect', 'tag', 'maxmanifestsize'].includes(driver)) continue;
    if (driver !== 'filesystem') throw new ConfigError(`storage.${driver}: only the filesystem storage driver is supported`);
  }
  const fsSection = section(storage, 'filesystem', 'storage.');
  if (fsSection) rootDirectory = p(str(fsSection, 'rootdirectory', 'storage.filesystem.') ?? DEFAULT_ROOT);
  const del = section(storage, 'delete', 'storage.') ?? {};
  const maint = section(storage, 'maintenance', 'storage.') ?? {};
  const readonly = section(maint, 'readonly', 'storage.maintenance.') ?? {};
  const purging = section(maint, 'uploadpurging', 'storage.maintenance.') ?? {};
  const maxManifest = storage.maxmanifestsize;
  if (maxManifest !== undefined && (typeof maxManifest !== 'number' || maxManifest < 1024)) {
    throw new ConfigError('storage.maxmanifestsize: expected a number of bytes (at least 1024)');
  }

  // http
  const http = section(doc, 'http', '') ?? {};
  const net = str(http, 'net', 'http.');
  if (net && net !== 'tcp') throw new ConfigError(`http.net: only tcp is supported, not ${net}`);
  const addr = str(http, 'addr', 'http.') ?? DEFAULT_ADDR;
  const { host, port } = splitAddr(addr);
  const tlsRaw = section(http, 'tls', 'http.');
  let tls: RegistryConfig['http']['tls'];
  if (tlsRaw) {
    const certificate = str(tlsRaw, 'certificate', 'http.tls.');
    const key = str(tlsRaw, 'key', 'http.tls.');
    if (certificate || key) {
      if (!certificate || !key) throw new ConfigError('http.tls: both certificate and key are required');
      tls = { certificate: p(certificate), key: p(key) };
    }
  }
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(section(http, 'headers', 'http.') ?? {})) {
    headers[k] = Array.isArray(v) ? v.map(String) : [String(v)];
  }

  // log
  const log = section(doc, 'log', '') ?? {};
  const level = (str(log, 'level', 'log.') ?? 'info').toLowerCase();
  const levelMap: Record<string, RegistryConfig['log']['level']> = {
    debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'error', panic: 'error',
  };
  if (!levelMap[level]) throw new ConfigError(`log.level: unknown level ${JSON.stringify(level)}`);
  const formatter = str(log, 'formatter', 'log.') ?? 'text';
  if (formatter !== 'text' && formatter !== 'json' && formatter !== 'logstash') {
    throw new ConfigError(`log.formatter: expected text or json, got ${JSON.stringify(formatter)}`);
  }
  const accessLog = section(log, 'accesslog', 'log.') ?? {};

  // auth: like distribution, at most one provider.
  const auth = section(doc, 'auth', '') ?? {};
  const providers = Object.keys(auth).filter((k) => auth[k] !== null && auth[k] !== undefined);
  if (providers.length > 1) throw new ConfigError(`auth: configure only one of ${providers.join(', ')}`);
  const out: RegistryConfig['auth'] = {};
  if (providers[0] && providers[0] !== 'htpasswd' && providers[0] !== 'token') {
    throw new ConfigError(`auth.${providers[0]}: unsupported auth provider (use htpasswd or token)`);
  }
  const ht = section(auth, 'htpasswd', 'auth.');
  if (ht) {
    const path = str(ht, 'path', 'auth.htpasswd.');
    if (!path) throw new ConfigError('auth.htpasswd.path is required');
    out.htpasswd = { realm: str(ht, 'realm', 'auth.htpasswd.') ?? 'berth-registry', path: p(path) };
  }
  const tok = section(auth, 'token', 'auth.');
  if (tok) {
    const w = 'auth.token.';
    const service = str(tok, 'service', w);
    const issuer = str(tok, 'issuer', w);
    if (!service || !issuer) throw new ConfigError('auth.token: service and issuer are required');
    const rootCertBundle = str(tok, 'rootcertbundle', w);
    const signingKey = str(tok, 'signingkey', w);
    if (!rootCertBundle && !signingKey) {
      throw new ConfigError('auth.token: set rootcertbundle (to verify tokens) and/or signingkey (to issue them)');
    }
    const realm = str(tok, 'realm', w);
    const autoRedirect = bool(tok, 'autoredirect', w, false);
    if (!realm && !signingKey && !autoRedirect) throw new ConfigError('auth.token.realm is required');
    const htpasswd = str(tok, 'htpasswd', w);
    out.token = {
      realm,
      service,
      issuer,
      rootCertBundle: rootCertBundle ? p(rootCertBundle) : undefined,
      signingKey: signingKey ? p(signingKey) : undefined,
      htpasswd: htpasswd ? p(htpasswd) : undefined,
      expiration: tok.expiration === undefined ? 300 : parseDuration(tok.expiration, `${w}expiration`) / 1000,
      leeway: tok.leeway === undefined ? 0 : parseDuration(tok.leeway, `${w}leeway`) / 1000,
      autoRedirect,
    };
  }

  const accessRaw = section(doc, 'access', '');
  const proxyRaw = section(doc, 'proxy', '');
  let proxy: RegistryConfig['proxy'];
  if (proxyRaw) {
    const remoteUrl = str(proxyRaw, 'remoteurl', 'proxy.');
    if (!remoteUrl) throw new ConfigError('proxy.remoteurl is required');
    let u: URL;
    try {
      u = new URL(remoteUrl);
    } catch {
      throw new ConfigError(`proxy.remoteurl: not a URL: ${JSON.stringify(remoteUrl)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError('proxy.remoteurl must be http or https');
    // Credentials in the URL ("https://user:pw@host") become proxy.username/password,
    // so the URL itself (which is logged) never carries them.
    let username = str(proxyRaw, 'username', 'proxy.');
    let password = str(proxyRaw, 'password', 'proxy.');
    if (u.username || u.password) {
      username ??= decodeURIComponent(u.username);
      password ??= decodeURIComponent(u.password);
      u.username = '';
      u.password = '';
    }
    proxy = {
      remoteUrl: u.toString().replace(/\/+$/, ''),
      username,
      password,
      ttlMs: proxyRaw.ttl === undefined ? 168 * 3_600_000 : parseDuration(proxyRaw.ttl, 'proxy.ttl'),
    };
  }

  return {
    source,
    storage: {
      rootDirectory,
      deleteEnabled: bool(del, 'enabled', 'storage.delete.', false),
      readOnly: bool(readonly, 'enabled', 'storage.maintenance.readonly.', false),
      uploadPurging: {
        enabled: bool(purging, 'enabled', 'storage.maintenance.uploadpurging.', true),
        ageMs: purging.age === undefined ? 168 * 3_600_000 : parseDuration(purging.age, 'storage.maintenance.uploadpurging.age'),
        intervalMs: purging.interval === undefined ? 24 * 3_600_000 : parseDuration(purging.interval, 'storage.maintenance.uploadpurging.interval'),
      },
      maxManifestBytes: typeof maxManifest === 'number' ? maxManifest : DEFAULT_MAX_MANIFEST_BYTES,
    },
    http: {
      addr,
      host,
      port,
      tls,
      allowInsecure: bool(http, 'allowinsecure', 'http.', false),
      headers,
    },
    log: {
      level: levelMap[level],
      formatter: formatter === 'text' ? 'text' : 'json',
      accessLog: !bool(accessLog, 'disabled', 'log.accesslog.', false),
    },
    auth: out,
    access: accessRaw ? parseAccess(accessRaw) : undefined,
    proxy,
  };
}

export async function loadConfig(path?: string): Promise<RegistryConfig> {
  if (!path) return buildConfig({});
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: invalid YAML: ${(err as Error).message}`);
  }
  try {
    return buildConfig(doc, resolve(path));
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${path}: ${err.message}`);
    throw err;
  }
}

/**
 * Plain HTTP is only served on loopback unless the config opts in; returns a
 * message explaining the refusal, or undefined when the address is fine.
 */
export function insecureListenProblem(cfg: RegistryConfig): string | undefined {
  if (cfg.http.tls || cfg.http.allowInsecure || isLoopbackAddress(cfg.http.host)) return undefined;
  const shown = cfg.http.host === '' ? `all interfaces (${cfg.http.addr})` : cfg.http.addr;
  return `refusing to serve plain HTTP on ${shown}: credentials and images would cross the network unencrypted. ` +
    'Configure http.tls.certificate and http.tls.key, listen on a loopback address such as 127.0.0.1:5000, ' +
    'or set "http.allowinsecure: true" (or pass --allow-insecure-http) to accept the risk.';
}
