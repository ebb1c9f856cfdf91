// What every command needs: a client for the right daemon (starting the
// default one on demand), and docker-style error reporting.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { distDir } from '../dist-dir.ts';
import { ApiError, ConnectError, EngineClient, parseHost, type TlsFlags } from '../client/engine-client.ts';

export const DEFAULT_HOST = 'unix:///run/berth.sock';

export interface GlobalOptions extends TlsFlags {
  host?: string[];
  debug?: boolean;
  /** --config: the client config directory (credentials in its config.json). */
  config?: string;
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

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Starts `berth daemon` in the background and waits for its socket. */
async function startDefaultDaemon(socketPath: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const self = join(distDir(), 'berth');
  mkdirSync('/var/log', { recursive: true });
  const logFd = openSync('/var/log/berth.log', 'a');
  const child = spawn(self, ['daemon'], { detached: true, stdio: ['ignore', logFd, logFd] });
  child.unref();
  closeSync(logFd);
  for (let i = 0; i < 200; i++) {
    if (await socketAnswers(socketPath)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

let cached: EngineClient | undefined;

export async function clientFor(g: GlobalOptions): Promise<EngineClient> {
  if (cached) return cached;
  const explicit = g.host?.[g.host.length - 1] ?? process.env.DOCKER_HOST;
  const host = parseHost(explicit || DEFAULT_HOST, g);
  if (!explicit && host.socketPath && !(await socketAnswers(host.socketPath))) {
    await startDefaultDaemon(host.socketPath);
  }
  cached = new EngineClient(host);
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
