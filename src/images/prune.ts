// `docker image prune` as dockerd does it (ImagesPrune): dangling images by
// default, every image no container uses with dangling=false (`-a`); each is
// removed with rmi's rules and parent pruning, and the space reclaimed is the
// size of the layers that went.
import { InvalidArgumentError } from '../errors.ts';
import type { ContainerRecord } from '../api/container.ts';
import { labelsMatch, parseUntil } from '../api/filters.ts';
import type { EventBus } from '../events/bus.ts';
import { chainIds } from './layers.ts';
import { referenceString } from '../api/reference.ts';
import { type DeleteItem, ImageRemover } from './remove.ts';
import type { ImageStore } from './store.ts';

export interface PruneReport {
  ImagesDeleted: DeleteItem[] | null;
  SpaceReclaimed: number;
}

export async function pruneImages(store: ImageStore, events: EventBus, filters: Record<string, string[]>, containers: Map<string, ContainerRecord[]>): Promise<PruneReport> {
  for (const key of Object.keys(filters)) {
    if (!['dangling', 'until', 'label', 'label!'].includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
  }
  const dangling = filters.dangling?.[0] ?? 'true';
  if (!['true', 'false', '1', '0'].includes(dangling)) throw new InvalidArgumentError(`invalid filter 'dangling=${dangling}'`);
  const danglingOnly = dangling === 'true' || dangling === '1';
  const until = filters.until?.[0] !== undefined ? parseUntil(filters.until[0]) : undefined;

  // Layer sizes before anything goes: what each deleted chain ID gave back.
  const sizes = new Map<string, number>();
  for (const img of store.list()) {
    for (const c of chainIds(img.config.rootfs.diff_ids)) {
      if (!sizes.has(c)) sizes.set(c, await store.layers.info(c).then((i) => i.size, () => 0));
    }
  }
  const candidates = store.list().filter((img) => {
    // Only the heads: an image that is another's parent goes with its child.
    if (danglingOnly && store.children(img.record.id).length > 0) return false;
    const created = Date.parse(img.config.created ?? '') || 0;
    if (until !== undefined && created >= until) return false;
    const labels = img.config.config?.Labels ?? {};
    return labelsMatch(labels, filters.label ?? [], filters['label!'] ?? []);
  });

  const deleted: DeleteItem[] = [];
  for (const img of candidates) {
    const id = img.record.id;
    if (!store.byId(id) || (containers.get(id)?.length ?? 0) > 0) continue;
    const refs = store.references(id);
    const remover = () => new ImageRemover(store, events, containers);
    try {
      if (refs.length === 0) {
        deleted.push(...(await remover().remove(id.slice(7), false, true)));
      } else if (!danglingOnly || !refs.some((r) => !r.digest)) {
        for (const r of refs) deleted.push(...(await remover().remove(referenceString(r), false, true)));
      }
    } catch {
      // A conflict (a child image, a container that appeared meanwhile) keeps the image, as dockerd does.
    }
  }
  let space = 0;
  for (const d of deleted) if ('Deleted' in d) space += sizes.get(d.Deleted) ?? 0;
  events.publish('image', 'prune', '', { reclaimed: String(space) });
  return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
}
