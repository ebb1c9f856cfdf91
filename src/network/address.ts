// IPv4 addresses and prefixes as numbers, for IPAM and overlap checks.
import { BadRequestError } from '../daemon/api/errors.ts';

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
    throw new BadRequestError(`invalid CIDR address: ${s}`);
  }
  const base = (a & mask(prefix)) >>> 0;
  if (!loose && base !== a) throw new BadRequestError(`invalid ${what} ${s}: it should be ${formatIPv4(base)}/${prefix}`);
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
