// The syslog driver's transport: dockerd's syslog-address, -facility and
// -format (its formatters and framers, srslog's), to udp, tcp, tcp+tls and
// unix stream sockets directly, and to datagram sockets (unixgram://, or
// /dev/log when no address is given) through util-linux's logger, as Node
// has no unix datagram sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';

const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', '', '', '', '',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const LOCAL_SOCKETS = ['/dev/log', '/var/run/syslog', '/var/run/log'];

interface Address { network: 'udp' | 'tcp' | 'tcp+tls' | 'unix' | 'unixgram'; host?: string; port?: number; path?: string }

function parseAddress(a: string | undefined): Address | undefined {
  if (!a) return undefined;
  let u: URL;
  try {
    u = new URL(a);
  } catch {
    throw new InvalidArgumentError(`parse "${a}": invalid URI for request`);
  }
  const network = u.protocol.replace(/:$/, '');
  if (network === 'unix' || network === 'unixgram') {
    if (!existsSync(u.pathname)) throw new InvalidArgumentError(`stat ${u.pathname}: no such file or directory`);
    return { network, path: u.pathname };
  }
  if (!['udp', 'tcp', 'tcp+tls'].includes(network)) throw new InvalidArgumentError(`unsupported scheme: '${network}'`);
  return { network: network as Address['network'], host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 514 };
}

function parseFacility(f: string | undefined): number {
  if (!f) return 3; // daemon
  const byName = FACILITIES.indexOf(f);
  if (byName >= 0 && f !== '') return byName;
  if (/^\d+$/.test(f) && Number(f) <= 23 && FACILITIES[Number(f)] !== '') return Number(f);
  throw new InvalidArgumentError('invalid syslog facility');
}

function checkFormat(f: string | undefined): void {
  if (f && !['rfc3164', 'rfc5424', 'rfc5424micro'].includes(f)) throw new InvalidArgumentError('Invalid syslog format');
}

/** The host's local syslog socket, when one listens. */
export function localSyslogSocket(): string | undefined {
  return LOCAL_SOCKETS.find((p) => existsSync(p) && statSync(p).isSocket());
}

export function checkSyslogOptions(opts: Record<string, string>): void {
  parseAddress(opts['syslog-address']);
  parseFacility(opts['syslog-facility']);
  checkFormat(opts['syslog-format']);
}

/** Go's time.Stamp: "Jan _2 15:04:05". */
function stamp(d: Date): string {
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** srslog's formatters. */
function formatMessage(format: string | undefined, pri: number, tag: string, msg: string, d: Date): string {
  const pid = process.pid;
  switch (format) {
    case 'rfc3164': return `<${pri}>${stamp(d)} ${hostname()} ${tag}[${pid}]: ${msg}`;
    case 'rfc5424':
    case 'rfc5424micro': {
      const ts = format === 'rfc5424' ? d.toISOString().replace(/\.\d+Z$/, 'Z') : d.toISOString().replace(/(\.\d{3})Z$/, '$1000Z');
      return `<${pri}>1 ${ts} ${hostname()} ${tag} ${pid} ${tag} - ${msg}`;
    }
    default: return `<${pri}>${stamp(d)} ${tag}[${pid}]: ${msg}`;
  }
}

/** One container's connection to its syslog: `send` each line; `close` at the container's stop. */
export class SyslogSink {
  private readonly facility: number;
  private readonly format: string | undefined;
  private readonly tag: string;
  private udp?: UdpSocket;
  private stream?: Socket;
  private loggers?: { info: ChildProcess; err: ChildProcess };
  private readonly address?: Address;

  constructor(opts: Record<string, string>, tag: string) {
    this.address = parseAddress(opts['syslog-address']);
    this.facility = parseFacility(opts['syslog-facility']);
    this.format = opts['syslog-format'];
    this.tag = tag;
    const a = this.address;
    if (!a || a.network === 'unixgram') {
      const path = a?.path ?? localSyslogSocket();
      if (!path) throw new Error('Unix syslog delivery error');
      // One logger per severity; it frames each stdin line as a message to the datagram socket.
      const logger = (sev: string) => spawn('logger', ['--socket-errors=off', '-u', path, '-t', tag, '-p', `${FACILITIES[this.facility]}.${sev}`,
        ...(this.format === 'rfc5424' || this.format === 'rfc5424micro' ? ['--rfc5424'] : ['--rfc3164'])], { stdio: ['pipe', 'ignore', 'ignore'] });
      this.loggers = { info: logger('info'), err: logger('err') };
      for (const l of Object.values(this.loggers)) l.stdin?.on('error', () => {});
    } else if (a.network === 'udp') {
      this.udp = createSocket(a.host?.includes(':') ? 'udp6' : 'udp4');
      this.udp.on('error', () => {});
    } else {
      const tlsOpts = a.network === 'tcp+tls' ? {
        ca: opts['syslog-tls-ca-cert'] ? readFileSync(opts['syslog-tls-ca-cert']) : undefined,
        cert: opts['syslog-tls-cert'] ? readFileSync(opts['syslog-tls-cert']) : undefined,
        key: opts['syslog-tls-key'] ? readFileSync(opts['syslog-tls-key']) : undefined,
        rejectUnauthorized: opts['syslog-tls-skip-verify'] !== 'true',
      } : undefined;
      this.stream = a.network === 'unix' ? netConnect(a.path as string)
        : tlsOpts ? process.getBuiltinModule('node:tls').connect({ host: a.host, port: a.port, ...tlsOpts }) : netConnect({ host: a.host ?? '', port: a.port ?? 514 });
      this.stream.on('error', () => {});
    }
  }

  /** A line of the container's output; stderr at severity err (3), stdout at info (6). */
  send(line: string, stream: 'stdout' | 'stderr'): void {
    if (this.loggers) {
      (stream === 'stderr' ? this.loggers.err : this.loggers.info).stdin?.write(line + '\n');
      return;
    }
    const msg = formatMessage(this.format, this.facility * 8 + (stream === 'stderr' ? 3 : 6), this.tag, line, new Date());
    if (this.udp) this.udp.send(msg, this.address?.port, this.address?.host);
    // Stream transports frame each message: octet counting for RFC 5424 (RFC 5425), a newline otherwise.
    else this.stream?.write(this.format?.startsWith('rfc5424') ? `${Buffer.byteLength(msg)} ${msg}` : msg + '\n');
  }

  close(): void {
    for (const l of Object.values(this.loggers ?? {})) l.stdin?.end();
    this.udp?.close();
    this.stream?.end();
  }
}
