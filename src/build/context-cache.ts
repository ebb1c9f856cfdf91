// Unpacked build contexts kept between builds, keyed by the sha256 of the
// context tar. Rebuilding an unchanged context (the common edit-build loop
// of a Dockerfile, or a fully cached build) then costs the upload and one
// hash instead of creating every file again; a changed one links the files
// the last context had unchanged. Only small contexts are kept
// (the daemon holds a tar this size in memory while it hashes it), and a
// context a build may have written to (a RUN --mount=type=bind,rw of it) is
// dropped, never reused.
import { rm } from 'node:fs/promises';

interface Entry {
  dir: string;
  fileDigests?: ReadonlyMap<string, string>;
  memo: Map<string, string>;
  bytes: number;
  users: number;
  lastUsed: number;
  dirty: boolean;
}

export interface CachedContext {
  dir: string;
  /** sha256 of the context's files by host path, from when it was unpacked. */
  fileDigests?: ReadonlyMap<string, string>;
  /** What builds worked out from this (unchanging) context, for the next build of it. */
  memo: Map<string, string>;
  /** The build may have changed the directory: it must not be used again. */
  markDirty(): void;
  release(): Promise<void>;
}

export class ContextCache {
  /** Contexts up to this many bytes of tar are cached (and buffered while hashed). */
  readonly maxContextBytes: number;
  private readonly maxTotalBytes: number;
  private readonly entries = new Map<string, Entry>();

  /** A context sent as changes to another is small as a tar but whole on disk: the count is bounded too. */
  private readonly maxEntries: number;

  constructor(maxContextBytes = 32 << 20, maxTotalBytes = 256 << 20, maxEntries = 16) {
    this.maxContextBytes = maxContextBytes;
    this.maxTotalBytes = maxTotalBytes;
    this.maxEntries = maxEntries;
  }

  /** The unpacked context of a tar with this digest, held until released. */
  acquire(digest: string): CachedContext | undefined {
    const e = this.entries.get(digest);
    if (!e || e.dirty) return undefined;
    return this.hold(digest, e);
  }

  /**
   * The most recently used context, held until released: a new context is
   * unpacked beside it, linking the files it has unchanged (an edit-build
   * loop changes a few files of thousands).
   */
  recent(): CachedContext | undefined {
    let best: [string, Entry] | undefined;
    for (const [digest, e] of this.entries) if (!e.dirty && (!best || e.lastUsed > best[1].lastUsed)) best = [digest, e];
    return best && this.hold(best[0], best[1]);
  }

  /** Keeps a freshly unpacked context for later builds; the caller holds it. */
  adopt(digest: string, dir: string, bytes: number, fileDigests?: ReadonlyMap<string, string>): CachedContext {
    const old = this.entries.get(digest);
    if (old && old.users === 0) {
      this.entries.delete(digest);
      void rm(old.dir, { recursive: true, force: true });
    }
    const e: Entry = { dir, fileDigests, memo: new Map(), bytes, users: 0, lastUsed: Date.now(), dirty: false };
    if (!this.entries.has(digest)) this.entries.set(digest, e);
    else e.dirty = true; // an older copy is in use under this digest: this one goes after the build
    const held = this.hold(digest, e);
    void this.evict();
    return held;
  }

  private hold(digest: string, e: Entry): CachedContext {
    e.users++;
    e.lastUsed = Date.now();
    let released = false;
    return {
      dir: e.dir,
      fileDigests: e.fileDigests,
      memo: e.memo,
      markDirty: () => {
        e.dirty = true;
      },
      release: async () => {
        if (released) return;
        released = true;
        e.users--;
        if (e.dirty && e.users === 0) {
          if (this.entries.get(digest) === e) this.entries.delete(digest);
          await rm(e.dir, { recursive: true, force: true });
        }
      },
    };
  }

  /** The cached contexts, for disk usage. */
  usage(): { id: string; bytes: number; inUse: boolean; lastUsed: number }[] {
    return [...this.entries].map(([digest, e]) => ({ id: digest, bytes: e.bytes, inUse: e.users > 0, lastUsed: e.lastUsed }));
  }

  /** Drops every context no build holds (build cache prune); returns their ids and sizes. */
  async prune(keep: (id: string, lastUsed: number) => boolean = () => false): Promise<{ id: string; bytes: number }[]> {
    const gone: { id: string; bytes: number }[] = [];
    for (const [digest, e] of [...this.entries]) {
      if (e.users > 0 || keep(digest, e.lastUsed)) continue;
      this.entries.delete(digest);
      await rm(e.dir, { recursive: true, force: true });
      gone.push({ id: digest, bytes: e.bytes });
    }
    return gone;
  }

  private async evict(): Promise<void> {
    const total = () => [...this.entries.values()].reduce((n, e) => n + e.bytes, 0);
    const idle = [...this.entries].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    while ((total() > this.maxTotalBytes || this.entries.size > this.maxEntries) && idle.length > 0) {
      const [digest, e] = idle.shift() as [string, Entry];
      this.entries.delete(digest);
      await rm(e.dir, { recursive: true, force: true });
    }
  }
}
