// Registry credentials kept as the docker CLI keeps them: config.json in
// $DOCKER_CONFIG (or --config, or ~/.docker) with `auths[server].auth` =
// base64("user:password"), or — when `credHelpers[host]` or `credsStore`
// names one — in a `docker-credential-<name>` helper spoken to over
// stdin/stdout (store / get / erase / list). Docker Hub's key is
// https://index.docker.io/v1/; other registries are keyed by host[:port].
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';
import { CliError } from './context.ts';

export const DEFAULT_SERVER = 'https://index.docker.io/v1/';
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', DEFAULT_SERVER, 'https://index.docker.io/v1', 'https://registry-1.docker.io']);

export interface Credential {
  username: string;
  password: string;
  /** An identity (refresh) token instead of a password; the username is then `<token>`. */
  identitytoken?: string;
}

interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  username?: string;
  password?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** The client config directory: --config, then $DOCKER_CONFIG, then ~/.docker. */
export function configDir(flag?: string): string {
  return flag ?? process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
}

/** The key credentials are kept under: Docker Hub's URL, or the host[:port] of a server address. */
export function serverKey(server: string | undefined): string {
  if (!server || HUB_NAMES.has(server)) return DEFAULT_SERVER;
  return server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

function hostOf(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

function readConfig(dir: string): ConfigFile {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as ConfigFile) : {};
  } catch (err) {
    throw new CliError(`loading config file ${path}: ${(err as Error).message}`, 1);
  }
}

/** config.json's `detachKeys`: the sequence attach, run and exec use when no --detach-keys is given. */
export function configuredDetachKeys(dir: string): string | undefined {
  const v = readConfig(dir).detachKeys;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function writeConfig(dir: string, cfg: ConfigFile): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomicSync(join(dir, 'config.json'), JSON.stringify(cfg, null, '\t') + '\n', 0o600);
}

function helperFor(cfg: ConfigFile, key: string): string | undefined {
  return cfg.credHelpers?.[hostOf(key)] ?? cfg.credHelpers?.[key] ?? (cfg.credsStore || undefined);
}

/** One exchange with docker-credential-<name>: `input` on stdin, the answer on stdout. */
function callHelper(name: string, action: 'store' | 'get' | 'erase' | 'list', input: string): { ok: boolean; out: string } {
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(`docker-credential-${name}`, [action], { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`error getting credentials - err: exec: "docker-credential-${name}": executable file not found in $PATH, out: \`\``, 1);
    throw new CliError(`docker-credential-${name} ${action}: ${r.error.message}`, 1);
  }
  return { ok: r.status === 0, out: (r.stdout ?? '').trim() || (r.stderr ?? '').trim() };
}

function isNotFound(out: string): boolean {
  return /credentials not found/i.test(out);
}

function decodeAuth(entry: AuthEntry): Credential | undefined {
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) return undefined;
    return { username: plain.slice(0, i), password: plain.slice(i + 1), identitytoken: entry.identitytoken };
  }
  if (entry.username !== undefined) return { username: entry.username, password: entry.password ?? '', identitytoken: entry.identitytoken };
  if (entry.identitytoken) return { username: '<token>', password: '', identitytoken: entry.identitytoken };
  return undefined;
}

/** The stored credential for a server (any spelling of it), if any. */
export function getCredential(dir: string, server: string | undefined): Credential | undefined {
  const key = serverKey(server);
  const cfg = readConfig(dir);
  const helper = helperFor(cfg, key);
  if (helper) {
    const { ok, out } = callHelper(helper, 'get', key);
    if (!ok) {
      if (isNotFound(out)) return undefined;
      throw new CliError(`error getting credentials - err: exit status 1, out: \`${out}\``, 1);
    }
    const v = JSON.parse(out) as { Username?: string; Secret?: string };
    if (!v.Username && !v.Secret) return undefined;
    // Docker's convention: a username of <token> means the secret is an identity token.
    if (v.Username === '<token>') return { username: '<token>', password: '', identitytoken: v.Secret ?? '' };
    return { username: v.Username ?? '', password: v.Secret ?? '' };
  }
  const auths = cfg.auths ?? {};
  const entry = auths[key] ?? Object.entries(auths).find(([k]) => hostOf(k) === hostOf(key) || (key === DEFAULT_SERVER && HUB_NAMES.has(k)))?.[1];
  return entry ? decodeAuth(entry) : undefined;
}

/** Stores a credential in the helper (with an empty `auths` entry, as the docker CLI leaves) or in config.json. */
export function storeCredential(dir: string, server: string | undefined, c: Credential): void {
  const key = serverKey(server);
  const cfg = readConfig(dir);
  const helper = helperFor(cfg, key);
  cfg.auths ??= {};
  if (helper) {
    const { ok, out } = callHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: c.username, Secret: c.identitytoken ?? c.password }));
    if (!ok) throw new CliError(`error storing credentials - err: exit status 1, out: \`${out}\``, 1);
    cfg.auths[key] = {};
  } else {
    const entry: AuthEntry = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
    if (c.identitytoken) entry.identitytoken = c.identitytoken;
    cfg.auths[key] = entry;
  }
  writeConfig(dir, cfg);
}

/** Removes a server's credential; false when there was none. */
export function eraseCredential(dir: string, server: string | undefined): boolean {
  const key = serverKey(server);
  const cfg = readConfig(dir);
  const helper = helperFor(cfg, key);
  let found = false;
  if (helper) {
    const { ok, out } = callHelper(helper, 'erase', key);
    if (ok) found = true;
    else if (!isNotFound(out)) throw new CliError(`error erasing credentials - err: exit status 1, out: \`${out}\``, 1);
  }
  const auths = cfg.auths ?? {};
  for (const k of Object.keys(auths)) {
    if (k === key || hostOf(k) === hostOf(key)) {
      delete auths[k];
      found = true;
    }
  }
  if (found) writeConfig(dir, cfg);
  return found;
}

/**
 * The X-Registry-Auth header (base64url JSON) for a registry domain as
 * references name it (`docker.io`, `localhost:5000`), or undefined.
 */
export function registryAuthHeader(domain: string, dir = configDir()): string | undefined {
  let c: Credential | undefined;
  try {
    c = getCredential(dir, domain === 'docker.io' ? DEFAULT_SERVER : domain);
  } catch {
    return undefined;
  }
  if (!c) return undefined;
  const json = c.identitytoken
    ? { identitytoken: c.identitytoken, serveraddress: domain }
    : { username: c.username, password: c.password, serveraddress: domain };
  return Buffer.from(JSON.stringify(json)).toString('base64url');
}
