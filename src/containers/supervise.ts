// The supervision of running containers through their shims: each shim
// connection wired to the container's listeners, an exit recorded (network,
// volumes and shm released, `die`), a lost connection dialled again or turned
// into an exit, and the restart its policy asks for, after dockerd's backoff.
import { nowNano, type ContainerRecord } from '../api/container.ts';
import type { NetworkService } from '../network/service.ts';
import type { ExitStatus, ShimConnection } from '../runtime/shim.ts';
import type { LiveTable } from './live.ts';
import { unmountVolumes, type MountContext } from './mounts.ts';
import { unmountShareableShm } from './namespaces.ts';
import { RestartBackoff, shouldRestart } from './restart.ts';
import { connectToShim, readExitFile, removeStateDir } from './shim-state.ts';
import type { ContainerTable } from './table.ts';

/** What the supervisor needs of the container service. */
export interface SuperviseContext {
  table: ContainerTable;
  live: LiveTable;
  network: NetworkService;
  mountContext(): MountContext;
  stateDir(id: string): string;
  shmPath(rec: ContainerRecord): string;
  publish(rec: ContainerRecord, action: string, extra?: Record<string, string>): void;
  /** Tells waiters of the container's exit. */
  exited(id: string, code: number): void;
  /** Removes a --rm container after its exit (with its anonymous volumes). */
  remove(id: string): Promise<void>;
  /** Starts the container; its lock is held. */
  startLocked(rec: ContainerRecord): Promise<void>;
}

export class ShimSupervisor {
  private readonly ctx: SuperviseContext;
  private readonly backoff = new RestartBackoff();
  /** Network teardowns begun at a container's `exited` frame, before its shim's cleanup and exit frame. */
  private readonly teardowns = new Map<string, Promise<void>>();
  /** Set on shutdown: closed shim connections then mean nothing about the containers. */
  detaching = false;

  constructor(ctx: SuperviseContext) {
    this.ctx = ctx;
  }

  /** A removed container's restart backoff is forgotten. */
  forget(id: string): void {
    this.backoff.forget(id);
  }

  /** Wires a shim connection to the container's listeners and exit handling. */
  attach(rec: ContainerRecord, conn: ShimConnection): void {
    const live = this.ctx.live.of(rec.Id);
    live.conn = conn;
    conn.on('stdout', (b: Buffer) => live.output.emit('stdout', b));
    conn.on('stderr', (b: Buffer) => live.output.emit('stderr', b));
    // Before the runtime's cleanup: for a build step, which needs only the status and output.
    conn.once('exited', (st: ExitStatus) => {
      live.output.emit('exited', st);
      // The process is gone: its network goes while the shim has the runtime
      // delete the container (a runtime process of its own), not after, as
      // both are on `run --rm`'s path; handleExit waits for it.
      if (!this.teardowns.has(rec.Id)) this.teardowns.set(rec.Id, this.ctx.network.teardown(rec).catch(() => {}));
    });
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
    const rec = this.ctx.table.records.get(id);
    if (!rec || !rec.State.Running) return;
    const conn = await connectToShim(this.ctx.stateDir(id));
    if (this.detaching) {
      conn?.close();
      return;
    }
    if (conn) {
      this.attach(rec, conn);
      return;
    }
    const exit = readExitFile(this.ctx.stateDir(id));
    await this.handleExit(id, exit ?? { exitCode: 255, finishedAt: nowNano() }, exit ? '' : 'container monitor exited unexpectedly');
  }

  async handleExit(id: string, st: ExitStatus, error = ''): Promise<void> {
    const rec = this.ctx.table.records.get(id);
    if (!rec) return;
    await this.ctx.table.locked(id, async () => {
      const early = this.teardowns.get(id);
      this.teardowns.delete(id);
      await early;
      if (!rec.State.Running) return;
      rec.State = { ...rec.State, Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: st.exitCode, FinishedAt: st.finishedAt, Error: error, OOMKilled: st.oomKilled === true };
      // Again: idempotent, and all of it when there was no exited frame (a shim lost, an exit seen at restore).
      await this.ctx.network.teardown(rec);
      await unmountVolumes(rec, this.ctx.mountContext());
      await unmountShareableShm(this.ctx.shmPath(rec));
      // A record that cannot be saved (a full disk) must not lose the exit or
      // take the daemon down: the state dir keeps the shim's exit.json for the
      // next start, and waiters (a build's RUN) still hear of the exit.
      // An --rm container's record is removed right after (ctx.remove): its
      // exit is not written at all. Its state dir still goes first, as any
      // container's (a crash inside the removal, after the record's deletion,
      // would leave it to nobody); a crash before the removal finds the
      // record running and no shim, and the next start removes the container all the same.
      const saved = rec.HostConfig.AutoRemove || await this.ctx.table.save(rec).then(() => true, () => false);
      if (saved) await removeStateDir(this.ctx.stateDir(id));
      const live = this.ctx.live.of(id);
      live.conn = undefined;
      live.output.emit('end');
      if (st.oomKilled) this.ctx.publish(rec, 'oom');
      this.ctx.publish(rec, 'die', { exitCode: String(st.exitCode) });
      this.ctx.exited(id, st.exitCode);
    });
    if (rec.HostConfig.AutoRemove) {
      await this.ctx.remove(id).catch(() => {});
    } else {
      this.scheduleRestart(rec);
    }
  }

  private scheduleRestart(rec: ContainerRecord): void {
    if (!shouldRestart(rec, 'exit')) return;
    const delay = this.backoff.next(rec);
    rec.State = { ...rec.State, Restarting: true, Status: 'restarting' };
    setTimeout(() => {
      void this.ctx.table.locked(rec.Id, async () => {
        if (!this.ctx.table.records.has(rec.Id) || rec.berthManuallyStopped || rec.State.Running) return;
        rec.RestartCount++;
        await this.ctx.startLocked(rec);
      }).catch(() => {
        rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
      });
    }, delay).unref();
  }
}
