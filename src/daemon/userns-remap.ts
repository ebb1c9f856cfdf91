// The daemon's `userns-remap` setting resolved as dockerd's parseRemappedRoot
// and setupRemappedRoot do: `default` (the dockremap user, made with its
// subordinate ranges when missing), `user`, `user:group`, `uid`, `uid:gid`;
// names must exist in passwd/group, and the user must have /etc/subuid and
// /etc/subgid ranges. Errors carry dockerd's words.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { freeSubIdStart, subIdRanges, type IdMapping } from '../runtime/userns.ts';
import { SystemError } from '../errors.ts';

export interface UsernsRemap {
  /** `user:group`, as dockerd rewrites the setting once resolved. */
  remappedRoot: string;
  mapping: IdMapping;
}

const DEFAULT_NAME = 'dockremap';
const RANGE = 65536;

export class RemapError extends Error {}

interface Entry { name: string; id: number }

function entries(path: string): Entry[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2])).map((f) => ({ name: f[0], id: Number(f[2]) }));
}

const users = () => entries('/etc/passwd');
const groups = () => entries('/etc/group');
const notFound = (key: string | number, db: string) => `getent unable to find entry "${key}" in ${db} database`;
const isId = (s: string) => /^[+-]?\d+$/.test(s) && Math.abs(Number(s)) < 2 ** 31;

/** dockerd's AddNamespaceRangesUser: a system user and group, and a free range of 65536 IDs in each file. */
function addDockremap(): void {
  try {
    execFileSync('useradd', ['--system', '-s', '/bin/false', '-U', DEFAULT_NAME], { stdio: 'pipe' });
    const user = users().find((u) => u.name === DEFAULT_NAME);
    if (!user) throw new Error(notFound(DEFAULT_NAME, 'passwd'));
    const uidStart = freeSubIdStart('/etc/subuid', RANGE);
    const gidStart = freeSubIdStart('/etc/subgid', RANGE);
    execFileSync('usermod', ['-v', `${uidStart}-${uidStart + RANGE - 1}`, '-w', `${gidStart}-${gidStart + RANGE - 1}`, DEFAULT_NAME], { stdio: 'pipe' });
  } catch (err) {
    const e = err as Error & { stderr?: Buffer };
    throw new RemapError(`Error during "${DEFAULT_NAME}" user creation: ${e.stderr?.toString().trim() || e.message}`);
  }
}

/** dockerd's parseRemappedRoot: the user and group names the setting stands for. */
export function parseRemappedRoot(spec: string): { user: string; group: string } {
  const parts = spec.split(':');
  if (parts.length > 2) throw new RemapError(`Invalid user/group specification in --userns-remap: ${JSON.stringify(spec)}`);
  let user: string;
  let group: string | undefined;
  if (isId(parts[0])) {
    const uid = Number(parts[0]);
    const u = users().find((x) => x.id === uid);
    if (!u) throw new RemapError(`Uid ${uid} has no entry in /etc/passwd: ${notFound(uid, 'passwd')}`);
    user = u.name;
    if (parts.length === 1) {
      const g = groups().find((x) => x.id === uid);
      if (!g) throw new RemapError(`Gid ${uid} has no entry in /etc/group: ${notFound(uid, 'group')}`);
      group = g.name;
    }
  } else {
    const name = parts[0] === 'default' ? DEFAULT_NAME : parts[0];
    const u = users().find((x) => x.name === name);
    if (!u) {
      if (parts[0] !== 'default') throw new RemapError(`Error during uid lookup for ${JSON.stringify(name)}: ${notFound(name, 'passwd')}`);
      addDockremap();
      return { user: DEFAULT_NAME, group: DEFAULT_NAME };
    }
    user = u.name;
    if (parts.length === 1) {
      if (!groups().some((x) => x.name === name)) throw new RemapError(`Error during gid lookup for ${JSON.stringify(name)}: ${notFound(name, 'group')}`);
      group = name;
    }
  }
  if (parts.length === 2) {
    if (isId(parts[1])) {
      const gid = Number(parts[1]);
      const g = groups().find((x) => x.id === gid);
      // dockerd names /etc/passwd here, though it looked in the group database.
      if (!g) throw new RemapError(`Gid ${gid} has no entry in /etc/passwd: ${notFound(gid, 'group')}`);
      group = g.name;
    } else {
      if (!groups().some((x) => x.name === parts[1])) throw new RemapError(`Error during groupname lookup for ${JSON.stringify(parts[1])}: ${notFound(parts[1], 'group')}`);
      group = parts[1];
    }
  }
  return { user, group: group ?? user };
}

/** dockerd's setupRemappedRoot: undefined when there is nothing to remap (unset, or root itself). */
export function setupRemappedRoot(spec: string | undefined, warn: (msg: string) => void = () => {}): UsernsRemap | undefined {
  if (!spec) return undefined;
  const { user, group } = parseRemappedRoot(spec);
  if (user === 'root') {
    warn('User namespaces: root cannot be remapped with itself; user namespaces are OFF');
    return undefined;
  }
  const entry = users().find((u) => u.name === user);
  const who = { name: user, uid: entry?.id ?? -1 };
  try {
    return { remappedRoot: `${user}:${group}`, mapping: { uids: subIdRanges('/etc/subuid', who), gids: subIdRanges('/etc/subgid', who) } };
  } catch (err) {
    if (err instanceof SystemError) throw new RemapError(`Can't create ID mappings: ${err.message}`);
    throw err;
  }
}
