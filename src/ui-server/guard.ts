// Who may use the dashboard: only the browser the user opened with the URL
// `berth ui` printed. The dashboard drives the daemon (root on this machine),
// so another web page open in the same browser must not: a random token
// (first in the URL, then in a SameSite=Strict cookie), the Host header
// checked against the address served (DNS rebinding), and a foreign Origin
// refused (CSRF, cross-site WebSockets).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE = 'berth-ui-token';

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`, `:8080` (loopback); the port may be 0 (any free one). */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new Error(`invalid address ${JSON.stringify(addr)}: want HOST:PORT, e.g. 127.0.0.1:8080`);
  return { host: (m[1] || '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export class Guard {
  readonly token = randomBytes(24).toString('base64url');
  private hosts = new Set<string>();
  /** Served over HTTPS: the Origin a page sends is https://, and the cookie is Secure. */
  private readonly tls: boolean;

  constructor(o: { tls?: boolean } = {}) {
    this.tls = o.tls ?? false;
  }

  /**
   * The Host values a browser sends for the address listened on. Over TLS,
   * `names` are the server certificate's names (a browser reaches the
   * dashboard only by a name its certificate holds, whatever the address).
   */
  listening(host: string, port: number, names: string[] = []): void {
    const local = host === 'localhost' || host.startsWith('127.') || host === '::1' ? ['localhost', '127.0.0.1', '[::1]'] : [];
    const bracket = (n: string): string => (n.includes(':') && !n.startsWith('[') ? `[${n}]` : n);
    for (const n of [host, ...local, ...names]) this.hosts.add(`${bracket(n).toLowerCase()}:${port}`);
  }

  tokenMatches(t: string | undefined | null): boolean {
    if (!t) return false;
    const a = Buffer.from(t);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Why a request is refused (a 403's text), or undefined when it may pass. `tokenInUrl` lets the first visit in. */
  refusal(req: IncomingMessage, tokenInUrl?: string | null): string | undefined {
    const host = req.headers.host ?? '';
    if (!this.hosts.has(host.toLowerCase())) return `unexpected Host ${JSON.stringify(host)}`;
    const origin = req.headers.origin;
    const scheme = this.tls ? 'https://' : 'http://';
    if (origin !== undefined && !(origin.startsWith(scheme) && this.hosts.has(origin.slice(scheme.length).toLowerCase()))) return `cross-origin request from ${origin}`;
    if (!origin && req.method !== 'GET' && req.method !== 'HEAD') return 'a request that changes something must carry its Origin';
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return `cross-site request (${site})`;
    if (!this.tokenMatches(cookieValue(req.headers.cookie, COOKIE)) && !this.tokenMatches(tokenInUrl)) {
      return 'missing or wrong token: open the address `berth ui` printed (or the one `berth daemon --ui` logged)';
    }
    return undefined;
  }

  cookie(): string {
    return `${COOKIE}=${this.token}; HttpOnly; SameSite=Strict; Path=/${this.tls ? '; Secure' : ''}`;
  }
}
