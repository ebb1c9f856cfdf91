// The OCI image spec's shared shapes (image-spec descriptor.md), and the
// manifest media types every side speaks: pull, push, save/load, the
// registry and trust each read and write them, so they are declared once here.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A content descriptor: what a manifest or index says about a blob or child. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  platform?: Platform;
  artifactType?: string;
  annotations?: Record<string, string>;
}
