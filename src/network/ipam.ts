// Address allocation for one network. Docker hands out the lowest free
// address, so a restarting container can find its old one taken by a peer;
// here a cursor walks the range and a released address is handed out again
// only once the cursor has come round, so the previous holder gets it back.
import { createServer } from 'node:net';
import { InvalidArgumentError, ConflictError, ForbiddenError, SystemError, UnavailableError } from '../errors.ts';
import { broadcast, contains, formatCidr, formatIPv4, overlaps, parseCidr, parseIPv4, type Subnet } from '../api/address.ts';

export class PoolExhaustedError extends UnavailableError {}

/** The first subnet of the pools (base, block size) that overlaps nothing taken. */
export function firstFreeSubnet(pools: { base: string; size: number }[], taken: Subnet[]): Subnet {
  for (const p of pools) {
    const base = parseCidr(p.base, 'address pool', true);
    if (p.size < base.prefix || p.size > 30) continue;
    const count = 2 ** (p.size - base.prefix);
    for (let i = 0; i < count; i++) {
      const s = { base: (base.base + i * 2 ** (32 - p.size)) >>> 0, prefix: p.size };
      if (!taken.some((t) => overlaps(t, s))) return s;
    }
  }
  throw new ForbiddenError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}

export class AddressPool {
  readonly subnet: Subnet;
  /** Where dynamic addresses come from: `--ip-range`, or the whole subnet. */
  readonly range: Subnet;
  readonly gateway: number;
  /** The last address handed out dynamically. */
  cursor: number;
  private readonly owners = new Map<number, string>();
  /** `--aux-address`es inside the range: never handed to a container. */
  private readonly auxiliary: Set<number>;

  constructor(subnet: Subnet, range: Subnet, gateway: number, cursor = 0, auxiliary: number[] = []) {
    this.subnet = subnet;
    this.range = range;
    this.gateway = gateway;
    this.cursor = cursor;
    this.auxiliary = new Set(auxiliary.filter((ip) => contains(range, ip)));
  }

  private reserved(ip: number): boolean {
    return ip === this.gateway || this.auxiliary.has(ip) || (this.subnet.prefix < 31 && (ip === this.subnet.base || ip === broadcast(this.subnet)));
  }

  ownerOf(ip: number): string | undefined {
    return this.owners.get(ip);
  }

  /** Records an address a container already holds (daemon restart). */
  claim(ip: number, owner: string): void {
    const holder = this.owners.get(ip);
    if (holder && holder !== owner) throw new ConflictError(`Address already in use: ${formatIPv4(ip)}`);
    this.owners.set(ip, owner);
  }

  /**
   * An address for `owner`: `requested` (`--ip`) or nothing; else `previous`
   * when still free; else the next free one after the cursor.
   */
  allocate(owner: string, opts: { requested?: number; previous?: number; networkName: string; networkId: string }): number {
    if (opts.requested !== undefined) {
      const ip = opts.requested;
      if (!contains(this.subnet, ip)) throw new InvalidArgumentError(`no configured subnet or ip-range contain the IP address ${formatIPv4(ip)}`);
      if (this.reserved(ip)) throw new InvalidArgumentError(`Address already in use: ${formatIPv4(ip)}`);
      const holder = this.owners.get(ip);
      if (holder && holder !== owner) throw new ConflictError(`Address already in use: ${formatIPv4(ip)}`);
      this.owners.set(ip, owner);
      return ip;
    }
    const prev = opts.previous;
    if (prev !== undefined && contains(this.range, prev) && !this.reserved(prev) && (this.owners.get(prev) ?? owner) === owner) {
      this.owners.set(prev, owner);
      return prev;
    }
    const first = this.range.base;
    const size = 2 ** (32 - this.range.prefix);
    const start = contains(this.range, this.cursor) ? this.cursor - first : size - 1;
    for (let i = 1; i <= size; i++) {
      const ip = first + ((start + i) % size);
      if (this.reserved(ip) || this.owners.has(ip)) continue;
      this.owners.set(ip, owner);
      this.cursor = ip;
      return ip;
    }
    throw new PoolExhaustedError(`no available IPv4 addresses on this network's address pools: ${opts.networkName} (${opts.networkId})`);
  }

  release(ip: number, owner: string): void {
    if (this.owners.get(ip) === owner) this.owners.delete(ip);
  }

  inUse(): number {
    return this.owners.size;
  }
}

const HOST_LOCK = '\0berth-network-subnets';

/** Serializes subnet choice across every daemon on the host: the route a bridge adds is the claim. */
export async function withHostLock<T>(fn: () => Promise<T>): Promise<T> {
  const server = createServer();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(HOST_LOCK, () => resolve(true));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  try {
    return await fn();
  } finally {
    server.close();
  }
}

/**
 * `--aux-address`es of a new network, checked as libnetwork does: each must
 * be an address of the subnet, and one inside the range is reserved, so it
 * cannot be the gateway's or another's.
 */
export function checkAuxiliary(network: string, aux: Record<string, string> | undefined, subnet: Subnet, range: Subnet, gateway: number): Record<string, string> | undefined {
  if (!aux || Object.keys(aux).length === 0) return undefined;
  const taken = new Set([gateway]);
  for (const [k, v] of Object.entries(aux)) {
    const ip = parseIPv4(v);
    if (ip === undefined) throw new InvalidArgumentError(`non parsable secondary ip address (${k}:${v}) passed for network ${network}`);
    if (!contains(subnet, ip)) throw new ForbiddenError(`auxiliary address: (${k}:${v}) must belong to the master pool: ${formatCidr(subnet)}`);
    if (!contains(range, ip)) continue;
    if (taken.has(ip)) throw new SystemError(`failed to allocate secondary ip address (${k}:${v}): Address already in use`);
    taken.add(ip);
  }
  return { ...aux };
}
