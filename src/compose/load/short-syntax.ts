// The short forms of ports and volumes, parsed into the model's long forms.
import { isAbsolute, posix, resolve } from 'node:path';
import type { PortConfig, ServiceVolume } from '../model.ts';
import { ComposeError } from './errors.ts';

function parseRange(s: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new ComposeError(`invalid ${what}: ${s}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a > 65535 || b > 65535 || b < a) throw new ComposeError(`invalid ${what}: ${s}`);
  if (what === 'containerPort' && a === 0) throw new ComposeError(`invalid ${what}: ${s}`);
  void spec;
  return [a, b];
}

/** `[[ip:]host:]container[/proto]` with ranges, as one entry per container port. */
export function parsePortSpec(raw: string | number): PortConfig[] {
  let spec = String(raw);
  let protocol = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    protocol = spec.slice(slash + 1).toLowerCase();
    spec = spec.slice(0, slash);
    if (!['tcp', 'udp', 'sctp'].includes(protocol)) throw new ComposeError(`invalid proto: ${protocol}`);
  }
  let hostIp = '';
  let host = '';
  let container: string;
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(spec);
  if (bracket) {
    hostIp = bracket[1];
    const i = bracket[2].lastIndexOf(':');
    host = i < 0 ? bracket[2] : bracket[2].slice(0, i);
    container = i < 0 ? '' : bracket[2].slice(i + 1);
    if (i < 0) [host, container] = ['', bracket[2]];
  } else {
    const parts = spec.split(':');
    container = parts.pop() ?? '';
    if (parts.length > 0) host = parts.pop() ?? '';
    if (parts.length > 0) hostIp = parts.join(':');
  }
  if (hostIp && !isIp(hostIp)) throw new ComposeError(`invalid IP address: ${hostIp}`);
  const [cStart, cEnd] = parseRange(container, 'containerPort', spec);
  let hStart = 0;
  let hEnd = 0;
  if (host !== '') [hStart, hEnd] = parseRange(host, 'hostPort', spec);
  const cCount = cEnd - cStart;
  const hCount = hEnd - hStart;
  if (host !== '' && cCount !== hCount && cCount !== 0) {
    throw new ComposeError(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
  }
  const out: PortConfig[] = [];
  for (let i = 0; i <= cCount; i++) {
    const p: PortConfig = { mode: 'ingress', target: cStart + i, protocol: protocol as PortConfig['protocol'] };
    if (hostIp) p.host_ip = hostIp;
    if (host !== '') {
      // One container port with a host range: the engine picks a free port in it.
      p.published = cCount === 0 && hCount > 0 ? `${hStart}-${hEnd}` : String(hStart + i);
    }
    out.push(sortPort(p));
  }
  return out;
}

function isIp(s: string): boolean {
  return /^(\d{1,3}\.){3}\d{1,3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));
}

/** Keys in the order `docker compose config` prints them. */
export function sortPort(p: PortConfig): PortConfig {
  const o: PortConfig = {} as PortConfig;
  if (p.name !== undefined) o.name = p.name;
  o.mode = p.mode ?? 'ingress';
  if (p.host_ip !== undefined) o.host_ip = p.host_ip;
  o.target = p.target;
  if (p.published !== undefined) o.published = p.published;
  o.protocol = p.protocol ?? 'tcp';
  if (p.app_protocol !== undefined) o.app_protocol = p.app_protocol;
  // Extensions (`x-…`) stay with the port.
  for (const [k, v] of Object.entries(p)) if (k.startsWith('x-')) (o as unknown as Record<string, unknown>)[k] = v;
  return o;
}

const PROPAGATION = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];

/** A host path as compose reads it: `.`/`..` relative to the project, `~` the home directory. */
export function resolveHostPath(p: string, workingDir: string, home: string | undefined): string {
  if (p === '~' || p.startsWith('~/')) return resolve(home ?? '/root', p.slice(2));
  return isAbsolute(p) ? p : resolve(workingDir, p);
}

export function isHostPath(source: string): boolean {
  return source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
}

/** `[source:]target[:mode]` as a long-form volume. */
export function parseVolumeSpec(raw: string, workingDir: string, home: string | undefined, resolvePaths = true): ServiceVolume {
  const parts = raw.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw new ComposeError(`invalid spec: ${raw}: too many colons`);
  if (parts.length === 1) return { type: 'volume', target: posix.normalize(parts[0]), volume: {} };
  const [source, rawTarget, mode = ''] = parts;
  const target = posix.normalize(rawTarget);
  const opts = mode ? mode.split(',') : [];
  for (const o of opts) {
    if (!['ro', 'rw', 'z', 'Z', 'nocopy', ...PROPAGATION].includes(o)) throw new ComposeError(`invalid spec: ${raw}: unknown option ${o}`);
  }
  const readOnly = opts.includes('ro');
  if (isHostPath(source)) {
    const bind: { propagation?: string; create_host_path?: boolean; selinux?: 'z' | 'Z' } = { create_host_path: true };
    const prop = opts.find((o) => PROPAGATION.includes(o));
    if (prop) bind.propagation = prop;
    if (opts.includes('z')) bind.selinux = 'z';
    if (opts.includes('Z')) bind.selinux = 'Z';
    return { type: 'bind', source: resolvePaths ? resolveHostPath(source, workingDir, home) : source, target, ...(readOnly ? { read_only: true } : {}), bind };
  }
  return {
    type: 'volume', source, target, ...(readOnly ? { read_only: true } : {}),
    volume: opts.includes('nocopy') ? { nocopy: true } : {},
  };
}
