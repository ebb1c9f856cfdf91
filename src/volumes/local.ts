// The `local` volume driver, in dockerd's layout: `<root>/volumes/<name>/_data`
// holds the data, `volume.json` beside it the options, labels and creation
// time. The metadata file is written (atomically) last on create and deleted
// first on remove, so a directory without it is a create or remove a crash cut
// short, and init collects it.
import { runHostCommand, type HostCommandError } from '../runtime/host-command.ts';
import { chown, mkdir, readdir, readFile, realpath, rm, unlink, open } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError, SystemError } from '../errors.ts';
import { removeTempFiles, writeFileAtomic } from '../files/atomic.ts';
import { isMountPoint } from '../runtime/mountinfo.ts';
import { diskUsage } from '../storage/overlay.ts';
import type { CreateVolumeOptions, DriverVolume, VolumeDriver } from './driver.ts';
import { KeyedLock } from './keyed-lock.ts';
import { maskPassword, needsMount, resolveMount, validateLocalOptions } from './local-options.ts';

const DATA = '_data';
const META = 'volume.json';
const NAME_CHARS = '[a-zA-Z0-9][a-zA-Z0-9_.-]';
const NAME_RE = new RegExp(`^${NAME_CHARS}+$`);

/** dockerd's rule for a local volume's name; it is a directory name, so nothing that leaves the root passes. */
export function validateVolumeName(name: string): void {
  if (name.length === 1) throw new InvalidArgumentError('volume name is too short, names should be at least two alphanumeric characters');
  // A directory name: dockerd's mkdir fails (a 500) past the kernel's limit; it is the caller's mistake.
  if (Buffer.byteLength(name) > 255) throw new InvalidArgumentError('volume name is too long, names should be at most 255 characters');
  if (!NAME_RE.test(name)) {
    throw new InvalidArgumentError(`${JSON.stringify(name)} includes invalid characters for a local volume name, only ${JSON.stringify(NAME_CHARS)} are allowed. If you intended to pass a host directory, use absolute path`);
  }
}

interface Meta {
  Name: string;
  CreatedAt: string;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

interface Entry {
  vol: DriverVolume;
  refs: Set<string>;
  /** Its `_data` has the options' filesystem mounted on it. */
  mounted: boolean;
}

export class LocalDriver implements VolumeDriver {
  readonly name = 'local';
  readonly scope = 'local' as const;
  /** `<data-root>/volumes`. */
  readonly root: string;
  /** `root` with its symlinks resolved (a data root may sit below one), for the remove check. */
  private realRoot = '';
  private readonly volumes = new Map<string, Entry>();
  /** One create/remove/mount/unmount at a time per name. */
  private readonly lock = new KeyedLock();

  /** userns-remap: new volumes' data is owned by the remapped root, as dockerd's local driver does. */
  private readonly owner?: { uid: number; gid: number };

  constructor(root: string, owner?: { uid: number; gid: number }) {
    this.root = root;
    this.owner = owner;
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o701 });
    this.realRoot = await realpath(this.root);
    this.volumes.clear();
    for (const d of await readdir(this.root, { withFileTypes: true })) {
      if (!d.isDirectory() || !NAME_RE.test(d.name) || d.name.length < 2) continue;
      const dir = join(this.root, d.name);
      await removeTempFiles(dir);
      let meta: Meta;
      try {
        meta = JSON.parse(await readFile(join(dir, META), 'utf8')) as Meta;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SystemError(`volume ${d.name}: unreadable metadata: ${(err as Error).message}`);
        // Half created or half removed: never reached the API as a volume (or left it).
        if (!isMountPoint(join(dir, DATA))) await rm(dir, { recursive: true, force: true });
        continue;
      }
      const vol = this.toVolume(d.name, meta);
      // A mount a crash left in place is reused by the next mount, as dockerd's restoreIfMounted.
      this.volumes.set(d.name, { vol, refs: new Set(), mounted: needsMount(vol.options) && isMountPoint(vol.mountpoint) });
    }
  }

  async create(name: string, opts: CreateVolumeOptions = {}): Promise<DriverVolume> {
    validateVolumeName(name);
    const options = { ...(opts.options ?? {}) };
    validateLocalOptions(options);
    return this.locked(name, async () => {
      const have = this.volumes.get(name);
      if (have) return have.vol;
      const dir = join(this.root, name);
      const meta: Meta = { Name: name, CreatedAt: new Date().toISOString(), Options: options, Labels: { ...(opts.labels ?? {}) } };
      try {
        // A leftover of a remove that failed half way: the name is free (no metadata).
        if (isMountPoint(join(dir, DATA))) throw new Error(`${join(dir, DATA)} is still mounted`);
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { mode: 0o701 });
        await mkdir(join(dir, DATA), { mode: 0o755 });
        if (this.owner) await chown(join(dir, DATA), this.owner.uid, this.owner.gid);
        await writeFileAtomic(join(dir, META), JSON.stringify(meta), 0o600);
      } catch (err) {
        await rm(dir, { recursive: true, force: true }).catch(() => {});
        throw new SystemError(`error while creating volume root path '${dir}': ${(err as Error).message}`, { cause: err });
      }
      const vol = this.toVolume(name, meta);
      this.volumes.set(name, { vol, refs: new Set(), mounted: false });
      return vol;
    });
  }

  get(name: string): DriverVolume | undefined {
    return this.volumes.get(name)?.vol;
  }

  list(): DriverVolume[] {
    return [...this.volumes.values()].map((e) => e.vol);
  }

  remove(name: string): Promise<void> {
    return this.locked(name, async () => {
      const e = this.volumes.get(name);
      if (!e) return;
      if (e.refs.size > 0) throw new ConflictError('volume has active mounts');
      if (e.mounted) await this.umount(e);
      const dir = join(this.root, name);
      const real = await realpath(dir).catch(() => join(this.realRoot, name));
      if (real === this.realRoot || !real.startsWith(this.realRoot + '/')) throw new SystemError(`unable to remove a directory outside of the local volume root ${this.root}: ${real}`);
      // Metadata first: from here on a crash leaves a directory init collects.
      await unlink(join(dir, META)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
      await syncDir(dir);
      this.volumes.delete(name);
      try {
        await rm(dir, { recursive: true, force: true });
      } catch (err) {
        throw new SystemError(`error removing volume path '${dir}': ${(err as Error).message}`);
      }
    });
  }

  mount(name: string, ref: string): Promise<string> {
    return this.locked(name, async () => {
      const e = this.entry(name);
      if (needsMount(e.vol.options) && !e.mounted) {
        await this.doMount(e);
        e.mounted = true;
      }
      e.refs.add(ref);
      return e.vol.mountpoint;
    });
  }

  unmount(name: string, ref: string): Promise<void> {
    return this.locked(name, async () => {
      const e = this.volumes.get(name);
      if (!e || !e.refs.delete(ref)) return;
      if (e.refs.size === 0 && e.mounted) await this.umount(e);
    });
  }

  mounts(name: string): string[] {
    return [...(this.volumes.get(name)?.refs ?? [])];
  }

  async usage(name: string): Promise<number> {
    const e = this.volumes.get(name);
    if (!e) return -1;
    try {
      return (await diskUsage(e.vol.mountpoint)).size;
    } catch {
      return -1;
    }
  }

  private entry(name: string): Entry {
    const e = this.volumes.get(name);
    if (!e) throw new SystemError(`volume ${name} not found in driver local`);
    return e;
  }

  private toVolume(name: string, meta: Meta): DriverVolume {
    return {
      name,
      mountpoint: join(this.root, name, DATA),
      // Written by create; a hand-edited file without it still lists (as the epoch), never throws.
      createdAt: Number.isNaN(Date.parse(meta.CreatedAt)) ? new Date(0) : new Date(meta.CreatedAt),
      options: meta.Options ?? {},
      labels: meta.Labels ?? {},
    };
  }

  private async doMount(e: Entry): Promise<void> {
    let call;
    try {
      call = await resolveMount(e.vol.options);
    } catch (err) {
      throw new SystemError((err as Error).message);
    }
    const args = ['-t', call.type || 'none'];
    if (call.options) args.push('-o', call.options);
    args.push(call.device, e.vol.mountpoint);
    try {
      await run('mount', args);
    } catch (err) {
      throw new SystemError(`failed to mount local volume: ${maskPassword((err as Error).message, call.options)}`);
    }
  }

  private async umount(e: Entry): Promise<void> {
    try {
      await run('umount', [e.vol.mountpoint]);
    } catch (err) {
      if (isMountPoint(e.vol.mountpoint)) throw new SystemError((err as Error).message);
    }
    e.mounted = false;
  }

  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(name, fn);
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return runHostCommand(cmd, args).catch((err: HostCommandError) => { throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr}`); });
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}
