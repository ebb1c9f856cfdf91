// `docker pause` and `unpause`: the container's processes frozen and thawed
// by the runtime (the cgroup freezer), under the container's lock. Also the
// freeze an archive operation (cp: HEAD/GET/PUT /containers/{id}/archive)
// holds on a running container, as podman's cp pauses it (dockerd instead
// untars chrooted at the container's root, which Node cannot do): paths are resolved in
// the container's root and then used, and a process of the container could
// otherwise swap a directory for a symlink in between (CVE-2018-15664).
import type { ContainerRecord } from '../api/container.ts';
import { ConflictError, SystemError } from '../errors.ts';
import { runtimeCommand } from './shim-state.ts';
import type { ContainerTable } from './table.ts';

export interface PauseContext {
  table: ContainerTable;
  /** The archive operations' freezes (one per container, shared by concurrent operations). */
  archiveFreezes: Map<string, ArchiveFreeze>;
  runtimeFor(rec: ContainerRecord): { path: string; args: string[]; root: string };
  publish(rec: ContainerRecord, action: string): void;
}

/** `docker pause`: freezes the container's processes (runc pause, the cgroup freezer). */
export async function pauseContainer(ctx: PauseContext, rec: ContainerRecord, o: { forCommit?: boolean } = {}): Promise<void> {
  await ctx.table.locked(rec.Id, async () => {
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw new ConflictError(`Container ${rec.Id} is already paused`);
    // Frozen for an archive operation already: it stays frozen when that ends.
    if (!ctx.archiveFreezes.has(rec.Id)) await runtimeCommandOn(ctx, rec, 'pause');
    rec.State = { ...rec.State, Paused: true, Status: 'paused' };
    if (o.forCommit) rec.berthPausedForCommit = true;
    await ctx.table.save(rec);
    ctx.publish(rec, 'pause');
  });
}

export async function unpauseContainer(ctx: PauseContext, rec: ContainerRecord): Promise<void> {
  await ctx.table.locked(rec.Id, async () => {
    if (!rec.State.Paused) throw new ConflictError(`Container ${rec.Id} is not paused`);
    // An archive operation holds it frozen: it is thawed when that ends.
    if (!ctx.archiveFreezes.has(rec.Id)) await runtimeCommandOn(ctx, rec, 'resume');
    rec.State = { ...rec.State, Paused: false, Status: rec.State.Running ? 'running' : rec.State.Status };
    delete rec.berthPausedForCommit;
    await ctx.table.save(rec);
    ctx.publish(rec, 'unpause');
  });
}

function runtimeCommandOn(ctx: PauseContext, rec: ContainerRecord, command: 'pause' | 'resume'): Promise<void> {
  return runtimeCommand(ctx.runtimeFor(rec), command, rec.Id).catch((err: Error) => {
    // Exited an instant ago: runc has it stopped or deleted before its exit reached us, or
    // finds its cgroup (and with it the freezer's file) already gone.
    if (/container does not exist|container not running|(freezer\.state|cgroup\.freeze): no such file or directory/.test(err.message)) {
      throw new ConflictError(`Container ${rec.Id} is not running`);
    }
    throw new SystemError(`Cannot ${command === 'pause' ? 'pause' : 'unpause'} container ${rec.Id}: ${err.message}`);
  });
}

/** An archive operation's hold on a container's freeze. */
export interface ArchiveFreeze {
  users: number;
  /** Thawed early: its processes were sent SIGKILL (they die before running anything more). */
  thawed: boolean;
}

/**
 * Runs `fn` with a running container's processes frozen, as podman pauses
 * a container for `cp`. One freeze serves concurrent operations; the last to
 * end thaws it, on every path (an error, a client gone), unless the user
 * paused the container (before or meanwhile). A stopped container runs
 * nothing: `fn` runs as it is. The record is not changed (inspect and events
 * show no pause), and a daemon killed meanwhile finds the runtime paused and
 * the record not: its restart resumes the container (pause-state.ts).
 */
export async function withArchiveFreeze<T>(ctx: PauseContext, rec: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  const held = await ctx.table.locked(rec.Id, async () => {
    const f = ctx.archiveFreezes.get(rec.Id);
    if (f) {
      f.users++;
      return true;
    }
    if (!rec.State.Running) return false;
    // A container the user paused is frozen already; one that exits meanwhile needs no freeze.
    if (!rec.State.Paused) {
      try {
        await runtimeCommandOn(ctx, rec, 'pause');
      } catch (err) {
        if (err instanceof ConflictError) return false;
        throw err;
      }
    }
    ctx.archiveFreezes.set(rec.Id, { users: 1, thawed: false });
    return true;
  });
  try {
    return await fn();
  } finally {
    if (held) await releaseArchiveFreeze(ctx, rec);
  }
}

async function releaseArchiveFreeze(ctx: PauseContext, rec: ContainerRecord): Promise<void> {
  await ctx.table.locked(rec.Id, async () => {
    const f = ctx.archiveFreezes.get(rec.Id);
    if (!f || --f.users > 0) return;
    ctx.archiveFreezes.delete(rec.Id);
    if (f.thawed || rec.State.Paused || !rec.State.Running) return;
    // It exited meanwhile: nothing is left to thaw.
    await runtimeCommandOn(ctx, rec, 'resume').catch((err: unknown) => { if (!(err instanceof ConflictError)) throw err; });
  });
}

/**
 * SIGKILL to a container an archive operation holds frozen: its processes
 * die only once thawed, and a killed process runs nothing more, so it is
 * thawed now rather than at the operation's end.
 */
export async function thawKilled(ctx: PauseContext, rec: ContainerRecord): Promise<void> {
  const f = ctx.archiveFreezes.get(rec.Id);
  if (!f || f.thawed || rec.State.Paused) return;
  f.thawed = true;
  await runtimeCommandOn(ctx, rec, 'resume').catch(() => {});
}
