// A container's merged filesystem, for the commands that read or write it
// from outside (export, cp): a running container's is mounted by its shim; a
// stopped one's overlay is mounted here for as long as anyone uses it, once
// for all concurrent users (overlayfs refuses a second mount of an upper and
// work dir in use). The mounts live under <exec-root>/exports, where a daemon
// killed meanwhile finds them at its next start.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord } from '../api/container.ts';
import { SystemError } from '../errors.ts';
import { overlayOptions } from '../storage/snapshotter.ts';
import { idShifts, throughView } from '../runtime/userns.ts';
import { remapOf } from './namespaces.ts';
import type { ContainerServiceOptions } from './options.ts';
import type { ContainerService } from './service.ts';

interface SharedMount {
  dir: Promise<string>;
  users: number;
  /** Set once the last user left: the unmount in progress. */
  gone?: Promise<void>;
}

export class RootfsAccess {
  private readonly containers: ContainerService;
  private readonly dir: string;
  private readonly shared = new Map<string, SharedMount>();

  private readonly remap: Pick<ContainerServiceOptions, 'usernsRemap' | 'layerView'>;

  /** `remap`: userns-remap's maps and the layers' idmapped view, when the daemon remaps. */
  constructor(containers: ContainerService, execRoot: string, remap: Pick<ContainerServiceOptions, 'usernsRemap' | 'layerView'> = {}) {
    this.containers = containers;
    this.dir = join(execRoot, 'exports');
    this.remap = remap;
  }

  /** Unmounts what a killed daemon left. Only empty dirs are removed: never a tree through a mount. */
  sweep(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir)) {
      const dir = join(this.dir, name);
      spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
      try {
        rmdirSync(dir);
      } catch {
        // still mounted or not empty: left for a look, never deleted through
      }
    }
  }

  /**
   * Runs `fn` with the container's merged filesystem visible at the directory
   * it is given. A remapped container's is seen as its user namespace makes
   * it (owners in the host range, its volumes too), running or not; `ids`
   * then shifts owners between that and what the container sees.
   */
  async with<T>(c: ContainerRecord, fn: (dir: string, ids?: ReturnType<typeof idShifts>) => Promise<T>): Promise<T> {
    const remap = remapOf(c.HostConfig, this.remap.usernsRemap);
    const ids = remap ? idShifts(remap) : undefined;
    if (c.State.Running) return fn(join(this.containers.stateDir(c.Id), 'rootfs'), ids);
    // As the shim mounts it: a remapped container's overlay reads the layers through their idmapped view.
    const raw = (await this.containers.mountsOf(c.Id))[0];
    const view = this.remap.layerView;
    const mount = raw.type === 'overlay' && remap && view ? { ...raw, options: throughView(raw.options, view.from, view.to) } : raw;
    if (mount.type !== 'overlay') return fn(mount.source, ids);
    let m = this.shared.get(c.Id);
    while (m?.gone) {
      await m.gone;
      m = this.shared.get(c.Id);
    }
    if (!m) {
      const dir = mkdtemp(join(this.dir, 'export-')).then(async (d) => {
        try {
          await run('mount', ['-t', 'overlay', 'overlay', '-o', overlayOptions(mount), d]);
        } catch (err) {
          await rmdir(d).catch(() => {});
          throw err;
        }
        return d;
      });
      dir.catch(() => {});
      m = { dir, users: 0 };
      this.shared.set(c.Id, m);
    }
    const shared = m;
    shared.users++;
    try {
      return await fn(await shared.dir, ids);
    } finally {
      if (--shared.users === 0) {
        shared.gone = (async () => {
          const dir = await shared.dir.catch(() => undefined);
          if (dir) {
            await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
            await rmdir(dir).catch(() => {});
          }
          this.shared.delete(c.Id);
        })();
        await shared.gone;
      }
    }
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new SystemError(`${cmd} failed: ${err.trim()}`))));
  });
}
