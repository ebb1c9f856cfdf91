// How a created container becomes a process: its state directory, network
// namespace and OCI spec, then its shim, which mounts the rootfs and runs
// `runc create`. Every failure undoes what was done before it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord } from '../api/container.ts';
import { ramInBytes } from '../api/units.ts';
import type { NetworkService } from '../network/service.ts';
import { launchShim, ShimConnection } from '../runtime/shim.ts';
import { buildSpec, type OciMount } from '../runtime/spec.ts';
import { overlayOptions, type Mount, type Snapshotter } from '../storage/snapshotter.ts';
import { logAttributes } from './create.ts';
import type { ContainerServiceOptions } from './options.ts';
import { removeStateDir, startError } from './shim-state.ts';

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
  /** Records a failed launch's error on the container. */
  save(rec: ContainerRecord): Promise<void>;
}

/** Launches the container's shim and connects to it; the caller sends *start*. */
export async function launchContainer(rec: ContainerRecord, d: LaunchContext): Promise<ShimConnection> {
  const state = d.stateDir;
  await removeStateDir(state);
  await mkdir(join(state, 'rootfs'), { recursive: true, mode: 0o700 });
  const mounts = await d.snapshots.mounts(rec.Id);
  const rootfsMount = mounts[0].type === 'overlay' ? overlayOptions(mounts[0]) : undefined;
  const rootfsPath = rootfsMount ? join(state, 'rootfs') : mounts[0].source;
  const host = rec.HostConfig;
  const runtime = d.runtime;
  let net: Awaited<ReturnType<NetworkService['setup']>>;
  try {
    net = await d.network.setup(rec);
  } catch (err) {
    await removeStateDir(state);
    throw startError(rec, err);
  }
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
      cgroupsPath: `/${host.CgroupParent || d.cfg.cgroupParent}/${rec.Id}`,
      netns: net.netns,
      initPath: host.Init ? d.cfg.initPath : undefined,
      stopSignal: rec.Config.StopSignal,
      mounts: d.mounts,
      rootfsPropagation: d.rootfsPropagation,
      extraMounts: d.extraMounts,
    });
    await writeFile(join(state, 'config.json'), JSON.stringify(spec));
  } catch (err) {
    await d.network.teardown(rec);
    await removeStateDir(state);
    throw startError(rec, err);
  }
  const log = host.LogConfig ?? { Type: 'json-file', Config: {} };
  try {
    await launchShim({
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
      logPath: log.Type === 'json-file' ? rec.LogPath : undefined,
      logMaxSize: log.Config['max-size'] ? ramInBytes(log.Config['max-size']) : undefined,
      logMaxFiles: log.Config['max-file'] ? Number(log.Config['max-file']) : undefined,
      logAttrs: logAttributes(rec),
    });
  } catch (err) {
    await d.network.teardown(rec);
    await removeStateDir(state);
    const e = startError(rec, err);
    rec.State.Error = e.message;
    await d.save(rec);
    throw e;
  }
  return ShimConnection.connect(join(state, 'shim.sock'));
}

/** The directories of a snapshot mount, top first, for reading files before it is mounted. */
function layerDirs(m: Mount): string[] {
  if (m.type === 'bind') return [m.source];
  const opt = (k: string) => m.options.find((o) => o.startsWith(k + '='))?.slice(k.length + 1);
  return [...(opt('upperdir') ? [opt('upperdir') as string] : []), ...(opt('lowerdir') ?? '').split(':').filter(Boolean)];
}
