// Published ports: which host ports a container's PortBindings (and
// PublishAllPorts) ask for, and holding them. The kernel forwards the traffic
// (DNAT); the daemon only keeps a socket bound on each host port so that no
// other program or daemon can take it while the container has it.
import { createServer, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';
import { ConflictError, InvalidArgumentError } from '../errors.ts';
import type { HostConfig, PortSummary } from '../api/container.ts';
import type { PortMap } from './model.ts';

export interface PortRequest {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  /** Inclusive range; [0, 0] for an ephemeral port. */
  hostPorts: [number, number];
}

export interface HeldPort {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  hostPort: number;
  close(): void;
}

function portKey(k: string): { port: number; proto: 'tcp' | 'udp' } {
  const [p, proto = 'tcp'] = k.split('/');
  const port = Number(p);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || (proto !== 'tcp' && proto !== 'udp')) throw new InvalidArgumentError(`invalid port specification: "${k}"`);
  return { port, proto };
}

/** Every host port the container asks for, in a stable order. */
export function portRequests(h: HostConfig, exposed: Record<string, unknown> | undefined): PortRequest[] {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const [k, v] of Object.entries(h.PortBindings ?? {})) bindings[k] = v ?? [];
  if (h.PublishAllPorts) for (const k of Object.keys(exposed ?? {})) if (!bindings[k]?.length) bindings[k] = [{ HostIp: '', HostPort: '' }];
  const out: PortRequest[] = [];
  for (const [k, list] of Object.entries(bindings).sort(([a], [b]) => portKey(a).port - portKey(b).port)) {
    const { port, proto } = portKey(k);
    for (const b of list.length ? list : [{ HostIp: '', HostPort: '' }]) {
      const hp = b.HostPort ?? '';
      let range: [number, number] = [0, 0];
      if (hp !== '' && hp !== '0') {
        const m = /^(\d+)(?:-(\d+))?$/.exec(hp);
        const lo = Number(m?.[1]);
        const hi = Number(m?.[2] ?? m?.[1]);
        if (!m || lo < 1 || hi > 65535 || hi < lo) throw new InvalidArgumentError(`invalid port specification: "${hp}"`);
        range = [lo, hi];
      }
      out.push({ proto, containerPort: port, hostIp: b.HostIp ?? '', hostPorts: range });
    }
  }
  return out;
}

function bind(proto: 'tcp' | 'udp', host: string, port: number): Promise<{ port: number; close(): void }> {
  return new Promise((resolve, reject) => {
    if (proto === 'tcp') {
      const s: Server = createServer((c) => c.destroy());
      s.once('error', reject);
      s.listen({ port, host, exclusive: true, backlog: 1 }, () => {
        const a = s.address();
        s.unref();
        resolve({ port: typeof a === 'object' && a ? a.port : port, close: () => s.close() });
      });
    } else {
      const s: Socket = createSocket('udp4');
      s.once('error', reject);
      s.bind({ port, address: host, exclusive: true }, () => {
        s.unref();
        resolve({ port: s.address().port, close: () => s.close() });
      });
    }
  });
}

/** Takes a host port for the request; Docker's error when it is already allocated. */
export async function holdPort(r: PortRequest): Promise<HeldPort> {
  const host = r.hostIp || '0.0.0.0';
  const [lo, hi] = r.hostPorts;
  let lastErr: unknown;
  for (let p = lo; p <= hi; p++) {
    try {
      const b = await bind(r.proto, host, p);
      return { proto: r.proto, containerPort: r.containerPort, hostIp: host, hostPort: b.port, close: b.close };
    } catch (err) {
      lastErr = err;
    }
  }
  const code = (lastErr as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRNOTAVAIL') throw new InvalidArgumentError(`failed to bind host port ${host}:${lo}/${r.proto}: cannot assign requested address`);
  const shown = lo === hi ? String(lo) : `${lo}-${hi}`;
  throw new ConflictError(`Bind for ${host}:${shown} failed: port is already allocated`);
}

/** Re-takes a port a running container held before a daemon restart; undefined if it is gone. */
export async function reholdPort(proto: 'tcp' | 'udp', containerPort: number, hostIp: string, hostPort: number): Promise<HeldPort | undefined> {
  try {
    const b = await bind(proto, hostIp || '0.0.0.0', hostPort);
    return { proto, containerPort, hostIp: hostIp || '0.0.0.0', hostPort, close: b.close };
  } catch {
    return undefined;
  }
}

export function portMapOf(held: { proto: string; containerPort: number; hostIp: string; hostPort: number }[], exposed: Record<string, unknown> | undefined): PortMap {
  const m: PortMap = {};
  for (const k of Object.keys(exposed ?? {})) m[k] = null;
  for (const h of held) {
    const k = `${h.containerPort}/${h.proto}`;
    (m[k] ??= []).push({ HostIp: h.hostIp, HostPort: String(h.hostPort) });
  }
  return m;
}

/** The `Ports` of a container summary (`GET /containers/json`), as `docker ps` shows them. */
export function portSummary(m: PortMap | undefined): PortSummary[] {
  const out: PortSummary[] = [];
  for (const [k, list] of Object.entries(m ?? {})) {
    const [port, proto] = k.split('/');
    if (!list?.length) out.push({ PrivatePort: Number(port), Type: proto });
    for (const b of list ?? []) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
  }
  return out;
}
