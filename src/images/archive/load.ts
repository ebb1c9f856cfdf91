// `docker load`: a docker-archive (manifest.json) or OCI layout (index.json)
// tar, plain or gzip/zstd/bzip2/xz-compressed. The archive is hostile: its
// entries are staged under numbered scratch files (no archive name ever
// becomes a host path), names, symlinks and hard links are resolved inside the
// archive's own namespace, every digest is checked, and nothing is recorded
// until every layer of every image is in; a failure removes the layers this
// load added.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InvalidArgumentError } from '../../errors.ts';
import { decompress } from '../../files/compression.ts';
import { chainIds } from '../layers.ts';
import { type Reference, familiarString, parseNormalizedNamed, withDefaultTag } from '../../api/reference.ts';
import type { ImageStore } from '../store.ts';
import type { ImageConfigFile } from '../types.ts';
import { DOCKER_LIST as DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../api/oci.ts';

const MAX_JSON = 64 << 20;
const MAX_LINK_HOPS = 32;

export class InvalidArchiveError extends InvalidArgumentError {
  constructor(message: string) {
    super(`invalid archive: ${message}`);
  }
}

/** `./a//b/` → `a/b`; anything absolute or climbing out of the archive is refused. */
export function cleanArchiveName(name: string, what: string): string {
  if (name.startsWith('/')) throw new InvalidArchiveError(`${what} "${name}" is an absolute path`);
  const n = posix.normalize(name).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) throw new InvalidArchiveError(`${what} "${name}" points outside the archive`);
  return n === '' ? '.' : n;
}

/** A staged file; `path` moves into the content store when the file becomes a layer blob. */
interface StagedFile {
  kind: 'file';
  path: string;
  size: number;
  digest: string;
}

type Entry = StagedFile | { kind: 'symlink'; target: string };

/** The archive's files, staged on disk, addressed by their in-archive names. */
class StagedArchive {
  readonly dir: string;
  private readonly entries = new Map<string, Entry>();
  private count = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  static clean(name: string, what: string): string {
    return cleanArchiveName(name, what);
  }

  async extract(input: Readable): Promise<void> {
    const extract = tar.extract();
    const done = pipeline(input, extract);
    done.catch(() => {});
    for await (const entry of extract) {
      const h = entry.header;
      const name = StagedArchive.clean(h.name, 'entry');
      if (h.type === 'file' || h.type === 'contiguous-file') {
        const path = join(this.dir, String(this.count++));
        // Hashed while staged: a layer file then becomes its blob without another pass.
        const hash = createHash('sha256');
        entry.on('data', (c: unknown) => { hash.update(c as Buffer); });
        await pipeline(entry, createWriteStream(path, { mode: 0o600, highWaterMark: 1 << 20 }));
        this.entries.set(name, { kind: 'file', path, size: h.size ?? 0, digest: 'sha256:' + hash.digest('hex') });
        continue;
      }
      if (h.type === 'symlink') {
        const target = h.linkname ?? '';
        if (target.startsWith('/')) throw new InvalidArchiveError(`symlink "${h.name}" has an absolute target (${target})`);
        StagedArchive.clean(posix.join(posix.dirname(name), target), `symlink "${h.name}" target`);
        this.entries.set(name, { kind: 'symlink', target });
      } else if (h.type === 'link') {
        const target = StagedArchive.clean(h.linkname ?? '', `hard link "${h.name}" target`);
        const file = this.entries.get(target);
        if (file?.kind !== 'file') throw new InvalidArchiveError(`hard link "${h.name}" names "${h.linkname}", which is not a file in the archive`);
        this.entries.set(name, file);
      }
      // Directories and special files carry nothing a loader needs.
      entry.resume();
    }
    await done;
  }

  /** The staged file an in-archive name refers to, following in-archive symlinks. */
  file(name: string): StagedFile | undefined {
    let n = StagedArchive.clean(name, 'path');
    for (let hops = 0; hops < MAX_LINK_HOPS; hops++) {
      const e = this.entries.get(n);
      if (!e) return undefined;
      if (e.kind === 'file') return e;
      n = StagedArchive.clean(posix.join(posix.dirname(n), e.target), `symlink "${n}" target`);
    }
    throw new InvalidArchiveError(`too many levels of symbolic links at "${name}"`);
  }

  need(name: string, why: string): StagedFile {
    const f = this.file(name);
    if (!f) throw new InvalidArchiveError(`${why} names "${name}", which is not in the archive`);
    return f;
  }

  async bytes(name: string, why: string): Promise<Buffer> {
    const f = this.need(name, why);
    if (f.size > MAX_JSON) throw new InvalidArchiveError(`"${name}" is too large (${f.size} bytes)`);
    return readFile(f.path);
  }

  async json<T>(name: string, why: string): Promise<T> {
    const b = await this.bytes(name, why);
    try {
      return JSON.parse(b.toString('utf8')) as T;
    } catch (err) {
      throw new InvalidArchiveError(`${name}: ${(err as Error).message}`);
    }
  }

  has(name: string): boolean {
    return this.file(name) !== undefined;
  }
}

/** One image of the archive, checked as far as it can be before its layers are applied. */
interface PlannedImage {
  configBytes: Buffer;
  config: ImageConfigFile;
  id: string;
  layers: { file: string; digest?: string }[];
  tags: Reference[];
}

interface OciDescriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string };
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function blobName(digest: unknown): string {
  if (typeof digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(digest)) throw new InvalidArchiveError(`unsupported or malformed digest ${JSON.stringify(digest)}`);
  return `blobs/sha256/${digest.slice(7)}`;
}

function parseConfig(bytes: Buffer, where: string): ImageConfigFile {
  let config: ImageConfigFile;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfigFile;
  } catch (err) {
    throw new InvalidArchiveError(`image config ${where}: ${(err as Error).message}`);
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d))) {
    throw new InvalidArchiveError(`image config ${where} has no valid rootfs.diff_ids`);
  }
  return config;
}

function parseTag(s: string): Reference {
  const ref = withDefaultTag(parseNormalizedNamed(s));
  if (ref.digest) throw new InvalidArchiveError(`tag "${s}" is a digest reference`);
  return ref;
}

async function planDockerArchive(a: StagedArchive): Promise<PlannedImage[]> {
  const manifest = await a.json<unknown>('manifest.json', 'the archive');
  if (!Array.isArray(manifest)) throw new InvalidArchiveError('manifest.json is not a list');
  const out: PlannedImage[] = [];
  for (const m of manifest as { Config?: unknown; RepoTags?: unknown; Layers?: unknown }[]) {
    if (typeof m?.Config !== 'string' || !Array.isArray(m.Layers) || m.Layers.some((l) => typeof l !== 'string')) {
      throw new InvalidArchiveError('manifest.json entry without Config or Layers');
    }
    const configBytes = await a.bytes(m.Config, 'manifest.json');
    const config = parseConfig(configBytes, m.Config);
    if (config.rootfs.diff_ids.length !== m.Layers.length) throw new InvalidArchiveError(`manifest.json names ${m.Layers.length} layers for an image config with ${config.rootfs.diff_ids.length}`);
    for (const l of m.Layers as string[]) a.need(l, 'manifest.json');
    const tags = Array.isArray(m.RepoTags) ? (m.RepoTags as unknown[]).filter((t): t is string => typeof t === 'string').map(parseTag) : [];
    out.push({ configBytes, config, id: sha(configBytes), layers: (m.Layers as string[]).map((file) => ({ file })), tags });
  }
  return out;
}

/** The name an OCI index entry gives its image, if it is a full reference. */
function ociName(annotations: Record<string, string> | undefined): Reference | undefined {
  const candidates = [annotations?.['io.containerd.image.name'], annotations?.['org.opencontainers.image.ref.name']];
  for (const c of candidates) {
    if (!c || !/[:/]/.test(c)) continue; // a bare "latest" names no repository
    try {
      return parseTag(c);
    } catch {
      // not a reference; try the next
    }
  }
  return undefined;
}

async function planOciLayout(a: StagedArchive): Promise<PlannedImage[]> {
  const verified = async (d: OciDescriptor, what: string): Promise<Buffer> => {
    const bytes = await a.bytes(blobName(d.digest), what);
    if (sha(bytes) !== d.digest) throw new InvalidArchiveError(`digest mismatch for ${what} ${d.digest}: content is ${sha(bytes)}`);
    return bytes;
  };
  const index = await a.json<{ manifests?: OciDescriptor[] }>('index.json', 'the archive');
  const byManifest = new Map<string, PlannedImage>();
  const visit = async (d: OciDescriptor, name: Reference | undefined, depth: number): Promise<void> => {
    if (depth > 4) throw new InvalidArchiveError('image indexes nested too deeply');
    if (d.mediaType === OCI_INDEX || d.mediaType === DOCKER_MANIFEST_LIST) {
      const nested = JSON.parse((await verified(d, 'image index')).toString('utf8')) as { manifests?: OciDescriptor[] };
      const list = nested.manifests ?? [];
      const pick = list.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ?? (list.length === 1 ? list[0] : undefined);
      if (!pick) throw new InvalidArchiveError('no manifest for linux/amd64 in the image index');
      return visit(pick, name, depth + 1);
    }
    if (d.mediaType !== OCI_MANIFEST && d.mediaType !== DOCKER_MANIFEST) throw new InvalidArchiveError(`unsupported manifest media type ${JSON.stringify(d.mediaType)}`);
    const digest = d.digest as string;
    let plan = byManifest.get(digest);
    if (!plan) {
      const m = JSON.parse((await verified(d, 'manifest')).toString('utf8')) as { config?: OciDescriptor; layers?: OciDescriptor[] };
      if (!m.config || !Array.isArray(m.layers)) throw new InvalidArchiveError(`manifest ${digest} has no config or layers`);
      const configBytes = await verified(m.config, 'image config');
      const config = parseConfig(configBytes, m.config.digest as string);
      if (config.rootfs.diff_ids.length !== m.layers.length) throw new InvalidArchiveError(`manifest ${digest} names ${m.layers.length} layers for an image config with ${config.rootfs.diff_ids.length}`);
      const layers = m.layers.map((l) => {
        const file = blobName(l.digest);
        a.need(file, `manifest ${digest}`);
        return { file, digest: l.digest as string };
      });
      plan = { configBytes, config, id: sha(configBytes), layers, tags: [] };
      byManifest.set(digest, plan);
    }
    if (name && !plan.tags.some((t) => familiarString(t) === familiarString(name))) plan.tags.push(name);
  };
  for (const d of index.manifests ?? []) await visit(d, ociName(d.annotations), 0);
  return [...byManifest.values()];
}

/**
 * Applies what `plans` need and is missing; on failure removes what it added
 * and rethrows. Each staged layer file becomes its blob (what save and push
 * read) by a rename; those moves, with their fsync, start at once and run
 * while earlier layers unpack, and each is awaited before its layer commits.
 */
async function applyLayers(store: ImageStore, a: StagedArchive, plans: PlannedImage[]): Promise<void> {
  const added: string[] = [];
  /** Staged file → whether its blob was in the store before this load. */
  const adopted = new Map<StagedFile, Promise<boolean>>();
  const adopt = (f: StagedFile): Promise<boolean> => {
    let job = adopted.get(f);
    if (!job) {
      const tmp = f.path;
      job = (async () => {
        const had = await store.content.has(f.digest);
        await store.content.adopt(tmp, f.digest);
        return had;
      })();
      job.catch(() => {});
      adopted.set(f, job);
      f.path = store.content.path(f.digest);
    }
    return job;
  };
  try {
    const work: { chains: string[]; diffIds: string[]; i: number; file: string; staged: StagedFile }[] = [];
    for (const plan of plans) {
      const diffIds = plan.config.rootfs.diff_ids;
      const chains = chainIds(diffIds);
      for (let i = 0; i < chains.length; i++) {
        if (await store.layers.has(chains[i])) continue;
        const { file, digest } = plan.layers[i];
        const staged = a.need(file, 'manifest');
        if (digest && staged.digest !== digest) throw new InvalidArchiveError(`layer ${file}: digest mismatch: the manifest names ${digest}, the blob is ${staged.digest}`);
        work.push({ chains, diffIds, i, file, staged });
      }
    }
    for (const w of work) void adopt(w.staged);
    for (const { chains, diffIds, i, file, staged } of work) {
      if (await store.layers.has(chains[i])) continue; // an earlier image of this archive brought it
      await adopt(staged);
      const layer = await store.layers.register(createReadStream(staged.path), chains[i - 1], { blob: staged.digest });
      if (layer.chainId !== chains[i]) {
        // Not the layer the config names; drop it unless an image already had it.
        if (!isUsed(store, layer.chainId)) added.push(layer.chainId);
        throw new InvalidArchiveError(`layer ${file}: digest mismatch: the image config names ${diffIds[i]}, the layer is ${layer.diffId}`);
      }
      added.push(layer.chainId);
    }
  } catch (err) {
    const inUse = new Set(store.list().flatMap((img) => chainIds(img.config.rootfs.diff_ids)));
    for (const c of added.reverse()) await store.layers.release(c, inUse).catch(() => {});
    // Blobs this load brought in and no layer kept.
    for (const [f, job] of adopted) {
      const had = await job.catch(() => true);
      if (!had) await store.content.delete(f.digest);
    }
    throw err;
  }
}

function isUsed(store: ImageStore, chainId: string): boolean {
  return store.list().some((img) => chainIds(img.config.rootfs.diff_ids).includes(chainId));
}

export interface LoadedImage {
  id: string;
  tags: string[];
  /** Tags that moved here from another image: [tag, old image ID]. */
  renamed: [string, string][];
}

/** Loads every image of the archive; all or nothing. */
export async function loadImages(store: ImageStore, input: Readable): Promise<LoadedImage[]> {
  const dir = store.content.tempPath();
  await mkdir(dir, { mode: 0o700 });
  try {
    const dec = await decompress(input);
    const archive = new StagedArchive(dir);
    try {
      await archive.extract(dec.stream);
      await dec.finished();
    } catch (err) {
      dec.abort(err as Error);
      if (err instanceof InvalidArgumentError) throw err;
      throw new InvalidArchiveError((err as Error).message);
    }
    let plans: PlannedImage[];
    if (archive.has('manifest.json')) plans = await planDockerArchive(archive);
    else if (archive.has('index.json')) plans = await planOciLayout(archive);
    else throw new InvalidArchiveError('neither manifest.json nor index.json found (not a docker-archive or OCI layout)');
    if (plans.length === 0) throw new InvalidArchiveError('no images in the archive');
    await applyLayers(store, archive, plans);
    const out: LoadedImage[] = [];
    for (const plan of plans) {
      const img = await store.createFromBlob(plan.configBytes, plan.config, undefined, plan.id);
      const loaded: LoadedImage = { id: img.record.id, tags: [], renamed: [] };
      for (const ref of plan.tags) {
        const name = familiarString(ref);
        const old = store.tagged(name);
        if (old && old !== img.record.id) loaded.renamed.push([name, old]);
        await store.tag(img.record.id, name);
        loaded.tags.push(name);
      }
      out.push(loaded);
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
