// What the cluster tells a node's network service of its overlays: the
// contract between src/cluster (which keeps them in etcd) and src/network
// (which makes them on this node), neither of which may import the other.
/** An overlay network as the cluster defines it. */
export interface OverlaySpec {
  id: string;
  name: string;
  created: string;
  subnet: string;
  gateway: string;
  vni: number;
  attachable: boolean;
  ingress: boolean;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
}

/** An endpoint on another node: its overlay address, MAC, and the node's VXLAN endpoint (VTEP). */
export interface OverlayPeer {
  ip: string;
  mac: string;
  vtep: string;
}

export interface LocalOverlay {
  network: OverlaySpec;
  /** This node's own address on the overlay (its bridge's): the source of balanced traffic, so replies come back here. */
  address: string;
  peers: OverlayPeer[];
  /** Named endpoints on other nodes (task containers, attached containers): their address and the names the embedded DNS answers with it. */
  names?: { ip: string; names: string[] }[];
}

/** A swarm service as names and balancing see it. */
export interface SwarmServiceView {
  id: string;
  name: string;
  mode: 'vip' | 'dnsrr';
  networks: { networkId: string; vip?: string; aliases: string[]; tasks: string[] }[];
  /** Published through the routing mesh (ingress mode). */
  ports: { proto: 'tcp' | 'udp'; published: number; target: number }[];
}

export interface OverlayState {
  /** This node's VXLAN endpoint address and the swarm's data path port. */
  vtep: string;
  dataPort: number;
  networks: LocalOverlay[];
  services: SwarmServiceView[];
}
