// A network as `GET /networks/{id}` shows it: the record in Docker's shape
// (berth's own keys left out) with the running containers on it.
import type { ContainerRecord } from '../api/container.ts';
import { bridged, settingsOf, type NetworkRecord } from './model.ts';

export function inspectNetwork(n: NetworkRecord, all: ContainerRecord[]): Record<string, unknown> {
  const { berth: _b, ...pub } = n;
  const containers: Record<string, unknown> = {};
  for (const c of all) {
    if (!c.State.Running) continue;
    for (const ep of Object.values(settingsOf(c).Networks)) {
      if (ep.NetworkID !== n.Id || (bridged(n) && !ep.IPAddress)) continue;
      containers[c.Id] = {
        Name: c.Name.slice(1), EndpointID: ep.EndpointID, MacAddress: ep.MacAddress,
        IPv4Address: ep.IPAddress ? `${ep.IPAddress}/${ep.IPPrefixLen}` : '', IPv6Address: ep.GlobalIPv6Address ? `${ep.GlobalIPv6Address}/${ep.GlobalIPv6PrefixLen}` : '',
      };
    }
  }
  return { ...pub, Containers: containers };
}
