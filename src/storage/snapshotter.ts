// The whole storage contract, after containerd's snapshotter: a snapshot is a
// filesystem tree identified by a key. Committed snapshots are immutable image
// layers; active ones are writable (a container's upper dir, or a layer being
// unpacked); views are read-only looks at a committed chain.

export type SnapshotKind = 'committed' | 'active' | 'view';

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  created: string;
}

/** A mount the caller (the shim, or `mount`) performs to see the snapshot. */
export interface Mount {
  type: 'overlay' | 'bind';
  source: string;
  options: string[];
}

export interface Usage {
  size: number;
  inodes: number;
}

export interface Snapshotter {
  /** A writable snapshot on top of `parent` (or empty). */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** A read-only snapshot of `parent`. */
  view(key: string, parent?: string): Promise<Mount[]>;
  /** Turns active `key` into committed `name` (with `labels` added, in the same write); the active key is gone. */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  remove(key: string): Promise<void>;
  mounts(key: string): Promise<Mount[]>;
  stat(key: string): Promise<SnapshotInfo>;
  update(info: Pick<SnapshotInfo, 'key' | 'labels'>): Promise<SnapshotInfo>;
  usage(key: string): Promise<Usage>;
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;
  /** The directory holding the snapshot's own files (an active snapshot's upper dir). */
  dir(key: string): Promise<string>;
  close(): Promise<void>;
}

export class SnapshotNotFoundError extends Error {
  constructor(key: string) {
    super(`snapshot ${key} does not exist`);
    this.name = 'SnapshotNotFoundError';
  }
}

export class SnapshotExistsError extends Error {
  constructor(key: string) {
    super(`snapshot ${key} already exists`);
    this.name = 'SnapshotExistsError';
  }
}

/** `mount -o` option string of an overlay Mount. */
export function overlayOptions(m: Mount): string {
  return m.options.join(',');
}
