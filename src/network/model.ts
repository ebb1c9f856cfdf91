// Networks and endpoints in the shapes dockerd uses (`GET /networks/{id}`,
// a container's NetworkSettings.Networks), plus what berth keeps beside them.
import type { ContainerRecord } from '../api/container.ts';

export interface IpamPoolConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local' | 'swarm';
  Driver: 'bridge' | 'host' | 'null' | 'overlay';
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamPoolConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** berth's own: the bridge device, the IPAM cursor, the embedded DNS port; an overlay's VXLAN (overlays.ts). */
  berth?: { bridge: string; cursor: number; dnsPort?: number; overlay?: { vni: number; vxlan: string; address?: string } };
}

/** Networks whose containers hang off a bridge of ours: bridge networks and overlays (a bridge with a VXLAN port). */
export function bridged(n: NetworkRecord | undefined): boolean {
  return n?.Driver === 'bridge' || n?.Driver === 'overlay';
}

// ---- swarm overlays: what the cluster tells the network service (cluster/local-engine.ts has the same shapes) ----

export type { LocalOverlay, OverlayPeer, OverlaySpec, OverlayState, SwarmServiceView } from '../api/overlay.ts';

/** The cluster's address allocation, handed to the network service by the daemon: overlay addresses are cluster-wide. */
export interface OverlayAddresses {
  allocate(networkId: string, owner: { containerId: string; labels: Record<string, string>; names: string[] }): Promise<string>;
  release(networkId: string, ip: string): Promise<void>;
}

export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Links: string[] | null;
  MacAddress: string;
  Aliases: string[] | null;
  DriverOpts: Record<string, string> | null;
  GwPriority: number;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

export type PortMap = Record<string, { HostIp: string; HostPort: string }[] | null>;

export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  HairpinMode: boolean;
  LinkLocalIPv6Address: string;
  LinkLocalIPv6PrefixLen: number;
  Ports: PortMap;
  SecondaryIPAddresses: null;
  SecondaryIPv6Addresses: null;
  EndpointID: string;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  MacAddress: string;
  Networks: Record<string, EndpointSettings>;
}

/** What berth remembers of a container's networking between runs (a private key of its record). */
export interface ContainerNetState {
  /** Address last held on each network (by ID), handed back when still free. */
  lastAddresses: Record<string, string>;
  /** Interface name inside the container for each attached network (by ID). */
  interfaces: Record<string, string>;
  /** The host's end of each of those veth pairs (by network ID); absent in records from before it was kept. */
  hostLinks?: Record<string, string>;
}

export const PREDEFINED = ['bridge', 'host', 'none'];

export function emptyEndpoint(networkId: string, cfg: Partial<EndpointSettings> = {}): EndpointSettings {
  return {
    IPAMConfig: cfg.IPAMConfig ?? null,
    Links: cfg.Links ?? null,
    MacAddress: cfg.MacAddress ?? '',
    Aliases: cfg.Aliases ?? null,
    DriverOpts: cfg.DriverOpts ?? null,
    GwPriority: cfg.GwPriority ?? 0,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: cfg.DNSNames ?? null,
  };
}

export function emptyNetworkSettings(): NetworkSettings {
  return {
    Bridge: '', SandboxID: '', SandboxKey: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    Ports: {}, SecondaryIPAddresses: null, SecondaryIPv6Addresses: null, EndpointID: '', Gateway: '',
    GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', MacAddress: '',
    Networks: {},
  };
}

/** berth's own network state kept in the container record (interface names, last addresses). */
export function netState(rec: ContainerRecord): ContainerNetState {
  const r = rec as ContainerRecord & { berthNetwork?: ContainerNetState };
  r.berthNetwork ??= { lastAddresses: {}, interfaces: {} };
  return r.berthNetwork;
}

/** The record's NetworkSettings, typed, with Networks always present. */
export function settingsOf(rec: ContainerRecord): NetworkSettings {
  const s = rec.NetworkSettings as unknown as NetworkSettings;
  s.Networks ??= {};
  return s;
}

/** How the network service reaches containers (implemented by ContainerService). */
export interface ContainerDirectory {
  list(): ContainerRecord[];
  get(ref: string): ContainerRecord;
  find(ref: string): ContainerRecord | undefined;
  /** Runs `fn` under the container's lock and saves the record after. */
  update(ref: string, fn: (rec: ContainerRecord) => Promise<void>): Promise<void>;
}

export type NetnsSpec = { kind: 'new' } | { kind: 'host' } | { kind: 'path'; path: string };

export interface CreateNetworkRequest {
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: IpamPoolConfig[]; Options?: Record<string, string> };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network: string };
}

export interface EndpointRequest {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Links?: string[] | null;
  Aliases?: string[] | null;
  MacAddress?: string;
  DriverOpts?: Record<string, string> | null;
}

