// A Registry HTTP API v2 client for one repository: endpoint choice (see
// hosts.ts: mirrors, insecure registries, certs.d), the /v2/ ping, and
// authenticated requests that answer a 401 challenge once (a token for the
// scopes they need) before giving up. Idempotent requests are retried with
// backoff when the connection drops or the registry answers 5xx.
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { AuthError, type Credentials, causeOf, fetchToken, registryMessage } from './auth.ts';
import { basicHeader, parseChallenges, type Challenge } from './challenge.ts';
import { type Endpoint, RegistryHosts } from './hosts.ts';
import { loadUndici } from './undici.ts';

export { isLoopbackRegistry } from './hosts.ts';

/**
 * A registry's answer, with a Node stream body (undici's request API: less
 * overhead per chunk than fetch's web streams, which matters for layers).
 * The body must be read or dumped so the connection can be reused.
 */
export class RegistryResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly body: Dispatcher.ResponseData['body'];

  constructor(r: Dispatcher.ResponseData) {
    this.status = r.statusCode;
    this.statusText = STATUS_CODES[r.statusCode] ?? '';
    this.headers = new Headers();
    for (const [k, v] of Object.entries(r.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) this.headers.append(k, one);
    }
    this.body = r.body;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  text(): Promise<string> {
    return this.body.text();
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.body.arrayBuffer();
  }

  json(): Promise<unknown> {
    return this.body.json();
  }
}

/** Each endpoint's agent, following redirects (blob downloads are often sent elsewhere). */
const redirecting = new WeakMap<Dispatcher, Dispatcher>();
function withRedirects(d: Dispatcher, interceptors: typeof import('undici').interceptors): Dispatcher {
  let r = redirecting.get(d);
  if (!r) {
    r = d.compose(interceptors.redirect({ maxRedirections: 5 }));
    redirecting.set(d, r);
  }
  return r;
}

/** A registry answered with an error status; `code` is the distribution error code, if any. */
export class RegistryResponseError extends Error {
  readonly status: number;
  readonly code?: string;
  constructor(status: number, message: string, code?: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The registry could not be reached at all. */
export class RegistryUnreachableError extends Error {}

const RETRIES = 3;
const RETRY_BASE_MS = 250;
const RETRY_STATUSES = new Set([500, 502, 503, 504]);

export interface ClientOptions {
  creds?: Credentials;
  signal?: AbortSignal;
  hosts?: RegistryHosts;
  /** `pull` or `pull,push`. */
  actions?: string;
  /** More token scopes (`repository:other/repo:pull`, for cross-repository mounts). */
  extraScopes?: string[];
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | Readable;
  /** Statuses besides 2xx that are answers, not errors (404 for a HEAD). */
  accept?: number[];
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export class RegistryClient {
  readonly domain: string;
  readonly repo: string;
  private readonly creds: Credentials;
  private readonly signal?: AbortSignal;
  private readonly scopes: string[];
  private candidates: Endpoint[];
  private endpoint: Endpoint;
  private challenge?: Challenge;
  private authorization?: string;

  constructor(domain: string, repo: string, o: ClientOptions = {}) {
    this.domain = domain;
    this.repo = repo;
    this.creds = o.creds ?? {};
    this.signal = o.signal;
    this.scopes = [`repository:${repo}:${o.actions ?? 'pull'}`, ...(o.extraScopes ?? [])];
    this.candidates = (o.hosts ?? new RegistryHosts()).endpoints(domain);
    this.endpoint = this.candidates[this.candidates.length - 1];
    if (this.creds.registrytoken) this.authorization = `Bearer ${this.creds.registrytoken}`;
  }

  get base(): string {
    return this.endpoint.base;
  }

  private async send(
    url: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array | Readable } = {}, endpoint = this.endpoint,
  ): Promise<RegistryResponse> {
    const { request, interceptors } = await loadUndici();
    const r = await request(url, {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod, headers: init.headers, body: init.body,
      dispatcher: withRedirects(await endpoint.dispatcher(), interceptors), signal: this.signal,
    });
    return new RegistryResponse(r);
  }

  /**
   * GET /v2/ on each endpoint in turn (mirrors first) until one answers as a
   * registry; learns how it wants to be authenticated.
   */
  async ping(): Promise<void> {
    let lastError: Error | undefined;
    for (const ep of this.candidates) {
      const url = `${ep.base}/v2/`;
      let res: RegistryResponse;
      try {
        res = await this.send(url, {}, ep);
      } catch (err) {
        if (this.signal?.aborted) throw err;
        lastError = new RegistryUnreachableError(`Get "${url}": ${causeOf(err)}`);
        continue;
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.status === 401) {
        this.endpoint = ep;
        this.challenge = parseChallenges(res.headers.get('www-authenticate'))[0];
        return;
      }
      if (res.ok) {
        this.endpoint = ep;
        return;
      }
      lastError = new RegistryUnreachableError(`Get "${url}": registry answered ${res.status} ${res.statusText}`);
    }
    throw lastError ?? new RegistryUnreachableError(`no endpoint for ${this.domain}`);
  }

  /** Talking to a registry mirror (docker.io names) rather than the registry itself. */
  get onMirror(): boolean {
    return this.endpoint.mirror;
  }

  /**
   * Moves on to the endpoint after the current one (a mirror that failed)
   * and pings it; false when there is none left.
   */
  async nextEndpoint(): Promise<boolean> {
    const i = this.candidates.indexOf(this.endpoint);
    const rest = this.candidates.slice(i + 1);
    if (rest.length === 0) return false;
    this.candidates.splice(0, i + 1);
    this.endpoint = rest[rest.length - 1];
    this.challenge = undefined;
    this.authorization = this.creds.registrytoken ? `Bearer ${this.creds.registrytoken}` : undefined;
    await this.ping();
    return true;
  }

  /** The Authorization header to send, after answering the ping's challenge. */
  async authorizationHeader(): Promise<string | undefined> {
    if (!this.authorization && this.challenge) await this.answer(this.challenge);
    return this.authorization;
  }

  private async answer(challenge: Challenge | undefined): Promise<boolean> {
    if (!challenge) return false;
    try {
      if (challenge.scheme === 'basic') {
        const h = basicHeader(this.creds);
        if (!h || this.authorization === h) return false;
        this.authorization = h;
        return true;
      }
      const scopes = [...this.scopes];
      if (challenge.params.scope && !scopes.includes(challenge.params.scope)) scopes.push(challenge.params.scope);
      const token = await fetchToken(challenge, scopes, this.creds, this.signal);
      const h = `Bearer ${token}`;
      if (this.authorization === h) return false;
      this.authorization = h;
      return true;
    } catch (err) {
      if (err instanceof AuthError) throw new RegistryResponseError(401, err.message, 'UNAUTHORIZED');
      throw err;
    }
  }

  /** An absolute URL for a path below /v2/<repo>/, or an upload Location as the registry gave it. */
  url(pathOrLocation: string): string {
    if (/^https?:\/\//.test(pathOrLocation)) return pathOrLocation;
    if (pathOrLocation.startsWith('/')) return new URL(pathOrLocation, this.base).toString();
    return `${this.base}/v2/${this.repo}/${pathOrLocation}`;
  }

  /**
   * One authenticated request. Resolves to the response when it is 2xx (or
   * in `accept`); an error status becomes a RegistryResponseError. GET and
   * HEAD are retried on dropped connections and 5xx; a stream body is never
   * resent.
   */
  async request(method: string, pathOrLocation: string, o: RequestOptions = {}): Promise<RegistryResponse> {
    const url = this.url(pathOrLocation);
    await this.authorizationHeader();
    const idempotent = method === 'GET' || method === 'HEAD';
    let answeredChallenge = false;
    for (let attempt = 0; ; attempt++) {
      const h: Record<string, string> = { ...o.headers };
      if (this.authorization) h.Authorization = this.authorization;
      let res: RegistryResponse;
      try {
        res = await this.send(url, { method, headers: h, body: o.body });
      } catch (err) {
        if (this.signal?.aborted) throw err;
        if (idempotent && attempt < RETRIES) {
          await sleep(RETRY_BASE_MS * 2 ** attempt, this.signal);
          continue;
        }
        throw new RegistryUnreachableError(`${method[0]}${method.slice(1).toLowerCase()} "${url}": ${causeOf(err)}`);
      }
      if (res.ok || o.accept?.includes(res.status)) return res;
      const text = await res.text().catch(() => '');
      if (res.status === 401 && !answeredChallenge && !(o.body instanceof Readable)) {
        answeredChallenge = true;
        if (await this.answer(parseChallenges(res.headers.get('www-authenticate'))[0])) continue;
      }
      if (idempotent && RETRY_STATUSES.has(res.status) && attempt < RETRIES) {
        await sleep(RETRY_BASE_MS * 2 ** attempt, this.signal);
        continue;
      }
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
      } catch {
        code = undefined;
      }
      throw new RegistryResponseError(res.status, registryMessage(text) ?? `${res.status} ${res.statusText}`, code);
    }
  }

  get(path: string, headers: Record<string, string> = {}): Promise<RegistryResponse> {
    return this.request('GET', path, { headers });
  }

  /**
   * A blob's bytes from `offset` on, as a Node stream (not verified: the
   * caller ingests it with its expected digest). `resumed` says whether the
   * registry honoured the Range; if not, the stream starts at 0.
   */
  async blob(digest: string, offset = 0): Promise<{ stream: Readable; size?: number; resumed: boolean }> {
    const res = await this.request('GET', `blobs/${digest}`, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} });
    const len = Number(res.headers.get('content-length'));
    return {
      stream: res.body,
      size: Number.isFinite(len) && res.headers.has('content-length') ? len : undefined,
      resumed: offset > 0 && res.status === 206,
    };
  }
}
