// `docker exec`: a new process in a running container, started by its own
// shim in exec mode (so its exit code survives a daemon restart too).
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, ConflictError, noSuchExec } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import { launchShim, ShimConnection, type ExitStatus } from '../runtime/shim.ts';
import { resolveUser } from '../runtime/user.ts';
import { allAvailableCaps } from '../runtime/spec.ts';
import type { ContainerRecord } from '../api/container.ts';
import type { ContainerServiceOptions } from './options.ts';
import type { ContainerService } from './service.ts';

export interface ExecConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
  ConsoleSize?: [number, number] | null;
}

export interface ExecInstance {
  ID: string;
  ContainerID: string;
  config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  started: boolean;
  /** A healthcheck's probe: forgotten as soon as it exits, as dockerd unregisters its probes' execs. */
  transient?: boolean;
  output: EventEmitter;
  conn?: ShimConnection;
}

interface ProcessSpec {
  terminal?: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Record<string, string[]>;
  [k: string]: unknown;
}

interface OciSpec { process: ProcessSpec; root: { path: string } }

/** The output a probe keeps, as dockerd's (daemon/health.go maxOutputLen). */
const PROBE_OUTPUT_MAX = 4096;

/** Go's time.Duration String() for the whole milliseconds a timeout is given in: "30s", "1.5s", "500ms", "1m0s". */
function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const m = Math.floor(ms / 60_000);
  const s = ((ms % 60_000) / 1000).toString();
  return m ? `${m}m${s}s` : `${s}s`;
}

/** Random bytes for exec IDs, drawn from the CSPRNG 64 IDs at a time (a probe is an exec every interval). */
let idPool = Buffer.alloc(0);

function execId(): string {
  if (idPool.length < 32) idPool = randomBytes(32 * 64);
  const id = idPool.toString('hex', 0, 32);
  idPool = idPool.subarray(32);
  return id;
}

/** How long an exited exec stays inspectable. */
const EXITED_EXEC_KEPT_MS = 5 * 60_000;

export class ExecService {
  private readonly cfg: Pick<ContainerServiceOptions, 'execRoot' | 'shimPath'>;
  private readonly containers: ContainerService;
  private readonly events: EventBus;
  private readonly execs = new Map<string, ExecInstance>();
  private readonly specs = new Map<string, { startedAt: string; spec: OciSpec }>();
  private readonly probeProcesses = new Map<string, { key: string; json: Buffer }>();

  constructor(cfg: Pick<ContainerServiceOptions, 'execRoot' | 'shimPath'>, containers: ContainerService, events: EventBus) {
    this.cfg = cfg;
    this.containers = containers;
    this.events = events;
  }

  get(id: string): ExecInstance {
    const e = this.execs.get(id);
    if (!e) throw noSuchExec(id);
    return e;
  }

  create(ref: string, config: ExecConfig, o: { transient?: boolean } = {}): { Id: string } {
    const rec = this.containers.get(ref);
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    if (!config || !Array.isArray(config.Cmd) || config.Cmd.length === 0) throw new InvalidArgumentError('No exec command specified');
    const id = execId();
    const output = new EventEmitter();
    output.setMaxListeners(0);
    this.execs.set(id, { ID: id, ContainerID: rec.Id, config, Running: false, ExitCode: null, Pid: 0, started: false, output, transient: o.transient });
    rec.ExecIDs = [...(rec.ExecIDs ?? []), id];
    this.publish(rec.Id, `exec_create: ${config.Cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  private publish(containerId: string, action: string, extra: Record<string, string> = {}): void {
    const rec = this.containers.find(containerId);
    this.events.publish('container', action, containerId, { image: rec?.Config.Image ?? '', name: rec?.Name.slice(1) ?? '', ...extra });
  }

  private stateDir(execId: string): string {
    return join(this.cfg.execRoot, 'x', execId);
  }

  /**
   * Starts the process. Output listeners must be attached to `output` before
   * calling; resolves once it runs, with a promise of its exit code (wrapped,
   * since a promise resolved with a promise would wait for it).
   */
  async start(id: string): Promise<{ exited: Promise<number> }> {
    const ex = this.get(id);
    if (ex.started) throw new ConflictError(`Error: Exec command ${id} has already run`);
    const rec = this.containers.get(ex.ContainerID);
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    ex.started = true;
    const c = ex.config;
    let proc: ProcessSpec;
    try {
      proc = await this.processOf(rec, c);
    } catch (err) {
      ex.ExitCode = 126; // never ran, as dockerd reports a failed exec start
      throw err;
    }
    const dir = this.stateDir(id);

    // Synchronous: a directory and a small file cost less than the thread-pool round trips
    // of their asynchronous calls, and a healthcheck makes them every interval.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'process.json'), JSON.stringify(proc));
    const rt = this.containers.runtimeFor(rec);
    // Paths absolute: a shim the container's shim starts resolves them from that shim's directory.
    const shim = {
      id: rec.Id, stateDir: resolve(dir), runtime: rt.path, runtimeArgs: rt.args, runtimeRoot: resolve(rt.root),
      execProcess: resolve(dir, 'process.json'), tty: c.Tty === true, stdin: c.AttachStdin === true, removeStateDir: true,
    };
    // The container's shim starts the exec's when it can, so the daemon does not fork per exec (a
    // healthcheck is an exec every interval), as containerd's shim runs dockerd's execs.
    const containerShim = this.containers.shimConnection(rec.Id);
    try {
      if (containerShim?.spawnsExecShims) await containerShim.spawnExecShim(shim);
      else await launchShim({ shimPath: this.cfg.shimPath, ...shim });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      ex.ExitCode = 126;
      throw new InvalidArgumentError(`OCI runtime exec failed: ${(err as Error).message}: unknown`);
    }
    const conn = await ShimConnection.connect(join(dir, 'shim.sock'));
    ex.conn = conn;
    conn.on('stdout', (b: Buffer) => ex.output.emit('stdout', b));
    conn.on('stderr', (b: Buffer) => ex.output.emit('stderr', b));
    let done = false;
    const exited = new Promise<number>((resolve) => {
      const finish = (st: ExitStatus) => {
        done = true;
        ex.Running = false;
        ex.ExitCode = st.exitCode;
        ex.conn = undefined;
        ex.output.emit('end');
        // The streams that listened are done; they must not stay reachable from the record.
        ex.output.removeAllListeners();
        this.retire(ex);
        // A shim that sent its exit frame waits for this close, then removes its directory itself
        // (--remove-state-dir); one lost without it may still be writing exit.json: retry, and
        // never let a leftover crash the daemon.
        if (conn.exited) conn.close();
        else rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => {});
        this.publish(rec.Id, 'exec_die', { execID: id, exitCode: String(st.exitCode) });
        resolve(st.exitCode);
      };
      conn.once('exit', finish);
      conn.once('close', () => {
        if (conn.exited) return;
        // Closed before its exit frame was read (a write failing on a socket the shim had closed
        // drops what was unread): the shim keeps exit.json then, written before that frame.
        readFile(join(dir, 'exit.json'), 'utf8')
          .then((j) => JSON.parse(j) as ExitStatus, (): ExitStatus => ({ exitCode: 126, finishedAt: '' }))
          .then(finish, () => finish({ exitCode: 126, finishedAt: '' }));
      });
    });
    try {
      ex.Pid = await conn.start();
    } catch (err) {
      conn.close();
      ex.ExitCode = 126;
      const msg = (err as Error).message;
      const m = /msg="((?:[^"\\]|\\.)*)"/.exec(msg);
      throw new InvalidArgumentError(`OCI runtime exec failed: ${m ? m[1].replace(/\\"/g, '"') : msg}: unknown`);
    }
    // A short process may have exited (and been recorded) before start's reply
    // was handled: it must not be marked running again.
    if (!done) ex.Running = true;
    this.publish(rec.Id, `exec_start: ${(c.Cmd as string[]).join(' ')}`, { execID: id });
    return { exited };
  }

  /** The OCI process an exec runs: the container's, with the exec's command, environment, user and the rest. */
  private async processOf(rec: ContainerRecord, c: ExecConfig): Promise<ProcessSpec> {
    const containerState = this.containers.stateDir(rec.Id);
    const spec = await this.specOf(rec.Id, rec.State.StartedAt, containerState);
    const proc: ProcessSpec = { ...spec.process };
    proc.args = c.Cmd as string[];
    proc.terminal = c.Tty === true;
    proc.cwd = c.WorkingDir || proc.cwd;
    const env = new Map<string, string>();
    for (const e of [...(proc.env ?? []), ...(c.Env ?? [])]) env.set(e.split('=')[0], e);
    proc.env = [...env.values()];
    if (c.User) {
      const u = resolveUser(spec.root.path.startsWith('/') ? spec.root.path : join(containerState, spec.root.path), c.User, []);
      proc.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    }
    // Docker gives a privileged exec every capability, whatever the container has.
    if (c.Privileged) {
      const all = allAvailableCaps();
      proc.capabilities = { bounding: [...all], effective: [...all], permitted: [...all] };
    }
    if (c.ConsoleSize) proc.consoleSize = { height: c.ConsoleSize[0], width: c.ConsoleSize[1] };
    return proc;
  }

  /**
   * A healthcheck's probe: `cmd` run in the container as an exec, its exit
   * code and first 4 KiB of stdout and stderr together ("..." after a cut, as
   * dockerd's), or -1 with why it did not run or that it timed out. Where the
   * container's shim runs probes itself (frame 11), the probe is one frame
   * each way, with no exec shim, directory or process.json; the exec's
   * events and its place in ExecIDs are dockerd's all the same.
   */
  async probe(containerId: string, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const shim = this.containers.shimConnection(containerId);
    if (!shim?.runsProbes) return this.probeByExec(containerId, cmd, timeoutMs);
    const rec = this.containers.get(containerId);
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    const id = execId();
    rec.ExecIDs = [...(rec.ExecIDs ?? []), id];
    this.publish(rec.Id, `exec_create: ${cmd.join(' ')}`, { execID: id });
    let exitCode = 126; // never ran
    try {
      const proc = await this.probeProcess(rec, cmd);
      this.publish(rec.Id, `exec_start: ${cmd.join(' ')}`, { execID: id });
      const r = await shim.probe(proc, timeoutMs);
      if (r.kind === 'timeout') {
        exitCode = 137;
        return { exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutMs)})` };
      }
      if (r.kind === 'error') return { exitCode: -1, output: `OCI runtime exec failed: ${r.message}: unknown` };
      exitCode = r.exitCode;
      return { exitCode, output: r.output.toString('utf8') + (r.truncated ? '...' : '') };
    } catch (err) {
      return { exitCode: -1, output: (err as Error).message };
    } finally {
      const now = this.containers.find(containerId);
      const left = now?.ExecIDs?.filter((x) => x !== id);
      if (now) now.ExecIDs = left?.length ? left : null;
      this.publish(rec.Id, 'exec_die', { execID: id, exitCode: String(exitCode) });
    }
  }

  /** A probe's process JSON, the same for every probe of one run of the container: made once per start. */
  private async probeProcess(rec: ContainerRecord, cmd: string[]): Promise<Buffer> {
    const key = `${rec.State.StartedAt}\0${cmd.join('\0')}`;
    const kept = this.probeProcesses.get(rec.Id);
    if (kept?.key === key) return kept.json;
    const json = Buffer.from(JSON.stringify(await this.processOf(rec, { Cmd: cmd, AttachStdout: true, AttachStderr: true })));
    this.probeProcesses.set(rec.Id, { key, json });
    return json;
  }

  /** A probe as an ordinary exec (a container whose shim predates frame 11), cut off after the timeout. */
  private async probeByExec(containerId: string, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    let output = Buffer.alloc(0);
    let truncated = false;
    const collect = (b: Buffer) => {
      const room = PROBE_OUTPUT_MAX - output.length;
      if (b.length > room) truncated = true;
      if (room > 0) output = Buffer.concat([output, b.subarray(0, room)]);
    };
    try {
      // Transient: 50 containers probed every second would otherwise keep 15,000 exited execs for their five minutes.
      const { Id } = this.create(containerId, { Cmd: cmd, AttachStdout: true, AttachStderr: true }, { transient: true });
      const ex = this.get(Id);
      ex.output.on('stdout', collect);
      ex.output.on('stderr', collect);
      const { exited } = await this.start(Id);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      const code = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (code === 'timeout') {
        try { if (ex.Pid) process.kill(ex.Pid, 'SIGKILL'); } catch { /* already gone */ }
        return { exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutMs)})` };
      }
      return { exitCode: code, output: output.toString('utf8') + (truncated ? '...' : '') };
    } catch (err) {
      return { exitCode: -1, output: (err as Error).message };
    }
  }

  /**
   * The container's OCI spec, which every exec's process starts from: read
   * once per start of the container (it is written only by a start).
   */
  private async specOf(id: string, startedAt: string, containerState: string): Promise<OciSpec> {
    const kept = this.specs.get(id);
    if (kept?.startedAt === startedAt) return kept.spec;
    const spec = JSON.parse(await readFile(join(containerState, 'config.json'), 'utf8')) as OciSpec;
    this.specs.set(id, { startedAt, spec });
    return spec;
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    const [entrypoint, ...args] = e.config.Cmd ?? [];
    return {
      CanRemove: false,
      ContainerID: e.ContainerID,
      DetachKeys: e.config.DetachKeys ?? '',
      ExitCode: e.ExitCode,
      ID: e.ID,
      OpenStderr: e.config.AttachStderr === true,
      OpenStdin: e.config.AttachStdin === true,
      OpenStdout: e.config.AttachStdout === true,
      ProcessConfig: { arguments: args, entrypoint, privileged: e.config.Privileged === true, tty: e.config.Tty === true, user: e.config.User ?? '' },
      Running: e.Running,
      Pid: e.Pid,
    };
  }

  resize(id: string, rows: number, cols: number): void {
    const e = this.get(id);
    if (!e.conn) throw new ConflictError(`Exec ${id} is not running`);
    e.conn.resize(rows, cols);
  }

  writeStdin(id: string, data: Buffer): void {
    this.execs.get(id)?.conn?.writeStdin(data);
  }

  closeStdin(id: string): void {
    this.execs.get(id)?.conn?.closeStdin();
  }

  /**
   * An exited exec leaves its container's ExecIDs, as in dockerd, and is kept
   * a while for `exec inspect` (the docker CLI reads the exit code from it),
   * then forgotten: a long-running container exec'd into all day must not
   * accumulate every exec it ever ran.
   */
  private retire(ex: ExecInstance): void {
    const rec = this.containers.find(ex.ContainerID);
    if (rec?.ExecIDs) {
      const left = rec.ExecIDs.filter((x) => x !== ex.ID);
      rec.ExecIDs = left.length ? left : null;
    }
    if (ex.transient) this.execs.delete(ex.ID);
    else setTimeout(() => this.execs.delete(ex.ID), EXITED_EXEC_KEPT_MS).unref();
  }

  /** Forgets exec instances of a removed container. */
  forgetContainer(containerId: string): void {
    this.specs.delete(containerId);
    this.probeProcesses.delete(containerId);
    for (const [id, e] of this.execs) if (e.ContainerID === containerId) this.execs.delete(id);
  }
}
