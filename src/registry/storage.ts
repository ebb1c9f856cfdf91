// The registry's filesystem store.
//
//   blobs/<alg>/<hh>/<hex>                           content, shared by all repositories
//   repositories/<name>/_layers/<alg>/<hex>          "this repository holds that blob"
//   repositories/<name>/_manifests/revisions/<alg>/<hex>   manifest link: {"mediaType": ...}
//   repositories/<name>/_manifests/tags/<tag>        the digest the tag points at
//   repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>   referrer descriptors
//   repositories/<name>/_meta.json                   description and stars (search)
//   uploads/<id>/{info.json,data}                    upload sessions, resumable across restarts (uploads.ts)
//   pending/<id>.json                                digests a manifest push is about to reference (GC protocol)
//   trash/                                           blobs a running GC is about to delete
//   tmp/                                             temp files of atomic writes, emptied at start
//
// Repository name components never start with "_" (see names.ts), so the
// underscore directories cannot collide with nested repository names.
// Invariants: a blob file only appears, by rename, after its bytes were
// verified against the digest and fsynced; every link/tag file is written
// atomically; a push's links are only written after what they point at exists.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, unlink, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryError, notFoundManifest } from './errors.ts';
import { isTag, parseDigest, requireDigest, type Digest } from './names.ts';
import { exists, isNotFound, moveInto, syncDir, touch, writeAtomic } from './fsutil.ts';
import type { ParsedManifest } from './manifest.ts';
import type { Descriptor } from '../api/oci.ts';
import { Uploads } from './uploads.ts';

export type { UploadState } from './uploads.ts';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface RepoMeta {
  description: string;
  stars: number;
}

/** How long a manifest push waits for a blob a running GC has moved to trash and may put back. */
const TRASH_WAIT_MS = 10_000;
export class Storage {
  readonly root: string;
  readonly blobsDir: string;
  readonly reposDir: string;
  readonly uploadsDir: string;
  readonly tmpDir: string;
  readonly pendingDir: string;
  readonly trashDir: string;
  /** Upload sessions: the store's only way to take in new blobs. */
  readonly uploads: Uploads;

  constructor(root: string) {
    this.root = root;
    this.blobsDir = join(root, 'blobs');
    this.reposDir = join(root, 'repositories');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, 'tmp');
    this.pendingDir = join(root, 'pending');
    this.trashDir = join(root, 'trash');
    this.uploads = new Uploads(this.uploadsDir, this.tmpDir, this);
  }

  /** Creates the layout. `server` also clears what a crashed previous server left half-done. */
  async init(server: boolean): Promise<void> {
    for (const d of [this.blobsDir, this.reposDir, this.uploadsDir, this.tmpDir, this.pendingDir, this.trashDir]) {
      await mkdir(d, { recursive: true });
    }
    if (!server) return;
    await this.restoreTrash();
    // Temp files and pending-push records belong to requests of a process that
    // is gone; nothing refers to them. Upload sessions are kept so clients can resume.
    for (const d of [this.tmpDir, this.pendingDir]) {
      for (const f of await readdir(d)) await rm(join(d, f), { recursive: true, force: true });
    }
    // Uploads that never got their info.json written cannot be resumed.
    for (const id of await readdir(this.uploadsDir)) {
      if (!(await exists(join(this.uploadsDir, id, 'info.json')))) {
        await rm(join(this.uploadsDir, id), { recursive: true, force: true });
      }
    }
  }

  // ---- paths -------------------------------------------------------------

  blobPath(d: Digest): string {
    return join(this.blobsDir, d.algorithm, d.hex.slice(0, 2), d.hex);
  }

  repoDir(repo: string): string {
    return join(this.reposDir, repo);
  }

  private layerLink(repo: string, d: Digest): string {
    return join(this.reposDir, repo, '_layers', d.algorithm, d.hex);
  }

  private revisionLink(repo: string, d: Digest): string {
    return join(this.reposDir, repo, '_manifests', 'revisions', d.algorithm, d.hex);
  }

  private tagsDir(repo: string): string {
    return join(this.reposDir, repo, '_manifests', 'tags');
  }

  private referrersDir(repo: string, subject: Digest): string {
    return join(this.reposDir, repo, '_referrers', subject.algorithm, subject.hex);
  }

  // ---- blobs ---------------------------------------------------------------

  /** Size of a stored blob, or undefined if the registry does not have it. */
  async blobSize(d: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(d))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Whether `repo` links the blob (as a layer or as a manifest revision). */
  private async repoLinks(repo: string, d: Digest): Promise<boolean> {
    return (await exists(this.layerLink(repo, d))) || exists(this.revisionLink(repo, d));
  }

  /** Size of a blob if `repo` holds it (linked and present), else undefined. */
  async repoBlobSize(repo: string, d: Digest): Promise<number | undefined> {
    if (!(await this.repoLinks(repo, d))) return undefined;
    return this.blobSize(d);
  }

  /**
   * Opens a blob `repo` holds, for serving; undefined if it is not linked or
   * not present. The size comes from the open file, so a GC removing the blob
   * right after this still leaves a complete file to read from.
   */
  async openRepoBlob(repo: string, d: Digest): Promise<{ fh: FileHandle; size: number } | undefined> {
    if (!(await this.repoLinks(repo, d))) return undefined;
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(d), 'r');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      return { fh, size: (await fh.stat()).size };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * Reads a blob's bytes, also from trash/: a running GC briefly moves
   * candidates there and puts back whatever turns out to be referenced, so a
   * reader must not mistake that moment for the blob being gone.
   */
  async readBlob(d: Digest): Promise<Buffer | undefined> {
    for (const path of [this.blobPath(d), join(this.trashDir, `${d.algorithm}-${d.hex}`), this.blobPath(d)]) {
      try {
        return await readFile(path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return undefined;
  }

  async linkBlob(repo: string, d: Digest): Promise<void> {
    const link = this.layerLink(repo, d);
    if (await exists(link)) return;
    await writeAtomic(this.tmpDir, link, '');
  }

  /** Removes a blob from a repository; the content itself goes at the next GC. */
  async unlinkBlob(repo: string, d: Digest): Promise<boolean> {
    try {
      await unlink(this.layerLink(repo, d));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Marks a blob as just used, so a GC running now keeps it (see gc.ts). */
  async touchBlob(d: Digest): Promise<void> {
    await touch(this.blobPath(d));
  }

  /** Cross-repository mount: links a blob `from` holds into `repo`. */
  async mountBlob(repo: string, from: string, d: Digest): Promise<number | undefined> {
    const size = await this.repoBlobSize(from, d);
    if (size === undefined) return undefined;
    await this.touchBlob(d);
    await this.linkBlob(repo, d);
    return size;
  }

  // ---- manifests -------------------------------------------------------------

  async repoExists(repo: string): Promise<boolean> {
    return (await exists(join(this.reposDir, repo, '_manifests'))) || (await exists(join(this.reposDir, repo, '_layers')));
  }

  async resolveTag(repo: string, tag: string): Promise<Digest | undefined> {
    try {
      return parseDigest((await readFile(join(this.tagsDir(repo), tag), 'utf8')).trim());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async hasManifest(repo: string, d: Digest): Promise<boolean> {
    return exists(this.revisionLink(repo, d));
  }

  /** Reads a manifest by tag or digest; throws 404 MANIFEST_UNKNOWN / NAME_UNKNOWN. */
  async getManifest(repo: string, ref: string): Promise<StoredManifest> {
    const d = isTag(ref) ? await this.resolveTag(repo, ref) : requireDigest(ref);
    if (!d) {
      if (!(await this.repoExists(repo))) throw new RegistryError(404, 'NAME_UNKNOWN', undefined, { name: repo });
      throw notFoundManifest(ref);
    }
    let link: { mediaType?: string };
    try {
      link = JSON.parse(await readFile(this.revisionLink(repo, d), 'utf8')) as typeof link;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!(await this.repoExists(repo))) throw new RegistryError(404, 'NAME_UNKNOWN', undefined, { name: repo });
      throw notFoundManifest(ref);
    }
    const bytes = await this.readBlob(d);
    if (!bytes) throw notFoundManifest(ref);
    return { digest: d.text, mediaType: link.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', bytes };
  }

  /**
   * Stores a manifest and points `tags` at it. The referenced blobs and
   * manifests must already be in the repository (MANIFEST_BLOB_UNKNOWN
   * otherwise). A pending record protects the references from a concurrent GC
   * between the existence check and the moment the revision link is written.
   */
  async putManifest(repo: string, d: Digest, bytes: Buffer, parsed: ParsedManifest, tags: string[]): Promise<void> {
    const pending = join(this.pendingDir, `${process.pid}-${randomBytes(8).toString('hex')}.json`);
    const refs = [...parsed.blobs, ...parsed.manifests].map((x) => x.text);
    await writeAtomic(this.tmpDir, pending, JSON.stringify({ repo, digests: [d.text, ...refs] }));
    try {
      const missing: string[] = [];
      for (const b of parsed.blobs) {
        if (!(await this.waitPresent(b, () => this.repoBlobSize(repo, b)))) missing.push(b.text);
      }
      for (const m of parsed.manifests) {
        if (!(await this.waitPresent(m, async () => ((await this.hasManifest(repo, m)) ? this.blobSize(m) : undefined)))) missing.push(m.text);
      }
      if (missing.length > 0) {
        throw new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', 'manifest references blobs or manifests unknown to this repository', {
          digests: missing,
        });
      }
      const target = this.blobPath(d);
      if (await exists(target)) await this.touchBlob(d);
      else await writeAtomic(this.tmpDir, target, bytes);
      await writeAtomic(this.tmpDir, this.revisionLink(repo, d), JSON.stringify({ mediaType: parsed.mediaType }));
      if (parsed.subject) {
        const subject = parseDigest(parsed.subject.digest) as Digest;
        const desc: Descriptor = { mediaType: parsed.mediaType, digest: d.text, size: bytes.length };
        if (parsed.artifactType) desc.artifactType = parsed.artifactType;
        if (parsed.annotations) desc.annotations = parsed.annotations;
        await writeAtomic(this.tmpDir, join(this.referrersDir(repo, subject), `${d.algorithm}-${d.hex}`), JSON.stringify(desc));
      }
      for (const tag of tags) await writeAtomic(this.tmpDir, join(this.tagsDir(repo), tag), d.text);
    } finally {
      await unlink(pending).catch(() => {});
    }
  }

  /**
   * Stores a manifest fetched by the pull-through cache. Its blobs are not
   * checked: they are fetched from upstream on first pull.
   */
  async storeCachedManifest(repo: string, d: Digest, bytes: Buffer, mediaType: string, tags: string[]): Promise<void> {
    const target = this.blobPath(d);
    if (await exists(target)) await this.touchBlob(d);
    else await writeAtomic(this.tmpDir, target, bytes);
    await writeAtomic(this.tmpDir, this.revisionLink(repo, d), JSON.stringify({ mediaType }));
    for (const tag of tags) await writeAtomic(this.tmpDir, join(this.tagsDir(repo), tag), d.text);
  }

  /** Moves a verified and synced temp file into the blob store and links it into `repo`. */
  async commitBlobFile(repo: string, file: string, d: Digest): Promise<void> {
    if (await exists(this.blobPath(d))) {
      await unlink(file).catch(() => {});
      await this.touchBlob(d);
    } else {
      await moveInto(file, this.blobPath(d));
    }
    await this.linkBlob(repo, d);
  }

  /** Existence check that waits while a running GC holds the blob in trash (it may put it back). */
  private async waitPresent(d: Digest, probe: () => Promise<number | undefined>): Promise<boolean> {
    const deadline = Date.now() + TRASH_WAIT_MS;
    for (;;) {
      if ((await probe()) !== undefined) {
        await this.touchBlob(d);
        return true;
      }
      if (!(await exists(join(this.trashDir, `${d.algorithm}-${d.hex}`))) || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Deletes a manifest revision, every tag pointing at it and its referrer entry. */
  async deleteManifest(repo: string, d: Digest): Promise<void> {
    const link = this.revisionLink(repo, d);
    if (!(await exists(link))) throw notFoundManifest(d.text);
    for (const tag of await this.listTags(repo)) {
      const t = await this.resolveTag(repo, tag);
      if (t?.text === d.text) await unlink(join(this.tagsDir(repo), tag)).catch(() => {});
    }
    // Drop our entry from the subject's referrers list, if this manifest had one.
    try {
      const doc = JSON.parse(await readFile(this.blobPath(d), 'utf8')) as { subject?: { digest?: string } };
      const subject = typeof doc.subject?.digest === 'string' ? parseDigest(doc.subject.digest) : undefined;
      if (subject) await unlink(join(this.referrersDir(repo, subject), `${d.algorithm}-${d.hex}`)).catch(() => {});
    } catch {
      // not JSON or already gone: nothing to unregister
    }
    await unlink(link);
    await syncDir(join(link, '..'));
  }

  async deleteTag(repo: string, tag: string): Promise<void> {
    try {
      await unlink(join(this.tagsDir(repo), tag));
    } catch (err) {
      if (isNotFound(err)) throw notFoundManifest(tag);
      throw err;
    }
  }

  /** Tags in "ASCIIbetical" order. */
  async listTags(repo: string): Promise<string[]> {
    try {
      return (await readdir(this.tagsDir(repo))).filter(isTag).sort(asciiCompare);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  async listRevisions(repo: string): Promise<Digest[]> {
    return this.listDigestDir(join(this.reposDir, repo, '_manifests', 'revisions'));
  }

  async listLayerLinks(repo: string): Promise<Digest[]> {
    return this.listDigestDir(join(this.reposDir, repo, '_layers'));
  }

  private async listDigestDir(dir: string): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const alg of await readdir(dir).catch(() => [] as string[])) {
      for (const hex of await readdir(join(dir, alg)).catch(() => [] as string[])) {
        const d = parseDigest(`${alg}:${hex}`);
        if (d) out.push(d);
      }
    }
    return out;
  }

  async referrers(repo: string, subject: Digest): Promise<Descriptor[]> {
    const dir = this.referrersDir(repo, subject);
    const out: Descriptor[] = [];
    for (const f of (await readdir(dir).catch(() => [] as string[])).sort()) {
      try {
        const desc = JSON.parse(await readFile(join(dir, f), 'utf8')) as Descriptor;
        const d = parseDigest(desc.digest);
        // Only report referrers whose manifest is still in the repository.
        if (d && (await this.hasManifest(repo, d))) out.push(desc);
      } catch {
        // half-deleted entry: skip
      }
    }
    return out;
  }

  /** Every repository, sorted; a directory is a repository once it holds a blob or manifest. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch {
        return;
      }
      if (prefix && (entries.includes('_manifests') || entries.includes('_layers'))) out.push(prefix);
      for (const e of entries) {
        if (e.startsWith('_')) continue;
        const s = await stat(join(dir, e)).catch(() => undefined);
        if (s?.isDirectory()) await walk(join(dir, e), prefix ? `${prefix}/${e}` : e);
      }
    };
    await walk(this.reposDir, '');
    return out.sort(asciiCompare);
  }

  // ---- repository metadata (search) ---------------------------------------------

  async getMeta(repo: string): Promise<RepoMeta> {
    try {
      const m = JSON.parse(await readFile(join(this.reposDir, repo, '_meta.json'), 'utf8')) as Partial<RepoMeta>;
      return { description: typeof m.description === 'string' ? m.description : '', stars: Number(m.stars) || 0 };
    } catch {
      return { description: '', stars: 0 };
    }
  }

  async setMeta(repo: string, meta: RepoMeta): Promise<void> {
    await mkdir(join(this.reposDir, repo), { recursive: true });
    await writeAtomic(this.tmpDir, join(this.reposDir, repo, '_meta.json'), JSON.stringify(meta));
  }

  /** Moves a blob to trash (GC phase 1); returns false if it was already gone. */
  async trashBlob(d: Digest): Promise<boolean> {
    try {
      await rename(this.blobPath(d), join(this.trashDir, `${d.algorithm}-${d.hex}`));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Puts back every blob a GC had moved to trash. Used when a GC starts and
   * when the server starts, so a GC that crashed between its two phases
   * never loses a blob; being conservative is always safe here.
   */
  async restoreTrash(): Promise<number> {
    let n = 0;
    for (const f of await readdir(this.trashDir).catch(() => [] as string[])) {
      const d = parseDigest(f.replace('-', ':'));
      if (!d) continue;
      if (await exists(this.blobPath(d))) await unlink(join(this.trashDir, f)).catch(() => {});
      else await this.restoreBlob(d).catch(() => {});
      n++;
    }
    return n;
  }

  async restoreBlob(d: Digest): Promise<void> {
    await moveInto(join(this.trashDir, `${d.algorithm}-${d.hex}`), this.blobPath(d));
  }

  async purgeTrashed(d: Digest): Promise<void> {
    await unlink(join(this.trashDir, `${d.algorithm}-${d.hex}`)).catch(() => {});
  }

  /** Digests of manifest pushes in flight (written before their existence checks). */
  async pendingDigests(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const f of await readdir(this.pendingDir).catch(() => [] as string[])) {
      try {
        const rec = JSON.parse(await readFile(join(this.pendingDir, f), 'utf8')) as { digests?: string[] };
        for (const d of rec.digests ?? []) out.add(d);
      } catch {
        // removed while we read it: that push has finished and its links are visible
      }
    }
    return out;
  }

  async listBlobMtime(d: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(d))).mtimeMs;
    } catch {
      return undefined;
    }
  }

  /** All blobs in the store. */
  async listBlobs(): Promise<Array<{ digest: Digest; mtimeMs: number; size: number }>> {
    const out: Array<{ digest: Digest; mtimeMs: number; size: number }> = [];
    for (const alg of await readdir(this.blobsDir).catch(() => [] as string[])) {
      for (const shard of await readdir(join(this.blobsDir, alg)).catch(() => [] as string[])) {
        for (const hex of await readdir(join(this.blobsDir, alg, shard)).catch(() => [] as string[])) {
          const d = parseDigest(`${alg}:${hex}`);
          if (!d) continue;
          const s = await stat(join(this.blobsDir, alg, shard, hex)).catch(() => undefined);
          if (s) out.push({ digest: d, mtimeMs: s.mtimeMs, size: s.size });
        }
      }
    }
    return out;
  }
}

export function asciiCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
