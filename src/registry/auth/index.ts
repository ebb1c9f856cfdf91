// Who is asking, and may they? Combines htpasswd (Basic), bearer tokens and
// the per-repository access rules into one decision point for the server.
//
// Answers follow what clients expect: no or bad credentials give 401
// UNAUTHORIZED with a WWW-Authenticate challenge (so the client logs in or
// fetches a token); a known user without the permission gets 403 DENIED.
// A bearer token that merely lacks a scope its owner could have gets 401
// with error="insufficient_scope", so the client fetches a better token.
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Action, RegistryConfig } from '../config.ts';
import { RegistryError } from '../errors.ts';
import { AccessControl } from './access.ts';
import { Htpasswd, parseBasic } from './htpasswd.ts';
import { TokenIssuer, TokenVerifier, type AccessEntry } from './token.ts';

export type Principal =
  | { kind: 'open' }
  | { kind: 'anonymous' }
  | { kind: 'user'; user: string }
  | { kind: 'token'; subject: string; access: AccessEntry[] };

/** The name a principal is logged under; never anything secret. */
export function principalName(p: Principal): string {
  if (p.kind === 'user') return p.user;
  if (p.kind === 'token') return p.subject || '(anonymous token)';
  return '-';
}

export class Authorizer {
  private readonly cfg: RegistryConfig;
  readonly acl: AccessControl;
  private htpasswd?: Htpasswd;
  private verifier?: TokenVerifier;
  private tokenUsers?: Htpasswd;
  issuer?: TokenIssuer;

  private constructor(cfg: RegistryConfig) {
    this.cfg = cfg;
    this.acl = new AccessControl(cfg.access);
  }

  static async create(cfg: RegistryConfig): Promise<Authorizer> {
    const a = new Authorizer(cfg);
    if (cfg.auth.htpasswd) {
      a.htpasswd = new Htpasswd(cfg.auth.htpasswd.path);
      await a.htpasswd.load();
    }
    const tc = cfg.auth.token;
    if (tc) {
      a.verifier = new TokenVerifier(tc);
      if (tc.rootCertBundle) await a.verifier.loadBundle(tc.rootCertBundle);
      if (tc.signingKey) {
        let users: Htpasswd | undefined;
        if (tc.htpasswd) {
          users = new Htpasswd(tc.htpasswd);
          await users.load();
          a.tokenUsers = users;
        }
        a.issuer = new TokenIssuer(tc, await readFile(tc.signingKey, 'utf8'), users, a.acl);
        a.verifier.addKey(a.issuer.publicKey);
      }
    }
    return a;
  }

  get mode(): 'none' | 'htpasswd' | 'token' {
    return this.cfg.auth.token ? 'token' : this.cfg.auth.htpasswd ? 'htpasswd' : 'none';
  }

  /** Users in htpasswd files whose hashes are not bcrypt and were ignored. */
  skippedUsers(): string[] {
    return [...(this.htpasswd?.skipped ?? []), ...(this.tokenUsers?.skipped ?? [])];
  }

  /**
   * Identifies the caller; invalid credentials are refused outright rather than treated as anonymous.
   * `basicInTokenMode`: also accept Basic credentials of the built-in token service's users
   * (for /v1/search, where the Docker daemon sends Basic credentials whatever the registry's scheme).
   */
  async authenticate(headers: IncomingHttpHeaders, origin: string, basicInTokenMode = false): Promise<Principal> {
    const mode = this.mode;
    if (mode === 'none') return { kind: 'open' };
    const header = headers.authorization;
    if (!header) return { kind: 'anonymous' };
    if (mode === 'token' && basicInTokenMode && /^Basic\s/i.test(header)) {
      const creds = parseBasic(header);
      if (creds && this.tokenUsers && (await this.tokenUsers.verify(creds.user, creds.password))) return { kind: 'user', user: creds.user };
      throw this.challenge(origin, undefined, undefined, 'invalid username or password');
    }
    if (mode === 'htpasswd') {
      const creds = parseBasic(header);
      if (creds && this.htpasswd && (await this.htpasswd.verify(creds.user, creds.password))) return { kind: 'user', user: creds.user };
      throw this.challenge(origin, undefined, undefined, 'invalid username or password');
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const verified = m && this.verifier ? await this.verifier.verify(m[1]) : undefined;
    if (!verified) throw this.challenge(origin, undefined, 'invalid_token', 'invalid, expired or unacceptable token');
    return { kind: 'token', subject: verified.subject, access: verified.access };
  }

  can(p: Principal, repo: string, action: Action): boolean {
    switch (p.kind) {
      case 'open':
        return true;
      case 'anonymous':
        return this.acl.allowed(undefined, repo).has(action);
      case 'user':
        return this.acl.allowed(p.user, repo).has(action);
      case 'token':
        return p.access.some((e) => e.type === 'repository' && e.name === repo && (e.actions.includes(action) || e.actions.includes('*')));
    }
  }

  /** Throws the right 401/403 unless `p` may perform every action in `actions` on `repo`. */
  require(p: Principal, repo: string, actions: Action[], origin: string): void {
    const missing = actions.filter((a) => !this.can(p, repo, a));
    if (missing.length === 0) return;
    // The challenge asks for what a client doing this operation needs (pull is implied by push, as in distribution).
    const wanted = actions.includes('push') && !actions.includes('pull') ? ['pull', ...actions] : actions;
    const scope = `repository:${repo}:${wanted.join(',')}`;
    const detail = missing.map((a) => ({ Type: 'repository', Name: repo, Action: a }));
    if (p.kind === 'anonymous') throw this.challenge(origin, scope, undefined, undefined, detail);
    if (p.kind === 'token') {
      const user = p.subject || undefined;
      // A token for nobody, or for someone who could have had the scope: ask the client to get a new token.
      const couldHave = this.issuer !== undefined && missing.every((a) => this.acl.allowed(user, repo).has(a));
      if (!user || couldHave || this.issuer === undefined) {
        throw this.challenge(origin, scope, 'insufficient_scope', undefined, detail);
      }
    }
    throw new RegistryError(403, 'DENIED', 'requested access to the resource is denied', detail);
  }

  /** For /v2/: a client with no credentials is challenged so it knows how to log in. */
  requireAuthenticated(p: Principal, origin: string): void {
    if (p.kind === 'anonymous') throw this.challenge(origin);
  }

  /** May `p` list the catalog (the list is then filtered by `visible`)? */
  requireCatalog(p: Principal, origin: string): void {
    if (p.kind === 'token' && !p.access.some((e) => e.type === 'registry' && e.name === 'catalog' && (e.actions.includes('*') || e.actions.includes('search')))) {
      throw this.challenge(origin, 'registry:catalog:*', 'insufficient_scope');
    }
    if (p.kind === 'anonymous' && this.mode === 'token') throw this.challenge(origin, 'registry:catalog:*');
  }

  /** Whether `repo` shows up in the catalog and search results for `p`. */
  visible(p: Principal, repo: string): boolean {
    if (p.kind === 'token') {
      if (this.can(p, repo, 'pull')) return true;
      const catalog = p.access.some((e) => e.type === 'registry' && e.name === 'catalog');
      if (!catalog) return false;
      // Our own tokens: filter by the subject's rights. Foreign issuer: the catalog grant is all we know.
      return this.issuer ? this.acl.allowed(p.subject || undefined, repo).has('pull') : true;
    }
    return this.can(p, repo, 'pull');
  }

  /** 401 with the WWW-Authenticate header for the configured scheme. */
  challenge(origin: string, scope?: string, error?: string, message?: string, detail?: unknown): RegistryError {
    const quote = (s: string): string => `"${s.replace(/["\\]/g, '')}"`;
    let header: string;
    if (this.mode === 'token' && this.cfg.auth.token) {
      const tc = this.cfg.auth.token;
      const realm = tc.realm && !tc.autoRedirect ? tc.realm : `${origin}/auth/token`;
      header = `Bearer realm=${quote(realm)},service=${quote(tc.service)}`;
      if (scope) header += `,scope=${quote(scope)}`;
      if (error) header += `,error=${quote(error)}`;
    } else {
      header = `Basic realm=${quote(this.cfg.auth.htpasswd?.realm ?? 'berth-registry')}`;
    }
    return new RegistryError(401, 'UNAUTHORIZED', message ?? 'authentication required', detail, { 'WWW-Authenticate': header });
  }

  /** The built-in token endpoint, when this registry issues its own tokens. */
  async tokenEndpoint(query: URLSearchParams, authorization: string | undefined): Promise<{ status: number; body: unknown } | undefined> {
    if (!this.issuer) return undefined;
    const creds = parseBasic(authorization);
    if (authorization && !creds) return { status: 401, body: { errors: [{ code: 'UNAUTHORIZED', message: 'only Basic credentials are accepted' }] } };
    return this.issuer.handle(query, creds);
  }
}
