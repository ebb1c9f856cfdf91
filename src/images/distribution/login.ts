// `docker login` on the daemon side (POST /auth): checks credentials against
// the registry as dockerd does — ping /v2/, then answer its challenge (Basic:
// GET /v2/ with the credentials; Bearer: a token from the realm) — and says
// "Login Succeeded". Nothing is stored here; the CLI keeps the credentials.
import { InvalidArgumentError, SystemError, UnauthorizedError } from '../../errors.ts';
import { DEFAULT_DOMAIN } from '../../api/reference.ts';
import { AuthError, type Credentials, causeOf, fetchToken } from './auth.ts';
import { basicHeader, parseChallenges } from './challenge.ts';
import type { RegistryHosts } from './hosts.ts';
import { loadUndici } from './undici.ts';

const HUB_ADDRESSES = new Set(['', 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'https://index.docker.io/v1', 'https://registry-1.docker.io']);

/** The registry domain a login server address names (`https://host:5000/` → `host:5000`). */
export function loginDomain(serverAddress: string): string {
  if (HUB_ADDRESSES.has(serverAddress)) return DEFAULT_DOMAIN;
  return serverAddress.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

export async function verifyLogin(hosts: RegistryHosts, serverAddress: string, creds: Credentials): Promise<{ Status: string; IdentityToken: string }> {
  const domain = loginDomain(serverAddress);
  // An address no URL can be made of (a space, a bare `[`) is the client's mistake, not a failed request;
  // so is one with no host (`https://`), which would otherwise ask a host named "v2".
  if (!domain || !URL.canParse(`https://${domain}/v2/`)) throw new InvalidArgumentError(`Get "https://${domain}/v2/": invalid URL`);
  const { fetch } = await loadUndici();
  let lastError: Error | undefined;
  for (const ep of hosts.endpoints(domain).filter((e) => !e.mirror)) {
    const url = `${ep.base}/v2/`;
    let res;
    try {
      res = await fetch(url, { dispatcher: await ep.dispatcher() });
    } catch (err) {
      lastError = new SystemError(`Get "${url}": ${causeOf(err)}`);
      continue;
    }
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { Status: 'Login Succeeded', IdentityToken: '' };
    if (res.status !== 401) {
      lastError = new SystemError(`login attempt to ${url} failed with status: ${res.status} ${res.statusText}`);
      continue;
    }
    const challenge = parseChallenges(res.headers.get('www-authenticate'))[0];
    if (challenge?.scheme === 'bearer') {
      try {
        await fetchToken(challenge, [], creds);
      } catch (err) {
        if (err instanceof AuthError) throw new UnauthorizedError(`Get "${challenge.params.realm ?? url}": ${err.message}`);
        throw err;
      }
      return { Status: 'Login Succeeded', IdentityToken: '' };
    }
    const header = basicHeader(creds);
    const again = await fetch(url, { dispatcher: await ep.dispatcher(), headers: header ? { Authorization: header } : {} });
    await again.arrayBuffer().catch(() => undefined);
    if (again.ok) return { Status: 'Login Succeeded', IdentityToken: '' };
    throw new UnauthorizedError(`login attempt to ${url} failed with status: ${again.status} ${again.statusText}`);
  }
  throw lastError ?? new SystemError(`no endpoint for ${domain}`);
}
