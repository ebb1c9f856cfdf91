// `-p [ip:][hostPort:]containerPort[/proto]` as the docker CLI parses it
// (go-connections' nat.ParsePortSpecs): ranges pair up one to one, a host
// range with one container port lets the daemon pick one port of the range.

export class PortSpecError extends Error {}

export interface PortSpecs {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, { HostIp: string; HostPort: string }[]>;
}

function range(s: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new PortSpecError(`invalid containerPort: ${s}`);
  const lo = Number(m[1]);
  const hi = Number(m[2] ?? m[1]);
  if (lo < 0 || hi > 65535 || hi < lo) throw new PortSpecError(`invalid port range: ${spec}`);
  return [lo, hi];
}

export function parsePortSpecs(specs: string[]): PortSpecs {
  const out: PortSpecs = { exposed: {}, bindings: {} };
  for (const raw of specs) {
    let rest = raw;
    let proto = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      proto = rest.slice(slash + 1).toLowerCase();
      rest = rest.slice(0, slash);
      if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new PortSpecError(`invalid proto: ${proto}`);
    }
    let ip = '';
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
    if (v6) {
      ip = v6[1];
      rest = v6[2];
    }
    const parts = rest.split(':');
    let hostPart = '';
    let containerPart: string;
    if (parts.length === 1) containerPart = parts[0];
    else if (parts.length === 2) [hostPart, containerPart] = parts;
    else if (parts.length === 3 && !v6) [ip, hostPart, containerPart] = parts;
    else throw new PortSpecError(`invalid port format: ${raw}`);
    if (containerPart === '') throw new PortSpecError(`no port specified: ${raw}<empty>`);
    const [cLo, cHi] = range(containerPart, raw);
    const host = hostPart === '' ? undefined : range(hostPart, raw);
    if (host && host[1] - host[0] !== cHi - cLo && cHi !== cLo) throw new PortSpecError(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
    for (let p = cLo; p <= cHi; p++) {
      const key = `${p}/${proto}`;
      out.exposed[key] = {};
      let hostPort = '';
      if (host) hostPort = cLo === cHi && host[0] !== host[1] ? `${host[0]}-${host[1]}` : String(host[0] + (p - cLo));
      (out.bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
    }
  }
  return out;
}

/** `--expose 80`, `--expose 7000-7010/udp`. */
export function parseExpose(specs: string[]): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const e of specs) {
    const [ports, proto = 'tcp'] = e.split('/');
    const [lo, hi] = range(ports, e);
    for (let p = lo; p <= hi; p++) out[`${p}/${proto}`] = {};
  }
  return out;
}
