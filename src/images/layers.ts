// Image layers on top of the snapshotter: a layer is a committed snapshot
// whose key is its chain ID, so layers shared by images are unpacked once.
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { applyLayer, type ApplyOptions } from '../storage/archive.ts';
import type { Snapshotter } from '../storage/snapshotter.ts';
import type { ContentStore } from './content.ts';

/** Chain IDs of a stack of layers, bottom first, optionally on top of an existing chain. */
export function chainIds(diffIds: string[], parentChain?: string): string[] {
  const out: string[] = [];
  let prev = parentChain;
  for (const d of diffIds) {
    prev = prev === undefined ? d : 'sha256:' + createHash('sha256').update(`${prev} ${d}`).digest('hex');
    out.push(prev);
  }
  return out;
}

export interface LayerInfo {
  chainId: string;
  diffId: string;
  parent?: string;
  /** Bytes of file content in the layer. */
  size: number;
  /** The layer tar as received (possibly compressed), kept for save and push. */
  blob?: string;
}

export class LayerStore {
  private readonly snapshots: Snapshotter;
  private readonly content: ContentStore;

  constructor(snapshots: Snapshotter, content: ContentStore) {
    this.snapshots = snapshots;
    this.content = content;
  }

  async has(chainId: string): Promise<boolean> {
    return this.snapshots.stat(chainId).then(() => true, () => false);
  }

  /** The directory holding the layer's own files (Docker's overlay2 `diff` dir). */
  dir(chainId: string): Promise<string> {
    return this.snapshots.dir(chainId);
  }

  async info(chainId: string): Promise<LayerInfo> {
    const s = await this.snapshots.stat(chainId);
    return {
      chainId,
      diffId: s.labels['berth.diffid'],
      parent: s.parent,
      size: Number(s.labels['berth.size'] ?? 0),
      blob: s.labels['berth.blob'],
    };
  }

  /**
   * Unpacks a layer tar (any compression) on top of `parent`. The bytes are
   * stored as a blob in the same pass. Returns the existing layer if the same
   * chain is already present; on any error nothing is left behind. With
   * `opts.blob` the input is that (already verified) content-store blob and is
   * not stored again. On an error the input is destroyed, or with
   * `opts.drainOnError` (a client's upload) read to its end.
   */
  async register(input: Readable, parent?: string, opts: { blob?: string; linkFrom?: ApplyOptions['linkFrom']; drainOnError?: boolean } = {}): Promise<LayerInfo> {
    const key = `extract-${randomBytes(8).toString('hex')}`;
    await this.snapshots.prepare(key, parent);
    try {
      const dir = await this.snapshots.dir(key);
      let applied: Awaited<ReturnType<typeof applyLayer>>;
      let blob: { digest: string };
      if (opts.blob !== undefined) {
        applied = await applyLayer(dir, input, { linkFrom: opts.linkFrom });
        blob = { digest: opts.blob };
      } else {
        const toLayer = new PassThrough({ highWaterMark: 1 << 20 });
        const toBlob = new PassThrough({ highWaterMark: 1 << 20 });
        // One side failing ends the other (else it would wait for the rest of
        // the tar for ever, its scratch file open), and both have settled,
        // their scratch removed, before register() answers.
        const fail = (err: unknown) => {
          toLayer.destroy(err as Error);
          toBlob.destroy(err as Error);
        };
        input.on('error', fail);
        input.pipe(toLayer);
        input.pipe(toBlob);
        const layer = applyLayer(dir, toLayer, { linkFrom: opts.linkFrom });
        const stored = this.content.ingest(toBlob);
        layer.catch(fail);
        stored.catch(fail);
        const [a, b] = await Promise.allSettled([layer, stored]);
        if (a.status === 'rejected') {
          // The blob side may have finished first: a blob no layer was made of is not kept.
          if (b.status === 'fulfilled' && b.value.created) await this.content.delete(b.value.digest);
          throw a.reason;
        }
        if (b.status === 'rejected') throw b.reason;
        [applied, blob] = [a.value, b.value];
      }
      const chainId = chainIds([applied.diffId], parent)[0];
      if (await this.has(chainId)) {
        await this.snapshots.remove(key);
        return this.info(chainId);
      }
      await this.snapshots.commit(chainId, key, { 'berth.diffid': applied.diffId, 'berth.size': String(applied.size), 'berth.blob': blob.digest });
      return { chainId, diffId: applied.diffId, parent, size: applied.size, blob: blob.digest };
    } catch (err) {
      // A client's upload (drainOnError) is read to its end, so the client
      // gets the answer rather than a reset; any other input is stopped, its
      // files closed: a container's diff or a build's context file held open
      // keeps its space taken after it is removed.
      input.unpipe();
      if (opts.drainOnError) input.resume();
      else input.destroy();
      await this.snapshots.remove(key).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes the layer, then each parent that nothing else (layer or container)
   * uses; returns the chain IDs removed, top first.
   */
  async release(chainId: string, inUse: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    let key: string | undefined = chainId;
    while (key !== undefined && !inUse.has(key)) {
      const info: LayerInfo | undefined = await this.info(key).catch(() => undefined);
      if (!info) break;
      try {
        await this.snapshots.remove(key);
      } catch {
        break; // still has children: another image's layer or a container
      }
      removed.push(key);
      // The same tar may be a layer of another chain (on another parent): its blob stays for that one.
      if (info.blob && !(await this.blobInUse(info.blob))) await this.content.delete(info.blob);
      key = info.parent;
    }
    return removed;
  }

  private async blobInUse(blob: string): Promise<boolean> {
    let used = false;
    await this.snapshots.walk((s) => {
      if (s.labels['berth.blob'] === blob) used = true;
    });
    return used;
  }

  /**
   * Removes committed layers outside `used` that nothing builds on: left by a
   * crash between a layer's commit and its image's record. Leaves go first; a
   * layer with a child (a container, another layer) stays. Their blobs stay
   * too, since another chain may hold the same blob.
   */
  async pruneUnused(used: Set<string>): Promise<number> {
    const candidates: string[] = [];
    await this.snapshots.walk((s) => {
      if (s.kind === 'committed' && !used.has(s.key)) candidates.push(s.key);
    });
    let removed = 0;
    for (let progress = true; progress; ) {
      progress = false;
      for (const key of candidates.splice(0)) {
        try {
          await this.snapshots.remove(key);
          removed++;
          progress = true;
        } catch {
          candidates.push(key); // still has children: try again once they are gone
        }
      }
    }
    return removed;
  }

  /** Sum of the content sizes of a chain, as `docker images` reports an image's size. */
  async chainSize(chainId: string): Promise<number> {
    let total = 0;
    for (let key: string | undefined = chainId; key; ) {
      const info = await this.info(key);
      total += info.size;
      key = info.parent;
    }
    return total;
  }
}
