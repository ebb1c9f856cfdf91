// What every command needs: a client for the right daemon (starting the
// default one on demand), and docker-style error reporting.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { daemonAnswers } from '../api/ping.ts';
import { distDir } from '../dist-dir.ts';
import { contextEndpoint, selectedContext } from './docker-contexts.ts';
import { ApiError, ConnectError, EngineClient, parseHost, type TlsFlags } from '../client/engine-client.ts';

export const DEFAULT_HOST = 'unix:///run/berth.sock';

/**
 * The default daemon the CLI starts on demand. BERTH_DEFAULT_SOCKET moves its
 * socket, BERTH_DAEMON_CONFIG gives it a daemon.json (data root, exec root,
 * pidfile…) and BERTH_DAEMON_LOG its log: a second default daemon, for tests
 * of auto-start that must not touch the machine's own.
 */
function defaultDaemon(): { host: string; args: string[]; log: string } {
  const socket = process.env.BERTH_DEFAULT_SOCKET;
  const config = process.env.BERTH_DAEMON_CONFIG;
  return {
    host: socket ? `unix://${socket}` : DEFAULT_HOST,
    args: [...(socket ? ['-H', `unix://${socket}`] : []), ...(config ? ['--config-file', config] : [])],
    log: process.env.BERTH_DAEMON_LOG || '/var/log/berth.log',
  };
}

/** The host the `default` context stands for: DOCKER_HOST, else the default daemon's socket. */
export function defaultHost(): string {
  return process.env.DOCKER_HOST || defaultDaemon().host;
}

export interface GlobalOptions extends TlsFlags {
  host?: string[];
  debug?: boolean;
  /** --config: the client config directory (credentials in its config.json). */
  config?: string;
  /** --context: a docker CLI context's endpoint. */
  context?: string;
}

/** A failure that ends the command with this exit status; the message is already user-facing. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
    this.name = 'CliError';
  }
}

export class StatusError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit status ${exitCode}`);
    this.exitCode = exitCode;
  }
}

/**
 * Starts `berth daemon` in the background and waits for its socket. A daemon
 * that died (kill -9, OOM) leaves its socket file and pidfile behind: the
 * socket refuses connections, so we get here, and the new daemon replaces
 * both and reconnects to the containers still running.
 */
async function startDefaultDaemon(socketPath: string, d: { args: string[]; log: string }): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const self = join(distDir(), 'berth');
  mkdirSync(dirname(d.log), { recursive: true });
  const logFd = openSync(d.log, 'a');
  const child = spawn(self, ['daemon', ...d.args], { detached: true, stdio: ['ignore', logFd, logFd] });
  let deadline = Date.now() + 60_000;
  child.once('exit', () => { deadline = Math.min(deadline, Date.now() + 5_000); });
  child.unref();
  startedDaemon = true;
  closeSync(logFd);
  // Restoring many containers can take a while. A daemon that gave up (a rival
  // CLI's daemon won the start, or a bad config) gets a short grace for that
  // rival to come up; the command then reports what it cannot reach.
  while (Date.now() < deadline) {
    if (await daemonAnswers(socketPath)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether this process started the daemon: a resident CLI process (resident.ts) must not stay its parent. */
let startedDaemon = false;
export const hasStartedDaemon = (): boolean => startedDaemon;

let cached: EngineClient | undefined;
let keepAlive = false;

/** The next command (in a resident CLI process, ADR 0010) makes a client of its own. */
export function resetClient(): void {
  cached = undefined;
  keepAlive = false;
}

/** The command about to run makes many calls (compose): its client keeps its connections open. */
export function keepConnections(): void {
  keepAlive = true;
  cached?.keepAlive();
}

export async function clientFor(g: GlobalOptions): Promise<EngineClient> {
  if (cached) return cached;
  if (g.host?.length && g.context) throw new CliError('conflicting options: cannot specify both --host and --context', 1);
  const ctx = g.host?.length ? undefined : selectedContext(g.context, g.config);
  const endpoint = ctx ? contextEndpoint(ctx, g.config) : undefined;
  const explicit = g.host?.[g.host.length - 1] ?? endpoint?.host ?? process.env.DOCKER_HOST;
  const d = defaultDaemon();
  const host = parseHost(explicit || d.host, endpoint?.tls ? { ...endpoint.tls, ...g } : g);
  if (!explicit && host.socketPath && !(await daemonAnswers(host.socketPath))) {
    await startDefaultDaemon(host.socketPath, d);
  }
  cached = new EngineClient(host);
  if (keepAlive) cached.keepAlive();
  return cached;
}

/** docker's one-line error report: `Error response from daemon: …`. */
export function describeError(err: unknown): { message: string; code: number } {
  if (err instanceof StatusError) return { message: '', code: err.exitCode };
  if (err instanceof CliError) return { message: err.message, code: err.exitCode };
  if (err instanceof ApiError) return { message: `Error response from daemon: ${err.message}`, code: 1 };
  if (err instanceof ConnectError) return { message: err.message, code: 1 };
  return { message: err instanceof Error ? err.message : String(err), code: 1 };
}
