// Pushing an image as dockerd does: for each layer (top first in the
// progress), a blob the registry already has is skipped ("Layer already
// exists"), one seen in another repository of the same registry is mounted
// from there ("Mounted from …"), and anything else uploaded: a compressed blob
// kept from a pull goes up as it is in one PUT; a layer made here (import,
// commit, build) is gzip'd on the way, in PATCH chunks, and the resulting
// blob remembered so the next push finds it. Then the config and a Docker
// schema2 manifest (OCI when a layer is zstd); the manifest digest becomes a
// RepoDigest of the image.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { EngineError, SystemError, NotFoundError } from '../../errors.ts';
import { chainIds } from '../layers.ts';
import type { ImageStore } from '../store.ts';
import { type Reference, familiarName, parseNormalizedNamed, referenceString, withDefaultTag } from '../../api/reference.ts';
import type { Credentials } from './auth.ts';
import { RegistryClient, RegistryResponseError, RegistryUnreachableError } from './client.ts';
import type { RegistryHosts } from './hosts.ts';
import { MEDIA } from './manifests.ts';
import type { Descriptor } from '../../api/oci.ts';
import type { BlobSighting, LayerMetadata } from './metadata.ts';
import { type Emit, progressBar, shortDigest } from './progress.ts';

export interface PushOptions {
  creds?: Credentials;
  signal?: AbortSignal;
  hosts?: RegistryHosts;
  metadata: LayerMetadata;
  maxConcurrentUploads?: number;
  /** Bytes per PATCH when a layer is compressed on the way. */
  chunkSize?: number;
}

const LAYER_MEDIA = {
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

const DEFAULT_CHUNK = 32 << 20;
const PROGRESS_INTERVAL_MS = 100;

type Compression = 'gzip' | 'zstd' | 'none';

async function sniffCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/** Registry errors in dockerd's words for a push. */
function translate(err: unknown, ref: Reference): Error {
  if (err instanceof EngineError) return err;
  if (err instanceof RegistryResponseError) {
    if (err.status === 401 || err.status === 403) {
      return new SystemError(err.code === 'DENIED' || err.status === 403 ? 'denied: requested access to the resource is denied' : err.message);
    }
    if (err.status >= 500) return new SystemError(`received unexpected HTTP status: ${err.status} ${STATUS_CODES[err.status] ?? ''}`.trimEnd());
    return new SystemError(`received unexpected HTTP status from ${familiarName(ref)}: ${err.status} ${err.message}`);
  }
  if (err instanceof RegistryUnreachableError) return new SystemError(err.message);
  return err instanceof Error ? err : new Error(String(err));
}

interface Target {
  ref: Reference;
  tag: string;
  id: string;
}

/**
 * Resolves what a push of `name` (with `tag`, or every tag of the repository
 * when none) will send; a name with no local image is an error here, before
 * any output. Returns the push to run with a sink for progress messages.
 */
export function preparePush(store: ImageStore, name: string, tag: string | undefined, o: PushOptions): (emit: Emit) => Promise<void> {
  const parsed = parseNormalizedNamed(name);
  if (parsed.digest) throw new NotFoundError(`An image does not exist locally with the tag: ${name}`);
  const repo: Reference = { ...parsed, tag: undefined };
  const targets: Target[] = [];
  if (tag || parsed.tag) {
    const ref = withDefaultTag({ ...repo, tag: tag || parsed.tag });
    const id = store.tagged(referenceString(ref));
    if (!id) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(repo)}`);
    targets.push({ ref, tag: ref.tag as string, id });
  } else {
    for (const img of store.list()) {
      for (const t of store.repoTags(img.record.id)) {
        const ref = parseNormalizedNamed(t);
        if (ref.name === repo.name && ref.tag) targets.push({ ref, tag: ref.tag, id: img.record.id });
      }
    }
    targets.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    if (targets.length === 0) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(repo)}`);
  }
  return async (emit) => {
    emit({ status: `The push refers to repository [${repo.name}]` });
    const mountSources = await mountCandidates(store, o.metadata, targets, repo);
    const client = new RegistryClient(repo.domain, repo.path, {
      creds: o.creds, signal: o.signal, hosts: o.hosts, actions: 'pull,push',
      extraScopes: [...mountSources].map((p) => `repository:${p}:pull`),
    });
    try {
      await client.ping();
      for (const t of targets) await pushOne(store, client, repo, t, o, emit);
    } catch (err) {
      throw translate(err, repo);
    }
  };
}

/** Repositories of the same registry that hold one of the layers: they go into the token's scopes. */
async function mountCandidates(store: ImageStore, meta: LayerMetadata, targets: Target[], repo: Reference): Promise<Set<string>> {
  const out = new Set<string>();
  for (const t of targets) {
    for (const diffId of store.byId(t.id)?.config.rootfs.diff_ids ?? []) {
      for (const s of await meta.get(diffId)) {
        if (!s.repository) continue;
        const r = parseNormalizedNamed(s.repository);
        if (r.domain === repo.domain && r.path !== repo.path) out.add(r.path);
      }
    }
  }
  return out;
}

async function pushOne(store: ImageStore, client: RegistryClient, repo: Reference, t: Target, o: PushOptions, emit: Emit): Promise<void> {
  const img = store.byId(t.id);
  if (!img) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(repo)}`);
  const diffIds = img.config.rootfs.diff_ids;
  const chain = chainIds(diffIds);
  const ids = diffIds.map(shortDigest);
  // Docker lists the layers top first.
  const order = diffIds.map((_, i) => i).reverse();
  const limit = Math.max(1, o.maxConcurrentUploads ?? 5);
  for (const i of order) emit({ status: 'Preparing', progressDetail: {}, id: ids[i] });
  for (const i of order.slice(limit)) emit({ status: 'Waiting', progressDetail: {}, id: ids[i] });

  const descriptors: Descriptor[] = new Array(diffIds.length);
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < order.length && errors.length === 0) {
      const i = order[next++];
      try {
        descriptors[i] = await withRetries(() => pushLayer(store, client, repo, diffIds[i], chain[i], ids[i], o, emit), ids[i], emit, o.signal);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, order.length) }, worker));
  if (errors.length) throw errors[0];

  const configBytes = await store.content.readBlob(t.id);
  const oci = descriptors.some((d) => d.mediaType === LAYER_MEDIA.ociZstd);
  const configMedia = oci ? MEDIA.ociConfig : MEDIA.dockerConfig;
  if (!(await blobExists(client, t.id))) await uploadBuffer(client, t.id, configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? MEDIA.ociManifest : MEDIA.dockerManifest,
    config: { mediaType: configMedia, size: configBytes.length, digest: t.id },
    layers: descriptors.map((d) => ({
      mediaType: oci && d.mediaType === LAYER_MEDIA.dockerGzip ? LAYER_MEDIA.ociGzip : d.mediaType, size: d.size, digest: d.digest,
    })),
  };
  // dockerd indents its manifests with three spaces.
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  const res = await client.request('PUT', `manifests/${t.tag}`, { headers: { 'Content-Type': manifest.mediaType }, body: bytes });
  await res.arrayBuffer().catch(() => undefined);
  const answered = res.headers.get('docker-content-digest');
  if (answered && answered !== digest) throw new SystemError(`registry stored the manifest as ${answered}, expected ${digest}`);
  await store.addRepoDigest(t.id, `${repo.name}@${digest}`);
  emit({ status: `${t.tag}: digest: ${digest} size: ${bytes.length}` });
  emit({ progressDetail: {}, aux: { Tag: t.tag, Digest: digest, Size: bytes.length } });
}

const UPLOAD_RETRIES = 3;
const RETRY_DELAY_MS = 1000;

/** A dropped connection or a 5xx during a layer's upload: start that layer over, as dockerd does ("Retrying in N seconds"). */
async function withRetries<T>(fn: () => Promise<T>, id: string, emit: Emit, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const transient = err instanceof RegistryUnreachableError || (err instanceof RegistryResponseError && err.status >= 500);
      if (!transient || attempt > UPLOAD_RETRIES || signal?.aborted) throw err;
      const seconds = attempt;
      emit({ status: `Retrying in ${seconds} second${seconds > 1 ? 's' : ''}`, progressDetail: {}, id });
      await new Promise((r) => setTimeout(r, seconds * RETRY_DELAY_MS));
    }
  }
}

async function blobExists(client: RegistryClient, digest: string): Promise<boolean> {
  const res = await client.request('HEAD', `blobs/${digest}`, { accept: [404] });
  await res.arrayBuffer().catch(() => undefined);
  return res.status !== 404;
}

async function pushLayer(
  store: ImageStore, client: RegistryClient, repo: Reference, diffId: string, chainId: string, id: string, o: PushOptions, emit: Emit,
): Promise<Descriptor> {
  const info = await store.layers.info(chainId);
  const known = await o.metadata.get(diffId);
  const local = info.blob && (await store.content.has(info.blob)) ? info.blob : undefined;
  let localCompression: Compression = 'none';
  if (local) localCompression = await sniffCompression(store.content.path(local));
  const candidates: BlobSighting[] = [...known];
  if (local && localCompression !== 'none' && !candidates.some((c) => c.digest === local)) {
    candidates.push({ digest: local, mediaType: localCompression === 'zstd' ? LAYER_MEDIA.ociZstd : LAYER_MEDIA.dockerGzip, size: await store.content.size(local), repository: '' });
  }
  const media = (c: BlobSighting) => (c.mediaType.endsWith('+zstd') ? LAYER_MEDIA.ociZstd : LAYER_MEDIA.dockerGzip);
  const record = (c: { digest: string; mediaType: string; size: number }) => o.metadata.add(diffId, { ...c, repository: repo.name });

  // 1. Already there?
  for (const c of uniqueByDigest(candidates).slice(0, 4)) {
    if (await blobExists(client, c.digest)) {
      emit({ status: 'Layer already exists', progressDetail: {}, id });
      const d = { mediaType: media(c), digest: c.digest, size: c.size };
      await record(d);
      return d;
    }
  }
  // 2. Mountable from another repository of this registry?
  for (const c of candidates) {
    if (!c.repository) continue;
    const src = parseNormalizedNamed(c.repository);
    if (src.domain !== repo.domain || src.path === repo.path) continue;
    const res = await client.request('POST', `blobs/uploads/?mount=${encodeURIComponent(c.digest)}&from=${encodeURIComponent(src.path)}`, { accept: [202] });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status === 201) {
      emit({ status: `Mounted from ${src.path}`, progressDetail: {}, id });
      const d = { mediaType: media(c), digest: c.digest, size: c.size };
      await record(d);
      return d;
    }
    // 202: the registry opened an upload instead; drop it and carry on.
    const loc = res.headers.get('location');
    if (loc) await client.request('DELETE', loc, { accept: [404, 405] }).then((r) => r.arrayBuffer(), () => undefined);
  }
  // 3. Upload.
  if (local && localCompression !== 'none') {
    const size = await store.content.size(local);
    await uploadMonolithic(client, local, createReadStream(store.content.path(local)), size, id, emit);
    emit({ status: 'Pushed', progressDetail: {}, id });
    const d = { mediaType: localCompression === 'zstd' ? LAYER_MEDIA.ociZstd : LAYER_MEDIA.dockerGzip, digest: local, size };
    await record(d);
    return d;
  }
  const source = local ? createReadStream(store.content.path(local)) : undefined;
  if (!source) throw new SystemError(`layer ${diffId} has no stored content to push`);
  const { digest, size } = await uploadCompressed(client, source, await store.content.size(local as string), o.chunkSize ?? DEFAULT_CHUNK, id, emit);
  emit({ status: 'Pushed', progressDetail: {}, id });
  const d = { mediaType: LAYER_MEDIA.dockerGzip, digest, size };
  await record(d);
  return d;
}

function uniqueByDigest(list: BlobSighting[]): BlobSighting[] {
  const seen = new Set<string>();
  return list.filter((c) => !seen.has(c.digest) && seen.add(c.digest));
}

async function startUpload(client: RegistryClient): Promise<string> {
  const res = await client.request('POST', 'blobs/uploads/', { headers: { 'Content-Length': '0' } });
  await res.arrayBuffer().catch(() => undefined);
  const loc = res.headers.get('location');
  if (!loc) throw new SystemError('registry opened an upload without a Location');
  return loc;
}

function withDigest(location: string, digest: string): string {
  return location + (location.includes('?') ? '&' : '?') + 'digest=' + encodeURIComponent(digest);
}

/** Emits "Pushing" with a bar as bytes go by. */
function counting(total: number, id: string, emit: Emit): Transform {
  let current = 0;
  let last = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS || current === total) {
        last = now;
        emit({ status: 'Pushing', progressDetail: { current, total }, progress: progressBar(current, total), id });
      }
      cb(null, chunk);
    },
  });
}

async function uploadBuffer(client: RegistryClient, digest: string, bytes: Buffer): Promise<void> {
  const loc = await startUpload(client);
  const res = await client.request('PUT', withDigest(loc, digest), { headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
  await res.arrayBuffer().catch(() => undefined);
}

/** POST, then one PUT with the whole blob. */
async function uploadMonolithic(client: RegistryClient, digest: string, input: Readable, size: number, id: string, emit: Emit): Promise<void> {
  const loc = await startUpload(client);
  const body = input.pipe(counting(size, id, emit));
  input.on('error', (err) => body.destroy(err));
  try {
    const res = await client.request('PUT', withDigest(loc, digest), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) }, body,
    });
    await res.arrayBuffer().catch(() => undefined);
  } finally {
    input.destroy();
  }
}

/**
 * POST, PATCHes of `chunkSize` bytes of the gzip'd layer (each with its
 * Content-Range, following the Location each answer gives), then the closing
 * PUT with the digest computed on the way.
 */
async function uploadCompressed(
  client: RegistryClient, input: Readable, contentSize: number, chunkSize: number, id: string, emit: Emit,
): Promise<{ digest: string; size: number }> {
  let loc = await startUpload(client);
  const hash = createHash('sha256');
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const gz = input.pipe(counting(contentSize, id, emit)).pipe(process.getBuiltinModule('node:zlib').createGzip());
  input.on('error', (err) => gz.destroy(err));
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const res = await client.request('PATCH', loc, {
      headers: {
        'Content-Type': 'application/octet-stream', 'Content-Length': String(chunk.length),
        'Content-Range': `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
    });
    await res.arrayBuffer().catch(() => undefined);
    offset += chunk.length;
    loc = res.headers.get('location') ?? loc;
  };
  try {
    for await (const c of gz as AsyncIterable<Buffer>) {
      hash.update(c);
      pending.push(c);
      pendingBytes += c.length;
      if (pendingBytes >= chunkSize) await flush();
    }
    await flush();
  } finally {
    input.destroy();
  }
  const digest = 'sha256:' + hash.digest('hex');
  const res = await client.request('PUT', withDigest(loc, digest), { headers: { 'Content-Length': '0' } });
  await res.arrayBuffer().catch(() => undefined);
  return { digest, size: offset };
}
