// The namespace modes of a container besides its network: --ipc
// (private|shareable|none|host|container:X), --pid (host|container:X), --uts
// host, --cgroupns (host|private), --userns host. Checked at create with
// dockerd's words; at start a container:X mode becomes the path of X's
// namespace, which must be running (and for IPC, shareable).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { ContainerRecord, HostConfig } from '../api/container.ts';
import { ConflictError, InvalidArgumentError, NotFoundError, SystemError } from '../errors.ts';
import { runHostCommand } from '../runtime/host-command.ts';
import { isMountPoint } from '../runtime/mountinfo.ts';
import type { IdMapping } from '../runtime/userns.ts';

/** What the spec builder joins instead of making new: namespace paths, and the donor's /dev/shm. */
export interface JoinedNamespaces { ipc?: string; pid?: string; shm?: string }

const containerRef = (mode: string | undefined) => (mode?.startsWith('container:') ? mode.slice('container:'.length) : undefined);

/** cgroup v2 hosts give each container its own cgroup namespace by default, v1 hosts the host's (dockerd's defaults). */
export function defaultCgroupnsMode(): 'host' | 'private' {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'private' : 'host';
}

/** dockerd's checks of the modes at create; containers named by container:X must exist. */
export function checkNamespaceModes(h: HostConfig, find: (ref: string) => ContainerRecord | undefined): void {
  const ipc = h.IpcMode ?? '';
  if (!['', 'private', 'shareable', 'none', 'host'].includes(ipc) && !(containerRef(ipc))) throw new InvalidArgumentError(`invalid IPC mode: ${ipc}`);
  const pid = h.PidMode ?? '';
  if (!['', 'host'].includes(pid) && !containerRef(pid)) throw new InvalidArgumentError(`invalid PID mode: ${pid}`);
  if (!['', 'host'].includes(h.UTSMode ?? '')) throw new InvalidArgumentError(`invalid UTS mode: ${h.UTSMode}`);
  if (!['', 'host', 'private'].includes(h.CgroupnsMode ?? '')) throw new InvalidArgumentError(`invalid cgroup namespace mode: ${h.CgroupnsMode}`);
  // As dockerd: "" (the daemon's remapping, if any) or host (none).
  if (!['', 'host'].includes((h.UsernsMode ?? '').split(':')[0])) throw new InvalidArgumentError(`invalid USER mode: ${h.UsernsMode}`);
  if (h.UTSMode === 'host' && h.NetworkMode?.startsWith('container:')) throw new InvalidArgumentError('conflicting options: hostname and the network mode');
  for (const ref of [containerRef(ipc), containerRef(pid)]) {
    if (ref !== undefined && !find(ref)) throw new NotFoundError(`No such container: ${ref}`);
  }
}

/** The maps a container runs with under userns-remap; none for --userns=host or without remapping. */
export function remapOf(h: HostConfig, remap: { mapping: IdMapping } | undefined): IdMapping | undefined {
  return remap && h.UsernsMode !== 'host' ? remap.mapping : undefined;
}

/** dockerd's refusals under userns-remap (verifyPlatformContainerSettings), unless the container opts out with --userns=host. */
export function checkUsernsRemap(h: HostConfig, remap: { mapping: IdMapping } | undefined): void {
  if (!remapOf(h, remap)) return;
  if (h.Privileged) throw new InvalidArgumentError('privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode');
  if (h.NetworkMode === 'host') throw new InvalidArgumentError("cannot share the host's network namespace when user namespaces are enabled");
  if (h.PidMode === 'host') throw new InvalidArgumentError('cannot share the host PID namespace when user namespaces are enabled');
}

/**
 * A shareable IPC container's /dev/shm: a tmpfs the daemon mounts in the
 * host's mount namespace (one in the container's own could not be bound into
 * another's), so joiners bind the same one, as dockerd's mounts/shm.
 */
export async function mountShareableShm(path: string, size: number): Promise<void> {
  if (isMountPoint(path)) return;
  await mkdir(path, { recursive: true, mode: 0o700 });
  await runHostCommand('mount', ['-t', 'tmpfs', '-o', `nosuid,noexec,nodev,mode=1777,size=${size}`, 'shm', path])
    .catch((err: Error) => { throw new SystemError(`mounting shm tmpfs: ${err.message}`); });
}

export async function unmountShareableShm(path: string): Promise<void> {
  // Only a shareable-IPC container has the directory: the others skip reading the mount table.
  if (existsSync(path) && isMountPoint(path)) await runHostCommand('umount', ['-l', path]).catch(() => {});
}

/** The namespaces a starting container joins; dockerd's errors when the donor cannot give them. */
export function joinedNamespaces(h: HostConfig, find: (ref: string) => ContainerRecord | undefined, shmOf: (rec: ContainerRecord) => string): JoinedNamespaces {
  const out: JoinedNamespaces = {};
  const donor = (ref: string, what: string) => {
    const c = find(ref);
    if (!c) throw new NotFoundError(`No such container: ${ref}`);
    if (!c.State.Running || !c.State.Pid) throw new ConflictError(`cannot join ${what} of a non running container: ${c.Id}`);
    return c;
  };
  const ipcRef = containerRef(h.IpcMode);
  if (ipcRef !== undefined) {
    const c = donor(ipcRef, 'IPC');
    if (c.HostConfig.IpcMode !== 'shareable' && c.HostConfig.IpcMode !== 'host') {
      throw new ConflictError('non-shareable IPC (hint: use IpcMode:shareable for the donor container)');
    }
    out.ipc = c.HostConfig.IpcMode === 'host' ? undefined : `/proc/${c.State.Pid}/ns/ipc`;
    out.shm = c.HostConfig.IpcMode === 'host' ? '/dev/shm' : shmOf(c);
  }
  const pidRef = containerRef(h.PidMode);
  if (pidRef !== undefined) out.pid = `/proc/${donor(pidRef, 'PID').State.Pid}/ns/pid`;
  return out;
}

const NAMESPACED_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/**
 * Sysctls a container may set: those of the namespaces it has of its own
 * (IPC's kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*; net.* unless it
 * shares the host's network), the docker CLI's allowlist, checked at create.
 */
export function checkSysctls(h: HostConfig): void {
  for (const k of Object.keys(h.Sysctls ?? {})) {
    const ipc = NAMESPACED_SYSCTLS.has(k) || k.startsWith('fs.mqueue.');
    if (!ipc && !k.startsWith('net.')) throw new InvalidArgumentError(`sysctl '${k}' is not allowed`);
    if (ipc && h.IpcMode === 'host') throw new InvalidArgumentError(`sysctl '${k}' is not allowed in host IPC namespace`);
    if (k.startsWith('net.') && h.NetworkMode === 'host') throw new InvalidArgumentError(`sysctl '${k}' is not allowed in host network namespace`);
  }
}
