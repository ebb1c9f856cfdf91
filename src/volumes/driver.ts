// The volume driver contract, after containerd's snapshotter: a driver keeps
// named volumes (their data, options and labels) and mounts them for a
// reference. The service above it holds the references of containers, the
// events and the API's rules; a driver knows nothing of containers.

/** One volume as its driver knows it. */
export interface DriverVolume {
  name: string;
  /** The host directory a container binds (`<root>/volumes/<name>/_data` for `local`). */
  mountpoint: string;
  createdAt: Date;
  /** The driver options the volume was created with (`type`, `device`, `o`, …). */
  options: Record<string, string>;
  labels: Record<string, string>;
}

export interface CreateVolumeOptions {
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export interface VolumeDriver {
  /** As `Driver` in the API (`local`). */
  readonly name: string;
  readonly scope: 'local' | 'global';
  /** Loads the volumes kept, collecting what a crash left half made. */
  init(): Promise<void>;
  /**
   * Makes the volume; an existing one of that name is returned as it is
   * (dockerd's drivers are idempotent on create). Bad names and options are
   * InvalidArgumentErrors, with nothing left behind.
   */
  create(name: string, opts?: CreateVolumeOptions): Promise<DriverVolume>;
  get(name: string): DriverVolume | undefined;
  list(): DriverVolume[];
  /** Deletes the volume and its data; refused while a reference has it mounted. */
  remove(name: string): Promise<void>;
  /** Makes the volume's data available for `ref`; returns the host path. Idempotent per ref. */
  mount(name: string, ref: string): Promise<string>;
  /** Drops `ref`'s mount; the last one out unmounts. Idempotent. */
  unmount(name: string, ref: string): Promise<void>;
  /** The references holding the volume mounted. */
  mounts(name: string): string[];
  /** Bytes of data in the volume (hard links counted once); -1 if unknown. */
  usage(name: string): Promise<number>;
}
