// IPv4 addresses and prefixes as numbers, for IPAM and overlap checks.
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';

export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.1.0.0/16`; the address must be the network's own unless `loose` (as `--bip 10.1.0.1/16`). */
export function parseCidr(s: string, what = 'subnet', loose = false): Subnet & { address: number } {
  const [addr, len, extra] = s.split('/');
  const a = parseIPv4(addr ?? '');
  const prefix = Number(len);
  if (a === undefined || extra !== undefined || len === undefined || !/^\d+$/.test(len) || prefix > 32) {
    throw new InvalidArgumentError(`invalid CIDR address: ${s}`);
  }
  const base = (a & mask(prefix)) >>> 0;
  if (!loose && base !== a) throw new InvalidArgumentError(`invalid ${what} ${s}: it should be ${formatIPv4(base)}/${prefix}`);
  return { base, prefix, address: a };
}

export function formatCidr(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function contains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

export function broadcast(s: Subnet): number {
  return (s.base | (~mask(s.prefix) >>> 0)) >>> 0;
}

/** A MAC address derived from the IPv4 address, as Docker does (02:42:ac:11:00:02). */
export function macFor(ip: number): string {
  return ['02', '42', ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function isIPv6(s: string): boolean {
  return s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s);
}

/** An IPv6 address as a 128-bit number (`fd00::1`, `::ffff:1.2.3.4` not needed here). */
export function parseIPv6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(s) || s.split('::').length > 2) return undefined;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  if (fill < 0 || (tail === undefined && h.length !== 8)) return undefined;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatIPv6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The longest run of zero groups becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function parseCidr6(s: string): { base: bigint; prefix: number } {
  const [a, len] = s.split('/');
  const v = parseIPv6(a ?? '');
  const prefix = Number(len);
  if (v === undefined || !/^\d+$/.test(len ?? '') || prefix > 128) throw new InvalidArgumentError(`invalid CIDR address: ${s}`);
  const mask6 = prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
  return { base: v & mask6, prefix };
}

/** The host of `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 address is returned whole. */
export function hostOfAddress(address: string): string {
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    return end > 0 ? address.slice(1, end) : address;
  }
  const colons = address.split(':').length - 1;
  return colons === 1 ? address.slice(0, address.indexOf(':')) : address;
}

/** Whether an address (as hostOfAddress takes it) names this machine's loopback: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackAddress(address: string): boolean {
  const host = hostOfAddress(address);
  if (host === 'localhost') return true;
  const v4 = parseIPv4(host);
  if (v4 !== undefined) return v4 >>> 24 === 127;
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(host) && isIP(host) === 6;
}
