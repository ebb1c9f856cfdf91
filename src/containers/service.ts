// Container lifecycle: create, start, stop, kill, wait, remove, rename and
// prune. Create-time checks live in create.ts, the launch in start.ts, the
// supervision of running containers through their shims (exits, restart
// policies, lost shim connections) in supervise.ts, pause in pause.ts, waits
// for an exit or removal in waits.ts, the records in table.ts, and what
// happens at the daemon's start in restore.ts.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ContainerRecord, NAME_RE, ZERO_TIME, nowNano } from '../api/container.ts';
import { labelsMatch, parseUntil } from '../api/filters.ts';
import { InvalidArgumentError, ConflictError, NotModifiedError, noSuchContainer } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { ImageStore } from '../images/store.ts';
import type { NetworkService } from '../network/service.ts';
import type { OciMount } from '../runtime/spec.ts';
import type { ShimConnection } from '../runtime/shim.ts';
import { parseSignal } from '../runtime/signals.ts';
import type { Mount, Snapshotter } from '../storage/snapshotter.ts';
import { checkCreateRequest, type CreateRequest, graphDriverData, newRecord, mergeImageConfig, normalizeHostConfig, resolvConf } from './create.ts';
import { randomName } from './names.ts';
import type { ContainerServiceOptions } from './options.ts';
import { removeStateDir, startError } from './shim-state.ts';
import { launchContainer } from './start.ts';
import { ContainerTable } from './table.ts';
import { LiveTable } from './live.ts';
import { shouldRestart } from './restart.ts';
import { ShimSupervisor } from './supervise.ts';
import { pauseContainer, thawKilled, unpauseContainer, withArchiveFreeze, type ArchiveFreeze, type PauseContext } from './pause.ts';
import { ContainerWaits } from './waits.ts';
import { checkNamespaceModes, checkSysctls, checkUsernsRemap, joinedNamespaces, mountShareableShm, unmountShareableShm } from './namespaces.ts';
import { restoreContainers } from './restore.ts';
import {
  createMountPoints, inspectMounts, releasePins, sweepScratchMounts, releaseVolumes, restoreReferences, setupMounts, unmountVolumes,
  type MountContext, type MountPointRecord, type WithMountPoints,
} from './mounts.ts';
import type { VolumeMounts } from '../volumes/types.ts';

const DEFAULT_STOP_TIMEOUT = 10;

export class ContainerService {
  private readonly cfg: ContainerServiceOptions;
  private readonly images: ImageStore;
  private readonly snapshots: Snapshotter;
  private readonly events: EventBus;
  private readonly network: NetworkService;
  private readonly table: ContainerTable;
  private readonly live = new LiveTable();
  private readonly waits = new ContainerWaits();
  /** Build steps' RUN --mount mounts, by container ID (build containers never outlive the daemon's build). */
  private readonly extraMounts = new Map<string, OciMount[]>();
  private readonly supervisor: ShimSupervisor;

  private readonly volumes?: VolumeMounts;

  constructor(cfg: ContainerServiceOptions, images: ImageStore, snapshots: Snapshotter, events: EventBus, network: NetworkService, volumes?: VolumeMounts) {
    this.cfg = cfg;
    this.volumes = volumes;
    this.table = new ContainerTable(cfg.dataRoot);
    this.network = network;
    this.images = images;
    this.snapshots = snapshots;
    this.events = events;
    this.supervisor = new ShimSupervisor({
      table: this.table,
      live: this.live,
      network,
      mountContext: () => this.mountContext,
      stateDir: (id) => this.stateDir(id),
      shmPath: (rec) => this.shmPath(rec),
      publish: (rec, action, extra) => this.publish(rec, action, extra),
      exited: (id, code) => this.waits.exited(id, code),
      remove: (id) => this.remove(id, { force: true, removeVolumes: true }),
      startLocked: (rec) => this.startLocked(rec),
    });
  }

  /** A shareable-IPC container's /dev/shm tmpfs, in the host's mount namespace. */
  private shmPath(rec: ContainerRecord): string {
    return join(this.table.dir(rec.Id), 'mounts', 'shm');
  }

  /** Where the shim keeps its socket and the bundle; short, for the 108-byte socket path limit. */
  stateDir(id: string): string {
    return join(this.cfg.execRoot, id);
  }

  get(ref: string): ContainerRecord {
    return this.table.get(ref);
  }

  find(ref: string): ContainerRecord | undefined {
    return this.table.find(ref);
  }

  list(): ContainerRecord[] {
    return this.table.list();
  }

  /** A container's live output: 'stdout' and 'stderr' (Buffer), and 'exited' (ExitStatus) before its cleanup ends. */
  output(id: string): EventEmitter {
    return this.live.of(id).output;
  }

  /** A container event, with dockerd's attributes (image, name, labels). */
  publish(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    const attrs: Record<string, string> = { image: rec.Config.Image ?? '', name: rec.Name.slice(1), ...(rec.Config.Labels ?? {}), ...extra };
    this.events.publish('container', action, rec.Id, attrs);
  }

  // ---------- create ----------

  private get mountContext(): MountContext {
    return {
      volumes: this.volumes, dataRoot: this.cfg.dataRoot, scratchDir: join(this.cfg.execRoot, 'mounts'),
      findContainer: (ref) => this.table.find(ref), usernsRemap: this.cfg.usernsRemap,
    };
  }

  /**
   * POST /containers/create. A build's RUN container passes `anonymousVolumes: false`:
   * there, as in BuildKit, an image's VOLUME is metadata only.
   */
  async create(nameArg: string | undefined, body: CreateRequest, o: { anonymousVolumes?: boolean } = {}): Promise<{ Id: string; Warnings: string[] }> {
    let name = checkCreateRequest(body, nameArg);
    const { HostConfig: hostIn, NetworkingConfig: networking, ...configIn } = body;
    const image = this.images.get(configIn.Image ?? '');
    const warnings: string[] = [];
    const host = normalizeHostConfig(hostIn ?? {}, this.cfg, warnings);
    checkNamespaceModes(host, (r) => this.find(r));
    checkUsernsRemap(host, this.cfg.usernsRemap);
    checkSysctls(host);
    const endpoints = this.network.endpointsForCreate(host.NetworkMode ?? 'bridge', networking?.EndpointsConfig, configIn.Hostname ?? '', configIn.Labels ?? {});
    const config = mergeImageConfig(configIn, image);
    if ((config.Entrypoint?.length ?? 0) === 0 && (config.Cmd?.length ?? 0) === 0) throw new InvalidArgumentError('No command specified');
    const id = randomBytes(32).toString('hex');
    if (!config.Hostname) config.Hostname = id.slice(0, 12);

    return this.table.locked(`name:${name}`, async () => {
      if (name === '') name = randomName((n) => this.table.names.has(n));
      const holder = this.table.names.get(name);
      if (holder) {
        throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
      }
      this.table.names.set(name, id);
      const dir = this.table.dir(id);
      let points: MountPointRecord[] = [];
      try {
        await mkdir(dir, { recursive: true, mode: 0o710 });
        await this.snapshots.prepare(id, image.record.topLayer || undefined);
        const mounts = await this.snapshots.mounts(id);
        const merged = join(this.stateDir(id), 'rootfs');
        points = await createMountPoints({ id, host, config, anonymousVolumes: o.anonymousVolumes !== false, snapshot: mounts[0], mergedDir: merged }, this.mountContext);
        const rec: WithMountPoints = newRecord({ id, name, dir, image: image.record.id, host, config, endpoints, graphDriver: graphDriverData(mounts, merged) });
        rec.berthMountPoints = points;
        rec.Mounts = inspectMounts(points);
        await this.writeEtcFiles(rec);
        // An --rm container does not outlive a host crash (restore removes it,
        // running or not): its record is atomic but not fsynced; one lost to
        // the crash leaves a snapshot without a container, which restore
        // collects. Not with an anonymous volume, which only the record's removal takes.
        await this.table.save(rec, !host.AutoRemove || points.some((p) => p.Type === 'volume' && !p.Spec.Source));
        this.table.records.set(id, rec);
        this.publish(rec, 'create');
        return { Id: id, Warnings: warnings };
      } catch (err) {
        this.table.names.delete(name);
        await releaseVolumes(points, id, this.mountContext, { removeAnonymous: true });
        await this.snapshots.remove(id).catch(() => {});
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    });
  }


  private async writeEtcFiles(rec: ContainerRecord): Promise<void> {
    const hostname = rec.Config.Hostname ?? rec.Id.slice(0, 12);
    await writeFile(rec.HostnamePath, hostname + '\n');
    this.network.writeHosts(rec, []);
    await writeFile(rec.ResolvConfPath, resolvConf(rec.HostConfig));
  }

  // ---------- start ----------

  async start(ref: string): Promise<void> {
    const rec = this.get(ref);
    try {
      await this.table.locked(rec.Id, () => this.startLocked(rec));
    } catch (err) {
      // As dockerd: a --rm container that cannot start is removed, so `run --rm`'s wait for "removed" ends.
      if (rec.HostConfig.AutoRemove && !(err instanceof NotModifiedError) && this.table.records.has(rec.Id) && !rec.State.Running) {
        await this.remove(rec.Id, { force: true, removeVolumes: true }).catch(() => {});
      }
      throw err;
    }
  }

  private async startLocked(rec: ContainerRecord): Promise<void> {
    if (!this.table.records.has(rec.Id)) throw noSuchContainer(rec.Id);
    if (rec.State.Running) throw new NotModifiedError();
    if (rec.State.Status === 'removing' || rec.State.Dead) throw new ConflictError(`container is marked for removal and cannot be started`);
    const joined = joinedNamespaces(rec.HostConfig, (r) => this.find(r), (c) => this.shmPath(c));
    if (rec.HostConfig.IpcMode === 'shareable') {
      joined.shm = this.shmPath(rec);
      await mountShareableShm(joined.shm, rec.HostConfig.ShmSize || 64 * 1024 * 1024);
    }
    const userMounts = await setupMounts(rec, this.mountContext, this.runtimeFor(rec));
    let conn: ShimConnection;
    try {
      conn = await launchContainer(rec, {
        cfg: this.cfg,
        snapshots: this.snapshots,
        network: this.network,
        stateDir: this.stateDir(rec.Id),
        runtime: this.runtimeFor(rec),
        mounts: userMounts.mounts,
        rootfsPropagation: userMounts.rootfsPropagation,
        extraMounts: this.extraMounts.get(rec.Id),
        joined,
        save: (r) => this.table.save(r),
      });
    } catch (err) {
      await unmountVolumes(rec, this.mountContext);
      await unmountShareableShm(this.shmPath(rec));
      throw err;
    } finally {
      await releasePins(userMounts.pins);
    }
    this.supervisor.attach(rec, conn);
    this.live.flushPending(rec.Id, conn);
    let pid: number;
    try {
      pid = await conn.start();
    } catch (err) {
      conn.close();
      await this.network.teardown(rec);
      await unmountVolumes(rec, this.mountContext);
      throw startError(rec, err);
    }
    rec.State = { ...rec.State, Status: 'running', Running: true, Paused: false, Restarting: false, Dead: false, Pid: pid, ExitCode: 0, Error: '', OOMKilled: false, StartedAt: nowNano(), FinishedAt: rec.State.StartedAt === ZERO_TIME ? ZERO_TIME : rec.State.FinishedAt };
    rec.berthManuallyStopped = false;
    // An --rm container's "running" need not outlive a host crash: its record
    // then says created, and the next start removes it as it would a running
    // one (restore.ts), so it is not fsynced (its exit, run --rm's next step,
    // waits for this save).
    await this.table.save(rec, !rec.HostConfig.AutoRemove);
    this.publish(rec, 'start');
  }

  // ---------- stop / kill / restart / wait ----------

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    if (!rec.State.Running) {
      if (rec.State.Restarting) {
        rec.berthManuallyStopped = true;
        rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
        await this.table.save(rec);
        return;
      }
      throw new NotModifiedError();
    }
    rec.berthManuallyStopped = true;
    const sig = parseSignal(signal ?? rec.Config.StopSignal ?? 'SIGTERM');
    const t = timeoutSec ?? rec.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    const exited = this.waits.nextExit(rec.Id);
    this.signal(rec, sig);
    if (t >= 0 && !(await withTimeout(exited, t * 1000))) {
      this.signal(rec, 9);
      await exited;
    } else if (t < 0) {
      await exited;
    }
    this.publish(rec, 'stop');
  }

  private signal(rec: ContainerRecord, sig: number): void {
    this.publish(rec, 'kill', { signal: String(sig) });
    // A frozen process handles no signal until thawed (dockerd unpauses on stop and kill too).
    if (rec.State.Paused && (sig === 9 || sig === 15)) void this.unpause(rec.Id).catch(() => {});
    else if (sig === 9) void thawKilled(this.pauseContext, rec);
    if (rec.State.Pid > 0) {
      try {
        process.kill(rec.State.Pid, sig);
      } catch {
        // Already gone: the shim reports the exit.
      }
    }
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.get(ref);
    const sig = parseSignal(signal);
    if (!rec.State.Running) throw new ConflictError(`Cannot kill container: ${ref}: Container ${rec.Id} is not running`);
    if (sig === 9 || sig === 15) rec.berthManuallyStopped = true;
    const exited = sig === 9 ? this.waits.nextExit(rec.Id) : undefined;
    this.signal(rec, sig);
    if (exited) await withTimeout(exited, 10_000);
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    if (rec.State.Running) await this.stop(rec.Id, timeoutSec, signal);
    await this.start(rec.Id);
    this.publish(rec, 'restart');
  }

  /** POST /containers/{id}/wait: resolves with the exit code per `condition`. */
  async wait(ref: string, condition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error: null | { Message: string } }> {
    return this.waits.wait(this.get(ref), condition, signal);
  }

  /** Mounts added to the container's spec at its next start (the builder's RUN --mount). */
  setExtraMounts(id: string, mounts: OciMount[]): void {
    this.extraMounts.set(id, mounts);
  }

  // ---------- pause / unpause ----------

  /** `docker pause`: freezes the container's processes (runc pause, the cgroup freezer). */
  async pause(ref: string, o: { forCommit?: boolean } = {}): Promise<void> {
    await pauseContainer(this.pauseContext, this.get(ref), o);
  }

  async unpause(ref: string): Promise<void> {
    await unpauseContainer(this.pauseContext, this.get(ref));
  }

  /** Runs `fn` (cp's stat, tar out or tar in) with a running container frozen (pause.ts). */
  frozenDuring<T>(rec: ContainerRecord, fn: () => Promise<T>): Promise<T> {
    return withArchiveFreeze(this.pauseContext, rec, fn);
  }
  private readonly archiveFreezes = new Map<string, ArchiveFreeze>();

  private get pauseContext(): PauseContext {
    return { table: this.table, archiveFreezes: this.archiveFreezes, runtimeFor: (rec) => this.runtimeFor(rec), publish: (rec, action) => this.publish(rec, action) };
  }

  // ---------- remove / rename / prune ----------

  /** `removeVolumes` (`rm -v`) also removes the container's anonymous volumes; --rm always does. */
  async remove(ref: string, opts: { force?: boolean; removeVolumes?: boolean } = {}): Promise<void> {
    const rec = this.get(ref);
    // Between its exit and the restart its policy scheduled, a container is restarting: dockerd counts that as running.
    if (rec.State.Restarting && !rec.State.Running && !opts.force) {
      throw new ConflictError(`You cannot remove a restarting container ${rec.Id}. Stop the container before attempting removal or force remove`);
    }
    if (rec.State.Running && !opts.force) {
      throw new ConflictError(`You cannot remove a running container ${rec.Id}. Stop the container before attempting removal or force remove`);
    }
    if (rec.State.Running) {
      rec.berthManuallyStopped = true;
      const exited = this.waits.nextExit(rec.Id);
      this.table.doomed.add(rec.Id);
      try {
        this.signal(rec, 9);
        await withTimeout(exited, 10_000);
      } finally {
        this.table.doomed.delete(rec.Id);
      }
    }
    await this.table.locked(rec.Id, async () => {
      if (!this.table.records.has(rec.Id)) return;
      if (rec.State.Running) throw new ConflictError(`You cannot remove a running container ${rec.Id}. Stop the container before attempting removal or force remove`);
      rec.berthManuallyStopped = true;
      rec.State = { ...rec.State, Status: 'removing', Restarting: false };
      // Metadata goes first: a crash mid-way leaves an orphan snapshot that
      // the next start collects, never a container without its filesystem.
      await rm(join(this.table.dir(rec.Id), 'config.v2.json'), { force: true });
      this.table.records.delete(rec.Id);
      this.table.names.delete(rec.Name.slice(1));
      this.supervisor.forget(rec.Id);
      await this.network.teardown(rec).catch(() => {});
      await this.snapshots.remove(rec.Id).catch(() => {});
      await unmountShareableShm(this.shmPath(rec));
      await rm(this.table.dir(rec.Id), { recursive: true, force: true });
      await removeStateDir(this.stateDir(rec.Id));
      await releaseVolumes((rec as WithMountPoints).berthMountPoints ?? [], rec.Id, this.mountContext, { removeAnonymous: opts.removeVolumes === true });
      this.live.delete(rec.Id);
      this.extraMounts.delete(rec.Id);
      this.publish(rec, 'destroy');
      this.waits.removed(rec.Id, rec.State.ExitCode);
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref);
    if (!newName) throw new InvalidArgumentError('Neither old nor new names may be empty');
    if (!NAME_RE.test(newName)) throw new InvalidArgumentError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const name = newName.replace(/^\//, '');
    const old = rec.Name.slice(1);
    if (name === old) throw new InvalidArgumentError('Renaming a container with the same name as its current name');
    const holder = this.table.names.get(name);
    if (holder) throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    this.table.names.set(name, rec.Id);
    this.table.names.delete(old);
    rec.Name = '/' + name;
    await this.table.save(rec);
    this.publish(rec, 'rename', { oldName: '/' + old });
  }

  async prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    const until = filters.until?.[0] ? parseUntil(filters.until[0]) : undefined;
    for (const rec of this.list()) {
      if (rec.State.Running || rec.State.Restarting) continue;
      if (until !== undefined && Date.parse(rec.Created) >= until) continue;
      if (!labelsMatch(rec.Config.Labels ?? {}, filters.label ?? [], filters['label!'] ?? [])) continue;
      space += (await this.snapshots.usage(rec.Id).catch(() => ({ size: 0 }))).size;
      await this.remove(rec.Id);
      deleted.push(rec.Id);
    }
    this.events.publish('container', 'prune', '', { reclaimed: String(space) });
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }

  // ---------- attach / io ----------

  /** Sends stdin to the container; buffered until it starts when attached early. */
  writeStdin(id: string, data: Buffer): void {
    this.live.writeStdin(id, data);
  }

  closeStdin(id: string): void {
    this.live.closeStdin(id);
  }

  resize(ref: string, rows: number, cols: number): void {
    const rec = this.get(ref);
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    this.live.of(rec.Id).conn?.resize(rows, cols);
    this.publish(rec, 'resize', { height: String(rows), width: String(cols) });
  }

  async rootfsSize(id: string): Promise<number> {
    return (await this.snapshots.usage(id).catch(() => ({ size: 0 }))).size;
  }

  // ---------- daemon start ----------

  /** Loads every container and reconnects to the shims of running ones (restore.ts). */
  async restore(): Promise<void> {
    await sweepScratchMounts(this.mountContext.scratchDir);
    await restoreContainers({
      table: this.table,
      snapshots: this.snapshots,
      network: this.network,
      execRoot: this.cfg.execRoot,
      stateDir: (id) => this.stateDir(id),
      // A --rm container's anonymous volumes go with it, as they would have at its exit.
      remove: (id) => this.remove(id, { force: true, removeVolumes: this.table.records.get(id)?.HostConfig.AutoRemove === true }),
      restoreMounts: (rec) => restoreReferences(rec, this.mountContext),
      reattach: (rec, conn) => this.supervisor.attach(rec, conn),
      runtimeFor: (rec) => this.runtimeFor(rec),
      exited: (id, st, error) => this.supervisor.handleExit(id, st, error),
    });
  }

  /** Starts the stopped containers whose restart policy says so, once networks are restored (dockerd's restore). */
  async startOnBoot(): Promise<string[]> {
    const failed: string[] = [];
    for (const rec of this.table.list()) {
      if (rec.State.Running || rec.HostConfig.AutoRemove || !shouldRestart(rec, 'daemon-start')) continue;
      await this.start(rec.Id).catch((err: Error) => failed.push(`${rec.Name.slice(1)}: ${err.message}`));
    }
    return failed;
  }

  /** Closes shim connections without touching the containers (daemon shutdown). */
  detachAll(): void {
    this.supervisor.detaching = true;
    this.live.closeAll();
  }

  /** Used by image removal: which layers and images containers still need. */
  imagesInUse(): Map<string, ContainerRecord[]> {
    const m = new Map<string, ContainerRecord[]>();
    for (const r of this.table.records.values()) m.set(r.Image, [...(m.get(r.Image) ?? []), r]);
    return m;
  }

  /** Changes a container's record under its lock and saves it (network connect/disconnect). */
  async update(ref: string, fn: (rec: ContainerRecord) => Promise<void>): Promise<void> {
    const rec = this.get(ref);
    await this.table.locked(rec.Id, async () => {
      await fn(rec);
      await this.table.save(rec);
    });
  }

  shimConnection(id: string): ShimConnection | undefined {
    return this.live.conn(id);
  }

  runtimeFor(rec: ContainerRecord): { name: string; path: string; args: string[]; root: string } {
    const name = rec.HostConfig.Runtime ?? this.cfg.defaultRuntime;
    const rt = this.cfg.runtimes[name];
    return { name, path: rt.path, args: rt.runtimeArgs ?? [], root: join(this.cfg.execRoot, 'runtime', name) };
  }

  async mountsOf(id: string): Promise<Mount[]> {
    return this.snapshots.mounts(id);
  }

}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(() => {
      clearTimeout(t);
      resolve(true);
    }, () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
