// --cache-from as Docker's legacy builder does it: an image named there is a
// cache source even without local parent links (it was pulled, say). A step
// matches when the source's history and diff IDs continue the current parent's
// and its next history entry was made by the same command. Intermediate steps
// get images restored from the source's history (same entries, same layers),
// so the last step lands exactly on the source image. As Docker's, only the
// command is compared (container_config names intermediate IDs of the daemon
// that built the source, which differ here).
import { isDeepStrictEqual } from 'node:util';
import { chainIds } from '../images/layers.ts';
import type { Image, ImageStore } from '../images/store.ts';
import type { ContainerConfig } from '../api/container.ts';
import type { ImageConfigFile } from '../images/types.ts';

/** Whether `source` is `parent` plus more steps: parent's history and diff IDs are a prefix of the source's. */
export function continuesParent(source: Image, parent: Image | undefined): boolean {
  const history = source.config.history ?? [];
  if (!history.length) return false;
  if (!parent) return true;
  const ph = parent.config.history ?? [];
  const pd = parent.config.rootfs.diff_ids;
  if (!ph.length && !pd.length) return true;
  if (ph.length >= history.length || pd.length > source.config.rootfs.diff_ids.length) return false;
  return ph.every((h, i) => isDeepStrictEqual(h, history[i])) && pd.every((d, i) => d === source.config.rootfs.diff_ids[i]);
}

/** The diff ID the history entry at `index` added, or undefined for an empty-layer entry. */
function layerOfHistory(source: Image, index: number): string | undefined {
  const history = source.config.history ?? [];
  if (history[index]?.empty_layer) return undefined;
  const before = history.slice(0, index).filter((h) => !h.empty_layer).length;
  return source.config.rootfs.diff_ids[before];
}

/**
 * The image for this step from a cache source, or undefined. `cc` is the step's
 * container config (its Cmd is what history's created_by records); `config` the
 * stage's config after the step, which a restored intermediate image carries.
 */
export async function cacheFromSource(
  store: ImageStore, source: Image, parent: Image | undefined, cc: ContainerConfig, config: ContainerConfig,
): Promise<Image | undefined> {
  if (!continuesParent(source, parent)) return undefined;
  const index = parent?.config.history?.length ?? 0;
  const entry = (source.config.history ?? [])[index];
  if (!entry || (cc.Cmd ?? []).join(' ') !== entry.created_by) return undefined;
  const last = index === (source.config.history ?? []).length - 1;
  if (last) {
    if (parent && source.record.parent !== parent.record.id) await store.setParent(source.record.id, parent.record.id);
    return store.byId(source.record.id);
  }
  const diffIds = [...(parent?.config.rootfs.diff_ids ?? [])];
  const layer = layerOfHistory(source, index);
  if (layer) diffIds.push(layer);
  // The source's layers as this prefix stacks them must be on disk (a pulled image registers every prefix).
  const top = chainIds(diffIds).at(-1);
  if (top && !(await store.layers.has(top))) return undefined;
  const file: ImageConfigFile = {
    architecture: source.config.architecture,
    os: source.config.os,
    created: entry.created,
    config: config,
    container_config: cc,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [...(parent?.config.history ?? []), entry],
  };
  if (source.config.variant) file.variant = source.config.variant;
  if (source.config.author) file.author = source.config.author;
  return store.create(file, parent?.record.id);
}
