// Several berth hosts on this machine for swarm tests: the machine tests'
// Debian hosts (privileged berth containers of one TestDaemon, each with its
// own address on that daemon's bridge), with this worktree's dist, its Node
// and the machine's etcd bind-mounted read-only at the same paths, so the
// built launcher's compiled-in paths hold. Each host runs its own berth daemon
// on unix:///run/berth.sock and tcp :2376 with mutual TLS (the test's CA and
// client certificate, as `berth machine` makes them), where the test's clients
// reach it; the hosts' own traffic to each other is the swarm's mutual TLS.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, ROOT, busyboxTarPath, run, type RunResult, TestDaemon } from './daemon.ts';
import { startMachineHost, type MachineHost } from './machine-host.ts';
import { makeCa, makeClientCert, makeServerCert } from '../../src/machine/certs.ts';
import { waitFor } from './wait.ts';

export const ENGINE = 2376;

/** The test's engine CA and client certificate (DOCKER_CERT_PATH), in the outer daemon's directory (gone with it). */
function clientCerts(d: TestDaemon): string {
  const dir = join(d.dir, 'swarm-client-tls');
  if (existsSync(join(dir, 'cert.pem'))) return dir;
  mkdirSync(dir, { recursive: true });
  makeCa(dir, 'swarm-test');
  makeClientCert(dir, 'swarm-test');
  return dir;
}

export interface SwarmHost {
  name: string;
  addr: string;
  host: MachineHost;
  /** tcp://addr:2375 */
  url: string;
  docker(args: string[], o?: { timeout?: number }): RunResult;
  berth(args: string[], o?: { timeout?: number; input?: string | Buffer }): RunResult;
  exec(script: string): RunResult;
  startDaemon(): Promise<void>;
  /** Stops the host's daemon (SIGTERM, or SIGKILL: its etcd member outlives it, as after a daemon's crash). */
  stopDaemon(signal?: 'TERM' | 'KILL'): Promise<void>;
  /** The host lost: its daemon and etcd member killed with -9. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

function mounts(): string[] {
  // node_modules is a symlink into the main worktree; Node's binary lives there.
  const nm = realpathSync(join(ROOT, 'node_modules'));
  return [`${ROOT}:${ROOT}:ro`, ...(nm.startsWith(ROOT + '/') ? [] : [`${nm}:${nm}:ro`]), '/usr/bin/etcd:/usr/bin/etcd:ro'];
}

/** The host's daemon started, with `env` (knobs a test sets) in its environment. */
const start = (env: Record<string, string>) => `set -e
[ -f /run/berth.pid ] && kill -0 "$(cat /run/berth.pid)" 2>/dev/null && exit 0
setsid env ${Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ')} ${BERTH} daemon -H unix:///run/berth.sock -H tcp://0.0.0.0:${ENGINE} --tlsverify --tlscacert /etc/berth-tls/ca.pem --tlscert /etc/berth-tls/server.pem --tlskey /etc/berth-tls/server-key.pem </dev/null >>/var/log/berth.log 2>&1 &
echo $! > /run/berth.pid`;

async function until(what: string, fn: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** daemonEnv: the environment the host's berth daemon starts with (a test's knob, e.g. BERTH_SWARM_MIN_CERT_EXPIRY, BERTH_SWARM_RESYNC_S). */
export async function startSwarmHost(d: TestDaemon, name: string, o: { daemonEnv?: Record<string, string> } = {}): Promise<SwarmHost> {
  const certs = clientCerts(d);
  // The host's server certificate is written once its address is known; the bind shows it.
  const tls = mkdtempSync(join(d.dir, 'swarm-server-tls-'));
  const host = await startMachineHost(d, name, { mounts: [...mounts(), `${tls}:/etc/berth-tls:ro`] });
  for (const f of ['ca.pem', 'ca-key.pem']) copyFileSync(join(certs, f), join(tls, f));
  makeServerCert(tls, name, [`IP:${host.addr}`, 'IP:127.0.0.1']);
  rmSync(join(tls, 'ca-key.pem'));
  const url = `tcp://${host.addr}:${ENGINE}`;
  mkdirSync(join(certs, 'config'), { recursive: true });
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))),
    DOCKER_HOST: url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs, DOCKER_CONFIG: join(certs, 'config'),
  };
  const h: SwarmHost = {
    name, addr: host.addr, host, url,
    docker: (args, o = {}) => run(DOCKER ?? 'docker', args, { env, timeout: o.timeout ?? 120_000 }),
    berth: (args, o = {}) => run(BERTH, args, { env, timeout: o.timeout ?? 120_000, input: o.input }),
    exec: (script) => host.exec(script),
    async startDaemon() {
      const r = host.exec(start(o.daemonEnv ?? {}));
      if (r.code !== 0) throw new Error(`starting berth on ${name}: ${r.stderr}`);
      await until(`berth on ${name}`, () => h.berth(['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 }).code === 0, 90_000)
        .catch((err: Error) => { throw new Error(`${err.message}: ${host.exec('tail -20 /var/log/berth.log').stdout}`); });
    },
    async stopDaemon(signal = 'TERM') {
      host.exec(`p=$(cat /run/berth.pid 2>/dev/null) || exit 0; kill -${signal} "$p"; for i in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; rm -f /run/berth.pid`);
    },
    async crash() {
      await h.stopDaemon('KILL');
      host.exec('pkill -9 -x etcd || true');
    },
    async stop() {
      await h.stopDaemon();
      await host.stop();
      rmSync(tls, { recursive: true, force: true });
    },
  };
  await h.startDaemon();
  const tar = busyboxTarPath();
  const imp = h.berth(['import', '--change', 'CMD ["sh"]', tar, 'busybox:latest'], { timeout: 300_000 });
  if (imp.code !== 0) throw new Error(`seeding busybox on ${name}: ${imp.stderr}`);
  return h;
}

/**
 * A test file's hosts: a host daemon of their own and a swarm host for each
 * name, started together (its `before`). One that fails to start takes the
 * others and the daemon down with it.
 */
export async function startSwarmHosts(names: string[], o: { daemonEnv?: Record<string, string> } = {}): Promise<{ d: TestDaemon; hosts: SwarmHost[] }> {
  const d = new TestDaemon();
  await d.start();
  const started = await Promise.allSettled(names.map((n) => startSwarmHost(d, n, o)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const hosts = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    await stopSwarmHosts(d, hosts);
    throw failed.reason;
  }
  return { d, hosts };
}

/** Each host leaves its swarm, the last first, and stops; then their daemon goes (a test file's `after`). */
export async function stopSwarmHosts(d: TestDaemon | undefined, hosts: (SwarmHost | undefined)[]): Promise<void> {
  for (const h of [...hosts].reverse()) h?.docker(['swarm', 'leave', '--force']);
  await Promise.all(hosts.map((h) => h?.stop()));
  await d?.destroy();
}

/** A swarm's convergence, polled every 500 ms (each look is a docker CLI call on a test host) for up to a minute by default. */
export function waitSwarm<T>(what: string, fn: () => T | undefined, ms = 60_000): Promise<T> {
  return waitFor(what, fn, ms, 500);
}

/** `docker node ls` on h as "hostname status manager-status" lines, sorted; the CLI's error if it fails. */
export function nodeLines(h: SwarmHost): string {
  const r = h.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}']);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean).map((l) => l.trim()).sort().join('\n') : `error: ${r.stderr}`;
}
