// Container lifecycle: create, start, stop, kill, wait, remove, rename, and
// the supervision of running containers through their shims. The daemon can
// die at any point; `restore()` rebuilds the live state from disk and shims.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempFiles, writeJsonAtomic } from '../storage/atomic.ts';
import { overlayOptions, type Mount, type Snapshotter } from '../storage/snapshotter.ts';
import {
  BadRequestError, ConflictError, EngineError, InternalError, NotModifiedError, noSuchContainer,
} from '../daemon/api/errors.ts';
import type { DaemonConfig } from '../daemon/config.ts';
import type { EventBus } from '../events/bus.ts';
import type { ImageStore, Image } from '../images/store.ts';
import type { ContainerConfig } from '../images/types.ts';
import { isMountPoint } from '../runtime/mountinfo.ts';
import { buildSpec, type OciMount } from '../runtime/spec.ts';
import { launchShim, ShimConnection, ShimError, type ExitStatus } from '../runtime/shim.ts';
import { parseSignal } from '../runtime/signals.ts';
import { ramInBytes } from '../cli/format/units.ts';
import {
  type ContainerRecord, type HostConfig, NAME_RE, ZERO_TIME, newState, nowNano,
} from './model.ts';
import { randomName } from './names.ts';
import type { EndpointRequest, NetworkService } from '../network/service.ts';
import { emptyNetworkSettings } from '../network/model.ts';

export interface CreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointRequest> } | null;
}

/** The live side of a container: its shim connection and who listens to it. */
interface Live {
  conn?: ShimConnection;
  /** 'stdout' | 'stderr' (Buffer), 'end' (no more output for this run). */
  output: EventEmitter;
  pendingStdin: Buffer[];
  pendingStdinClose: boolean;
}

const DEFAULT_STOP_TIMEOUT = 10;

export class ContainerService {
  private readonly cfg: DaemonConfig;
  private readonly images: ImageStore;
  private readonly snapshots: Snapshotter;
  private readonly events: EventBus;
  private readonly network: NetworkService;
  private readonly records = new Map<string, ContainerRecord>();
  private readonly names = new Map<string, string>();
  private readonly live = new Map<string, Live>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Fires `exit:<id>` and `removed:<id>`. */
  private readonly changes = new EventEmitter();
  /** Build steps' RUN --mount mounts, by container ID (build containers never outlive the daemon's build). */
  private readonly extraMounts = new Map<string, OciMount[]>();
  /** Set on shutdown: closed shim connections then mean nothing about the containers. */
  private detaching = false;

  constructor(cfg: DaemonConfig, images: ImageStore, snapshots: Snapshotter, events: EventBus, network: NetworkService) {
    this.cfg = cfg;
    this.network = network;
    this.images = images;
    this.snapshots = snapshots;
    this.events = events;
    this.changes.setMaxListeners(0);
  }

  private get containersDir(): string {
    return join(this.cfg.dataRoot, 'containers');
  }

  private dir(id: string): string {
    return join(this.containersDir, id);
  }

  /** Where the shim keeps its socket and the bundle; short, for the 108-byte socket path limit. */
  stateDir(id: string): string {
    return join(this.cfg.execRoot, id);
  }

  // ---------- lookup ----------

  get(ref: string): ContainerRecord {
    const r = this.find(ref);
    if (!r) throw noSuchContainer(ref);
    return r;
  }

  find(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const byId = this.records.get(ref);
    if (byId) return byId;
    const byName = this.names.get(ref.replace(/^\//, ''));
    if (byName) return this.records.get(byName);
    if (/^[a-f0-9]+$/.test(ref)) {
      const hits = [...this.records.keys()].filter((id) => id.startsWith(ref));
      if (hits.length === 1) return this.records.get(hits[0]);
      if (hits.length > 1) throw new BadRequestError(`multiple IDs found with provided prefix: ${ref}`);
    }
    return undefined;
  }

  list(): ContainerRecord[] {
    return [...this.records.values()];
  }

  /** A container's live output: 'stdout' and 'stderr' (Buffer), and 'exited' (ExitStatus) before its cleanup ends. */
  output(id: string): EventEmitter {
    return this.liveOf(id).output;
  }

  private liveOf(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { output: new EventEmitter(), pendingStdin: [], pendingStdinClose: false };
      l.output.setMaxListeners(0);
      this.live.set(id, l);
    }
    return l;
  }

  /** Runs `fn` with the container's lock held, so operations on one container never interleave. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(() => {}, () => {});
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  private async save(rec: ContainerRecord): Promise<void> {
    await writeJsonAtomic(join(this.dir(rec.Id), 'config.v2.json'), rec);
  }

  private publish(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    const attrs: Record<string, string> = { image: rec.Config.Image ?? '', name: rec.Name.slice(1), ...(rec.Config.Labels ?? {}), ...extra };
    this.events.publish('container', action, rec.Id, attrs);
  }

  // ---------- create ----------

  async create(nameArg: string | undefined, body: CreateRequest): Promise<{ Id: string; Warnings: string[] }> {
    if (!body || typeof body !== 'object') throw new BadRequestError('config cannot be empty in order to create a container');
    const { HostConfig: hostIn, NetworkingConfig: networking, ...configIn } = body;
    if (!configIn.Image) throw new BadRequestError('No image specified');
    let name = nameArg ?? '';
    if (name !== '') {
      if (!NAME_RE.test(name)) throw new BadRequestError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      name = name.replace(/^\//, '');
    }
    if (configIn.WorkingDir && !configIn.WorkingDir.startsWith('/')) {
      throw new BadRequestError(`the working directory '${configIn.WorkingDir}' is invalid, it needs to be an absolute path`);
    }
    const image = this.images.get(configIn.Image);
    const host = this.normalizeHostConfig(hostIn ?? {});
    const endpoints = this.network.endpointsForCreate(host.NetworkMode ?? 'bridge', networking?.EndpointsConfig, configIn.Hostname ?? '');
    const config = mergeImageConfig(configIn, image);
    if ((config.Entrypoint?.length ?? 0) === 0 && (config.Cmd?.length ?? 0) === 0) throw new BadRequestError('No command specified');
    const id = randomBytes(32).toString('hex');
    if (!config.Hostname) config.Hostname = id.slice(0, 12);
    const warnings: string[] = [];

    return this.locked(`name:${name}`, async () => {
      if (name === '') name = randomName((n) => this.names.has(n));
      const holder = this.names.get(name);
      if (holder) {
        throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
      }
      this.names.set(name, id);
      const dir = this.dir(id);
      try {
        await mkdir(dir, { recursive: true, mode: 0o710 });
        await this.snapshots.prepare(id, image.record.topLayer || undefined);
        const mounts = await this.snapshots.mounts(id);
        const rec: ContainerRecord = {
          Id: id,
          Created: nowNano(),
          Path: '',
          Args: [],
          State: newState(),
          Image: image.record.id,
          ResolvConfPath: join(dir, 'resolv.conf'),
          HostnamePath: join(dir, 'hostname'),
          HostsPath: join(dir, 'hosts'),
          LogPath: host.LogConfig?.Type === 'json-file' ? join(dir, `${id}-json.log`) : '',
          Name: '/' + name,
          RestartCount: 0,
          Driver: 'overlay2',
          Platform: 'linux',
          MountLabel: '',
          ProcessLabel: '',
          AppArmorProfile: '',
          ExecIDs: null,
          HostConfig: host,
          GraphDriver: { Name: 'overlay2', Data: graphDriverData(mounts, join(this.stateDir(id), 'rootfs')) },
          Mounts: [],
          Config: config,
          NetworkSettings: { ...emptyNetworkSettings(), Networks: endpoints } as unknown as Record<string, unknown>,
        };
        const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
        rec.Path = argv[0];
        rec.Args = argv.slice(1);
        await this.writeEtcFiles(rec);
        await this.save(rec);
        this.records.set(id, rec);
        this.publish(rec, 'create');
        return { Id: id, Warnings: warnings };
      } catch (err) {
        this.names.delete(name);
        await this.snapshots.remove(id).catch(() => {});
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    });
  }

  private normalizeHostConfig(h: HostConfig): HostConfig {
    const host: HostConfig = { ...h };
    if (!host.NetworkMode || host.NetworkMode === 'default') host.NetworkMode = 'bridge';
    // As dockerd's mergeAndVerifyLogConfig: no type means the daemon's driver,
    // and the daemon's options fill in those the container did not set.
    const log = { Type: host.LogConfig?.Type || this.cfg.logDriver, Config: { ...(host.LogConfig?.Config ?? {}) } };
    if (log.Type === this.cfg.logDriver) for (const [k, v] of Object.entries(this.cfg.logOpts)) log.Config[k] ??= v;
    if (!['json-file', 'none'].includes(log.Type)) throw new BadRequestError(`logger: no log driver named '${log.Type}' is registered`);
    for (const k of Object.keys(log.Config ?? {})) {
      if (!['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode'].includes(k)) throw new BadRequestError(`unknown log opt '${k}' for json-file log driver`);
    }
    if (log.Config?.['max-size']) ramInBytes(log.Config['max-size']);
    host.LogConfig = { Type: log.Type, Config: log.Config ?? {} };
    host.RestartPolicy = host.RestartPolicy?.Name ? host.RestartPolicy : { Name: 'no', MaximumRetryCount: 0 };
    if (host.AutoRemove && host.RestartPolicy.Name !== 'no') throw new BadRequestError("can't create 'AutoRemove' container with restart policy");
    if (host.Runtime && !this.cfg.runtimes[host.Runtime]) throw new BadRequestError(`unknown or invalid runtime name: ${host.Runtime}`);
    host.Runtime = host.Runtime || this.cfg.defaultRuntime;
    host.ShmSize = host.ShmSize || 64 * 1024 * 1024;
    host.IpcMode = host.IpcMode || 'private';
    host.CgroupnsMode = host.CgroupnsMode || 'host';
    host.Binds ??= null;
    host.PortBindings ??= {};
    return host;
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
      await this.locked(rec.Id, () => this.startLocked(rec));
    } catch (err) {
      // As dockerd: a --rm container that cannot start is removed, so `run --rm`'s wait for "removed" ends.
      if (rec.HostConfig.AutoRemove && !(err instanceof NotModifiedError) && this.records.has(rec.Id) && !rec.State.Running) {
        await this.remove(rec.Id, { force: true }).catch(() => {});
      }
      throw err;
    }
  }

  private async startLocked(rec: ContainerRecord): Promise<void> {
    if (!this.records.has(rec.Id)) throw noSuchContainer(rec.Id);
    if (rec.State.Running) throw new NotModifiedError();
    if (rec.State.Status === 'removing' || rec.State.Dead) throw new ConflictError(`container is marked for removal and cannot be started`);
    const state = this.stateDir(rec.Id);
    await removeStateDir(state);
    await mkdir(join(state, 'rootfs'), { recursive: true, mode: 0o700 });
    const mounts = await this.snapshots.mounts(rec.Id);
    const rootfsMount = mounts[0].type === 'overlay' ? overlayOptions(mounts[0]) : undefined;
    const rootfsPath = rootfsMount ? join(state, 'rootfs') : mounts[0].source;
    const host = rec.HostConfig;
    const runtime = this.runtimeFor(rec);
    let net: Awaited<ReturnType<NetworkService['setup']>>;
    try {
      net = await this.network.setup(rec);
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
        cgroupsPath: `/${host.CgroupParent || this.cfg.cgroupParent}/${rec.Id}`,
        netns: net.netns,
        initPath: host.Init ? this.cfg.initPath : undefined,
        stopSignal: rec.Config.StopSignal,
        extraMounts: this.extraMounts.get(rec.Id),
      });
      await writeFile(join(state, 'config.json'), JSON.stringify(spec));
    } catch (err) {
      await this.network.teardown(rec);
      await removeStateDir(state);
      throw startError(rec, err);
    }
    const log = host.LogConfig ?? { Type: 'json-file', Config: {} };
    try {
      await launchShim({
        shimPath: this.cfg.shimPath,
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
      await this.network.teardown(rec);
      await removeStateDir(state);
      const e = startError(rec, err);
      rec.State.Error = e.message;
      await this.save(rec);
      throw e;
    }
    const conn = await ShimConnection.connect(join(state, 'shim.sock'));
    this.attachShim(rec, conn);
    const live = this.liveOf(rec.Id);
    for (const chunk of live.pendingStdin.splice(0)) conn.writeStdin(chunk);
    if (live.pendingStdinClose) {
      conn.closeStdin();
      live.pendingStdinClose = false;
    }
    let pid: number;
    try {
      pid = await conn.start();
    } catch (err) {
      conn.close();
      await this.network.teardown(rec);
      throw startError(rec, err);
    }
    rec.State = { ...rec.State, Status: 'running', Running: true, Paused: false, Restarting: false, Dead: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: nowNano(), FinishedAt: rec.State.StartedAt === ZERO_TIME ? ZERO_TIME : rec.State.FinishedAt };
    rec.berthManuallyStopped = false;
    await this.save(rec);
    this.publish(rec, 'start');
  }

  /** Wires a shim connection to the container's listeners and exit handling. */
  private attachShim(rec: ContainerRecord, conn: ShimConnection): void {
    const live = this.liveOf(rec.Id);
    live.conn = conn;
    conn.on('stdout', (b: Buffer) => live.output.emit('stdout', b));
    conn.on('stderr', (b: Buffer) => live.output.emit('stderr', b));
    // Before the runtime's cleanup: for a build step, which needs only the status and output.
    conn.once('exited', (st: ExitStatus) => live.output.emit('exited', st));
    conn.once('exit', (st: ExitStatus) => {
      void this.handleExit(rec.Id, st);
    });
    conn.once('close', () => {
      if (live.conn === conn) live.conn = undefined;
      if (!conn.exited) void this.recoverLostShim(rec.Id);
    });
  }

  /**
   * A shim connection closed without an exit frame. A live shim is connected
   * to again; a dead one left exit.json, or died itself (exit 255).
   */
  private async recoverLostShim(id: string): Promise<void> {
    if (this.detaching) return;
    const rec = this.records.get(id);
    if (!rec || !rec.State.Running) return;
    const conn = await connectToShim(this.stateDir(id));
    if (this.detaching) {
      conn?.close();
      return;
    }
    if (conn) {
      this.attachShim(rec, conn);
      return;
    }
    const exit = readExitFile(this.stateDir(id));
    await this.handleExit(id, exit ?? { exitCode: 255, finishedAt: nowNano() }, exit ? '' : 'container monitor exited unexpectedly');
  }

  private async handleExit(id: string, st: ExitStatus, error = ''): Promise<void> {
    const rec = this.records.get(id);
    if (!rec) return;
    await this.locked(id, async () => {
      if (!rec.State.Running) return;
      rec.State = { ...rec.State, Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: st.exitCode, FinishedAt: st.finishedAt, Error: error };
      await this.network.teardown(rec);
      await this.save(rec);
      await removeStateDir(this.stateDir(id));
      const live = this.liveOf(id);
      live.conn = undefined;
      live.output.emit('end');
      this.publish(rec, 'die', { exitCode: String(st.exitCode) });
      this.changes.emit(`exit:${id}`, st.exitCode);
    });
    if (rec.HostConfig.AutoRemove) {
      await this.remove(id, { force: true }).catch(() => {});
    } else {
      this.scheduleRestart(rec);
    }
  }

  private scheduleRestart(rec: ContainerRecord): void {
    const p = rec.HostConfig.RestartPolicy;
    if (!p || rec.berthManuallyStopped) return;
    const retry = p.Name === 'always' || p.Name === 'unless-stopped'
      || (p.Name === 'on-failure' && rec.State.ExitCode !== 0 && (!p.MaximumRetryCount || rec.RestartCount < p.MaximumRetryCount));
    if (!retry) return;
    const delay = Math.min(100 * 2 ** Math.min(rec.RestartCount, 10), 60_000);
    rec.State = { ...rec.State, Restarting: true, Status: 'restarting' };
    setTimeout(() => {
      void this.locked(rec.Id, async () => {
        if (!this.records.has(rec.Id) || rec.berthManuallyStopped || rec.State.Running) return;
        rec.RestartCount++;
        await this.startLocked(rec);
      }).catch(() => {
        rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
      });
    }, delay).unref();
  }

  // ---------- stop / kill / restart / wait ----------

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    if (!rec.State.Running) {
      if (rec.State.Restarting) {
        rec.berthManuallyStopped = true;
        rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
        await this.save(rec);
        return;
      }
      throw new NotModifiedError();
    }
    rec.berthManuallyStopped = true;
    const sig = parseSignal(signal ?? rec.Config.StopSignal ?? 'SIGTERM');
    const t = timeoutSec ?? rec.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    const exited = this.waitExit(rec.Id);
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
    const exited = sig === 9 ? this.waitExit(rec.Id) : undefined;
    this.signal(rec, sig);
    if (exited) await withTimeout(exited, 10_000);
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    if (rec.State.Running) await this.stop(rec.Id, timeoutSec, signal);
    await this.start(rec.Id);
    this.publish(rec, 'restart');
  }

  private waitExit(id: string): Promise<number> {
    return new Promise((resolve) => this.changes.once(`exit:${id}`, resolve));
  }

  /** POST /containers/{id}/wait: resolves with the exit code per `condition`. */
  async wait(ref: string, condition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error: null | { Message: string } }> {
    const rec = this.get(ref);
    if (!['not-running', 'next-exit', 'removed', ''].includes(condition)) throw new BadRequestError(`invalid condition: "${condition}"`);
    if ((condition === 'not-running' || condition === '') && !rec.State.Running) return { StatusCode: rec.State.ExitCode, Error: null };
    const event = condition === 'removed' ? `removed:${rec.Id}` : `exit:${rec.Id}`;
    const code = await new Promise<number>((resolve, reject) => {
      const onEvent = (c: number) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(condition === 'removed' ? rec.State.ExitCode : c);
      };
      const onAbort = () => {
        this.changes.off(event, onEvent);
        reject(new Error('client went away'));
      };
      this.changes.once(event, onEvent);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return { StatusCode: code, Error: null };
  }

  /** Mounts added to the container's spec at its next start (the builder's RUN --mount). */
  setExtraMounts(id: string, mounts: OciMount[]): void {
    this.extraMounts.set(id, mounts);
  }

  // ---------- pause / unpause ----------

  /** `docker pause`: freezes the container's processes (runc pause, the cgroup freezer). */
  async pause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
      if (rec.State.Paused) throw new ConflictError(`Container ${rec.Id} is already paused`);
      await this.runtimeCommand(rec, 'pause');
      rec.State = { ...rec.State, Paused: true, Status: 'paused' };
      await this.save(rec);
      this.publish(rec, 'pause');
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      if (!rec.State.Paused) throw new ConflictError(`Container ${rec.Id} is not paused`);
      await this.runtimeCommand(rec, 'resume');
      rec.State = { ...rec.State, Paused: false, Status: rec.State.Running ? 'running' : rec.State.Status };
      await this.save(rec);
      this.publish(rec, 'unpause');
    });
  }

  private runtimeCommand(rec: ContainerRecord, command: 'pause' | 'resume'): Promise<void> {
    const rt = this.runtimeFor(rec);
    return new Promise((resolve, reject) => {
      execFile(rt.path, ['--root', rt.root, ...rt.args, command, rec.Id], (err, _stdout, stderr) => {
        const msg = runtimeMessage(String(stderr || err?.message));
        // Exited an instant ago: runc has it stopped or deleted before its exit reached us.
        if (err && /container does not exist|container not running/.test(msg)) reject(new ConflictError(`Container ${rec.Id} is not running`));
        else if (err) reject(new InternalError(`Cannot ${command === 'pause' ? 'pause' : 'unpause'} container ${rec.Id}: ${msg}`));
        else resolve();
      });
    });
  }

  // ---------- remove / rename / prune ----------

  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
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
      const exited = this.waitExit(rec.Id);
      this.signal(rec, 9);
      await withTimeout(exited, 10_000);
    }
    await this.locked(rec.Id, async () => {
      if (!this.records.has(rec.Id)) return;
      if (rec.State.Running) throw new ConflictError(`You cannot remove a running container ${rec.Id}. Stop the container before attempting removal or force remove`);
      rec.berthManuallyStopped = true;
      rec.State = { ...rec.State, Status: 'removing', Restarting: false };
      // Metadata goes first: a crash mid-way leaves an orphan snapshot that
      // the next start collects, never a container without its filesystem.
      await rm(join(this.dir(rec.Id), 'config.v2.json'), { force: true });
      this.records.delete(rec.Id);
      this.names.delete(rec.Name.slice(1));
      await this.network.teardown(rec).catch(() => {});
      await this.snapshots.remove(rec.Id).catch(() => {});
      await rm(this.dir(rec.Id), { recursive: true, force: true });
      await removeStateDir(this.stateDir(rec.Id));
      this.live.delete(rec.Id);
      this.extraMounts.delete(rec.Id);
      this.publish(rec, 'destroy');
      this.changes.emit(`removed:${rec.Id}`, rec.State.ExitCode);
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref);
    if (!newName) throw new BadRequestError('Neither old nor new names may be empty');
    if (!NAME_RE.test(newName)) throw new BadRequestError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const name = newName.replace(/^\//, '');
    const old = rec.Name.slice(1);
    if (name === old) throw new BadRequestError('Renaming a container with the same name as its current name');
    const holder = this.names.get(name);
    if (holder) throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    this.names.set(name, rec.Id);
    this.names.delete(old);
    rec.Name = '/' + name;
    await this.save(rec);
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
    const live = this.liveOf(id);
    if (live.conn) live.conn.writeStdin(data);
    else live.pendingStdin.push(data);
  }

  closeStdin(id: string): void {
    const live = this.liveOf(id);
    if (live.conn) live.conn.closeStdin();
    else live.pendingStdinClose = true;
  }

  resize(ref: string, rows: number, cols: number): void {
    const rec = this.get(ref);
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    this.liveOf(rec.Id).conn?.resize(rows, cols);
  }

  async rootfsSize(id: string): Promise<number> {
    return (await this.snapshots.usage(id).catch(() => ({ size: 0 }))).size;
  }

  // ---------- daemon start ----------

  /** Loads every container and reconnects to the shims of running ones. */
  async restore(): Promise<void> {
    await mkdir(this.containersDir, { recursive: true });
    await mkdir(this.cfg.execRoot, { recursive: true });
    for (const id of await readdir(this.containersDir)) {
      let rec: ContainerRecord;
      try {
        rec = JSON.parse(await readFile(join(this.dir(id), 'config.v2.json'), 'utf8')) as ContainerRecord;
      } catch {
        // No metadata: a create or remove that crashed half-way.
        await this.snapshots.remove(id).catch(() => {});
        await rm(this.dir(id), { recursive: true, force: true });
        continue;
      }
      await removeTempFiles(this.dir(id));
      this.records.set(rec.Id, rec);
      this.names.set(rec.Name.slice(1), rec.Id);
    }
    // Nothing but containers owns an active snapshot between runs: one without
    // a container is a half-created container, or the `extract-*` snapshot of
    // a layer unpack (import, load, pull) the crash cut short.
    await this.snapshots.walk(async (s) => {
      if (s.kind !== 'committed' && !this.records.has(s.key)) await this.snapshots.remove(s.key).catch(() => {});
    });
    for (const rec of this.records.values()) {
      if (rec.State.Status === 'removing') {
        await this.remove(rec.Id, { force: true }).catch(() => {});
        continue;
      }
      if (!rec.State.Running) {
        await killOrphanShim(this.stateDir(rec.Id));
        await this.network.cleanupStopped(rec);
        // As dockerd: a --rm container that is not running is removed. A crash
        // between its exit (or a failed start) and its removal, or before its
        // start, would otherwise leave it behind with nothing to remove it.
        if (rec.HostConfig.AutoRemove) await this.remove(rec.Id, { force: true }).catch(() => {});
        else if (rec.State.Restarting) rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
        continue;
      }
      const conn = await connectToShim(this.stateDir(rec.Id));
      if (conn) {
        await this.network.restoreRunning(rec);
        this.attachShim(rec, conn);
        continue;
      }
      const exit = readExitFile(this.stateDir(rec.Id));
      await this.handleExit(rec.Id, exit ?? { exitCode: 255, finishedAt: nowNano() }, exit ? '' : 'container monitor exited unexpectedly');
    }
  }

  /** Closes shim connections without touching the containers (daemon shutdown). */
  detachAll(): void {
    this.detaching = true;
    for (const l of this.live.values()) l.conn?.close();
  }

  /** Used by image removal: which layers and images containers still need. */
  imagesInUse(): Map<string, ContainerRecord[]> {
    const m = new Map<string, ContainerRecord[]>();
    for (const r of this.records.values()) m.set(r.Image, [...(m.get(r.Image) ?? []), r]);
    return m;
  }

  /** Changes a container's record under its lock and saves it (network connect/disconnect). */
  async update(ref: string, fn: (rec: ContainerRecord) => Promise<void>): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      await fn(rec);
      await this.save(rec);
    });
  }

  shimConnection(id: string): ShimConnection | undefined {
    return this.live.get(id)?.conn;
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

// ---------- helpers ----------

/**
 * The extra attributes dockerd's json-file driver writes with each entry:
 * the container labels named by log-opt `labels`/`labels-regex` and the
 * environment variables named by `env`/`env-regex`.
 */
function logAttributes(rec: ContainerRecord): Record<string, string> {
  const opts = rec.HostConfig.LogConfig?.Config ?? {};
  const names = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const regex = (v: string | undefined) => {
    try {
      return v ? new RegExp(v) : undefined;
    } catch {
      return undefined;
    }
  };
  const attrs: Record<string, string> = {};
  const labels = rec.Config.Labels ?? {};
  const labelRe = regex(opts['labels-regex']);
  for (const [k, v] of Object.entries(labels)) if (names(opts.labels).includes(k) || labelRe?.test(k)) attrs[k] = v;
  const envNames = names(opts.env);
  const envRe = regex(opts['env-regex']);
  for (const e of rec.Config.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    const k = e.slice(0, eq);
    if (envNames.includes(k) || envRe?.test(k)) attrs[k] = e.slice(eq + 1);
  }
  return attrs;
}

/**
 * Removes a container's exec-root directory, the only way it is removed. A
 * shim that died without cleaning up may have left the rootfs mounted, and a
 * recursive rm would then delete the container's files through the mount:
 * detach it first.
 */
async function removeStateDir(stateDir: string): Promise<void> {
  const rootfs = join(stateDir, 'rootfs');
  if (isMountPoint(rootfs)) {
    await new Promise<void>((resolve) => execFile('umount', ['-l', rootfs], () => resolve()));
  }
  await rm(stateDir, { recursive: true, force: true }).catch(() => {});
}

/** The pid of the container's shim while it lives. */
function liveShimPid(stateDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(stateDir, 'shim.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * A kill -9 during start, after the shim was launched but before the record
 * said running, leaves a shim (and its container, created or already started)
 * for a container whose record says it is not running. The record is the
 * truth — the start never returned — so the process is killed and the shim
 * left to clean up as on any exit; otherwise it would run unaccounted for, and
 * outlive the container's removal.
 */
async function killOrphanShim(stateDir: string): Promise<void> {
  // A state dir left by a crash after an exit has exit.json, and its shim.pid
  // may name a reused pid by now: only a shim whose command line names this
  // state dir is ours. While it lives, it reaps the container, so `pid` is not reused.
  if (readExitFile(stateDir)) return;
  const ours = () => {
    const shimPid = liveShimPid(stateDir);
    try {
      return shimPid !== undefined && readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0').includes(stateDir);
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 30_000;
  const sleep = () => new Promise((r) => setTimeout(r, 50));
  // The shim writes `pid` once `runc create` is done; wait for it or for the shim's end.
  let pid = 0;
  while (ours() && Date.now() < deadline) {
    try {
      pid = Number(readFileSync(join(stateDir, 'pid'), 'utf8').trim()) || 0;
    } catch {
      pid = 0;
    }
    if (pid > 1) break;
    await sleep();
  }
  if (pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  while (ours() && Date.now() < deadline) await sleep();
}

/**
 * Connects to a container's shim. While the shim process lives a refused
 * connection is retried (it may be busy or just finishing); undefined means
 * the shim is gone.
 */
async function connectToShim(stateDir: string): Promise<ShimConnection | undefined> {
  const sock = join(stateDir, 'shim.sock');
  for (let attempt = 0; ; attempt++) {
    const conn = await ShimConnection.connect(sock).catch(() => undefined);
    if (conn) return conn;
    if (liveShimPid(stateDir) === undefined || attempt >= 50) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readExitFile(stateDir: string): ExitStatus | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'exit.json'), 'utf8')) as ExitStatus;
  } catch {
    return undefined;
  }
}

function readHostFile(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** /etc/resolv.conf for a container: the host's, without loopback resolvers it could not reach. */
function resolvConf(h: HostConfig): string {
  const lines: string[] = [];
  if (h.NetworkMode === 'host' && !h.Dns?.length && !h.DnsSearch?.length && !h.DnsOptions?.length) {
    return readHostFile('/etc/resolv.conf') ?? '';
  }
  const host = readHostFile('/etc/resolv.conf') ?? '';
  const ns = h.Dns?.length ? h.Dns : host.split('\n').filter((l) => /^\s*nameserver\s/.test(l)).map((l) => l.trim().split(/\s+/)[1]).filter((a) => !/^127\.|^::1$/.test(a));
  const search = h.DnsSearch?.length ? h.DnsSearch : host.split('\n').filter((l) => /^\s*search\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1));
  const opts = h.DnsOptions?.length ? h.DnsOptions : host.split('\n').filter((l) => /^\s*options\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1));
  for (const n of ns.length ? ns : ['8.8.8.8', '8.8.4.4']) lines.push(`nameserver ${n}`);
  if (search.length) lines.push(`search ${search.join(' ')}`);
  if (opts.length) lines.push(`options ${opts.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The directories of a snapshot mount, top first, for reading files before it is mounted. */
function layerDirs(m: Mount): string[] {
  if (m.type === 'bind') return [m.source];
  const opt = (k: string) => m.options.find((o) => o.startsWith(k + '='))?.slice(k.length + 1);
  return [...(opt('upperdir') ? [opt('upperdir') as string] : []), ...(opt('lowerdir') ?? '').split(':').filter(Boolean)];
}

function graphDriverData(mounts: Mount[], merged: string): Record<string, string> {
  const data: Record<string, string> = { MergedDir: merged };
  for (const opt of mounts[0]?.options ?? []) {
    const [k, v] = opt.split('=', 2);
    if (k === 'lowerdir') data.LowerDir = v;
    if (k === 'upperdir') data.UpperDir = v;
    if (k === 'workdir') data.WorkDir = v;
  }
  return data;
}

/** The image's config is the default for everything the request leaves unset (dockerd's merge). */
export function mergeImageConfig(c: ContainerConfig, image: Image): ContainerConfig {
  const img = image.config.config ?? {};
  const out: ContainerConfig = { ...c };
  out.User = c.User || img.User || '';
  out.WorkingDir = c.WorkingDir || img.WorkingDir || '';
  const env = new Map<string, string>();
  for (const e of [...(img.Env ?? []), ...(c.Env ?? [])]) {
    const eq = e.indexOf('=');
    env.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  if (![...env.keys()].includes('PATH')) env.set('PATH', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  out.Env = [...env.values()];
  const ep = c.Entrypoint;
  if (!ep || ep.length === 0 || (ep.length === 1 && ep[0] === '')) {
    if (!c.Cmd || c.Cmd.length === 0) out.Cmd = img.Cmd ?? null;
    // Absent: inherit the image's. Given but empty (`--entrypoint ""`): cleared.
    out.Entrypoint = ep == null ? (img.Entrypoint ?? null) : null;
  } else if (!c.Cmd || c.Cmd.length === 0) {
    out.Cmd = null;
  }
  out.Labels = { ...(img.Labels ?? {}), ...(c.Labels ?? {}) };
  out.ExposedPorts = c.ExposedPorts || img.ExposedPorts ? { ...(img.ExposedPorts ?? {}), ...(c.ExposedPorts ?? {}) } : undefined;
  out.Volumes = c.Volumes || img.Volumes ? { ...(img.Volumes ?? {}), ...(c.Volumes ?? {}) } : null;
  out.StopSignal = c.StopSignal || img.StopSignal;
  out.OnBuild = null;
  out.Tty = c.Tty === true;
  out.OpenStdin = c.OpenStdin === true;
  out.StdinOnce = c.StdinOnce === true;
  out.AttachStdin = c.AttachStdin === true;
  out.AttachStdout = c.AttachStdout === true;
  out.AttachStderr = c.AttachStderr === true;
  out.Domainname = c.Domainname ?? '';
  if (!out.ExposedPorts) delete out.ExposedPorts;
  if (!out.StopSignal) delete out.StopSignal;
  return out;
}

/** dockerd's translation of runtime start errors: 127/126 exit codes, 400 for bad commands. */
function startError(rec: ContainerRecord, err: unknown): EngineError {
  const raw = err instanceof Error ? err.message : String(err);
  const msg = runtimeMessage(raw);
  const text = err instanceof ShimError ? `failed to create task for container: OCI runtime create failed: ${msg}: unknown` : msg;
  if (/executable file not found|no such file or directory/.test(msg)) {
    rec.State.ExitCode = 127;
    return new BadRequestError(text);
  }
  if (/permission denied/.test(msg)) {
    rec.State.ExitCode = 126;
    return new BadRequestError(text);
  }
  if (err instanceof EngineError) return err;
  rec.State.ExitCode = 128;
  return new InternalError(text);
}

/** Pulls runc's own message out of its logrus line (`time=… level=error msg="…"`). */
function runtimeMessage(raw: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(raw);
  if (m) return m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return raw.trim();
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

export function labelsMatch(labels: Record<string, string>, want: string[], notWant: string[] = []): boolean {
  const has = (f: string) => {
    const eq = f.indexOf('=');
    return eq < 0 ? f in labels : labels[f.slice(0, eq)] === f.slice(eq + 1);
  };
  return want.every(has) && !notWant.some(has);
}

/** `until`/`since` filter values: a timestamp or a duration before now. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = /^(\d+)(s|m|h)$/.exec(v);
  if (d) return Date.now() - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[d[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new BadRequestError(`failed to parse value as time or duration: "${v}"`);
  return t;
}

