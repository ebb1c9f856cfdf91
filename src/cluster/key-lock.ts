// Autolock, as swarm's: with Spec.EncryptionConfig.AutoLockManagers on, a
// manager's private keys at rest (its TLS key, the CA key, the secrets' data
// key) are sealed with the swarm's unlock key, which lives only in the
// managers' memory. A manager's daemon restarted finds them sealed and stays
// "locked" until `swarm unlock` gives the key back.
//
// The key never goes into etcd (its data files are not encrypted here, as
// swarm's raft log is): etcd holds only a hash naming the current key, and a
// manager whose key does not match asks another manager for it over the
// swarm port (mutual TLS, managers only).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, UnauthorizedError } from '../errors.ts';
import { writeFileAtomic } from '../files/atomic.ts';

const HUMAN_PREFIX = 'SWMKEY-1-';
const SEALED = 'BERTH SWARM SEALED KEY';
export const INVALID_KEY = 'swarm could not be unlocked: invalid key provided';

/** swarmkit's unlock key: 32 random bytes. */
export function newUnlockKey(): Buffer {
  return randomBytes(32);
}

/** `SWMKEY-1-<base64, no padding>`, as swarm prints it. */
export function humanKey(kek: Buffer): string {
  return HUMAN_PREFIX + kek.toString('base64').replace(/=+$/, '');
}

/** swarmkit's parse: the prefix, then raw standard base64; anything else is "invalid key string". */
export function parseHumanKey(text: string): Buffer {
  const b64 = text.startsWith(HUMAN_PREFIX) ? text.slice(HUMAN_PREFIX.length) : undefined;
  if (b64 === undefined || !/^[A-Za-z0-9+/]*$/.test(b64) || b64.length % 4 === 1) throw new InvalidArgumentError('invalid key string');
  return Buffer.from(b64, 'base64');
}

/** What etcd keeps of the key: a name for it, from which it cannot be had back. */
export function keyHash(kek: Buffer): string {
  return createHash('sha256').update('berth swarm unlock key\0').update(kek).digest('hex');
}

export function isSealed(data: Buffer | string): boolean {
  return data.toString().startsWith(`-----BEGIN ${SEALED}-----`);
}

/** AES-256-GCM under the unlock key; the file's name is bound in, so a sealed key moved to another file does not open. */
function seal(kek: Buffer, label: string, plain: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv);
  c.setAAD(Buffer.from(label));
  const body = Buffer.concat([iv, Buffer.alloc(16), c.update(plain), c.final()]);
  c.getAuthTag().copy(body, 12);
  const b64 = body.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${SEALED}-----\n${b64}-----END ${SEALED}-----\n`;
}

function unseal(kek: Buffer, label: string, pem: string): Buffer {
  const raw = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  if (kek.length !== 32 || raw.length < 28) throw new UnauthorizedError(INVALID_KEY);
  try {
    const d = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
    d.setAAD(Buffer.from(label));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]);
  } catch {
    throw new UnauthorizedError(INVALID_KEY);
  }
}

/**
 * A node's private key files and the unlock key that seals them (or none).
 * Reads give the plain key whatever the file holds; `apply` rewrites every
 * file sealed under a new key or plain, each atomically, so a crash leaves
 * files that each open (a mix opens with the one key too).
 */
export class NodeKeys {
  /** The unlock key in force, in memory only; undefined when autolock is off. */
  kek?: Buffer;
  private memFd?: number;
  private readonly dir: string;
  private readonly names: () => string[];

  /** names: the files under dir holding private keys (those present are sealed). */
  constructor(dir: string, names: () => string[]) {
    this.dir = dir;
    this.names = names;
  }

  private present(): string[] {
    return this.names().filter((n) => existsSync(join(this.dir, n)));
  }

  /** Any key file sealed: a restarted manager starts locked. */
  sealed(): boolean {
    return this.present().some((n) => isSealed(readFileSync(join(this.dir, n))));
  }

  /** Every key file as the lock says: sealed with a key in force, plain without one. */
  settled(): boolean {
    return this.present().every((n) => isSealed(readFileSync(join(this.dir, n))) === (this.kek !== undefined));
  }

  /** The key is the right one if it opens every sealed file; then it is kept. */
  unlock(kek: Buffer): void {
    for (const n of this.present()) {
      const data = readFileSync(join(this.dir, n), 'utf8');
      if (isSealed(data)) unseal(kek, n, data);
    }
    this.kek = kek;
  }

  read(name: string): Buffer {
    return this.open(name, readFileSync(join(this.dir, name)));
  }

  /** A key file's content as read, unsealed if it is sealed. */
  open(name: string, data: Buffer): Buffer {
    if (!isSealed(data)) return data;
    if (!this.kek) throw new UnauthorizedError(INVALID_KEY);
    return unseal(this.kek, name, data.toString('utf8'));
  }

  /** Writes a key file as the lock now is (sealed under the unlock key, or plain). */
  async write(name: string, plain: Buffer | string): Promise<void> {
    const buf = Buffer.from(plain);
    await writeFileAtomic(join(this.dir, name), this.kek ? seal(this.kek, name, buf) : buf, 0o600);
  }

  /** Every key file sealed under `kek` (undefined: plain): autolock turned on, off, or its key rotated. */
  async apply(kek: Buffer | undefined): Promise<void> {
    const plain = this.present().map((n) => [n, this.read(n)] as const);
    this.kek = kek;
    for (const [n, data] of plain) await this.write(n, data);
  }

  /**
   * The node's certificate and key in one file that exists only in memory,
   * for etcd, which reads its key file at every handshake and would find it
   * sealed: an unlinked file on a tmpfs, held open by the daemon and handed
   * to etcd as an inherited descriptor. Rewritten in place when the
   * certificate is renewed.
   */
  memoryFile(content: string): number {
    const base = existsSync('/dev/shm') ? '/dev/shm' : this.dir;
    if (this.memFd === undefined) {
      const path = join(base, `berth-swarm-${process.pid}-${randomBytes(6).toString('hex')}`);
      this.memFd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
      unlinkSync(path);
    }
    const buf = Buffer.from(content);
    writeSync(this.memFd, buf, 0, buf.length, 0);
    ftruncateSync(this.memFd, buf.length);
    return this.memFd;
  }

  /** Forgets what is held in memory (the daemon stops, or the node leaves). */
  close(): void {
    if (this.memFd !== undefined) closeSync(this.memFd);
    this.memFd = undefined;
  }
}
