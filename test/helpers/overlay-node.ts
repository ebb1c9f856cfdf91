// Run inside a network namespace standing for one host: applies berth's
// overlay plumbing (network/overlay-links.ts) there, as a node's daemon would.
// argv[2]: JSON { bridge, addresses, mac, vxlan: VxlanSpec, peers: OverlayPeer[] }.
import { ensureOverlayBridge, syncVxlan, type VxlanSpec } from '../../src/network/overlay-links.ts';
import type { OverlayPeer } from '../../src/network/model.ts';

const a = JSON.parse(process.argv[2]) as { bridge: string; addresses: string[]; mac: string; vxlan: VxlanSpec; peers: OverlayPeer[] };
await ensureOverlayBridge(a.bridge, a.addresses, a.mac);
await syncVxlan(a.vxlan, a.peers);
