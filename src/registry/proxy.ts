// Pull-through cache (`proxy.remoteurl`): manifests and blobs missing here are
// fetched from the upstream registry, handed to the client and kept. Tags are
// revalidated upstream on every pull (a cheap HEAD) and served from the cache
// when upstream is unreachable. Upstream credentials (proxy.username/password)
// go only to the upstream and its token realm, never into logs.
import { createHash } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { RegistryConfig } from './config.ts';
import { RegistryError, notFoundManifest } from './errors.ts';
import type { Logger } from './log.ts';
import { isTag, parseDigest, type Digest } from './names.ts';
import { MANIFEST_TYPES, bareType } from './manifest.ts';
import type { Storage, StoredManifest } from './storage.ts';
import { tempPath } from './fsutil.ts';
import { basicHeader, parseChallenges } from '../images/distribution/challenge.ts';

type ProxyConfig = NonNullable<RegistryConfig['proxy']>;

const ACCEPT = MANIFEST_TYPES.join(', ');
const MAX_MANIFEST = 4 * 1024 * 1024;

/** A small registry client for the upstream, handling Basic and Bearer challenges. */
export class UpstreamClient {
  private readonly base: string;
  private readonly username?: string;
  private readonly password?: string;
  private readonly tokens = new Map<string, { header: string; until: number }>();
  private basic = false;

  constructor(base: string, username?: string, password?: string) {
    this.base = base;
    this.username = username;
    this.password = password;
  }

  private basicHeader(): string | undefined {
    return basicHeader({ username: this.username, password: this.password });
  }

  async request(method: string, path: string, scope: string, headers: Record<string, string> = {}): Promise<Response> {
    const cached = this.tokens.get(scope);
    const auth = cached && cached.until > Date.now() ? cached.header : this.basic ? this.basicHeader() : undefined;
    let res = await fetch(this.base + path, { method, headers: auth ? { ...headers, Authorization: auth } : headers, redirect: 'follow' });
    if (res.status !== 401) return res;
    const challengeHeader = res.headers.get('www-authenticate');
    if (!challengeHeader) return res;
    await res.body?.cancel();
    const challenge = parseChallenges(challengeHeader)[0];
    let header: string | undefined;
    if (challenge?.scheme === 'basic') {
      this.basic = true;
      header = this.basicHeader();
    } else if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      header = await this.fetchToken(challenge.params.realm, challenge.params.service, scope);
    }
    if (!header) return fetch(this.base + path, { method, headers });
    res = await fetch(this.base + path, { method, headers: { ...headers, Authorization: header }, redirect: 'follow' });
    return res;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<string | undefined> {
    const u = new URL(realm);
    if (service) u.searchParams.set('service', service);
    u.searchParams.set('scope', scope);
    const basic = this.basicHeader();
    const res = await fetch(u, { headers: basic ? { Authorization: basic } : {} });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) return undefined;
    const header = `Bearer ${token}`;
    this.tokens.set(scope, { header, until: Date.now() + Math.max(10, (body.expires_in ?? 60) - 10) * 1000 });
    return header;
  }
}

export class PullThroughProxy {
  private readonly upstream: UpstreamClient;
  private readonly storage: Storage;
  private readonly log: Logger;

  constructor(cfg: ProxyConfig, storage: Storage, log: Logger) {
    this.upstream = new UpstreamClient(cfg.remoteUrl, cfg.username, cfg.password);
    this.storage = storage;
    this.log = log;
  }

  /**
   * The manifest for `ref`, fetched upstream when needed. Returns undefined
   * when the local copy should be served (already cached and current, or
   * upstream unreachable).
   */
  async manifest(repo: string, ref: string): Promise<StoredManifest | undefined> {
    const scope = `repository:${repo}:pull`;
    const path = `/v2/${repo}/manifests/${ref}`;
    const byDigest = parseDigest(ref);
    if (byDigest && (await this.storage.hasManifest(repo, byDigest))) return undefined;
    try {
      if (isTag(ref)) {
        const local = await this.storage.resolveTag(repo, ref);
        if (local) {
          const head = await this.upstream.request('HEAD', path, scope, { Accept: ACCEPT });
          await head.body?.cancel();
          if (head.ok && head.headers.get('docker-content-digest') === local.text) return undefined;
          if (head.status === 404) throw notFoundManifest(ref);
        }
      }
      const res = await this.upstream.request('GET', path, scope, { Accept: ACCEPT });
      if (res.status === 404) {
        await res.body?.cancel();
        throw notFoundManifest(ref);
      }
      if (!res.ok) {
        await res.body?.cancel();
        this.log.warn('upstream manifest fetch failed', { repo, ref, status: res.status });
        return undefined;
      }
      const bytes = Buffer.from(await res.arrayBuffer());
      if (bytes.length > MAX_MANIFEST) throw new RegistryError(502, 'MANIFEST_INVALID', 'upstream manifest too large');
      const algorithm = byDigest?.algorithm ?? 'sha256';
      const d = parseDigest(`${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`) as Digest;
      if (byDigest && byDigest.text !== d.text) throw new RegistryError(502, 'DIGEST_INVALID', 'upstream returned a manifest with the wrong digest');
      const mediaType = bareType(res.headers.get('content-type') ?? undefined) || 'application/vnd.oci.image.manifest.v1+json';
      await this.storage.storeCachedManifest(repo, d, bytes, mediaType, isTag(ref) ? [ref] : []);
      return { digest: d.text, mediaType, bytes };
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      this.log.warn('upstream unreachable, serving from cache', { repo, ref, error: String((err as Error).message) });
      return undefined;
    }
  }

  async tags(repo: string): Promise<string[] | undefined> {
    try {
      const res = await this.upstream.request('GET', `/v2/${repo}/tags/list`, `repository:${repo}:pull`);
      if (!res.ok) {
        await res.body?.cancel();
        return undefined;
      }
      const body = (await res.json()) as { tags?: unknown };
      return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string' && isTag(t)) : [];
    } catch {
      return undefined;
    }
  }

  /**
   * Streams a blob from upstream to the client while writing it to the cache;
   * it is committed only if its digest checks out. Returns false when upstream
   * does not have it.
   */
  async blob(repo: string, d: Digest, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const scope = `repository:${repo}:pull`;
    const path = `/v2/${repo}/blobs/${d.text}`;
    let up: Response;
    try {
      up = await this.upstream.request(req.method === 'HEAD' ? 'HEAD' : 'GET', path, scope);
    } catch (err) {
      this.log.warn('upstream unreachable', { repo, digest: d.text, error: String((err as Error).message) });
      return false;
    }
    if (!up.ok || !up.body) {
      await up.body?.cancel();
      return false;
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Docker-Content-Digest', d.text);
    const len = up.headers.get('content-length');
    if (len) res.setHeader('Content-Length', len);
    if (req.method === 'HEAD') {
      await up.body.cancel();
      res.end();
      return true;
    }
    const tmp = tempPath(this.storage.tmpDir);
    const fh = await open(tmp, 'wx');
    const hash = createHash(d.algorithm);
    let clientGone = false;
    res.on('close', () => { clientGone = !res.writableFinished; });
    try {
      for await (const chunk of up.body) {
        const b = Buffer.from(chunk as Uint8Array);
        hash.update(b);
        await fh.write(b);
        if (!clientGone && !res.destroyed && !res.write(b)) {
          await Promise.race([once(res, 'drain'), once(res, 'close')]);
        }
      }
      await fh.sync();
      await fh.close();
      if (hash.digest('hex') === d.hex) await this.storage.commitBlobFile(repo, tmp, d);
      else this.log.warn('upstream blob failed digest verification; not cached', { repo, digest: d.text });
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    res.end();
    return true;
  }
}
