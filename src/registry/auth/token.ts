// Docker Registry token authentication: a token service that authenticates a
// user (htpasswd, Basic) and hands out a short-lived JWT listing what it may do
// ("access" claim), and the registry-side check of such tokens. Tokens are
// signed with ES256/ES384 (EC key) or RS256 (RSA key); the header carries the
// key id in the libtrust format the CNCF registry expects, so its registries
// can verify our tokens with the certificate as rootcertbundle.
import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SignJWT, jwtVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { ACTIONS, type Action, type TokenConfig } from '../config.ts';
import type { AccessControl } from './access.ts';
import type { Htpasswd } from './htpasswd.ts';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface VerifiedToken {
  subject: string;
  access: AccessEntry[];
}

export interface RequestedScope {
  type: string;
  name: string;
  actions: string[];
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** libtrust key id: base32 of the first 240 bits of SHA-256(DER SubjectPublicKeyInfo), in groups of four. */
export function libtrustKeyId(pub: KeyObject): string {
  const der = pub.export({ type: 'spki', format: 'der' });
  const bytes = createHash('sha256').update(der).digest().subarray(0, 30);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)?.join(':') ?? out;
}

export function algorithmFor(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  throw new Error(`unsupported token signing key type ${key.asymmetricKeyType ?? 'unknown'} (use an EC P-256 or RSA key)`);
}

/** Parses "repository:name:pull,push" (the name may itself contain ":" for host:port). */
export function parseScope(scope: string): RequestedScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').map((a) => a.trim()).filter(Boolean);
  if (!name) return undefined;
  return { type, name, actions };
}

/** Keys whose signatures the registry accepts, indexed by libtrust key id. */
export class TokenVerifier {
  private readonly cfg: TokenConfig;
  private readonly keys = new Map<string, KeyObject>();

  constructor(cfg: TokenConfig) {
    this.cfg = cfg;
  }

  addKey(pub: KeyObject): void {
    this.keys.set(libtrustKeyId(pub), pub);
  }

  async loadBundle(path: string): Promise<void> {
    const text = await readFile(path, 'utf8');
    const blocks = text.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
    for (const block of blocks) {
      if (block.includes('BEGIN CERTIFICATE')) this.addKey(new X509Certificate(block).publicKey);
      else if (block.includes('PUBLIC KEY')) this.addKey(createPublicKey(block));
    }
    if (this.keys.size === 0) throw new Error(`${path}: no certificates or public keys found`);
  }

  /** Verifies signature, issuer, audience, expiry; returns undefined for any bad token. */
  async verify(token: string): Promise<VerifiedToken | undefined> {
    let key: KeyObject | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (typeof header.kid === 'string') key = this.keys.get(header.kid);
      else if (Array.isArray(header.x5c) && typeof header.x5c[0] === 'string') {
        const leaf = new X509Certificate(Buffer.from(header.x5c[0], 'base64')).publicKey;
        key = this.keys.get(libtrustKeyId(leaf));
      } else if (this.keys.size === 1) key = [...this.keys.values()][0];
    } catch {
      return undefined;
    }
    if (!key) return undefined;
    try {
      const { payload } = await jwtVerify(token, key, {
        issuer: this.cfg.issuer,
        audience: this.cfg.service,
        algorithms: [algorithmFor(key)],
        clockTolerance: this.cfg.leeway,
        requiredClaims: ['exp'],
      });
      const access: AccessEntry[] = [];
      if (Array.isArray(payload.access)) {
        for (const a of payload.access as unknown[]) {
          const e = a as Partial<AccessEntry>;
          if (typeof e?.type === 'string' && typeof e.name === 'string' && Array.isArray(e.actions)) {
            access.push({ type: e.type, name: e.name, actions: e.actions.filter((x): x is string => typeof x === 'string') });
          }
        }
      }
      return { subject: typeof payload.sub === 'string' ? payload.sub : '', access };
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return undefined;
      throw err;
    }
  }
}

/** The built-in token service (berth extension `auth.token.signingkey`). */
export class TokenIssuer {
  private readonly cfg: TokenConfig;
  private readonly key: KeyObject;
  private readonly alg: string;
  private readonly kid: string;
  private readonly users?: Htpasswd;
  private readonly acl: AccessControl;
  readonly publicKey: KeyObject;

  constructor(cfg: TokenConfig, pem: string, users: Htpasswd | undefined, acl: AccessControl) {
    this.cfg = cfg;
    this.key = createPrivateKey(pem);
    this.alg = algorithmFor(this.key);
    this.publicKey = createPublicKey(this.key);
    this.kid = libtrustKeyId(this.publicKey);
    this.users = users;
    this.acl = acl;
  }

  /** What `user` (undefined for anonymous) gets out of the requested scopes. */
  grant(user: string | undefined, scopes: RequestedScope[]): AccessEntry[] {
    const out: AccessEntry[] = [];
    for (const s of scopes) {
      let actions: string[] = [];
      if (s.type === 'repository') {
        const allowed = this.acl.allowed(user, s.name);
        const wanted = s.actions.includes('*') ? [...ACTIONS, '*'] : s.actions;
        actions = wanted.filter((a) => (a === '*' ? ACTIONS.every((x) => allowed.has(x)) : allowed.has(a as Action)));
      } else if (s.type === 'registry' && s.name === 'catalog') {
        // Listing is filtered per user by the registry, so anyone may ask.
        actions = s.actions.filter((a) => a === '*' || a === 'search');
      }
      if (actions.length > 0) out.push({ type: s.type, name: s.name, actions: [...new Set(actions)] });
    }
    return out;
  }

  async issue(user: string | undefined, scopes: RequestedScope[]): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = Math.max(1, Math.round(this.cfg.expiration));
    const token = await new SignJWT({ access: this.grant(user, scopes) })
      .setProtectedHeader({ alg: this.alg, typ: 'JWT', kid: this.kid })
      .setIssuer(this.cfg.issuer)
      .setSubject(user ?? '')
      .setAudience(this.cfg.service)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + expiresIn)
      .setJti(randomBytes(16).toString('hex'))
      .sign(this.key);
    return { token, expiresIn, issuedAt: new Date(now * 1000).toISOString() };
  }

  /**
   * GET /auth/token?service=...&scope=...: Basic credentials are optional
   * (anonymous clients get what anonymous access allows) but wrong ones are
   * refused with 401. Returns status and JSON body.
   */
  async handle(query: URLSearchParams, creds: { user: string; password: string } | undefined): Promise<{ status: number; body: unknown }> {
    const service = query.get('service');
    if (service !== null && service !== this.cfg.service) {
      return { status: 400, body: { errors: [{ code: 'DENIED', message: `unknown service ${JSON.stringify(service)}` }] } };
    }
    let user: string | undefined;
    if (creds) {
      if (!this.users || !(await this.users.verify(creds.user, creds.password))) {
        return { status: 401, body: { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] } };
      }
      user = creds.user;
    }
    const scopes: RequestedScope[] = [];
    for (const raw of query.getAll('scope')) {
      // Some clients put several scopes in one parameter, space separated.
      for (const part of raw.split(' ').filter(Boolean)) {
        const s = parseScope(part);
        if (s) scopes.push(s);
      }
    }
    const t = await this.issue(user, scopes);
    return { status: 200, body: { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt } };
  }
}
