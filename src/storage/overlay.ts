// overlay2 implementation of the Snapshotter: every snapshot is a numbered
// directory `snapshots/N/{fs,work}`; its metadata is one JSON file written
// atomically *after* the directory exists, so a crash leaves at worst an
// orphan directory that the next start removes.
import { mkdir, readdir, readFile, rm, rename, stat, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeTempFiles, writeJsonAtomic } from '../files/atomic.ts';
import {
  type Mount, type SnapshotInfo, type Snapshotter, type Usage,
  SnapshotExistsError, SnapshotNotFoundError,
} from './snapshotter.ts';

interface Record_ extends SnapshotInfo {
  id: string;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/;

export class OverlaySnapshotter implements Snapshotter {
  private readonly root: string;
  private readonly records = new Map<string, Record_>();
  private loaded = false;

  constructor(root: string) {
    this.root = root;
  }

  private metaPath(key: string): string {
    return join(this.root, 'metadata', key.replace(/:/g, '-') + '.json');
  }

  private snapDir(id: string): string {
    return join(this.root, 'snapshots', id);
  }

  /** Loads metadata and removes directories no metadata points at. */
  async init(): Promise<void> {
    if (this.loaded) return;
    await mkdir(join(this.root, 'metadata'), { recursive: true });
    await mkdir(join(this.root, 'snapshots'), { recursive: true });
    await removeTempFiles(join(this.root, 'metadata'));
    for (const f of await readdir(join(this.root, 'metadata'))) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      try {
        const rec = JSON.parse(await readFile(join(this.root, 'metadata', f), 'utf8')) as Record_;
        this.records.set(rec.key, rec);
      } catch {
        // A torn temp file cannot be here (atomic writes); skip anything unreadable.
      }
    }
    const used = new Set([...this.records.values()].map((r) => r.id));
    for (const d of await readdir(join(this.root, 'snapshots'))) {
      if (!used.has(d)) await rm(this.snapDir(d), { recursive: true, force: true });
    }
    this.loaded = true;
  }

  private get(key: string): Record_ {
    const rec = this.records.get(key);
    if (!rec) throw new SnapshotNotFoundError(key);
    return rec;
  }

  private async create(kind: 'active' | 'view', key: string, parent: string | undefined, labels: Record<string, string>): Promise<Mount[]> {
    if (!KEY_RE.test(key)) throw new Error(`invalid snapshot key ${JSON.stringify(key)}`);
    if (this.records.has(key)) throw new SnapshotExistsError(key);
    if (parent !== undefined) {
      const p = this.get(parent);
      if (p.kind !== 'committed') throw new Error(`parent ${parent} is not committed`);
    }
    const id = randomBytes(8).toString('hex');
    const dir = this.snapDir(id);
    await mkdir(join(dir, 'fs'), { recursive: true, mode: 0o755 });
    if (kind === 'active') await mkdir(join(dir, 'work'), { mode: 0o700 });
    const rec: Record_ = { key, id, kind, parent, labels, created: new Date().toISOString() };
    await writeJsonAtomic(this.metaPath(key), rec);
    this.records.set(key, rec);
    return this.mountsOf(rec);
  }

  prepare(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.create('active', key, parent, labels);
  }

  view(key: string, parent?: string): Promise<Mount[]> {
    return this.create('view', key, parent, {});
  }

  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    if (!KEY_RE.test(name)) throw new Error(`invalid snapshot key ${JSON.stringify(name)}`);
    const rec = this.get(key);
    if (rec.kind !== 'active') throw new Error(`snapshot ${key} is not active`);
    if (this.records.has(name)) throw new SnapshotExistsError(name);
    await rm(join(this.snapDir(rec.id), 'work'), { recursive: true, force: true });
    const committed: Record_ = { ...rec, key: name, kind: 'committed', labels: { ...rec.labels, ...labels } };
    // New record first, then drop the old one: a crash in between leaves two
    // records naming one directory, which remove() of the old key handles.
    await writeJsonAtomic(this.metaPath(name), committed);
    await rm(this.metaPath(key), { force: true });
    this.records.delete(key);
    this.records.set(name, committed);
  }

  async remove(key: string): Promise<void> {
    const rec = this.get(key);
    for (const other of this.records.values()) {
      if (other.parent === key) throw new Error(`cannot remove snapshot ${key}: it has children`);
    }
    await rm(this.metaPath(key), { force: true });
    this.records.delete(key);
    const shared = [...this.records.values()].some((r) => r.id === rec.id);
    if (!shared) {
      // Rename first so a crash never leaves a half-deleted tree under a live id.
      const doomed = join(this.root, 'snapshots', `.rm-${rec.id}`);
      await rename(this.snapDir(rec.id), doomed).catch(() => {});
      await rm(doomed, { recursive: true, force: true });
    }
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.mountsOf(this.get(key));
  }

  private chainDirs(parent: string | undefined): string[] {
    const dirs: string[] = [];
    for (let k = parent; k !== undefined; k = this.get(k).parent) dirs.push(join(this.snapDir(this.get(k).id), 'fs'));
    return dirs;
  }

  private mountsOf(rec: Record_): Mount[] {
    const own = join(this.snapDir(rec.id), 'fs');
    const lowers = this.chainDirs(rec.parent);
    if (rec.kind === 'committed') {
      return [{ type: 'bind', source: own, options: ['ro', 'rbind'] }];
    }
    if (rec.kind === 'view') {
      if (lowers.length === 0) return [{ type: 'bind', source: own, options: ['ro', 'rbind'] }];
      if (lowers.length === 1) return [{ type: 'bind', source: lowers[0], options: ['ro', 'rbind'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: own, options: ['rw', 'rbind'] }];
    return [{
      type: 'overlay',
      source: 'overlay',
      options: [`lowerdir=${lowers.join(':')}`, `upperdir=${own}`, `workdir=${join(this.snapDir(rec.id), 'work')}`],
    }];
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const { id: _id, ...info } = this.get(key);
    return info;
  }

  async update(info: Pick<SnapshotInfo, 'key' | 'labels'>): Promise<SnapshotInfo> {
    const rec = this.get(info.key);
    const next = { ...rec, labels: { ...info.labels } };
    await writeJsonAtomic(this.metaPath(rec.key), next);
    this.records.set(rec.key, next);
    return this.stat(rec.key);
  }

  async usage(key: string): Promise<Usage> {
    return diskUsage(join(this.snapDir(this.get(key).id), 'fs'));
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    for (const key of [...this.records.keys()]) await fn(await this.stat(key));
  }

  async dir(key: string): Promise<string> {
    return join(this.snapDir(this.get(key).id), 'fs');
  }

  async close(): Promise<void> {
    this.records.clear();
    this.loaded = false;
  }
}

/** Bytes and inodes below `dir`, counting hard-linked files once. */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    let entries: string[];
    try { entries = await readdir(d); } catch { return; }
    for (const name of entries) {
      const p = join(d, name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
      inodes++;
      if (st.isDirectory()) await walk(p);
      else size += st.size;
    }
  };
  await stat(dir);
  await walk(dir);
  return { size, inodes };
}
