// The `local` driver's options, as dockerd's: `type`, `device` and `o` are a
// mount(8) call made when the volume is first used; `size` is a quota berth
// has no support for (a tmpfs takes its size in `o=size=…`).
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';
import { ramInBytes } from '../api/units.ts';

const VALID = ['type', 'o', 'device', 'size'];
/** An option and the ones it needs (dockerd's mandatoryOpts). */
const NEEDS: [string, string[]][] = [['device', ['type']], ['type', ['device']], ['o', ['device', 'type']]];

/** Checks a create's driver options; the messages are dockerd's. */
export function validateLocalOptions(opts: Record<string, string>): void {
  const keys = Object.keys(opts);
  if (keys.length === 0) return;
  for (const k of keys) if (!VALID.includes(k)) throw new InvalidArgumentError(`invalid option: ${JSON.stringify(k)}`);
  if (opts.type === 'cifs' && opts.device) {
    const url = parseDeviceUrl(opts.device);
    if (url?.port) throw new InvalidArgumentError("port not allowed in CIFS device URL, include 'port' in 'o='");
  }
  if ('size' in opts) {
    let size: number;
    try {
      size = ramInBytes(opts.size);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    if (size > 0) throw new InvalidArgumentError('quota size requested but no quota support');
  }
  for (const [opt, needs] of NEEDS) {
    if (!(opt in opts)) continue;
    for (const n of needs) if (!(n in opts)) throw new InvalidArgumentError(`missing required option: ${JSON.stringify(n)}`);
  }
}

/** Whether the options make the volume a mount rather than a plain directory. */
export function needsMount(opts: Record<string, string>): boolean {
  return Boolean(opts.device || opts.type);
}

export interface MountCall {
  type: string;
  device: string;
  options: string;
}

/**
 * What to mount, with a network filesystem's `addr=` host (or a cifs URL's
 * host) resolved to an address first, as dockerd does: the kernel's nfs and
 * cifs clients take no host names.
 */
export async function resolveMount(opts: Record<string, string>): Promise<MountCall> {
  if (!opts.device) throw new Error('missing device in volume options');
  const type = opts.type ?? '';
  let options = opts.o ?? '';
  let device = opts.device;
  if (type === 'nfs' || type === 'cifs') {
    const addr = options.split(',').find((o) => o.startsWith('addr='))?.slice(5) ?? '';
    if (addr && !isIPv4(addr)) {
      options = options.replace(`addr=${addr}`, `addr=${await resolveHost(addr)}`);
    } else if (type === 'cifs') {
      const url = parseDeviceUrl(device);
      const host = url?.hostname.replace(/^\[|\]$/g, '');
      if (url && host && !isIPv4(host) && !host.includes(':')) {
        const ip = await resolveHost(host);
        url.hostname = ip.includes(':') ? `[${ip}]` : ip;
        const s = url.toString();
        device = decodeURIComponent(url.protocol === 'device:' ? s.slice('device:'.length) : s);
      }
    }
  }
  return { type, device, options };
}

/** A cifs device as Go's url.Parse reads it: `//host[:port]/share` has a host without a scheme. */
function parseDeviceUrl(device: string): URL | undefined {
  try {
    return new URL(device, 'device:///');
  } catch {
    return undefined; // not a URL: mount(8) will say
  }
}

async function resolveHost(host: string): Promise<string> {
  try {
    const hostName = host.replace(/^\[|\]$/g, '');
    return (await lookup(hostName)).address;
  } catch (err) {
    throw new Error(`error resolving passed in network volume address: lookup ${host}: ${(err as NodeJS.ErrnoException).code === 'ENOTFOUND' ? 'no such host' : (err as Error).message}`);
  }
}

/** A mount error with the cifs `password=` of the options masked, as dockerd masks it. */
export function maskPassword(message: string, options: string): string {
  const pw = options.split(',').find((o) => o.startsWith('password='))?.slice(9);
  return pw ? message.split(`password=${pw}`).join('password=********') : message;
}
