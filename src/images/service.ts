// Image operations behind the API: import, list, inspect, tag, remove.
import type { Readable } from 'node:stream';
import { BadRequestError, ConflictError, noSuchImage } from '../daemon/api/errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { ContainerRecord } from '../containers/model.ts';
import { labelsMatch, parseUntil } from '../containers/service.ts';
import { rfc3339Nano } from '../containers/model.ts';
import { applyChanges } from './changes.ts';
import { chainIds } from './layers.ts';
import type { Image, ImageStore } from './store.ts';
import { familiarString, parseNormalizedNamed, withDefaultTag } from './reference.ts';
import type { ContainerConfig, ImageConfigFile } from './types.ts';
import { type PullOptions, type PullResult, preparePull } from './distribution/pull.ts';
import type { Emit } from './distribution/progress.ts';

export interface ImportOptions {
  repo?: string;
  tag?: string;
  changes: string[];
  message?: string;
  platform?: string;
  source: string;
}

const SHORT = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

export class ImageService {
  readonly store: ImageStore;
  private readonly events: EventBus;

  constructor(store: ImageStore, events: EventBus) {
    this.store = store;
    this.events = events;
  }

  /** `docker import`: one layer from a tar (plain or compressed), config from --change. */
  async import(input: Readable, o: ImportOptions): Promise<string> {
    let target: string | undefined;
    if (o.repo) {
      const ref = withDefaultTag(parseNormalizedNamed(o.tag ? `${o.repo}:${o.tag}` : o.repo));
      target = familiarString(ref);
    }
    if (o.platform && !/^linux(\/amd64)?$/.test(o.platform)) throw new BadRequestError(`unsupported platform: ${o.platform}`);
    const config: ContainerConfig = applyChanges({}, o.changes);
    const layer = await this.store.layers.register(input);
    const created = rfc3339Nano();
    const file: ImageConfigFile = {
      architecture: 'amd64',
      os: 'linux',
      created,
      comment: o.message || `Imported from ${o.source}`,
      config,
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, comment: o.message || `Imported from ${o.source}` }],
    };
    const img = await this.store.create(file);
    this.events.publish('image', 'import', img.record.id, {});
    if (target) await this.tag(img.record.id, target);
    return img.record.id;
  }

  /**
   * `docker pull`: resolves the reference against its registry (errors here
   * come before any output), then returns the download to run with a sink for
   * the progress messages.
   */
  async preparePull(refString: string, o: PullOptions): Promise<(emit: Emit) => Promise<PullResult>> {
    const prepared = await preparePull(this.store, refString, o);
    return async (emit) => {
      const r = await prepared.run(emit);
      this.events.publish('image', 'pull', r.reference, { name: r.reference });
      return r;
    };
  }

  async tag(source: string, target: string): Promise<void> {
    const img = this.store.get(source);
    const ref = parseNormalizedNamed(target);
    if (ref.digest) throw new BadRequestError('refusing to create a tag with a digest reference');
    await this.store.tag(img.record.id, target);
    this.events.publish('image', 'tag', img.record.id, { name: familiarString(withDefaultTag(ref)) });
  }

  async size(img: Image): Promise<number> {
    return img.record.topLayer ? this.store.layers.chainSize(img.record.topLayer) : 0;
  }

  async summary(img: Image, containers: Map<string, ContainerRecord[]>): Promise<Record<string, unknown>> {
    const id = img.record.id;
    const tags = this.store.repoTags(id);
    const digests = this.store.repoDigests(id);
    return {
      Containers: containers.get(id)?.length ?? 0,
      Created: img.config.created ? Math.floor(Date.parse(img.config.created) / 1000) : 0,
      Id: id,
      Labels: img.config.config?.Labels ?? {},
      ParentId: img.record.parent ?? '',
      RepoDigests: digests,
      RepoTags: tags,
      SharedSize: -1,
      Size: await this.size(img),
    };
  }

  async list(filters: Record<string, string[]>, all: boolean, containers: Map<string, ContainerRecord[]>): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    const before = filters.before?.[0] ? this.store.get(filters.before[0]) : undefined;
    const since = filters.since?.[0] ? this.store.get(filters.since[0]) : undefined;
    for (const img of this.store.list()) {
      const tags = this.store.repoTags(img.record.id);
      const dangling = tags.length === 0;
      if (filters.dangling?.[0] !== undefined) {
        if ((filters.dangling[0] === 'true' || filters.dangling[0] === '1') !== dangling) continue;
      } else if (!all && dangling && this.store.children(img.record.id).length > 0) {
        continue; // intermediate image
      }
      if (filters.label && !labelsMatch(img.config.config?.Labels ?? {}, filters.label)) continue;
      const created = Date.parse(img.config.created ?? '') || 0;
      if (before && created >= (Date.parse(before.config.created ?? '') || 0)) continue;
      if (since && created <= (Date.parse(since.config.created ?? '') || 0)) continue;
      if (filters.until?.[0] && created >= parseUntil(filters.until[0])) continue;
      if (filters.reference?.length) {
        const ok = filters.reference.some((pat) => tags.some((t) => refMatches(pat, t)));
        if (!ok) continue;
      }
      out.push(await this.summary(img, containers));
    }
    return out.sort((a, b) => (b.Created as number) - (a.Created as number));
  }

  async inspect(refOrId: string): Promise<Record<string, unknown>> {
    const img = this.store.get(refOrId);
    const c = img.config;
    const layers = chainIds(c.rootfs.diff_ids);
    const dirs: string[] = [];
    for (const l of layers.reverse()) dirs.push(await this.store.layers.info(l).then(() => l, () => l));
    return {
      Id: img.record.id,
      RepoTags: this.store.repoTags(img.record.id),
      RepoDigests: this.store.repoDigests(img.record.id),
      Parent: img.record.parent ?? '',
      Comment: c.comment ?? '',
      Created: c.created ?? '',
      DockerVersion: c.docker_version ?? '',
      Author: c.author ?? '',
      Config: c.config ?? null,
      Architecture: c.architecture,
      Variant: c.variant,
      Os: c.os,
      Size: await this.size(img),
      GraphDriver: { Name: 'overlay2', Data: null },
      RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
      Metadata: { LastTagTime: img.record.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  }

  async history(refOrId: string): Promise<Record<string, unknown>[]> {
    const img = this.store.get(refOrId);
    const hist = img.config.history ?? [];
    // Each entry that is not an empty layer owns the next layer of the stack: its size is that layer's.
    const chain = chainIds(img.config.rootfs.diff_ids);
    let layer = 0;
    const sizes: number[] = [];
    for (const h of hist) {
      const key = h.empty_layer ? undefined : chain[layer++];
      sizes.push(key ? await this.store.layers.info(key).then((l) => l.size, () => 0) : 0);
    }
    const out = hist.map((h, i) => ({
      Id: i === hist.length - 1 ? img.record.id : '<missing>',
      Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      CreatedBy: h.created_by ?? '',
      Tags: i === hist.length - 1 ? this.store.repoTags(img.record.id) : null,
      Size: sizes[i],
      Comment: h.comment ?? '',
    }));
    return out.reverse();
  }

  /** `docker rmi`: untag, then delete when nothing names or uses the image. */
  async remove(ref: string, force: boolean, containers: Map<string, ContainerRecord[]>): Promise<Record<string, string>[]> {
    const img = this.store.resolve(ref);
    if (!img) throw noSuchImage(ref);
    const id = img.record.id;
    const result: Record<string, string>[] = [];
    const users = containers.get(id) ?? [];
    const running = users.find((c) => c.State.Running);
    const byId = /^(sha256:)?[a-f0-9]+$/.test(ref) && id.replace('sha256:', '').startsWith(ref.replace('sha256:', ''));
    const tags = this.store.repoTags(id);

    if (!byId) {
      // Removing by name untags; the image itself goes only with its last name.
      if (tags.length === 1 && users.length > 0 && !force) {
        throw new ConflictError(`conflict: unable to remove repository reference "${ref}" (must force) - container ${SHORT(users[0].Id)} is using its referenced image ${SHORT(id)}`);
      }
      const full = familiarString(withDefaultTag(parseNormalizedNamed(ref)));
      await this.store.untag(ref);
      result.push({ Untagged: full });
      this.events.publish('image', 'untag', id, { name: full });
      if (this.store.repoTags(id).length > 0 || users.length > 0) return result;
    } else {
      if (running) {
        throw new ConflictError(`conflict: unable to delete ${SHORT(id)} (cannot be forced) - image is being used by running container ${SHORT(running.Id)}`);
      }
      if (users.length > 0 && !force) {
        throw new ConflictError(`conflict: unable to delete ${SHORT(id)} (must be forced) - image is being used by stopped container ${SHORT(users[0].Id)}`);
      }
      if (tags.length > 1 && !force) {
        throw new ConflictError(`conflict: unable to delete ${SHORT(id)} (must be forced) - image is referenced in multiple repositories`);
      }
      for (const t of tags) {
        await this.store.untag(t);
        result.push({ Untagged: t });
        this.events.publish('image', 'untag', id, { name: t });
      }
      if (users.length > 0) return result;
    }
    if (this.store.children(id).length > 0) {
      if (byId) throw new ConflictError(`conflict: unable to delete ${SHORT(id)} (cannot be forced) - image has dependent child images`);
      return result;
    }
    const inUse = new Set<string>();
    await this.store.delete(id, inUse);
    result.push({ Deleted: id });
    this.events.publish('image', 'delete', id, {});
    return result;
  }
}

/** `reference=` filter: shell-style match on the familiar name, with or without tag. */
function refMatches(pattern: string, tag: string): boolean {
  const toRe = (p: string) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
  const name = tag.slice(0, tag.lastIndexOf(':'));
  return toRe(pattern).test(tag) || toRe(pattern).test(name);
}
