// Images from filesystem changes: the layer diff of an active snapshot (a
// container's overlay upper dir) on top of a base image, with the config and
// history entry that describe it. `docker commit` and every step of a build
// end here.
import { rfc3339Nano } from '../containers/model.ts';
import { createLayerDiff } from '../storage/tar-write.ts';
import type { Snapshotter } from '../storage/snapshotter.ts';
import type { ContainerService } from '../containers/service.ts';
import { BadRequestError, ConflictError } from '../daemon/api/errors.ts';
import { applyChanges } from './changes.ts';
import { familiarString, parseNormalizedNamed, withDefaultTag } from './reference.ts';
import type { Image, ImageStore } from './store.ts';
import type { ContainerConfig, HistoryEntry, ImageConfigFile } from './types.ts';

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

export interface CommitOptions {
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  /** Dockerfile instructions (`-c 'CMD …'`). */
  changes: string[];
  /** The request body's config (API `POST /commit`). */
  config?: ContainerConfig;
  /** Freeze the container while its diff is taken (the default). */
  pause: boolean;
}

/** `docker commit`: an image of the container's filesystem changes; returns the image ID. */
export async function commitContainer(
  containers: ContainerService, store: ImageStore, snapshots: Snapshotter, ref: string, o: CommitOptions,
): Promise<string> {
  const rec = containers.get(ref);
  let target: string | undefined;
  if (o.repo) {
    const named = parseNormalizedNamed(o.tag ? `${o.repo}:${o.tag}` : o.repo);
    if (named.digest) throw new BadRequestError('refusing to create a tag with a digest reference');
    target = familiarString(withDefaultTag(named));
  }
  const base = store.byId(rec.Image);
  const userConf = applyChanges({ ...(o.config ?? {}) }, o.changes);
  const config = mergeCommitConfig(userConf, rec.Config);
  let pause = o.pause && rec.State.Running && !rec.State.Paused;
  if (pause) {
    try {
      await containers.pause(rec.Id);
    } catch (err) {
      // It exited meanwhile: nothing runs that could change the filesystem under us.
      if (!(err instanceof ConflictError)) throw err;
      pause = false;
    }
  }
  let img: Image;
  try {
    img = await createImage(store, snapshots, {
      base,
      config,
      containerConfig: rec.Config,
      container: rec.Id,
      author: o.author,
      comment: o.comment,
      history: { created_by: (rec.Config.Cmd ?? []).join(' '), ...(o.comment ? { comment: o.comment } : {}) },
    }, rec.Id);
  } finally {
    if (pause) await containers.unpause(rec.Id).catch(() => {});
  }
  if (target) await store.tag(img.record.id, target);
  return img.record.id;
}

/** dockerd's merge of a commit's config into the container's: what the new one leaves unset comes from the old. */
export function mergeCommitConfig(userConf: ContainerConfig, containerConf: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...containerConf, ...stripEmpty(userConf) };
  if (userConf.Env?.length) {
    const env = new Map<string, string>();
    for (const e of [...(containerConf.Env ?? []), ...userConf.Env]) env.set(e.split('=')[0], e);
    out.Env = [...env.values()];
  }
  if (userConf.ExposedPorts) out.ExposedPorts = { ...(containerConf.ExposedPorts ?? {}), ...userConf.ExposedPorts };
  if (userConf.Volumes) out.Volumes = { ...(containerConf.Volumes ?? {}), ...userConf.Volumes };
  if (userConf.Labels) out.Labels = { ...(containerConf.Labels ?? {}), ...userConf.Labels };
  // A new entrypoint without a command drops the old command, as dockerd does.
  if (userConf.Entrypoint?.length && !userConf.Cmd?.length) out.Cmd = userConf.Cmd ?? containerConf.Cmd ?? null;
  return out;
}

function stripEmpty(c: ContainerConfig): ContainerConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as ContainerConfig;
}
