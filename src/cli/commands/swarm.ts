// `swarm init|join|join-token|leave|update|unlock|unlock-key|ca`, as the
// docker CLI has them: the same flags, requests, output and errors. The spec
// carries only the flags given, so the daemon keeps its defaults for the rest.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { goDurationFlag, parseCsvRecord } from '../swarm-flags.ts';
import type { EngineClient } from '../../client/engine-client.ts';
import type { ExternalCA, Node, SwarmInfo, SwarmSpec } from '../../api/swarm.ts';

interface SwarmFlags {
  taskHistoryLimit?: string;
  dispatcherHeartbeat?: string;
  maxSnapshots?: string;
  snapshotInterval?: string;
  autolock?: boolean | string;
  certExpiry?: string;
  externalCa?: string[];
}

function addSwarmFlags(cmd: Command): Command {
  return cmd
    .option('--task-history-limit <int>', 'Task history retention limit (default 5)')
    .option('--dispatcher-heartbeat <duration>', 'Dispatcher heartbeat period (ns|us|ms|s|m|h) (default 5s)')
    .option('--max-snapshots <uint>', 'Number of additional Raft snapshots to retain')
    .option('--snapshot-interval <uint>', 'Number of log entries between Raft snapshots (default 10000)')
    .option('--cert-expiry <duration>', 'Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)')
    .option('--external-ca <external-ca>', 'Specifications of one or more certificate signing endpoints', collect);
}

const integer = (flag: string, v: string, min = -Infinity): number => {
  if (!/^[+-]?\d+$/.test(v) || Number(v) < min) throw new CliError(`invalid argument "${v}" for "--${flag}" flag: strconv.Parse${min === 0 ? 'Uint' : 'Int'}: parsing "${v}": invalid syntax`, 125);
  return Number(v);
};

/** swarm's ExternalCAOption: `protocol=cfssl,url=…[,cacert=file][,k=v]`. */
function parseExternalCA(spec: string): ExternalCA {
  const ca: ExternalCA = { Protocol: '', URL: '', Options: {} };
  let protocol = false;
  let url = false;
  const fail = (msg: string) => new CliError(`invalid argument "${spec}" for "--external-ca" flag: ${msg}`, 125);
  for (const field of parseCsvRecord(spec)) {
    const eq = field.indexOf('=');
    if (eq < 0) throw fail(`invalid field '${field}' must be a key=value pair`);
    const [key, value] = [field.slice(0, eq), field.slice(eq + 1)];
    switch (key.toLowerCase()) {
      case 'protocol':
        protocol = true;
        if (value.toLowerCase() !== 'cfssl') throw fail(`unrecognized external CA protocol ${value}`);
        ca.Protocol = 'cfssl';
        break;
      case 'url':
        url = true;
        ca.URL = value;
        break;
      case 'cacert': {
        let pem: string;
        try {
          pem = readFileSync(value, 'utf8');
        } catch (err) {
          throw fail(`unable to read CA cert for external CA: ${(err as Error).message}`);
        }
        if (!pem.includes('-----BEGIN')) throw fail('CA cert for external CA must be in PEM format');
        ca.CACert = pem;
        break;
      }
      default:
        ca.Options![key] = value;
    }
  }
  if (!protocol) throw fail('the external-ca option needs a protocol= parameter');
  if (!url) throw fail('the external-ca option needs a url= parameter');
  return ca;
}

/** mergeSwarmSpec: only the flags given change the spec. */
function mergeSwarmSpec(spec: SwarmSpec, f: SwarmFlags, caCert?: string): void {
  if (f.taskHistoryLimit !== undefined) (spec.Orchestration ??= {}).TaskHistoryRetentionLimit = integer('task-history-limit', f.taskHistoryLimit);
  if (f.dispatcherHeartbeat !== undefined) (spec.Dispatcher ??= {}).HeartbeatPeriod = goDurationFlag('dispatcher-heartbeat', f.dispatcherHeartbeat);
  if (f.maxSnapshots !== undefined) (spec.Raft ??= {}).KeepOldSnapshots = integer('max-snapshots', f.maxSnapshots, 0);
  if (f.snapshotInterval !== undefined) (spec.Raft ??= {}).SnapshotInterval = integer('snapshot-interval', f.snapshotInterval, 0);
  if (f.autolock !== undefined) (spec.EncryptionConfig ??= {}).AutoLockManagers = f.autolock === true || f.autolock === 'true';
  if (f.certExpiry !== undefined) (spec.CAConfig ??= {}).NodeCertExpiry = goDurationFlag('cert-expiry', f.certExpiry);
  if (f.externalCa !== undefined) {
    const cas = f.externalCa.map(parseExternalCA);
    if (caCert !== undefined) for (const ca of cas) ca.CACert ||= caCert;
    (spec.CAConfig ??= {}).ExternalCAs = cas;
  }
}

function availability(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const a = v.toLowerCase();
  if (a !== 'active' && a !== 'pause' && a !== 'drain') throw new CliError(`invalid availability "${v}", only active, pause and drain are supported`, 1);
  return a;
}

/** NodeAddrOption: `<ip|interface>[:port]`, the port defaulting to 2377. */
function nodeAddr(v: string | undefined): string {
  if (v === undefined) return '0.0.0.0:2377';
  const s = v.replace(/^tcp:\/\//, '');
  if (/^\[[^\]]*\]$/.test(s) || !/:\d*$/.test(s) || (s.split(':').length > 2 && !s.startsWith('['))) return `${s}:2377`;
  return s.endsWith(':') ? `${s}2377` : s;
}

async function printJoinCommand(client: EngineClient, nodeId: string, worker: boolean, manager: boolean): Promise<void> {
  const node = await client.call<Node>('GET', `/nodes/${encodeURIComponent(nodeId)}`);
  const sw = await client.call<SwarmInfo>('GET', '/swarm');
  if (!node.ManagerStatus) return;
  const addr = node.ManagerStatus.Addr ?? '';
  if (worker) process.stdout.write(`To add a worker to this swarm, run the following command:\n\n    berth swarm join --token ${sw.JoinTokens.Worker} ${addr}\n\n`);
  if (manager) process.stdout.write(`To add a manager to this swarm, run the following command:\n\n    berth swarm join --token ${sw.JoinTokens.Manager} ${addr}\n\n`);
}

function printUnlockCommand(key: string): void {
  if (!key) return;
  process.stdout.write('To unlock a swarm manager after it restarts, run the `berth swarm unlock`\ncommand and provide the following key:\n\n'
    + `    ${key}\n\nRemember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n`);
}

async function unlockKey(client: EngineClient): Promise<string> {
  try {
    return (await client.call<{ UnlockKey: string }>('GET', '/swarm/unlockkey')).UnlockKey;
  } catch (err) {
    throw new CliError(`could not fetch unlock key: ${(err as Error).message}`, 1);
  }
}

async function nodeState(client: EngineClient): Promise<{ LocalNodeState: string; NodeID: string; ControlAvailable: boolean }> {
  return (await client.call<{ Swarm: { LocalNodeState: string; NodeID: string; ControlAvailable: boolean } }>('GET', '/info')).Swarm;
}

/** The first line of stdin (the docker CLI prompts without echo on a terminal). */
async function readKey(prompt: string): Promise<string> {
  if (process.stdin.isTTY) process.stdout.write(prompt);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if ((c as Buffer).includes(10)) break;
  }
  if (process.stdin.isTTY) process.stdout.write('\n');
  return Buffer.concat(chunks).toString('utf8').split('\n')[0].trim();
}

export function registerSwarmCommands(program: Command): void {
  const swarm = program.command('swarm').description('Manage Swarm');

  addSwarmFlags(swarm.command('init').description('Initialize a swarm'))
    .option('--listen-addr <node-addr>', 'Listen address (format: "<ip|interface>[:port]") (default 0.0.0.0:2377)')
    .option('--advertise-addr <string>', 'Advertised address (format: "<ip|interface>[:port]")')
    .option('--data-path-addr <string>', 'Address or interface to use for data path traffic (format: "<ip|interface>")')
    .option('--data-path-port <uint32>', 'Port number to use for data path traffic (1024 - 49151). If no value is set or is set to 0, the default port (4789) is used.')
    .option('--force-new-cluster', 'Force create a new cluster from current state')
    .option('--autolock', 'Enable manager autolocking (requiring an unlock key to start a stopped manager)')
    .option('--availability <string>', 'Availability of the node ("active", "pause", "drain") (default "active")')
    .option('--default-addr-pool <ipNetSlice>', 'default address pool in CIDR format', collect)
    .option('--default-addr-pool-mask-length <uint32>', 'default address pool subnet mask length (default 24)')
    .action(async (f: SwarmFlags & { listenAddr?: string; advertiseAddr?: string; dataPathAddr?: string; dataPathPort?: string; forceNewCluster?: boolean; availability?: string; defaultAddrPool?: string[]; defaultAddrPoolMaskLength?: string }, cmd: Command) => {
      const spec: SwarmSpec = {};
      mergeSwarmSpec(spec, f);
      for (const p of f.defaultAddrPool ?? []) {
        if (!/^[\d.]+\/\d+$|^[0-9a-fA-F:]+\/\d+$/.test(p)) throw new CliError(`invalid argument "${p}" for "--default-addr-pool" flag: invalid CIDR address: ${p}`, 125);
      }
      const body = {
        ListenAddr: nodeAddr(f.listenAddr),
        AdvertiseAddr: f.advertiseAddr ?? '',
        DataPathAddr: f.dataPathAddr ?? '',
        DataPathPort: f.dataPathPort === undefined ? 0 : integer('data-path-port', f.dataPathPort, 0),
        DefaultAddrPool: f.defaultAddrPool ?? [],
        ForceNewCluster: f.forceNewCluster === true,
        Spec: spec,
        AutoLockManagers: f.autolock === true,
        Availability: availability(f.availability) ?? '',
        SubnetSize: f.defaultAddrPoolMaskLength === undefined ? 24 : integer('default-addr-pool-mask-length', f.defaultAddrPoolMaskLength, 0),
      };
      const client = await clientFor(globals(cmd));
      let nodeId: string;
      try {
        nodeId = await client.call<string>('POST', '/swarm/init', { body });
      } catch (err) {
        const m = (err as Error).message;
        if (m.includes('could not choose an IP address to advertise') || m.includes("could not find the system's IP address")) throw new CliError(`Error response from daemon: ${m} - specify one with --advertise-addr`, 1);
        throw err;
      }
      nodeId = String(nodeId).replace(/^"|"$/g, '').trim();
      process.stdout.write(`Swarm initialized: current node (${nodeId}) is now a manager.\n\n`);
      await printJoinCommand(client, nodeId, true, false);
      process.stdout.write("To add a manager to this swarm, run 'berth swarm join-token manager' and follow the instructions.\n");
      if (f.autolock) printUnlockCommand(await unlockKey(client));
    });

  swarm.command('join').description('Join a swarm as a node and/or manager')
    .option('--listen-addr <node-addr>', 'Listen address (format: "<ip|interface>[:port]") (default 0.0.0.0:2377)')
    .option('--advertise-addr <string>', 'Advertised address (format: "<ip|interface>[:port]")')
    .option('--data-path-addr <string>', 'Address or interface to use for data path traffic (format: "<ip|interface>")')
    .option('--token <string>', 'Token for entry into the swarm')
    .option('--availability <string>', 'Availability of the node ("active", "pause", "drain") (default "active")')
    .argument('<HOST:PORT>')
    .action(async (remote: string, f: { listenAddr?: string; advertiseAddr?: string; dataPathAddr?: string; token?: string; availability?: string }, cmd: Command) => {
      const body = {
        ListenAddr: nodeAddr(f.listenAddr),
        AdvertiseAddr: f.advertiseAddr ?? '',
        DataPathAddr: f.dataPathAddr ?? '',
        RemoteAddrs: [remote],
        JoinToken: f.token ?? '',
        Availability: availability(f.availability) ?? '',
      };
      const client = await clientFor(globals(cmd));
      await client.status('POST', '/swarm/join', { body });
      const s = await nodeState(client);
      process.stdout.write(s.ControlAvailable ? 'This node joined a swarm as a manager.\n' : 'This node joined a swarm as a worker.\n');
    });

  swarm.command('join-token').description('Manage join tokens')
    .option('--rotate', 'Rotate join token')
    .option('-q, --quiet', 'Only display token')
    .argument('<role>', '(worker|manager)')
    .action(async (role: string, f: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
      const worker = role === 'worker';
      const manager = role === 'manager';
      if (!worker && !manager) throw new CliError(`unknown role ${role}`, 1);
      const client = await clientFor(globals(cmd));
      if (f.rotate) {
        const sw = await client.call<SwarmInfo>('GET', '/swarm');
        await client.status('POST', '/swarm/update', {
          query: { version: sw.Version.Index, rotateWorkerToken: worker ? 'true' : 'false', rotateManagerToken: manager ? 'true' : 'false', rotateManagerUnlockKey: 'false' },
          body: sw.Spec,
        });
        if (!f.quiet) process.stdout.write(`Successfully rotated ${role} join token.\n\n`);
      }
      const sw = await client.call<SwarmInfo>('GET', '/swarm');
      if (f.quiet) {
        process.stdout.write((worker ? sw.JoinTokens.Worker : sw.JoinTokens.Manager) + '\n');
        return;
      }
      await printJoinCommand(client, (await nodeState(client)).NodeID, worker, manager);
    });

  swarm.command('leave').description('Leave the swarm')
    .option('-f, --force', 'Force this node to leave the swarm, ignoring warnings')
    .action(async (f: { force?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      await client.status('POST', '/swarm/leave', { query: f.force ? { force: '1' } : {} });
      process.stdout.write('Node left the swarm.\n');
    });

  addSwarmFlags(swarm.command('update').description('Update the swarm'))
    .option('--autolock <bool>', 'Change manager autolocking setting (true|false)')
    .action(async (f: SwarmFlags, cmd: Command) => {
      if (Object.values(f).every((v) => v === undefined)) {
        cmd.outputHelp();
        return;
      }
      if (f.autolock !== undefined && !['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False'].includes(String(f.autolock))) {
        throw new CliError(`invalid argument "${f.autolock}" for "--autolock" flag: strconv.ParseBool: parsing "${f.autolock}": invalid syntax`, 125);
      }
      if (typeof f.autolock === 'string') f.autolock = ['true', '1', 't', 'TRUE', 'True'].includes(f.autolock);
      const client = await clientFor(globals(cmd));
      const sw = await client.call<SwarmInfo>('GET', '/swarm');
      const before = sw.Spec.EncryptionConfig?.AutoLockManagers === true;
      mergeSwarmSpec(sw.Spec, f, sw.TLSInfo?.TrustRoot);
      await client.status('POST', '/swarm/update', {
        query: { version: sw.Version.Index, rotateWorkerToken: 'false', rotateManagerToken: 'false', rotateManagerUnlockKey: 'false' },
        body: sw.Spec,
      });
      process.stdout.write('Swarm updated.\n');
      if (!before && sw.Spec.EncryptionConfig?.AutoLockManagers) printUnlockCommand(await unlockKey(client));
    });

  swarm.command('unlock').description('Unlock swarm')
    .action(async (_f: unknown, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const state = (await nodeState(client)).LocalNodeState;
      if (state === 'inactive') throw new CliError('Error: This node is not part of a swarm', 1);
      if (state !== 'locked') throw new CliError('Error: swarm is not locked', 1);
      const key = await readKey('Enter unlock key: ');
      await client.status('POST', '/swarm/unlock', { body: { UnlockKey: key } });
    });

  swarm.command('unlock-key').description('Manage the unlock key')
    .option('--rotate', 'Rotate unlock key')
    .option('-q, --quiet', 'Only display token')
    .action(async (f: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      if (f.rotate) {
        const sw = await client.call<SwarmInfo>('GET', '/swarm');
        if (!sw.Spec.EncryptionConfig?.AutoLockManagers) throw new CliError('cannot rotate because autolock is not turned on', 1);
        await client.status('POST', '/swarm/update', {
          query: { version: sw.Version.Index, rotateWorkerToken: 'false', rotateManagerToken: 'false', rotateManagerUnlockKey: 'true' },
          body: sw.Spec,
        });
        if (!f.quiet) process.stdout.write('Successfully rotated manager unlock key.\n');
      }
      const key = await unlockKey(client);
      if (!key) throw new CliError('no unlock key is set', 1);
      if (f.quiet) process.stdout.write(key + '\n');
      else printUnlockCommand(key);
    });

  swarm.command('ca').description('Display and rotate the root CA')
    .option('--cert-expiry <duration>', 'Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)')
    .option('--external-ca <external-ca>', 'Specifications of one or more certificate signing endpoints', collect)
    .option('--rotate', 'Rotate the swarm CA - if no certificate or key are provided, new ones will be generated')
    .option('--ca-cert <pem-file>', 'Path to the PEM-formatted root CA certificate to use for the new cluster')
    .option('--ca-key <pem-file>', 'Path to the PEM-formatted root CA key to use for the new cluster')
    .option('-d, --detach', 'Exit immediately instead of waiting for the root rotation to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .action(async (f: SwarmFlags & { rotate?: boolean; caCert?: string; caKey?: string; detach?: boolean; quiet?: boolean }, cmd: Command) => {
      const pem = (flag: string, path: string | undefined): string => {
        if (path === undefined) return '';
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch (err) {
          throw new CliError(`invalid argument "${path}" for "--${flag}" flag: ${(err as Error).message}`, 125);
        }
        if (!text.includes('-----BEGIN')) throw new CliError(`invalid argument "${path}" for "--${flag}" flag: file contents must be in PEM format`, 125);
        return text;
      };
      const caCert = pem('ca-cert', f.caCert);
      const caKey = pem('ca-key', f.caKey);
      const client = await clientFor(globals(cmd));
      const sw = await client.call<SwarmInfo>('GET', '/swarm');
      const show = (info: SwarmInfo) => {
        const root = info.TLSInfo?.TrustRoot ?? '';
        if (!root) throw new CliError('No CA information available', 1);
        process.stdout.write(root.trim() + '\n');
      };
      if (!f.rotate) {
        for (const [flag, v] of [['ca-cert', f.caCert], ['ca-key', f.caKey], ['cert-expiry', f.certExpiry], ['external-ca', f.externalCa]] as const) {
          if (v !== undefined) throw new CliError(`\`--${flag}\` flag requires the \`--rotate\` flag to update the CA`, 1);
        }
        show(sw);
        return;
      }
      if (f.externalCa?.length && f.caCert === undefined) {
        throw new CliError('rotating to an external CA requires the `--ca-cert` flag to specify the external CA\'s cert - to add an external CA with the current root CA certificate, use the `update` command instead', 1);
      }
      if (f.caCert !== undefined && !f.externalCa?.length && f.caKey === undefined) {
        throw new CliError('the --ca-cert flag requires that a --ca-key flag and/or --external-ca flag be provided as well', 1);
      }
      mergeSwarmSpec(sw.Spec, { certExpiry: f.certExpiry, externalCa: f.externalCa }, caCert);
      const ca = (sw.Spec.CAConfig ??= {});
      ca.SigningCACert = caCert;
      ca.SigningCAKey = caKey;
      if (!caCert && !caKey) ca.ForceRotate = (ca.ForceRotate ?? 0) + 1;
      await client.status('POST', '/swarm/update', {
        query: { version: sw.Version.Index, rotateWorkerToken: 'false', rotateManagerToken: 'false', rotateManagerUnlockKey: 'false' },
        body: sw.Spec,
      });
      if (f.detach) return;
      // The rotation converges when the cluster's root is the one asked for
      // (or, rotated without material, any new one) and no rotation is in progress.
      const oldRoot = sw.TLSInfo?.TrustRoot ?? '';
      for (;;) {
        const now = await client.call<SwarmInfo & { RootRotationInProgress?: boolean }>('GET', '/swarm');
        const root = now.TLSInfo?.TrustRoot ?? '';
        if (!now.RootRotationInProgress && (caCert ? root.trim() === caCert.trim() : root !== oldRoot)) {
          if (!f.quiet) process.stdout.write('Root CA rotation done.\n');
          if (!f.quiet) show(now);
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    });
}
