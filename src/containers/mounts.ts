// A container's mounts through its life, after dockerd's registerMountPoints
// and setupMounts: at create, -v binds, --mount entries, --volumes-from, the
// image's and the request's VOLUMEs and --tmpfs are checked and resolved into
// mount points (volumes referenced, new ones filled from the image); at start
// they become the spec's mounts (volumes mounted); at exit volumes are
// unmounted; at removal references are dropped and, with `rm -v`, anonymous
// volumes removed. The grammar is in mount-spec.ts.
import { runHostCommand } from '../runtime/host-command.ts';
import { closeSync, openSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rmdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { ContainerConfig, ContainerRecord, HostConfig } from '../api/container.ts';
import type { MountPoint } from '../api/mount.ts';
import { ConflictError, InvalidArgumentError, SystemError } from '../errors.ts';
import { rroUnsupported } from '../runtime/features.ts';
import { sourceMount } from '../runtime/mountinfo.ts';
import type { OciMount } from '../runtime/spec.ts';
import { isWithin, resolveInRoot } from '../files/rootpath.ts';
import type { Mount } from '../storage/snapshotter.ts';
import type { VolumeMounts } from '../volumes/types.ts';
import {
  bindDaemonRootPropagation, modeIsReadWrite, parseBind, parseMountSpec, parseVolumesFrom, tmpfsData,
  validateMountConfig, validateTmpfsDestination, type MountPointRecord,
} from './mount-spec.ts';
import { copyImageContent, imageMayHave } from './volume-copy.ts';
import { remapOf } from './namespaces.ts';
import type { IdMapping } from '../runtime/userns.ts';

export type { MountPointRecord } from './mount-spec.ts';

/** The record field that keeps a container's resolved mounts (dockerd's MountPoints); inspect shows `Mounts`. */
export type WithMountPoints = ContainerRecord & { berthMountPoints?: MountPointRecord[] };

export interface MountContext {
  volumes?: VolumeMounts;
  dataRoot: string;
  /** Where pinned subpaths are staged and copy-up mounts the image (under the exec root). */
  scratchDir: string;
  /** Another container, for --volumes-from. */
  findContainer(ref: string): WithMountPoints | undefined;
  /** userns-remap: copy-up into volumes is owned by the remapped range (for containers not --userns=host). */
  usernsRemap?: { mapping: IdMapping };
}

/** The image's layer directories under a new container's snapshot, top first (none for a scratch image). */
export function imageLayerDirs(m: Mount): string[] {
  if (m.type !== 'overlay') return [];
  return (m.options.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length) ?? '').split(':').filter(Boolean);
}

const duplicate = (dest: string) => new InvalidArgumentError(`Duplicate mount point: ${dest}`);

function volumesOf(ctx: MountContext): VolumeMounts {
  if (!ctx.volumes) throw new SystemError('volumes are not available in this daemon');
  return ctx.volumes;
}

/**
 * Everything the request asks to mount, checked and in dockerd's order of
 * precedence (--volumes-from, then -v, then --mount, then anonymous VOLUMEs
 * where nothing else is mounted). No volume is touched: bad input fails here
 * with nothing to undo.
 */
export function planMounts(o: {
  host: HostConfig; config: ContainerConfig; dataRoot: string; anonymousVolumes: boolean;
  findContainer: MountContext['findContainer']; layers: string[]; mergedDir: string;
}): MountPointRecord[] {
  const h = o.host;
  for (const m of h.Mounts ?? []) validateMountConfig(m);
  for (const dest of Object.keys(h.Tmpfs ?? {})) validateTmpfsDestination(dest);
  const points = new Map<string, MountPointRecord>();
  const binds = new Set<string>();

  for (const spec of h.VolumesFrom ?? []) {
    const { id, mode } = parseVolumesFrom(spec);
    const from = o.findContainer(id);
    if (!from) throw new InvalidArgumentError(`No such container: ${id}`);
    for (const m of from.berthMountPoints ?? []) {
      points.set(m.Destination, { ...m, RW: m.RW && modeIsReadWrite(mode), CopyData: false });
    }
  }
  for (const raw of h.Binds ?? []) {
    const mp = parseBind(raw, h.VolumeDriver ?? '');
    const prop = bindDaemonRootPropagation(mp.Spec, o.dataRoot);
    if (prop) mp.Propagation = prop;
    if (binds.has(mp.Destination) || Object.hasOwn(h.Tmpfs ?? {}, mp.Destination)) throw duplicate(mp.Destination);
    binds.add(mp.Destination);
    points.set(mp.Destination, mp);
  }
  for (const cfg of h.Mounts ?? []) {
    const mp = parseMountSpec(cfg);
    const prop = bindDaemonRootPropagation(mp.Spec, o.dataRoot);
    if (prop) mp.Propagation = prop;
    // Unlike a -v bind, a --mount may share its target with a --tmpfs: dockerd lets the tmpfs win at start.
    if (binds.has(mp.Destination)) throw duplicate(cfg.Target ?? '');
    if (mp.Type === 'bind' && !cfg.BindOptions?.CreateMountpoint) mp.SkipMountpointCreation = true;
    binds.add(mp.Destination);
    points.set(mp.Destination, mp);
  }
  if (o.anonymousVolumes) {
    for (const spec of Object.keys(o.config.Volumes ?? {})) {
      if (!posix.isAbsolute(spec)) throw new InvalidArgumentError(`invalid mount path: '${spec}' mount path must be absolute`);
      const dest = posix.normalize(spec).replace(/(.)\/+$/, '$1');
      if (dest === '/') throw new InvalidArgumentError("invalid specification: destination can't be '/'");
      if (points.has(dest) || Object.hasOwn(h.Tmpfs ?? {}, dest)) continue;
      if (isFileInImage(o.layers, dest)) throw new InvalidArgumentError(`cannot mount volume over existing file, file exists ${o.mergedDir}${dest}`);
      points.set(dest, {
        Type: 'volume', Name: '', Source: '', Destination: dest, Driver: h.VolumeDriver ?? '', Mode: '', RW: true,
        Propagation: '', CopyData: true, Spec: {},
      });
    }
  }
  return [...points.values()];
}

/** The destination is something other than a directory in the top-most layer that has it. */
function isFileInImage(layers: string[], dest: string): boolean {
  if (!imageMayHave(layers, dest)) return false;
  for (const layer of layers) {
    let st;
    try {
      st = statSync(resolveInRoot(layer, dest));
    } catch {
      continue;
    }
    return !st.isDirectory();
  }
  return false;
}

/**
 * Takes a reference on every volume of the plan (creating named volumes on
 * first use and anonymous ones always); on any failure, drops what it took
 * and removes the anonymous volumes it made. Returns the names of those with
 * driver options (a filesystem to mount before their data can be reached).
 */
export async function acquireVolumes(points: MountPointRecord[], id: string, ctx: MountContext): Promise<Set<string>> {
  const taken: MountPointRecord[] = [];
  const mounted = new Set<string>();
  try {
    for (const mp of points) {
      if (mp.Type !== 'volume') continue;
      const vols = volumesOf(ctx);
      const opts = mp.Spec.VolumeOptions;
      const v = await vols.ensure({
        Name: mp.Name || undefined,
        Driver: mp.Driver || undefined,
        DriverOpts: opts?.DriverConfig?.Options ?? undefined,
        Labels: opts?.Labels ?? undefined,
      }, id);
      taken.push(mp);
      mp.Name = v.Name;
      mp.Driver = v.Driver;
      mp.Source = v.Mountpoint;
      if (Object.keys(v.Options ?? {}).length > 0) mounted.add(v.Name);
      // setBindModeIfNull: local volumes are relabelled shared.
      if (mp.Driver === 'local' && mp.Mode === '' && mp.Spec.Type) mp.Mode = 'z';
    }
  } catch (err) {
    await releaseVolumes(taken, id, ctx, { removeAnonymous: true });
    throw err;
  }
  return mounted;
}

/**
 * Fills new empty volumes with the image's content at their destination
 * (unless nocopy). Only volumes in `needMount` are mounted for it (and
 * unmounted after); a plain local volume's data is its mountpoint, and
 * dockerd shows no mount event before the start.
 */
export async function populateVolumes(points: MountPointRecord[], id: string, ctx: MountContext, layers: string[], needMount: Set<string>, remap?: IdMapping): Promise<void> {
  for (const mp of points) {
    if (mp.Type !== 'volume' || !mp.CopyData || !imageMayHave(layers, mp.Destination)) continue;
    const vols = volumesOf(ctx);
    const mount = needMount.has(mp.Name);
    const base = mount ? await vols.mount(mp.Name, id) : mp.Source;
    const fds: number[] = [];
    try {
      const target = await volumePath(base, mp, fds);
      await mkdir(ctx.scratchDir, { recursive: true, mode: 0o700 });
      await copyImageContent({ layers, scratchDir: ctx.scratchDir, dest: mp.Destination, target, remap });
    } finally {
      closeFds(fds);
      if (mount) await vols.unmount(mp.Name, id);
    }
  }
}

/** Drops the container's references; `removeAnonymous` (`rm -v`, --rm) also removes volumes it did not name. */
export async function releaseVolumes(points: MountPointRecord[], id: string, ctx: MountContext, o: { removeAnonymous: boolean }): Promise<string[]> {
  const errors: string[] = [];
  for (const mp of points) {
    if (mp.Type !== 'volume' || !mp.Name || !ctx.volumes) continue;
    await ctx.volumes.release(mp.Name, id).catch((e: Error) => errors.push(e.message));
    if (!o.removeAnonymous || mp.Spec.Source) continue;
    // Another container (--volumes-from) may still use it: then it stays.
    await ctx.volumes.remove(mp.Name).catch((e: Error) => {
      if (!(e instanceof ConflictError)) errors.push(e.message);
    });
  }
  return errors;
}

/**
 * Create-time, all of it: the plan checked, volumes referenced, new ones
 * filled from the image. On failure nothing stays referenced or created.
 */
export async function createMountPoints(o: {
  id: string; host: HostConfig; config: ContainerConfig; anonymousVolumes: boolean; snapshot: Mount; mergedDir: string;
}, ctx: MountContext): Promise<MountPointRecord[]> {
  const layers = imageLayerDirs(o.snapshot);
  const points = planMounts({ ...o, dataRoot: ctx.dataRoot, findContainer: ctx.findContainer, layers });
  const needMount = await acquireVolumes(points, o.id, ctx);
  try {
    await populateVolumes(points, o.id, ctx, layers, needMount, remapOf(o.host, ctx.usernsRemap));
  } catch (err) {
    await releaseVolumes(points, o.id, ctx, { removeAnonymous: true });
    throw err;
  }
  return points;
}

/** Linux's O_PATH: an fd that pins an inode without opening its content (a FIFO cannot block it). */
const O_PATH = 0o10000000;

/**
 * The directory to bind for a volume mount point: its mountpoint, or the
 * subpath inside it (which must exist). A subpath is pinned: opened, checked
 * to be inside the volume, and handed on as /proc/<pid>/fd/<n> (`fds` keeps
 * the fd open until the caller is done), so a container that swaps a
 * directory of a shared volume for a symlink meanwhile cannot point the
 * bind at the host (what moby's safepath guards against).
 */
async function volumePath(base: string, mp: MountPointRecord, fds: number[]): Promise<string> {
  const sub = mp.Spec.VolumeOptions?.Subpath;
  if (!sub) return base;
  const fail = (why: string) => new InvalidArgumentError(`error while mounting volume '${base}': ${why}`);
  // Symlinks in the volume resolve inside it: a subpath never leaves the volume.
  let fd: number;
  try {
    fd = openSync(resolveInRoot(base, sub), O_PATH);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw fail(e.code === 'ENOENT' ? `subpath ${sub} does not exist in the volume` : e.message);
  }
  fds.push(fd);
  const real = readlinkSync(`/proc/self/fd/${fd}`);
  if (!isWithin(realpathSync(base), real)) throw fail('subpath must be a relative path within the volume');
  return `/proc/${process.pid}/fd/${fd}`;
}

/** Closes the fds volumePath pinned subpaths with. */
export function closeFds(fds: number[]): void {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/**
 * What a start holds until the runtime has made its mounts: the pinned
 * subpaths' fds and their staging binds. runc cannot bind an fd of the
 * daemon's mount namespace from the container's, so each pinned subpath is
 * bound (as the fd, never by name again) on a staging dir first; the
 * container's copy of that bind outlives the staging one.
 */
export interface Pins { fds: number[]; staged: string[] }

export async function releasePins(p: Pins): Promise<void> {
  for (const dir of p.staged.splice(0)) {
    await run('umount', [dir]).catch(() => run('umount', ['-l', dir])).catch(() => {});
    await rmdir(dir).catch(() => {});
  }
  closeFds(p.fds);
}

/** Staging binds and copy-up overlays a killed daemon left (at start, before any container starts). */
export async function sweepScratchMounts(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    await run('umount', ['-l', p]).catch(() => {});
    // Only an empty dir is removed: never a tree through a mount.
    await rmdir(p).catch(() => {});
  }
}

async function stage(fdPath: string, scratchDir: string, pins: Pins): Promise<string> {
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(scratchDir, 's-'));
  try {
    // --no-canonicalize: mount(8) must bind the fd's inode, not re-walk a path.
    await run('mount', ['--no-canonicalize', '--bind', fdPath, dir]);
  } catch (err) {
    await rmdir(dir).catch(() => {});
    throw err;
  }
  pins.staged.push(dir);
  return dir;
}

function run(cmd: string, args: string[]): Promise<void> {
  return runHostCommand(cmd, args).catch((err: Error) => { throw new SystemError(err.message); });
}

const DEPTH = (p: string) => p.split('/').length;

/**
 * At start: volumes mounted, missing -v bind sources created, and every
 * mount point as an OCI mount, shallowest first. On failure the volumes
 * mounted so far are unmounted again. The caller releases `pins` once the
 * runtime has made the mounts.
 */
export async function setupMounts(rec: WithMountPoints, ctx: MountContext, runtime: { name: string; path: string }): Promise<{ mounts: OciMount[]; rootfsPropagation?: string; pins: Pins }> {
  const pins: Pins = { fds: [], staged: [] };
  const points = rec.berthMountPoints ?? [];
  const tmpfs = rec.HostConfig.Tmpfs ?? {};
  const mounted: string[] = [];
  const out: OciMount[] = [];
  let rootfsPropagation: string | undefined;
  try {
    for (const mp of points) {
      if (Object.hasOwn(tmpfs, mp.Destination)) continue;
      if (mp.Type === 'tmpfs') {
        const data = tmpfsData(mp.Spec);
        out.push({ destination: mp.Destination, type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nosuid', 'nodev', 'rprivate', ...(data ? data.split(',') : [])] });
        continue;
      }
      let source = mp.Source;
      if (mp.Type === 'volume') {
        const base = await volumesOf(ctx).mount(mp.Name, rec.Id, { destination: mp.Destination, rw: mp.RW, propagation: mp.Propagation });
        mounted.push(mp.Name);
        source = await volumePath(base, mp, pins.fds);
        if (mp.Spec.VolumeOptions?.Subpath) source = await stage(source, ctx.scratchDir, pins);
      } else if (mp.SkipMountpointCreation) {
        if (!(await stat(source).then(() => true, () => false))) {
          throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
        }
      } else {
        await mkdir(source, { recursive: true, mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST' && err.code !== 'ENOTDIR') throw new SystemError(`error while creating mount source path '${source}': ${err.message}`);
        });
      }
      const bo = mp.Spec.Type === 'bind' ? mp.Spec.BindOptions : undefined;
      const opts = [bo?.NonRecursive ? 'bind' : 'rbind'];
      if (!mp.RW) {
        // As Docker 25+: read-only is recursive (submounts too) where the kernel and runtime can, unless asked not to.
        let ro = 'ro';
        if (!bo?.ReadOnlyNonRecursive) {
          const why = rroUnsupported(runtime.name, runtime.path);
          if (!why) ro = 'rro';
          else if (bo?.ReadOnlyForceRecursive) throw new InvalidArgumentError(why);
        }
        opts.push(ro);
      }
      const prop = mp.Propagation;
      if (prop === 'shared' || prop === 'rshared') {
        const sm = sourceMount(source);
        if (!sm?.optional.some((f) => f.startsWith('shared:'))) throw new InvalidArgumentError(`path ${source} is mounted on ${sm?.point ?? '/'} but it is not a shared mount`);
        rootfsPropagation = 'shared';
      } else if (prop === 'slave' || prop === 'rslave') {
        const sm = sourceMount(source);
        if (sm?.optional.some((f) => f.startsWith('shared:') || f.startsWith('master:'))) {
          if (rootfsPropagation !== 'shared') rootfsPropagation = 'rslave';
        } else if (mp.Spec.BindOptions?.Propagation) {
          throw new InvalidArgumentError(`path ${source} is mounted on ${sm?.point ?? '/'} but it is not a shared or slave mount`);
        }
        // else: the rslave dockerd gives binds of its own root falls back to private, as dockerd's.
      }
      if (prop) opts.push(prop);
      out.push({ destination: mp.Destination, type: 'bind', source, options: opts });
    }
  } catch (err) {
    await releasePins(pins);
    for (const name of mounted) await ctx.volumes?.unmount(name, rec.Id).catch(() => {});
    throw err;
  }
  out.sort((a, b) => DEPTH(a.destination) - DEPTH(b.destination));
  return { mounts: out, pins, ...(rootfsPropagation ? { rootfsPropagation } : {}) };
}

/** The container stopped: its volumes are unmounted (each once per start). */
export async function unmountVolumes(rec: WithMountPoints, ctx: MountContext): Promise<void> {
  const tmpfs = rec.HostConfig.Tmpfs ?? {};
  for (const mp of rec.berthMountPoints ?? []) {
    if (mp.Type === 'volume' && mp.Name && !Object.hasOwn(tmpfs, mp.Destination)) await ctx.volumes?.unmount(mp.Name, rec.Id).catch(() => {});
  }
}

/**
 * At the daemon's start: the references the container's record holds, taken
 * again; a container still running counts its volumes' mounts again too
 * (the store reuses a mount that outlived the daemon).
 */
export async function restoreReferences(rec: WithMountPoints, ctx: MountContext): Promise<void> {
  for (const mp of rec.berthMountPoints ?? []) {
    if (mp.Type !== 'volume' || !mp.Name || !ctx.volumes) continue;
    ctx.volumes.restoreReference(mp.Name, rec.Id);
    if (rec.State.Running && !Object.hasOwn(rec.HostConfig.Tmpfs ?? {}, mp.Destination)) await ctx.volumes.mount(mp.Name, rec.Id).catch(() => {});
  }
}

/** `Mounts` as inspect shows them (dockerd's GetMountPoints). */
export function inspectMounts(points: MountPointRecord[]): MountPoint[] {
  return points.map((m) => ({
    Type: m.Type,
    ...(m.Name ? { Name: m.Name } : {}),
    Source: m.Source,
    Destination: m.Destination,
    ...(m.Driver ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  }));
}
