// Where the CLI keeps content trust: keys, local signers and root pins under
// $DOCKER_CONFIG/trust, a registry client per domain (with the login's
// credentials and the certs.d roots), and passphrases from the environment
// or a terminal, never printed.
import { join } from 'node:path';
import { KeyStore } from '../trust/keys.ts';
import { PinStore } from '../trust/pins.ts';
import { SignerStore } from '../trust/signers.ts';
import { RegistryClient } from '../trust/registry.ts';
import { DEFAULT_CERTS_DIRS } from '../files/certs-d.ts';
import { CliError } from './context.ts';
import { configDir, DEFAULT_SERVER, getCredential } from './credentials.ts';

export const REPOSITORY_PASSPHRASE_ENV = 'DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE';
/** certs.d roots for the trust client, colon-separated, instead of /etc/berth/certs.d and /etc/docker/certs.d. */
export const CERTS_D_ENV = 'BERTH_CERTS_D';

export interface TrustContext {
  keys: KeyStore;
  signers: SignerStore;
  /** Root keys (and list versions) pinned on first use. */
  pins: PinStore;
  registry(domain: string): RegistryClient;
}

export function trustContext(config?: string): TrustContext {
  const dir = configDir(config);
  const trustDir = join(dir, 'trust');
  const certsDirs = process.env[CERTS_D_ENV] ? process.env[CERTS_D_ENV].split(':').filter(Boolean) : DEFAULT_CERTS_DIRS;
  // One client per registry, so a token fetched once serves the whole command.
  const clients = new Map<string, RegistryClient>();
  return {
    keys: new KeyStore(trustDir),
    signers: new SignerStore(trustDir),
    pins: new PinStore(trustDir),
    registry: (domain) => {
      let r = clients.get(domain);
      if (!r) {
        const c = getCredential(dir, domain === 'docker.io' ? DEFAULT_SERVER : domain);
        r = new RegistryClient(domain, c && !c.identitytoken ? { username: c.username, password: c.password } : undefined, { certsDirs });
        clients.set(domain, r);
      }
      return r;
    },
  };
}

/** A passphrase from the environment or, on a terminal, typed without echo; never printed. */
export async function passphrase(env: string, prompt: string, confirm = false): Promise<string> {
  const v = process.env[env];
  if (v !== undefined && v !== '') return v;
  if (!process.stdin.isTTY) throw new CliError(`error: a passphrase is needed (${prompt.replace(/:\s*$/, '')}): set ${env} or run on a terminal`, 1);
  const first = await readHidden(prompt);
  if (confirm && (await readHidden('Repeat passphrase: ')) !== first) throw new CliError('error: passphrases do not match', 1);
  return first;
}

/** One line from the terminal with echo off. A listener, not `for await`: leaving that loop would destroy stdin for the next prompt. */
function readHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  return new Promise<string>((resolve, reject) => {
    let s = '';
    const done = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(s);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('', 130));
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

