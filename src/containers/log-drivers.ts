// Logging drivers behind one contract: which options each takes (dockerd's
// lists and checks, at create), the file the shim writes a container's
// entries to (json-file's own, local's, or the cache that keeps `docker logs`
// working for syslog and journald, as dockerd's dual logging), and whether
// entries are also forwarded live (log-forward.ts). The file format is the
// json-file one for every driver; only where it lives and rotates differs.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ContainerRecord } from '../api/container.ts';
import { ramInBytes } from '../api/units.ts';
import { InvalidArgumentError } from '../errors.ts';
import { checkSyslogOptions, localSyslogSocket } from './syslog.ts';

export interface LogFile { path: string; maxSize?: number; maxFiles?: number }

interface LogDriver {
  /** The options dockerd's driver accepts. */
  options: string[];
  check?(opts: Record<string, string>): void;
  /** Where entries are kept for reading, with their rotation; undefined when nothing is kept. */
  file(dir: string, id: string, opts: Record<string, string>): LogFile | undefined;
  /** The LogPath inspect shows. */
  logPath(dir: string, id: string): string;
  /** Entries also go elsewhere, live (log-forward.ts). */
  forwards: boolean;
}

const GENERIC = ['mode', 'max-buffer-size'];
const ATTRS = ['labels', 'labels-regex', 'env', 'env-regex', 'tag'];
const CACHE = ['cache-disabled', 'cache-max-size', 'cache-max-file', 'cache-compress'];

const sized = (opts: Record<string, string>, sizeKey: string, fileKey: string, dflt?: { size: number; files: number }) => ({
  maxSize: opts[sizeKey] ? ramInBytes(opts[sizeKey]) : dflt?.size,
  maxFiles: opts[fileKey] ? Number(opts[fileKey]) : dflt?.files,
});

/** dockerd's local driver and dual-logging cache defaults: 20 MB, 5 files. */
const LOCAL_DEFAULT = { size: 20 * 1024 * 1024, files: 5 };

/** syslog and journald: entries forwarded, and cached for `docker logs` unless cache-disabled. */
const cached = (options: string[], check?: (o: Record<string, string>) => void): LogDriver => ({
  options: [...options, ...ATTRS, ...GENERIC, ...CACHE],
  check(opts) {
    check?.(opts);
    checkRotation(opts, 'cache-max-size', 'cache-max-file');
  },
  file: (dir, _id, opts) => (opts['cache-disabled'] === 'true' ? undefined : { path: join(dir, 'container-cached.log'), ...sized(opts, 'cache-max-size', 'cache-max-file', LOCAL_DEFAULT) }),
  logPath: () => '',
  forwards: true,
});

const DRIVERS: Record<string, LogDriver> = {
  'json-file': {
    options: ['max-size', 'max-file', 'compress', ...ATTRS, ...GENERIC],
    check: (opts) => checkRotation(opts, 'max-size', 'max-file'),
    file: (dir, id, opts) => ({ path: join(dir, `${id}-json.log`), ...sized(opts, 'max-size', 'max-file') }),
    logPath: (dir, id) => join(dir, `${id}-json.log`),
    forwards: false,
  },
  local: {
    options: ['max-size', 'max-file', 'compress', ...GENERIC],
    check: (opts) => checkRotation(opts, 'max-size', 'max-file'),
    file: (dir, _id, opts) => ({ path: join(dir, 'local-logs', 'container.log'), ...sized(opts, 'max-size', 'max-file', LOCAL_DEFAULT) }),
    logPath: (dir) => join(dir, 'local-logs', 'container.log'),
    forwards: false,
  },
  none: { options: [], file: () => undefined, logPath: () => '', forwards: false },
  syslog: cached(['syslog-address', 'syslog-facility', 'syslog-tls-ca-cert', 'syslog-tls-cert', 'syslog-tls-key', 'syslog-tls-skip-verify', 'syslog-format'], checkSyslogOptions),
  journald: cached([]),
};

function checkRotation(opts: Record<string, string>, sizeKey: string, fileKey: string): void {
  if (opts[sizeKey]) {
    try {
      if (ramInBytes(opts[sizeKey]) <= 0) throw new Error();
    } catch {
      throw new InvalidArgumentError(`invalid ${sizeKey}: ${opts[sizeKey]}`);
    }
  }
  if (opts[fileKey] !== undefined) {
    const n = Number(opts[fileKey]);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`invalid value for ${fileKey}: ${opts[fileKey]}`);
    if (n < 1) throw new InvalidArgumentError(`${fileKey} cannot be less than 1`);
    if (n > 1 && !opts[sizeKey]) throw new InvalidArgumentError(`${fileKey} cannot be greater than 1 when ${sizeKey} is not set`);
  }
}

function driver(name: string): LogDriver {
  const d = DRIVERS[name];
  if (!d) throw new InvalidArgumentError(`logger: no log driver named '${name}' is registered`);
  return d;
}

/** dockerd's ValidateLogOpts for a container's log config, at create. */
export function checkLogConfig(type: string, opts: Record<string, string>): void {
  const d = driver(type);
  if (type !== 'none') {
    for (const k of Object.keys(opts)) if (!d.options.includes(k)) throw new InvalidArgumentError(`unknown log opt '${k}' for ${type} log driver`);
  }
  if (opts.mode !== undefined && !['blocking', 'non-blocking'].includes(opts.mode)) throw new InvalidArgumentError(`logger: logging mode not supported: ${opts.mode}`);
  d.check?.(opts);
}

function configOf(rec: ContainerRecord): { type: string; opts: Record<string, string> } {
  return { type: rec.HostConfig.LogConfig?.Type ?? 'json-file', opts: rec.HostConfig.LogConfig?.Config ?? {} };
}

/** The container's state directory: where its log files live. */
const containerDir = (rec: ContainerRecord) => dirname(rec.HostnamePath);

/** The file the shim writes the container's entries to, or undefined (none, or a disabled cache). */
export function logFile(rec: ContainerRecord): LogFile | undefined {
  const { type, opts } = configOf(rec);
  return DRIVERS[type]?.file(containerDir(rec), rec.Id, opts);
}

export function logPathFor(type: string, dir: string, id: string): string {
  return DRIVERS[type]?.logPath(dir, id) ?? '';
}

export function forwardsLogs(rec: ContainerRecord): boolean {
  return DRIVERS[configOf(rec).type]?.forwards === true;
}

const JOURNAL_SOCKET = '/run/systemd/journal/socket';

/** Why the container's driver cannot run on this host (checked before its start, as dockerd's logger creation). */
export function logDriverUnavailable(rec: ContainerRecord): string | undefined {
  const cfg = rec.HostConfig.LogConfig;
  if (cfg?.Type === 'journald' && !existsSync(JOURNAL_SOCKET)) return 'journald is not enabled on this host';
  if (cfg?.Type === 'syslog' && !cfg.Config['syslog-address'] && !localSyslogSocket()) return 'Unix syslog delivery error';
  return undefined;
}
