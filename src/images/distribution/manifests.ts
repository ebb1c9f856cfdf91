// Image manifests as registries serve them: Docker schema2 and OCI image
// manifests, and the lists/indexes over them, from which the host's platform
// is picked. Every manifest is verified against the digest it was asked by.
import { InvalidArgumentError, NotFoundError } from '../../errors.ts';
import { sha256 } from '../content.ts';
import type { RegistryClient } from './client.ts';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, type Descriptor, type Platform } from '../../api/oci.ts';

export const MEDIA = {
  dockerManifest: DOCKER_MANIFEST,
  dockerList: DOCKER_LIST,
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: OCI_MANIFEST,
  ociIndex: OCI_INDEX,
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

const ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');
const MAX_MANIFEST = 4 << 20;

const LAYER_TYPES = new Set([
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);


export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function isDescriptor(d: unknown): d is Descriptor {
  if (!d || typeof d !== 'object') return false;
  const o = d as Record<string, unknown>;
  return typeof o.digest === 'string' && DIGEST_RE.test(o.digest) && typeof o.size === 'number' && o.size >= 0;
}

/** GET a manifest by tag or digest; its digest is computed from the bytes and must match a digest reference. */
export async function fetchManifest(client: RegistryClient, reference: string): Promise<FetchedManifest> {
  const res = await client.get(`manifests/${reference}`, { Accept: ACCEPT });
  const len = Number(res.headers.get('content-length') ?? 0);
  if (len > MAX_MANIFEST) throw new InvalidArgumentError(`manifest too big: ${len} bytes`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > MAX_MANIFEST) throw new InvalidArgumentError(`manifest too big: ${bytes.length} bytes`);
  const digest = sha256(bytes);
  if (reference.includes(':') && reference !== digest) {
    throw new InvalidArgumentError(`manifest verification failed for digest ${reference}: got ${digest}`);
  }
  let mediaType = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  try {
    const inner = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof inner === 'string' && inner) mediaType = inner;
    else if (!mediaType || mediaType === 'application/json') mediaType = sniff(bytes);
  } catch {
    throw new InvalidArgumentError(`invalid manifest for ${reference}: not JSON`);
  }
  return { digest, mediaType, bytes };
}

/** An OCI manifest without mediaType: an index has `manifests`, an image `config`. */
function sniff(bytes: Buffer): string {
  const o = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  if (Array.isArray(o.manifests)) return MEDIA.ociIndex;
  if (o.config) return MEDIA.ociManifest;
  if (o.schemaVersion === 1) return MEDIA.dockerSchema1;
  return '';
}

export function isIndex(m: FetchedManifest): boolean {
  return m.mediaType === MEDIA.ociIndex || m.mediaType === MEDIA.dockerList;
}

export function parseIndex(m: FetchedManifest): Descriptor[] {
  const o = JSON.parse(m.bytes.toString('utf8')) as { manifests?: unknown };
  if (!Array.isArray(o.manifests)) throw new InvalidArgumentError('invalid manifest list: no manifests');
  return o.manifests.filter(isDescriptor);
}

export function parseImageManifest(m: FetchedManifest): ImageManifest {
  if (m.mediaType === MEDIA.dockerSchema1 || m.mediaType === MEDIA.dockerSchema1Signed) {
    throw new InvalidArgumentError('Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported: the image must be pushed again in a newer format');
  }
  if (m.mediaType !== MEDIA.ociManifest && m.mediaType !== MEDIA.dockerManifest) {
    throw new InvalidArgumentError(`unsupported manifest media type: ${m.mediaType || '(none)'}`);
  }
  const o = JSON.parse(m.bytes.toString('utf8')) as { config?: unknown; layers?: unknown };
  if (!isDescriptor(o.config)) throw new InvalidArgumentError('invalid manifest: no config descriptor');
  if (!Array.isArray(o.layers) || !o.layers.every(isDescriptor)) throw new InvalidArgumentError('invalid manifest: bad layer descriptors');
  const config = o.config;
  if (config.mediaType && config.mediaType !== MEDIA.dockerConfig && config.mediaType !== MEDIA.ociConfig) {
    throw new InvalidArgumentError(`encountered unknown media type ${config.mediaType}: this is not a container image`);
  }
  const layers = o.layers as Descriptor[];
  for (const l of layers) {
    if (l.mediaType && !LAYER_TYPES.has(l.mediaType)) throw new InvalidArgumentError(`unsupported layer media type: ${l.mediaType}`);
  }
  return { mediaType: m.mediaType, config, layers };
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.toLowerCase().split('/');
  if (!os || !architecture) throw new InvalidArgumentError(`invalid platform: ${s}: expected os/arch[/variant]`);
  return { os, architecture: architecture === 'x86_64' ? 'amd64' : architecture, variant };
}

/**
 * Picks the entry for `want` from a list: exact os/arch, then the variant if
 * one is asked for (else an entry without one first). Attestation manifests
 * (platform unknown/unknown) never match.
 */
export function selectPlatform(entries: Descriptor[], want: Platform): Descriptor {
  const matches = entries.filter((d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture
    && (want.variant === undefined || d.platform.variant === want.variant));
  matches.sort((a, b) => Number(a.platform?.variant !== undefined) - Number(b.platform?.variant !== undefined));
  if (!matches[0]) throw new NotFoundError(`no matching manifest for ${platformString(want)} in the manifest list entries`);
  return matches[0];
}
