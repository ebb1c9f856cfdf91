// Observation costs (issue #15, Performance), berthd beside dockerd (Debian's
// docker.io 20.10, bench/peer-dockerd.ts) in the same run, both with 50
// busybox containers on --network none:
//  1. `stats --no-stream` of all 50: wall time of berth's CLI → berthd, the
//     docker CLI → berthd, and the docker CLI → dockerd.
//  2. One streaming stats client per container (GET /containers/{id}/stats,
//     read and counted by this process): the daemon's CPU over a window.
//  3. 50 containers with `--health-cmd true --health-interval 1s`: the same.
// Plus the idle cost of 50 running containers as the baseline of 2 and 3.
//
// CPU is utime+stime from /proc/<pid>/stat over the window (% of one core)
// for each long-lived process: berthd and its container shims; dockerd,
// containerd and its shims. Each daemon is put in a cpuacct cgroup of its own
// before it starts anything, so the cgroup's usage also counts the short-lived
// processes it starts (runc, berth's exec shims) but not the containers'
// processes, which runc moves to their own cgroups.
//
//   node_modules/.bin/node bench/observe.ts [rounds] [--window 20] [--no-stream-only]
// --no-stream-only measures 1 alone (a few minutes, for a quiet moment).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { BERTH, DOCKER, run, startSeededDaemon, type RunResult, type TestDaemon } from '../test/helpers/daemon.ts';
import { cgroupProcesses, startPeerDockerd, type PeerDockerd } from './peer-dockerd.ts';
import { median } from './measure.ts';

const ROUNDS = Number(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 3);
const wi = process.argv.indexOf('--window');
const WINDOW_S = wi > 0 ? Number(process.argv[wi + 1]) : 20;
const NO_STREAM_ONLY = process.argv.includes('--no-stream-only');
const noStreamLoads: number[] = [];
const IDLE_S = 10;
const N = 50;
const NO_STREAM_REPS = 3;
const TICK_HZ = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Engine {
  label: string;
  socket: string;
  cgroup: string;
  daemonPid: number;
  /** The engine's own CLI (berth's for berthd, docker's for dockerd). */
  cli: string;
  cliPrefix: string[];
  cliEnv: NodeJS.ProcessEnv;
}

function cliRun(e: Engine, args: string[], timeout = 120_000): RunResult {
  return run(e.cli, [...e.cliPrefix, ...args], { env: e.cliEnv, timeout });
}

function cliAsync(e: Engine, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(e.cli, [...e.cliPrefix, ...args], { env: e.cliEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${e.label}: ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** 50 containers made 10 at a time with the engine's own CLI; their names. */
async function makeContainers(e: Engine, prefix: string, extra: string[]): Promise<string[]> {
  const names = Array.from({ length: N }, (_, i) => `${prefix}${i}`);
  for (let i = 0; i < N; i += 10) {
    await Promise.all(names.slice(i, i + 10).map((n) => cliAsync(e, ['run', '-d', '--network', 'none', '--name', n, ...extra, 'busybox', 'sleep', '3600'])));
  }
  return names;
}

async function removeContainers(e: Engine, names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 10) await cliAsync(e, ['rm', '-f', ...names.slice(i, i + 10)]);
}

// ---- CPU over a window ----------------------------------------------------------

interface ProcTicks { comm: string; start: string; ticks: number }
interface Snapshot { at: bigint; cgroupNs: number; procs: Map<number, ProcTicks> }

function snapshot(e: Engine): Snapshot {
  const procs = new Map<number, ProcTicks>();
  for (const { pid, comm } of cgroupProcesses(e.cgroup)) {
    try {
      // Fields after the parenthesised comm: state is [0], utime [11], stime [12], starttime [19].
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      procs.set(pid, { comm: pid === e.daemonPid ? 'daemon' : comm, start: f[19], ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* exited */ }
  }
  return { at: process.hrtime.bigint(), cgroupNs: Number(readFileSync(`${e.cgroup}/cpuacct.usage`, 'utf8')), procs };
}

/** % of one core: by process kind (long-lived processes alive over the whole window) and for the whole cgroup. */
interface CpuUse { byKind: Map<string, { pct: number; n: number }>; total: number; load: number }

function cpuBetween(a: Snapshot, b: Snapshot): CpuUse {
  const secs = Number(b.at - a.at) / 1e9;
  const byKind = new Map<string, { pct: number; n: number }>();
  for (const [pid, end] of b.procs) {
    const begin = a.procs.get(pid);
    if (!begin || begin.start !== end.start) continue;
    const k = byKind.get(end.comm) ?? { pct: 0, n: 0 };
    k.pct += ((end.ticks - begin.ticks) / TICK_HZ / secs) * 100;
    k.n++;
    byKind.set(end.comm, k);
  }
  return { byKind, total: ((b.cgroupNs - a.cgroupNs) / 1e9 / secs) * 100, load: loadavg()[0] };
}

async function window(e: Engine, seconds: number): Promise<CpuUse> {
  const a = snapshot(e);
  await sleep(seconds * 1000);
  return cpuBetween(a, snapshot(e));
}

// ---- the three workloads ------------------------------------------------------------

function containerId(e: Engine, name: string): string {
  const r = cliRun(e, ['inspect', '--format', '{{.Id}}', name]);
  if (r.code !== 0) throw new Error(`${e.label}: inspect ${name}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Wall time of `stats --no-stream` of all `names` with one CLI; checks that every container is in the table. */
function timeNoStream(cli: string, prefix: string[], env: NodeJS.ProcessEnv, names: string[], label: string): number {
  const t = process.hrtime.bigint();
  const r = run(cli, [...prefix, 'stats', '--no-stream', ...names], { env, timeout: 120_000 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0) throw new Error(`${label}: stats --no-stream exited ${r.code}: ${r.stderr}`);
  const rows = r.stdout.trim().split('\n').length - 1;
  if (rows !== names.length) throw new Error(`${label}: stats --no-stream printed ${rows} rows for ${names.length} containers:\n${r.stdout}`);
  return ms;
}

/** One streaming stats request per container, counting the JSON lines each receives; `stop` ends them. */
function openStreams(socketPath: string, ids: string[]): { lines: number[]; errors: string[]; stop: () => void } {
  const lines = ids.map(() => 0);
  const errors: string[] = [];
  const reqs = ids.map((id, i) => {
    const req = request({ socketPath, path: `/containers/${id}/stats?stream=1`, agent: false });
    req.on('response', (res) => {
      if (res.statusCode !== 200) errors.push(`${id.slice(0, 12)}: ${res.statusCode}`);
      res.on('data', (b: Buffer) => { for (const c of b) if (c === 10) lines[i]++; });
      res.on('error', () => {});
    });
    req.on('error', (err) => { if (!stopped) errors.push(`${id.slice(0, 12)}: ${err.message}`); });
    req.end();
    return req;
  });
  let stopped = false;
  return { lines, errors, stop: () => { stopped = true; for (const r of reqs) r.destroy(); } };
}

interface Health { Status: string; Log: { Start: string; End: string; ExitCode: number }[] }

/** Every container healthy, and the median time between the starts of its last probes (the probe period achieved). */
function healthReport(e: Engine, names: string[]): { healthy: number; periodMs: number } {
  const r = cliRun(e, ['inspect', '--format', '{{json .State.Health}}', ...names]);
  if (r.code !== 0) throw new Error(`${e.label}: inspect: ${r.stderr}`);
  const hs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Health);
  const gaps: number[] = [];
  for (const h of hs) {
    const starts = h.Log.map((x) => Date.parse(x.Start.replace(/(\.\d{3})\d*/, '$1')));
    for (let i = 1; i < starts.length; i++) gaps.push(starts[i] - starts[i - 1]);
  }
  return { healthy: hs.filter((h) => h.Status === 'healthy').length, periodMs: median(gaps) };
}

// ---- main --------------------------------------------------------------------------------

interface Results {
  noStream: Map<string, number[]>;
  idle: Map<string, CpuUse[]>;
  stream: Map<string, CpuUse[]>;
  streamRate: Map<string, number[]>;
  health: Map<string, CpuUse[]>;
  healthPeriod: Map<string, number[]>;
}
const res: Results = { noStream: new Map(), idle: new Map(), stream: new Map(), streamRate: new Map(), health: new Map(), healthPeriod: new Map() };
const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);

const fmtUse = (u: CpuUse) => `total ${u.total.toFixed(1)}% [${[...u.byKind].map(([k, v]) => `${k}${v.n > 1 ? `×${v.n}` : ''} ${v.pct.toFixed(1)}%`).join(', ')}] load ${u.load.toFixed(1)}`;

async function measureRound(e: Engine, plain: string[], plainIds: string[], round: number, alsoDockerCliOnBerth: Engine | undefined): Promise<void> {
  const tag = `r${round} ${e.label}`;
  // 1. stats --no-stream, the engine's own CLI (and the docker CLI against berthd).
  cliRun(e, ['stats', '--no-stream', plain[0]]); // warm
  for (let i = 0; i < NO_STREAM_REPS; i++) {
    const ms = timeNoStream(e.cli, e.cliPrefix, e.cliEnv, plain, tag);
    push(res.noStream, `${e.label === 'berthd' ? 'berth CLI' : 'docker CLI'} → ${e.label}`, ms);
    // The floor: the same CLI's start and one request.
    const t = process.hrtime.bigint();
    if (cliRun(e, ['version']).code !== 0) throw new Error(`${tag}: version failed`);
    push(res.noStream, `(floor) ${e.label === 'berthd' ? 'berth' : 'docker'} version → ${e.label}`, Number(process.hrtime.bigint() - t) / 1e6);
    if (alsoDockerCliOnBerth) push(res.noStream, 'docker CLI → berthd', timeNoStream(DOCKER ?? '', [], { ...process.env, DOCKER_HOST: `unix://${e.socket}` }, plain, `${tag} docker CLI`));
  }
  console.log(`${tag} stats --no-stream: ${res.noStream.get(`${e.label === 'berthd' ? 'berth CLI' : 'docker CLI'} → ${e.label}`)?.slice(-NO_STREAM_REPS).map((x) => x.toFixed(0)).join(', ')} ms (load ${loadavg()[0].toFixed(1)})`);
  noStreamLoads.push(loadavg()[0]);
  if (NO_STREAM_ONLY) return;

  // Baseline: 50 running containers, nobody asking.
  await sleep(2000);
  const idle = await window(e, IDLE_S);
  push(res.idle, e.label, idle);
  console.log(`${tag} idle ${IDLE_S} s: ${fmtUse(idle)}`);

  // 2. A streaming client per container.
  const s = openStreams(e.socket, plainIds);
  try {
    await sleep(3000); // every stream has started
    const before = s.lines.reduce((a, b) => a + b, 0);
    const t = Date.now();
    const use = await window(e, WINDOW_S);
    const rate = (s.lines.reduce((a, b) => a + b, 0) - before) / ((Date.now() - t) / 1000) / plainIds.length;
    if (s.errors.length) throw new Error(`${tag}: stats streams failed: ${s.errors.slice(0, 5).join('; ')}`);
    push(res.stream, e.label, use);
    push(res.streamRate, e.label, rate);
    console.log(`${tag} ${plainIds.length} stats streams, ${WINDOW_S} s (${rate.toFixed(2)} answers/s each): ${fmtUse(use)}`);
  } finally {
    s.stop();
  }

  // 3. A healthcheck every second on 50 more containers (the plain ones pause meanwhile, so only 50 run).
  for (let i = 0; i < N; i += 10) await cliAsync(e, ['pause', ...plain.slice(i, i + 10)]);
  const hc = await makeContainers(e, `hc${round}x`, ['--health-cmd', 'true', '--health-interval', '1s']);
  try {
    await sleep(5000);
    const use = await window(e, WINDOW_S);
    const h = healthReport(e, hc);
    if (h.healthy !== N) throw new Error(`${tag}: only ${h.healthy} of ${N} containers healthy`);
    push(res.health, e.label, use);
    push(res.healthPeriod, e.label, h.periodMs);
    console.log(`${tag} ${N} healthchecks every 1 s, ${WINDOW_S} s (a probe every ${h.periodMs} ms each): ${fmtUse(use)}`);
  } finally {
    await removeContainers(e, hc);
    for (let i = 0; i < N; i += 10) await cliAsync(e, ['unpause', ...plain.slice(i, i + 10)]);
  }
}

const tagCg = `obs-${process.pid}`;
const cgroups = { berthd: `/sys/fs/cgroup/cpuacct/${tagCg}-berthd`, dockerd: `/sys/fs/cgroup/cpuacct/${tagCg}-dockerd` };
for (const c of Object.values(cgroups)) mkdirSync(c);

let d: TestDaemon | undefined;
let peer: PeerDockerd | undefined;
let exitCode = 0;
try {
  if (!DOCKER) throw new Error('no docker CLI');
  d = await startSeededDaemon();
  const berthPid = d.pid;
  if (!berthPid) throw new Error('berthd is not running');
  // berthd joins its cgroup before it has started anything the bench measures.
  writeFileSync(`${cgroups.berthd}/cgroup.procs`, String(berthPid));
  peer = await startPeerDockerd({ cpuacctCgroup: cgroups.dockerd });
  const berthd: Engine = { label: 'berthd', socket: d.socket, cgroup: cgroups.berthd, daemonPid: berthPid, cli: BERTH, cliPrefix: ['-H', d.host], cliEnv: process.env };
  const dockerd: Engine = { label: 'dockerd', socket: peer.host.slice('unix://'.length), cgroup: cgroups.dockerd, daemonPid: peer.pid, cli: DOCKER, cliPrefix: [], cliEnv: { ...process.env, DOCKER_HOST: peer.host } };

  // busybox from berth into the peer, as `berth save busybox | docker load`.
  const saved = await new Promise<Buffer>((resolve, reject) => {
    const p = spawn(BERTH, ['-H', d!.host, 'save', 'busybox']);
    const chunks: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => chunks.push(b));
    p.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`berth save exited ${code}`))));
  });
  const loaded = peer.docker(['load'], { input: saved });
  if (loaded.code !== 0) throw new Error(`docker load: ${loaded.stderr}`);

  const engines = [berthd, dockerd];
  const plain = new Map<string, { names: string[]; ids: string[] }>();
  for (const e of engines) {
    const names = await makeContainers(e, 'obs', []);
    plain.set(e.label, { names, ids: names.map((n) => containerId(e, n)) });
  }
  const versions = `berth ${run(BERTH, ['--version']).stdout.trim()}; dockerd ${peer.docker(['version', '--format', '{{.Server.Version}}']).stdout.trim()} (containerd, runc ${run('runc', ['--version']).stdout.split('\n')[0]}); docker CLI ${peer.docker(['version', '--format', '{{.Client.Version}}']).stdout.trim()}`;
  console.log(`observe: ${N} containers (--network none) per engine, ${ROUNDS} rounds, windows of ${WINDOW_S} s; ${cpus().length} cpus, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n${versions}`);
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate who goes first, so neither always meets the other's leftovers.
    for (const e of round % 2 ? engines : [...engines].reverse()) {
      const p = plain.get(e.label)!;
      await measureRound(e, p.names, p.ids, round, e === berthd ? berthd : undefined);
    }
  }

  // ---- the summary ----
  const m = (xs: number[] | undefined) => median(xs ?? []);
  const kind = (us: CpuUse[] | undefined, ...names: string[]) => m((us ?? []).map((u) => names.reduce((s, n) => s + (u.byKind.get(n)?.pct ?? 0), 0)));
  const tot = (us: CpuUse[] | undefined) => m((us ?? []).map((u) => u.total));
  const loads = [...res.stream.values(), ...res.health.values(), ...res.idle.values()].flat().map((u) => u.load);
  if (!loads.length) loads.push(...noStreamLoads);
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');
  const out: string[] = [];
  out.push(`\n## medians of ${ROUNDS} rounds (load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${cpus().length} cpus)`);
  out.push(`\nstats --no-stream of ${N} running containers (${NO_STREAM_REPS} per round):`);
  out.push('| client → daemon | median | runs |\n|---|---:|---:|');
  for (const [k, v] of res.noStream) out.push(`| ${k} | ${m(v).toFixed(0)} ms | ${v.length} |`);
  out.push(`berth CLI → berthd / docker CLI → dockerd: ${ratio(m(res.noStream.get('berth CLI → berthd')), m(res.noStream.get('docker CLI → dockerd')))}`);
  if (NO_STREAM_ONLY) { console.log(out.join('\n')); process.exitCode = 0; }
  else {
  out.push(`\nCPU, % of one core over ${WINDOW_S} s (idle: ${IDLE_S} s). berthd: the daemon process; + shims: its ${N} container shims; cgroup: everything it started but the containers (short-lived runc and exec shims too). dockerd: dockerd; + containerd + shims; cgroup likewise.`);
  out.push('| workload | berthd | berthd + shims | berthd cgroup | dockerd | dockerd + containerd + shims | dockerd cgroup | berthd / dockerd (daemon) | cgroup ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const row = (label: string, rb: CpuUse[] | undefined, rd: CpuUse[] | undefined) => {
    const bd = kind(rb, 'daemon'); const bs = kind(rb, 'daemon', 'berth-shim'); const bt = tot(rb);
    const dd = kind(rd, 'daemon'); const ds = kind(rd, 'daemon', 'containerd', 'containerd-shim'); const dt = tot(rd);
    out.push(`| ${label} | ${bd.toFixed(1)} % | ${bs.toFixed(1)} % | ${bt.toFixed(1)} % | ${dd.toFixed(1)} % | ${ds.toFixed(1)} % | ${dt.toFixed(1)} % | ${ratio(bd, dd)} | ${ratio(bt, dt)} |`);
  };
  row(`idle, ${N} running`, res.idle.get('berthd'), res.idle.get('dockerd'));
  row(`${N} stats streams`, res.stream.get('berthd'), res.stream.get('dockerd'));
  row(`${N} healthchecks every 1 s`, res.health.get('berthd'), res.health.get('dockerd'));
  // The work done differs when a daemon falls behind (fewer answers, later probes): CPU per unit of work
  // too, per window, then the median. Work per second: answers of all streams; probes of all containers.
  const perUnit = (us: CpuUse[] | undefined, perSec: number[] | undefined, pick: (u: CpuUse) => number) =>
    m((us ?? []).map((u, i) => ((pick(u) / 100) * 1000) / (perSec?.[i] ?? NaN))).toFixed(2);
  const daemonPct = (u: CpuUse) => u.byKind.get('daemon')?.pct ?? 0;
  for (const e of ['berthd', 'dockerd']) {
    const answers = res.streamRate.get(e)?.map((r) => r * N);
    const probes = res.healthPeriod.get(e)?.map((p) => (N * 1000) / p);
    out.push(`${e}: ${m(res.streamRate.get(e)).toFixed(2)} stats answers per stream per second; per answer ${perUnit(res.stream.get(e), answers, daemonPct)} ms of daemon CPU, ${perUnit(res.stream.get(e), answers, (u) => u.total)} ms in its cgroup. ` +
      `A probe every ${m(res.healthPeriod.get(e))} ms per container; per probe ${perUnit(res.health.get(e), probes, daemonPct)} ms of daemon CPU, ${perUnit(res.health.get(e), probes, (u) => u.total)} ms in its cgroup.`);
  }
  console.log(out.join('\n'));
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  // Both daemons go, with their containers; then their cgroups, which must be empty by then.
  const left: string[] = [];
  await peer?.stop().catch((err: Error) => { left.push(err.message); });
  await d?.destroy().catch((err: Error) => { left.push(err.message); });
  for (const c of Object.values(cgroups)) {
    const procs = cgroupProcesses(c);
    if (procs.length) left.push(`${c}: ${procs.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
    try { rmdirSync(c); } catch { /* reported above */ }
  }
  if (left.length) {
    console.error(`left behind:\n${left.join('\n')}`);
    exitCode = 1;
  }
}
process.exit(exitCode);
