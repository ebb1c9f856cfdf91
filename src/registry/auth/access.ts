// Per-repository permissions (berth's role-based access control). Rules are
// globs over repository names granting actions to anonymous clients, users
// and teams; a principal's rights are the union of every matching rule.
// Without an `access` section the registry behaves like the CNCF one: any
// authenticated user may do anything and anonymous clients nothing.
import { ACTIONS, type AccessConfig, type Action } from '../config.ts';

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export class AccessControl {
  private readonly cfg?: AccessConfig;
  private readonly rules: Array<{ re: RegExp; rule: AccessConfig['repositories'][number] }>;

  constructor(cfg?: AccessConfig) {
    this.cfg = cfg;
    this.rules = (cfg?.repositories ?? []).map((rule) => ({ re: globToRegExp(rule.match), rule }));
  }

  /** True when an explicit access section is configured. */
  get configured(): boolean {
    return this.cfg !== undefined;
  }

  isAdmin(user: string | undefined): boolean {
    if (user === undefined) return false;
    return this.cfg ? this.cfg.admins.includes(user) : true;
  }

  private teamsOf(user: string): string[] {
    return Object.entries(this.cfg?.teams ?? {}).filter(([, members]) => members.includes(user)).map(([t]) => t);
  }

  /** Actions `user` (undefined for anonymous) may perform on `repo`. */
  allowed(user: string | undefined, repo: string): Set<Action> {
    if (!this.cfg) return new Set(user === undefined ? [] : ACTIONS);
    if (this.isAdmin(user)) return new Set(ACTIONS);
    const out = new Set<Action>();
    const teams = user === undefined ? [] : this.teamsOf(user);
    for (const { re, rule } of this.rules) {
      if (!re.test(repo)) continue;
      rule.anonymous.forEach((a) => out.add(a));
      if (user === undefined) continue;
      (rule.users[user] ?? []).forEach((a) => out.add(a));
      for (const t of teams) (rule.teams[t] ?? []).forEach((a) => out.add(a));
    }
    return out;
  }
}
