// `network create|ls|inspect|rm|prune|connect|disconnect` and `port`, as the docker CLI has them.
import type { Command } from 'commander';
import { ApiError } from '../../client/engine-client.ts';
import { clientFor, CliError } from '../context.ts';
import { collect, filterFlags, globals, keyValues } from '../options.ts';
import { formatRows } from '../format/table.ts';
import { contains, isIPv6, parseCidr, parseCidr6, parseIPv4, parseIPv6 } from '../../api/address.ts';
import { inspectEach } from '../output.ts';
import { confirm } from '../prompt.ts';

interface NetworkJson {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  Internal: boolean;
  Labels: Record<string, string>;
}

/** Whether `ip` (v4 or v6) is inside `cidr`. */
function subnetHolds(cidr: string, ip: string): boolean {
  try {
    if (isIPv6(ip) !== cidr.includes(':')) return false;
    if (cidr.includes(':')) {
      const s = parseCidr6(cidr);
      const a = parseIPv6(ip);
      return a !== undefined && a >> BigInt(128 - s.prefix) === s.base >> BigInt(128 - s.prefix);
    }
    const a = parseIPv4(ip);
    return a !== undefined && contains(parseCidr(cidr, 'subnet', true), a);
  } catch {
    throw new CliError(`invalid subnet ${cidr}`, 1);
  }
}

export function registerNetworkCommands(program: Command): void {
  const net = program.command('network').description('Manage networks');

  net.command('create')
    .description('Create a network')
    .option('-d, --driver <driver>', 'Driver to manage the Network', 'bridge')
    .option('--subnet <cidr>', 'Subnet in CIDR format that represents a network segment', collect)
    .option('--ip-range <cidr>', 'Allocate container ip from a sub-range', collect)
    .option('--gateway <ip>', 'IPv4 or IPv6 Gateway for the master subnet', collect)
    .option('--internal', 'Restrict external access to the network')
    .option('--attachable', 'Enable manual container attachment')
    .option('--ipv6', 'Enable or disable IPv6 networking')
    .option('--label <label>', 'Set metadata on a network', collect)
    .option('-o, --opt <opt>', 'Set driver specific options', collect)
    .option('--ipam-driver <driver>', 'IP Address Management Driver', 'default')
    .option('--ipam-opt <opt>', 'Set IPAM driver specific options', collect)
    .option('--aux-address <name=ip>', 'Auxiliary IPv4 or IPv6 addresses used by Network driver', collect)
    .argument('<name>')
    .action(async (name: string, f: { driver: string; subnet?: string[]; ipRange?: string[]; gateway?: string[]; internal?: boolean; attachable?: boolean; ipv6?: boolean; label?: string[]; opt?: string[]; ipamDriver: string; ipamOpt?: string[]; auxAddress?: string[] }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const subnets = f.subnet ?? [];
      if ((f.gateway?.length ?? 0) > subnets.length || (f.ipRange?.length ?? 0) > subnets.length) throw new CliError('every ip-range or gateway must have a corresponding subnet', 1);
      const config: { Subnet: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[] = subnets.map((s, i) => ({
        Subnet: s,
        ...(f.ipRange?.[i] ? { IPRange: f.ipRange[i] } : {}),
        ...(f.gateway?.[i] ? { Gateway: f.gateway[i] } : {}),
      }));
      // As the docker CLI: each auxiliary address goes with the subnet that holds it.
      for (const [key, ip] of Object.entries(keyValues(f.auxAddress))) {
        const home = config.filter((c) => subnetHolds(c.Subnet, ip));
        if (home.length === 0) throw new CliError(`no matching subnet for aux-address ${ip}`, 1);
        for (const c of home) c.AuxiliaryAddresses = { ...c.AuxiliaryAddresses, [key]: ip };
      }
      const res = await client.call<{ Id: string }>('POST', '/networks/create', {
        body: {
          Name: name, Driver: f.driver, Internal: f.internal === true, Attachable: f.attachable === true, EnableIPv6: f.ipv6 === true,
          IPAM: { Driver: f.ipamDriver, Config: config, Options: keyValues(f.ipamOpt) }, Options: keyValues(f.opt), Labels: keyValues(f.label),
        },
      });
      process.stdout.write(res.Id + '\n');
    });

  net.command('ls').alias('list')
    .description('List networks')
    .option('-f, --filter <filter>', 'Provide filter values (e.g. "driver=bridge")', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('--no-trunc', 'Do not truncate the output')
    .option('-q, --quiet', 'Only display network IDs')
    .action(async (f: { filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const list = await client.call<NetworkJson[]>('GET', '/networks', { query: { filters: JSON.stringify(filterFlags(f.filter)) } });
      list.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      const id = (n: NetworkJson) => (f.trunc ? n.Id.slice(0, 12) : n.Id);
      if (f.quiet) {
        process.stdout.write(list.map((n) => id(n) + '\n').join(''));
        return;
      }
      const rows = list.map((n) => ({
        ID: id(n), Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv6: String(n.EnableIPv6), Internal: String(n.Internal),
        Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','), CreatedAt: n.Created,
        Label: (k: string) => n.Labels?.[k] ?? '',
      }));
      const format = f.format ?? 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
      process.stdout.write(formatRows(format, rows, { headers: { ID: 'NETWORK ID', CreatedAt: 'CREATED AT' } }));
    });

  net.command('inspect')
    .description('Display detailed information on one or more networks')
    .option('-f, --format <format>', 'Format output using a custom template')
    .option('-v, --verbose', 'Verbose output for diagnostics')
    .argument('<network...>')
    .action(async (refs: string[], f: { format?: string }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await inspectEach(refs, (r) => client.call('GET', `/networks/${encodeURIComponent(r)}`), f.format);
    });

  net.command('rm').alias('remove')
    .description('Remove one or more networks')
    .option('-f, --force', 'Do not error if the network does not exist')
    .argument('<network...>')
    .action(async (refs: string[], f: { force?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      let failed = false;
      for (const r of refs) {
        try {
          await client.status('DELETE', `/networks/${encodeURIComponent(r)}`);
          process.stdout.write(r + '\n');
        } catch (err) {
          if (f.force && err instanceof ApiError && err.status === 404) continue;
          process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
          failed = true;
        }
      }
      if (failed) throw new CliError('', 1);
    });

  net.command('prune')
    .description('Remove all unused networks')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { filter?: string[]; force?: boolean }, cmd: Command) => {
      if (!f.force && !(await confirm('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?'))) return;
      const client = await clientFor(globals(cmd));
      const r = await client.call<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters: JSON.stringify(filterFlags(f.filter)) } });
      if (r.NetworksDeleted?.length) process.stdout.write(`Deleted Networks:\n${r.NetworksDeleted.join('\n')}\n`);
    });

  net.command('connect')
    .description('Connect a container to a network')
    .option('--alias <alias>', 'Add network-scoped alias for the container', collect)
    .option('--ip <ip>', 'IPv4 address (e.g., "172.30.100.104")')
    .option('--link <link>', 'Add link to another container', collect)
    .option('--driver-opt <opt>', 'driver options for the network', collect)
    .argument('<network>')
    .argument('<container>')
    .action(async (network: string, container: string, f: { alias?: string[]; ip?: string; link?: string[]; driverOpt?: string[] }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await client.status('POST', `/networks/${encodeURIComponent(network)}/connect`, {
        body: {
          Container: container,
          EndpointConfig: {
            ...(f.ip ? { IPAMConfig: { IPv4Address: f.ip } } : {}),
            Aliases: f.alias ?? null, Links: f.link ?? null, DriverOpts: f.driverOpt ? keyValues(f.driverOpt) : null,
          },
        },
      });
    });

  net.command('disconnect')
    .description('Disconnect a container from a network')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .argument('<network>')
    .argument('<container>')
    .action(async (network: string, container: string, f: { force?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await client.status('POST', `/networks/${encodeURIComponent(network)}/disconnect`, { body: { Container: container, Force: f.force === true } });
    });

  program.command('port')
    .description('List port mappings or a specific mapping for the container')
    .argument('<container>')
    .argument('[port]')
    .action(async (ref: string, port: string | undefined, _f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const c = await client.call<{ Name: string; NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null } }>('GET', `/containers/${encodeURIComponent(ref)}/json`);
      const ports = c.NetworkSettings.Ports ?? {};
      const show = (b: { HostIp: string; HostPort: string }) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
      if (port) {
        const key = port.includes('/') ? port : `${port}/tcp`;
        const list = ports[key];
        if (!list?.length) throw new CliError(`Error: No public port '${key}' published for ${c.Name.slice(1)}`, 1);
        process.stdout.write(list.map((b) => show(b) + '\n').join(''));
        return;
      }
      const keys = Object.keys(ports).sort((a, b) => Number(a.split('/')[0]) - Number(b.split('/')[0]));
      for (const k of keys) for (const b of ports[k] ?? []) process.stdout.write(`${k} -> ${show(b)}\n`);
    });
}
