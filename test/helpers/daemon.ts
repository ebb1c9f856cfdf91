// Starts a real berth daemon on its own data root, exec root and socket, and
// runs the real berth and docker CLIs against it.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BERTH = join(ROOT, 'dist/berth');
export const DOCKER = ['/usr/local/bin/docker', '/usr/bin/docker'].find((p) => existsSync(p));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

let busyboxTar: string | undefined;

/** The busybox rootfs tar, built once per test process. */
export function busyboxTarPath(): string {
  if (busyboxTar && existsSync(busyboxTar)) return busyboxTar;
  const dir = mkdtempSync('/tmp/berth-bb-');
  busyboxTar = join(dir, 'busybox.tar');
  const r = spawnSync('bash', [join(ROOT, 'scripts/busybox-rootfs.sh'), busyboxTar], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`busybox-rootfs.sh failed: ${r.stderr}`);
  return busyboxTar;
}

function waitForSocket(path: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolvePromise, reject) => {
    const attempt = () => {
      const s = connect(path);
      s.once('connect', () => { s.destroy(); resolvePromise(); });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`daemon socket ${path} did not come up`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

export class TestDaemon {
  readonly dir: string;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly host: string;
  readonly logFile: string;
  private proc?: ChildProcess;
  private extraArgs: string[];
  private ownNetns: boolean;
  /** The executable the daemon runs as (another build's, for a bench's baseline). */
  private readonly binary: string;

  /**
   * `ownNetns`: the daemon runs in a network namespace of its own with only
   * loopback up, so nothing it is asked to reach (a registry, a URL) can
   * leave the machine; its bridge and chains live and die in that namespace.
   */
  constructor(extraArgs: string[] = [], opts: { ownNetns?: boolean; binary?: string } = {}) {
    this.dir = mkdtempSync('/tmp/bt-');
    this.socket = join(this.dir, 'berth.sock');
    this.dataRoot = join(this.dir, 'data');
    this.execRoot = join(this.dir, 'x');
    this.host = `unix://${this.socket}`;
    this.logFile = join(this.dir, 'daemon.log');
    this.extraArgs = extraArgs;
    this.ownNetns = opts.ownNetns ?? false;
    this.binary = opts.binary ?? BERTH;
  }

  get pidFile(): string {
    return join(this.dir, 'berth.pid');
  }

  /** The daemon process's pid while it runs. */
  get pid(): number | undefined {
    return this.proc?.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: this.host };
  }

  /** Spawns the daemon process and returns at once (start() also waits for its socket). */
  launch(): ChildProcess {
    const log = openSync(this.logFile, 'a');
    const args = ['daemon', '-H', this.host, '--data-root', this.dataRoot, '--exec-root', this.execRoot, '--pidfile', this.pidFile, ...this.extraArgs];
    // unshare and sh both exec: the process spawned is the daemon itself.
    this.proc = this.ownNetns
      ? spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', this.binary, ...args], { stdio: ['ignore', log, log] })
      : spawn(this.binary, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    return this.proc;
  }

  async start(): Promise<void> {
    const proc = this.launch();
    const died = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`daemon exited (${code}) during start-up: ${this.log().slice(-2000)}`))));
    died.catch(() => {});
    try {
      await Promise.race([waitForSocket(this.socket, 15_000), died]);
    } catch (err) {
      // A daemon too slow to come up is stopped, not left starting on its own:
      // it would finish its start (bridge, chains) with nobody to stop it.
      await this.stop();
      throw err;
    }
  }

  /**
   * kill -9, as a crash would; resolves once the process is gone, so a
   * restarted daemon never meets the dying one on the socket or pidfile.
   */
  async crash(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  /** Stops the daemon; fails if it logged an error nothing caught (main.ts's last guard). */
  async stop(): Promise<void> {
    await this.signalAndWait('SIGTERM');
    this.checkUncaught();
  }

  private checkUncaught(): void {
    const lines = this.log().split('\n').filter((l) => l.includes('fatal: uncaught'));
    if (lines.length) throw new Error(`the daemon on ${this.dataRoot} hit an error nothing caught:\n${lines.join('\n').slice(0, 4000)}`);
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    // A daemon that does not stop within a minute is hung: kill it rather than hang the test.
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  berth(args: string[], opts: { input?: string | Buffer; timeout?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
    return run(BERTH, ['-H', this.host, ...args], { ...opts, env: opts.env ?? process.env });
  }

  docker(args: string[], opts: { input?: string | Buffer; timeout?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
    if (!DOCKER) throw new Error('no docker CLI');
    return run(DOCKER, args, { ...opts, env: { ...(opts.env ?? process.env), DOCKER_HOST: this.host } });
  }

  spawnBerth(args: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn(BERTH, ['-H', this.host, ...args], opts);
  }

  /** Imports the busybox rootfs as busybox:latest, as the installer does. */
  seedBusybox(): void {
    const r = this.berth(['import', '--change', 'CMD ["sh"]', busyboxTarPath(), 'busybox:latest']);
    if (r.code !== 0) throw new Error(`seeding busybox failed: ${r.stderr}`);
  }

  /**
   * Removes every container, stops the daemon, and deletes its directories.
   * A daemon stopped cleanly with nothing running removes its bridge and
   * chains; if they are still there after, that is a leak: they are removed
   * and the leak is reported as an error, so it shows where it happens.
   */
  async destroy(): Promise<void> {
    // A daemon a test left crashed is started again, as a user would, so that it
    // removes what only it knows about: containers, netns, bridges, iptables chains.
    // So is one that died by itself (a crash a test provoked): its containers' monitors outlive it.
    if (this.proc && this.pid === undefined) this.proc = undefined;
    if (!this.proc && existsSync(this.dataRoot)) await this.start().catch(() => {});
    let leak = '';
    if (this.proc) {
      // Containers still running at the stop keep the bridge and chains (by design), so all go first,
      // even when removing many outlasts one CLI timeout.
      for (let i = 0; i < 3; i++) {
        const ids = this.berth(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
        if (!ids.length) break;
        this.berth(['rm', '-f', ...ids], { timeout: 120_000 });
      }
      await this.signalAndWait('SIGTERM');
      leak = removeNetworkLeftovers(this.dataRoot);
      if (leak) leak += `\n--- daemon log tail ---\n${this.log().slice(-3000)}`;
    }
    // Anything still mounted below the test directory (a failed test) goes first.
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(this.dir));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    const uncaught = this.log().split('\n').filter((l) => l.includes('fatal: uncaught'));
    rmSync(this.dir, { recursive: true, force: true });
    if (uncaught.length) throw new Error(`the daemon on ${this.dataRoot} hit an error nothing caught:\n${uncaught.join('\n').slice(0, 4000)}`);
    if (leak) throw new Error(`the daemon on ${this.dataRoot} left after a clean stop with nothing running: ${leak}`);
  }
}

/**
 * The bridge and iptables chains of the daemon on `dataRoot` (named as
 * config.ts names them), removed if present; says what was found.
 */
function removeNetworkLeftovers(dataRoot: string): string {
  const tag = createHash('sha256').update(dataRoot).digest('hex').slice(0, 8);
  const found: string[] = [];
  if (existsSync(`/sys/class/net/berth-${tag}`)) {
    found.push(`bridge berth-${tag}`);
    spawnSync('ip', ['link', 'del', `berth-${tag}`]);
  }
  const chain = `BERTH-${tag}-`;
  let table = '';
  const jumps: string[][] = [];
  const chains: [string, string][] = [];
  for (const line of spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(`:${chain}`)) chains.push([table, line.slice(1).split(' ')[0]]);
    else if (line.startsWith('-A ') && !line.startsWith(`-A ${chain}`) && line.includes(`-j ${chain}`)) jumps.push([table, line]);
  }
  for (const [t, line] of jumps) spawnSync('iptables', ['-w', '-t', t, '-D', ...line.slice(3).split(' ')]);
  for (const [t, c] of chains) {
    spawnSync('iptables', ['-w', '-t', t, '-F', c]);
    spawnSync('iptables', ['-w', '-t', t, '-X', c]);
  }
  if (chains.length) found.push(`chains ${chains.map(([, c]) => c).join(', ')}`);
  return found.join(' and ');
}

export function run(cmd: string, args: string[], opts: { input?: string | Buffer; timeout?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(cmd, args, { input: opts.input, timeout: opts.timeout ?? 60_000, env: opts.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? (r.signal ? 128 : -1), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * Blocks until the wall clock has entered the next second. `--until 0s` is
 * sent in whole seconds (by the docker CLI too), so events of the current
 * second are only inside it once that second is over.
 */
export function waitForNextSecond(): void {
  const ms = 1000 - (Date.now() % 1000) + 20;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A daemon with busybox seeded, for a test file's `before` hook. */
export async function startSeededDaemon(extraArgs: string[] = [], opts: { ownNetns?: boolean; binary?: string } = {}): Promise<TestDaemon> {
  const d = new TestDaemon(extraArgs, opts);
  try {
    await d.start();
    d.seedBusybox();
  } catch (err) {
    // The caller never gets the daemon, so it could not destroy it.
    await d.destroy();
    throw err;
  }
  return d;
}

/**
 * A seeded daemon made the manager of a one-node swarm, in a network
 * namespace of its own: swarm's port (2377) is the daemon's, not the machine's.
 */
export async function startSwarmManager(): Promise<TestDaemon> {
  const d = await startSeededDaemon([], { ownNetns: true });
  const init = d.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  if (init.code !== 0) {
    await d.destroy();
    throw new Error(`swarm init: ${init.stderr}`);
  }
  return d;
}

/** Leaves the swarm (which removes its task containers), then stops the daemon. */
export async function stopSwarmManager(d: TestDaemon | undefined): Promise<void> {
  d?.docker(['swarm', 'leave', '--force']);
  await d?.destroy();
}
