// The etcd member a manager runs: one process per daemon, its data under the
// daemon's data root, supervised (restarted when it dies) while the node is
// in a swarm. Loopback only in this first slice: a single-member cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { UnavailableError } from '../errors.ts';

export interface MemberPorts {
  client: number;
  peer: number;
}

/** A port free on loopback now (the kernel's choice), for a member's first start. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const ETCD = ['/usr/bin/etcd', '/usr/local/bin/etcd'];

export class EtcdMember {
  private proc?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  log: (msg: string) => void = () => {};

  /** dir: the member's home (data, log, pid); name: the node's ID. */
  private readonly dir: string;
  private readonly name: string;
  readonly ports: MemberPorts;

  constructor(dir: string, name: string, ports: MemberPorts) {
    this.dir = dir;
    this.name = name;
    this.ports = ports;
  }

  get clientUrl(): string {
    return `http://127.0.0.1:${this.ports.client}`;
  }

  private get pidFile(): string {
    return join(this.dir, 'etcd.pid');
  }

  get pid(): number | undefined {
    return this.proc?.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  async start(): Promise<void> {
    const bin = ETCD.find((p) => existsSync(p));
    if (!bin) throw new UnavailableError('swarm mode needs etcd (Debian package etcd-server): no etcd binary found');
    this.stopping = false;
    await this.killOrphan();
    this.spawn(bin);
    await this.waitHealthy(20_000);
  }

  /**
   * A member left running by a daemon killed with -9 holds the ports and the
   * data dir's lock: it is ended (etcd is crash-safe) and a supervised one started.
   */
  private async killOrphan(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    if (!(pid > 0)) return;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (!cmdline.includes(join(this.dir, 'data'))) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    // Until it is gone or a zombie (its new parent reaps it when it will): then its ports and lock are free.
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  }

  private spawn(bin: string): void {
    const peer = `http://127.0.0.1:${this.ports.peer}`;
    const args = [
      '--name', this.name, '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `${this.name}=${peer}`, '--initial-cluster-state', 'new',
      // Desired state is small and rewritten often: keep its history bounded.
      '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000',
      '--quota-backend-bytes', String(512 * 1024 * 1024),
    ];
    const out = openSync(join(this.dir, 'etcd.log'), 'a');
    const proc = spawn(bin, args, { stdio: ['ignore', out, out], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } });
    closeSync(out);
    this.proc = proc;
    void writeFile(this.pidFile, String(proc.pid)).catch(() => {});
    proc.once('exit', (code, signal) => {
      if (this.proc !== proc || this.stopping) return;
      this.log(`etcd member exited (${signal ?? code}); restarting it`);
      this.restartTimer = setTimeout(() => { if (!this.stopping) this.spawn(bin); }, 1000);
    });
  }

  private async waitHealthy(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (!this.pid) throw new UnavailableError(`etcd did not start: ${this.tail()}`);
      try {
        const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new UnavailableError(`etcd did not become healthy: ${this.tail()}`);
  }

  private tail(): string {
    try {
      return readFileSync(join(this.dir, 'etcd.log'), 'utf8').trim().split('\n').slice(-3).join('\n');
    } catch {
      return '';
    }
  }

  /** Ends the member (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
    await rm(this.pidFile, { force: true });
  }
}
