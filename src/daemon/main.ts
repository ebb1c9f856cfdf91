// `berth daemon`: configuration, listeners, pidfile, signals.
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { distDir } from '../dist-dir.ts';
import { daemonAnswers } from '../api/ping.ts';
import { ApiServer, ENGINE_VERSION } from './server.ts';
import { Engine } from './engine.ts';
import { completeHybridCgroups, removeEmptyParent } from '../runtime/cgroups/hybrid.ts';
import { ConfigError, loadDaemonConfig, type DaemonConfig } from './config.ts';
import { unmountIdmappedView } from '../runtime/userns.ts';
import { systemRoutes } from './routes/system.ts';
import { containerRoutes } from './routes/containers.ts';
import { execRoutes } from './routes/exec.ts';
import { systemDfRoutes } from './routes/system-df.ts';
import { imageRoutes } from './routes/images.ts';
import { archiveRoutes } from './routes/archive.ts';
import { commitRoutes } from './routes/commit.ts';
import { buildRoutes } from './routes/build.ts';
import { networkRoutes } from './routes/networks.ts';
import { volumeRoutes } from './routes/volumes.ts';
import { distributionRoutes } from './routes/distribution.ts';
import { swarmRoutes } from './routes/swarm.ts';
import { swarmLogRoutes } from './routes/swarm-logs.ts';
import { pluginRoutes } from './routes/plugins.ts';
import { sessionRoutes } from './routes/session.ts';
import { statsRoutes } from './routes/stats.ts';
import { updateRoutes } from './routes/update.ts';

const LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'];

function logger(level: string) {
  const min = LEVELS.indexOf(level);
  return (lvl: string, msg: string) => {
    if (LEVELS.indexOf(lvl) < min) return;
    process.stderr.write(`time="${new Date().toISOString()}" level=${lvl} msg=${JSON.stringify(msg)}\n`);
  };
}

/**
 * Whether the pidfile's process is a berth daemon still running. After a
 * kill -9 the pid is free for reuse, and a busy host soon hands it to some
 * other process; refusing to start then would strand the containers.
 */
function daemonAlive(pid: number): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  return argv.includes('daemon') && argv.some((a) => /(^|\/)berth(\.mjs)?$/.test(a));
}

/**
 * The last guard: an error no handler caught is a bug, logged with a line
 * tests look for (`fatal: uncaught`). The daemon keeps serving — its
 * containers live on without it, but their clients do not — unless such
 * errors keep coming, which means its state is broken: then it exits, and
 * a restart restores it from disk.
 */
function guardProcess(log: (level: string, msg: string) => void): void {
  const recent: number[] = [];
  const report = (kind: string, err: unknown) => {
    log('error', `fatal: uncaught ${kind}: ${err instanceof Error ? err.stack : String(err)}`);
    const now = Date.now();
    recent.push(now);
    while (recent.length && recent[0] < now - 60_000) recent.shift();
    if (recent.length >= 10) {
      log('fatal', `fatal: uncaught errors keep coming (${recent.length} in a minute): exiting`);
      process.exit(70);
    }
  };
  process.on('uncaughtException', (err) => report('exception', err));
  process.on('unhandledRejection', (reason) => report('rejection', reason));
}

/**
 * The listening sockets systemd passed us (sd_listen_fds(3)): fds 3.. when
 * LISTEN_PID names this process. The variables are cleared so that no child
 * takes them for its own.
 */
function activationFds(): number[] {
  const pid = Number(process.env.LISTEN_PID);
  const n = Number(process.env.LISTEN_FDS);
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  if (pid !== process.pid || !Number.isInteger(n) || n <= 0) return [];
  return Array.from({ length: n }, (_, i) => 3 + i);
}

/**
 * One daemon per data root: a lock the kernel drops when the process dies
 * (an abstract unix socket), so two CLIs auto-starting the daemon at once,
 * or a daemon started beside a running one, never restore the same
 * containers twice — and a kill -9 never leaves it stale, as a pidfile is.
 */
function lockDataRoot(dataRoot: string): Promise<Server | undefined> {
  const name = `\0berth-daemon-${createHash('sha256').update(dataRoot).digest('hex').slice(0, 16)}`;
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    server.listen(name, () => {
      server.unref();
      resolve(server);
    });
  });
}

export async function daemonMain(argv: string[]): Promise<number> {
  if (argv[0] === 'install' || argv[0] === 'uninstall') {
    const { installMain, uninstallMain } = await import('./supervise.ts');
    const out = (s: string) => { process.stdout.write(s); };
    try {
      return argv[0] === 'install' ? installMain(argv.slice(1), out) : uninstallMain(argv.slice(1), out);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`berth daemon ${argv[0]}: ${err.message}\n`);
      return 1;
    }
  }
  const listenFds = activationFds();
  let cfg: DaemonConfig;
  try {
    cfg = loadDaemonConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berth daemon: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = logger(cfg.logLevel);
  guardProcess(log);
  if (process.getuid?.() !== 0) {
    log('fatal', 'berth daemon needs to be started as root');
    return 1;
  }
  if (existsSync(cfg.pidfile)) {
    const pid = Number(readFileSync(cfg.pidfile, 'utf8').trim());
    if (pid && pid !== process.pid && daemonAlive(pid)) {
      log('fatal', `pid file found, ensure berth is not running or delete ${cfg.pidfile}`);
      return 1;
    }
  }
  if (!(await lockDataRoot(cfg.dataRoot))) {
    log('fatal', `another berth daemon is running on data root ${cfg.dataRoot}`);
    return 1;
  }
  try {
    const mounted = completeHybridCgroups();
    if (mounted.length) log('info', `mounted cgroup v1 hierarchies left on cgroup2 of this hybrid host: ${mounted.join(', ')}`);
  } catch (err) {
    log('warn', `cannot complete the hybrid cgroup layout (crun will refuse this host): ${(err as Error).message}`);
  }
  // SIGTERM/SIGINT are ours from here on: one that arrives during start-up
  // (a bridge and chains made, no API yet) lets the start finish and then
  // undoes it, instead of ending the process with them left behind.
  let stopSignal: string | undefined;
  let onStop = (): void => {};
  const requestStop = (sig: string) => {
    if (stopSignal) return;
    stopSignal = sig;
    onStop();
  };
  process.on('SIGTERM', () => requestStop('SIGTERM'));
  process.on('SIGINT', () => requestStop('SIGINT'));

  const engine = new Engine(cfg);
  engine.cluster.log = log;
  try {
    await engine.init();
  } catch (err) {
    log('fatal', `start-up failed: ${(err as Error).message}`);
    engine.containers.detachAll();
    await engine.networks.shutdown().catch((e: unknown) => log('warn', `network shutdown: ${(e as Error).message}`));
    return 1;
  }
  for (const failure of engine.bootFailures) log('warn', `restart policy: cannot start ${failure}`);
  writeFileSync(cfg.pidfile, String(process.pid));

  const api = new ApiServer();
  api.collectWhenIdle();
  api.log = log;
  systemRoutes(api, engine);
  containerRoutes(api, engine);
  execRoutes(api, engine);
  distributionRoutes(api, engine);
  imageRoutes(api, engine);
  systemDfRoutes(api, engine);
  commitRoutes(api, engine);
  archiveRoutes(api, engine);
  buildRoutes(api, engine);
  networkRoutes(api, engine);
  volumeRoutes(api, engine);
  swarmRoutes(api, engine);
  swarmLogRoutes(api, engine);
  pluginRoutes(api);
  sessionRoutes(api);
  statsRoutes(api, engine);
  updateRoutes(api, engine);

  const sockets: string[] = [];
  // Until the API listens, a failure undoes what the engine's start set up:
  // bridges, chains and the pidfile would otherwise outlive a daemon that never ran.
  const abort = async (message: string): Promise<number> => {
    log('fatal', message);
    // Listeners opened before the failing one would keep the process alive, serving, after it said fatal.
    await api.close().catch(() => undefined);
    engine.containers.detachAll();
    await engine.networks.shutdown().catch((err: unknown) => log('warn', `network shutdown: ${(err as Error).message}`));
    for (const s of sockets) rmSync(s, { force: true });
    rmSync(cfg.pidfile, { force: true });
    return 1;
  };
  try {
    // Unix sockets last: a local client (a test, the CLI's auto-start) takes
    // the socket's appearing as the daemon being up, so every other listener
    // (TCP loads node:tls first) must already be.
    const isUnix = (h: string): boolean => !h.includes('://') || h.startsWith('unix://');
    for (const host of [...cfg.hosts.filter((h) => !isUnix(h)), ...cfg.hosts.filter(isUnix)]) {
      const url = new URL(host.includes('://') ? host : `unix://${host}`);
      if (url.protocol === 'fd:') {
        // dockerd's -H fd:// (every socket systemd passed) or fd://N (that one).
        if (!listenFds.length) return abort('no sockets found via socket activation: make sure the service was started by systemd');
        const want = url.host ? [Number(url.host)] : listenFds;
        for (const fd of want) {
          if (!listenFds.includes(fd)) return abort(`too few socket activated files passed in by systemd: no fd ${url.host}`);
          const server = api.listenFd(fd);
          await new Promise<void>((resolve, reject) => {
            server.once('listening', resolve);
            server.once('error', reject);
          });
          log('info', `API listen on fd ${fd} (socket activation)`);
        }
      } else if (url.protocol === 'unix:') {
        const path = host.replace(/^unix:\/\//, '');
        if (existsSync(path)) {
          if (await daemonAnswers(path)) {
            return abort(`another daemon is listening on ${path}`);
          }
          unlinkSync(path);
        }
        const server = api.listenUnix(path);
        await new Promise<void>((resolve, reject) => {
          server.once('listening', resolve);
          server.once('error', reject);
        });
        chmodSync(path, 0o660);
        chownSync(path, 0, 0);
        sockets.push(path);
        log('info', `API listen on ${path}`);
      } else if (url.protocol === 'tcp:') {
        const port = Number(url.port || (cfg.tls ? 2376 : 2375));
        const addr = url.hostname.replace(/^\[|\]$/g, '');
        // Stricter than dockerd, which only warns: a port others can reach is root on this machine.
        const loopback = addr === 'localhost' || addr === '::1' || /^127\.\d+\.\d+\.\d+$/.test(addr);
        if (!cfg.tls?.verify && !loopback) {
          return abort(`refusing to listen on ${host} without mutual TLS: a TCP address other than loopback needs --tlsverify --tlscacert --tlscert --tlskey`);
        }
        if (!cfg.tls?.verify) {
          if (!cfg.tlsExplicitlyDisabled) {
            return abort(`refusing to listen on ${host} without mutual TLS: pass --tlsverify --tlscacert --tlscert --tlskey, or --tls=false to accept an unauthenticated, unencrypted remote root shell`);
          }
          log('warn', `!!! Binding to ${host} WITHOUT TLS: anyone who can reach this port has root on this machine !!!`);
        }
        let tls: Parameters<ApiServer['listenTcp']>[2];
        if (cfg.tls?.verify) {
          if (!cfg.tls.ca || !cfg.tls.cert || !cfg.tls.key) {
            return abort('--tlsverify needs --tlscacert, --tlscert and --tlskey');
          }
          tls = { ca: readFileSync(cfg.tls.ca), cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key), verify: true };
        }
        const server = api.listenTcp(addr, port, tls);
        await new Promise<void>((resolve, reject) => {
          server.once('listening', resolve);
          server.once('error', reject);
        });
        log('info', `API listen on ${url.hostname}:${port}${tls ? ' (mutual TLS)' : ''}`);
      } else {
        return abort(`invalid host ${host}`);
      }
    }
  } catch (err) {
    return abort(`cannot listen: ${(err as Error).message}`);
  }
  // The dashboard speaks to this daemon as any client does: through its own unix socket.
  let dashboard: { url: string; close(): Promise<void> } | undefined;
  if (cfg.ui && !stopSignal) {
    if (!sockets[0]) return abort('--ui needs the daemon to listen on a unix socket (-H unix://…): the dashboard reaches the API through it');
    try {
      const { serveDashboard } = await import('../ui-server/server.ts');
      const socket = sockets[0];
      // With --tlsverify the dashboard is served as the API is: HTTPS to clients the CA signed (then beyond loopback too).
      const t = cfg.tls?.verify && cfg.tls.ca && cfg.tls.cert && cfg.tls.key ? cfg.tls : undefined;
      const tls = t ? { ca: readFileSync(t.ca!), cert: readFileSync(t.cert!), key: readFileSync(t.key!) } : undefined;
      dashboard = await serveDashboard({ endpoint: { socketPath: socket, url: `unix://${socket}` }, addr: cfg.ui, root: join(distDir(), 'ui'), tls });
    } catch (err) {
      return abort(`cannot serve the dashboard on ${cfg.ui}: ${(err as Error).message}`);
    }
    // The address carries the token that opens the dashboard: the daemon's log is root's, as its socket is.
    log('info', `dashboard on ${dashboard.url}`);
  }
  if (!stopSignal) {
    engine.events.publish('daemon', 'start', engine.id, { name: 'berth' });
    log('info', `berth daemon ${ENGINE_VERSION} (node ${process.version}) ready, data root ${cfg.dataRoot}`);
  }

  return new Promise<number>((resolve) => {
    const shutdown = () => {
      log('info', `received ${stopSignal}, shutting down; containers keep running`);
      void Promise.all([api.close(), dashboard?.close()]).then(async () => {
        await engine.cluster.shutdown().catch((err: unknown) => log('warn', `swarm shutdown: ${(err as Error).message}`));
        await engine.health.close();
        engine.containers.detachAll();
        await engine.networks.shutdown().catch((err: unknown) => log('warn', `network shutdown: ${(err as Error).message}`));
        // Running containers' overlays keep their own hold on the layers; the next start mounts a fresh view.
        if (engine.layerView) await unmountIdmappedView(engine.layerView.to);
        removeEmptyParent(cfg.cgroupParent);
        for (const s of sockets) rmSync(s, { force: true });
        rmSync(cfg.pidfile, { force: true });
        resolve(0);
      });
    };
    if (stopSignal) shutdown();
    else onStop = shutdown;
  });
}
