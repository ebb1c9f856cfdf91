// A container's mounts as the Engine API carries them: the request's
// `HostConfig.Mounts` entries (Go's mount.Mount) and the `Mounts` that
// inspect shows (Go's container.MountPoint). The CLI builds the first, the
// daemon resolves both.

export type MountType = 'bind' | 'volume' | 'tmpfs' | 'image' | 'npipe' | 'cluster';

export const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'] as const;

/** One `HostConfig.Mounts` entry (`--mount`). */
export interface MountSpec {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: {
    Propagation?: string;
    NonRecursive?: boolean;
    CreateMountpoint?: boolean;
    ReadOnlyNonRecursive?: boolean;
    ReadOnlyForceRecursive?: boolean;
  } | null;
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string> | null;
    Subpath?: string;
    DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null;
  } | null;
  TmpfsOptions?: {
    SizeBytes?: number;
    Mode?: number;
    Options?: string[][] | null;
  } | null;
  ImageOptions?: { Subpath?: string } | null;
  ClusterOptions?: Record<string, unknown> | null;
}

/** A mount as inspect shows it (`Mounts` of GET /containers/{id}/json); Source is the host path. */
export interface MountPoint {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}
