// Debian's dockerd (docker.io, 20.10) as a benchmark peer, never as a part of
// berth: its own socket, data root, exec root, pidfile, config file and
// managed containerd (whose root and socket dockerd puts under its data and
// exec roots), no bridge, no iptables, no ip_forward change, and a cgroup of
// its own for containers, and its trust key in its own directory. The daemon and everything it starts (containerd,
// shims, runc) can be put in a cpuacct cgroup so a bench can read their CPU.
//
//   const peer = await startPeerDockerd({ cpuacctCgroup: '/sys/fs/cgroup/cpuacct/x' });
//   try { peer.docker(['ps']); } finally { await peer.stop(); }
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import { DOCKER, run, type RunResult } from '../test/helpers/daemon.ts';

export const DOCKERD = '/usr/sbin/dockerd';

/** Installs docker.io if dockerd is missing; policy-rc.d keeps apt from starting the system daemon, which is checked. */
export function ensureDockerd(): void {
  if (existsSync(DOCKERD)) return;
  console.error('dockerd is missing: apt-get install -y docker.io (the peer only)');
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'docker.io'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0 || !existsSync(DOCKERD)) throw new Error('installing docker.io failed');
  // A system dockerd/containerd started by the package would touch the host's defaults.
  for (const name of ['dockerd', 'containerd']) {
    const pids = spawnSync('pgrep', ['-x', name], { encoding: 'utf8' }).stdout.trim();
    if (pids) throw new Error(`the docker.io install started ${name} (${pids}); stop it before benchmarking`);
  }
}

export interface PeerDockerd {
  dir: string;
  host: string;
  pid: number;
  /** The docker CLI against this daemon. */
  docker(args: string[], opts?: { input?: string | Buffer; timeout?: number }): RunResult;
  /** Processes in the daemon's cpuacct cgroup: dockerd, containerd, shims (and any runc at that instant). */
  processes(): { pid: number; comm: string }[];
  stop(): Promise<void>;
}

function waitForSocket(path: string, ms: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`dockerd exited during start-up:\n${log().slice(-3000)}`));
      const s = connect(path);
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`dockerd's socket ${path} did not come up:\n${log().slice(-3000)}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export function cgroupProcesses(cgroup: string): { pid: number; comm: string }[] {
  if (!existsSync(join(cgroup, 'cgroup.procs'))) return [];
  return readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number).flatMap((pid) => {
    try {
      return [{ pid, comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() }];
    } catch {
      return [];
    }
  });
}

/** Every mount at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`))).reverse();
}

/** Removes a cgroup directory tree in one v1 hierarchy (children first); a cgroup still holding a process stays. */
export function removeCgroupTree(path: string): void {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(path, e.name));
  try { rmdirSync(path); } catch { /* still busy: reported by the caller's check */ }
}

export async function startPeerDockerd(opts: { cpuacctCgroup?: string } = {}): Promise<PeerDockerd> {
  ensureDockerd();
  const cli = DOCKER;
  if (!cli) throw new Error('no docker CLI');
  const dir = mkdtempSync('/tmp/pd-');
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const logFile = join(dir, 'dockerd.log');
  // Container cgroups of their own, so they never meet a system dockerd's /docker.
  const cgroupParent = `/${basename(dir)}`;
  // A config file of its own, so /etc/docker/daemon.json is not read; 20.10 writes
  // its trust key to /etc/docker/key.json unless this (file-only) setting says where.
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const args = [
    '-H', host, '--config-file', join(dir, 'daemon.json'),
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'x'), '--pidfile', join(dir, 'docker.pid'),
    '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
    '--userland-proxy=false', '--cgroup-parent', cgroupParent, '--storage-driver', 'overlay2', '--log-level', 'warn',
  ];
  // dockerd makes /run/docker/plugins (a fixed path for plugin discovery); removed at the stop if it was not there before.
  const hadRunDocker = existsSync('/run/docker');
  const log = openSync(logFile, 'a');
  const wrap = opts.cpuacctCgroup ? `echo $$ > ${opts.cpuacctCgroup}/cgroup.procs && ` : '';
  // sh execs dockerd, so the process spawned is dockerd itself (and in the cgroup before it starts anything).
  const proc = spawn('sh', ['-c', `${wrap}exec "$@"`, 'sh', DOCKERD, ...args], { stdio: ['ignore', log, log] });
  closeSync(log);
  const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  const docker = (a: string[], o: { input?: string | Buffer; timeout?: number } = {}) =>
    run(cli, a, { ...o, env: { ...process.env, DOCKER_HOST: host } });
  const processes = () => (opts.cpuacctCgroup ? cgroupProcesses(opts.cpuacctCgroup) : []);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    if (proc.exitCode === null && proc.signalCode === null) {
      const ids = docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length) docker(['rm', '-f', ...ids], { timeout: 180_000 });
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }
    // dockerd stops its containerd; anything left (a shim, a containerd) is killed and reported.
    const pidsOf = () => [...processes().map((p) => p.pid), ...spawnSync('pgrep', ['-f', dir], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)]
      .filter((p) => p !== process.pid);
    for (let i = 0; i < 50 && pidsOf().length; i++) await new Promise((r) => setTimeout(r, 100));
    const left = pidsOf();
    if (left.length) {
      problems.push(`processes left: ${left.join(' ')}`);
      for (const p of left) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    const mounts = mountsUnder(dir);
    if (mounts.length) problems.push(`mounts left: ${mounts.join(' ')}`);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
    if (!hadRunDocker) for (const d of ['/run/docker/plugins', '/run/docker']) try { rmdirSync(d); } catch { /* not empty: someone else's */ }
    for (const ctl of readdirSync('/sys/fs/cgroup')) removeCgroupTree(join('/sys/fs/cgroup', ctl, cgroupParent));
    if (problems.length) throw new Error(`the peer dockerd in ${dir} left behind: ${problems.join('; ')}`);
  };

  try {
    await waitForSocket(socket, 60_000, proc, readLog);
    // The socket listens before the daemon (and its containerd) is up; the API answers after.
    for (let i = 0; docker(['version']).code !== 0; i++) {
      if (i > 300 || proc.exitCode !== null) throw new Error(`dockerd did not answer:\n${readLog().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The managed containerd must be dockerd's own: its socket under our exec root.
    const cd = processes().find((p) => p.comm === 'containerd');
    if (opts.cpuacctCgroup && !cd) throw new Error('dockerd started no managed containerd');
    if (cd) {
      const cmdline = readFileSync(`/proc/${cd.pid}/cmdline`, 'utf8').split('\0');
      const cfgPath = cmdline[cmdline.indexOf('--config') + 1] ?? '';
      if (!cfgPath.startsWith(`${dir}/`)) throw new Error(`containerd ${cd.pid} is not the peer's own: ${cmdline.join(' ')}`);
      // Its root, state and socket paths all under the peer's directory.
      const paths = [...readFileSync(cfgPath, 'utf8').matchAll(/^\s*(root|state|address)\s*=\s*"([^"]*)"/gm)].map((m) => m[2]).filter(Boolean);
      if (paths.length < 3 || paths.some((p) => !p.startsWith(`${dir}/`))) throw new Error(`containerd's config ${cfgPath} has paths outside ${dir}: ${paths.join(' ')}`);
    }
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return { dir, host, pid: proc.pid ?? 0, docker, processes, stop };
}
