// The volume service: the API's rules over a driver (dockerd's VolumesService
// and VolumeStore). It holds which containers reference each volume (a
// referenced volume cannot be removed), publishes the volume events, and
// answers the list and prune filters. Only the `local` driver exists; any
// other name is a plugin that is not installed, as on a dockerd without it.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConflictError, EngineError, InvalidArgumentError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import { labelsMatch } from '../api/filters.ts';
import type { DriverVolume, VolumeDriver } from './driver.ts';
import { KeyedLock } from './keyed-lock.ts';
import { LocalDriver } from './local.ts';
import type { Volume, VolumeCreateRequest, VolumeMounts } from './types.ts';

/** The label dockerd puts on a volume created without a name. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export type VolumeFilters = Record<string, string[]>;

export interface PruneReport {
  VolumesDeleted: string[];
  SpaceReclaimed: number;
}

/** Where a volume is mounted in a container, for the `mount` event's attributes. */
export interface MountPointInfo {
  destination: string;
  rw: boolean;
  propagation: string;
}

const LIST_FILTERS = ['dangling', 'name', 'driver', 'label'];
const PRUNE_FILTERS = ['label', 'label!', 'all'];

export class VolumeService implements VolumeMounts {
  readonly driver: VolumeDriver;
  private readonly events: EventBus;
  /** Volume name → ids of the containers referencing it. */
  private readonly refs = new Map<string, Set<string>>();
  private pruning = false;
  /** Create-and-reference and remove of one name never interleave. */
  private readonly lock = new KeyedLock();

  /** `dataRoot`: the daemon's; volumes live in `<dataRoot>/volumes`. `owner`: of new volumes' data (userns-remap's root). */
  constructor(dataRoot: string, events: EventBus, owner?: { uid: number; gid: number }) {
    this.driver = new LocalDriver(join(dataRoot, 'volumes'), owner);
    this.events = events;
  }

  /** Loads the store; before the containers restore (they re-take their references). */
  async init(): Promise<void> {
    await this.driver.init();
  }

  /** POST /volumes/create: a new volume, or the existing one of that name (no reference taken). */
  async create(req: VolumeCreateRequest): Promise<Volume> {
    const { name, labels } = nameOf(req);
    return this.toApi(await this.lock.run(name, () => this.createVolume(name, labels, req)));
  }

  /** GET /volumes/{name}. */
  inspect(name: string): Volume {
    return this.toApi(this.get(name));
  }

  /** GET /volumes: dockerd's filters dangling, driver, label, name. */
  list(filters: VolumeFilters = {}): Volume[] {
    checkKeys(filters, LIST_FILTERS);
    const match = this.matcher(filters);
    return this.driver.list().filter(match).sort(byName).map((v) => this.toApi(v));
  }

  /** The ids of the containers referencing the volume. */
  references(name: string): string[] {
    return [...(this.refs.get(name) ?? [])];
  }

  /**
   * DELETE /volumes/{name}: refused while a container references it (409,
   * dockerd's "remove NAME: volume is in use - [ids]"), force or not; `force`
   * makes a missing volume a success, as dockerd's purge-on-error.
   */
  remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.lock.run(name, () => this.removeVolume(name, opts));
  }

  private async removeVolume(name: string, opts: { force?: boolean }): Promise<void> {
    const v = this.driver.get(name);
    if (!v) {
      if (opts.force) return;
      throw noSuchVolume(name);
    }
    const refs = this.references(name);
    if (refs.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${refs.join(', ')}]`);
    try {
      await this.driver.remove(name);
    } catch (err) {
      throw rewrap(err, `remove ${name}: `);
    }
    this.refs.delete(name);
    this.events.publish('volume', 'destroy', name, { driver: this.driver.name });
  }

  /**
   * POST /volumes/prune: unreferenced `local` volumes without mount options;
   * only anonymous ones unless `all=true` (API 1.42+, as Docker 23).
   */
  async prune(filters: VolumeFilters = {}): Promise<PruneReport> {
    checkKeys(filters, PRUNE_FILTERS);
    if (this.pruning) throw new ConflictError('a prune operation is already running');
    this.pruning = true;
    try {
      const all = filters.all ?? [];
      if (all.length > 1) throw new InvalidArgumentError(`invalid filter 'all=${all.join(',')}': only one value is expected`);
      const label = [...(filters.label ?? [])];
      if (all.length === 0 || !parseBool(all[0], `invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(all[0])}: invalid syntax`)) label.push(ANONYMOUS_LABEL);
      const report: PruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 };
      for (const v of this.driver.list()) {
        if (this.references(v.name).length > 0 || Object.keys(v.options).length > 0) continue;
        if (!labelsMatch(v.labels, label, filters['label!'] ?? [])) continue;
        const size = await this.driver.usage(v.name);
        try {
          await this.remove(v.name);
        } catch {
          continue; // taken by a container meanwhile: dockerd skips it too
        }
        report.SpaceReclaimed += Math.max(size, 0);
        report.VolumesDeleted.push(v.name);
      }
      this.events.publish('volume', 'prune', '', { reclaimed: String(report.SpaceReclaimed) });
      return report;
    } finally {
      this.pruning = false;
    }
  }

  /**
   * GET /system/df's volumes: `local` ones without mount options (their data
   * is not on this disk otherwise, as dockerd skips them), with their size
   * (-1 when it cannot be read) and how many containers reference them.
   */
  async usage(): Promise<Volume[]> {
    const out: Volume[] = [];
    for (const v of this.driver.list().sort(byName)) {
      if (Object.keys(v.options).length > 0) continue;
      out.push({ ...this.toApi(v), UsageData: { Size: await this.driver.usage(v.name), RefCount: this.references(v.name).length } });
    }
    return out;
  }

  // ---- VolumeMounts: what containers use ----

  async ensure(req: VolumeCreateRequest, containerId: string): Promise<Volume> {
    const { name, labels } = nameOf(req);
    return this.lock.run(name, async () => {
      const v = await this.createVolume(name, labels, req);
      this.reference(v.name, containerId);
      return this.toApi(v);
    });
  }

  async release(name: string, containerId: string): Promise<void> {
    const set = this.refs.get(name);
    if (!set) return;
    set.delete(containerId);
    if (set.size === 0) this.refs.delete(name);
  }

  /**
   * After a daemon restart, from a container's record. For a container still
   * running, call `mount` too: a mount that outlived the daemon is reused,
   * not made twice, and counts that container again.
   */
  restoreReference(name: string, containerId: string): void {
    if (this.driver.get(name)) this.reference(name, containerId);
  }

  /** `point`: where it goes in the container, for the `mount` event (dockerd's attributes). */
  async mount(name: string, containerId: string, point?: MountPointInfo): Promise<string> {
    this.get(name);
    let path: string;
    try {
      path = await this.driver.mount(name, containerId);
    } catch (err) {
      throw rewrap(err, '');
    }
    const attrs: Record<string, string> = { driver: this.driver.name, container: containerId };
    if (point) Object.assign(attrs, { destination: point.destination, 'read/write': String(point.rw), propagation: point.propagation });
    this.events.publish('volume', 'mount', name, attrs);
    return path;
  }

  async unmount(name: string, containerId: string): Promise<void> {
    if (!this.driver.mounts(name).includes(containerId)) return;
    await this.driver.unmount(name, containerId);
    this.events.publish('volume', 'unmount', name, { driver: this.driver.name, container: containerId });
  }

  // ---- internals ----

  private get(name: string): DriverVolume {
    const v = this.driver.get(name);
    if (!v) throw noSuchVolume(name);
    return v;
  }

  private reference(name: string, containerId: string): void {
    let set = this.refs.get(name);
    if (!set) this.refs.set(name, (set = new Set()));
    set.add(containerId);
  }

  /** Under the name's lock. */
  private async createVolume(name: string, labels: Record<string, string>, req: VolumeCreateRequest): Promise<DriverVolume> {
    const driver = req.Driver || 'local';
    if (driver !== this.driver.name) {
      throw new NotFoundError(`create ${name}: error looking up volume plugin ${driver}: plugin ${JSON.stringify(driver)} not found`);
    }
    const existing = this.driver.get(name);
    if (existing) return existing;
    let v: DriverVolume;
    try {
      v = await this.driver.create(name, { options: req.DriverOpts ?? {}, labels });
    } catch (err) {
      throw rewrap(err, `create ${name}: `);
    }
    this.events.publish('volume', 'create', name, { driver: this.driver.name });
    return v;
  }

  private matcher(filters: VolumeFilters): (v: DriverVolume) => boolean {
    let dangling: boolean | undefined;
    if (filters.dangling) {
      const d = filters.dangling;
      if (d.length !== 1) throw new InvalidArgumentError(`invalid filter 'dangling${d.length ? '=' + d.join(',') : ''}'`);
      dangling = parseBool(d[0], `invalid filter 'dangling=${d[0]}'`);
    }
    const names = filters.name ?? [];
    return (v) => {
      if (filters.driver && !filters.driver.includes(this.driver.name)) return false;
      if (names.length && !names.some((n) => n === v.name || regexMatch(n, v.name))) return false;
      if (filters.label && !labelsMatch(v.labels, filters.label)) return false;
      if (dangling !== undefined && (this.references(v.name).length === 0) !== dangling) return false;
      return true;
    };
  }

  private toApi(v: DriverVolume): Volume {
    return {
      CreatedAt: rfc3339Local(v.createdAt),
      Driver: this.driver.name,
      Labels: { ...v.labels },
      Mountpoint: v.mountpoint,
      Name: v.name,
      Options: { ...v.options },
      Scope: this.driver.scope,
    };
  }
}

/** The name asked for, or a new anonymous one (64 hex, labelled as dockerd labels it). */
function nameOf(req: VolumeCreateRequest): { name: string; labels: Record<string, string> } {
  const labels = { ...(req.Labels ?? {}) };
  if (req.Name) return { name: req.Name, labels };
  labels[ANONYMOUS_LABEL] = '';
  return { name: randomBytes(32).toString('hex'), labels };
}

/** Byte order of names, the same whatever the daemon's locale. */
const byName = (a: DriverVolume, b: DriverVolume) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const noSuchVolume = (name: string) => new NotFoundError(`get ${name}: no such volume`);

function checkKeys(filters: VolumeFilters, allowed: string[]): void {
  for (const k of Object.keys(filters)) if (!allowed.includes(k)) throw new InvalidArgumentError(`invalid filter '${k}'`);
}

/** Go's strconv.ParseBool. */
function parseBool(v: string, message: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new InvalidArgumentError(message);
}

/** dockerd's name filter: an exact name or a regular expression found in it. */
function regexMatch(pattern: string, s: string): boolean {
  try {
    return new RegExp(pattern).test(s);
  } catch {
    return false;
  }
}

/** A driver's error with dockerd's "OP NAME: " prefix, of the same kind. */
function rewrap(err: unknown, prefix: string): unknown {
  if (!(err instanceof EngineError) || prefix === '') return err;
  const Kind = err.constructor as new (m: string, o?: { cause?: unknown }) => EngineError;
  return new Kind(prefix + err.message, { cause: err });
}

/** Go's time.RFC3339 of a local time: second precision, the local offset ("Z" in UTC). */
export function rfc3339Local(d: Date): string {
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000);
  const base = local.toISOString().slice(0, 19);
  if (off === 0) return base + 'Z';
  const a = Math.abs(off);
  return `${base}${off > 0 ? '+' : '-'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
