// The mount flags of `run`/`create` turned into the request as the docker CLI
// does: `--mount` csv (opts/mount.go) into HostConfig.Mounts, `-v` specs
// (internal/volumespec) into HostConfig.Binds or, without a source, into
// Config.Volumes, `--tmpfs` into HostConfig.Tmpfs. The daemon checks the rest.
import { resolve } from 'node:path';
import type { MountSpec } from '../api/mount.ts';
import { ramInBytes } from '../api/units.ts';
import { CliError } from './context.ts';

const flagError = (value: string, flag: string, msg: string) => new CliError(`invalid argument "${value}" for "${flag}" flag: ${msg}`, 125);

/** One csv record as Go's encoding/csv reads it (quoted fields, "" for a quote). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`parse error on line 1, column ${line.length + 1}: extraneous or missing " in quoted-field`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
    } else {
      const j = line.indexOf(',', i);
      field = line.slice(i, j < 0 ? line.length : j);
      if (field.includes('"')) throw new Error(`parse error on line 1, column ${i + field.indexOf('"') + 1}: bare " in non-quoted-field`);
      i = j < 0 ? line.length : j;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++;
  }
}

function parseBool(key: string, val: string, hasValue: boolean): boolean {
  if (!hasValue) return true;
  if (val === '1' || val === 'true') return true;
  if (val === '0' || val === 'false') return false;
  throw new Error(`invalid value for '${key}': invalid boolean value (${JSON.stringify(val)}): must be one of "true", "1", "false", or "0" (default "true")`);
}

function setOnMap(target: Record<string, string> | null | undefined, kv: string): Record<string, string> | null | undefined {
  const eq = kv.indexOf('=');
  const k = eq < 0 ? kv : kv.slice(0, eq);
  if (k === '') return target;
  return { ...(target ?? {}), [k]: eq < 0 ? '' : kv.slice(eq + 1) };
}

/** MountOpt.Set: one `--mount` value. */
export function parseMountFlag(value: string): MountSpec {
  try {
    return parseMount(value);
  } catch (err) {
    throw flagError(value, '--mount', (err as Error).message);
  }
}

function parseMount(raw: string): MountSpec {
  const value = raw.trim();
  if (value === '') throw new Error('value is empty');
  const m: MountSpec = { Type: 'volume' };
  const bind = () => (m.BindOptions ??= {});
  const vol = () => (m.VolumeOptions ??= {});
  const driver = () => (vol().DriverConfig ??= {});
  const tmpfs = () => (m.TmpfsOptions ??= {});
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const hasValue = eq >= 0;
    let key = hasValue ? field.slice(0, eq) : field;
    const val = hasValue ? field.slice(eq + 1) : '';
    if (key.trim() !== key) throw new Error(`invalid option '${key.trim()}' in '${field}': option should not have whitespace`);
    if (hasValue) {
      if (val.trim() === '') throw new Error(`invalid value for '${key}': value is empty`);
      if (val.trim() !== val) throw new Error(`invalid value for '${key}' in '${field}': value should not have whitespace`);
    }
    key = key.toLowerCase();
    if (!hasValue && !['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive', 'bind-create-src'].includes(key)) {
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    switch (key) {
      case 'type': m.Type = val.toLowerCase(); break;
      case 'source': case 'src':
        // As the docker CLI: `./dir` is made absolute; other relative sources name volumes.
        m.Source = !val.startsWith('/') && val.startsWith('.') ? resolve(val) : val;
        break;
      case 'target': case 'dst': case 'destination': m.Target = val; break;
      case 'readonly': case 'ro': m.ReadOnly = parseBool(key, val, hasValue); break;
      case 'consistency': m.Consistency = val.toLowerCase(); break;
      case 'bind-propagation': bind().Propagation = val.toLowerCase(); break;
      case 'bind-nonrecursive': throw new Error('bind-nonrecursive is deprecated, use bind-recursive=disabled instead');
      case 'bind-recursive':
        if (val === 'disabled') bind().NonRecursive = true;
        else if (val === 'writable') bind().ReadOnlyNonRecursive = true;
        else if (val === 'readonly') bind().ReadOnlyForceRecursive = true;
        else if (val !== 'enabled') throw new Error(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        break;
      case 'bind-create-src': bind().CreateMountpoint = parseBool(key, val, hasValue); break;
      case 'volume-subpath': vol().Subpath = val; break;
      case 'volume-nocopy': vol().NoCopy = parseBool(key, val, hasValue); break;
      case 'volume-label': vol().Labels = setOnMap(vol().Labels, val); break;
      case 'volume-driver': driver().Name = val; break;
      case 'volume-opt': driver().Options = setOnMap(driver().Options, val); break;
      case 'image-subpath': m.ImageOptions = { ...(m.ImageOptions ?? {}), Subpath: val }; break;
      case 'tmpfs-size':
        try {
          tmpfs().SizeBytes = ramInBytes(val);
        } catch {
          throw new Error(`invalid value for ${key}: ${val}`);
        }
        break;
      case 'tmpfs-mode':
        if (!/^[0-7]+$/.test(val) || parseInt(val, 8) > 0xffffffff) throw new Error(`invalid value for ${key}: ${val}`);
        tmpfs().Mode = parseInt(val, 8);
        break;
      default: throw new Error(`unknown option '${key}' in '${field}'`);
    }
  }
  validateMountOptions(m);
  return m;
}

function validateMountOptions(m: MountSpec): void {
  if (!m.Type) throw new Error('type is required');
  if (!m.Target) throw new Error('target is required');
  const mix = (p: string) => new Error(`cannot mix '${p}-*' options with mount type '${m.Type}'`);
  if (m.Type !== 'bind' && m.BindOptions) throw mix('bind');
  if (m.Type !== 'volume' && m.VolumeOptions) throw mix('volume');
  if (m.Type !== 'image' && m.ImageOptions) throw mix('image');
  if (m.Type !== 'tmpfs' && m.TmpfsOptions) throw mix('tmpfs');
  const b = m.BindOptions;
  if (b?.ReadOnlyNonRecursive && !m.ReadOnly) throw new Error("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  if (b?.ReadOnlyForceRecursive) {
    if (!m.ReadOnly) throw new Error("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (b.Propagation !== 'rprivate') throw new Error("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
  }
}

/** volumespec.Parse's split: the source ('' = anonymous) and whether it is a path. */
function parseVolumeSpec(spec: string): { source: string; isPath: boolean } {
  if (spec.length === 0) throw new CliError('invalid empty volume spec', 125);
  if (spec.length <= 2) return { source: '', isPath: false };
  const parts: string[] = [];
  let buf = '';
  for (const ch of spec + '\0') {
    // A Windows drive letter (`c:`) stays in its part.
    if (ch === ':' && buf.length === 1 && /\p{L}/u.test(buf)) {
      buf += ch;
      continue;
    }
    if (ch !== ':' && ch !== '\0') {
      buf += ch;
      continue;
    }
    if (buf === '') throw new CliError(`invalid spec: ${spec}: empty section between colons`, 125);
    if (parts.length === 2 && ch === ':') throw new CliError(`invalid spec: ${spec}: too many colons`, 125);
    parts.push(buf);
    buf = '';
  }
  const source = parts.length >= 2 ? parts[0] : '';
  const isPath = source !== '' && (/^[./~]/.test(source) || source.startsWith('\\\\') || /^\p{L}:/u.test(source));
  return { source, isPath };
}

/** `-v` specs: anonymous ones become Config.Volumes, the rest HostConfig.Binds (`./dir` made absolute, as the docker CLI). */
export function volumeFlags(specs: string[]): { volumes: Record<string, Record<string, never>>; binds: string[] } {
  const volumes: Record<string, Record<string, never>> = {};
  const binds: string[] = [];
  for (const spec of new Set(specs)) {
    const { source, isPath } = parseVolumeSpec(spec);
    if (source === '') {
      volumes[spec] = {};
      continue;
    }
    let bind = spec;
    if (isPath && !source.startsWith('/') && source.startsWith('.')) bind = resolve(source) + spec.slice(source.length);
    binds.push(bind);
  }
  return { volumes, binds };
}

/** `--tmpfs dst[:opts]`. */
export function tmpfsFlags(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list) {
    const i = t.indexOf(':');
    out[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  return out;
}
