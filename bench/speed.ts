// Speed benchmark (issue #17): every operation of the issue's target table on
// berth's CLI and the docker CLI against berthd, and the docker CLI against a
// dockerd 20.10 started beside it (bench/peer-dockerd.ts), interleaved in one
// run: each repetition runs every client in turn, so a change of the shared
// machine's load falls on all of them. Prints medians, ratios to dockerd, the
// per-repetition figures and the load average.
//   node_modules/.bin/node bench/speed.ts [reps] [rounds] [logMiB] [idleSeconds] [set]
// reps: runs of each single operation (run --rm, exec, start→first byte, ps);
// rounds: of the 50-container batches; logMiB: the size of the logs read.
// set: `all` (the default), or `cli`: only the rows where the CLI is most of
// the time (exec, run -d ×50, ps -a, rm -f ×50), on berthd alone, against the
// docker CLI on the same berthd (no dockerd, no crun); `exec`: only `exec c
// true`, on every engine (berthd, berthd on crun, dockerd), with no cold
// column and no batches; `start`: only `run --rm busybox true` and `start -a`
// → first byte, on the same engines as `exec` (with BERTH_BENCH_BASELINE, the
// other build runs its own berthd, daemon and shim included); or `logs`: only the logs row, on every client
// (reps: how many reads of the log per client); or `rss`: only the idle RSS
// row, `reps` times, each on a berthd and a dockerd started afresh
// (`speed.ts 3 0 0 55 rss`), with each figure's anonymous and file-backed
// parts. BERTH_BENCH_BASELINE names another build's dist/berth to run beside
// (its own warm pool). Build it where it lies (`git archive REV | tar -x -C
// DIR`, then scripts/build.mjs there): the launcher names its dist by
// absolute path, so a copied dist/ runs the build it was copied from.
//
// dockerd runs with --bridge none (the peer must not touch the host's
// networks), so its containers get no network while berth's join its default
// bridge (netns, veth, address): the ratios favour dockerd.
//
// "berth CLI" takes the launcher's warm path (ADR 0010) when a warm CLI
// process is ready; "berth CLI, cold" is the same CLI with BERTH_CLI_WARM=0.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon, type TestDaemon } from '../test/helpers/daemon.ts';
import { startPeerDockerd, type PeerDockerd } from './peer-dockerd.ts';
import { median, time } from './measure.ts';

const REPS = Number(process.argv[2] ?? 9);
const ROUNDS = Number(process.argv[3] ?? 3);
const LOG_MIB = Number(process.argv[4] ?? 64);
/** berthd's idle collection runs within this long of its last request (ApiServer.collectWhenIdle). */
const IDLE_S = Number(process.argv[5] ?? 55);
const CLI_ONLY = process.argv[6] === 'cli';
const EXEC_ONLY = process.argv[6] === 'exec';
const LOGS_ONLY = process.argv[6] === 'logs';
const RSS_ONLY = process.argv[6] === 'rss';
const START_ONLY = process.argv[6] === 'start';
/** The sets without the cold column and the batches. */
const SINGLE = EXEC_ONLY || START_ONLY;
const BASELINE = process.env.BERTH_BENCH_BASELINE;

interface Client { label: string; cli: string; prefix: string[]; env: NodeJS.ProcessEnv; engine: 'berthd' | 'berthd-crun' | 'berthd-baseline' | 'dockerd' }

function cliAsync(c: Client, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(c.cli, [...c.prefix, ...args], { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => { err += b; });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${c.label} ${args.join(' ')}: exit ${code}: ${err}`))));
  });
}

function cli(c: Client, args: string[]): string {
  const r = spawnSync(c.cli, [...c.prefix, ...args], { env: c.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${c.label} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const t = (c: Client, args: string[]) => time(c.cli, [...c.prefix, ...args], c.env);

/** Milliseconds from spawning `start -a` to the first byte of the container's output on its stdout. */
function firstByte(c: Client, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(c.cli, [...c.prefix, 'start', '-a', name], { env: c.env, stdio: ['ignore', 'pipe', 'ignore'] });
    let ms = NaN;
    p.stdout.once('data', () => { ms = Number(process.hrtime.bigint() - t0) / 1e6; });
    p.stdout.resume();
    p.on('exit', (code) => (code === 0 && !Number.isNaN(ms) ? resolve(ms) : reject(new Error(`${c.label} start -a ${name}: exit ${code}`))));
  });
}

/** `n` containers in groups of ten at once, each group after the one before; milliseconds. */
async function tenAtATime(c: Client, names: string[], args: (n: string) => string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < names.length; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => cliAsync(c, args(n))));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function rssKiB(pid: number, field = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** "83.1 MiB (anon 26.1, file 57.0)" of some processes together. */
function rssSplit(pids: number[]): string {
  const sum = (f: string) => pids.reduce((s, p) => s + rssKiB(p, f), 0) / 1024;
  return `${sum('VmRSS').toFixed(1)} MiB (anon ${sum('RssAnon').toFixed(1)}, file ${sum('RssFile').toFixed(1)})`;
}

function childrenOf(pid: number): number[] {
  return spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
}

/** The launcher's waiting warm processes of this build: started with no command of their own. */
function warmPool(): number[] {
  const pids: number[] = [];
  for (const pid of spawnSync('pgrep', ['-f', 'cli.blob --disable-warning=ExperimentalWarning (--expose-internals )?--$'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes(BERTH_BLOB)) pids.push(Number(pid));
    } catch { /* gone */ }
  }
  return pids;
}
const BERTH_BLOB = join(dirname(BERTH), 'cli.blob');

const fig = new Map<string, Map<string, number[]>>();
function record(op: string, label: string, v: number): void {
  if (!fig.has(op)) fig.set(op, new Map());
  const m = fig.get(op)!;
  if (!m.has(label)) m.set(label, []);
  m.get(label)!.push(v);
}
const loads: number[] = [];
const sampleLoad = () => loads.push(loadavg()[0]);

const BATCH_ONLY = process.argv[6] === 'batch';

/**
 * The `batch` set (`speed.ts 0 7 0 0 batch`): the two batch rows alone,
 * interleaved: each of `rounds` runs run -d ×50 and then rm -f ×50 (ten at a
 * time) on every engine in turn: this build's berthd and CLI, with
 * BERTH_BENCH_BASELINE a second berthd of that build driven by its own CLI,
 * and dockerd with the docker CLI.
 */
async function batchRows(): Promise<void> {
  if (!DOCKER) throw new Error('no docker CLI');
  let bd: TestDaemon | undefined;
  let bb: TestDaemon | undefined;
  let pd: PeerDockerd | undefined;
  try {
    bd = await startSeededDaemon();
    if (BASELINE) bb = await startSeededDaemon([], { binary: BASELINE });
    pd = await startPeerDockerd();
    const saved = spawnSync(BERTH, ['-H', bd.host, 'save', 'busybox'], { maxBuffer: 1 << 28 });
    if (saved.status !== 0) throw new Error(`berth save: ${saved.stderr}`);
    const loaded = pd.docker(['load'], { input: saved.stdout });
    if (loaded.code !== 0) throw new Error(`docker load: ${loaded.stderr}`);
    const clients: Client[] = [
      { label: 'berth CLI', cli: BERTH, prefix: ['-H', bd.host], env: process.env, engine: 'berthd' },
      ...(bb ? [{ label: 'baseline build', cli: BASELINE!, prefix: ['-H', bb.host], env: process.env, engine: 'berthd' } as Client] : []),
      { label: 'dockerd (docker CLI)', cli: DOCKER, prefix: [], env: { ...process.env, DOCKER_HOST: pd.host }, engine: 'dockerd' },
    ];
    console.log(`batch: ${ROUNDS} rounds; ${cpus().length} cpus, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (const c of clients) t(c, ['run', '--rm', 'busybox', 'true']);
    for (let k = 0; k < 3; k++) for (const c of clients) t(c, ['version']);
    await new Promise((r) => setTimeout(r, 3000));
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of clients) {
        sampleLoad();
        const names = Array.from({ length: 50 }, (_, k) => `b${r}x${k}`);
        record('run -d ×50, ten at a time', c.label, await tenAtATime(c, names, (n) => ['run', '-d', '--name', n, 'busybox', 'sleep', '3600']));
        record('rm -f ×50, ten at a time', c.label, await tenAtATime(c, names, (n) => ['rm', '-f', n]));
      }
      console.log(`round ${r + 1}: ${[...fig].map(([op, m]) => `${op}: ${clients.map((c) => `${c.label} ${m.get(c.label)!.at(-1)!.toFixed(0)}`).join(', ')}`).join('; ')}; load ${loadavg()[0].toFixed(2)}`);
    }
    sampleLoad();
    const ref = 'dockerd (docker CLI)';
    const out = ['', `load average during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (1 min) on ${cpus().length} cpus`, '',
      `| operation | ${clients.map((c) => c.label).join(' | ')} | ${clients.slice(0, -1).map((c) => `${c.label} vs dockerd`).join(' | ')} |`,
      `|---|${[...clients, ...clients.slice(1)].map(() => '---:').join('|')}|`];
    for (const [op, m] of fig) {
      const med = (l: string) => median(m.get(l)!);
      out.push(`| ${op} | ${clients.map((c) => `${(med(c.label) / 1000).toFixed(2)} s`).join(' | ')} | ${clients.slice(0, -1).map((c) => `${(med(ref) / med(c.label)).toFixed(2)}×`).join(' | ')} |`);
    }
    out.push('', 'per-round figures (ms):');
    for (const [op, m] of fig) for (const [l, xs] of m) out.push(`${op} | ${l}: ${xs.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(out.join('\n'));
  } finally {
    await pd?.stop().catch((e: Error) => console.error(e.message));
    await bb?.destroy();
    await bd?.destroy();
  }
}

if (BATCH_ONLY) {
  await batchRows();
  // The other sets below must not run; stdout is flushed before the exit.
  await new Promise((r) => process.stdout.write('', r));
  process.exit(0);
}

/**
 * The idle RSS row alone: each repetition starts a seeded berthd and a
 * dockerd, runs 50 containers on each (ten at a time, the two in turn), waits
 * IDLE_S quiet seconds and reads both; then removes everything.
 */
async function rssRows(): Promise<void> {
  if (!DOCKER) throw new Error('no docker CLI');
  const op = 'daemon idle RSS, 50 containers (MiB)';
  for (let i = 0; i < REPS; i++) {
    let bd: TestDaemon | undefined;
    let pd: PeerDockerd | undefined;
    try {
      bd = await startSeededDaemon();
      pd = await startPeerDockerd();
      const saved = spawnSync(BERTH, ['-H', bd.host, 'save', 'busybox'], { maxBuffer: 1 << 28 });
      if (saved.status !== 0) throw new Error(`berth save: ${saved.stderr}`);
      const loaded = pd.docker(['load'], { input: saved.stdout });
      if (loaded.code !== 0) throw new Error(`docker load: ${loaded.stderr}`);
      const berth: Client = { label: 'berth CLI', cli: BERTH, prefix: ['-H', bd.host], env: process.env, engine: 'berthd' };
      const docker: Client = { label: 'dockerd (docker CLI)', cli: DOCKER, prefix: [], env: { ...process.env, DOCKER_HOST: pd.host }, engine: 'dockerd' };
      for (let k = 0; k < 50; k += 10) {
        for (const c of [berth, docker]) await tenAtATime(c, Array.from({ length: 10 }, (_, j) => `idle${k + j}`), (n) => ['run', '-d', '--name', n, 'busybox', 'sleep', '3600']);
      }
      sampleLoad();
      await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      sampleLoad();
      const dockerdPids = [pd.pid, ...childrenOf(pd.pid)];
      record(op, berth.label, rssKiB(bd.pid!) / 1024);
      record(op, docker.label, dockerdPids.reduce((s, p) => s + rssKiB(p), 0) / 1024);
      console.log(`repetition ${i + 1}: berthd ${rssSplit([bd.pid!])}; dockerd + containerd ${rssSplit(dockerdPids)}; load ${loadavg()[0].toFixed(2)}`);
    } finally {
      await pd?.stop().catch((e: Error) => console.error(e.message));
      await bd?.destroy();
    }
  }
  const med = (l: string) => median(fig.get(op)!.get(l)!);
  console.log([
    '', `load average during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (1 min) on ${cpus().length} cpus`, '',
    '| operation | berth CLI | dockerd (docker CLI) | berth vs dockerd |', '|---|---:|---:|---:|',
    `| ${op} | ${med('berth CLI').toFixed(1)} | ${med('dockerd (docker CLI)').toFixed(1)} | ${(med('dockerd (docker CLI)') / med('berth CLI')).toFixed(2)}× |`,
    '', 'per-repetition figures:', ...[...fig.get(op)!].map(([l, xs]) => `${op} | ${l}: ${xs.map((x) => x.toFixed(1)).join(' ')}`),
  ].join('\n'));
}

let d: TestDaemon | undefined;
let dc: TestDaemon | undefined;
let db: TestDaemon | undefined;
let peer: PeerDockerd | undefined;
if (RSS_ONLY) await rssRows();
else try {
  if (!DOCKER) throw new Error('no docker CLI');
  d = await startSeededDaemon();
  // A second berthd with crun as its runtime (src/runtime/seccomp-bpf.ts), where crun is installed.
  if (!CLI_ONLY && spawnSync('crun', ['--version']).status === 0) dc = await startSeededDaemon(['--default-runtime', 'crun']);
  // The `start` set measures the daemon's path: a baseline build gets a berthd of its own.
  if (START_ONLY && BASELINE) db = await startSeededDaemon([], { binary: BASELINE });
  if (!CLI_ONLY) {
    peer = await startPeerDockerd();
    const saved = spawnSync(BERTH, ['-H', d.host, 'save', 'busybox'], { maxBuffer: 1 << 28 });
    if (saved.status !== 0) throw new Error(`berth save: ${saved.stderr}`);
    const loaded = peer.docker(['load'], { input: saved.stdout });
    if (loaded.code !== 0) throw new Error(`docker load: ${loaded.stderr}`);
  }

  const clients: Client[] = [
    { label: 'berth CLI', cli: BERTH, prefix: ['-H', d.host], env: process.env, engine: 'berthd' },
    // The same CLI without its warm path (ADR 0010): each command a fresh Node.
    ...(SINGLE ? [] : [{ label: 'berth CLI, cold', cli: BERTH, prefix: ['-H', d.host], env: { ...process.env, BERTH_CLI_WARM: '0' }, engine: 'berthd' } as Client]),
    { label: 'docker CLI → berthd', cli: DOCKER, prefix: [], env: { ...process.env, DOCKER_HOST: d.host }, engine: 'berthd' },
  ];
  if (peer) clients.push({ label: 'dockerd (docker CLI)', cli: DOCKER, prefix: [], env: { ...process.env, DOCKER_HOST: peer.host }, engine: 'dockerd' });
  // Another build's CLI (before the resident warm processes, say) on the same berthd.
  if (BASELINE) clients.splice(2, 0, { label: 'berth CLI, baseline build', cli: BASELINE, prefix: ['-H', (db ?? d).host], env: process.env, engine: db ? 'berthd-baseline' : 'berthd' });
  /** The column the ratios are to: dockerd, or with the `cli` set the docker CLI on the same berthd. */
  const REF = peer ? 'dockerd (docker CLI)' : 'docker CLI → berthd';
  if (dc) clients.splice(2, 0, { label: 'berth CLI, crun', cli: BERTH, prefix: ['-H', dc.host], env: process.env, engine: 'berthd-crun' });
  const engines = [...new Set(clients.map((c) => c.engine))];
  const byEngine = (e: Client['engine']) => clients.find((c) => c.engine === e)!;
  const versions = `${spawnSync(BERTH, ['--version'], { encoding: 'utf8' }).stdout.trim()}; dockerd ${peer?.docker(['version', '--format', '{{.Server.Version}}']).stdout.trim() ?? '(not started)'}; ${spawnSync('runc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}`;
  console.log(`speed: ${REPS} reps, ${ROUNDS} rounds, logs of ${LOG_MIB} MiB; ${cpus().length} cpus, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n${versions}`);

  // Warm every path once (image caches, the bridge, the page cache of the binaries).
  for (const c of clients) t(c, ['run', '--rm', 'busybox', 'true']);
  // A warm pool starts at a key's second cold command (ADR 0010): each berth CLI gets a few commands to start it.
  for (let k = 0; k < 3; k++) for (const c of clients) t(c, ['version']);
  await new Promise((r) => setTimeout(r, 3000));
  if (!LOGS_ONLY) await fastRows();
  else await logsRow(REPS);
  if (!CLI_ONLY && !LOGS_ONLY && !SINGLE) await slowRows();

  async function fastRows(): Promise<void> {
  if (!START_ONLY) for (const e of engines) cli(byEngine(e), ['run', '-d', '--name', 'sx', 'busybox', 'sleep', '3600']);

  for (let i = 0; i < REPS; i++) {
    sampleLoad();
    if (!CLI_ONLY && !EXEC_ONLY) for (const c of clients) record('run --rm busybox true', c.label, t(c, ['run', '--rm', 'busybox', 'true']));
    if (!START_ONLY) for (const c of clients) record('exec c true', c.label, t(c, ['exec', 'sx', 'true']));
    if (!CLI_ONLY && !EXEC_ONLY) for (const c of clients) {
      const name = `fb${i}${c.label.length}`;
      cli(c, ['create', '--name', name, 'busybox', 'echo', 'hi']);
      record('start -a → first byte', c.label, await firstByte(c, name));
      cli(c, ['rm', name]);
    }
  }

  for (let r = 0; r < (SINGLE ? 0 : ROUNDS); r++) {
    for (const c of clients) {
      sampleLoad();
      const names = Array.from({ length: 50 }, (_, k) => `b${r}x${k}`);
      record('run -d ×50, ten at a time', c.label, await tenAtATime(c, names, (n) => ['run', '-d', '--name', n, 'busybox', 'sleep', '3600']));
      // `sx` is the 51st container: the table's "ps -a with 50" gets one more.
      for (let k = 0; k < REPS; k++) record('ps -a with 50 containers', c.label, t(c, ['ps', '-a']));
      record('rm -f ×50, ten at a time', c.label, await tenAtATime(c, names, (n) => ['rm', '-f', n]));
    }
  }

  // The CLI's warm processes (ADR 0010) at the end of the batches: how far the pools grew.
  const pool = warmPool();
  console.log(`warm CLI processes after the batches: ${pool.length}, ${(pool.reduce((s, p) => s + rssKiB(p), 0) / 1024).toFixed(1)} MiB RSS`);
  }

  async function logsRow(reps: number): Promise<void> {
  // logs: one container per engine writes LOG_MIB MiB of 100-byte lines; every client reads it back whole.
  const line = 'x'.repeat(99);
  for (const e of engines) {
    cli(byEngine(e), ['run', '-d', '--name', 'lg', 'busybox', 'sh', '-c', `yes ${line} | head -c ${LOG_MIB * 1048576}`]);
    cli(byEngine(e), ['wait', 'lg']);
  }
  // Timed as the issue says, `logs lg | wc -c`, the count checked every time.
  const readAll = (c: Client): number => {
    const t0 = process.hrtime.bigint();
    const n = spawnSync('sh', ['-c', `"$0" "$@" logs lg | wc -c`, c.cli, ...c.prefix], { env: c.env, encoding: 'utf8' }).stdout.trim();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (Number(n) !== LOG_MIB * 1048576) throw new Error(`${c.label} logs lg gave ${n} bytes, not ${LOG_MIB * 1048576}`);
    return ms;
  };
  for (const c of clients) readAll(c);
  for (let i = 0; i < reps; i++) {
    sampleLoad();
    for (const c of clients) record(`logs of ${LOG_MIB} MiB (MiB/s)`, c.label, LOG_MIB / (readAll(c) / 1000));
  }
  }

  async function slowRows(): Promise<void> {
  await logsRow(Math.min(REPS, 3));

  // Idle RSS: 50 running containers on each engine, then a quiet minute.
  for (const e of engines) {
    const c = byEngine(e);
    cli(c, ['rm', '-f', 'lg', 'sx']);
    await tenAtATime(c, Array.from({ length: 50 }, (_, k) => `idle${k}`), (n) => ['run', '-d', '--name', n, 'busybox', 'sleep', '3600']);
  }
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  sampleLoad();
  const dockerdPids = [peer!.pid, ...childrenOf(peer!.pid)];
  record('daemon idle RSS, 50 containers (MiB)', 'berth CLI', rssKiB(d!.pid!) / 1024);
  if (dc) record('daemon idle RSS, 50 containers (MiB)', 'berth CLI, crun', rssKiB(dc.pid!) / 1024);
  record('daemon idle RSS, 50 containers (MiB)', 'dockerd (docker CLI)', dockerdPids.reduce((s, p) => s + rssKiB(p), 0) / 1024);
  console.log(`idle RSS: berthd ${rssSplit([d!.pid!])}; dockerd + containerd ${rssSplit(dockerdPids)}`);
  // What the warm path keeps resident: its waiting CLI processes (ADR 0010), beside, not in, the daemon's figure.
  const idlePool = warmPool();
  console.log(`warm CLI pool: ${idlePool.length} processes, ${(idlePool.reduce((s, p) => s + rssKiB(p), 0) / 1024).toFixed(1)} MiB RSS`);
  }

  const unit = (op: string) => (op.includes('MiB') ? '' : ' ms');
  const higherIsBetter = (op: string) => op.includes('MiB/s');
  const out: string[] = ['', `load average during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (1 min) on ${cpus().length} cpus`, ''];
  const berths = clients.filter((c) => c.cli === BERTH || c.cli === BASELINE).map((c) => c.label);
  const refName = peer ? 'dockerd' : 'docker CLI';
  out.push(`| operation | ${clients.map((c) => c.label).join(' | ')} | ${berths.map((l) => `${l} vs ${refName}`).join(' | ')} |`, `|---|${[...clients, ...berths].map(() => '---:').join('|')}|`);
  for (const [op, m] of fig) {
    const med = (l: string) => median(m.get(l) ?? []);
    // A ratio above 1 is berth ahead: dockerd's time (or RSS) over berth's, berth's throughput over dockerd's.
    const ratio = (l: string) => (higherIsBetter(op) ? med(l) / med(REF) : med(REF) / med(l));
    const cells = clients.map((c) => (m.has(c.label) ? `${med(c.label).toFixed(op.includes('×50') ? 0 : 1)}${unit(op)}` : '—'));
    out.push(`| ${op} | ${cells.join(' | ')} | ${berths.map((l) => (m.has(l) ? `${ratio(l).toFixed(2)}×` : '—')).join(' | ')} |`);
  }
  out.push('', `vs ${refName} above 1: berth ahead (${refName}'s time or RSS over berth's; berth's throughput over ${refName}'s).`, '', 'per-repetition figures:');
  for (const [op, m] of fig) for (const [l, xs] of m) out.push(`${op} | ${l}: ${xs.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(out.join('\n'));
} finally {
  await peer?.stop().catch((e: Error) => console.error(e.message));
  await d?.destroy();
  await dc?.destroy();
  await db?.destroy();
}
