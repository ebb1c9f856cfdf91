// A Registry HTTP API v2 client for one repository: endpoint choice (plain
// HTTP only for loopback registries, which dockerd treats as insecure by
// default; HTTPS otherwise), the /v2/ ping, and authenticated GETs that answer
// a 401 challenge once (a token for the scope it names) before giving up.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEFAULT_DOMAIN } from '../reference.ts';
import { AuthError, type Credentials, causeOf, fetchToken, registryMessage } from './auth.ts';
import { basicHeader, parseChallenges, type Challenge } from './challenge.ts';

/** Where `docker.io` names are pulled from. */
const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';

export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function endpointFor(domain: string): string {
  if (domain === DEFAULT_DOMAIN) return `https://${DOCKER_HUB_ENDPOINT}`;
  return `${isLoopbackRegistry(domain) ? 'http' : 'https'}://${domain}`;
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

export class RegistryClient {
  readonly base: string;
  readonly repo: string;
  private readonly creds: Credentials;
  private readonly signal?: AbortSignal;
  private challenge?: Challenge;
  private authorization?: string;

  constructor(domain: string, repo: string, creds: Credentials = {}, signal?: AbortSignal) {
    this.base = endpointFor(domain);
    this.repo = repo;
    this.creds = creds;
    this.signal = signal;
    if (creds.registrytoken) this.authorization = `Bearer ${creds.registrytoken}`;
  }

  private get scope(): string {
    return `repository:${this.repo}:pull`;
  }

  /** GET /v2/: checks the registry speaks v2 and learns how it wants to be authenticated. */
  async ping(): Promise<void> {
    const url = `${this.base}/v2/`;
    let res: Response;
    try {
      res = await fetch(url, { signal: this.signal, redirect: 'follow' });
    } catch (err) {
      if (this.signal?.aborted) throw err;
      throw new RegistryUnreachableError(`Get "${url}": ${causeOf(err)}`);
    }
    await res.arrayBuffer().catch(() => undefined);
    if (res.status === 401) {
      this.challenge = parseChallenges(res.headers.get('www-authenticate'))[0];
      return;
    }
    if (!res.ok) throw new RegistryUnreachableError(`Get "${url}": registry answered ${res.status} ${res.statusText}`);
  }

  private async authorize(challenge: Challenge | undefined): Promise<boolean> {
    if (!challenge) return false;
    if (challenge.scheme === 'basic') {
      const h = basicHeader(this.creds);
      if (!h || this.authorization === h) return false;
      this.authorization = h;
      return true;
    }
    const scopes = [this.scope];
    if (challenge.params.scope && !scopes.includes(challenge.params.scope)) scopes.push(challenge.params.scope);
    const token = await fetchToken(challenge, scopes, this.creds, this.signal);
    const h = `Bearer ${token}`;
    if (this.authorization === h) return false;
    this.authorization = h;
    return true;
  }

  /**
   * GET /v2/<repo>/<path>, authenticated. Resolves to the response when it is
   * 2xx; a registry error status becomes a RegistryResponseError.
   */
  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.base}/v2/${this.repo}/${path}`;
    if (!this.authorization && this.challenge) await this.authorize(this.challenge);
    for (let attempt = 0; ; attempt++) {
      const h: Record<string, string> = { ...headers };
      if (this.authorization) h.Authorization = this.authorization;
      let res: Response;
      try {
        res = await fetch(url, { headers: h, signal: this.signal, redirect: 'follow' });
      } catch (err) {
        if (this.signal?.aborted) throw err;
        throw new RegistryUnreachableError(`Get "${url}": ${causeOf(err)}`);
      }
      if (res.ok) return res;
      const text = await res.text().catch(() => '');
      if (res.status === 401 && attempt === 0) {
        const ch = parseChallenges(res.headers.get('www-authenticate'))[0];
        let retry = false;
        try {
          retry = await this.authorize(ch);
        } catch (err) {
          if (err instanceof AuthError) throw new RegistryResponseError(401, err.message, 'UNAUTHORIZED');
          throw err;
        }
        if (retry) continue;
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

  /** A blob's bytes as a Node stream (not verified: the caller ingests it with its expected digest). */
  async blob(digest: string): Promise<{ stream: Readable; size?: number }> {
    const res = await this.get(`blobs/${digest}`);
    if (!res.body) throw new RegistryResponseError(res.status, `empty response for blob ${digest}`);
    const len = Number(res.headers.get('content-length'));
    return {
      stream: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
      size: Number.isFinite(len) && res.headers.has('content-length') ? len : undefined,
    };
  }
}
