// Pulling an image: resolve the reference to one image manifest (picking the
// host platform from a list) and its config before any response is sent, so
// that a missing tag or an unreachable registry is an HTTP error; then fetch
// the missing layers in parallel into the content store, each verified against
// its digest, and only when all arrived apply them through the layer store,
// record the config blob as received (image ID = config digest) and the tag.
import { STATUS_CODES } from 'node:http';
import { SystemError, NotFoundError, InvalidArgumentError, EngineError } from '../../errors.ts';
import { PassThrough, type Readable } from 'node:stream';
import { chainIds, type LayerInfo } from '../layers.ts';
import type { ImageStore } from '../store.ts';
import {
  type Reference, familiarName, familiarString, parseNormalizedNamed, withDefaultTag,
} from '../../api/reference.ts';
import type { ImageConfigFile } from '../types.ts';
import type { Credentials } from './auth.ts';
import { RegistryClient, RegistryResponseError, RegistryUnreachableError } from './client.ts';
import {
  type ImageManifest, fetchManifest, isIndex, parseImageManifest, parseIndex, parsePlatform, selectPlatform,
} from './manifests.ts';
import type { Descriptor } from '../../api/oci.ts';
import { type Emit, progressBar, shortDigest } from './progress.ts';
import { sha256 } from '../content.ts';
import type { RegistryHosts } from './hosts.ts';
import type { LayerMetadata } from './metadata.ts';
import { resumableBlob } from './resume.ts';
import type { TrustPolicy } from './trust-policy.ts';

export interface PullOptions {
  creds?: Credentials;
  /** os/arch[/variant]; linux/amd64 when not given. */
  platform?: string;
  signal?: AbortSignal;
  maxConcurrentDownloads?: number;
  /** Endpoints, mirrors and TLS per registry host. */
  hosts?: RegistryHosts;
  /** Where to remember which blobs each layer came as (for push). */
  metadata?: LayerMetadata;
  /** A name without a tag pulls every tag of the repository (the API without `tag`, `pull -a`). */
  allTags?: boolean;
  /** Leave out the closing "Status: …" line (each tag of an all-tags pull). */
  noStatusLine?: boolean;
  /** The daemon's trust policy: a repository it covers is pulled only with a trusted signature. */
  policy?: TrustPolicy;
}

export interface PullResult {
  id: string;
  /** Full reference string pulled (`localhost:5000/app:1`, familiar). */
  reference: string;
  /** Digest of the manifest (or list) the reference resolved to. */
  digest: string;
  /** True when the reference now names an image it did not name before. */
  updated: boolean;
}

export interface PreparedPull {
  ref: Reference;
  run(emit: Emit): Promise<PullResult>;
}

const HOST_PLATFORM = 'linux/amd64';

/** Blob downloads under way in this daemon, so concurrent pulls of shared layers fetch each once. */
const inflight = new Map<string, Promise<void>>();
const PROGRESS_INTERVAL_MS = 100;

/** Registry errors in dockerd's words. */
function translate(err: unknown, ref: Reference): Error {
  if (err instanceof EngineError) return err;
  if (err instanceof RegistryResponseError) {
    const name = familiarName(ref);
    if (err.status === 401 || err.status === 403) {
      return new NotFoundError(`pull access denied for ${name}, repository does not exist or may require 'docker login': ${err.message}`);
    }
    if (err.code === 'NAME_UNKNOWN') return new NotFoundError(`repository ${name} not found: ${err.message}`);
    if (err.status === 404) return new NotFoundError(`manifest for ${familiarString(ref)} not found: ${err.message}`);
    if (err.status >= 500) return new SystemError(`received unexpected HTTP status: ${err.status} ${STATUS_CODES[err.status] ?? ''}`.trimEnd());
    return new SystemError(`received unexpected HTTP status from ${name}: ${err.message}`);
  }
  if (err instanceof RegistryUnreachableError) return new SystemError(err.message);
  return err instanceof Error ? err : new Error(String(err));
}

async function readVerified(client: RegistryClient, d: Descriptor, limit: number): Promise<Buffer> {
  if (d.size > limit) throw new InvalidArgumentError(`blob ${d.digest} too big: ${d.size} bytes`);
  const res = await client.get(`blobs/${d.digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (sha256(bytes) !== d.digest) throw new InvalidArgumentError(`image config verification failed for digest ${d.digest}`);
  return bytes;
}

/** Resolves `refString` (a `fromImage[:tag]` or `name@digest`) far enough to know what to download. */
export async function preparePull(store: ImageStore, refString: string, o: PullOptions = {}): Promise<PreparedPull> {
  const named = parseNormalizedNamed(refString);
  if (o.allTags && !named.tag && !named.digest) return prepareAllTags(store, named, o);
  const ref = withDefaultTag(named);
  const want = parsePlatform(o.platform || HOST_PLATFORM);
  const client = new RegistryClient(ref.domain, ref.path, { creds: o.creds, signal: o.signal, hosts: o.hosts });
  let top;
  let manifest: ImageManifest;
  let configBytes: Buffer;
  await client.ping().catch((err: unknown) => { throw translate(err, ref); });
  for (;;) {
    try {
      top = await fetchManifest(client, ref.digest ?? (ref.tag as string));
      // Checked on what the tag names before anything of the image is read.
      if (o.policy?.requires(ref.name)) await o.policy.check(client, ref, top.digest);
      let image = top;
      if (isIndex(top)) {
        const entry = selectPlatform(parseIndex(top), want);
        image = await fetchManifest(client, entry.digest);
      }
      manifest = parseImageManifest(image);
      configBytes = await readVerified(client, manifest.config, 8 << 20);
      break;
    } catch (err) {
      // A mirror that lacks the image (or fails) hands over to the next endpoint, as dockerd's does.
      if (!client.onMirror || err instanceof EngineError) throw translate(err, ref);
      let moved: boolean;
      try {
        moved = await client.nextEndpoint();
      } catch (next) {
        throw translate(next, ref);
      }
      if (!moved) throw translate(err, ref);
    }
  }
  let config: ImageConfigFile;
  try {
    config = JSON.parse(configBytes.toString('utf8')) as ImageConfigFile;
  } catch {
    throw new InvalidArgumentError(`invalid image config ${manifest.config.digest}: not JSON`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new InvalidArgumentError("invalid image: the layers in the manifest don't match the image configuration");
  }
  const topDigest = top.digest;
  const ptag = ref.digest ?? (ref.tag as string);
  return {
    ref,
    run: (emit) => download(store, client, ref, ptag, topDigest, manifest, configBytes, config, o, emit),
  };
}

async function download(
  store: ImageStore, client: RegistryClient, ref: Reference, progressId: string, topDigest: string,
  manifest: ImageManifest, configBytes: Buffer, config: ImageConfigFile, o: PullOptions, emit: Emit,
): Promise<PullResult> {
  emit({ status: `Pulling from ${ref.path}`, id: progressId });
  const diffIds = config.rootfs.diff_ids;
  const chain = chainIds(diffIds);
  // Chain IDs nest: if layer i is present, so is everything below it.
  let present = -1;
  for (let i = chain.length - 1; i >= 0; i--) {
    if (await store.layers.has(chain[i])) {
      present = i;
      break;
    }
  }
  const todo = manifest.layers.map((d, i) => ({ d, i })).filter(({ i }) => i > present);
  for (let i = 0; i <= present; i++) emit({ status: 'Already exists', progressDetail: {}, id: shortDigest(manifest.layers[i].digest) });
  for (const { d } of todo) emit({ status: 'Pulling fs layer', progressDetail: {}, id: shortDigest(d.digest) });

  // Downloads: blobs land in the content store only once their digest checked out.
  const fetched: string[] = [];
  const limit = Math.max(1, o.maxConcurrentDownloads ?? 3);
  // The lowest missing layer sits on layers that are there already: it is
  // unpacked straight from the network while the others download.
  // It counts as in flight from this moment, so a concurrent pull waits for it.
  const first = todo[0]?.d;
  let streamed: string | undefined;
  let streamDone: PromiseWithResolvers<void> | undefined;
  if (first && !inflight.has(first.digest)) {
    streamDone = Promise.withResolvers<void>();
    inflight.set(first.digest, streamDone.promise);
    if (await store.content.has(first.digest)) {
      inflight.delete(first.digest);
      streamDone.resolve();
    } else {
      streamed = first.digest;
    }
  }
  const endStream = () => {
    if (streamed !== undefined && inflight.get(streamed) === streamDone?.promise) inflight.delete(streamed);
    streamDone?.resolve();
  };
  const queue = [...new Map(todo.map(({ d }) => [d.digest, d])).values()].filter((d) => d.digest !== streamed);
  for (const d of queue.slice(Math.max(1, limit - (streamed !== undefined ? 1 : 0)))) emit({ status: 'Waiting', progressDetail: {}, id: shortDigest(d.digest) });
  const progressOf = (stream: Readable, d: Descriptor) => {
    const id = shortDigest(d.digest);
    let current = 0;
    let last = 0;
    stream.on('data', (c: Buffer) => {
      current += c.length;
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS || current === d.size) {
        last = now;
        emit({ status: 'Downloading', progressDetail: { current, total: d.size }, progress: progressBar(current, d.size), id });
      }
    });
  };
  const one = async (d: Descriptor): Promise<void> => {
    const id = shortDigest(d.digest);
    // Another pull downloading the same blob right now: wait for it instead.
    const running = inflight.get(d.digest);
    if (running) await running.catch(() => {});
    if (await store.content.has(d.digest)) {
      emit({ status: 'Download complete', progressDetail: {}, id });
      return;
    }
    const download = (async () => {
      const stream = await resumableBlob(client, d.digest);
      progressOf(stream, d);
      try {
        await store.content.ingest(stream, d.digest);
      } catch (err) {
        if (err instanceof InvalidArgumentError && /digest mismatch/.test(err.message)) {
          throw new InvalidArgumentError(`filesystem layer verification failed for digest ${d.digest}`);
        }
        throw err;
      }
    })();
    inflight.set(d.digest, download);
    try {
      await download;
    } finally {
      inflight.delete(d.digest);
    }
    fetched.push(d.digest);
    emit({ status: 'Verifying Checksum', progressDetail: {}, id });
    emit({ status: 'Download complete', progressDetail: {}, id });
  };
  // Each layer is applied as soon as it and the ones below it are in, while
  // the later ones still download.
  const errors: unknown[] = [];
  const arrived = new Map(queue.map((d) => [d.digest, Promise.withResolvers<void>()]));
  for (const p of arrived.values()) p.promise.catch(() => {});
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queue.length && errors.length === 0) {
      const d = queue[next++];
      try {
        await one(d);
        arrived.get(d.digest)?.resolve();
      } catch (err) {
        errors.push(err);
        // Nothing more will be fetched: whatever waits for a layer gives up.
        for (const p of arrived.values()) p.reject(err);
      }
    }
  };
  const workers = Math.max(1, limit - (streamed !== undefined ? 1 : 0));
  const downloads = Promise.all(Array.from({ length: Math.min(workers, queue.length) }, worker));
  const dropFetched = async (keep: Set<string>) => {
    for (const dg of fetched) if (!keep.has(dg)) await store.content.delete(dg);
  };

  /**
   * The streamed layer: one copy of the bytes is unpacked, the other goes to
   * the content store against the digest. Resolves to undefined when the
   * unpacking failed, so the layer is fetched and applied the ordinary way
   * (which names a corrupt blob as such).
   */
  const applyStreamed = async (d: Descriptor, below: string | undefined): Promise<LayerInfo | undefined> => {
    try {
      return await unpackWhileStoring(d, below);
    } finally {
      endStream();
    }
  };
  const unpackWhileStoring = async (d: Descriptor, below: string | undefined): Promise<LayerInfo | undefined> => {
    const src = await resumableBlob(client, d.digest);
    progressOf(src, d);
    const toApply = new PassThrough({ highWaterMark: 1 << 20 });
    const toStore = new PassThrough({ highWaterMark: 1 << 20 });
    // Failures surface through the two promises; a branch destroyed after its reader is done must not throw.
    toApply.on('error', () => {});
    toStore.on('error', () => {});
    src.on('error', (err) => { toApply.destroy(err); toStore.destroy(err); });
    src.pipe(toApply);
    src.pipe(toStore);
    const stored = store.content.ingest(toStore, d.digest);
    const applied = store.layers.register(toApply, below, { blob: d.digest });
    // Whichever side fails stops the other, or the pipe would stall on it.
    applied.catch((err: Error) => { src.destroy(); toStore.destroy(err); });
    stored.catch((err: Error) => { src.destroy(); toApply.destroy(err); });
    const [s, a] = await Promise.allSettled([stored, applied]);
    if (s.status === 'fulfilled') fetched.push(d.digest);
    if (a.status === 'rejected') return undefined;
    if (s.status === 'rejected') {
      // Unpacked, but the bytes were not the blob: undo it with the rest.
      parent = a.value.chainId;
      const err = s.reason as Error;
      throw err instanceof InvalidArgumentError && /digest mismatch/.test(err.message)
        ? new InvalidArgumentError(`filesystem layer verification failed for digest ${d.digest}`) : err;
    }
    emit({ status: 'Verifying Checksum', progressDetail: {}, id: shortDigest(d.digest) });
    emit({ status: 'Download complete', progressDetail: {}, id: shortDigest(d.digest) });
    return a.value;
  };

  // Apply in order, each on the previous chain; on failure remove what this pull added.
  const before = new Set(chain.slice(0, present + 1));
  let parent = present >= 0 ? chain[present] : undefined;
  const used = new Set<string>();
  try {
    for (const [n, { d, i }] of todo.entries()) {
      let info = n === 0 && streamed !== undefined ? await applyStreamed(d, parent) : undefined;
      if (!info) {
        if (n === 0 && streamed !== undefined) await one(d);
        else await arrived.get(d.digest)?.promise;
        info = await store.layers.register(store.content.openBlob(d.digest), parent, { blob: d.digest });
      }
      used.add(d.digest);
      parent = info.chainId;
      if (info.diffId !== diffIds[i]) {
        throw new InvalidArgumentError(`layer ${d.digest}: its content (diff ID ${info.diffId}) does not match the image configuration (${diffIds[i]})`);
      }
      emit({ status: 'Pull complete', progressDetail: {}, id: shortDigest(d.digest) });
    }
    await downloads;
  } catch (err) {
    errors.push(err);
    for (const p of arrived.values()) p.reject(err);
    await downloads;
    // Never release a chain another image stands on (register returns an existing chain as is).
    const keep = new Set(before);
    for (const other of store.list()) for (const c of chainIds(other.config.rootfs.diff_ids)) keep.add(c);
    if (parent !== undefined && !keep.has(parent)) await store.layers.release(parent, keep).catch(() => {});
    await dropFetched(new Set());
    throw translate(errors[0], ref);
  }
  await dropFetched(used);
  if (o.metadata) {
    for (const [i, d] of manifest.layers.entries()) {
      await o.metadata.add(diffIds[i], { digest: d.digest, mediaType: d.mediaType, size: d.size, repository: ref.name });
    }
  }

  const reference = familiarString(ref);
  const existed = store.byId(manifest.config.digest) !== undefined;
  const img = await store.createFromBlob(configBytes, config, undefined, manifest.config.digest);
  const id = img.record.id;
  let updated: boolean;
  if (ref.digest === undefined) {
    updated = store.tagged(reference) !== id;
    if (updated) await store.tag(id, reference);
  } else {
    updated = !existed;
  }
  await store.addRepoDigest(id, `${ref.name}@${topDigest}`);
  emit({ status: `Digest: ${topDigest}` });
  if (!o.noStatusLine) emit({ status: updated ? `Status: Downloaded newer image for ${reference}` : `Status: Image is up to date for ${reference}` });
  return { id, reference, digest: topDigest, updated };
}

/** `pull -a`: every tag the registry lists (tags/list), one after the other, then one status line for the repository. */
async function prepareAllTags(store: ImageStore, repo: Reference, o: PullOptions): Promise<PreparedPull> {
  const client = new RegistryClient(repo.domain, repo.path, { creds: o.creds, signal: o.signal, hosts: o.hosts });
  let tags: string[];
  try {
    await client.ping();
    const res = await client.get('tags/list');
    const body = (await res.json()) as { tags?: unknown };
    tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
  } catch (err) {
    throw translate(err, repo);
  }
  if (tags.length === 0) throw new NotFoundError(`repository ${familiarName(repo)} not found: no tags`);
  const pulls: PreparedPull[] = [];
  for (const t of tags.sort()) pulls.push(await preparePull(store, `${repo.name}:${t}`, { ...o, allTags: false, noStatusLine: true }));
  return {
    ref: repo,
    run: async (emit) => {
      let updated = false;
      let last: PullResult | undefined;
      for (const p of pulls) {
        last = await p.run(emit);
        updated ||= last.updated;
      }
      const name = familiarName(repo);
      emit({ status: updated ? `Status: Downloaded newer image for ${name}` : `Status: Image is up to date for ${name}` });
      return { ...(last as PullResult), reference: name, updated };
    },
  };
}
