// Pull-through cache (`proxy.remoteurl`): manifests and blobs missing here are
// fetched from the upstream registry, handed to the client and kept. Tags are
// revalidated upstream on every pull (a cheap HEAD) and served from the cache
// when upstream is unreachable. Upstream credentials (proxy.username/password)
// go only to the upstream and its token realm, never into logs.
import { createHash } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
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
/** Upstream tag lists and token answers are JSON of bounded size too. */
const MAX_TAGS_JSON = 4 * 1024 * 1024;
const MAX_TOKEN_JSON = 64 * 1024;

class UpstreamTooLarge extends Error {}

/**
 * Reads an upstream body of at most `limit` bytes: a misbehaving upstream
 * must not make the registry buffer without bound. The body is cancelled
 * as soon as it is known to be too large.
 */
async function readLimited(res: Response, limit: number): Promise<Buffer> {
  if (Number(res.headers.get('content-length') ?? 0) > limit) {
    await res.body?.cancel();
    throw new UpstreamTooLarge(`upstream body larger than ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      total += (chunk as Uint8Array).length;
      // Leaving the loop cancels the body.
      if (total > limit) throw new UpstreamTooLarge(`upstream body larger than ${limit} bytes`);
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
  }
  return Buffer.concat(chunks);
}

/** Resolves on 'drain', or as soon as the client is gone (the caller's next step then fails on the signal). */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    signal.addEventListener('abort', done);
  });
}

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

  /** `signal` is the downstream request's: the upstream exchange ends when its client leaves. */
  async request(method: string, path: string, scope: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const cached = this.tokens.get(scope);
    const auth = cached && cached.until > Date.now() ? cached.header : this.basic ? this.basicHeader() : undefined;
    let res = await fetch(this.base + path, { method, headers: auth ? { ...headers, Authorization: auth } : headers, redirect: 'follow', signal });
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
      header = await this.fetchToken(challenge.params.realm, challenge.params.service, scope, signal);
    }
    if (!header) return fetch(this.base + path, { method, headers, signal });
    res = await fetch(this.base + path, { method, headers: { ...headers, Authorization: header }, redirect: 'follow', signal });
    return res;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string, signal: AbortSignal): Promise<string | undefined> {
    const u = new URL(realm);
    if (service) u.searchParams.set('service', service);
    u.searchParams.set('scope', scope);
    const basic = this.basicHeader();
    const res = await fetch(u, { headers: basic ? { Authorization: basic } : {}, signal });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const body = JSON.parse((await readLimited(res, MAX_TOKEN_JSON)).toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
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
  async manifest(repo: string, ref: string, signal: AbortSignal): Promise<StoredManifest | undefined> {
    const scope = `repository:${repo}:pull`;
    const path = `/v2/${repo}/manifests/${ref}`;
    const byDigest = parseDigest(ref);
    if (byDigest && (await this.storage.hasManifest(repo, byDigest))) return undefined;
    try {
      if (isTag(ref)) {
        const local = await this.storage.resolveTag(repo, ref);
        if (local) {
          const head = await this.upstream.request('HEAD', path, scope, { Accept: ACCEPT }, signal);
          await head.body?.cancel();
          if (head.ok && head.headers.get('docker-content-digest') === local.text) return undefined;
          if (head.status === 404) throw notFoundManifest(ref);
        }
      }
      const res = await this.upstream.request('GET', path, scope, { Accept: ACCEPT }, signal);
      if (res.status === 404) {
        await res.body?.cancel();
        throw notFoundManifest(ref);
      }
      if (!res.ok) {
        await res.body?.cancel();
        this.log.warn('upstream manifest fetch failed', { repo, ref, status: res.status });
        return undefined;
      }
      let bytes: Buffer;
      try {
        bytes = await readLimited(res, MAX_MANIFEST);
      } catch (err) {
        if (err instanceof UpstreamTooLarge) throw new RegistryError(502, 'MANIFEST_INVALID', 'upstream manifest too large');
        throw err;
      }
      const algorithm = byDigest?.algorithm ?? 'sha256';
      const d = parseDigest(`${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`) as Digest;
      if (byDigest && byDigest.text !== d.text) throw new RegistryError(502, 'DIGEST_INVALID', 'upstream returned a manifest with the wrong digest');
      const mediaType = bareType(res.headers.get('content-type') ?? undefined) || 'application/vnd.oci.image.manifest.v1+json';
      await this.storage.storeCachedManifest(repo, d, bytes, mediaType, isTag(ref) ? [ref] : []);
      return { digest: d.text, mediaType, bytes };
    } catch (err) {
      // A client that left gets nothing, not the cached copy.
      if (err instanceof RegistryError || signal.aborted) throw err;
      this.log.warn('upstream unreachable, serving from cache', { repo, ref, error: String((err as Error).message) });
      return undefined;
    }
  }

  async tags(repo: string, signal: AbortSignal): Promise<string[] | undefined> {
    try {
      const res = await this.upstream.request('GET', `/v2/${repo}/tags/list`, `repository:${repo}:pull`, {}, signal);
      if (!res.ok) {
        await res.body?.cancel();
        return undefined;
      }
      const body = JSON.parse((await readLimited(res, MAX_TAGS_JSON)).toString('utf8')) as { tags?: unknown };
      return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string' && isTag(t)) : [];
    } catch (err) {
      if (signal.aborted) throw err;
      return undefined;
    }
  }

  /**
   * Streams a blob from upstream to the client while writing it to the cache;
   * it is committed only if its digest checks out. Returns false when upstream
   * does not have it. When the client leaves, the upstream fetch is cancelled
   * and the partial file removed: nothing of a cut download is kept.
   */
  async blob(repo: string, d: Digest, req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<boolean> {
    const scope = `repository:${repo}:pull`;
    const path = `/v2/${repo}/blobs/${d.text}`;
    let up: Response;
    try {
      up = await this.upstream.request(req.method === 'HEAD' ? 'HEAD' : 'GET', path, scope, {}, signal);
    } catch (err) {
      if (signal.aborted) throw err;
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
    let verified = false;
    let held: Buffer | undefined;
    try {
      const fh = await open(tmp, 'wx');
      try {
        const hash = createHash(d.algorithm);
        // Aborting the signal (the client left) makes this loop throw and closes the upstream connection.
        for await (const chunk of up.body) {
          const b = Buffer.from(chunk as Uint8Array);
          hash.update(b);
          await fh.write(b);
          // Each chunk goes out when the next arrives: the last one only
          // once the digest is known to match, so wrong bytes never arrive complete.
          if (held && !res.write(held)) await drained(res, signal);
          signal.throwIfAborted();
          held = b;
        }
        await fh.sync();
        verified = hash.digest('hex') === d.hex;
      } finally {
        await fh.close();
      }
      if (verified) await this.storage.commitBlobFile(repo, tmp, d);
    } finally {
      await up.body.cancel().catch(() => {});
      // After a commit the file was renamed away; otherwise it is partial or wrong.
      await unlink(tmp).catch(() => {});
    }
    if (!verified) {
      this.log.warn('upstream blob failed digest verification; not cached', { repo, digest: d.text });
      // The client got bytes that are not the blob: cut the response rather than end it as if complete.
      res.destroy();
      return true;
    }
    res.end(held);
    return true;
  }
}
