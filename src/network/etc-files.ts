// The files that tell a container about its networks: /etc/hosts as Docker
// writes it, and the resolv.conf that points at the embedded DNS server.
import { readFileSync, writeFileSync } from 'node:fs';
import type { ContainerRecord } from '../api/container.ts';
import { settingsOf } from './model.ts';

/** resolv.conf on a user-defined network: the embedded server, with the upstreams it forwards to noted as dockerd does. */
export function embeddedResolvConf(rec: ContainerRecord, upstreams: string[]): string {
  const h = rec.HostConfig;
  const lines = ['nameserver 127.0.0.11'];
  if (h.DnsSearch?.length) lines.push(`search ${h.DnsSearch.join(' ')}`);
  lines.push(`options ${[...(h.DnsOptions ?? []), ...(h.DnsOptions?.some((o) => o.startsWith('ndots')) ? [] : ['ndots:0'])].join(' ')}`);
  lines.push('', `# ExtServers: [${(h.Dns?.length ? h.Dns : upstreams).map((a) => `host(${a})`).join(' ')}]`);
  return lines.join('\n') + '\n';
}

/** /etc/hosts as Docker writes it: localhost, --add-host (host-gateway resolved), links, the container's own address. */
export function writeHostsFile(rec: ContainerRecord, linkLines: string[], bridgeGateway: string): void {
  const h = rec.HostConfig;
  const gateway = bridgeGateway;
  const extra = (h.ExtraHosts ?? []).map((e) => {
    const i = e.search(/[:=](?=[^:=]*$)/);
    const host = e.slice(0, i);
    let ip = e.slice(i + 1);
    if (ip === 'host-gateway') ip = gateway;
    return `${ip}\t${host}`;
  });
  if (h.NetworkMode === 'host') {
    let base = '';
    try {
      base = readFileSync('/etc/hosts', 'utf8');
    } catch {
      base = '127.0.0.1\tlocalhost\n';
    }
    writeFileSync(rec.HostsPath, base + (extra.length ? extra.join('\n') + '\n' : ''));
    return;
  }
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...extra,
    ...linkLines,
  ];
  const hostname = rec.Config.Hostname ?? rec.Id.slice(0, 12);
  const fqdn = rec.Config.Domainname ? `${hostname}.${rec.Config.Domainname} ${hostname}` : hostname;
  for (const ep of Object.values(settingsOf(rec).Networks)) if (ep.IPAddress) lines.push(`${ep.IPAddress}\t${fqdn}`);
  writeFileSync(rec.HostsPath, lines.join('\n') + '\n');
}
