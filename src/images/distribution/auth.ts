// Registry authentication as the distribution spec and dockerd do it: the
// `/v2/` ping (or any 401) carries a WWW-Authenticate challenge; Bearer means
// "fetch a token from the realm for this scope" (anonymously, or with Basic
// credentials when the user has them), Basic means "send the credentials".
import { InvalidArgumentError } from '../../errors.ts';
import { basicHeader, type Challenge } from './challenge.ts';

/** What `X-Registry-Auth` (base64url JSON) carries; all optional. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token from `docker login` with an identity provider. */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
}

/** Decodes the `X-Registry-Auth` header the docker CLI sends (often just `{}`). */
export function decodeRegistryAuth(header: string | undefined | null): Credentials {
  if (!header) return {};
  try {
    const json = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as unknown;
    if (!json || typeof json !== 'object') return {};
    const o = json as Record<string, unknown>;
    const str = (k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
    return { username: str('username'), password: str('password'), identitytoken: str('identitytoken'), registrytoken: str('registrytoken') };
  } catch {
    throw new InvalidArgumentError('invalid X-Registry-Auth header: not base64url-encoded JSON');
  }
}

export class AuthError extends Error {}

/** GETs a token from the challenge's realm for `scopes` (the token server answers `token` or `access_token`). */
export async function fetchToken(ch: Challenge, scopes: string[], creds: Credentials, signal?: AbortSignal): Promise<string> {
  const realm = ch.params.realm;
  if (!realm) throw new AuthError('bearer challenge without a realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new AuthError(`invalid token realm: ${realm}`);
  }
  if (ch.params.service) url.searchParams.set('service', ch.params.service);
  for (const s of scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = {};
  if (creds.username !== undefined) {
    url.searchParams.set('account', creds.username);
    headers.Authorization = basicHeader(creds) as string;
  }
  let res: Response;
  try {
    res = await fetch(url, { headers, signal });
  } catch (err) {
    throw new AuthError(`Get "${url.origin}${url.pathname}": ${causeOf(err)}`);
  }
  const text = await res.text();
  if (res.status === 401 || res.status === 403) throw new AuthError(`unauthorized: ${registryMessage(text) ?? 'authentication required'}`);
  if (!res.ok) throw new AuthError(`token server answered ${res.status}: ${registryMessage(text) ?? text.slice(0, 200)}`);
  let body: { token?: unknown; access_token?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new AuthError('token server sent invalid JSON');
  }
  const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
  if (!token) throw new AuthError('token server sent no token');
  return token;
}

/** The first message of a distribution error body `{"errors":[{code,message}]}`. */
export function registryMessage(text: string): string | undefined {
  try {
    const e = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> }).errors?.[0];
    if (!e) return undefined;
    return [e.code?.toLowerCase().replace(/_/g, ' '), e.message].filter(Boolean).join(': ');
  } catch {
    return undefined;
  }
}

/** A network error as Go's net/http would word it. */
export function causeOf(err: unknown): string {
  // fetch wraps the network error in `cause`; undici's request API throws it as is.
  type NetError = { code?: string; message?: string; hostname?: string; cause?: NetError };
  const e = err as NetError;
  const cause = e.cause ?? e;
  if (cause.code === 'ENOTFOUND') return `dial tcp: lookup ${cause.hostname ?? ''}: no such host`;
  if (cause.code === 'ECONNREFUSED') return 'dial tcp: connect: connection refused';
  if (cause.code === 'UND_ERR_HEADERS_TIMEOUT') return 'net/http: timeout awaiting response headers';
  if (cause.code === 'UND_ERR_BODY_TIMEOUT') return 'net/http: request canceled (body read timed out)';
  if (cause.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
