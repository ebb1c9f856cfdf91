// The docker CLI's context store, byte-compatible with it: one directory per
// context under contexts/meta/<sha256 of the name>/meta.json, its TLS
// material under contexts/tls/<same id>/docker/, and the current context in
// config.json. A context written here is one `docker context` reads, and back.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';
import { TAR_END, ustarHeader } from '../files/tar-format.ts';
import { CliError } from './context.ts';

export interface DockerEndpointMeta { Host?: string; SkipTLSVerify?: boolean }

export interface ContextMetadata {
  Name: string;
  Metadata: { Description?: string; [k: string]: unknown };
  Endpoints: { docker?: DockerEndpointMeta; [k: string]: unknown };
}

/** TLS files of an endpoint, by file name (ca.pem, cert.pem, key.pem). */
export type TlsMaterial = Record<string, Buffer>;

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;
export const DEFAULT_DESCRIPTION = 'Current DOCKER_HOST based configuration';

/** --config, then $DOCKER_CONFIG, then ~/.docker. */
export function configDir(flag?: string): string {
  return flag ?? process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
}

export function contextId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export function checkName(name: string): void {
  if (name === 'default') throw new CliError('"default" is a reserved context name', 1);
  if (!NAME.test(name)) throw new CliError(`context name "${name}" is invalid, names are validated against regexp "${NAME.source}"`, 1);
}

export class ContextStore {
  readonly dir: string;

  constructor(configFlag?: string) {
    this.dir = configDir(configFlag);
  }

  metaPath(name: string): string {
    return join(this.dir, 'contexts', 'meta', contextId(name));
  }

  tlsPath(name: string): string {
    return join(this.dir, 'contexts', 'tls', contextId(name));
  }

  exists(name: string): boolean {
    return existsSync(join(this.metaPath(name), 'meta.json'));
  }

  /** A stored context; the docker CLI's "context not found" when there is none. */
  read(name: string): ContextMetadata {
    const file = join(this.metaPath(name), 'meta.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') throw new CliError(`context "${name}": context not found: open ${file}: no such file or directory`, 1);
      throw new CliError(`context "${name}": ${e.message}`, 1);
    }
    const meta = JSON.parse(text) as Partial<ContextMetadata>;
    return { Name: meta.Name ?? name, Metadata: meta.Metadata ?? {}, Endpoints: meta.Endpoints ?? {} };
  }

  /** Every stored context; one whose meta.json is unreadable is skipped, as docker does. */
  list(): ContextMetadata[] {
    const root = join(this.dir, 'contexts', 'meta');
    let ids: string[];
    try {
      ids = readdirSync(root);
    } catch {
      return [];
    }
    const out: ContextMetadata[] = [];
    for (const id of ids) {
      try {
        const meta = JSON.parse(readFileSync(join(root, id, 'meta.json'), 'utf8')) as ContextMetadata;
        if (typeof meta.Name === 'string') out.push({ Name: meta.Name, Metadata: meta.Metadata ?? {}, Endpoints: meta.Endpoints ?? {} });
      } catch {
        // not a context directory
      }
    }
    return out;
  }

  /** The TLS material of each endpoint, by endpoint name. */
  tls(name: string): Record<string, TlsMaterial> {
    const root = this.tlsPath(name);
    const out: Record<string, TlsMaterial> = {};
    let endpoints: string[];
    try {
      endpoints = readdirSync(root);
    } catch {
      return out;
    }
    for (const ep of endpoints.sort()) {
      const files: TlsMaterial = {};
      for (const f of readdirSync(join(root, ep)).sort()) {
        const p = join(root, ep, f);
        if (statSync(p).isFile()) files[f] = readFileSync(p);
      }
      out[ep] = files;
    }
    return out;
  }

  /**
   * Writes a context whole: its TLS material first (replacing any there was),
   * then meta.json atomically, so a crash never leaves a context whose
   * meta.json names material that is not there.
   */
  write(meta: ContextMetadata, tls: Record<string, TlsMaterial>): void {
    const tlsRoot = this.tlsPath(meta.Name);
    rmSync(tlsRoot, { recursive: true, force: true });
    for (const [ep, files] of Object.entries(tls)) {
      if (Object.keys(files).length === 0) continue;
      mkdirSync(join(tlsRoot, ep), { recursive: true, mode: 0o700 });
      for (const [f, data] of Object.entries(files)) writeFileAtomicSync(join(tlsRoot, ep, f), data, 0o600);
    }
    const metaDir = this.metaPath(meta.Name);
    mkdirSync(metaDir, { recursive: true, mode: 0o755 });
    writeFileAtomicSync(join(metaDir, 'meta.json'), JSON.stringify(meta));
  }

  /** Removes meta.json first: a half-removed context is no context. */
  remove(name: string): void {
    rmSync(this.metaPath(name), { recursive: true, force: true });
    rmSync(this.tlsPath(name), { recursive: true, force: true });
  }

  /** config.json's currentContext, or undefined. */
  current(): string | undefined {
    const cfg = this.config();
    return typeof cfg.currentContext === 'string' && cfg.currentContext ? cfg.currentContext : undefined;
  }

  /** Sets (or, for default, removes) currentContext, keeping the rest of config.json. */
  setCurrent(name: string): void {
    const cfg = this.config();
    if (name === 'default') delete cfg.currentContext;
    else cfg.currentContext = name;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomicSync(join(this.dir, 'config.json'), JSON.stringify(cfg, null, '\t'), 0o600);
  }

  private config(): Record<string, unknown> {
    try {
      const cfg = JSON.parse(readFileSync(join(this.dir, 'config.json'), 'utf8')) as unknown;
      return cfg && typeof cfg === 'object' && !Array.isArray(cfg) ? (cfg as Record<string, unknown>) : {};
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new CliError(`loading config file: ${(err as Error).message}`, 1);
    }
  }
}

/** A certificate (ca, cert) or a private key (key) that parses. */
function isPem(kind: string, data: Buffer): boolean {
  try {
    if (kind === 'key') createPrivateKey(data);
    else new X509Certificate(data);
    return true;
  } catch {
    return false;
  }
}

/** The TLS material of a `--docker ca=…,cert=…,key=…` endpoint, checked to be PEM as docker does. */
export function readTlsFiles(paths: { ca?: string; cert?: string; key?: string }): TlsMaterial {
  const out: TlsMaterial = {};
  for (const [k, p] of Object.entries(paths)) {
    if (!p) continue;
    let data: Buffer;
    try {
      data = readFileSync(p);
    } catch (err) {
      throw new CliError(`unable to create docker endpoint config: open ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, 1);
    }
    if (!isPem(k, data)) {
      throw new CliError(`unable to create docker endpoint config: invalid docker endpoint options: failed to retrieve context tls info: ${k}.pem seems invalid`, 1);
    }
    out[`${k}.pem`] = data;
  }
  return out;
}

/** `context export`'s tar: meta.json and tls/<endpoint>/<file>, as the docker CLI writes it. */
export function exportTar(meta: ContextMetadata, tls: Record<string, TlsMaterial>): Buffer {
  const parts: Buffer[] = [];
  const file = (name: string, data: Buffer, mode: number): void => {
    parts.push(ustarHeader({ name, type: 'file', mode, uid: 0, gid: 0, mtime: 0, size: data.length }), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  };
  const dir = (name: string): void => {
    parts.push(ustarHeader({ name, type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime: 0 }));
  };
  file('meta.json', Buffer.from(JSON.stringify(meta)), 0o644);
  dir('tls');
  for (const [ep, files] of Object.entries(tls)) {
    dir(`tls/${ep}`);
    for (const [f, data] of Object.entries(files)) file(`tls/${ep}/${f}`, data, 0o600);
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

const MAX_ENTRY = 1 << 20;

/**
 * Reads an exported context. The tar is hostile: only meta.json and
 * tls/<endpoint>/<file> with plain one-component names are taken, each at
 * most 1 MiB; anything else fails the import before anything is written.
 */
export function importTar(tar: Buffer): { meta: ContextMetadata; tls: Record<string, TlsMaterial> } {
  let meta: ContextMetadata | undefined;
  const tls: Record<string, TlsMaterial> = {};
  const safe = (s: string): boolean => s !== '' && s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0');
  let off = 0;
  // The docker CLI's export ends without tar's two zero blocks: the end of the data ends it too.
  while (off < tar.length) {
    if (off + 512 > tar.length) throw new CliError('unexpected EOF', 1);
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number): string => {
      const s = h.subarray(a, a + n);
      const z = s.indexOf(0);
      return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
    };
    const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? str(345, 155) : '';
    const name = (prefix ? `${prefix}/` : '') + str(0, 100);
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156] || 0x30);
    if (!Number.isFinite(size) || size < 0) throw new CliError('invalid context: bad tar header', 1);
    const data = tar.subarray(off + 512, off + 512 + size);
    if (data.length < size) throw new CliError('unexpected EOF', 1);
    off += 512 + Math.ceil(size / 512) * 512;
    const path = name.replace(/^\.\//, '').replace(/\/$/, '');
    if (type === '5' || type === 'x' || type === 'g') continue;
    if (type !== '0' && type !== '\0') throw new CliError(`invalid context: unexpected entry ${JSON.stringify(name)}`, 1);
    if (size > MAX_ENTRY) throw new CliError(`invalid context: ${name} is too large`, 1);
    if (path === 'meta.json') {
      try {
        meta = JSON.parse(data.toString('utf8')) as ContextMetadata;
      } catch (err) {
        throw new CliError(`invalid context: meta.json: ${(err as Error).message}`, 1);
      }
      continue;
    }
    const parts = path.split('/');
    if (parts.length === 3 && parts[0] === 'tls' && safe(parts[1]) && safe(parts[2])) {
      (tls[parts[1]] ??= {})[parts[2]] = Buffer.from(data);
      continue;
    }
    throw new CliError(`invalid context: unexpected entry ${JSON.stringify(name)}`, 1);
  }
  if (!meta || typeof meta !== 'object') throw new CliError('invalid context: no metadata found', 1);
  return { meta: { Name: meta.Name, Metadata: meta.Metadata ?? {}, Endpoints: meta.Endpoints ?? {} }, tls };
}
