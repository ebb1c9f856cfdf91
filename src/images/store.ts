// The image store: image records (config blob + top layer) and the tags that
// name them. Tags live in one repositories.json, replaced atomically.
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempFiles, writeJsonAtomic } from '../files/atomic.ts';
import { ConflictError, noSuchImage } from '../errors.ts';
import { ContentStore, sha256 } from './content.ts';
import { LayerStore, chainIds } from './layers.ts';
import {
  type Reference, familiarString, parseNormalizedNamed, referenceString, withDefaultTag,
} from '../api/reference.ts';
import type { ImageConfigFile, ImageRecord } from './types.ts';

interface RepositoriesFile {
  /** Full reference string (`docker.io/library/busybox:latest`) → image ID. */
  refs: Record<string, string>;
}

export interface Image {
  record: ImageRecord;
  config: ImageConfigFile;
}

export class ImageStore {
  private readonly root: string;
  readonly content: ContentStore;
  readonly layers: LayerStore;
  private refs = new Map<string, string>();
  private readonly records = new Map<string, ImageRecord>();
  private readonly configs = new Map<string, ImageConfigFile>();
  private writeChain: Promise<void> = Promise.resolve();

  constructor(root: string, content: ContentStore, layers: LayerStore) {
    this.root = root;
    this.content = content;
    this.layers = layers;
  }

  async init(): Promise<void> {
    await mkdir(join(this.root, 'images'), { recursive: true });
    // Temp files of atomic writes a crash cut short (repositories.json, images/*.json).
    for (const dir of [this.root, join(this.root, 'images')]) await removeTempFiles(dir);
    for (const f of await readdir(join(this.root, 'images'))) {
      if (!/^[a-f0-9]{64}\.json$/.test(f)) continue;
      const rec = JSON.parse(await readFile(join(this.root, 'images', f), 'utf8')) as ImageRecord;
      // An image whose config blob or layers did not survive is not an image.
      const config = await this.content.readBlob(rec.id).then((b) => JSON.parse(b.toString()) as ImageConfigFile, () => undefined);
      if (!config || (rec.topLayer && !(await this.layers.has(rec.topLayer)))) {
        await rm(join(this.root, 'images', f), { force: true });
        continue;
      }
      this.records.set(rec.id, rec);
      this.configs.set(rec.id, config);
    }
    await this.pruneUnusedLayers();
    try {
      const file = JSON.parse(await readFile(join(this.root, 'repositories.json'), 'utf8')) as RepositoriesFile;
      for (const [ref, id] of Object.entries(file.refs)) if (this.records.has(id)) this.refs.set(ref, id);
    } catch {
      // First start: no tags yet.
    }
  }

  /** Serializes metadata writes so concurrent requests cannot interleave them. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(fn);
    this.writeChain = run.then(() => {}, () => {});
    return run;
  }

  private saveRefs(): Promise<void> {
    return writeJsonAtomic(join(this.root, 'repositories.json'), { refs: Object.fromEntries(this.refs) } satisfies RepositoriesFile);
  }

  /**
   * Removes the layers no image uses: what a crash left of an import, load or
   * pull. The daemon's start runs it again once orphan active snapshots are
   * gone (a layer being unpacked on top of another keeps that one until then).
   */
  async pruneUnusedLayers(): Promise<number> {
    // Every layer of every image (its chain, from the config's diff IDs), so the layers of none can go.
    const used = new Set([...this.configs.values()].flatMap((c) => chainIds(c.rootfs.diff_ids)));
    return this.layers.pruneUnused(used);
  }

  /** Stores a config blob whose layers are already registered, and records the image. */
  async create(config: ImageConfigFile, parent?: string): Promise<Image> {
    return this.createFromBlob(Buffer.from(JSON.stringify(config)), config, parent);
  }

  /**
   * Records an image from its config blob exactly as received (a pull), so the
   * image ID is the registry's config digest. `bytes` is verified against
   * `expected` when given.
   */
  async createFromBlob(bytes: Buffer, config: ImageConfigFile, parent?: string, expected?: string): Promise<Image> {
    const id = await this.content.writeBlob(bytes, expected);
    return this.serialize(async () => {
      const existing = this.records.get(id);
      if (existing) return { record: existing, config };
      const chain = chainIds(config.rootfs.diff_ids);
      const record: ImageRecord = { id, topLayer: chain[chain.length - 1] ?? '', parent };
      await writeJsonAtomic(join(this.root, 'images', id.slice(7) + '.json'), record);
      this.records.set(id, record);
      this.configs.set(id, config);
      return { record, config };
    });
  }

  /** Links an image to a parent it was found to continue (a --cache-from hit on a pulled image), so local cache hits follow. */
  async setParent(id: string, parent: string): Promise<void> {
    return this.serialize(async () => {
      const rec = this.records.get(id);
      if (!rec || !this.records.has(parent)) return;
      const next: ImageRecord = { ...rec, parent };
      await writeJsonAtomic(join(this.root, 'images', id.slice(7) + '.json'), next);
      this.records.set(id, next);
    });
  }

  list(): Image[] {
    return [...this.records.values()].map((record) => ({ record, config: this.configs.get(record.id) as ImageConfigFile }));
  }

  byId(id: string): Image | undefined {
    const record = this.records.get(id);
    return record ? { record, config: this.configs.get(id) as ImageConfigFile } : undefined;
  }

  /**
   * Finds an image as dockerd does: a reference (tag or digest), a full ID, or
   * an unambiguous ID prefix.
   */
  resolve(refOrId: string): Image | undefined {
    if (refOrId === '') return undefined;
    const idMatch = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(refOrId);
    let ref: Reference | undefined;
    try {
      ref = withDefaultTag(parseNormalizedNamed(refOrId));
    } catch {
      ref = undefined;
    }
    if (ref) {
      const id = this.refs.get(referenceString(ref));
      if (id) return this.byId(id);
      if (ref.digest) {
        for (const rec of this.records.values()) {
          if (rec.repoDigests?.includes(`${ref.name}@${ref.digest}`)) return this.byId(rec.id);
        }
      }
    }
    if (idMatch) {
      const prefix = 'sha256:' + idMatch[1];
      if (idMatch[1].length === 64) return this.byId(prefix);
      const hits = [...this.records.keys()].filter((id) => id.startsWith(prefix));
      if (hits.length === 1) return this.byId(hits[0]);
    }
    return undefined;
  }

  get(refOrId: string): Image {
    const img = this.resolve(refOrId);
    if (img) return img;
    // dockerd names a missing reference with its implied tag: "No such image: nosuch:latest".
    throw noSuchImage(/^sha256:|@/.test(refOrId) || /:[^/]*$/.test(refOrId) ? refOrId : `${refOrId}:latest`);
  }

  /** `repo:tag` strings naming the image, familiar form, sorted. */
  repoTags(id: string): string[] {
    const out: string[] = [];
    for (const [ref, target] of this.refs) {
      if (target === id && !ref.includes('@')) out.push(familiarString(parseNormalizedNamed(ref)));
    }
    return out.sort();
  }

  /** Every tag of a repository (full name, `docker.io/library/busybox`), sorted. */
  tagsOfRepository(name: string): { ref: Reference; id: string }[] {
    const out: { ref: Reference; id: string }[] = [];
    for (const [key, id] of this.refs) {
      const ref = parseNormalizedNamed(key);
      if (ref.name === name && ref.tag && !ref.digest) out.push({ ref, id });
    }
    return out.sort((a, b) => (a.ref.tag as string).localeCompare(b.ref.tag as string));
  }

  /** Every tag (full reference string) and the image it names. */
  allTags(): [string, string][] {
    return [...this.refs];
  }

  repoDigests(id: string): string[] {
    const rec = this.records.get(id);
    return (rec?.repoDigests ?? []).map((r) => familiarString(parseNormalizedNamed(r)));
  }

  /** Image ID a reference (`repo:tag`) points at now, if any. */
  tagged(refString: string): string | undefined {
    return this.refs.get(referenceString(withDefaultTag(parseNormalizedNamed(refString))));
  }

  /**
   * Records `name@digest` (full name) as a registry digest of the image, as
   * dockerd's digest references: a digest names one image only.
   */
  async addRepoDigest(id: string, canonical: string): Promise<void> {
    await this.serialize(async () => {
      for (const rec of this.records.values()) {
        const before = rec.repoDigests ?? [];
        const has = before.includes(canonical);
        if (rec.id === id ? has : !has) continue;
        rec.repoDigests = rec.id === id ? [...before, canonical] : before.filter((d) => d !== canonical);
        await writeJsonAtomic(join(this.root, 'images', rec.id.slice(7) + '.json'), rec);
      }
    });
  }

  async tag(id: string, refString: string): Promise<void> {
    const ref = withDefaultTag(parseNormalizedNamed(refString));
    if (ref.digest && !ref.tag) throw new ConflictError('refusing to create a tag with a digest reference');
    await this.serialize(async () => {
      if (!this.records.has(id)) throw noSuchImage(refString);
      this.refs.set(referenceString({ ...ref, digest: undefined }), id);
      await this.saveRefs();
      const rec = this.records.get(id) as ImageRecord;
      rec.lastTagTime = new Date().toISOString();
      await writeJsonAtomic(join(this.root, 'images', id.slice(7) + '.json'), rec);
    });
  }

  /** Removes a tag; returns the image ID it pointed at, or undefined. */
  async untag(refString: string): Promise<string | undefined> {
    const ref = withDefaultTag(parseNormalizedNamed(refString));
    const key = referenceString(ref);
    return this.serialize(async () => {
      const id = this.refs.get(key);
      if (id === undefined) return undefined;
      this.refs.delete(key);
      await this.saveRefs();
      return id;
    });
  }

  /** Deletes an image record and releases its layers that nothing else uses; returns the layers removed. */
  async delete(id: string, layersInUse: Set<string>): Promise<string[]> {
    return this.serialize(async () => {
      const rec = this.records.get(id);
      if (!rec) return [];
      for (const [ref, target] of [...this.refs]) if (target === id) this.refs.delete(ref);
      await this.saveRefs();
      await rm(join(this.root, 'images', id.slice(7) + '.json'), { force: true });
      this.records.delete(id);
      this.configs.delete(id);
      const used = new Set(layersInUse);
      for (const other of this.records.values()) {
        for (const c of chainIds(this.configs.get(other.id)?.rootfs.diff_ids ?? [])) used.add(c);
      }
      const removed = rec.topLayer ? await this.layers.release(rec.topLayer, used) : [];
      await this.content.delete(id);
      return removed;
    });
  }

  /** Drops a registry digest (`name@sha256:…`, full name) from the image. */
  async removeRepoDigest(id: string, canonical: string): Promise<boolean> {
    return this.serialize(async () => {
      const rec = this.records.get(id);
      if (!rec?.repoDigests?.includes(canonical)) return false;
      rec.repoDigests = rec.repoDigests.filter((d) => d !== canonical);
      await writeJsonAtomic(join(this.root, 'images', rec.id.slice(7) + '.json'), rec);
      return true;
    });
  }

  /** Every name of the image: its tags and its registry digests, as references. */
  references(id: string): Reference[] {
    const out: Reference[] = [];
    for (const [ref, target] of this.refs) if (target === id) out.push(parseNormalizedNamed(ref));
    for (const d of this.records.get(id)?.repoDigests ?? []) out.push(parseNormalizedNamed(d));
    return out;
  }

  /** Image IDs whose config names `id` as parent (for the "has dependent child images" conflict). */
  children(id: string): string[] {
    return [...this.records.values()].filter((r) => r.parent === id).map((r) => r.id);
  }
}

export function configDigest(config: ImageConfigFile): string {
  return sha256(JSON.stringify(config));
}
