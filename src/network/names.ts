// Who a name means inside a container: the embedded DNS server's answers on
// user-defined networks (names, short IDs, aliases, links), and legacy
// `--link`s on the default bridge (/etc/hosts lines and Docker's variables).
import type { ContainerRecord } from '../api/container.ts';
import { InvalidArgumentError } from '../errors.ts';
import { settingsOf } from './model.ts';

/** The embedded DNS answer for a name asked by the container at `clientIp` on network `netId`. */
export function lookupName(
  plumbed: ContainerRecord[], find: (ref: string) => ContainerRecord | undefined, networkName: (id: string) => string | undefined,
  netId: string, clientIp: string, name: string,
): string[] | undefined {
  const all = plumbed;
  const asker = all.find((c) => Object.values(settingsOf(c).Networks).some((e) => e.NetworkID === netId && e.IPAddress === clientIp));
  if (!asker) return undefined;
  const askerEps = Object.values(settingsOf(asker).Networks).filter((e) => e.IPAddress && networkName(e.NetworkID) !== 'bridge');
  const found: string[] = [];
  for (const aep of askerEps) {
    for (const link of aep.Links ?? []) {
      const [target, alias] = link.split(':');
      if ((alias ?? target).toLowerCase() === name) {
        const t = find(target);
        const tep = t && Object.values(settingsOf(t).Networks).find((e) => e.NetworkID === aep.NetworkID);
        if (tep?.IPAddress) found.push(tep.IPAddress);
      }
    }
    for (const c of all) {
      const ep = Object.values(settingsOf(c).Networks).find((e) => e.NetworkID === aep.NetworkID && e.IPAddress);
      if (!ep) continue;
      const names = [c.Name.slice(1), c.Id.slice(0, 12), ...(ep.Aliases ?? [])].map((x) => x.toLowerCase());
      if (names.includes(name) && !found.includes(ep.IPAddress)) found.push(ep.IPAddress);
    }
  }
  return found.length ? found : undefined;
}

/** Legacy links on the default bridge: /etc/hosts lines and the environment Docker sets. */
export function resolveLinks(
  rec: ContainerRecord, linkTarget: (link: string) => ContainerRecord | undefined, networkName: (id: string) => string | undefined,
): { hosts: string[]; env: string[] } {
  const hosts: string[] = [];
  const env: string[] = [];
  for (const link of rec.HostConfig.Links ?? []) {
    const [targetRef, aliasIn] = link.split(':');
    const target = linkTarget(link);
    if (!target || !target.State.Running) throw new InvalidArgumentError(`Cannot link to a non running container: ${targetRef} AS ${rec.Name}/${aliasIn ?? targetRef}`);
    const alias = (aliasIn ?? target.Name.slice(1)).replace(/^.*\//, '');
    const ep = Object.values(settingsOf(target).Networks).find((e) => e.IPAddress && networkName(e.NetworkID) === 'bridge');
    if (!ep) throw new InvalidArgumentError(`Cannot link to ${target.Name}, as it does not belong to the default network`);
    hosts.push(`${ep.IPAddress}\t${alias} ${target.Id.slice(0, 12)} ${target.Name.slice(1)}`);
    const A = upperAlias(alias);
    env.push(`${A}_NAME=${rec.Name}/${alias}`);
    const ports = Object.keys(target.Config.ExposedPorts ?? {}).map((k) => k.split('/') as [string, string]).sort((a, b) => Number(a[0]) - Number(b[0]));
    if (ports.length) env.push(`${A}_PORT=${ports[0][1]}://${ep.IPAddress}:${ports[0][0]}`);
    for (const [port, proto] of ports) {
      const P = `${A}_PORT_${port}_${proto.toUpperCase()}`;
      env.push(`${P}=${proto}://${ep.IPAddress}:${port}`, `${P}_ADDR=${ep.IPAddress}`, `${P}_PORT=${port}`, `${P}_PROTO=${proto}`);
    }
    for (const e of target.Config.Env ?? []) {
      const eq = e.indexOf('=');
      if (eq > 0 && !['HOME', 'HOSTNAME', 'PATH'].includes(e.slice(0, eq))) env.push(`${A}_ENV_${e}`);
    }
  }
  return { hosts, env };
}

function upperAlias(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}
