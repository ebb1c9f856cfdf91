// Resolving `-u name[:group]` against the container's own /etc/passwd and
// /etc/group. Files are read inside the rootfs only (a hostile symlink cannot
// point at the host's files), and before the rootfs is mounted they are read
// through the overlay layers, top first.
import { lstatSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';
import { resolveInRoot } from '../files/rootpath.ts';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/** Reads a file of the merged filesystem made of `dirs` (top layer first). */
export function readMerged(dirs: string[], path: string): string | undefined {
  for (const dir of dirs) {
    const p = resolveInRoot(dir, path);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isCharacterDevice() && st.rdev === 0) return undefined; // whiteout: deleted above
    if (!st.isFile()) return undefined;
    return readFileSync(p, 'utf8');
  }
  return undefined;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':')).filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':')).filter((f) => f.length >= 3)
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

const isNum = (s: string) => /^\d+$/.test(s);

export function resolveUser(dirs: string | string[], spec: string, groupAdd: string[] = []): ResolvedUser {
  const layers = typeof dirs === 'string' ? [dirs] : dirs;
  const [userPart, groupPart] = (spec || '0').split(':', 2);
  const passwd = parsePasswd(readMerged(layers, '/etc/passwd'));
  const groups = parseGroup(readMerged(layers, '/etc/group'));
  let entry = passwd.find((p) => (isNum(userPart) ? p.uid === Number(userPart) : p.name === userPart));
  if (!entry) {
    if (!isNum(userPart)) throw new InvalidArgumentError(`unable to find user ${userPart}: no matching entries in passwd file`);
    entry = { name: '', uid: Number(userPart), gid: 0, home: '/' };
  }
  let gid = entry.gid;
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((x) => (isNum(groupPart) ? x.gid === Number(groupPart) : x.name === groupPart));
    if (!g && !isNum(groupPart)) throw new InvalidArgumentError(`unable to find group ${groupPart}: no matching entries in group file`);
    gid = g ? g.gid : Number(groupPart);
  }
  const extra = new Set<number>();
  if (groupPart === undefined && entry.name) for (const g of groups) if (g.members.includes(entry.name) && g.gid !== gid) extra.add(g.gid);
  for (const ga of groupAdd) {
    const g = groups.find((x) => (isNum(ga) ? x.gid === Number(ga) : x.name === ga));
    if (!g && !isNum(ga)) throw new InvalidArgumentError(`Unable to find group ${ga}: no matching entries in group file`);
    extra.add(g ? g.gid : Number(ga));
  }
  return { uid: entry.uid, gid, additionalGids: [...extra], home: entry.home };
}
