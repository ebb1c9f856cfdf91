// The little of the distribution API content trust needs, spoken from the
// client (the daemon stays unaware of signatures): manifests, a blob upload,
// the referrers API and its fallback tag. HTTPS to every registry, trusting
// the system CAs and the certs.d layout (CAs, client certificate); plain HTTP
// to loopback only, as the daemon's own default. The daemon's
// --insecure-registry list is not applied (the docker CLI's Notary client
// ignored it too; ADR 0008). Basic or Bearer auth with the
// credentials `login` stored.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { distDir } from '../dist-dir.ts';
import type { Dispatcher, request as undiciRequest } from 'undici';
import { DEFAULT_CERTS_DIRS, readCertsD, tlsOptions } from '../files/certs-d.ts';
import { NotFoundError, TooLargeError, UnavailableError } from '../errors.ts';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, type Descriptor } from '../api/oci.ts';
import { isLoopbackAddress } from '../api/address.ts';

export interface RegistryCredential {
  username: string;
  password: string;
}

export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');

export function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** Node's codes for a server certificate no trusted CA signed: Go's "x509: certificate signed by unknown authority". */
const UNKNOWN_CA = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED']);
/** Other certificate failures, named in Node's words. */
const BAD_CERT = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID']);

interface Undici {
  request: typeof undiciRequest;
  dispatcher: Dispatcher;
}

/**
 * undici, loaded when first needed. A CLI started from its snapshot has no
 * import() and a require() of built-ins only, so it requires the package
 * from the node_modules beside dist/ (the snapshot's build leaves it out);
 * elsewhere (the daemon's bundle, tests) import() serves.
 */
function loadUndici(): Promise<typeof import('undici')> {
  // In the daemon's bundle undici is a chunk of its own (nothing imports it
  // statically), which exports the CommonJS module as its default.
  if (!process.execArgv.some((a) => a.startsWith('--snapshot-blob'))) return import('undici').then((m: typeof import('undici') & { default?: typeof import('undici') }) => m.default ?? m);
  const { createRequire } = process.getBuiltinModule('node:module');
  return Promise.resolve(createRequire(join(distDir(), 'cli-snapshot.cjs'))('undici') as typeof import('undici'));
}

export class RegistryClient {
  private token?: string;
  private readonly base: string;
  private readonly host: string;
  private readonly certsDirs: string[];
  private undici?: Promise<Undici>;

  readonly domain: string;
  private readonly cred?: RegistryCredential;

  constructor(domain: string, cred?: RegistryCredential, o: { certsDirs?: string[] } = {}) {
    this.domain = domain;
    this.cred = cred;
    this.host = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
    this.base = `${isLoopbackAddress(this.host) ? 'http' : 'https'}://${this.host}`;
    this.certsDirs = o.certsDirs ?? DEFAULT_CERTS_DIRS;
  }

  /**
   * undici with this registry's TLS material, following redirects (blobs
   * are often served from elsewhere). Its request API, not fetch: fetch
   * refuses the "bad ports" of browsers (6000, 10080, ...), where a registry
   * may well listen. Loaded on first use: the CLI's startup snapshot cannot
   * hold undici's HTTP parser.
   */
  private http(): Promise<Undici> {
    this.undici ??= loadUndici().then((u) => ({
      request: u.request,
      dispatcher: new u.Agent({ connect: tlsOptions(readCertsD(this.certsDirs, this.host)) }).compose(u.interceptors.redirect({ maxRedirections: 5 })),
    }));
    return this.undici;
  }

  /** One exchange, the body read up to `limit` bytes. */
  private async exchange(url: string, method: string, headers: Record<string, string>, body: Buffer | undefined, limit: number, what: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
    const { request, dispatcher } = await this.http();
    let res: Awaited<ReturnType<Undici['request']>>;
    try {
      res = await request(url, { method: method as 'GET', headers, body, dispatcher });
    } catch (err) {
      throw this.unreachable(err as Error);
    }
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    }
    const len = Number(h.get('content-length') ?? '0');
    if (len > limit) {
      res.body.destroy();
      throw new TooLargeError(`${what}: ${len} bytes is over the ${limit} byte limit`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of res.body) {
      total += (c as Buffer).length;
      if (total > limit) {
        res.body.destroy();
        throw new TooLargeError(`${what}: over the ${limit} byte limit`);
      }
      chunks.push(c as Buffer);
    }
    return { status: res.statusCode, headers: h, body: Buffer.concat(chunks) };
  }

  /** A connection failure in words: an unverified certificate says where its CA belongs. */
  private unreachable(err: Error): UnavailableError {
    const cause = (err.cause ?? err) as Error & { code?: string };
    if (cause.code && UNKNOWN_CA.has(cause.code)) {
      return new UnavailableError(`error contacting registry ${this.domain}: tls: failed to verify certificate: x509: certificate signed by unknown authority (${cause.code}); put the registry's CA in ${this.certsDirs.map((d) => `${d}/${this.host}/ca.crt`).join(' or ')}`);
    }
    if (cause.code && BAD_CERT.has(cause.code)) return new UnavailableError(`error contacting registry ${this.domain}: tls: failed to verify certificate: ${cause.message}`);
    return new UnavailableError(`error contacting registry ${this.domain}: ${cause.message || err.message}`);
  }

  /** One request, answering a 401 challenge once (Basic, or a Bearer token fetched with the credentials). */
  private async request(method: string, path: string, o: { headers?: Record<string, string>; body?: Buffer; scope: string; limit?: number }): Promise<{ status: number; headers: Headers; body: Buffer }> {
    const limit = o.limit ?? 4 << 20;
    const send = () => this.exchange(this.base + path, method, { ...o.headers, ...(this.token ? { authorization: this.token } : {}) }, o.body, limit, path);
    let res = await send();
    if (res.status === 401 && (await this.authorize(res.headers.get('www-authenticate') ?? '', o.scope))) res = await send();
    return res;
  }

  private async authorize(challenge: string, scope: string): Promise<boolean> {
    const basic = this.cred ? 'Basic ' + Buffer.from(`${this.cred.username}:${this.cred.password}`).toString('base64') : undefined;
    if (/^basic/i.test(challenge)) {
      if (!basic || this.token === basic) return false;
      this.token = basic;
      return true;
    }
    if (!/^bearer/i.test(challenge)) return false;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1].toLowerCase(), m[2]]));
    if (!params.realm) return false;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', scope);
    const res = await this.exchange(url.toString(), 'GET', basic ? { authorization: basic } : {}, undefined, 1 << 20, 'token').catch(() => undefined);
    if (res?.status !== 200) return false;
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse(res.body.toString('utf8')) as typeof body;
    } catch {
      return false;
    }
    const t = body.token ?? body.access_token;
    if (!t) return false;
    this.token = `Bearer ${t}`;
    return true;
  }

  private fail(what: string, status: number, body: Buffer): never {
    let msg = body.toString('utf8').slice(0, 300);
    try {
      const e = (JSON.parse(msg) as { errors?: { message?: string }[] }).errors?.[0]?.message;
      if (e) msg = e;
    } catch { /* not JSON */ }
    if (status === 404) throw new NotFoundError(`${what}: not found`);
    throw new UnavailableError(`${what}: ${status} ${msg}`);
  }

  /** The manifest a tag or digest names, checked against its digest when asked by digest; undefined when there is none. */
  async manifest(repo: string, ref: string, limit?: number): Promise<Manifest | undefined> {
    const r = await this.request('GET', `/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT }, scope: `repository:${repo}:pull`, limit });
    if (r.status === 404) return undefined;
    if (r.status !== 200) this.fail(`manifest ${repo}:${ref}`, r.status, r.body);
    const digest = sha256(r.body);
    if (ref.startsWith('sha256:') && ref !== digest) throw new UnavailableError(`manifest ${repo}@${ref}: content does not match its digest`);
    return { digest, mediaType: r.headers.get('content-type') ?? '', bytes: r.body };
  }

  async blob(repo: string, digest: string, limit: number): Promise<Buffer> {
    const r = await this.request('GET', `/v2/${repo}/blobs/${digest}`, { scope: `repository:${repo}:pull`, limit });
    if (r.status !== 200) this.fail(`blob ${digest}`, r.status, r.body);
    if (sha256(r.body) !== digest) throw new UnavailableError(`blob ${digest}: content does not match its digest`);
    return r.body;
  }

  async putBlob(repo: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const scope = `repository:${repo}:pull,push`;
    const head = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scope });
    if (head.status === 200) return digest;
    const r = await this.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { scope, body: data, headers: { 'content-type': 'application/octet-stream' } });
    if (r.status === 201) return digest;
    if (r.status !== 202) this.fail(`blob upload to ${repo}`, r.status, r.body);
    // The registry wants a session: PUT the whole blob to it.
    const loc = new URL(r.headers.get('location') ?? '', this.base + '/');
    loc.searchParams.set('digest', digest);
    const p = await this.request('PUT', loc.pathname + loc.search, { scope, body: data, headers: { 'content-type': 'application/octet-stream' } });
    if (p.status !== 201) this.fail(`blob upload to ${repo}`, p.status, p.body);
    return digest;
  }

  /** PUTs a manifest; returns its digest and whether the registry took its subject (OCI-Subject). */
  async putManifest(repo: string, ref: string, mediaType: string, bytes: Buffer): Promise<{ digest: string; subjectTaken: boolean }> {
    const r = await this.request('PUT', `/v2/${repo}/manifests/${ref}`, { scope: `repository:${repo}:pull,push`, body: bytes, headers: { 'content-type': mediaType } });
    if (r.status !== 201) this.fail(`manifest ${repo}:${ref}`, r.status, r.body);
    return { digest: sha256(bytes), subjectTaken: r.headers.has('oci-subject') };
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const r = await this.request('DELETE', `/v2/${repo}/manifests/${digest}`, { scope: `repository:${repo}:pull,push,delete`, });
    if (r.status !== 202 && r.status !== 200 && r.status !== 404) this.fail(`deleting ${repo}@${digest}`, r.status, r.body);
  }

  async tags(repo: string): Promise<string[]> {
    const r = await this.request('GET', `/v2/${repo}/tags/list`, { scope: `repository:${repo}:pull` });
    if (r.status === 404) return [];
    if (r.status !== 200) this.fail(`tags of ${repo}`, r.status, r.body);
    return (JSON.parse(r.body.toString('utf8')) as { tags?: string[] | null }).tags ?? [];
  }

  /**
   * The referrers of `digest` with `artifactType`: the referrers API, or on a
   * registry without it the OCI 1.1 fallback tag `sha256-<hex>`.
   */
  async referrers(repo: string, digest: string, artifactType: string): Promise<Descriptor[]> {
    const r = await this.request('GET', `/v2/${repo}/referrers/${digest}?artifactType=${encodeURIComponent(artifactType)}`, { scope: `repository:${repo}:pull` });
    let index: { manifests?: Descriptor[] };
    if (r.status === 200) index = JSON.parse(r.body.toString('utf8')) as { manifests?: Descriptor[] };
    else if (r.status === 404) {
      const fallback = await this.manifest(repo, fallbackTag(digest));
      if (!fallback) return [];
      index = JSON.parse(fallback.bytes.toString('utf8')) as { manifests?: Descriptor[] };
    } else this.fail(`referrers of ${repo}@${digest}`, r.status, r.body);
    return (index.manifests ?? []).filter((d) => d.artifactType === artifactType);
  }

  /** Adds or removes `desc` in the fallback tag's index (for registries without the referrers API). */
  async updateFallback(repo: string, subject: string, change: { add?: Descriptor; remove?: string }): Promise<void> {
    const tag = fallbackTag(subject);
    const cur = await this.manifest(repo, tag);
    const manifests = cur ? ((JSON.parse(cur.bytes.toString('utf8')) as { manifests?: Descriptor[] }).manifests ?? []) : [];
    const next = manifests.filter((d) => d.digest !== change.add?.digest && d.digest !== change.remove);
    if (change.add) next.push(change.add);
    await this.putManifest(repo, tag, OCI_INDEX, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: next })));
  }
}



export function fallbackTag(digest: string): string {
  return digest.replace(':', '-');
}
