// The registry's HTTP API: the OCI distribution spec endpoints under /v2/,
// the built-in token service at /auth/token, and Docker Hub style search
// under /v1/. Each request is validated (names, digests, tags, upload ids),
// authenticated, authorized, and only then touches the store.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { readFile, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Action, RegistryConfig } from './config.ts';
import { RegistryError, notFoundBlob, unsupported } from './errors.ts';
import { ALGORITHMS, checkName, isTag, isValidName, looksLikeDigest, parseDigest, requireDigest, type Digest } from './names.ts';
import { Storage, asciiCompare } from './storage.ts';
import { parseManifest } from './manifest.ts';
import { OCI_INDEX } from '../api/oci.ts';
import { Authorizer, principalName, type Principal } from './auth/index.ts';
import { Logger, redactUri } from './log.ts';
import { search } from './search.ts';
import { PullThroughProxy } from './proxy.ts';
import { sendRange } from './sendfile.ts';
import { decodeSegment, hasDotSegment, matchRoute } from './routes.ts';
import { contentLength, paginate, parseContentRange, parseRange, readBody, sendEmpty, sendJson } from './wire.ts';

// node:http is loaded with require, not with an ESM import: building the ESM
// namespace of node:http reads every export, and its lazy WebSocket/
// CloseEvent/MessageEvent getters load undici and with it http2, tls, zlib,
// worker_threads and more, about 16 MiB of resident memory the registry never uses.
const { createServer: createHttpServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** Tags accepted in one manifest PUT (?tag=...); the spec asks for at least 10. */
const MAX_TAGS_PER_PUT = 100;

export interface RunningRegistry {
  server: Server;
  storage: Storage;
  /** Base URL, e.g. http://127.0.0.1:5000 */
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  origin: string;
  principal: Principal;
  /** Aborted when the client goes away before its response is complete. */
  signal: AbortSignal;
}

export class RegistryServer {
  readonly cfg: RegistryConfig;
  readonly storage: Storage;
  readonly auth: Authorizer;
  readonly log: Logger;
  readonly proxy?: PullThroughProxy;

  constructor(cfg: RegistryConfig, storage: Storage, auth: Authorizer, log: Logger) {
    this.cfg = cfg;
    this.storage = storage;
    this.auth = auth;
    this.log = log;
    if (cfg.proxy) this.proxy = new PullThroughProxy(cfg.proxy, storage, log);
  }

  /** Entry point for node:http; never throws. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    let principal: Principal | undefined;
    // Whatever works for this request (an upstream fetch, a drain wait) stops when its client leaves.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(Object.assign(new Error('client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      if (!this.log.accessLog) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      this.log.info('request', {
        remote: req.socket.remoteAddress,
        method: req.method,
        uri: redactUri((req.url ?? '').slice(0, 2048)),
        status: res.statusCode,
        bytes: Number(res.getHeader('content-length') ?? 0) || undefined,
        ms: Math.round(ms * 10) / 10,
        user: principal ? principalName(principal) : '-',
        aborted: res.writableFinished ? undefined : true,
        agent: (req.headers['user-agent'] ?? '').slice(0, 200),
      });
    });
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    for (const [k, v] of Object.entries(this.cfg.http.headers)) res.setHeader(k, v);
    this.route(req, res, gone.signal, (p) => { principal = p; }).catch((err: unknown) => this.fail(req, res, err, gone.signal));
  };

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown, signal: AbortSignal): void {
    if (!(err instanceof RegistryError)) {
      const e = err as NodeJS.ErrnoException;
      // A client that went away mid-request is not a server error worth
      // shouting about, whatever it broke (a body read, a write, an upstream fetch).
      if (signal.aborted || e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted') {
        this.log.debug('request ended after the client went away', { method: req.method, error: String(e?.message ?? e) });
        res.destroy();
        return;
      }
      this.log.error('internal error', { error: String(e?.stack ?? e) });
      err = new RegistryError(500, 'UNSUPPORTED', 'internal server error');
    }
    const re = err as RegistryError;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = re.body();
    res.statusCode = re.status;
    for (const [k, v] of Object.entries(re.headers)) res.setHeader(k, v);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private origin(req: IncomingMessage): string {
    const host = req.headers.host;
    const scheme = this.cfg.http.tls ? 'https' : 'http';
    if (host && /^[A-Za-z0-9.\-:[\]]{1,300}$/.test(host)) return `${scheme}://${host}`;
    return `${scheme}://${this.cfg.http.addr.startsWith(':') ? 'localhost' + this.cfg.http.addr : this.cfg.http.addr}`;
  }

  private async route(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, setPrincipal: (p: Principal) => void): Promise<void> {
    // URL parsing would silently resolve "/a/../b" (also spelled "%2e%2e",
    // and with "\\" read as "/"); such a request is refused instead of being
    // served some other path.
    const rawPath = (req.url ?? '/').split('?')[0];
    if (hasDotSegment(rawPath)) throw new RegistryError(400, 'NAME_INVALID', 'dot segments and backslashes are not allowed in paths');
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    const method = req.method ?? 'GET';
    const route = matchRoute(url.pathname);
    const origin = this.origin(req);
    if (!route) throw new RegistryError(404, 'UNSUPPORTED', 'unknown endpoint');

    if (route.kind === 'token') return this.tokenRoute(req, res, url, method);
    if (route.kind === 'ping') {
      res.setHeader('X-Docker-Registry-Version', '0.6.3');
      res.setHeader('X-Docker-Registry-Standalone', 'true');
      return sendJson(res, 200, true, method);
    }

    // Validate names before anything else: they become paths.
    if ('name' in route) checkName(route.name);

    const principal = await this.auth.authenticate(req.headers, origin, route.kind === 'search');
    setPrincipal(principal);
    const ctx: Ctx = { req, res, url, origin, principal, signal };
    const is = (...ms: string[]): boolean => ms.includes(method);

    switch (route.kind) {
      case 'base':
        if (!is('GET', 'HEAD')) break;
        this.auth.requireAuthenticated(principal, origin);
        return sendJson(res, 200, {}, method);
      case 'catalog':
        if (!is('GET')) break;
        return this.catalog(ctx);
      case 'search':
        if (!is('GET')) break;
        return sendJson(res, 200, await search(this.storage, (repo) => this.auth.visible(principal, repo), url.searchParams), method);
      case 'manifest': {
        const ref = decodeSegment(route.ref);
        if (is('GET', 'HEAD')) return this.getManifest(ctx, route.name, ref);
        if (is('PUT')) return this.putManifest(ctx, route.name, ref);
        if (is('DELETE')) return this.deleteManifest(ctx, route.name, ref);
        break;
      }
      case 'blob': {
        const digest = decodeSegment(route.digest);
        if (is('GET', 'HEAD')) return this.getBlob(ctx, route.name, digest);
        if (is('DELETE')) return this.deleteBlob(ctx, route.name, digest);
        break;
      }
      case 'uploads':
        if (is('POST')) return this.startUpload(ctx, route.name);
        break;
      case 'upload':
        if (is('GET', 'HEAD')) return this.uploadStatus(ctx, route.name, route.id);
        if (is('PATCH')) return this.patchUpload(ctx, route.name, route.id);
        if (is('PUT')) return this.putUpload(ctx, route.name, route.id);
        if (is('DELETE')) return this.cancelUpload(ctx, route.name, route.id);
        break;
      case 'tags':
        if (is('GET')) return this.listTags(ctx, route.name);
        break;
      case 'referrers':
        if (is('GET')) return this.referrers(ctx, route.name, decodeSegment(route.digest));
        break;
    }
    throw new RegistryError(405, 'UNSUPPORTED', `method ${method} not allowed here`);
  }

  private need(ctx: Ctx, repo: string, ...actions: Action[]): void {
    this.auth.require(ctx.principal, repo, actions, ctx.origin);
  }

  /** Pushes and deletes are refused in read-only and pull-through mode. */
  private writable(): void {
    if (this.cfg.storage.readOnly) throw unsupported('the registry is in read-only mode');
    if (this.proxy) throw unsupported('a pull-through cache does not accept pushes or deletes');
  }

  // ---- token service -------------------------------------------------------------

  private async tokenRoute(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    let query = url.searchParams;
    let authorization = req.headers.authorization;
    if (method === 'POST') {
      // OAuth2 password grant (docker login with identity tokens disabled uses GET; some clients POST).
      const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString('utf8'));
      query = new URLSearchParams();
      for (const k of ['service', 'scope']) for (const v of form.getAll(k)) query.append(k, v);
      const user = form.get('username');
      const password = form.get('password');
      if (form.get('grant_type') === 'password' && user !== null && password !== null) {
        authorization = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
      }
    } else if (method !== 'GET') {
      throw new RegistryError(405, 'UNSUPPORTED', 'use GET or POST');
    }
    const out = await this.auth.tokenEndpoint(query, authorization);
    if (!out) throw new RegistryError(404, 'UNSUPPORTED', 'this registry does not issue tokens');
    res.setHeader('Cache-Control', 'no-store');
    if (out.status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="berth-registry-token"');
    return sendJson(res, out.status, out.body, method);
  }

  // ---- manifests --------------------------------------------------------------------

  private async getManifest(ctx: Ctx, repo: string, ref: string): Promise<void> {
    checkReference(ref, false);
    this.need(ctx, repo, 'pull');
    const m = (this.proxy ? await this.proxy.manifest(repo, ref, ctx.signal) : undefined) ?? (await this.storage.getManifest(repo, ref));
    const { res } = ctx;
    res.setHeader('Content-Type', m.mediaType);
    res.setHeader('Docker-Content-Digest', m.digest);
    res.setHeader('ETag', `"${m.digest}"`);
    res.setHeader('Content-Length', m.bytes.length);
    if (ctx.req.headers['if-none-match'] === `"${m.digest}"`) {
      res.statusCode = 304;
      res.removeHeader('Content-Length');
      res.end();
      return;
    }
    res.statusCode = 200;
    res.end(ctx.req.method === 'HEAD' ? undefined : m.bytes);
  }

  private async putManifest(ctx: Ctx, repo: string, ref: string): Promise<void> {
    checkReference(ref, true);
    this.need(ctx, repo, 'pull', 'push');
    this.writable();
    const { req, res } = ctx;
    const limit = this.cfg.storage.maxManifestBytes;
    const bytes = await readBody(req, limit);
    const parsed = parseManifest(bytes, req.headers['content-type']);
    const byDigest = parseDigest(ref);
    const algorithm = byDigest?.algorithm ?? 'sha256';
    const hex = createHash(algorithm).update(bytes).digest('hex');
    const digest = parseDigest(`${algorithm}:${hex}`) as Digest;
    if (byDigest && byDigest.hex !== hex) {
      throw new RegistryError(400, 'DIGEST_INVALID', 'manifest digest does not match the reference', { expected: ref, actual: digest.text });
    }
    const tags = byDigest ? ctx.url.searchParams.getAll('tag') : [ref];
    if (tags.length > MAX_TAGS_PER_PUT) throw new RegistryError(414, 'MANIFEST_INVALID', `at most ${MAX_TAGS_PER_PUT} tags per request`);
    for (const t of tags) if (!isTag(t)) throw new RegistryError(400, 'MANIFEST_INVALID', `invalid tag ${JSON.stringify(t.slice(0, 200))}`);
    await this.storage.putManifest(repo, digest, bytes, parsed, tags);
    res.statusCode = 201;
    res.setHeader('Location', `/v2/${repo}/manifests/${digest.text}`);
    res.setHeader('Docker-Content-Digest', digest.text);
    if (parsed.subject) res.setHeader('OCI-Subject', parsed.subject.digest);
    if (byDigest && tags.length > 0) res.setHeader('OCI-Tag', tags.join(', '));
    res.setHeader('Content-Length', 0);
    res.end();
  }

  private async deleteManifest(ctx: Ctx, repo: string, ref: string): Promise<void> {
    checkReference(ref, false);
    this.need(ctx, repo, 'delete');
    this.writable();
    if (!this.cfg.storage.deleteEnabled) throw unsupported('deletion is disabled (storage.delete.enabled)');
    const d = parseDigest(ref);
    if (d) await this.storage.deleteManifest(repo, d);
    else await this.storage.deleteTag(repo, ref);
    sendEmpty(ctx.res, 202);
  }

  // ---- blobs ------------------------------------------------------------------------------

  private async getBlob(ctx: Ctx, repo: string, digestText: string): Promise<void> {
    const d = requireDigest(digestText);
    this.need(ctx, repo, 'pull');
    const { req, res } = ctx;
    const head = req.method === 'HEAD';
    // A GET opens the blob up front and serves from that handle; a HEAD only needs the size.
    const blob = head ? undefined : await this.storage.openRepoBlob(repo, d);
    try {
      const size = head ? await this.storage.repoBlobSize(repo, d) : blob?.size;
      if (size === undefined) {
        if (this.proxy && (await this.proxy.blob(repo, d, req, res, ctx.signal))) return;
        throw notFoundBlob(d.text);
      }
      await this.serveBlob(req, res, d, size, blob?.fh);
    } finally {
      await blob?.fh.close();
    }
  }

  private async serveBlob(req: IncomingMessage, res: ServerResponse, d: Digest, size: number, fh: FileHandle | undefined): Promise<void> {
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Docker-Content-Digest', d.text);
    res.setHeader('ETag', `"${d.text}"`);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Cache-Control', 'max-age=31536000');
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      throw new RegistryError(416, 'BLOB_UNKNOWN', 'requested range not satisfiable', { size }, { 'Content-Range': `bytes */${size}` });
    }
    let start = 0;
    let end = size - 1;
    if (range) {
      ({ start, end } = range);
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    } else {
      res.statusCode = 200;
    }
    res.setHeader('Content-Length', size === 0 ? 0 : end - start + 1);
    if (!fh || size === 0) {
      // A HEAD is how clients decide to skip uploading a layer they will
      // reference next; mark it used so a concurrent GC keeps it.
      if (req.method === 'HEAD') await this.storage.touchBlob(d);
      res.end();
      return;
    }
    await sendRange(fh, start, end, res);
  }

  private async deleteBlob(ctx: Ctx, repo: string, digestText: string): Promise<void> {
    const d = requireDigest(digestText);
    this.need(ctx, repo, 'delete');
    this.writable();
    if (!this.cfg.storage.deleteEnabled) throw unsupported('deletion is disabled (storage.delete.enabled)');
    if (!(await this.storage.unlinkBlob(repo, d))) throw notFoundBlob(d.text);
    ctx.res.setHeader('Docker-Content-Digest', d.text);
    sendEmpty(ctx.res, 202);
  }

  // ---- uploads ---------------------------------------------------------------------------------

  private uploadHeaders(res: ServerResponse, repo: string, id: string, size: number): void {
    res.setHeader('Location', `/v2/${repo}/blobs/uploads/${id}`);
    res.setHeader('Range', `0-${Math.max(0, size - 1)}`);
    res.setHeader('Docker-Upload-UUID', id);
  }

  private blobCreated(res: ServerResponse, repo: string, d: Digest): void {
    res.setHeader('Location', `/v2/${repo}/blobs/${d.text}`);
    res.setHeader('Docker-Content-Digest', d.text);
    sendEmpty(res, 201);
  }

  private async startUpload(ctx: Ctx, repo: string): Promise<void> {
    this.need(ctx, repo, 'pull', 'push');
    this.writable();
    const { req, res, url } = ctx;
    const q = url.searchParams;
    const mount = q.get('mount');
    if (mount !== null) {
      const d = requireDigest(mount);
      const from = q.get('from');
      // Mounting needs pull rights on the source; without them (or without the
      // blob there) fall back to a normal upload, as the spec allows.
      if (from !== null && isValidName(from) && this.auth.can(ctx.principal, from, 'pull')) {
        if ((await this.storage.mountBlob(repo, from, d)) !== undefined) return this.blobCreated(res, repo, d);
      }
    }
    const algorithm = q.get('digest-algorithm');
    if (algorithm !== null && ALGORITHMS[algorithm] === undefined) {
      throw new RegistryError(400, 'DIGEST_INVALID', `unsupported digest algorithm ${JSON.stringify(algorithm.slice(0, 50))}`);
    }
    const digestParam = mount === null ? q.get('digest') : null;
    if (digestParam !== null) {
      // Monolithic upload in a single POST.
      const d = requireDigest(digestParam);
      const up = await this.storage.uploads.create(repo, d.algorithm);
      try {
        await this.storage.uploads.append(repo, up.id, req, undefined, contentLength(req));
        await this.storage.uploads.finish(repo, up.id, d);
      } catch (err) {
        await this.storage.uploads.delete(repo, up.id).catch(() => {});
        throw err;
      }
      return this.blobCreated(res, repo, d);
    }
    const up = await this.storage.uploads.create(repo, algorithm ?? 'sha256');
    this.uploadHeaders(res, repo, up.id, 0);
    sendEmpty(res, 202);
  }

  private async uploadStatus(ctx: Ctx, repo: string, id: string): Promise<void> {
    this.need(ctx, repo, 'pull', 'push');
    const up = await this.storage.uploads.get(repo, id);
    this.uploadHeaders(ctx.res, repo, id, up.size);
    sendEmpty(ctx.res, 204);
  }

  private async patchUpload(ctx: Ctx, repo: string, id: string): Promise<void> {
    this.need(ctx, repo, 'pull', 'push');
    this.writable();
    const { req, res } = ctx;
    const cr = parseContentRange(req.headers['content-range']);
    const length = contentLength(req);
    if (cr && length !== undefined && cr.end - cr.start + 1 !== length) {
      throw new RegistryError(400, 'SIZE_INVALID', 'Content-Range and Content-Length disagree');
    }
    const size = await this.storage.uploads.append(repo, id, req, cr?.start, cr ? cr.end - cr.start + 1 : length);
    this.uploadHeaders(res, repo, id, size);
    sendEmpty(res, 202);
  }

  private async putUpload(ctx: Ctx, repo: string, id: string): Promise<void> {
    this.need(ctx, repo, 'pull', 'push');
    this.writable();
    const { req, res, url } = ctx;
    const d = requireDigest(url.searchParams.get('digest'));
    await this.storage.uploads.get(repo, id);
    const length = contentLength(req);
    const cr = parseContentRange(req.headers['content-range']);
    if (length !== 0 || cr) {
      // The final chunk came with the PUT.
      if (cr && length !== undefined && cr.end - cr.start + 1 !== length) {
        throw new RegistryError(400, 'SIZE_INVALID', 'Content-Range and Content-Length disagree');
      }
      await this.storage.uploads.append(repo, id, req, cr?.start, cr ? cr.end - cr.start + 1 : length);
    }
    await this.storage.uploads.finish(repo, id, d);
    this.blobCreated(res, repo, d);
  }

  private async cancelUpload(ctx: Ctx, repo: string, id: string): Promise<void> {
    this.need(ctx, repo, 'pull', 'push');
    await this.storage.uploads.delete(repo, id);
    sendEmpty(ctx.res, 204);
  }

  // ---- discovery --------------------------------------------------------------------------------

  private async listTags(ctx: Ctx, repo: string): Promise<void> {
    this.need(ctx, repo, 'pull');
    let tags = this.proxy ? await this.proxy.tags(repo, ctx.signal) : undefined;
    if (!tags) {
      if (!(await this.storage.repoExists(repo))) throw new RegistryError(404, 'NAME_UNKNOWN', undefined, { name: repo });
      tags = await this.storage.listTags(repo);
    }
    const page = paginate(tags.sort(asciiCompare), ctx.url.searchParams);
    if (page.next) ctx.res.setHeader('Link', `</v2/${repo}/tags/list?n=${page.n}&last=${encodeURIComponent(page.next)}>; rel="next"`);
    return sendJson(ctx.res, 200, { name: repo, tags: page.items }, ctx.req.method);
  }

  private async catalog(ctx: Ctx): Promise<void> {
    this.auth.requireCatalog(ctx.principal, ctx.origin);
    const repos = (await this.storage.listRepositories()).filter((r) => this.auth.visible(ctx.principal, r));
    const page = paginate(repos, ctx.url.searchParams);
    if (page.next) ctx.res.setHeader('Link', `</v2/_catalog?n=${page.n}&last=${encodeURIComponent(page.next)}>; rel="next"`);
    return sendJson(ctx.res, 200, { repositories: page.items }, ctx.req.method);
  }

  private async referrers(ctx: Ctx, repo: string, digestText: string): Promise<void> {
    const d = requireDigest(digestText);
    this.need(ctx, repo, 'pull');
    let list = await this.storage.referrers(repo, d);
    const artifactType = ctx.url.searchParams.get('artifactType');
    if (artifactType !== null) {
      list = list.filter((x) => x.artifactType === artifactType);
      ctx.res.setHeader('OCI-Filters-Applied', 'artifactType');
    }
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: list });
    ctx.res.statusCode = 200;
    ctx.res.setHeader('Content-Type', OCI_INDEX);
    ctx.res.setHeader('Content-Length', Buffer.byteLength(body));
    ctx.res.end(body);
  }
}

// ---- helpers ------------------------------------------------------------------------------------

/** Manifest references: a tag or a digest; anything else is refused before it reaches the store. */
function checkReference(ref: string, forPut: boolean): void {
  if (isTag(ref) || parseDigest(ref)) return;
  if (looksLikeDigest(ref)) throw new RegistryError(400, 'DIGEST_INVALID', 'invalid digest', { digest: ref.slice(0, 200) });
  if (forPut) throw new RegistryError(400, 'MANIFEST_INVALID', 'invalid tag', { tag: ref.slice(0, 200) });
  throw new RegistryError(404, 'MANIFEST_UNKNOWN', 'invalid tag', { tag: ref.slice(0, 200) });
}

/** Starts serving `cfg`. Call close() to stop. */
export async function startRegistry(cfg: RegistryConfig, log: Logger): Promise<RunningRegistry> {
  const storage = new Storage(cfg.storage.rootDirectory);
  await storage.init(true);
  const auth = await Authorizer.create(cfg);
  for (const user of auth.skippedUsers()) log.warn('ignoring htpasswd entry without a bcrypt hash', { user });
  const registry = new RegistryServer(cfg, storage, auth, log);
  // node:https (and with it TLS) is only loaded when TLS is configured: it
  // adds about 9 MiB to the resident size of a plain-HTTP registry.
  const server = cfg.http.tls
    ? (await import('node:https')).createServer({ cert: await readFile(cfg.http.tls.certificate), key: await readFile(cfg.http.tls.key) }, registry.handle)
    : createHttpServer(registry.handle);
  // Large layers take a long time to upload; only idle connections are timed out.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.timeout = 10 * 60_000;
  const host = cfg.http.host === '' ? '::' : cfg.http.host;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(cfg.http.port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = cfg.http.host === '' || cfg.http.host === '::' ? 'localhost' : cfg.http.host.includes(':') ? `[${cfg.http.host}]` : cfg.http.host;
  const url = `${cfg.http.tls ? 'https' : 'http'}://${shownHost}:${port}`;

  let purgeTimer: NodeJS.Timeout | undefined;
  if (cfg.storage.uploadPurging.enabled && !cfg.storage.readOnly) {
    const purge = (): void => {
      storage.uploads.purge(cfg.storage.uploadPurging.ageMs).then(
        (n) => { if (n > 0) log.info('purged stale uploads', { count: n }); },
        (err: unknown) => log.warn('upload purge failed', { error: String(err) }),
      );
    };
    purge();
    purgeTimer = setInterval(purge, Math.max(60_000, cfg.storage.uploadPurging.intervalMs));
    purgeTimer.unref();
  }
  log.info('listening', { addr: url, storage: cfg.storage.rootDirectory, auth: auth.mode, proxy: cfg.proxy?.remoteUrl, readonly: cfg.storage.readOnly });
  return {
    server,
    storage,
    url,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        if (purgeTimer) clearInterval(purgeTimer);
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

