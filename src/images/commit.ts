// Images from filesystem changes: the layer diff of an active snapshot (a
// container's overlay upper dir) on top of a base image, with the config and
// history entry that describe it. `docker commit` and every step of a build
// end here.
import { rfc3339Nano } from '../api/container.ts';
import { createLayerDiff } from '../storage/tar-write.ts';
import type { Snapshotter } from '../storage/snapshotter.ts';
import type { Image, ImageStore } from './store.ts';
import type { ContainerConfig } from '../api/container.ts';
import type { HistoryEntry, ImageConfigFile } from './types.ts';

export interface NewImage {
  /** The image the new one builds on; none for `FROM scratch`. */
  base?: Image;
  config: ContainerConfig;
  /** The history entry of this step (`created` and `empty_layer` are filled in). */
  history: Omit<HistoryEntry, 'created' | 'empty_layer'>;
  /** Docker's `container_config`: what ran; the build cache compares it. */
  containerConfig?: ContainerConfig;
  container?: string;
  author?: string;
  comment?: string;
}

/**
 * Records an image. With `snapshotKey` the snapshot's own changes become a new
 * layer (registered on the base's top layer, so it is shared by every image
 * with the same chain); without it the image adds no layer (`empty_layer`).
 */
export async function createImage(store: ImageStore, snapshots: Snapshotter, n: NewImage, snapshotKey?: string): Promise<Image> {
  const diffIds = [...(n.base?.config.rootfs.diff_ids ?? [])];
  if (snapshotKey !== undefined) {
    const upper = await snapshots.dir(snapshotKey);
    const layer = await store.layers.register(createLayerDiff(upper), n.base?.record.topLayer || undefined);
    diffIds.push(layer.diffId);
  }
  return recordImage(store, n, diffIds, snapshotKey === undefined);
}

/** Records an image whose new layer (if any) is already registered: `diffIds` is the whole stack. */
export async function recordImage(store: ImageStore, n: NewImage, diffIds: string[], emptyLayer: boolean): Promise<Image> {
  const created = rfc3339Nano();
  const entry: HistoryEntry = { created, ...n.history };
  if (n.author) entry.author = n.author;
  if (emptyLayer) entry.empty_layer = true;
  const file: ImageConfigFile = {
    architecture: n.base?.config.architecture ?? 'amd64',
    os: 'linux',
    created,
    config: n.config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [...(n.base?.config.history ?? []), entry],
  };
  if (n.base?.config.variant) file.variant = n.base.config.variant;
  if (n.author) file.author = n.author;
  if (n.comment) file.comment = n.comment;
  if (n.container) file.container = n.container;
  if (n.containerConfig) file.container_config = n.containerConfig;
  return store.create(file, n.base?.record.id);
}
