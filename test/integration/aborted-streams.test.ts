// Issue #12: no stream a client abandons may harm the daemon. Clients that
// go away in the middle of every kind of stream (tar out, tar in, logs,
// attach, exec, events, build, pull, push) at seeded random byte offsets, or
// send garbage: the daemon keeps its pid, answers, and gets its fds, mounts,
// child processes and half-written images back. Set BERTH_TEST_SEED to replay.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { BERTH, DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar } from '../helpers/tar.ts';
import { type Registry, startRegistry } from '../registry/helpers.ts';
import { prng } from '../helpers/seeded.ts';
import { fdCount, fdTargets } from '../helpers/proc-fds.ts';

const SEED = Number(process.env.BERTH_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`aborted-streams: seed ${SEED} (BERTH_TEST_SEED=${SEED} replays it)`);

interface Abandoned { status: number; got: number; head: string }

interface AbandonOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** The body the request announces (Content-Length), unless chunked. */
  body?: Buffer;
  /** Send only this many bytes of the body, then go away. */
  sendBody?: number;
  chunked?: boolean;
  upgrade?: boolean;
  /** Go away after this many response bytes (0: right after the request)... */
  after: number;
  /** ...or after this long, whichever comes first. */
  maxMs?: number;
}

/** One raw HTTP request on the daemon's socket, dropped part way. */
function abandon(socket: string, o: AbandonOptions): Promise<Abandoned> {
  return new Promise((resolve) => {
    const s = connect(socket);
    let got = 0;
    let head = '';
    let status = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ status, got, head });
    };
    const timer = setTimeout(finish, o.maxMs ?? 3000);
    s.on('error', finish);
    s.on('close', finish);
    s.on('connect', () => {
      const h: Record<string, string> = { Host: 'berth', ...(o.headers ?? {}) };
      if (o.body && !o.chunked) h['Content-Length'] = String(o.body.length);
      if (o.chunked) h['Transfer-Encoding'] = 'chunked';
      if (o.upgrade) Object.assign(h, { Connection: 'Upgrade', Upgrade: 'tcp' });
      s.write(`${o.method ?? 'GET'} ${o.path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      if (o.body) {
        const part = o.body.subarray(0, o.sendBody ?? o.body.length);
        if (o.chunked) s.write(`${part.length.toString(16)}\r\n`);
        s.write(part);
        if (o.chunked && o.sendBody === undefined) s.write('\r\n0\r\n\r\n');
      }
      if (o.after === 0) setTimeout(finish, 20);
    });
    s.on('data', (c: Buffer) => {
      got += c.length;
      if (!status) {
        head += c.subarray(0, 1024).toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
        if (m) status = Number(m[1]);
      }
      if (o.after > 0 && got >= o.after) finish();
    });
  });
}

interface Res { status: number; body: Buffer; json: () => unknown }

/** A complete request over the socket (node:http, as an SDK would send it). */
function api(socket: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const req = request({ socketPath: socket, method, path, headers: { ...(data && !Buffer.isBuffer(body) ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, body: b, json: () => JSON.parse(b.toString()) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it holds or `ms` pass; returns its last value. */
async function until<T>(check: () => T | Promise<T>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await check();
  while (!v && Date.now() < deadline) {
    await sleep(200);
    v = await check();
  }
  return v;
}

/**
 * Direct children of `pid` by command name (getfattr, mount, git...), but for
 * the shims of running containers; the daemon's resident berth-spawn is not
 * counted, its children (the commands it started for the daemon) are.
 */
function children(pid: number): string[] {
  const out: string[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const list = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
    for (const c of list ? list.split(' ') : []) {
      try {
        const comm = readFileSync(`/proc/${c}/comm`, 'utf8').trim();
        if (comm === 'berth-spawn') out.push(...children(Number(c)));
        else if (comm !== 'berth-shim') out.push(comm);
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

/** Export's temporary mounts of a daemon's snapshots (or any outside its directories). */
function exportMounts(d: TestDaemon): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .filter(([, at, , opts]) => at && (at.startsWith(join(d.execRoot, 'exports') + '/') || (opts?.includes(d.dataRoot) && !at.startsWith(d.dir))))
    .map(([, at]) => at);
}

describe('abandoned streams', () => {
  let d: TestDaemon;
  let pid: number;
  let baseFds: number;
  let reg: Registry;
  let regHost: string;
  const rand = prng(SEED);
  let work: string;
  const snapshots = () => readdirSync(join(d.dataRoot, 'overlay2/snapshots')).length;
  const ingest = () => readdirSync(join(d.dataRoot, 'image/ingest')).length;
  const buildTmp = () => (existsSync(join(d.dataRoot, 'build/tmp')) ? readdirSync(join(d.dataRoot, 'build/tmp')).filter((f) => !f.startsWith('ctx-')).length : 0);

  /** The daemon is the same process, answers, and is back to its fds, mounts and children. */
  async function assertRecovered(what: string): Promise<void> {
    assert.equal(d.pid, pid, `${what}: daemon pid unchanged`);
    assert.doesNotThrow(() => process.kill(pid, 0), `${what}: daemon alive`);
    const ping = await api(d.socket, 'GET', '/_ping');
    assert.equal(ping.status, 200, `${what}: daemon answers`);
    const fds = await until(() => (fdCount(pid) <= baseFds + 10 ? fdCount(pid) : 0));
    assert.ok(fds, `${what}: daemon fds back within 10 of ${baseFds} (now ${fdCount(pid)}: ${fdTargets(pid)})`);
    assert.ok(await until(() => exportMounts(d).length === 0), `${what}: no export mounts left: ${exportMounts(d).join(', ')}`);
    assert.ok(await until(() => children(pid).length === 0), `${what}: no child processes left: ${children(pid).join(', ')}`);
    // A client that leaves is not the daemon's error.
    assert.deepEqual(d.log().split('\n').filter((l) => /level=(error|fatal)/.test(l)), [], `${what}: no error logged`);
  }

  before(async () => {
    work = mkdtempSync('/tmp/berth-abandon-');
    d = await startSeededDaemon();
    pid = d.pid as number;
    // 20000 lines of log at once, then quiet: logs and attach replays have bytes to drop in the middle of.
    let r = d.berth(['run', '-d', '--name', 'logger', 'busybox', 'sh', '-c', 'seq 1 20000; while :; do sleep 1; done']);
    assert.equal(r.code, 0, r.stderr);
    r = d.berth(['create', '--name', 'stopped', 'busybox', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await until(() => d.berth(['logs', 'logger']).stdout.includes('\n20000\n')), 'logger wrote its lines');
    // One of each, complete, so lazily opened files count in the baseline.
    for (const p of ['/containers/logger/export', '/containers/stopped/export', '/images/busybox/get', '/containers/logger/logs?stdout=1']) {
      assert.equal((await api(d.socket, 'GET', p)).status, 200, p);
    }
    await sleep(500);
    baseFds = fdCount(pid);
    // berth's own registry as the peer for pull and push progress streams.
    reg = await startRegistry({ log: { level: 'warn' } });
    regHost = `localhost:${new URL(reg.url).port}`;
  });
  after(async () => {
    await reg?.stop();
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('160 streams closed after a few KiB: the daemon lives and gets its fds and mounts back', async () => {
    const paths = ['/containers/logger/export', '/containers/stopped/export', '/containers/logger/logs?follow=1&stdout=1', '/images/busybox/get'];
    const runs: Promise<Abandoned>[] = [];
    for (let i = 0; i < 160; i++) runs.push(abandon(d.socket, { path: paths[i % paths.length], after: 2048 + Math.floor(rand() * 6144), maxMs: 30_000 }));
    const results = await Promise.all(runs);
    assert.deepEqual(results.filter((r) => r.status !== 200).map((r) => r.head), [], 'every stream started');
    assert.ok(results.every((r) => r.got >= 2048), 'every stream sent a few KiB before the client left');
    // Time for the garbage collector to meet anything left pending (the reported crash).
    await sleep(2000);
    await assertRecovered('160 abandoned streams');
    // The streams still work whole afterwards.
    const whole = await api(d.socket, 'GET', '/containers/stopped/export');
    assert.equal(whole.status, 200);
    assert.ok(whole.body.length > 500_000, 'a whole export after the abandoned ones');
  });

  test('every kind of stream, dropped at seeded random points', async (t) => {
    const auth = { 'X-Registry-Auth': Buffer.from('{}').toString('base64') };
    assert.equal(d.berth(['tag', 'busybox', `${regHost}/bb:1`]).code, 0);
    const pushed = d.berth(['push', `${regHost}/bb:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    let n = 0;
    const kinds: Record<string, () => Promise<AbandonOptions>> = {
      'export (running)': async () => ({ path: '/containers/logger/export', after: 0 }),
      'export (stopped)': async () => ({ path: '/containers/stopped/export', after: 0 }),
      'image save': async () => ({ path: '/images/busybox/get', after: 0 }),
      'images get': async () => ({ path: '/images/get?names=busybox', after: 0 }),
      'logs follow': async () => ({ path: '/containers/logger/logs?follow=1&stdout=1&timestamps=1', after: 0 }),
      attach: async () => ({ method: 'POST', path: '/containers/logger/attach?stream=1&logs=1&stdout=1&stderr=1', upgrade: true, after: 0 }),
      exec: async () => {
        const ex = await api(d.socket, 'POST', '/containers/logger/exec', { Cmd: ['seq', '1', '100000'], AttachStdout: true, AttachStderr: true });
        assert.equal(ex.status, 201, ex.body.toString());
        const body = Buffer.from(JSON.stringify({ Detach: false, Tty: false }));
        return { method: 'POST', path: `/exec/${(ex.json() as { Id: string }).Id}/start`, body, headers: { 'Content-Type': 'application/json' }, upgrade: true, after: 0 };
      },
      events: async () => ({ path: '/events?since=0', after: 0 }),
      build: async () => {
        const ctx = await makeTar([{ name: 'Dockerfile', content: `FROM busybox\nRUN seq 1 30000 # ${SEED}-${n++}\n` }]);
        return { method: 'POST', path: `/build?t=abandoned:${n}`, body: ctx, headers: { 'Content-Type': 'application/x-tar' }, after: 0, maxMs: 10_000 };
      },
      pull: async () => {
        d.berth(['rmi', `${regHost}/bb:1`]);
        return { method: 'POST', path: `/images/create?fromImage=${regHost}/bb&tag=1`, headers: auth, after: 0 };
      },
      push: async () => {
        d.berth(['tag', 'busybox', `${regHost}/bb:1`]);
        return { method: 'POST', path: `/images/${regHost}/bb/push?tag=1`, headers: auth, after: 0 };
      },
    };
    // Progress streams are short: drop them within what they send.
    const span: Record<string, number> = { pull: 400, push: 400, events: 4096 };
    const before = d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length;
    for (const [kind, make] of Object.entries(kinds)) {
      const offsets: number[] = [];
      for (let i = 0; i < 5; i++) {
        const o = await make();
        // Before the answer (0), in the headers, or anywhere in the first 96 KiB of the body.
        o.after = i === 0 ? 0 : 1 + Math.floor(rand() * (i === 1 ? 200 : span[kind] ?? 96 * 1024));
        offsets.push(o.after);
        const r = await abandon(d.socket, o);
        assert.ok(r.status === 0 || r.status === 200 || r.status === 101, `${kind} at ${o.after}: ${r.head}`);
      }
      t.diagnostic(`${kind}: dropped after ${offsets.join(', ')} bytes`);
      if (kind === 'pull') d.berth(['pull', `${regHost}/bb:1`]);
      await assertRecovered(kind);
    }
    // An abandoned build stops: no build container stays behind, and no image was tagged.
    assert.ok(await until(() => d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length === before), 'no build containers left');
    await until(() => buildTmp() === 0);
    assert.equal(buildTmp(), 0, `build temp dirs left: ${readdirSync(join(d.dataRoot, 'build/tmp')).join(', ')}`);
  });

  test('real clients killed mid-stream: the berth and docker CLIs', async (t) => {
    const commands = [
      ['export', 'stopped'], ['export', 'logger'], ['save', 'busybox'], ['logs', '-f', 'logger'],
      ['exec', 'logger', 'seq', '1', '200000'], ['attach', 'logger'], ['events', '--since', '0'],
    ];
    const clients: Array<[string, string, string[]]> = [['berth', BERTH, ['-H', d.host]]];
    if (DOCKER) clients.push(['docker', DOCKER, []]);
    for (const [name, bin, pre] of clients) {
      for (const args of commands) {
        const after = 1 + Math.floor(rand() * 64 * 1024);
        const p: ChildProcess = spawn(bin, [...pre, ...args], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, DOCKER_HOST: d.host } });
        let got = 0;
        await new Promise<void>((resolve) => {
          const kill = () => {
            p.kill('SIGKILL');
            resolve();
          };
          const timer = setTimeout(kill, 3000);
          p.stdout!.on('data', (c: Buffer) => {
            got += c.length;
            if (got >= after) {
              clearTimeout(timer);
              kill();
            }
          });
          p.on('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        t.diagnostic(`${name} ${args.join(' ')}: killed after ${got} bytes (aimed at ${after})`);
      }
      await assertRecovered(`${name} CLI`);
    }
  });

  test('half an upload to import, load and build, then gone: no partial image, layer or file', async () => {
    // Random content: a layer no image has, so any part of it left behind would show.
    const big = () => makeTar([{ name: 'payload', content: randomBytes(4 << 20) }]);
    const loadTar = join(work, 'load.tar');
    let r = d.berth(['import', '-', 'loadme:1'], { input: await big() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['save', '-o', loadTar, 'loadme:1']).code, 0);
    assert.equal(d.berth(['rmi', 'loadme:1']).code, 0);
    const images = () => d.berth(['images', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean).sort();
    const imagesBefore = images();
    const snapsBefore = snapshots();
    const cases: Array<[string, () => Promise<AbandonOptions>]> = [
      ['import', async () => ({ method: 'POST', path: '/images/create?fromSrc=-&repo=halfimport&tag=1', body: await big(), headers: { 'Content-Type': 'application/x-tar' }, after: 0 })],
      ['import (chunked)', async () => ({ method: 'POST', path: '/images/create?fromSrc=-&repo=halfimport&tag=2', body: await big(), chunked: true, headers: { 'Content-Type': 'application/x-tar' }, after: 0 })],
      ['load', async () => ({ method: 'POST', path: '/images/load', body: readFileSync(loadTar), headers: { 'Content-Type': 'application/x-tar' }, after: 0 })],
      ['build', async () => ({
        method: 'POST', path: '/build?t=halfbuild:1', headers: { 'Content-Type': 'application/x-tar' }, after: 0,
        body: await makeTar([{ name: 'Dockerfile', content: 'FROM busybox\nCOPY payload /\n' }, { name: 'payload', content: randomBytes(4 << 20) }]),
      })],
    ];
    for (const [name, make] of cases) {
      for (let i = 0; i < 2; i++) {
        const o = await make();
        o.sendBody = 1 + Math.floor(rand() * (o.body!.length - 1024));
        // The daemon is reading the body when the client goes away.
        o.after = Infinity;
        o.maxMs = 300 + Math.floor(rand() * 700);
        const t0 = Date.now();
        const res = await abandon(d.socket, o);
        assert.equal(res.status, 0, `${name}: no answer to half a body`);
        console.log(`# ${name}: gone after ${o.sendBody} of ${o.body!.length} bytes (${Date.now() - t0} ms)`);
      }
      await assertRecovered(name);
      assert.ok(await until(() => snapshots() === snapsBefore), `${name}: snapshots back to ${snapsBefore} (now ${snapshots()})`);
      assert.ok(await until(() => ingest() === 0), `${name}: nothing left in the ingest dir`);
      assert.ok(await until(() => buildTmp() === 0), `${name}: no build temp dirs left`);
      assert.deepEqual(images(), imagesBefore, `${name}: no image made`);
    }
  });

  test('garbage and half requests: a 4xx or a closed socket, never a dead daemon', async () => {
    const raw = (bytes: Buffer | string) => new Promise<string>((resolve) => {
      const s = connect(d.socket);
      let got = '';
      s.on('connect', () => s.write(bytes));
      s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
      setTimeout(() => s.destroy(), 1500);
    });
    const garbage = await raw(randomBytes(4096));
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.match(garbage, /malformed HTTP request/);
    // A valid head, then a body in broken chunked encoding.
    const broken = await raw('POST /images/create?fromSrc=-&repo=broken HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n');
    assert.doesNotMatch(broken, /^HTTP\/1\.1 5/);
    await raw('GET /containers/logger/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: b\r\nX-Half: ');
    // Half a JSON body, plain and on a connection asking to upgrade (exec start), then gone.
    const containersBefore = d.berth(['ps', '-aq']).stdout;
    const create = Buffer.from(JSON.stringify({ Image: 'busybox', Cmd: ['true'], Labels: { half: 'yes' } }));
    await abandon(d.socket, { method: 'POST', path: '/containers/create?name=half', body: create, sendBody: 20, headers: { 'Content-Type': 'application/json' }, after: Infinity, maxMs: 300 });
    const ex = await api(d.socket, 'POST', '/containers/logger/exec', { Cmd: ['true'], AttachStdout: true });
    await abandon(d.socket, { method: 'POST', path: `/exec/${(ex.json() as { Id: string }).Id}/start`, body: Buffer.from('{"Detach": false, "Tty": false}'), sendBody: 10, headers: { 'Content-Type': 'application/json' }, upgrade: true, after: Infinity, maxMs: 300 });
    assert.equal(d.berth(['ps', '-aq']).stdout, containersBefore, 'no container from half a create');
    await assertRecovered('garbage');
    assert.equal(d.berth(['images', '-q', 'broken']).stdout.trim(), '');
  });
});

describe('limits and unexpected errors', () => {
  let d: TestDaemon;

  before(async () => {
    d = await startSeededDaemon();
  });
  after(async () => {
    await d.destroy();
  });

  test('a JSON body over 10 MiB: 413, with or without Content-Length; the body is not kept', async () => {
    const huge = Buffer.from(JSON.stringify({ Image: 'busybox', Env: ['X=' + 'x'.repeat(11 << 20)] }));
    const early = await api(d.socket, 'POST', '/containers/create', huge, { 'Content-Type': 'application/json' });
    assert.equal(early.status, 413);
    assert.match((early.json() as { message: string }).message, /request body is larger than the limit of 10485760 bytes/);
    const chunked = await abandon(d.socket, { method: 'POST', path: '/containers/create', body: huge, chunked: true, headers: { 'Content-Type': 'application/json' }, after: 1, maxMs: 10_000 });
    assert.equal(chunked.status, 413);
    const r = await api(d.socket, 'POST', '/containers/create', { Image: 'busybox', Env: ['X=' + 'x'.repeat(1 << 20)] });
    assert.equal(r.status, 201, 'a body under the limit is fine');
    assert.equal(d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length, 1, 'only the small request made a container');
  });

  test('request headers over 1 MiB: 431', async () => {
    const s = await new Promise<string>((resolve) => {
      const sock = connect(d.socket);
      let got = '';
      sock.on('connect', () => sock.write(`GET /_ping HTTP/1.1\r\nHost: b\r\nX-Big: ${'a'.repeat((1 << 20) + 1024)}\r\n\r\n`));
      sock.on('data', (c: Buffer) => { got += c.toString(); });
      sock.on('error', () => resolve(got));
      sock.on('close', () => resolve(got));
    });
    assert.match(s, /^HTTP\/1\.1 431 /);
    assert.match(s, /request headers are larger than 1048576 bytes/);
    const ok = await api(d.socket, 'GET', '/_ping', undefined, { 'X-Registry-Auth': 'a'.repeat(200_000) });
    assert.equal(ok.status, 200, 'a 200 KB header (a big X-Registry-Config) is fine');
  });

  test('more than 1024 concurrent streams from one peer: 429 for the next one, and room again once they close', async () => {
    const held: import('node:net').Socket[] = [];
    try {
      for (let i = 0; i < 1024; i++) {
        held.push(await new Promise((resolve, reject) => {
          const s = connect(d.socket);
          s.on('error', reject);
          s.on('connect', () => s.write('GET /events HTTP/1.1\r\nHost: b\r\n\r\n'));
          s.once('data', (c: Buffer) => (c.toString().startsWith('HTTP/1.1 200') ? resolve(s) : reject(new Error(`stream ${i}: ${c.toString()}`))));
        }));
      }
      const r = await api(d.socket, 'GET', '/events');
      assert.equal(r.status, 429);
      assert.match((r.json() as { message: string }).message, /too many concurrent streams \(1024\) from this client/);
      assert.equal((await api(d.socket, 'GET', '/_ping')).status, 200, 'plain requests still answered');
    } finally {
      for (const s of held) s.destroy();
    }
    const again = await until(async () => {
      const a = await abandon(d.socket, { path: '/events', after: 1, maxMs: 2000 });
      return a.status === 200;
    });
    assert.ok(again, 'streams allowed again once the others closed');
  });

  test('build contexts kept on disk stay at 16', async () => {
    for (let i = 0; i < 18; i++) {
      const ctx = await makeTar([{ name: 'Dockerfile', content: 'FROM busybox\n' }, { name: `f${i}`, content: `${i}\n` }]);
      const r = await api(d.socket, 'POST', '/build?t=kept:1', ctx, { 'Content-Type': 'application/x-tar' });
      assert.equal(r.status, 200, r.body.toString());
      assert.doesNotMatch(r.body.toString(), /"error"/);
    }
    // 18 contexts sent, the 16 most recent kept (eviction runs beside the build).
    const kept = () => readdirSync(join(d.dataRoot, 'build/tmp')).filter((f) => f.startsWith('ctx-')).length;
    assert.ok(await until(() => kept() === 16), `16 kept contexts, not ${kept()}`);
  });

  test('a daemon killed during an export: its next start unmounts what the export left', async () => {
    assert.equal(d.berth(['create', '--name', 'exp', 'busybox', 'true']).code, 0);
    // A client that reads nothing: the export stays open with the filesystem mounted.
    const s = connect(d.socket);
    s.on('error', () => {});
    s.write('GET /containers/exp/export HTTP/1.1\r\nHost: b\r\n\r\n');
    s.pause();
    assert.ok(await until(() => exportMounts(d).length === 1), 'the export mounted the filesystem');
    await d.crash();
    s.destroy();
    assert.equal(exportMounts(d).length, 1, 'the mount outlived the daemon');
    await d.start();
    assert.deepEqual(exportMounts(d), [], 'swept at start');
    assert.deepEqual(readdirSync(join(d.execRoot, 'exports')), []);
    const r = await api(d.socket, 'GET', '/containers/exp/export');
    assert.equal(r.status, 200);
    assert.ok(r.body.length > 500_000, 'and export works');
    assert.equal(d.berth(['rm', 'exp']).code, 0);
  });

  test('an unexpected error is a 500 naming a request id, logged once with its stack; the daemon lives on', async () => {
    // An immutable containers directory: the store fails as a broken disk would, not as a client's mistake.
    const dir = join(d.dataRoot, 'containers');
    assert.ok(existsSync(dir));
    const chattr = (flag: string) => assert.equal(spawnSync('chattr', [flag, dir]).status, 0, `chattr ${flag}`);
    chattr('+i');
    let r: Res;
    try {
      r = await api(d.socket, 'POST', '/containers/create', { Image: 'busybox' });
    } finally {
      chattr('-i');
    }
    assert.equal(r.status, 500);
    const message = (r.json() as { message: string }).message;
    const m = /\(request id ([0-9a-f]{12})\)$/.exec(message);
    assert.ok(m, `a request id in: ${message}`);
    const lines = d.log().split('\n').filter((l) => l.includes(m[1]));
    assert.equal(lines.length, 1, `one log line with the id: ${lines.join('\n')}`);
    assert.match(lines[0], /level=error/);
    assert.match(lines[0], /POST \/containers\/create failed: .*\\n +at /, 'the line carries the stack');
    assert.equal((await api(d.socket, 'GET', '/_ping')).status, 200);
    assert.equal((await api(d.socket, 'POST', '/containers/create', { Image: 'busybox' })).status, 201, 'works again once the disk does');
  });
});

