// `docker save`: images to one tar that both `docker load` generations read.
// The layout is Docker 25+'s: an OCI image layout (oci-layout, index.json,
// blobs/sha256/*) whose blobs are also named by the legacy manifest.json and
// repositories files, so older loaders find the same config and layer tars.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { SystemError, noSuchImage } from '../../errors.ts';
import { decompress } from '../../files/compression.ts';
import { chainIds } from '../layers.ts';
import {
  type Reference, familiarName, familiarString, looksLikeImageId, parseNormalizedNamed, referenceString,
} from '../../api/reference.ts';
import type { Image, ImageStore } from '../store.ts';
import { OCI_INDEX, OCI_MANIFEST, type Descriptor } from '../../api/oci.ts';

export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

/** One image to save and the tags (full references) it is saved under. */
interface SaveItem {
  image: Image;
  refs: Reference[];
}

/** A file of the archive: its bytes in memory, or a file on disk of known size. */
type Source = { data: Buffer } | { path: string; size: number };

const hex = (digest: string) => digest.slice('sha256:'.length);

/**
 * Resolves the names as dockerd does: a repository without tag means all its
 * tags, `name:tag` that tag, an ID or digest reference the image untagged.
 */
export function resolveSaveNames(store: ImageStore, names: string[]): SaveItem[] {
  const items = new Map<string, SaveItem>();
  const add = (image: Image, ref?: Reference) => {
    const item = items.get(image.record.id) ?? { image, refs: [] };
    if (ref && !item.refs.some((r) => referenceString(r) === referenceString(ref))) item.refs.push(ref);
    items.set(image.record.id, item);
  };
  for (const name of names) {
    let ref: Reference | undefined;
    try {
      // `sha256:<hex>` would parse as repository "sha256" with a tag; it is an ID.
      if (!/^sha256:[a-f0-9]+$/.test(name)) ref = parseNormalizedNamed(name);
    } catch (err) {
      if (!looksLikeImageId(name)) throw err;
    }
    if (ref && !ref.tag && !ref.digest) {
      const tagged = store.tagsOfRepository(ref.name);
      if (tagged.length > 0) {
        for (const t of tagged) add(store.get(t.id), t.ref);
        continue;
      }
    }
    const image = store.resolve(name);
    if (!image) throw noSuchImage(ref && !ref.tag && !ref.digest && !looksLikeImageId(name) ? `${name}:latest` : name);
    const byTag = ref?.tag !== undefined && !ref.digest && store.tagged(name) === image.record.id;
    add(image, byTag ? ref : undefined);
  }
  return [...items.values()];
}

/**
 * The uncompressed tar of a layer, whose sha256 is its diff ID: the stored
 * blob itself when it is a plain tar, else the blob decompressed to a scratch
 * file (verified against the diff ID).
 */
async function layerSource(store: ImageStore, chainId: string, diffId: string, scratch: string[], signal?: AbortSignal): Promise<Source> {
  const info = await store.layers.info(chainId);
  if (!info.blob || !(await store.content.has(info.blob))) throw new SystemError(`layer ${diffId} has no stored content to save`);
  if (info.blob === diffId) return { path: store.content.path(info.blob), size: await store.content.size(info.blob) };
  const tmp = store.content.tempPath();
  scratch.push(tmp);
  const dec = await decompress(store.content.openBlob(info.blob));
  const hash = createHash('sha256');
  let size = 0;
  dec.stream.on('data', (c: Buffer) => {
    hash.update(c);
    size += c.length;
  });
  try {
    await pipeline(dec.stream, createWriteStream(tmp), { signal });
    await dec.finished();
  } catch (err) {
    // Also stops the decompressor's process and the blob's read (a client gone, or a failure).
    dec.abort(err as Error);
    throw err;
  }
  const got = 'sha256:' + hash.digest('hex');
  if (got !== diffId) throw new SystemError(`layer ${diffId} is corrupt in the store (its content is ${got})`);
  return { path: tmp, size };
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/**
 * Prepares everything that can fail (names, layer content) and returns the
 * archive as a stream; scratch files go once the stream is done.
 */
export async function saveImages(store: ImageStore, names: string[], signal?: AbortSignal): Promise<Readable> {
  const items = resolveSaveNames(store, names);
  const files = new Map<string, Source>();
  const scratch: string[] = [];
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const index: Descriptor[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  try {
    for (const { image, refs } of items) {
      const config = await store.content.readBlob(image.record.id);
      files.set(`blobs/sha256/${hex(image.record.id)}`, { data: config });
      const diffIds = image.config.rootfs.diff_ids;
      const chains = chainIds(diffIds);
      const layers: Descriptor[] = [];
      for (let i = 0; i < diffIds.length; i++) {
        const name = `blobs/sha256/${hex(diffIds[i])}`;
        let src = files.get(name);
        if (!src) {
          src = await layerSource(store, chains[i], diffIds[i], scratch, signal);
          files.set(name, src);
        }
        layers.push({ mediaType: OCI_LAYER_TAR, digest: diffIds[i], size: 'data' in src ? src.data.length : src.size });
      }
      const ociManifest = json({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: image.record.id, size: config.length },
        layers,
      });
      const manifestDigest = 'sha256:' + createHash('sha256').update(ociManifest).digest('hex');
      files.set(`blobs/sha256/${hex(manifestDigest)}`, { data: ociManifest });
      const descriptor: Descriptor = { mediaType: OCI_MANIFEST, digest: manifestDigest, size: ociManifest.length };
      if (refs.length === 0) index.push(descriptor);
      for (const ref of refs) {
        index.push({ ...descriptor, annotations: { 'io.containerd.image.name': referenceString(ref), 'org.opencontainers.image.ref.name': ref.tag as string } });
        if (diffIds.length > 0) (repositories[familiarName(ref)] ??= {})[ref.tag as string] = hex(diffIds[diffIds.length - 1]);
      }
      manifest.push({
        Config: `blobs/sha256/${hex(image.record.id)}`,
        RepoTags: refs.length ? refs.map(familiarString) : null,
        Layers: diffIds.map((d) => `blobs/sha256/${hex(d)}`),
      });
    }
  } catch (err) {
    await Promise.all(scratch.map((f) => rm(f, { force: true })));
    throw err;
  }
  files.set('index.json', { data: json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: index }) });
  files.set('manifest.json', { data: json(manifest) });
  files.set('oci-layout', { data: json({ imageLayoutVersion: '1.0.0' }) });
  if (Object.keys(repositories).length) files.set('repositories', { data: json(repositories) });

  const pack = tar.pack();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const write = async () => {
    const mtime = new Date(0);
    for (const dir of ['blobs/', 'blobs/sha256/']) {
      await new Promise<void>((resolve, reject) => pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime }, (err) => (err ? reject(err) : resolve())));
    }
    // Blobs first, then the small index files, as Docker writes them.
    const names = [...files.keys()].sort((a, b) => Number(!a.startsWith('blobs/')) - Number(!b.startsWith('blobs/')) || a.localeCompare(b));
    for (const name of names) {
      const src = files.get(name) as Source;
      if ('data' in src) {
        await new Promise<void>((resolve, reject) => pack.entry({ name, mode: 0o644, mtime }, src.data, (err) => (err ? reject(err) : resolve())));
        continue;
      }
      await pipeline(createReadStream(src.path), pack.entry({ name, size: src.size, mode: 0o644, mtime }));
    }
    pack.finalize();
  };
  const cleanup = () => Promise.all(scratch.map((f) => rm(f, { force: true })));
  write().catch((err: Error) => pack.destroy(err));
  pipeline(pack, out).catch(() => {}).finally(() => void cleanup());
  return out;
}
