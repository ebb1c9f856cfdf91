// Human-readable sizes, durations and container status, as go-units and the
// docker CLI print them.
import { InvalidArgumentError } from '../errors.ts';

/** go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

function scaled(size: number, base: number, units: string[], precision: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  // Go's %.Ng: N significant digits, trailing zeros dropped.
  return `${Number(size.toPrecision(precision))}${units[i]}`;
}

/** go-units HumanSizeWithPrecision(size, 3): decimal units, "4.26MB". */
export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'], 3);
}

/** go-units HumanSize (precision 4): what prune and `system df` print, "4.263MB". */
export function humanSize4(bytes: number): string {
  return scaled(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'], 4);
}

/** go-units BytesSize: binary units, "1.5MiB". */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'], 4);
}

const SIZE_RE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;

function parseSize(s: string, base: number): number {
  const m = SIZE_RE.exec(s.trim());
  if (!m) throw new InvalidArgumentError(`invalid size: '${s}'`);
  const exp = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(m[1]) * base ** exp);
}

/** go-units RAMInBytes: "10m" = 10 MiB (for -m, --shm-size, log max-size). */
export function ramInBytes(s: string): number {
  return parseSize(s, 1024);
}

/** go-units FromHumanSize: "10MB" = 10 000 000. */
export function fromHumanSize(s: string): number {
  return parseSize(s, 1000);
}

export interface StatusInput {
  state: string;
  exitCode: number;
  startedAt: number;
  finishedAt: number;
  now: number;
  /** State.Health.Status of a container with a healthcheck. */
  health?: string;
}

const ZERO = Date.parse('0001-01-01T00:00:00Z');

/** dockerd's State.String(): "Up 5 seconds", "Exited (0) 3 seconds ago", "Created". */
export function containerStatus(s: StatusInput): string {
  const started = Number.isNaN(s.startedAt) || s.startedAt <= ZERO ? undefined : s.startedAt;
  const finished = Number.isNaN(s.finishedAt) || s.finishedAt <= ZERO ? undefined : s.finishedAt;
  switch (s.state) {
    case 'running': {
      const up = `Up ${humanDuration(s.now - (started ?? s.now))}`;
      return s.health ? `${up} (${s.health === 'starting' ? 'health: starting' : s.health})` : up;
    }
    case 'paused': return `Up ${humanDuration(s.now - (started ?? s.now))} (Paused)`;
    case 'restarting': return `Restarting (${s.exitCode}) ${humanDuration(s.now - (finished ?? s.now))} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
  }
  if (started === undefined) return 'Created';
  if (finished === undefined) return '';
  return `Exited (${s.exitCode}) ${humanDuration(s.now - finished)} ago`;
}

export function createdSince(created: Date, now: Date): string {
  return `${humanDuration(now.getTime() - created.getTime())} ago`;
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

// The micro signs are escapes: esbuild copies a regular expression as written,
// and one character above U+00FF makes V8 keep the whole bundle it sits in as
// two bytes a character.
/** Go's time.ParseDuration ("1m30s", "500ms", "-2h"), in nanoseconds. */
export function parseGoDuration(s: string): number {
  const m = /^([-+]?)((?:\d*\.?\d+(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+|0)$/.exec(s);
  if (!m) throw new InvalidArgumentError(`time: invalid duration "${s}"`);
  if (m[2] === '0') return 0;
  let total = 0;
  for (const part of m[2].matchAll(/(\d*\.?\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g)) total += Number(part[1]) * GO_DURATION_UNITS[part[2]];
  return Math.round(m[1] === '-' ? -total : total);
}
