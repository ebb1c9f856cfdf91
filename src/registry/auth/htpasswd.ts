// htpasswd files with bcrypt hashes (what `htpasswd -B` writes and what the
// CNCF registry accepts). bcrypt is deliberately slow, and Basic-auth clients
// send the password with every request, so successful checks are remembered
// for a while under a keyed hash of (user, password, stored hash) — the
// password itself is never kept.
import { readFile } from 'node:fs/promises';
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';

const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 10_000;

export class Htpasswd {
  private readonly path: string;
  private users = new Map<string, string>();
  private readonly verified = new Map<string, number>();
  private readonly cacheKey = randomBytes(32);
  private dummy?: string;
  /** Lines that were skipped (non-bcrypt hashes), for a startup warning. */
  skipped: string[] = [];

  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<void> {
    const text = await readFile(this.path, 'utf8');
    const users = new Map<string, string>();
    const skipped: string[] = [];
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const user = line.slice(0, i);
      const hash = line.slice(i + 1);
      if (/^\$2[aby]\$\d\d\$/.test(hash)) users.set(user, hash);
      else skipped.push(user);
    }
    this.users = users;
    this.skipped = skipped;
    this.verified.clear();
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    if (!hash) {
      // Spend comparable time on unknown users so timing does not reveal who exists.
      this.dummy ??= await bcrypt.hash('dummy', 10);
      await bcrypt.compare(password, this.dummy);
      return false;
    }
    const key = createHmac('sha256', this.cacheKey).update(user).update('\0').update(password).update('\0').update(hash).digest('hex');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) {
      if (this.verified.size >= CACHE_MAX) this.verified.clear();
      this.verified.set(key, Date.now() + CACHE_TTL_MS);
    }
    return ok;
  }
}

/** Parses an "Authorization: Basic ..." header into user and password. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}
