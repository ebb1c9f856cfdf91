// Flag grammars of the swarm commands that the docker CLI parses itself
// (opts/): Go durations, csv records, filters as the API's map of sets,
// `--publish`, `--secret`/`--config`, `--placement-pref`.
import { isIP } from 'node:net';
import { parseGoDuration } from '../api/units.ts';
import type { PortConfig, SecretReference } from '../api/swarm.ts';
import { CliError } from './context.ts';
import { csvFields } from './mount-flags.ts';

const flagError = (value: string, flag: string, msg: string) => new CliError(`invalid argument "${value}" for "--${flag}" flag: ${msg}`, 125);

/** A Go duration flag, in nanoseconds. */
export function goDurationFlag(flag: string, v: string): number {
  try {
    return parseGoDuration(v);
  } catch (err) {
    throw flagError(v, flag, (err as Error).message);
  }
}

/** opts.DurationOpt: a Go duration that may not be negative. */
export function positiveDurationFlag(flag: string, v: string): number {
  const ns = goDurationFlag(flag, v);
  if (ns < 0) throw flagError(v, flag, 'duration cannot be negative');
  return ns;
}

export function parseCsvRecord(v: string): string[] {
  return csvFields(v);
}

export type FilterMap = Record<string, Record<string, boolean>>;

/** `--filter k=v` flags as the API's filters: `{"k": {"v": true}}`, as the docker CLI sends them. */
export function filterMap(flags: string[] = []): FilterMap {
  const out: FilterMap = {};
  for (const kv of flags) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliError(`invalid argument "${kv}" for "-f, --filter" flag: bad format of filter (expected name=value)`, 125);
    (out[kv.slice(0, eq).trim().toLowerCase()] ??= {})[kv.slice(eq + 1).trim()] = true;
  }
  return out;
}

/** A non-negative integer flag (Uint64Opt). */
export function uintFlag(flag: string, v: string): number {
  if (!/^\+?\d+$/.test(v)) throw flagError(v, flag, `strconv.ParseUint: parsing "${v}": invalid syntax`);
  return Number(v);
}

export function intFlag(flag: string, v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw flagError(v, flag, `strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

export function floatFlag(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw flagError(v, flag, `strconv.ParseFloat: parsing "${v}": invalid syntax`);
  return n;
}

/** opts.NanoCPUs: `0.5` CPUs as nano CPUs. */
export function nanoCpusFlag(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw flagError(v, flag, `failed to parse ${v} as a rational number`);
  const nano = Math.round(n * 1e9);
  if (nano !== n * 1e9 && Math.abs(nano - n * 1e9) > 1e-3) throw flagError(v, flag, 'value is too precise');
  return nano;
}

/**
 * opts.PortOpt: `8080:80[/udp]`, `80` or the long csv form
 * `published=8080,target=80,protocol=udp,mode=host`.
 */
export function parsePortFlag(value: string): PortConfig[] {
  const fail = (msg: string) => new CliError(`invalid argument "${value}" for "-p, --publish" flag: ${msg}`, 125);
  if (/[=,]/.test(value)) {
    const p: PortConfig = { Protocol: 'tcp', PublishMode: 'ingress' };
    for (const field of csvFields(value)) {
      const eq = field.indexOf('=');
      if (eq < 0) throw fail(`invalid field ${field}`);
      const key = field.slice(0, eq).toLowerCase();
      const val = field.slice(eq + 1);
      switch (key) {
        case 'name': p.Name = val; break;
        case 'protocol':
          if (!['tcp', 'udp', 'sctp'].includes(val)) throw fail(`invalid protocol value '${val}'`);
          p.Protocol = val;
          break;
        case 'mode':
          if (val !== 'host' && val !== 'ingress') throw fail(`invalid publish mode value (${val}): must be either "ingress" or "host"`);
          p.PublishMode = val;
          break;
        case 'target': case 'published': {
          if (!/^\d+$/.test(val) || Number(val) > 65535) throw fail(`invalid ${key} port (${val}): value must be an integer: invalid syntax`);
          if (key === 'target') p.TargetPort = Number(val);
          else p.PublishedPort = Number(val);
          break;
        }
        default: throw fail(`invalid field key ${key}`);
      }
    }
    if (!p.TargetPort) throw fail('missing mandatory field "target"');
    return [p];
  }
  // Short syntax: [ip:]published:target[/proto], published and target may be ranges.
  const slash = value.lastIndexOf('/');
  const proto = slash >= 0 ? value.slice(slash + 1) : 'tcp';
  const spec = slash >= 0 ? value.slice(0, slash) : value;
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw fail(`invalid proto: ${proto}`);
  const parts = spec.split(':');
  if (parts.length > 2) {
    // nat.ParsePortSpec reads the first part as the host IP, which swarm does not take.
    const ip = parts.slice(0, -2).join(':').replace(/^\[|\]$/g, '');
    if (isIP(ip) === 0) throw fail(`invalid IP address: ${ip}`);
    throw fail('hostip is not supported');
  }
  const range = (s: string): [number, number] => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(s);
    if (!m) throw fail(`invalid containerPort: ${s}`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    if (a > 65535 || b > 65535 || b < a) throw fail(`invalid port range: ${s}`);
    return [a, b];
  };
  const [ts, te] = range(parts[parts.length - 1]);
  const pub = parts.length === 2 && parts[0] !== '' ? range(parts[0]) : undefined;
  if (pub && pub[1] - pub[0] !== te - ts) throw fail(`invalid ranges specified for container and host Ports: ${parts[parts.length - 1]} and ${parts[0]}`);
  const out: PortConfig[] = [];
  for (let i = 0; i <= te - ts; i++) {
    const p: PortConfig = { Protocol: proto, TargetPort: ts + i, PublishMode: 'ingress' };
    if (pub) p.PublishedPort = pub[0] + i;
    out.push(p);
  }
  return out;
}

/** opts.SecretOpt / ConfigOpt: `name` or `source=name,target=path,uid=,gid=,mode=`. */
export function parseFileReference(flag: 'secret' | 'config', value: string): SecretReference & { source: string } {
  const fail = (msg: string) => flagError(value, flag, msg);
  const ref = { source: '', File: { Name: '', UID: '0', GID: '0', Mode: 0o444 } };
  const fields = csvFields(value);
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const val = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) {
      if (fields.length > 1) throw fail(`invalid field '${field}' must be a key=value pair`);
      ref.source = field;
      ref.File.Name = field;
      continue;
    }
    switch (key) {
      case 'source': case 'src': ref.source = val; break;
      case 'target': ref.File.Name = val; break;
      case 'uid': ref.File.UID = val; break;
      case 'gid': ref.File.GID = val; break;
      case 'mode':
        if (!/^[0-7]+$/.test(val)) throw fail(`invalid mode specified: strconv.ParseUint: parsing "${val}": invalid syntax`);
        ref.File.Mode = parseInt(val, 8);
        break;
      default: throw fail(`invalid field in ${flag} request: ${key}`);
    }
  }
  if (!ref.source) throw fail(`source is required`);
  if (!ref.File.Name) ref.File.Name = ref.source;
  return ref;
}

/** `--placement-pref spread=node.labels.x`. */
export function parsePlacementPref(value: string): { Spread: { SpreadDescriptor: string } } {
  const eq = value.indexOf('=');
  if (eq < 0) throw flagError(value, 'placement-pref', 'placement preference must be of the format "<strategy>=<arg>"');
  const strategy = value.slice(0, eq);
  if (strategy !== 'spread') throw flagError(value, 'placement-pref', `unsupported placement preference ${strategy} (only spread is supported)`);
  return { Spread: { SpreadDescriptor: value.slice(eq + 1) } };
}

/** opts.NormalizeCapability: `net_admin` → `CAP_NET_ADMIN`; ALL and RESET stay. */
function normalizeCap(c: string): string {
  const u = c.trim().toUpperCase();
  return u === 'ALL' || u === 'RESET' || u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/** opts.EffectiveCapAddCapDrop: ALL wins its side, a cap both added and dropped is added, both sorted. */
export function effectiveCaps(add: string[], drop: string[]): { add: string[]; drop: string[] } {
  let a = new Set(add.map(normalizeCap));
  let d = new Set(drop.map(normalizeCap));
  if (a.has('ALL')) a = new Set(['ALL']);
  if (d.has('ALL')) d = new Set(['ALL']);
  return { add: [...a].filter((c) => c !== 'RESET').sort(), drop: [...d].filter((c) => !a.has(c) && c !== 'RESET').sort() };
}

/** updateCapabilities: RESET clears a side; dropping an added cap removes it, adding a dropped one too. */
export function updateCaps(curAdd: string[] = [], curDrop: string[] = [], toAddList: string[] = [], toDropList: string[] = []): { add: string[]; drop: string[] } {
  const add = new Set(curAdd.map(normalizeCap));
  const drop = new Set(curDrop.map(normalizeCap));
  const toAdd = new Set(toAddList.map(normalizeCap));
  const toDrop = new Set(toDropList.map(normalizeCap));
  if (toAdd.delete('RESET')) add.clear();
  if (toDrop.delete('RESET')) drop.clear();
  for (const c of toDrop) {
    if (toAdd.has(c)) continue;
    if (add.has(c)) add.delete(c);
    else drop.add(c);
  }
  for (const c of toAdd) {
    if (drop.has(c)) drop.delete(c);
    else add.add(c);
  }
  return { add: [...add].sort(), drop: [...drop].sort() };
}

const ULIMITS = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** go-units ParseUlimit: `name=soft[:hard]`. */
function parseUlimit(flag: string, v: string): { Name: string; Hard: number; Soft: number } {
  const fail = (msg: string) => new CliError(`invalid argument "${v}" for "--${flag}" flag: ${msg}`, 125);
  const eq = v.indexOf('=');
  if (eq < 0) throw fail(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  if (!ULIMITS.includes(name)) throw fail(`invalid ulimit type: ${name}`);
  const [softS, hardS, extra] = v.slice(eq + 1).split(':');
  if (extra !== undefined) throw fail(`too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const num = (x: string) => {
    if (!/^-?\d+$/.test(x)) throw fail(`strconv.ParseInt: parsing "${x}": invalid syntax`);
    return Number(x);
  };
  const soft = num(softS);
  const hard = hardS === undefined ? soft : num(hardS);
  if (soft > hard) throw fail(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: name, Hard: hard, Soft: soft };
}

export function ulimits(flag: string, values: string[]): { Name: string; Hard: number; Soft: number }[] {
  const m = new Map<string, { Name: string; Hard: number; Soft: number }>();
  for (const v of values) {
    const u = parseUlimit(flag, v);
    m.set(u.Name, u);
  }
  return [...m.values()];
}

/** ValidateIPAddress, for --dns. */
export function dnsServers(flag: string, values: string[]): string[] {
  for (const v of values) if (isIP(v.trim()) === 0) throw new CliError(`invalid argument "${v}" for "--${flag}" flag: IP address is not correctly formatted: ${v}`, 125);
  return values.map((v) => v.trim());
}
