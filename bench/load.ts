// Load benchmark: N concurrent Engine API clients for D seconds against one
// daemon, mixing what users and SDKs do at once: run --rm, exec, logs -f
// (cut), events (cut), ps, inspect, and push/pull to a local `berth registry`.
// It reports operations and errors by kind (nothing here is a client mistake,
// so every error is a failure), containers left behind, and the daemon's RSS
// and open fds at start (after a warm-up of the same load, once idle), every
// minute and at the end; `--warmup 0` measures the start of a cold daemon.
//
//   node_modules/.bin/node bench/load.ts [--clients 200] [--duration 600] [--warmup 60] [--sample 60] [--settle 60] [--rounds 1]
//
// Clients talk HTTP over the unix socket (node:http), not through the CLI:
// 200 CLI processes would not fit on a small machine and would measure the CLI.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BERTH, startSeededDaemon } from '../test/helpers/daemon.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const CLIENTS = arg('clients', 200);
const DURATION_S = arg('duration', 600);
const SAMPLE_S = arg('sample', 60);
const SETTLE_S = arg('settle', 60);
const WARMUP_S = arg('warmup', 60);
const ROUNDS = arg('rounds', 1);
const TIMEOUT_MS = 120_000;
const SLEEPERS = 4;
/** The daemon's idle collection runs within this long of its last request (ApiServer.collectWhenIdle). */
const IDLE_COLLECT_S = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- a small Engine API client over the unix socket --------------------------------

let agent: Agent;
let socketPath: string;

class OpError extends Error {
  readonly kind: string;
  constructor(kind: string, detail: string) {
    super(detail);
    this.kind = kind;
  }
}

interface Resp { status: number; body: Buffer }

/** One request; `cutAfterMs` ends a streaming response (logs -f, events) as a client closing it would. */
function call(method: string, path: string, o: { body?: unknown; headers?: Record<string, string>; cutAfterMs?: number } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = request({
      socketPath, agent, method, path: `/v1.47${path}`,
      headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {}), ...o.headers },
    });
    const timer = setTimeout(() => req.destroy(new OpError('timeout', `${method} ${path} took over ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err instanceof OpError ? err : new OpError(`net ${err.code ?? err.message}`, `${method} ${path}: ${err.message}`));
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let cut: NodeJS.Timeout | undefined;
      if (o.cutAfterMs !== undefined && res.statusCode === 200) {
        cut = setTimeout(() => {
          clearTimeout(timer);
          res.destroy();
          resolve({ status: 200, body: Buffer.concat(chunks) });
        }, o.cutAfterMs);
      }
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => {}); // a cut stream; the timer already answered
      res.on('end', () => {
        clearTimeout(timer);
        if (cut) clearTimeout(cut);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
    });
    req.end(data);
  });
}

function expect(r: Resp, status: number, what: string): Resp {
  if (r.status !== status) {
    let msg = r.body.toString().slice(0, 200);
    try { msg = (JSON.parse(msg) as { message: string }).message; } catch { /* not JSON */ }
    // The kind keeps the status and the message's shape, not its ids.
    throw new OpError(`${what} → ${r.status} ${msg.replace(/[0-9a-f]{12,64}/g, '<id>').slice(0, 80)}`, msg);
  }
  return r;
}

/** A JSON progress stream (push, pull) must not carry an error. */
function expectNoStreamError(r: Resp, what: string): void {
  for (const line of r.body.toString().split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as { error?: string };
    if (m.error) throw new OpError(`${what} stream error: ${m.error.replace(/[0-9a-f]{12,64}/g, '<id>').slice(0, 80)}`, m.error);
  }
}

/** Concatenated stdout of a multiplexed (non-tty) attach/exec stream. */
function demux(buf: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= buf.length;) {
    const n = buf.readUInt32BE(i + 4);
    if (buf[i] === 1) out += buf.subarray(i + 8, i + 8 + n).toString();
    i += 8 + n;
  }
  return out;
}

// ---- operations ------------------------------------------------------------------

let sleepers: string[] = [];
let registryHost = '';
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];

async function runRm(): Promise<void> {
  const c = JSON.parse(expect(await call('POST', '/containers/create', { body: { Image: 'busybox', Cmd: ['echo', 'hello'], HostConfig: { AutoRemove: true } } }), 201, 'create').body.toString()) as { Id: string };
  // As the docker CLI: wait for removal before start, so the exit cannot be missed.
  const waiting = call('POST', `/containers/${c.Id}/wait?condition=removed`);
  expect(await call('POST', `/containers/${c.Id}/start`), 204, 'start');
  const w = JSON.parse(expect(await waiting, 200, 'wait').body.toString()) as { StatusCode: number };
  if (w.StatusCode !== 0) throw new OpError('run exit status', `exit ${w.StatusCode}`);
}

async function exec(): Promise<void> {
  const id = pick(sleepers);
  const e = JSON.parse(expect(await call('POST', `/containers/${id}/exec`, { body: { Cmd: ['echo', 'x'], AttachStdout: true, AttachStderr: true } }), 201, 'exec create').body.toString()) as { Id: string };
  const out = demux(expect(await call('POST', `/exec/${e.Id}/start`, { body: { Detach: false, Tty: false } }), 200, 'exec start').body);
  if (out !== 'x\n') throw new OpError('exec output', JSON.stringify(out));
  const i = JSON.parse(expect(await call('GET', `/exec/${e.Id}/json`), 200, 'exec inspect').body.toString()) as { ExitCode: number; Running: boolean };
  if (i.Running || i.ExitCode !== 0) throw new OpError('exec exit status', JSON.stringify(i));
}

async function logsFollow(): Promise<void> {
  const r = expect(await call('GET', `/containers/${pick(sleepers)}/logs?follow=1&stdout=1&tail=5`, { cutAfterMs: 1000 + Math.random() * 2000 }), 200, 'logs -f');
  if (!demux(r.body).includes('tick')) throw new OpError('logs -f output', 'no tick lines');
}

async function events(): Promise<void> {
  expect(await call('GET', '/events', { cutAfterMs: 500 + Math.random() * 1500 }), 200, 'events');
}

async function ps(): Promise<void> {
  const list = JSON.parse(expect(await call('GET', '/containers/json?all=1'), 200, 'ps').body.toString()) as unknown[];
  if (list.length < SLEEPERS) throw new OpError('ps content', `${list.length} containers`);
}

async function inspect(): Promise<void> {
  const c = JSON.parse(expect(await call('GET', `/containers/${pick(sleepers)}/json`), 200, 'inspect').body.toString()) as { State: { Running: boolean } };
  if (!c.State.Running) throw new OpError('inspect content', 'sleeper not running');
}

const AUTH = { 'X-Registry-Auth': Buffer.from('{}').toString('base64') };

async function push(): Promise<void> {
  const tag = `t${Math.floor(Math.random() * 8)}`;
  expect(await call('POST', `/images/busybox/tag?repo=${registryHost}/load/bb&tag=${tag}`), 201, 'tag');
  expectNoStreamError(expect(await call('POST', `/images/${registryHost}/load/bb/push?tag=${tag}`, { headers: AUTH }), 200, 'push'), 'push');
}

async function pull(): Promise<void> {
  // t0 is pushed before the load starts, so a pull always finds something.
  expectNoStreamError(expect(await call('POST', `/images/create?fromImage=${registryHost}/load/bb&tag=t0`, { headers: AUTH }), 200, 'pull'), 'pull');
}

const OPS: [string, number, () => Promise<void>][] = [
  ['run --rm', 10, runRm], ['exec', 15, exec], ['logs -f', 10, logsFollow], ['events', 10, events],
  ['ps', 20, ps], ['inspect', 25, inspect], ['push', 5, push], ['pull', 5, pull],
];
const TOTAL_WEIGHT = OPS.reduce((s, [, w]) => s + w, 0);

function chooseOp(): [string, () => Promise<void>] {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const [name, w, fn] of OPS) {
    if ((r -= w) < 0) return [name, fn];
  }
  return [OPS[0][0], OPS[0][2]];
}

/** CLIENTS clients doing operations for `seconds`; successes counted in `tally`, failures in `errors`. */
async function drive(seconds: number, tally: Map<string, number>): Promise<void> {
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    await sleep(Math.random() * 2000); // not all at the same instant
    while (Date.now() < end) {
      const [name, fn] = chooseOp();
      try {
        await fn();
        tally.set(name, (tally.get(name) ?? 0) + 1);
      } catch (err) {
        const kind = `${name}: ${err instanceof OpError ? err.kind : (err as Error).message}`;
        const e = errors.get(kind) ?? { n: 0, example: err instanceof Error ? err.message.slice(0, 300) : String(err) };
        e.n++;
        errors.set(kind, e);
      }
      await sleep(Math.random() * 200);
    }
  }));
}

// ---- the daemon's resources --------------------------------------------------------

function sampleDaemon(pid: number): { rssMb: number; fds: number } {
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { rssMb: Math.round(rss / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

// ---- main ----------------------------------------------------------------------------

const d = await startSeededDaemon();
const regDir = mkdtempSync('/tmp/berth-load-reg-');
const port = await freePort();
writeFileSync(join(regDir, 'config.yml'), `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\nstorage: { filesystem: { rootdirectory: ${join(regDir, 'data')} } }\nhttp: { addr: "127.0.0.1:${port}" }\n`);
const registry = spawn(BERTH, ['registry', 'serve', join(regDir, 'config.yml')], { stdio: 'ignore' });
registryHost = `127.0.0.1:${port}`;
socketPath = d.socket;
agent = new Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });
const pid = Number(readFileSync(join(d.dir, 'berth.pid'), 'utf8'));

const counts = new Map<string, number>();
const errors = new Map<string, { n: number; example: string }>();
const samples: string[] = [];
let exitCode = 0;
try {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://${registryHost}/v2/`);
      break;
    } catch {
      await sleep(100);
    }
  }
  for (let i = 0; i < SLEEPERS; i++) {
    const c = JSON.parse(expect(await call('POST', `/containers/create?name=sleeper${i}`, { body: { Image: 'busybox', Cmd: ['sh', '-c', 'while true; do echo tick; sleep 1; done'] } }), 201, 'create').body.toString()) as { Id: string };
    expect(await call('POST', `/containers/${c.Id}/start`), 204, 'start');
    sleepers.push(c.Id);
  }
  expect(await call('POST', `/images/busybox/tag?repo=${registryHost}/load/bb&tag=t0`), 201, 'tag');
  expectNoStreamError(expect(await call('POST', `/images/${registryHost}/load/bb/push?tag=t0`, { headers: AUTH }), 200, 'push'), 'push');

  const line = (label: string, s: { rssMb: number; fds: number }) => `${label.padEnd(16)} RSS ${s.rssMb} MB, fds ${s.fds}`;
  // A warm-up of the same load first (its errors count, its operations not):
  // what any daemon that has served these requests holds for good or for a
  // bounded while (JIT code, the 1,024 events kept for --since, exited execs
  // kept 5 minutes, registry connections) is then in the start, and what
  // the start and the end differ by is what a load leaves behind.
  const warmCounts = new Map<string, number>();
  if (WARMUP_S > 0) {
    samples.push(line('before warm-up', sampleDaemon(pid)));
    await drive(WARMUP_S, warmCounts);
    agent.destroy();
    agent = new Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });
  }
  // The start is measured as the end is: after the daemon's idle collection
  // (a gc and a malloc trim 30-45 s after the last request, server.ts), so
  // both ends compare memory in use, not what was freed and not yet returned.
  await sleep(IDLE_COLLECT_S * 1000);
  const start = sampleDaemon(pid);
  samples.push(line('start', start));
  const warmOps = [...warmCounts.values()].reduce((a, b) => a + b, 0);
  console.log(`berth load: ${CLIENTS} clients for ${DURATION_S} s x ${ROUNDS} on ${cpus().length} cpus, after a ${WARMUP_S} s warm-up (${warmOps} operations); ${samples[samples.length - 1]}`);
  // Each round is load then idle: memory V8 keeps as a high-water mark comes
  // back the same after every round, a leak grows from one to the next.
  const idleAfter: { rssMb: number; fds: number }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r = ROUNDS > 1 ? `r${round} ` : '';
    const t0 = Date.now();
    const sampler = setInterval(() => {
      const s = line(`${r}${Math.round((Date.now() - t0) / 1000)} s`, sampleDaemon(pid));
      samples.push(s);
      console.log(s);
    }, SAMPLE_S * 1000);
    await drive(DURATION_S, counts);
    clearInterval(sampler);
    samples.push(line(`${r}load end`, sampleDaemon(pid)));
    // Keep-alive connections go, as clients that are done would close them.
    agent.destroy();
    agent = new Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });

    // Connections and timers wind down, and an idle V8 gives memory back: up to
    // SETTLE_S seconds for both to come back within 10% of the start.
    let settled = sampleDaemon(pid);
    const settleStart = Date.now();
    for (let i = 1; i <= SETTLE_S; i++) {
      await sleep(1000);
      settled = sampleDaemon(pid);
      if (settled.fds <= start.fds * 1.1 && settled.rssMb <= start.rssMb * 1.1) break;
      if (i % 15 === 0) console.log(line(`${r}idle ${i} s`, settled));
    }
    samples.push(line(`${r}idle ${Math.round((Date.now() - settleStart) / 1000)} s`, settled));
    idleAfter.push(settled);
  }
  const settled = idleAfter[idleAfter.length - 1];

  for (const id of sleepers) expect(await call('DELETE', `/containers/${id}?force=1`), 204, 'rm sleeper');
  sleepers = [];
  const left = JSON.parse(expect(await call('GET', '/containers/json?all=1'), 200, 'ps').body.toString()) as { Id: string; Names: string[]; State: string }[];

  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const nerr = [...errors.values()].reduce((a, b) => a + b.n, 0);
  console.log(`\n## ${CLIENTS} clients, ${DURATION_S} s x ${ROUNDS}: ${total} operations ok, ${nerr} errors`);
  for (const [name] of OPS) console.log(`  ${name.padEnd(9)} ${counts.get(name) ?? 0}`);
  if (errors.size) {
    console.log('errors by kind:');
    for (const [k, e] of [...errors].sort((a, b) => b[1].n - a[1].n)) console.log(`  ${String(e.n).padStart(6)}  ${k}\n          e.g. ${e.example}`);
  }
  console.log(`containers left behind: ${left.length}${left.length ? ` (${left.map((c) => `${c.Names[0]} ${c.State}`).join(', ')})` : ''}`);
  console.log('daemon resources:');
  for (const s of samples) console.log(`  ${s}`);
  const fdsOk = settled.fds <= Math.ceil(start.fds * 1.1);
  const rssOk = settled.rssMb <= start.rssMb * 1.1;
  console.log(`fds back within 10% of start: ${fdsOk ? 'pass' : 'FAIL'}; RSS back within 10% of start: ${rssOk ? 'pass' : 'FAIL'}`);
  if (ROUNDS > 1) console.log(`idle RSS after each round: ${idleAfter.map((x) => `${x.rssMb} MB`).join(', ')}`);
  if (nerr || left.length || !fdsOk || !rssOk) exitCode = 1;
} finally {
  registry.kill('SIGTERM');
  await d.destroy();
  rmSync(regDir, { recursive: true, force: true });
}
process.exit(exitCode);
