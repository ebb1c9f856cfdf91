// The etcd member a manager runs: one process per daemon, its data under the
// daemon's data root, supervised (restarted when it dies) while the node is
// in a swarm. Its peer and client URLs are on the node's advertise address,
// TLS both ways with the node's certificate from the cluster CA: a peer or a
// client must show a certificate the CA issued (--peer-client-cert-auth,
// --client-cert-auth).
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

/** Where the member's TLS material is: the node's certificate and key, the cluster's CA. */
export interface MemberTls {
  ca: string;
  cert: string;
  key: string;
  /**
   * The daemon's descriptor of a file holding the certificate and its key
   * (key-lock.ts: in memory, as the key on disk may be sealed): etcd gets it
   * as its fd 3 and reads both from there, at every handshake.
   */
  fd?: number;
}

/** The certificate and key PEM blocks of a combined file. */
function splitPem(text: string): { cert: string; key: string } {
  const blocks = text.match(/-----BEGIN ([A-Z ]+)-----[^-]+-----END \1-----\n?/g) ?? [];
  return { cert: blocks.filter((b) => b.includes('CERTIFICATE')).join(''), key: blocks.find((b) => b.includes('PRIVATE KEY')) ?? '' };
}

export interface MemberOptions {
  /** The node's advertise address: both URLs are on it. */
  addr: string;
  ports: MemberPorts;
  tls: MemberTls;
  /** name=peerURL,… for a member's first start; `existing` when it joins members already running. */
  initialCluster?: string;
  clusterState?: 'new' | 'existing';
  /** The first start only: etcd's --force-new-cluster, this member alone in a cluster keeping its data. */
  forceNewCluster?: boolean;
  /** The cluster's only member: etcd's own quick timing (ALONE), until retime() once a second votes. */
  alone?: boolean;
}

export function url(addr: string, port: number): string {
  return `https://${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
}

/** A port free on addr now (the kernel's choice), for a member's first start. */
export async function freePort(addr = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, addr, () => {
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
  /** --force-new-cluster still to be given (its first spawn only: a restart must not force again). */
  private force: boolean;
  /** Its raft timing, kept across the supervisor's restarts. */
  private times: string[];
  /** The swarm's timing (raftTimes, BERTH_ETCD_*), read once: where a member alone moves to when a second votes. */
  private readonly swarmTimes: string[];
  /** stop() was called: a retime under way does not start it again. */
  private left = false;
  log: (msg: string) => void = () => {};

  /** dir: the member's home (data, log, pid); name: the node's ID. */
  private readonly dir: string;
  private readonly name: string;
  private readonly o: MemberOptions;

  constructor(dir: string, name: string, o: MemberOptions) {
    this.dir = dir;
    this.name = name;
    this.o = o;
    this.force = o.forceNewCluster ?? false;
    this.swarmTimes = raftTimes();
    this.times = o.alone ? ALONE : this.swarmTimes;
  }

  /** On ALONE's timing where the swarm's differs (BERTH_ETCD_*): to be retimed once a second member votes. */
  get alone(): boolean {
    return this.times === ALONE && this.swarmTimes.join(' ') !== ALONE.join(' ');
  }

  /**
   * A lone member restarted with the swarm's timing (raftTimes) once a
   * second member votes: a follower quick to time out would call elections
   * between a slower leader's beats. Stopped gracefully, a leader hands the
   * lead to another voter first (etcd's Stop), so no election is waited for.
   */
  async retime(): Promise<void> {
    if (!this.alone) return;
    this.times = this.swarmTimes;
    this.left = false;
    await this.end();
    // Stopped meanwhile (the node left): not started again.
    if (!this.left) await this.start();
  }

  get clientUrl(): string {
    return url(this.o.addr, this.o.ports.client);
  }

  get peerUrl(): string {
    return url(this.o.addr, this.o.ports.peer);
  }

  private get pidFile(): string {
    return join(this.dir, 'etcd.pid');
  }

  get pid(): number | undefined {
    return this.proc?.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  /** waitHealthy: false for a learner, which answers no health check until promoted. */
  async start(o: { waitHealthy?: boolean } = {}): Promise<void> {
    const bin = ETCD.find((p) => existsSync(p));
    if (!bin) throw new UnavailableError('swarm mode needs etcd (Debian package etcd-server): no etcd binary found');
    this.stopping = false;
    await this.killOrphan();
    this.spawn(bin);
    if (o.waitHealthy !== false) await this.waitHealthy(30_000);
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
    const peer = this.peerUrl;
    const { tls } = this.o;
    const [certFile, keyFile] = tls.fd === undefined ? [tls.cert, tls.key] : ['/proc/self/fd/3', '/proc/self/fd/3'];
    const args = [
      '--name', this.name, '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      // A member's first start only: with data in place etcd keeps the membership it has.
      '--initial-cluster', this.o.initialCluster ?? `${this.name}=${peer}`, '--initial-cluster-state', this.o.clusterState ?? 'new',
      '--cert-file', certFile, '--key-file', keyFile, '--trusted-ca-file', tls.ca, '--client-cert-auth',
      '--peer-cert-file', certFile, '--peer-key-file', keyFile, '--peer-trusted-ca-file', tls.ca, '--peer-client-cert-auth',
      // Desired state is small and rewritten often: keep its history bounded.
      '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000',
      '--quota-backend-bytes', String(512 * 1024 * 1024),
      ...(this.force ? ['--force-new-cluster'] : []),
      ...this.times,
    ];
    this.force = false;
    const out = openSync(join(this.dir, 'etcd.log'), 'a');
    const proc = spawn(bin, args, { stdio: tls.fd === undefined ? ['ignore', out, out] : ['ignore', out, out, tls.fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } });
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
      if (await this.healthy()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new UnavailableError(`etcd did not become healthy: ${this.tail()}`);
  }

  /** etcd's /health over its client URL, with the node's certificate. */
  private healthy(): Promise<boolean> {
    const { tls } = this.o;
    return new Promise((resolve) => {
      const own = tls.fd === undefined ? { cert: readFileSync(tls.cert, 'utf8'), key: readFileSync(tls.key, 'utf8') } : splitPem(readFileSync(`/proc/self/fd/${tls.fd}`, 'utf8'));
      // node:https loaded at the first use: a daemon out of a swarm never needs it (nor node:tls).
      const req = process.getBuiltinModule('node:https').request(`${this.clientUrl}/health`, { ca: readFileSync(tls.ca), ...own, timeout: 1000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c; });
        res.on('end', () => {
          try {
            resolve((JSON.parse(body) as { health?: string }).health === 'true');
          } catch {
            resolve(false);
          }
        });
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
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
    this.left = true;
    await this.end();
  }

  private async end(): Promise<void> {
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

/**
 * A member alone in its cluster: etcd's defaults, a heartbeat each 100 ms and
 * an election after 1 s. Alone it sends nothing to anyone, and it elects
 * itself within an election timeout of starting (swarm init, a restart,
 * --force-new-cluster): 0.3–0.8 s here, against 1–5 s with raftTimes.
 */
const ALONE = ['--heartbeat-interval', '100', '--election-timeout', '1000'];

/**
 * The members' raft timing, the same on every manager (a follower must not
 * time out between its leader's heartbeats): etcd's own by default, a
 * heartbeat each 100 ms and an election after 1 s. BERTH_ETCD_HEARTBEAT_MS
 * and BERTH_ETCD_ELECTION_MS set them: a heartbeat a second and an election
 * after 5 s (swarmkit's raft beats each second) halve what three idle
 * managers send each other (9 KiB/s of the leader host's 13 are heartbeats
 * at 100 ms; bench/swarm-idle.ts), but a lost etcd leader then takes 5-10 s
 * to be replaced, and in a clean-clone CI run under load a demotion of the
 * etcd leader with that timing lost a task's container (the node's heartbeat
 * lease is 12 s): not the default until that is understood. A lone member
 * keeps etcd's timing whatever is set (ALONE) and moves to the set one once
 * a second votes (retime).
 */
export function raftTimes(env: NodeJS.ProcessEnv = process.env): string[] {
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const heartbeat = Math.min(10_000, Math.max(10, num(env.BERTH_ETCD_HEARTBEAT_MS) ?? 100));
  // etcd refuses an election timeout under five heartbeats, and over 50 s.
  const election = Math.min(50_000, Math.max(heartbeat * 5, num(env.BERTH_ETCD_ELECTION_MS) ?? (num(env.BERTH_ETCD_HEARTBEAT_MS) === undefined ? 1000 : heartbeat * 5)));
  return ['--heartbeat-interval', String(heartbeat), '--election-timeout', String(election)];
}
