// `docker pause` and `unpause`: the container's processes frozen and thawed
// by the runtime (the cgroup freezer), under the container's lock.
import type { ContainerRecord } from '../api/container.ts';
import { ConflictError, SystemError } from '../errors.ts';
import { runtimeCommand } from './shim-state.ts';
import type { ContainerTable } from './table.ts';

export interface PauseContext {
  table: ContainerTable;
  runtimeFor(rec: ContainerRecord): { path: string; args: string[]; root: string };
  publish(rec: ContainerRecord, action: string): void;
}

/** `docker pause`: freezes the container's processes (runc pause, the cgroup freezer). */
export async function pauseContainer(ctx: PauseContext, rec: ContainerRecord, o: { forCommit?: boolean } = {}): Promise<void> {
  await ctx.table.locked(rec.Id, async () => {
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw new ConflictError(`Container ${rec.Id} is already paused`);
    await runtimeCommandOn(ctx, rec, 'pause');
    rec.State = { ...rec.State, Paused: true, Status: 'paused' };
    if (o.forCommit) rec.berthPausedForCommit = true;
    await ctx.table.save(rec);
    ctx.publish(rec, 'pause');
  });
}

export async function unpauseContainer(ctx: PauseContext, rec: ContainerRecord): Promise<void> {
  await ctx.table.locked(rec.Id, async () => {
    if (!rec.State.Paused) throw new ConflictError(`Container ${rec.Id} is not paused`);
    await runtimeCommandOn(ctx, rec, 'resume');
    rec.State = { ...rec.State, Paused: false, Status: rec.State.Running ? 'running' : rec.State.Status };
    delete rec.berthPausedForCommit;
    await ctx.table.save(rec);
    ctx.publish(rec, 'unpause');
  });
}

function runtimeCommandOn(ctx: PauseContext, rec: ContainerRecord, command: 'pause' | 'resume'): Promise<void> {
  return runtimeCommand(ctx.runtimeFor(rec), command, rec.Id).catch((err: Error) => {
    // Exited an instant ago: runc has it stopped or deleted before its exit reached us.
    if (/container does not exist|container not running/.test(err.message)) throw new ConflictError(`Container ${rec.Id} is not running`);
    throw new SystemError(`Cannot ${command === 'pause' ? 'pause' : 'unpause'} container ${rec.Id}: ${err.message}`);
  });
}
