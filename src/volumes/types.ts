// What the rest of the engine sees of volumes: the API's Volume shape and the
// service contract containers code against. The volume store (drivers, the
// `local` driver, metadata) lives behind it in this folder.

/** A volume as the Engine API shows it (GET /volumes/{name}). */
export interface Volume {
  Name: string;
  Driver: string;
  /** The host directory the volume's data is in (`<data-root>/volumes/<name>/_data` for `local`). */
  Mountpoint: string;
  /** RFC 3339, second precision, local offset — as dockerd's local driver. */
  CreatedAt: string;
  Status?: Record<string, unknown>;
  Labels: Record<string, string>;
  Scope: 'local' | 'global';
  Options: Record<string, string>;
  /** Only in GET /system/df. */
  UsageData?: { Size: number; RefCount: number } | null;
}

/** POST /volumes/create's body (and what a container's mount asks for). */
export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/**
 * What the container service needs of volumes. References are held by
 * containers from their create to their removal (a referenced volume cannot be
 * removed: 409); mounts are counted from start to stop (a `local` volume with
 * `type`/`device`/`o` options is mounted on the first and unmounted on the last).
 */
export interface VolumeMounts {
  /**
   * The named volume, created with these options if it does not exist (no name:
   * a new anonymous volume with a 64-hex name and the label
   * `com.docker.volume.anonymous`), referenced by the container.
   */
  ensure(req: VolumeCreateRequest, containerId: string): Promise<Volume>;
  /** Drops the container's reference (container removed). Idempotent. */
  release(name: string, containerId: string): Promise<void>;
  /**
   * Re-takes a reference after a daemon restart, from the container's record.
   * For a container still running, call `mount` as well: a mount that
   * outlived the daemon is reused (not made twice) and counted again.
   */
  restoreReference(name: string, containerId: string): void;
  /**
   * Mounts the volume for a starting container; returns the host path to bind.
   * Counted once per container however often it is called. `point` fills the
   * `mount` event's attributes as dockerd's (destination, read/write, propagation).
   */
  mount(name: string, containerId: string, point?: { destination: string; rw: boolean; propagation: string }): Promise<string>;
  /** The container stopped. Idempotent. */
  unmount(name: string, containerId: string): Promise<void>;
  /** Removes a volume no container references (`rm -v` of its anonymous volumes). */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
}
