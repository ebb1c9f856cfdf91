// Structured logging in the two formats the CNCF registry offers (text and
// json). Request logs carry the method, path, status, size, time and user
// name, and never a header or a body: credentials cannot end up in a log.
import type { RegistryConfig } from './config.ts';

type Level = RegistryConfig['log']['level'];
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export type Fields = Record<string, string | number | boolean | undefined>;

export class Logger {
  private readonly level: Level;
  private readonly json: boolean;
  private readonly write: (line: string) => void;
  readonly accessLog: boolean;

  constructor(cfg: RegistryConfig['log'], write: (line: string) => void = (l) => process.stderr.write(l)) {
    this.level = cfg.level;
    this.json = cfg.formatter === 'json';
    this.accessLog = cfg.accessLog;
    this.write = write;
  }

  log(level: Level, msg: string, fields: Fields = {}): void {
    if (ORDER[level] < ORDER[this.level]) return;
    const time = new Date().toISOString();
    if (this.json) {
      this.write(JSON.stringify({ time, level, msg, ...fields }) + '\n');
      return;
    }
    let line = `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      line += ` ${k}=${typeof v === 'string' && (v === '' || /[\s"=\p{Cc}]/u.test(v)) ? JSON.stringify(v) : String(v)}`;
    }
    this.write(line + '\n');
  }

  debug(msg: string, fields?: Fields): void { this.log('debug', msg, fields); }
  info(msg: string, fields?: Fields): void { this.log('info', msg, fields); }
  warn(msg: string, fields?: Fields): void { this.log('warn', msg, fields); }
  error(msg: string, fields?: Fields): void { this.log('error', msg, fields); }
}

/** Query parameters whose values are never logged. */
const SECRET_PARAM = /pass|secret|token|key|sig|cred|auth/i;

/**
 * A request URI for the access log, with the values of secret-looking query
 * parameters (password=, access_token=, ...) replaced, in case a client puts
 * credentials into the URL. Everything else is logged as sent.
 */
export function redactUri(uri: string): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const query = uri.slice(q + 1).replace(/(^|&)([^=&]*)=([^&]*)/g, (m, sep: string, key: string) => {
    let name = key;
    try {
      name = decodeURIComponent(key.replace(/\+/g, ' '));
    } catch {
      // keep the raw key
    }
    return SECRET_PARAM.test(name) ? `${sep}${key}=REDACTED` : m;
  });
  return uri.slice(0, q + 1) + query;
}
