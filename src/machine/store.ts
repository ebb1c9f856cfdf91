// Machines as docker-machine keeps them: one directory per machine under
// ~/.berth/machine/machines/NAME/ holding config.json and the TLS material
// (ca.pem, cert.pem, key.pem for the client; ca-key.pem, server.pem,
// server-key.pem to re-issue). A machine is made in a hidden staging
// directory and renamed into place whole, so a failed create leaves nothing
// `machine ls` can see; each later change of a file is an atomic write.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';

export const ENGINE_PORT = 2376;

/** config.json: docker-machine's host file, with berth's own part under `Berth`. */
export interface MachineConfig {
  ConfigVersion: number;
  Name: string;
  DriverName: 'ssh';
  Driver: {
    IPAddress: string;
    MachineName: string;
    SSHUser: string;
    SSHPort: number;
    SSHKeyPath: string;
    StorePath: string;
    EnginePort: number;
  };
  HostOptions: {
    AuthOptions: {
      CertDir: string;
      CaCertPath: string;
      CaPrivateKeyPath: string;
      ServerCertPath: string;
      ServerKeyPath: string;
      ClientCertPath: string;
      ClientKeyPath: string;
      ServerCertSANs: string[];
      StorePath: string;
    };
  };
  Berth: {
    /** How the remote daemon runs: a systemd unit, or a background process with a pidfile. */
    Service: 'systemd' | 'pidfile';
    /** The remote user is not root: commands go through `sudo -n`. */
    Sudo: boolean;
    /** How berth got there: the README's install script on the host, or a copy of the creating host's build. Absent in machines made before the choice. */
    InstallMethod?: 'script' | 'copy';
    Created: string;
  };
}

/** docker-machine's rule for a machine name (a host name). */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/;

export function checkMachineName(name: string): void {
  if (!NAME_RE.test(name) || name.length > 64) {
    throw new MachineError('Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -');
  }
}

/** A user-facing failure of a machine command; the message is final. */
export class MachineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MachineError';
  }
}

export class MachineStore {
  readonly root: string;
  constructor(root = process.env.MACHINE_STORAGE_PATH || join(process.env.HOME ?? '/root', '.berth', 'machine')) {
    this.root = root;
  }

  private get machines(): string {
    return join(this.root, 'machines');
  }

  dir(name: string): string {
    return join(this.machines, name);
  }

  exists(name: string): boolean {
    return NAME_RE.test(name) && existsSync(join(this.dir(name), 'config.json'));
  }

  /** Names in order; hidden entries are staging directories of creates in progress (or killed). */
  names(): string[] {
    let entries: string[];
    try {
      entries = readdirSync(this.machines);
    } catch {
      return [];
    }
    return entries.filter((n) => NAME_RE.test(n) && existsSync(join(this.machines, n, 'config.json'))).sort();
  }

  load(name: string): MachineConfig {
    if (!this.exists(name)) throw new MachineError(`Host does not exist: "${name}"`);
    return JSON.parse(readFileSync(join(this.dir(name), 'config.json'), 'utf8')) as MachineConfig;
  }

  /** A fresh hidden directory to build a machine in; commit() renames it into place. */
  stage(name: string): string {
    mkdirSync(this.machines, { recursive: true, mode: 0o700 });
    return mkdtempSync(join(this.machines, `.${name}.creating-`));
  }

  /** Moves a staged machine into place; fails if the name was taken meanwhile. */
  commit(staging: string, name: string): void {
    if (existsSync(this.dir(name))) throw new MachineError(`Host already exists: "${name}"`);
    renameSync(staging, this.dir(name));
  }

  writeConfig(dir: string, config: MachineConfig): void {
    writeFileAtomicSync(join(dir, 'config.json'), JSON.stringify(config, null, '    ') + '\n', 0o600);
  }

  remove(name: string): void {
    // Renamed away first, so a crash midway never leaves a half-removed machine listed.
    const gone = join(this.machines, `.${name}.removing-${process.pid}`);
    renameSync(this.dir(name), gone);
    rmSync(gone, { recursive: true, force: true });
  }

  discard(staging: string): void {
    rmSync(staging, { recursive: true, force: true });
  }

  /** Copies files from `from` over the machine's, each replaced atomically (keys stay 0600). */
  replaceFiles(name: string, from: string, files: string[]): void {
    for (const f of files) writeFileAtomicSync(join(this.dir(name), f), readFileSync(join(from, f)), 0o600);
  }
}
