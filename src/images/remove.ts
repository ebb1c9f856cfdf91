// `docker rmi` with dockerd's semantics (daemon/images/image_delete.go):
// a name untags, and the image goes with its last name; an ID deletes, after
// untagging when all its names are in one repository (or with -f). Conflicts
// are "hard" (a running container, dependent child images: -f does not help)
// or "soft" (a stopped container, other names: -f overrides). Untagged parents
// left behind are pruned unless --no-prune.
import { ConflictError, noSuchImage } from '../errors.ts';
import type { ContainerRecord } from '../api/container.ts';
import type { EventBus } from '../events/bus.ts';
import { type Reference, familiarString, parseNormalizedNamed, referenceString, withDefaultTag } from '../api/reference.ts';
import type { ImageStore } from './store.ts';

export type DeleteItem = { Untagged: string } | { Deleted: string };

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

class DeleteConflict extends ConflictError {
  /** The image is in use by a container (not merely named or a parent). */
  readonly used: boolean;
  constructor(id: string, hard: boolean, reason: string, used: boolean) {
    super(`conflict: unable to delete ${short(id)} (${hard ? 'cannot' : 'must'} be forced) - ${reason}`);
    this.used = used;
  }
}

function isIdPrefix(id: string, ref: string): boolean {
  return /^(sha256:)?[a-f0-9]+$/.test(ref) && (id.startsWith(ref) || id.slice(7).startsWith(ref));
}

/** At most one tagged repository and one digested repository, the same: dockerd's isSingleReference. */
export function isSingleReference(refs: Reference[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  const tagged = new Set(refs.filter((r) => !r.digest).map((r) => r.name));
  const digested = new Set(refs.filter((r) => r.digest).map((r) => r.name));
  return tagged.size <= 1 && digested.size <= 1;
}

export class ImageRemover {
  private readonly store: ImageStore;
  private readonly events: EventBus;
  private readonly containers: Map<string, ContainerRecord[]>;
  private readonly items: DeleteItem[] = [];

  constructor(store: ImageStore, events: EventBus, containers: Map<string, ContainerRecord[]>) {
    this.store = store;
    this.events = events;
    this.containers = containers;
  }

  async remove(ref: string, force: boolean, prune: boolean): Promise<DeleteItem[]> {
    const img = this.store.resolve(ref);
    if (!img) throw noSuchImage(ref);
    const id = img.record.id;
    let quiet = false;
    if (!isIdPrefix(id, ref)) {
      // A name was given: untag it first.
      const users = this.containers.get(id) ?? [];
      if (this.store.references(id).length === 1 && !force && users.length > 0) {
        throw new ConflictError(`conflict: unable to remove repository reference "${ref}" (must force) - container ${short(users[0].Id)} is using its referenced image ${short(id)}`);
      }
      const named = parseNormalizedNamed(ref);
      const target = named.digest ? named : withDefaultTag(named);
      await this.untag(id, target);
      let rest = this.store.references(id);
      // With the last tag of a repository go its digest references.
      if (!target.digest && !rest.some((r) => !r.digest && r.name === target.name)) {
        for (const r of rest.filter((x) => x.digest && x.name === target.name)) await this.untag(id, r);
        rest = this.store.references(id);
      }
      if (rest.length > 0) return this.items;
      quiet = true;
    } else if (isSingleReference(this.store.references(id))) {
      this.check(id, { soft: !force, activeReference: false });
      for (const r of this.store.references(id)) await this.untag(id, r);
    }
    await this.deleteImage(id, force, prune, quiet);
    return this.items;
  }

  private async untag(id: string, ref: Reference): Promise<void> {
    if (ref.digest) await this.store.removeRepoDigest(id, `${ref.name}@${ref.digest}`);
    else await this.store.untag(referenceString(ref));
    const name = familiarString(ref);
    this.items.push({ Untagged: name });
    this.events.publish('image', 'untag', id, { name });
  }

  /** Throws the first conflict that applies; soft ones only when `soft`. */
  private check(id: string, o: { soft: boolean; activeReference: boolean }): void {
    if (this.store.children(id).length > 0) throw new DeleteConflict(id, true, 'image has dependent child images', false);
    const users = this.containers.get(id) ?? [];
    const running = users.find((c) => c.State.Running || c.State.Paused || c.State.Restarting);
    if (running) throw new DeleteConflict(id, true, `image is being used by running container ${short(running.Id)}`, true);
    if (!o.soft) return;
    if (o.activeReference && this.store.references(id).length > 0) throw new DeleteConflict(id, false, 'image is referenced in multiple repositories', false);
    if (users.length > 0) throw new DeleteConflict(id, false, `image is being used by stopped container ${short(users[0].Id)}`, true);
  }

  private async deleteImage(id: string, force: boolean, prune: boolean, quiet: boolean): Promise<void> {
    try {
      this.check(id, { soft: !force, activeReference: true });
    } catch (err) {
      // After an untag (or while pruning parents) a conflict just ends the removal.
      if (quiet && err instanceof DeleteConflict) return;
      throw err;
    }
    const parent = this.store.byId(id)?.record.parent;
    for (const r of this.store.references(id)) await this.untag(id, r);
    // Layers under a container's snapshot stay: the snapshotter refuses to remove them.
    const removedLayers = await this.store.delete(id, new Set());
    this.items.push({ Deleted: id });
    for (const l of removedLayers) this.items.push({ Deleted: l });
    this.events.publish('image', 'delete', id, {});
    if (prune && parent && this.store.byId(parent)) await this.deleteImage(parent, false, true, true);
  }
}
