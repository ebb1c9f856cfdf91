// Wire and on-disk shapes shared by the image store and the API.
import type { ContainerConfig } from '../api/container.ts';


export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** OCI image config (with Docker's extra fields), stored as a blob; its digest is the image ID. */
export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  comment?: string;
  config?: ContainerConfig;
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
}

/** What the image store keeps per image beside the config blob. */
export interface ImageRecord {
  id: string;
  /** Chain ID of the top layer (empty for an image without layers). */
  topLayer: string;
  parent?: string;
  lastTagTime?: string;
  /** Registry digests this image was pulled/pushed as, `repo@sha256:…`. */
  repoDigests?: string[];
}
