// Garbage collection: mark every blob reachable from a manifest revision of
// any repository, sweep the rest. It may run while the server accepts pushes:
//
//  * Blobs used recently (uploaded, mounted, HEAD-checked or referenced; the
//    server touches their mtime) are kept for a grace period, so a blob pushed
//    just before its manifest is never swept in between.
//  * Sweeping is two-phase. Candidates are first moved to trash/. Then the
//    pending-push records and all manifests are read again, and anything now
//    referenced is put back. A manifest push writes its pending record before
//    it checks that its blobs exist, and waits while one of them is in trash,
//    so either GC sees the record (or the finished manifest) and restores
//    the blob, or the push sees the blob missing and is refused cleanly.
//    Nothing that a stored manifest references is ever deleted.
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, type Digest } from './names.ts';
import type { Storage } from './storage.ts';

export interface GcOptions {
  dryRun: boolean;
  /** Blobs modified more recently than this are kept. */
  gracePeriodMs: number;
  print?: (line: string) => void;
}

export interface GcReport {
  repositories: number;
  manifests: number;
  blobsMarked: number;
  blobsDeleted: string[];
  bytesFreed: number;
  /** Candidates skipped because they were used within the grace period. */
  blobsRecent: number;
  /** Candidates put back because a push referenced them during the sweep. */
  blobsRestored: number;
  linksRemoved: number;
}

export const DEFAULT_GRACE_MS = 60 * 60_000;

/** Digests a manifest's bytes reference (config, layers, child manifests). Never throws. */
function references(bytes: Buffer): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const m = doc as { config?: { digest?: unknown }; layers?: unknown; manifests?: unknown };
  const out: string[] = [];
  const add = (v: unknown): void => {
    if (typeof v === 'string' && parseDigest(v)) out.push(v);
  };
  add(m.config?.digest);
  for (const list of [m.layers, m.manifests]) {
    if (Array.isArray(list)) for (const d of list) add((d as { digest?: unknown } | null)?.digest);
  }
  return out;
}

async function mark(storage: Storage): Promise<{ marked: Set<string>; repositories: number; manifests: number }> {
  const marked = new Set<string>();
  const repos = await storage.listRepositories();
  let manifests = 0;
  for (const repo of repos) {
    for (const d of await storage.listRevisions(repo)) {
      manifests++;
      marked.add(d.text);
      // readBlob also looks in trash/: in the second mark a manifest committed
      // after the first mark may have had its own blob trashed, and its
      // references must still be marked.
      const bytes = await storage.readBlob(d).catch(() => undefined);
      if (bytes) for (const r of references(bytes)) marked.add(r);
    }
  }
  return { marked, repositories: repos.length, manifests };
}

/** Only one GC at a time per store; a lock left by a dead process is taken over. */
async function lock(storage: Storage): Promise<() => Promise<void>> {
  const path = join(storage.root, 'gc.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      return () => unlink(path).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      let alive = false;
      try {
        if (pid > 0) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (alive) throw new Error(`another garbage collection is running (pid ${pid})`);
      await unlink(path).catch(() => {});
    }
  }
  throw new Error('could not take the garbage collection lock');
}

export async function garbageCollect(storage: Storage, opts: GcOptions): Promise<GcReport> {
  const print = opts.print ?? (() => {});
  const unlock = opts.dryRun ? async () => {} : await lock(storage);
  try {
    if (!opts.dryRun) await storage.restoreTrash();
    const started = Date.now();
    const first = await mark(storage);
    const report: GcReport = {
      repositories: first.repositories,
      manifests: first.manifests,
      blobsMarked: first.marked.size,
      blobsDeleted: [],
      bytesFreed: 0,
      blobsRecent: 0,
      blobsRestored: 0,
      linksRemoved: 0,
    };
    const candidates: Array<{ digest: Digest; size: number }> = [];
    for (const b of await storage.listBlobs()) {
      if (first.marked.has(b.digest.text)) continue;
      if (b.mtimeMs > started - opts.gracePeriodMs) {
        report.blobsRecent++;
        continue;
      }
      candidates.push({ digest: b.digest, size: b.size });
    }
    if (opts.dryRun) {
      for (const c of candidates) {
        print(`blob eligible for deletion: ${c.digest.text} (${c.size} bytes)`);
        report.blobsDeleted.push(c.digest.text);
        report.bytesFreed += c.size;
      }
      return report;
    }

    // Phase 1: move candidates out of sight, re-checking their age right before.
    const trashed: Array<{ digest: Digest; size: number }> = [];
    for (const c of candidates) {
      const now = await storage.listBlobMtime(c.digest);
      if (now === undefined) continue;
      if (now > started - opts.gracePeriodMs) {
        report.blobsRecent++;
        continue;
      }
      if (await storage.trashBlob(c.digest)) trashed.push(c);
    }
    // Phase 2: pending pushes first, then manifests (see the comment at the top for why this order).
    const pending = await storage.pendingDigests();
    const second = await mark(storage);
    const deleted = new Set<string>();
    for (const t of trashed) {
      if (pending.has(t.digest.text) || second.marked.has(t.digest.text)) {
        await storage.restoreBlob(t.digest);
        report.blobsRestored++;
        continue;
      }
      await storage.purgeTrashed(t.digest);
      deleted.add(t.digest.text);
      report.blobsDeleted.push(t.digest.text);
      report.bytesFreed += t.size;
      print(`deleted blob ${t.digest.text} (${t.size} bytes)`);
    }
    // Repositories' links to deleted blobs go too, so a HEAD answers 404.
    if (deleted.size > 0) {
      for (const repo of await storage.listRepositories()) {
        for (const d of await storage.listLayerLinks(repo)) {
          if (deleted.has(d.text) && (await storage.blobSize(d)) === undefined) {
            if (await storage.unlinkBlob(repo, d)) report.linksRemoved++;
          }
        }
      }
    }
    return report;
  } finally {
    await unlock();
  }
}
