// Trust on first use, as Notary's client did: the first signer list a client
// accepts for a repository pins that list's root key and version in
// $DOCKER_CONFIG/trust/roots.json. Later lists must carry the same root and
// a version no lower than the highest seen (no rollback).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../files/atomic.ts';
import { BadSignerListError, type SignerList } from './signer-list.ts';

export interface Pin {
  /** Key ID of the pinned root. */
  root: string;
  /** Highest list version accepted. */
  version: number;
  /** sha256 of that version's signed payload: the same version must not say something else. */
  payload?: string;
  pinned: string;
}

export const PINS_FILE = 'roots.json';

export class PinStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  private get path(): string {
    return join(this.dir, PINS_FILE);
  }

  private read(): Record<string, Pin> {
    if (!existsSync(this.path)) return {};
    const v = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Pin>) : {};
  }

  get(repo: string): Pin | undefined {
    return this.read()[repo];
  }

  private set(repo: string, pin: Pin): void {
    const all = this.read();
    all[repo] = pin;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomicSync(this.path, JSON.stringify(all, null, 2) + '\n', 0o600);
  }

  /** Accepts a verified list against the pin (pinning it if there is none); another root or a lower version is refused. */
  accept(list: SignerList): void {
    const pin = this.get(list.repository);
    if (pin && pin.root !== list.root.id) {
      throw new BadSignerListError(`signer list of ${list.repository} is signed by root key ${list.root.id.slice(0, 12)}, not by the root key ${pin.root.slice(0, 12)} pinned on first use (${join(this.dir, PINS_FILE)})`);
    }
    if (pin && list.version < pin.version) {
      throw new BadSignerListError(`signer list of ${list.repository} has version ${list.version}, older than version ${pin.version} already seen: rollback refused`);
    }
    if (pin && list.version === pin.version && pin.payload !== undefined && pin.payload !== list.payloadDigest) {
      throw new BadSignerListError(`signer list of ${list.repository} changed without a new version (version ${list.version})`);
    }
    if (!pin || list.version > pin.version) this.set(list.repository, { root: list.root.id, version: list.version, payload: list.payloadDigest, pinned: pin?.pinned ?? new Date().toISOString() });
  }
}
