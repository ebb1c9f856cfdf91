// The daemon's start: every container loaded from disk, what a crash left
// half-done collected (records without metadata, orphan snapshots, --rm
// containers that stopped, shims of starts that never returned), and running
// containers reconnected to their shims — or marked exited when theirs is gone.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type ContainerRecord, nowNano } from '../api/container.ts';
import { removeTempFiles } from '../files/atomic.ts';
import type { NetworkService } from '../network/service.ts';
import type { ExitStatus, ShimConnection } from '../runtime/shim.ts';
import type { Snapshotter } from '../storage/snapshotter.ts';
import { reconcilePause } from './pause-state.ts';
import { connectToShim, killOrphanShim, readExitFile } from './shim-state.ts';
import type { ContainerTable } from './table.ts';

/** What restoring needs of the container service. */
export interface RestoreTarget {
  table: ContainerTable;
  snapshots: Snapshotter;
  network: NetworkService;
  execRoot: string;
  stateDir(id: string): string;
  /** Force-removes a container. */
  remove(id: string): Promise<void>;
  /** Wires a live shim's connection to the container again. */
  reattach(rec: ContainerRecord, conn: ShimConnection): void;
  runtimeFor(rec: ContainerRecord): { path: string; args: string[]; root: string };
  /** Takes again the volume references the container's record holds. */
  restoreMounts(rec: ContainerRecord): Promise<void>;
  /** Records an exit that happened while the daemon was away. */
  exited(id: string, st: ExitStatus, error?: string): Promise<void>;
}

export async function restoreContainers(t: RestoreTarget): Promise<void> {
  await mkdir(t.table.containersDir, { recursive: true });
  await mkdir(t.execRoot, { recursive: true });
  for (const id of await readdir(t.table.containersDir)) {
    let rec: ContainerRecord;
    try {
      rec = JSON.parse(await readFile(join(t.table.dir(id), 'config.v2.json'), 'utf8')) as ContainerRecord;
    } catch {
      // No metadata: a create or remove that crashed half-way.
      await t.snapshots.remove(id).catch(() => {});
      await rm(t.table.dir(id), { recursive: true, force: true });
      continue;
    }
    await removeTempFiles(t.table.dir(id));
    t.table.records.set(rec.Id, rec);
    t.table.names.set(rec.Name.slice(1), rec.Id);
    await t.restoreMounts(rec);
  }
  // Nothing but containers owns an active snapshot between runs: one without
  // a container is a half-created container, or the `extract-*` snapshot of
  // a layer unpack (import, load, pull) the crash cut short.
  await t.snapshots.walk(async (s) => {
    if (s.kind !== 'committed' && !t.table.records.has(s.key)) await t.snapshots.remove(s.key).catch(() => {});
  });
  for (const rec of t.table.records.values()) {
    if (rec.State.Status === 'removing') {
      await t.remove(rec.Id).catch(() => {});
      continue;
    }
    if (!rec.State.Running) {
      await killOrphanShim(t.stateDir(rec.Id));
      await t.network.cleanupStopped(rec);
      // As dockerd: a --rm container that is not running is removed. A crash
      // between its exit (or a failed start) and its removal, or before its
      // start, would otherwise leave it behind with nothing to remove it.
      if (rec.HostConfig.AutoRemove) await t.remove(rec.Id).catch(() => {});
      else if (rec.State.Restarting) rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
      continue;
    }
    const conn = await connectToShim(t.stateDir(rec.Id));
    if (conn) {
      await t.network.restoreRunning(rec);
      t.reattach(rec, conn);
      if (await reconcilePause(rec, t.runtimeFor(rec))) await t.table.save(rec);
      continue;
    }
    const exit = readExitFile(t.stateDir(rec.Id));
    await t.exited(rec.Id, exit ?? { exitCode: 255, finishedAt: nowNano() }, exit ? '' : 'container monitor exited unexpectedly');
  }
}
