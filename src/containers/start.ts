// How a created container becomes a process: its state directory, network
// namespace and OCI spec, then its shim, which mounts the rootfs and runs
// `runc create`. Every failure undoes what was done before it.
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContainerRecord } from '../api/container.ts';
import type { NetworkService } from '../network/service.ts';
import { launchShim, ShimConnection } from '../runtime/shim.ts';
import { oomEventsFile } from '../runtime/cgroups/reader.ts';
import { buildSpec, type OciMount } from '../runtime/spec.ts';
import { learnCompiledFilter, seccompFilterKey, withCompiledFilter } from '../runtime/seccomp-bpf.ts';
import { overlayOptions, type Mount, type Snapshotter } from '../storage/snapshotter.ts';
import { logAttributes } from './create.ts';
import { logDriverUnavailable, logFile } from './log-drivers.ts';
import { SystemError } from '../errors.ts';
import type { ContainerServiceOptions } from './options.ts';
import { removeStateDir, startError } from './shim-state.ts';
import { remapOf } from './namespaces.ts';
import { makeNetnsIn, makeUsernsNetns, rootPair, throughView } from '../runtime/userns.ts';
import { usernsFileOf } from '../network/links.ts';

export interface LaunchContext {
  cfg: ContainerServiceOptions;
  snapshots: Snapshotter;
  network: NetworkService;
  stateDir: string;
  runtime: { path: string; args: string[]; root: string };
  /** The container's binds, volumes and --mount tmpfs, resolved (mounts.ts setupMounts). */
  mounts?: OciMount[];
  rootfsPropagation?: string;
  /** The builder's RUN --mount mounts. */
  extraMounts?: OciMount[];
  /** --ipc/--pid container:X's namespaces (namespaces.ts joinedNamespaces). */
  joined?: { ipc?: string; pid?: string; shm?: string };
  /** Records a failed launch's error on the container. */
  save(rec: ContainerRecord): Promise<void>;
}

/** Launches the container's shim and connects to it; the caller sends *start*. */
export async function launchContainer(rec: ContainerRecord, d: LaunchContext): Promise<ShimConnection> {
  const state = d.stateDir;
  await removeStateDir(state);
  await mkdir(join(state, 'rootfs'), { recursive: true, mode: 0o700 });
  const host = rec.HostConfig;
  const remap = remapOf(host, d.cfg.usernsRemap);
  const mounts = await d.snapshots.mounts(rec.Id);
  const view = d.cfg.layerView;
  // A remapped container's overlay is made of the layers' idmapped view (ADR 0005).
  const overlay = mounts[0].type === 'overlay' && remap && view ? { ...mounts[0], options: throughView(mounts[0].options, view.from, view.to) } : mounts[0];
  const rootfsMount = overlay.type === 'overlay' ? overlayOptions(overlay) : undefined;
  const rootfsPath = rootfsMount ? join(state, 'rootfs') : mounts[0].source;
  if (remap) {
    // The remapped root must reach its rootfs (and no one else: as the exec root, root's and its group's, 0710); its network files are its own, as dockerd chowns them.
    const root = rootPair(remap);
    await chown(state, 0, root.gid);
    await chmod(state, 0o710);
    for (const f of [rec.HostsPath, rec.HostnamePath, rec.ResolvConfPath]) if (f) await chown(f, root.uid, root.gid).catch(() => {});
  }
  const runtime = d.runtime;
  const cgroupsPath = `/${host.CgroupParent || d.cfg.cgroupParent}/${rec.Id}`;
  let net: Awaited<ReturnType<NetworkService['setup']>>;
  // A remapped container's network namespace is owned by its user namespace:
  // its own, made together, or (as dockerd) the one of the container whose
  // IPC, PID or network namespace it shares, which owns those.
  const donorOf = (paths: (string | undefined)[]) => paths.map((p) => (p ? /^\/proc\/(\d+)\/ns\//.exec(p)?.[1] : undefined)).find(Boolean);
  const donor = remap ? donorOf([d.joined?.ipc, d.joined?.pid]) : undefined;
  let usernsPath = donor ? `/proc/${donor}/ns/user` : undefined;
  const helper = d.cfg.idmapPath;
  const makeNetns = remap && helper ? async (netns: string) => {
    if (usernsPath) return makeNetnsIn(helper, usernsPath, netns);
    usernsPath = usernsFileOf(netns);
    await makeUsernsNetns(helper, usernsPath, netns, remap);
  } : undefined;
  try {
    net = await d.network.setup(rec, makeNetns);
  } catch (err) {
    await removeStateDir(state);
    throw startError(rec, err);
  }
  if (remap && !usernsPath && net.netns.kind === 'path') {
    const netDonor = donorOf([net.netns.path]);
    if (netDonor) usernsPath = `/proc/${netDonor}/ns/user`;
  }
  let filterKey: string | undefined;
  try {
    const spec = buildSpec({
      id: rec.Id,
      rootfsPath,
      lookupDirs: layerDirs(mounts[0]),
      args: [rec.Path, ...rec.Args],
      env: [...(rec.Config.Env ?? []), ...net.env],
      cwd: rec.Config.WorkingDir || '/',
      tty: rec.Config.Tty === true,
      openStdin: rec.Config.OpenStdin === true,
      user: rec.Config.User ?? '',
      hostname: rec.Config.Hostname ?? rec.Id.slice(0, 12),
      domainname: rec.Config.Domainname,
      hostConfig: host,
      hostsPath: rec.HostsPath,
      hostnamePath: rec.HostnamePath,
      resolvConfPath: rec.ResolvConfPath,
      cgroupsPath,
      netns: net.netns,
      joined: d.joined,
      initPath: host.Init ? d.cfg.initPath : undefined,
      stopSignal: rec.Config.StopSignal,
      mounts: d.mounts,
      rootfsPropagation: d.rootfsPropagation,
      extraMounts: d.extraMounts,
      userns: remap,
      usernsPath,
    });
    filterKey = seccompFilterKey(runtime.path, spec);
    withCompiledFilter(spec, filterKey);
    await writeFile(join(state, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
  } catch (err) {
    await net.ready?.catch(() => {});
    await d.network.teardown(rec);
    await removeStateDir(state);
    throw startError(rec, err);
  }
  const logs = logFile(rec);
  const unavailable = logDriverUnavailable(rec);
  let pid = 0;
  try {
    if (unavailable) throw new SystemError(`failed to initialize logging driver: ${unavailable}`);
    if (logs) await mkdir(dirname(logs.path), { recursive: true, mode: 0o710 });
    pid = await launchShim({
      shimPath: d.cfg.shimPath,
      id: rec.Id,
      stateDir: state,
      runtime: runtime.path,
      runtimeArgs: runtime.args,
      runtimeRoot: runtime.root,
      bundle: state,
      rootfsMount,
      tty: rec.Config.Tty === true,
      stdin: rec.Config.OpenStdin === true,
      logPath: logs?.path,
      logMaxSize: logs?.maxSize,
      logMaxFiles: logs?.maxFiles,
      logAttrs: logAttributes(rec),
      oomEvents: oomEventsFile(cgroupsPath),
      rootfsSyncLater: rootfsMount !== undefined && host.AutoRemove === true,
    });
    await learnCompiledFilter(filterKey, runtime.root, rec.Id);
    // The host's ends of the veths went onto their bridges while the runtime
    // created the container: done before its process starts.
    await net.ready;
  } catch (err) {
    // A created container whose start will not come: its end is its shim's cleanup.
    if (pid > 0) killCreated(pid);
    await net.ready?.catch(() => {});
    await d.network.teardown(rec);
    await removeStateDir(state);
    const e = startError(rec, err);
    rec.State.Error = e.message;
    await d.save(rec);
    throw e;
  }
  return ShimConnection.connect(join(state, 'shim.sock'));
}

function killCreated(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** The directories of a snapshot mount, top first, for reading files before it is mounted. */
function layerDirs(m: Mount): string[] {
  if (m.type === 'bind') return [m.source];
  const opt = (k: string) => m.options.find((o) => o.startsWith(k + '='))?.slice(k.length + 1);
  return [...(opt('upperdir') ? [opt('upperdir') as string] : []), ...(opt('lowerdir') ?? '').split(':').filter(Boolean)];
}
