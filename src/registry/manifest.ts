// Parsing and validation of pushed manifests. The registry stores the exact
// bytes it was given; this module only works out what they reference so the
// push can be refused when a blob or child manifest is missing, and so GC and
// the referrers API know the graph.
import { RegistryError } from './errors.ts';
import { parseDigest, type Digest } from './names.ts';

import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, type Descriptor } from '../api/oci.ts';
const DOCKER_SCHEMA1 = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];
/** Layers that live elsewhere (Windows base layers); the registry never holds them. */
const FOREIGN_LAYERS = [
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
];

export const MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Blobs that must exist in the repository (config and layers). */
  blobs: Digest[];
  /** Child manifests that must exist in the repository (indexes only). */
  manifests: Digest[];
  subject?: Descriptor;
  /** What the referrers API reports for this manifest. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string): RegistryError {
  return new RegistryError(400, 'MANIFEST_INVALID', message);
}

function descriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${where}: expected a descriptor object`);
  const o = v as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || o.mediaType === '') throw invalid(`${where}.mediaType: required`);
  if (typeof o.digest !== 'string' || !parseDigest(o.digest)) throw invalid(`${where}.digest: invalid digest`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw invalid(`${where}.size: expected a non-negative integer`);
  const d: Descriptor = { mediaType: o.mediaType, digest: o.digest, size: o.size };
  if (typeof o.artifactType === 'string') d.artifactType = o.artifactType;
  if (isStringMap(o.annotations)) d.annotations = o.annotations;
  else if (o.annotations !== undefined) throw invalid(`${where}.annotations: expected a map of strings`);
  return d;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** Strips parameters ("; charset=utf-8") and case from a Content-Type header. */
export function bareType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('manifest must be a JSON object');
  const m = doc as Record<string, unknown>;
  const header = bareType(contentType);
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (m.mediaType !== undefined && declared === undefined) throw invalid('mediaType must be a string');
  if (DOCKER_SCHEMA1.includes(header) || (declared && DOCKER_SCHEMA1.includes(declared)) || m.schemaVersion === 1) {
    throw invalid('Docker schema 1 manifests are not supported; push a schema 2 or OCI manifest');
  }
  if (m.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  // The type comes from the body's mediaType, else from Content-Type, else from the shape.
  const headerIsManifestType = MANIFEST_TYPES.includes(header);
  if (declared && headerIsManifestType && declared !== header) {
    throw invalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  let mediaType = declared ?? (headerIsManifestType ? header : undefined);
  if (!mediaType) mediaType = Array.isArray(m.manifests) ? OCI_INDEX : OCI_MANIFEST;
  if (!MANIFEST_TYPES.includes(mediaType)) throw invalid(`unsupported manifest media type ${mediaType}`);

  const isIndex = mediaType === OCI_INDEX || mediaType === DOCKER_LIST;
  const out: ParsedManifest = { mediaType, isIndex, blobs: [], manifests: [] };
  if (m.subject !== undefined) out.subject = descriptor(m.subject, 'subject');
  if (isStringMap(m.annotations)) out.annotations = m.annotations;
  else if (m.annotations !== undefined) throw invalid('annotations: expected a map of strings');
  if (m.artifactType !== undefined && typeof m.artifactType !== 'string') throw invalid('artifactType must be a string');
  const artifactType = typeof m.artifactType === 'string' && m.artifactType !== '' ? m.artifactType : undefined;

  if (isIndex) {
    if (!Array.isArray(m.manifests)) throw invalid('manifests: expected a list of descriptors');
    m.manifests.forEach((d, i) => out.manifests.push(parseDigest(descriptor(d, `manifests[${i}]`).digest) as Digest));
    out.artifactType = artifactType;
  } else {
    const config = descriptor(m.config, 'config');
    out.blobs.push(parseDigest(config.digest) as Digest);
    if (!Array.isArray(m.layers)) throw invalid('layers: expected a list of descriptors');
    m.layers.forEach((raw, i) => {
      const d = descriptor(raw, `layers[${i}]`);
      const urls = (raw as Record<string, unknown>).urls;
      if (FOREIGN_LAYERS.includes(d.mediaType) && Array.isArray(urls) && urls.length > 0) return;
      out.blobs.push(parseDigest(d.digest) as Digest);
    });
    out.artifactType = artifactType ?? config.mediaType;
  }
  return out;
}
