// The grammar of a container's mounts, after moby's volume/mounts linux
// parser: `-v` specs (HostConfig.Binds), `--mount` entries (HostConfig.Mounts),
// `--volumes-from` specs and tmpfs options, each checked with dockerd's
// wording. Nothing here touches a volume; only a --mount bind's source is
// looked at (it must exist).
import { lstatSync } from 'node:fs';
import { posix } from 'node:path';
import { PROPAGATIONS, type MountSpec } from '../api/mount.ts';
import { InvalidArgumentError } from '../errors.ts';

/** A resolved mount of a container, persisted with its record (dockerd's MountPoint). */
export interface MountPointRecord {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** The volume's name ('' for binds and tmpfs). */
  Name: string;
  /** The host path: a bind's source, or the volume's mountpoint once known. */
  Source: string;
  Destination: string;
  Driver: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Copy the image's content at the destination into the volume when it is empty. */
  CopyData: boolean;
  /** What the user asked for (Source '' = an anonymous volume). */
  Spec: MountSpec;
  /** A --mount bind: its source must exist, it is never created. */
  SkipMountpointCreation?: boolean;
}

const RW_MODES = new Set(['rw', 'ro']);
const LABEL_MODES = new Set(['z', 'Z']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated']);
const PROPAGATION_MODES = new Set<string>(PROPAGATIONS);
const DEFAULT_PROPAGATION = 'rprivate';

export const invalidSpec = (raw: string): string => `invalid volume specification: '${raw}'`;
const invalidMode = (mode: string) => new InvalidArgumentError(`invalid mode: ${mode}`);

function mountConfigError(m: MountSpec, msg: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid mount config for type "${m.Type ?? ''}": ${msg}`);
}

/** linuxValidMountMode: each kind of mode at most once, nothing unknown. */
export function validMountMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = { rw: 0, label: 0, prop: 0, copy: 0, consistency: 0 };
  for (const o of mode.split(',')) {
    if (RW_MODES.has(o)) counts.rw++;
    else if (LABEL_MODES.has(o)) counts.label++;
    else if (PROPAGATION_MODES.has(o)) counts.prop++;
    else if (o === 'nocopy') counts.copy++;
    else if (CONSISTENCY_MODES.has(o)) counts.consistency++;
    else return false;
  }
  return Object.values(counts).every((n) => n <= 1);
}

function readWrite(mode: string): boolean {
  return validMountMode(mode) && !mode.split(',').includes('ro');
}

function propagationOf(mode: string): string | undefined {
  return mode.split(',').find((o) => PROPAGATION_MODES.has(o));
}

function validateAbsolute(p: string): string | undefined {
  return posix.isAbsolute(p.replace(/\\/g, '/')) ? undefined : `invalid mount path: '${p.replace(/\\/g, '/')}' mount path must be absolute`;
}

function isRoot(p: string): boolean {
  return posix.normalize(p.replace(/\\/g, '/')) === '/';
}

/** filepath.IsLocal: relative, not empty, never climbing out. */
function isLocal(p: string): boolean {
  if (p === '' || posix.isAbsolute(p)) return false;
  const n = posix.normalize(p);
  return n !== '..' && !n.startsWith('../');
}

/** ValidateMountConfig: the checks dockerd makes of every HostConfig.Mounts entry. */
export function validateMountConfig(m: MountSpec, checkBindSource = true): void {
  const extra = (f: string) => mountConfigError(m, `field ${f} must not be specified`);
  if (m.Type !== 'bind' && m.BindOptions) throw extra('BindOptions');
  if (m.Type !== 'volume' && m.VolumeOptions) throw extra('VolumeOptions');
  if (m.Type !== 'image' && m.ImageOptions) throw extra('ImageOptions');
  if (m.Type !== 'tmpfs' && m.TmpfsOptions) throw extra('TmpfsOptions');
  if (m.Type !== 'cluster' && m.ClusterOptions) throw extra('ClusterOptions');
  if (!m.Target) throw mountConfigError(m, 'field Target must not be empty');
  if (isRoot(m.Target)) throw mountConfigError(m, "invalid specification: destination can't be '/'");
  const abs = validateAbsolute(m.Target);
  if (abs) throw mountConfigError(m, abs);
  switch (m.Type) {
    case 'bind': {
      if (!m.Source) throw mountConfigError(m, 'field Source must not be empty');
      const prop = m.BindOptions?.Propagation;
      if (prop && !PROPAGATION_MODES.has(prop)) throw mountConfigError(m, `invalid propagation mode: ${prop}`);
      const srcAbs = validateAbsolute(m.Source);
      if (srcAbs) throw mountConfigError(m, srcAbs);
      if (checkBindSource && !m.BindOptions?.CreateMountpoint && !exists(m, m.Source)) {
        throw mountConfigError(m, `bind source path does not exist: ${m.Source}`);
      }
      break;
    }
    case 'volume': {
      const sub = m.VolumeOptions?.Subpath;
      if (sub) {
        if (!m.Source) throw mountConfigError(m, 'must not set Subpath when using anonymous volumes');
        if (!isLocal(sub)) throw mountConfigError(m, 'subpath must be a relative path within the volume');
      }
      break;
    }
    case 'tmpfs':
      if (m.Source) throw extra('Source');
      tmpfsData(m);
      break;
    case 'image':
      throw mountConfigError(m, 'image mounts are not supported by berth');
    default:
      throw mountConfigError(m, 'mount type unknown');
  }
}

function exists(m: MountSpec, p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw mountConfigError(m, (err as Error).message);
  }
}

/** ConvertTmpfsOptions: a --mount tmpfs's options as mount(8) data. */
export function tmpfsData(m: MountSpec): string {
  const raw: string[] = [];
  const o = m.TmpfsOptions;
  if (m.ReadOnly) raw.push('ro');
  if (o?.Mode) raw.push(`mode=${o.Mode.toString(8)}`);
  if (o?.SizeBytes) {
    let size = o.SizeBytes;
    let suffix = '';
    for (const [s, d] of [['g', 2 ** 30], ['m', 2 ** 20], ['k', 2 ** 10]] as const) {
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    }
    raw.push(`size=${size}${suffix}`);
  }
  for (const opt of o?.Options ?? []) {
    if (opt.length < 1 || opt.length > 2) throw mountConfigError(m, 'invalid option array length');
    if (opt[0] !== 'exec' && opt[0] !== 'noexec') throw mountConfigError(m, `invalid option: ${opt[0]}`);
    raw.push(opt.length === 1 ? opt[0] : `${opt[0]}=${opt[1]}`);
  }
  return raw.join(',');
}

/** ValidateTmpfsMountDestination, for HostConfig.Tmpfs keys. */
export function validateTmpfsDestination(dest: string): void {
  if (isRoot(dest)) throw new InvalidArgumentError("invalid specification: destination can't be '/'");
  const abs = validateAbsolute(dest);
  if (abs) throw new InvalidArgumentError(abs);
}

/** A mount point from a checked spec (parseMountSpec). */
function mountPointOf(m: MountSpec): MountPointRecord {
  const mp: MountPointRecord = {
    Type: m.Type as MountPointRecord['Type'], Name: '', Source: '', Destination: posix.normalize(m.Target ?? ''),
    Driver: '', Mode: '', RW: !m.ReadOnly, Propagation: '', CopyData: false, Spec: m,
  };
  if (mp.Destination.length > 1) mp.Destination = mp.Destination.replace(/\/+$/, '');
  if (m.Type === 'volume') {
    mp.Name = m.Source ?? '';
    mp.CopyData = !m.VolumeOptions?.NoCopy;
    mp.Driver = m.VolumeOptions?.DriverConfig?.Name ?? '';
  } else if (m.Type === 'bind') {
    mp.Source = posix.normalize(m.Source ?? '');
    if (mp.Source.length > 1) mp.Source = mp.Source.replace(/\/+$/, '');
    mp.Propagation = m.BindOptions?.Propagation || DEFAULT_PROPAGATION;
  }
  return mp;
}

/** ParseMountSpec: a HostConfig.Mounts entry, checked, as a mount point. */
export function parseMountSpec(m: MountSpec): MountPointRecord {
  validateMountConfig(m);
  return mountPointOf(m);
}

/** ParseMountRaw: one `-v` spec (`[src:]dst[:mode]`); a source that is not absolute names a volume. */
export function parseBind(raw: string, volumeDriver: string): MountPointRecord {
  const arr = splitN(raw, ':', 4);
  if (arr[0] === '') throw new InvalidArgumentError(invalidSpec(raw));
  const spec: MountSpec = {};
  let mode = '';
  if (arr.length === 1) {
    spec.Target = arr[0];
  } else if (arr.length === 2) {
    // `/foo:rw` is a destination and a mode: a volume cannot have one.
    if (validMountMode(arr[1])) throw new InvalidArgumentError(invalidSpec(raw));
    [spec.Source, spec.Target] = arr;
  } else if (arr.length === 3) {
    [spec.Source, spec.Target, mode] = arr;
  } else {
    throw new InvalidArgumentError(invalidSpec(raw));
  }
  if (!validMountMode(mode)) throw invalidMode(mode);
  spec.Type = posix.isAbsolute(spec.Source ?? '') ? 'bind' : 'volume';
  spec.ReadOnly = !readWrite(mode);
  if (volumeDriver && spec.Type === 'volume') spec.VolumeOptions = { DriverConfig: { Name: volumeDriver } };
  if (mode.split(',').includes('nocopy')) spec.VolumeOptions = { ...(spec.VolumeOptions ?? {}), NoCopy: true };
  const prop = propagationOf(mode);
  if (prop) spec.BindOptions = { Propagation: prop };
  try {
    validateMountConfig(spec, false);
  } catch (err) {
    throw new InvalidArgumentError(`${invalidSpec(raw)}: ${(err as Error).message}`);
  }
  const mp = mountPointOf(spec);
  mp.Mode = mode;
  return mp;
}

/** ParseVolumesFrom: `container[:mode]`, a mode with neither propagation nor copy mode. */
export function parseVolumesFrom(spec: string): { id: string; mode: string } {
  if (spec === '') throw new InvalidArgumentError('volumes-from specification cannot be an empty string');
  const i = spec.indexOf(':');
  const id = i < 0 ? spec : spec.slice(0, i);
  const mode = i < 0 ? '' : spec.slice(i + 1);
  if (mode === '') return { id, mode: 'rw' };
  if (!validMountMode(mode) || propagationOf(mode) || mode.split(',').includes('nocopy')) throw invalidMode(mode);
  return { id, mode };
}

export function modeIsReadWrite(mode: string): boolean {
  return readWrite(mode);
}

/**
 * validateBindDaemonRoot: a bind of the daemon's data root, or of a directory
 * above it, gets rslave propagation unless the user chose rslave or rshared
 * (anything else is refused), so the daemon's own mounts reach it.
 */
export function bindDaemonRootPropagation(m: MountSpec, dataRoot: string): string | undefined {
  if (m.Type !== 'bind') return undefined;
  const src = m.Source ?? '';
  if (!src.startsWith(dataRoot) && !dataRoot.startsWith(src)) return undefined;
  const prop = m.BindOptions?.Propagation ?? '';
  if (prop === '') return 'rslave';
  if (prop === 'rslave' || prop === 'rshared') return undefined;
  throw new InvalidArgumentError(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: "${dataRoot}", bind mount source: "${src}", propagation: "${prop}"`);
}

function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}
