// Image operations behind the API: import, list, inspect, tag, remove.
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ArchiveError, archiveRequestError, InvalidArgumentError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { ContainerRecord } from '../api/container.ts';
import { labelsMatch, parseUntil } from '../api/filters.ts';
import { rfc3339Nano } from '../api/container.ts';
import { applyChanges } from './changes.ts';
import { chainIds } from './layers.ts';
import type { Image, ImageStore } from './store.ts';
import { familiarString, parseNormalizedNamed, withDefaultTag } from '../api/reference.ts';
import type { ContainerConfig } from '../api/container.ts';
import type { ImageConfigFile } from './types.ts';
import { type PullOptions, type PullResult, preparePull } from './distribution/pull.ts';
import type { TrustPolicy } from './distribution/trust-policy.ts';
import { saveImages } from './archive/save.ts';
import { type DeleteItem, ImageRemover } from './remove.ts';
import { type PruneReport, pruneImages } from './prune.ts';
import { type LoadedImage, loadImages } from './archive/load.ts';
import type { Emit } from './distribution/progress.ts';

export interface ImportOptions {
  repo?: string;
  tag?: string;
  changes: string[];
  message?: string;
  platform?: string;
  source: string;
}


export class ImageService {
  readonly store: ImageStore;
  private readonly events: EventBus;

  /** The daemon's trust policy, applied to every pull (the API's, a build's FROM). */
  policy?: TrustPolicy;

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
    if (o.platform && !/^linux(\/amd64)?$/.test(o.platform)) throw new InvalidArgumentError(`unsupported platform: ${o.platform}`);
    const config: ContainerConfig = applyChanges({}, o.changes);
    const layer = await this.store.layers.register(input, undefined, { drainOnError: true }).catch((err: unknown) => {
      // A body that is no layer tar is the client's mistake (400); a disk failing under it is not (archiveRequestError).
      throw err instanceof ArchiveError ? archiveRequestError(err) : err;
    });
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
    const prepared = await preparePull(this.store, refString, { ...o, policy: o.policy ?? this.policy });
    return async (emit) => {
      const r = await prepared.run(emit);
      this.events.publish('image', 'pull', r.reference, { name: r.reference });
      return r;
    };
  }

  /** `docker save`: the archive of the named images (errors come before the stream). */
  async save(names: string[], signal?: AbortSignal): Promise<Readable> {
    const out = await saveImages(this.store, names, signal);
    for (const n of names) this.events.publish('image', 'save', n, { name: n });
    return out;
  }

  /** `docker load`: every image of a docker-archive or OCI layout tar, or none. */
  async load(input: Readable): Promise<LoadedImage[]> {
    const loaded = await loadImages(this.store, input);
    for (const l of loaded) {
      this.events.publish('image', 'load', l.id, {});
      for (const t of l.tags) this.events.publish('image', 'tag', l.id, { name: t });
    }
    return loaded;
  }

  async tag(source: string, target: string): Promise<void> {
    const img = this.store.get(source);
    const ref = parseNormalizedNamed(target);
    if (ref.digest) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
    await this.store.tag(img.record.id, target);
    this.events.publish('image', 'tag', img.record.id, { name: familiarString(withDefaultTag(ref)) });
  }

  async size(img: Image): Promise<number> {
    return img.record.topLayer ? this.store.layers.chainSize(img.record.topLayer) : 0;
  }

  /** Docker's ImageSummary; `names` narrows RepoTags/RepoDigests (the reference filter). */
  async summary(img: Image, containers: Map<string, ContainerRecord[]>, names?: (n: string) => boolean): Promise<Record<string, unknown>> {
    const id = img.record.id;
    const tags = this.store.repoTags(id).filter((t) => !names || names(t));
    const digests = this.store.repoDigests(id).filter((t) => !names || names(t));
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
      const dv = filters.dangling?.[0];
      if (dv !== undefined && !['true', 'false', '1', '0'].includes(dv)) throw new InvalidArgumentError(`invalid filter 'dangling=${dv}'`);
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
      // Only the names that match are shown, and an image with none is left out.
      const patterns = filters.reference;
      const names = patterns?.length ? (n: string) => patterns.some((p) => refMatches(p, n)) : undefined;
      if (names && ![...tags, ...this.store.repoDigests(img.record.id)].some(names)) continue;
      out.push(await this.summary(img, containers, names));
    }
    return out.sort((a, b) => (b.Created as number) - (a.Created as number));
  }

  async inspect(refOrId: string): Promise<Record<string, unknown>> {
    const img = this.store.get(refOrId);
    const c = img.config;
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
      GraphDriver: { Name: 'overlay2', Data: await this.graphDriverData(c.rootfs.diff_ids) },
      RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
      Metadata: { LastTagTime: img.record.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  }

  /** overlay2's paths as dockerd shows them: the top layer's dirs, the others as LowerDir (top first). */
  private async graphDriverData(diffIds: string[]): Promise<Record<string, string> | null> {
    const chain = chainIds(diffIds);
    if (chain.length === 0) return null;
    const dirs = await Promise.all(chain.map((l) => this.store.layers.dir(l).catch(() => '')));
    const top = dirs[dirs.length - 1];
    const data: Record<string, string> = {};
    if (dirs.length > 1) data.LowerDir = dirs.slice(0, -1).reverse().join(':');
    data.MergedDir = join(dirname(top), 'merged');
    data.UpperDir = top;
    data.WorkDir = join(dirname(top), 'work');
    return data;
  }

  /**
   * `GET /images/{name}/history` as dockerd builds it: one entry per history
   * record, newest first, sized by its layer; IDs and tags come from the
   * image and its parent chain, `<missing>` below what is local.
   */
  async history(refOrId: string): Promise<Record<string, unknown>[]> {
    const img = this.store.get(refOrId);
    const chain = chainIds(img.config.rootfs.diff_ids);
    let layer = 0;
    const out: { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }[] = [];
    for (const h of img.config.history ?? []) {
      let size = 0;
      if (!h.empty_layer && layer < chain.length) {
        size = await this.store.layers.info(chain[layer]).then((i) => i.size, () => 0);
        layer++;
      }
      out.unshift({ Id: '<missing>', Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0, CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: h.comment ?? '' });
    }
    let cur: Image | undefined = img;
    for (const entry of out) {
      if (!cur) break;
      entry.Id = cur.record.id;
      const tags = this.store.repoTags(cur.record.id);
      entry.Tags = tags.length ? tags : null;
      cur = cur.record.parent ? this.store.byId(cur.record.parent) : undefined;
    }
    return out;
  }

  /** `docker image prune` (prune.ts). */
  prune(filters: Record<string, string[]>, containers: Map<string, ContainerRecord[]>): Promise<PruneReport> {
    return pruneImages(this.store, this.events, filters, containers);
  }

  /** `docker rmi` with dockerd's untag/delete/conflict rules (remove.ts). */
  async remove(ref: string, force: boolean, containers: Map<string, ContainerRecord[]>, prune = true): Promise<DeleteItem[]> {
    return new ImageRemover(this.store, this.events, containers).remove(ref, force, prune);
  }
}

/** `reference=` filter: shell-style match on the familiar name, with or without tag. */
function refMatches(pattern: string, tag: string): boolean {
  const toRe = (p: string) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
  const name = tag.includes('@') ? tag.slice(0, tag.indexOf('@')) : tag.slice(0, tag.lastIndexOf(':'));
  return toRe(pattern).test(tag) || toRe(pattern).test(name);
}
