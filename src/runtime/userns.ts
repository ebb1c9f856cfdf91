// User-namespace remapping (daemon `userns-remap`, ADR 0005): the ID ranges
// a remapped container's root lives in, what its OCI spec gets, and the
// idmapped view of the layers through which its overlay shows image files
// as owned by that range while they stay unshifted on disk.
import { readFileSync, statSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidArgumentError, SystemError } from '../errors.ts';
import { runHostCommand } from './host-command.ts';
import { isMountPoint } from './mountinfo.ts';

/** One line of a uid_map/gid_map: container IDs [containerID, containerID+size) are host IDs from hostID. */
export interface IdRange { containerID: number; hostID: number; size: number }

export interface IdMapping { uids: IdRange[]; gids: IdRange[] }

/** The host uid/gid a container ID maps to, or undefined outside the ranges. */
export function toHost(ranges: IdRange[], id: number): number | undefined {
  for (const r of ranges) if (id >= r.containerID && id < r.containerID + r.size) return r.hostID + (id - r.containerID);
  return undefined;
}

/** The container ID a host ID shows as inside, or undefined (the kernel's overflow ID). */
export function toContainer(ranges: IdRange[], id: number): number | undefined {
  for (const r of ranges) if (id >= r.hostID && id < r.hostID + r.size) return r.containerID + (id - r.hostID);
  return undefined;
}

const OVERFLOW_ID = 65534;

/**
 * Owner shifts for what crosses into or out of a remapped container (cp,
 * export): host IDs outside the range show as the overflow ID, as inside;
 * a container ID outside it cannot be written (dockerd's error).
 */
export function idShifts(m: IdMapping): {
  toContainer: (uid: number, gid: number) => { uid: number; gid: number };
  toHost: (uid: number, gid: number) => { uid: number; gid: number };
} {
  const host = (ranges: IdRange[], id: number) => {
    const h = toHost(ranges, id);
    if (h === undefined) throw new InvalidArgumentError(`Container ID ${id} cannot be mapped to a host ID`);
    return h;
  };
  return {
    toContainer: (uid, gid) => ({ uid: toContainer(m.uids, uid) ?? OVERFLOW_ID, gid: toContainer(m.gids, gid) ?? OVERFLOW_ID }),
    toHost: (uid, gid) => ({ uid: host(m.uids, uid), gid: host(m.gids, gid) }),
  };
}

/** The host IDs of the container's root (dockerd's RootPair). */
export function rootPair(m: IdMapping): { uid: number; gid: number } {
  const uid = toHost(m.uids, 0);
  const gid = toHost(m.gids, 0);
  if (uid === undefined || gid === undefined) throw new SystemError('Container ID 0 cannot be mapped to a host ID');
  return { uid, gid };
}

interface SubId { name: string; start: number; count: number }

export function parseSubIds(text: string): SubId[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'))
    .filter((f) => f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2]))
    .map(([name, start, count]) => ({ name, start: Number(start), count: Number(count) }));
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A user's ranges in /etc/subuid or /etc/subgid (by name or uid), laid end to
 * end from container ID 0, as moby's LoadIdentityMapping.
 */
export function subIdRanges(path: string, user: { name: string; uid: number }): IdRange[] {
  const mine = parseSubIds(readOrEmpty(path)).filter((s) => s.name === user.name || s.name === String(user.uid));
  if (mine.length === 0) throw new SystemError(`no subuid ranges found for user ${JSON.stringify(user.name)}`);
  let next = 0;
  return mine.map((s) => {
    const r = { containerID: next, hostID: s.start, size: s.count };
    next += s.count;
    return r;
  });
}

/** A free range of `count` IDs at or after 100000 (the default start of useradd's SUB_UID_MIN), as dockerd picks for dockremap. */
export function freeSubIdStart(path: string, count: number): number {
  const taken = parseSubIds(readOrEmpty(path)).sort((a, b) => a.start - b.start);
  let start = 100000;
  for (const s of taken) if (start < s.start + s.count && s.start < start + count) start = s.start + s.count;
  return start;
}

/** What a remapped container's spec adds: its user namespace and the maps runc writes. */
export function specMappings(m: IdMapping): { uidMappings: IdRange[]; gidMappings: IdRange[] } {
  return { uidMappings: m.uids, gidMappings: m.gids };
}

/**
 * The maps of the idmapped view: on-disk IDs are the container's, shown as
 * its host range. One more line gives host root (the overlay's mounter, which
 * makes overlayfs's work directory and whiteouts) an on-disk ID, the last
 * valid one; without it overlayfs cannot write through the view (EOVERFLOW)
 * and mounts read-only. No container process has that host ID.
 */
function viewMap(ranges: IdRange[]): string {
  return [...ranges.map((r) => `${r.containerID} ${r.hostID} ${r.size}`), '4294967294 0 1'].join(',');
}

/**
 * Mounts the idmapped view of `source` at `target`. One left by a daemon that
 * was killed is replaced, never trusted: its source may be gone or its maps
 * other. Running containers' overlays hold their own references to the layers
 * and do not need it.
 */
export async function mountIdmappedView(helper: string, source: string, target: string, m: IdMapping): Promise<void> {
  if (isMountPoint(target)) await runHostCommand('umount', ['-l', target]).catch(() => {});
  await mkdir(target, { recursive: true, mode: 0o711 });
  await runHostCommand(helper, [source, target, viewMap(m.uids), viewMap(m.gids)])
    .catch((err: Error) => { throw new SystemError(`cannot mount the idmapped view of the layers for userns-remap: ${err.message}`); });
}

/**
 * A remapped container's user namespace and a network namespace it owns,
 * bound on `usernsFile` and `netnsFile` (runc joins both; an exec can enter
 * the network namespace only from the user namespace that owns it).
 */
export async function makeUsernsNetns(helper: string, usernsFile: string, netnsFile: string, m: IdMapping): Promise<void> {
  const lines = (ranges: IdRange[]) => ranges.map((r) => `${r.containerID} ${r.hostID} ${r.size}`).join(',');
  await writeFile(usernsFile, '');
  await writeFile(netnsFile, '');
  await runHostCommand(helper, ['--netns', usernsFile, netnsFile, lines(m.uids), lines(m.gids)])
    .catch(async (err: Error) => {
      await rm(usernsFile, { force: true });
      throw new SystemError(`cannot make the container's user namespace: ${err.message}`);
    });
}

/** A network namespace owned by another container's user namespace (`/proc/<pid>/ns/user`), bound on `netnsFile`. */
export async function makeNetnsIn(helper: string, userns: string, netnsFile: string): Promise<void> {
  await writeFile(netnsFile, '');
  await runHostCommand(helper, ['--netns-in', userns, netnsFile])
    .catch((err: Error) => { throw new SystemError(`cannot make the container's network namespace: ${err.message}`); });
}

export async function unmountIdmappedView(target: string): Promise<void> {
  if (isMountPoint(target)) await runHostCommand('umount', ['-l', target]).catch(() => {});
  await rmdir(target).catch(() => {});
}

/**
 * dockerd's canAccess check of the directories above a root: the remapped
 * root must be able to search each one to reach a container's rootfs.
 * Returns the first that stops it.
 */
export function blockingAncestor(path: string, root: { uid: number; gid: number }): string | undefined {
  for (let dir = dirname(path); dir !== '/' && dir !== '.'; dir = dirname(dir)) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      return dir;
    }
    const ok = (st.mode & 0o001) !== 0 || (st.uid === root.uid && (st.mode & 0o100) !== 0) || (st.gid === root.gid && (st.mode & 0o010) !== 0);
    if (!ok) return dir;
  }
  return undefined;
}

/** A snapshot's overlay options with its directories under `from` read through the view at `to`. */
export function throughView(options: string[], from: string, to: string): string[] {
  const move = (p: string) => (p === from || p.startsWith(from + '/') ? to + p.slice(from.length) : p);
  return options.map((o) => {
    const eq = o.indexOf('=');
    const key = o.slice(0, eq);
    if (!['lowerdir', 'upperdir', 'workdir'].includes(key)) return o;
    return `${key}=${o.slice(eq + 1).split(':').map(move).join(':')}`;
  });
}

/**
 * Shifts everything under `dir` (not following links) from container IDs to
 * the host range: image content copied into a volume a remapped container
 * uses. IDs outside the range are left as they are.
 */
export async function shiftOwnership(dir: string, m: IdMapping): Promise<void> {
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    const uid = toHost(m.uids, st.uid) ?? st.uid;
    const gid = toHost(m.gids, st.gid) ?? st.gid;
    if (uid !== st.uid || gid !== st.gid) {
      await lchown(p, uid, gid);
      // chown(2) clears set-user/group-ID bits; the copy keeps the image's.
      if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) await chmod(p, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const name of await readdir(p)) await visit(join(p, name));
  };
  await visit(dir);
}
