// The files a swarm task's container gets from its secrets and configs, kept
// per task under <data-root>/swarm-files/<task ID>: secrets on a tmpfs of
// their own (never on disk), configs as plain files; each bind-mounted
// read-only at its target, as dockerd's executor mounts them. Paths on the
// host are made from indexes, never from names that came from a client.
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runHostCommand } from '../runtime/host-command.ts';
import { isMountPoint } from '../runtime/mountinfo.ts';
import type { TaskFile } from '../cluster/local-engine.ts';

const TASK_ID = /^[a-z0-9]{25}$/;

export class TaskFiles {
  private readonly root: string;

  constructor(dataRoot: string) {
    this.root = join(dataRoot, 'swarm-files');
  }

  private dir(taskId: string): string {
    if (!TASK_ID.test(taskId)) throw new Error(`invalid task ID ${JSON.stringify(taskId)}`);
    return join(this.root, taskId);
  }

  /** Writes the task's files; returns the HostConfig.Mounts that put them in place. */
  async prepare(taskId: string, files: TaskFile[]): Promise<Record<string, unknown>[]> {
    if (!files.length) return [];
    const dir = this.dir(taskId);
    const secrets = join(dir, 'secrets');
    const configs = join(dir, 'configs');
    await mkdir(secrets, { recursive: true, mode: 0o700 });
    await mkdir(configs, { recursive: true, mode: 0o700 });
    if (files.some((f) => f.kind === 'secret') && !isMountPoint(secrets)) {
      await runHostCommand('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=16m,nosuid,nodev,noexec', 'tmpfs', secrets]);
    }
    const mounts: Record<string, unknown>[] = [];
    for (const [i, f] of files.entries()) {
      const path = join(f.kind === 'secret' ? secrets : configs, String(i));
      await writeFile(path, f.data, { mode: f.mode });
      await chown(path, f.uid, f.gid);
      mounts.push({ Type: 'bind', Source: path, Target: f.target, ReadOnly: true });
    }
    return mounts;
  }

  /** With the task's container gone: the tmpfs unmounted, the directory removed. */
  async release(taskId: string): Promise<void> {
    let dir: string;
    try {
      dir = this.dir(taskId);
    } catch {
      return;
    }
    const secrets = join(dir, 'secrets');
    if (isMountPoint(secrets)) await runHostCommand('umount', [secrets]).catch(() => runHostCommand('umount', ['-l', secrets]));
    await rm(dir, { recursive: true, force: true });
  }
}
