// rmi and prune over images with parents (what commit and build make), on a
// real image store (content store, overlay2 snapshotter) in a temp directory:
// untagged parents go with their child unless --no-prune, tagged ones stay,
// and a parent with a child cannot be deleted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OverlaySnapshotter } from '../../src/storage/overlay.ts';
import { ContentStore } from '../../src/images/content.ts';
import { LayerStore } from '../../src/images/layers.ts';
import { ImageStore } from '../../src/images/store.ts';
import { ImageRemover } from '../../src/images/remove.ts';
import { pruneImages } from '../../src/images/prune.ts';
import { EventBus } from '../../src/events/bus.ts';
import type { ImageConfigFile } from '../../src/images/types.ts';
import { tar } from '../registry/helpers.ts';

describe('images with parents', () => {
  let dir: string;
  let store: ImageStore;
  const events = new EventBus();
  const noContainers = new Map();

  /** base ← mid ← top, each adding one layer; returns their IDs. */
  async function chain(prefix: string): Promise<string[]> {
    const ids: string[] = [];
    const diffIds: string[] = [];
    let parentLayer: string | undefined;
    for (const [i, name] of ['base', 'mid', 'top'].entries()) {
      const layer = await store.layers.register(Readable.from([tar({ [`${prefix}-${name}.txt`]: name.repeat(100) })]), parentLayer);
      parentLayer = layer.chainId;
      diffIds.push(layer.diffId);
      const config: ImageConfigFile = { architecture: 'amd64', os: 'linux', created: new Date(Date.now() + i).toISOString(), config: { Labels: { step: name } }, rootfs: { type: 'layers', diff_ids: [...diffIds] } };
      ids.push((await store.create(config, ids[ids.length - 1])).record.id);
    }
    return ids;
  }

  before(async () => {
    dir = mkdtempSync('/tmp/berth-parents-');
    const snapshots = new OverlaySnapshotter(join(dir, 'overlay2'));
    await snapshots.init();
    const content = new ContentStore(join(dir, 'image'));
    await content.init();
    store = new ImageStore(join(dir, 'image'), content, new LayerStore(snapshots, content));
    await store.init();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('rmi of the child deletes its untagged parents and their layers; --no-prune keeps them', async () => {
    const [base, mid, top] = await chain('a');
    await store.tag(top, 'app:1');
    await store.tag(base, 'base:1');
    const held = await new ImageRemover(store, events, noContainers).remove(mid.slice(7, 19), false, true).catch((e: Error) => e.message);
    assert.equal(held, `conflict: unable to delete ${mid.slice(7, 19)} (cannot be forced) - image has dependent child images`);
    const layerOf = (id: string) => store.byId(id)!.record.topLayer;
    const [topLayer, midLayer] = [layerOf(top), layerOf(mid)];
    const out = await new ImageRemover(store, events, noContainers).remove('app:1', false, true);
    assert.deepEqual(out, [{ Untagged: 'app:1' }, { Deleted: top }, { Deleted: topLayer }, { Deleted: mid }, { Deleted: midLayer }]);
    assert.equal(store.byId(mid), undefined, 'the untagged parent went');
    assert.ok(store.byId(base), 'the tagged grandparent stays');
    assert.ok(await store.layers.has(store.byId(base)!.record.topLayer), 'with its layer');

    const [, mid2, top2] = await chain('b');
    await store.tag(top2, 'app:2');
    const kept = await new ImageRemover(store, events, noContainers).remove('app:2', false, false);
    assert.equal(kept.filter((o) => 'Deleted' in o && o.Deleted === top2).length, 1);
    assert.ok(store.byId(mid2), '--no-prune keeps the parent');
  });

  test('image prune removes a dangling head, and its parents with it', async () => {
    const [base, mid, top] = await chain('c');
    const report = await pruneImages(store, events, {}, noContainers);
    const deleted = (report.ImagesDeleted ?? []).flatMap((o) => ('Deleted' in o ? [o.Deleted] : []));
    for (const id of [top, mid, base]) assert.ok(deleted.includes(id), id);
    // c's three layers (400 + 300 + 300 bytes), and b's base and mid, dangling since app:2 went.
    assert.equal(report.SpaceReclaimed, 1000 + 700);
  });
});
