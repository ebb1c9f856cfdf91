// `machine create` and what changes a machine later (its daemon's state, its
// certificates, its removal), each as few ssh sessions as it can: on a loaded
// machine one session costs a second or more.
import { copyFileSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cleanScratch, makeCa, makeClientCert, makeServerCert, serverSans } from './certs.ts';
import { buildId, packageTar, sourceTar } from './package.ts';
import { probeDaemon, waitForDaemon, type DaemonState } from './probe.ts';
import {
  daemonJson, INSTALL_SCRIPT, installPackagesScript, parseProbe, probeScript, RECERT_SCRIPT, SCRIPT_INSTALL_SCRIPT, SERVICE, SERVICE_SCRIPT,
  SYSTEMD_UNIT, UNINSTALL_SCRIPT, type HostFacts,
} from './remote.ts';
import { NPM_REGISTRY, unreachedPhrase } from './reach.ts';
import { forgetHostKey, sshError, sshRun, type SshTarget } from './ssh.ts';
import { ENGINE_PORT, MachineError, MachineStore, type MachineConfig } from './store.ts';

/** How long a daemon gets to answer after a (re)start. */
const DAEMON_WAIT_MS = 90_000;

export type InstallMethod = 'script' | 'copy' | 'auto';

export interface CreateOptions extends Omit<SshTarget, 'knownHosts'> {
  name: string;
  /** script: the README's install script on the host; copy: this host's build; auto: script when the host reaches the registries. */
  installMethod: InstallMethod;
  log: (line: string) => void;
}

export function targetOf(c: MachineConfig): SshTarget {
  return { host: c.Driver.IPAddress, user: c.Driver.SSHUser, port: c.Driver.SSHPort, key: c.Driver.SSHKeyPath || undefined, knownHosts: join(c.Driver.StorePath, 'known_hosts') };
}

export function clientTls(dir: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(join(dir, 'ca.pem')), cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
}

export function machineUrl(c: MachineConfig): string {
  const h = c.Driver.IPAddress;
  return `tcp://${h.includes(':') ? `[${h}]` : h}:${c.Driver.EnginePort}`;
}

export function machineState(store: MachineStore, c: MachineConfig, timeoutMs = 10_000): Promise<DaemonState> {
  return probeDaemon(c.Driver.IPAddress, c.Driver.EnginePort, clientTls(store.dir(c.Name)), timeoutMs);
}

async function look(t: SshTarget, reach: boolean): Promise<HostFacts> {
  const r = await sshRun(t, probeScript({ reach }), { timeoutMs: 60_000 });
  if (r.code !== 0) throw new MachineError(`Error creating machine: cannot reach ${t.host} over ssh: ${sshError(r)}`);
  return parseProbe(r.stdout);
}

function checkDebian(t: SshTarget, f: HostFacts): void {
  if (!f.hasOsRelease) throw new MachineError(`Error creating machine: Error detecting OS: ${t.host} has no /etc/os-release; berth machine provisions Debian hosts only`);
  if (f.osRelease.ID !== 'debian') {
    throw new MachineError(`Error creating machine: Error detecting OS: ${t.host} is not Debian (ID=${f.osRelease.ID ?? ''} in /etc/os-release); berth machine provisions Debian hosts only`);
  }
  if (f.arch !== 'x86_64') throw new MachineError(`Error creating machine: ${t.host} is ${f.arch}; the berth package this host copies is built for x86_64`);
}

/** Makes the machine in a staging directory, provisions the host, and moves the machine into the store. */
export async function createMachine(store: MachineStore, o: CreateOptions): Promise<MachineConfig> {
  if (store.exists(o.name)) throw new MachineError(`Host already exists: "${o.name}"`);
  const t: SshTarget = { host: o.host, user: o.user, port: o.port, key: o.key, knownHosts: join(store.root, 'known_hosts') };
  o.log('Running pre-create checks...');
  if (o.key) {
    try {
      readFileSync(o.key);
    } catch (err) {
      throw new MachineError(`Error creating machine: reading the ssh key: ${(err as Error).message}`);
    }
  }
  const staging = store.stage(o.name);
  let remoteTouched = false;
  let sudo = false;
  try {
    o.log('Creating machine...');
    o.log(`Waiting for ${o.host} to answer over ssh...`);
    const facts = await look(t, o.installMethod !== 'copy');
    o.log('Detecting operating system of created instance...');
    checkDebian(t, facts);
    sudo = facts.uid !== 0;
    if (sudo && !facts.sudo) {
      throw new MachineError(`Error creating machine: ${o.user}@${o.host} is not root and cannot run sudo without a password; berth machine needs root or password-less sudo on the host`);
    }
    const method = chooseMethod(t, o.installMethod, facts);
    o.log(`Provisioning with ${facts.osRelease.PRETTY_NAME ?? 'Debian'}...`);
    if (method === 'script') o.log(`Installing berth with its install script (${o.host} reaches ${facts.apt!.host} and ${NPM_REGISTRY})...`);
    else if (o.installMethod === 'auto') o.log(`Copying this host's berth (${unreachedPhrase(o.host, [facts.apt, facts.npm])})...`);
    if (method === 'copy' && facts.missing.length) {
      o.log(`Installing ${facts.missing.join(', ')}...`);
      const r = await sshRun(t, installPackagesScript(facts.missing), { sudo, timeoutMs: 600_000 });
      if (r.code !== 0) {
        throw new MachineError(`Error creating machine: berth needs ${facts.missing.join(', ')} on ${o.host}, and apt-get could not install them: ${sshError(r)}`);
      }
    }

    // The key moves with the machine, as docker-machine's does.
    const keyPath = o.key ? join(store.dir(o.name), basename(o.key)) : '';
    if (o.key) copyFileSync(o.key, join(staging, basename(o.key)));
    o.log('Copying certs to the local machine directory...');
    const sans = serverSans(o.host);
    makeCa(staging, o.name);
    makeServerCert(staging, o.name, sans);
    makeClientCert(staging, o.name);
    cleanScratch(staging);

    const dir = store.dir(o.name);
    const config: MachineConfig = {
      ConfigVersion: 3,
      Name: o.name,
      DriverName: 'ssh',
      Driver: { IPAddress: o.host, MachineName: o.name, SSHUser: o.user, SSHPort: o.port, SSHKeyPath: keyPath, StorePath: store.root, EnginePort: ENGINE_PORT },
      HostOptions: {
        AuthOptions: {
          CertDir: dir,
          CaCertPath: join(dir, 'ca.pem'),
          CaPrivateKeyPath: join(dir, 'ca-key.pem'),
          ServerCertPath: join(dir, 'server.pem'),
          ServerKeyPath: join(dir, 'server-key.pem'),
          ClientCertPath: join(dir, 'cert.pem'),
          ClientKeyPath: join(dir, 'key.pem'),
          ServerCertSANs: sans,
          StorePath: dir,
        },
      },
      Berth: { Service: facts.systemd ? 'systemd' : 'pidfile', Sudo: sudo, InstallMethod: method, Created: new Date().toISOString() },
    };
    store.writeConfig(staging, config);

    remoteTouched = true;
    if (method === 'script') {
      o.log('Copying the berth source and certs to the remote machine, running scripts/install.sh there...');
      await install(t, staging, sudo, 'script');
    } else {
      const sendPackage = facts.build !== buildId();
      o.log(sendPackage ? 'Copying berth and certs to the remote machine...' : 'Copying certs to the remote machine (berth is already there)...');
      await install(t, staging, sudo, sendPackage ? 'package' : 'none');
    }
    o.log('Checking connection to berth...');
    const s = await waitForDaemon(o.host, ENGINE_PORT, clientTls(staging), DAEMON_WAIT_MS);
    if (s.state !== 'Running') throw new MachineError(`Error creating machine: the berth daemon on ${o.host} did not answer on ${machineUrl(config)}: ${s.error || s.state}`);
    store.commit(staging, o.name);
    o.log('berth is up and running!');
    return config;
  } catch (err) {
    store.discard(staging);
    forgetUnused(store, t);
    // A host left half-provisioned would run a daemon nobody has certificates for.
    if (remoteTouched) await sshRun(t, UNINSTALL_SCRIPT, { sudo, timeoutMs: 60_000 }).catch(() => undefined);
    throw err;
  }
}

/** auto: the install script when the host reaches its apt mirror and npm's registry over trusted HTTPS, else the copy. */
function chooseMethod(t: SshTarget, asked: InstallMethod, f: HostFacts): 'script' | 'copy' {
  if (asked === 'copy') return 'copy';
  const why = unreachedPhrase(t.host, [f.apt, f.npm]);
  if (asked === 'script' && why) {
    throw new MachineError(`Error creating machine: --install-method script: ${why}; use --install-method copy to copy this host's berth`);
  }
  return why ? 'copy' : 'script';
}

async function install(t: SshTarget, dir: string, sudo: boolean, what: 'package' | 'none' | 'script'): Promise<void> {
  const files = {
    'daemon.json': daemonJson(),
    'ca.pem': readFileSync(join(dir, 'ca.pem')),
    'server.pem': readFileSync(join(dir, 'server.pem')),
    'server-key.pem': readFileSync(join(dir, 'server-key.pem')),
    'berth-service': SERVICE_SCRIPT,
    'berth.service': SYSTEMD_UNIT,
  };
  if (what === 'script') await sendTar(t, sourceTar(files), SCRIPT_INSTALL_SCRIPT, sudo, 'installing berth');
  else await sendTar(t, packageTar(files, what === 'package'), INSTALL_SCRIPT, sudo, 'installing berth');
}

async function sendTar(t: SshTarget, tar: ReturnType<typeof packageTar>, script: string, sudo: boolean, what: string): Promise<void> {
  const { child, cleanup } = tar;
  let tarErr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { tarErr += c; });
  const tarDone = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  try {
    const r = await sshRun(t, script, { input: child.stdout!, sudo, timeoutMs: 600_000 });
    const tarCode = await tarDone;
    if (tarCode !== 0) throw new MachineError(`Error ${what} on ${t.host}: tar: ${tarErr.trim()}`);
    if (r.code !== 0) throw new MachineError(`Error ${what} on ${t.host}: ${sshError(r)}`);
  } finally {
    cleanup();
  }
}

/** start|stop|restart of the remote daemon; start and restart wait until it answers. */
export async function serviceAction(store: MachineStore, c: MachineConfig, action: 'start' | 'stop' | 'restart'): Promise<void> {
  const r = await sshRun(targetOf(c), action === 'stop' ? `${SERVICE} stop` : `${SERVICE} ${action} && ${SERVICE} wait`, { sudo: c.Berth.Sudo, timeoutMs: 120_000 });
  if (r.code !== 0) throw new MachineError(`Error: cannot ${action} the berth daemon of "${c.Name}": ${sshError(r)}`);
  if (action === 'stop') return;
  const s = await waitForDaemon(c.Driver.IPAddress, c.Driver.EnginePort, clientTls(store.dir(c.Name)), DAEMON_WAIT_MS);
  if (s.state !== 'Running') throw new MachineError(`Error: the berth daemon of "${c.Name}" did not answer after ${action}: ${s.error || s.state}`);
}

/**
 * New server certificate (and, with `clientCerts`, a new CA and client
 * certificate), made beside the old ones, installed remotely and only then
 * put in place locally, each file atomically. Returns the client material.
 */
export async function regenerateCerts(store: MachineStore, c: MachineConfig, clientCerts: boolean): Promise<void> {
  const dir = store.dir(c.Name);
  const scratch = store.stage(`${c.Name}.certs`);
  try {
    if (clientCerts) makeCa(scratch, c.Name);
    else for (const f of ['ca.pem', 'ca-key.pem']) copyFileSync(join(dir, f), join(scratch, f));
    const sans = serverSans(c.Driver.IPAddress);
    makeServerCert(scratch, c.Name, sans);
    if (clientCerts) makeClientCert(scratch, c.Name);
    else for (const f of ['cert.pem', 'key.pem']) copyFileSync(join(dir, f), join(scratch, f));
    cleanScratch(scratch);
    const files = { 'ca.pem': readFileSync(join(scratch, 'ca.pem')), 'server.pem': readFileSync(join(scratch, 'server.pem')), 'server-key.pem': readFileSync(join(scratch, 'server-key.pem')) };
    await sendTar(targetOf(c), packageTar(files, false), RECERT_SCRIPT, c.Berth.Sudo, 'regenerating certificates');
    store.replaceFiles(c.Name, scratch, ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'cert.pem', 'key.pem']);
    c.HostOptions.AuthOptions.ServerCertSANs = sans;
    store.writeConfig(dir, c);
    const s = await waitForDaemon(c.Driver.IPAddress, c.Driver.EnginePort, clientTls(dir), DAEMON_WAIT_MS);
    if (s.state !== 'Running') throw new MachineError(`Error: the berth daemon of "${c.Name}" did not answer with its new certificates: ${s.error || s.state}`);
  } finally {
    store.discard(scratch);
  }
}

/** The remote half of `machine rm`: the daemon stopped, berth's service, configuration and package removed. */
export async function uninstall(c: MachineConfig): Promise<void> {
  const r = await sshRun(targetOf(c), UNINSTALL_SCRIPT, { sudo: c.Berth.Sudo, timeoutMs: 120_000 });
  if (r.code !== 0) throw new MachineError(`Error removing host "${c.Name}": ${sshError(r)}`);
}

/** Forgets the ssh host keys of an address no machine in the store uses (any longer). */
function forgetUnused(store: MachineStore, t: SshTarget): void {
  const used = store.names().some((n) => {
    const d = store.load(n).Driver;
    return d.IPAddress === t.host && d.SSHPort === t.port;
  });
  if (!used) forgetHostKey(t);
}

/** After `machine rm`: what the store remembers of the machine's host. */
export function forgetHost(store: MachineStore, c: MachineConfig): void {
  forgetUnused(store, targetOf(c));
}
