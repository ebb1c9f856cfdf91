import { httpStatus } from '../../src/daemon/routes/errors.ts';
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logFramePool, readLogFrames, readLogs, type LogEntry, type LogReadOptions } from '../../src/containers/logs.ts';
import type { BufferPool } from '../../src/containers/log-encode.ts';
import { parseTimestampArg, parseTimestampNs, parseLogTime } from '../../src/api/timestamps.ts';
import { encodeFrame, FrameDecoder, FrameDemuxer, formatLogLine, formatTimestamp, type Frame } from '../../src/api/stream-frames.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

// ---------- helpers ----------

const BASE_S = Date.UTC(2026, 10, 22, 15, 41, 0) / 1000; // 2026-11-22T15:41:00Z

/** The time the shim would write for second `i` after BASE_S plus `ns`: trailing zeros trimmed. */
function t(i: number, ns = 0): string {
  const iso = new Date((BASE_S + i) * 1000).toISOString().slice(0, 19);
  const frac = ns ? '.' + String(ns).padStart(9, '0').replace(/0+$/, '') : '';
  return `${iso}${frac}Z`;
}

function entry(log: string, stream: 'stdout' | 'stderr' = 'stdout', time = t(0), attrs?: Record<string, string>): string {
  return JSON.stringify(attrs ? { log, stream, attrs, time } : { log, stream, time }) + '\n';
}

/** Lines "name-0\n" … as entries at seconds from+0, from+1, … */
function entries(name: string, from: number, n: number, stream: 'stdout' | 'stderr' = 'stdout'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += entry(`${name}-${from + i}\n`, stream, t(from + i, 1000 * (i + 1)));
  return s;
}

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-logs-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh container directory. */
const logDir = () => mkdtempSync(join(root, 'c-'));

const base: LogReadOptions = { stdout: true, stderr: true, follow: false };

async function collect(path: string, o: Partial<LogReadOptions> = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of readLogs(path, { ...base, ...o })) out.push(e);
  return out;
}
const text = (es: LogEntry[]) => es.map((e) => e.line.toString()).join('');
const lines = (es: LogEntry[]) => es.map((e) => e.line.toString().replace(/\n$/, ''));

/**
 * Follows `path` in the background; the reader is aborted and awaited when the
 * test ends, whether it passed or not.
 */
function follow(t: TestContext, path: string, o: Partial<LogReadOptions> = {}) {
  const ac = new AbortController();
  const c = consume(readLogs(path, { ...base, follow: true, signal: ac.signal, ...o }));
  t.after(async () => {
    ac.abort();
    await c.finished;
  });
  return { ...c, abort: () => ac.abort() };
}

/** Consumes a reader in the background. */
function consume(it: AsyncIterable<LogEntry>) {
  const got: LogEntry[] = [];
  const state = { done: false, error: undefined as unknown };
  const finished = (async () => {
    try {
      for await (const e of it) got.push(e);
    } catch (err) {
      state.error = err;
    } finally {
      state.done = true;
    }
  })();
  async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (state.error) throw state.error;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(lines(got))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return { got, state, finished, waitFor, count: (n: number) => waitFor(() => got.length >= n, `${n} entries`) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openFds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return '';
    }
  });
}
function logFds(dir: string): number {
  return openFds().filter((l) => l.startsWith(dir)).length;
}
/** inotify watches held by this process. */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:inotify') continue;
    try {
      n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // gone
    }
  }
  return n;
}

/** What max-size rotation does: log.(N-1) → log.N … log → log.1, then a new log. */
function rotate(path: string, maxFiles: number, firstContent = ''): void {
  for (let i = maxFiles - 1; i > 1; i--) if (existsSync(`${path}.${i - 1}`)) renameSync(`${path}.${i - 1}`, `${path}.${i}`);
  renameSync(path, `${path}.1`);
  writeFileSync(path, firstContent);
}

// ---------- reading ----------

describe('readLogs: reading what is there', () => {
  test('reads rotated files oldest first (3 files)', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(`${p}.2`, entries('a', 0, 3));
    writeFileSync(`${p}.1`, entries('a', 3, 3));
    writeFileSync(p, entries('a', 6, 3));
    writeFileSync(`${p}.1.gz.tmp`, 'not a log'); // ignored
    const es = await collect(p);
    assert.deepEqual(lines(es), ['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6', 'a-7', 'a-8']);
    assert.equal(es[0].time, t(0, 1000));
    assert.equal(parseLogTime(es[0].time), BigInt(BASE_S) * 1_000_000_000n + 1000n);
    assert.equal(es[0].stream, 'stdout');
    assert.ok(Buffer.isBuffer(es[0].line));
    assert.equal(logFds(d), 0);
  });

  test('a missing log (never started) is empty; an empty path too', async () => {
    const d = logDir();
    assert.deepEqual(await collect(join(d, 'container.log')), []);
    assert.deepEqual(await collect(join(d, 'nope', 'container.log')), []);
    assert.deepEqual(await collect(''), []);
  });

  test('partial entries (lines over 16 KiB) come out as they were written', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    const big = 'x'.repeat(16 * 1024);
    writeFileSync(p, entry(big, 'stdout', t(1)) + entry(big, 'stdout', t(1, 5)) + entry('end\n', 'stdout', t(1, 9)) + entry('next\n', 'stdout', t(2)));
    const es = await collect(p);
    assert.equal(es.length, 4);
    assert.equal(es[0].line.length, 16 * 1024);
    assert.equal(text(es), big + big + 'end\nnext\n');
    // tail counts partial entries as entries, as docker does
    assert.deepEqual(text(await collect(p, { tail: 2 })), 'end\nnext\n');
  });

  test('stdout/stderr selection', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entry('o1\n', 'stdout', t(1)) + entry('e1\n', 'stderr', t(2)) + entry('o2\n', 'stdout', t(3)) + entry('e2\n', 'stderr', t(4)));
    assert.deepEqual(lines(await collect(p, { stderr: false })), ['o1', 'o2']);
    assert.deepEqual(lines(await collect(p, { stdout: false })), ['e1', 'e2']);
    const both = await collect(p);
    assert.deepEqual(both.map((e) => e.stream), ['stdout', 'stderr', 'stdout', 'stderr']);
    // tail counts every entry, then the selection applies (dockerd's order)
    assert.deepEqual(lines(await collect(p, { stdout: false, tail: 2 })), ['e2']);
  });

  test('since and until: inclusive; until ends the read', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(`${p}.1`, entries('s', 0, 5));
    writeFileSync(p, entries('s', 5, 5)); // s-i at BASE_S+i+(small fraction)
    assert.deepEqual(lines(await collect(p, { since: BASE_S + 4 })), ['s-4', 's-5', 's-6', 's-7', 's-8', 's-9']);
    assert.deepEqual(lines(await collect(p, { until: BASE_S + 2 })), ['s-0', 's-1']);
    assert.deepEqual(lines(await collect(p, { since: BASE_S + 3, until: BASE_S + 6 })), ['s-3', 's-4', 's-5']);
    // exact nanosecond bounds are inclusive
    const ts3 = parseLogTime(t(3, 4000)) as bigint;
    const ts6 = parseLogTime(t(6, 2000)) as bigint;
    assert.deepEqual(lines(await collect(p, { sinceNs: ts3, untilNs: ts6 })), ['s-3', 's-4', 's-5', 's-6']);
    assert.deepEqual(lines(await collect(p, { sinceNs: ts3 + 1n, untilNs: ts6 - 1n })), ['s-4', 's-5']);
    // since 0 / until 0 mean none
    assert.equal((await collect(p, { since: 0, until: 0 })).length, 10);
    // since after everything: nothing; until before everything: nothing
    assert.deepEqual(await collect(p, { since: BASE_S + 100 }), []);
    assert.deepEqual(await collect(p, { until: BASE_S - 1 }), []);
    // with tail: tail picks the entries, since filters them
    assert.deepEqual(lines(await collect(p, { tail: 3, since: BASE_S + 8 })), ['s-8', 's-9']);
  });

  test('since/until as numbers (what the API handler passes) keep the boundary entry', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    const times: string[] = [];
    for (let i = 0; i < 300; i++) times.push(t(i * 2, (rnd() % 999_999_999) + 1));
    writeFileSync(p, times.map((tm, i) => entry(`n-${i}\n`, 'stdout', tm)).join(''));
    const now = new Date();
    for (let i = 0; i < times.length; i += 7) {
      const x = parseTimestampArg(times[i], now); // a double: sub-µs digits rounded either way
      const from = await collect(p, { since: x });
      assert.equal(from[0].line.toString(), `n-${i}\n`, `since ${times[i]}`);
      assert.equal(from.length, times.length - i);
      const to = await collect(p, { until: x });
      assert.equal(to.length, i + 1, `until ${times[i]}`);
    }
  });

  test('since only cuts the start (timestamps need not be monotonic), as dockerd', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entry('a\n', 'stdout', t(1)) + entry('b\n', 'stdout', t(5)) + entry('c\n', 'stdout', t(2)) + entry('d\n', 'stdout', t(6)));
    assert.deepEqual(lines(await collect(p, { since: BASE_S + 5 })), ['b', 'c', 'd']);
  });

  test('tail across rotated files, larger than the total, zero, all', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(`${p}.2`, entries('t', 0, 3));
    writeFileSync(`${p}.1`, entries('t', 3, 3));
    writeFileSync(p, entries('t', 6, 2));
    assert.deepEqual(lines(await collect(p, { tail: 1 })), ['t-7']);
    assert.deepEqual(lines(await collect(p, { tail: 2 })), ['t-6', 't-7']);
    assert.deepEqual(lines(await collect(p, { tail: 4 })), ['t-4', 't-5', 't-6', 't-7']);
    assert.deepEqual(lines(await collect(p, { tail: 6 })), ['t-2', 't-3', 't-4', 't-5', 't-6', 't-7']);
    assert.equal((await collect(p, { tail: 8 })).length, 8);
    assert.equal((await collect(p, { tail: 1000 })).length, 8);
    assert.deepEqual(await collect(p, { tail: 0 }), []);
    assert.equal((await collect(p, { tail: 'all' })).length, 8);
    assert.equal((await collect(p, { tail: -1 })).length, 8);
    // empty current file (just rotated): tail comes from the rotated ones
    writeFileSync(p, '');
    assert.deepEqual(lines(await collect(p, { tail: 2 })), ['t-4', 't-5']);
    assert.equal(logFds(d), 0);
  });

  test('a torn last line is left out, a corrupt line skipped', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    const last = entry('torn\n', 'stdout', t(3));
    writeFileSync(p, entry('one\n', 'stdout', t(1)) + 'garbage{\n' + entry('two\n', 'stdout', t(2)) + last.slice(0, 20));
    assert.deepEqual(lines(await collect(p)), ['one', 'two']);
    assert.deepEqual(lines(await collect(p, { tail: 1 })), ['two']);
  });

  test('attrs are passed through', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entry('hi\n', 'stdout', t(1), { b: '2', a: '1' }) + entry('plain\n', 'stdout', t(2)));
    const es = await collect(p);
    assert.deepEqual(es[0].attrs, { b: '2', a: '1' });
    assert.equal(es[1].attrs, undefined);
  });

  test('JSON escapes and non-ASCII are decoded to the bytes logged', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    // as Go writes them: \u003c for <, \ufffd for invalid UTF-8, real UTF-8 for the rest
    writeFileSync(p, '{"log":"\\u003ch\\u003e \\"q\\" \\t tab é 😀 \\ufffd\\n","stream":"stdout","time":"' + t(1) + '"}\n');
    const [e] = await collect(p);
    assert.equal(e.line.toString(), '<h> "q" \t tab é 😀 \ufffd\n');
  });

  test('the shim\'s own shape is read from the bytes, any other through JSON.parse, to the same entries', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    const logs = ['plain\n', 'q "x" \\ / \t\r\b\f end\n', '\\"', 'tail \\', '', 'é 😀 ☃'];
    const shaped = logs.map((l, i) => entry(l, i % 2 ? 'stderr' : 'stdout', t(i)));
    // The same entries with the keys in another order (the slow path), and lines the fast path must not take.
    const reordered = logs.map((l, i) => JSON.stringify({ time: t(i), stream: i % 2 ? 'stderr' : 'stdout', log: l }) + '\n');
    const odd = [
      '{"log":"x\\n","stream":"stdin","time":"' + t(1) + '"}\n', // no such stream: skipped
      '{"log":"x\\n","stream":"stdout","time":"yesterday"}\n', // not a time: skipped
      '{"log":"x\\q","stream":"stdout","time":"' + t(1) + '"}\n', // a bad escape: not JSON, skipped
      '{"log":"x","stream":"stdout","time":"' + t(1) + '"} \n', // trailing space: JSON, read
    ];
    writeFileSync(p, shaped.join('') + reordered.join('') + odd.join(''));
    const es = await collect(p);
    const want = logs.map((l, i) => [i % 2 ? 'stderr' : 'stdout', l, t(i)]);
    assert.deepEqual(es.map((e) => [e.stream, e.line.toString('utf8'), e.time]), [...want, ...want, ['stdout', 'x', t(1)]]);
    // Raw bytes that are not UTF-8 (the shim escapes them; another writer may not) become U+FFFD, as Go's decoder makes them.
    writeFileSync(p, Buffer.concat([Buffer.from('{"log":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b\\n","stream":"stdout","time":"' + t(1) + '"}\n')]));
    const [bad] = await collect(p);
    assert.equal(bad.line.toString('utf8'), 'a\ufffd\ufffdb\n');
  });

  test('tail reads only the end of a large log', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    const chunk = entries('big', 0, 1000); // ~70 KB
    const parts: string[] = [];
    for (let i = 0; i < 400; i++) parts.push(chunk); // ~28 MB
    parts.push(entries('last', 0, 10));
    writeFileSync(p, parts.join(''));
    const rchar = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
    const before = rchar();
    const es = await collect(p, { tail: 10 });
    const read = rchar() - before;
    assert.deepEqual(lines(es), Array.from({ length: 10 }, (_, i) => `last-${i}`));
    assert.ok(read < 512 * 1024, `read ${read} bytes for --tail 10`);
  });
});

// ---------- following ----------

describe('readLogs: following', () => {
  test('picks up appended lines, including a torn line once completed', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('f', 0, 2));
    const c = follow(tc, p);
    await c.count(2);
    appendFileSync(p, entries('f', 2, 1));
    await c.count(3);
    const torn = entry('f-3\n', 'stdout', t(3));
    appendFileSync(p, torn.slice(0, 15));
    await sleep(150);
    assert.equal(c.got.length, 3);
    appendFileSync(p, torn.slice(15) + entries('f', 4, 1));
    await c.count(5);
    assert.deepEqual(lines(c.got), ['f-0', 'f-1', 'f-2', 'f-3', 'f-4']);
    c.abort();
    await c.finished;
    assert.equal(c.state.error, undefined);
  });

  test('a torn line present when following starts is completed, not lost', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    const torn = entry('late\n', 'stdout', t(5));
    writeFileSync(p, entries('g', 0, 1) + torn.slice(0, 10));
    const c = follow(tc, p, { tail: 0 });
    await sleep(100);
    assert.equal(c.got.length, 0);
    appendFileSync(p, torn.slice(10));
    await c.count(1);
    assert.deepEqual(lines(c.got), ['late']);
    c.abort();
    await c.finished;
  });

  test('tail 0 with follow: only new lines', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('old', 0, 3));
    const c = follow(tc, p, { tail: 0 });
    await sleep(50);
    appendFileSync(p, entries('new', 0, 1));
    await c.count(1);
    assert.deepEqual(lines(c.got), ['new-0']);
    c.abort();
    await c.finished;
  });

  test('rotation while following: the old file is finished, the new ones read, in order', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('a', 0, 2));
    const c = follow(tc, p);
    await c.count(2);
    // the last write to the old file lands just before the rename
    appendFileSync(p, entries('a', 2, 1));
    rotate(p, 3, entries('b', 0, 1));
    await c.count(4);
    appendFileSync(p, entries('b', 1, 1));
    await c.count(5);
    // two rotations before the reader looks again (max-file=3: one file is dropped)
    appendFileSync(p, entries('b', 2, 1));
    rotate(p, 3, entries('c', 0, 1));
    appendFileSync(p, entries('c', 1, 1));
    rotate(p, 3, entries('d', 0, 1));
    await c.count(9);
    assert.deepEqual(lines(c.got), ['a-0', 'a-1', 'a-2', 'b-0', 'b-1', 'b-2', 'c-0', 'c-1', 'd-0']);
    assert.ok(logFds(d) <= 1, 'only the current file stays open');
    c.abort();
    await c.finished;
    assert.equal(logFds(d), 0);
  });

  test('rotation with the log briefly missing (renamed, not yet re-created)', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('m', 0, 1));
    const c = follow(tc, p);
    await c.count(1);
    appendFileSync(p, entries('m', 1, 1));
    renameSync(p, `${p}.1`);
    await sleep(150);
    writeFileSync(p, entries('n', 0, 1));
    await c.count(3);
    await sleep(100);
    assert.deepEqual(lines(c.got), ['m-0', 'm-1', 'n-0']);
    c.abort();
    await c.finished;
  });

  test('truncation in place (max-file=1) starts over', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('x', 0, 3));
    const c = follow(tc, p);
    await c.count(3);
    truncateSync(p, 0);
    appendFileSync(p, entries('y', 0, 1));
    await c.count(4);
    appendFileSync(p, entries('y', 1, 1));
    await c.count(5);
    assert.deepEqual(lines(c.got), ['x-0', 'x-1', 'x-2', 'y-0', 'y-1']);
    c.abort();
    await c.finished;
  });

  test('a log that does not exist yet is waited for', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    const c = follow(tc, p);
    await sleep(50);
    writeFileSync(p, entries('w', 0, 2));
    await c.count(2);
    c.abort();
    await c.finished;
  });

  test('followUntil: what is left is drained, then the stream ends', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('u', 0, 1));
    let stop!: () => void;
    const followUntil = new Promise<void>((r) => (stop = r));
    const c = follow(tc, p, { followUntil });
    await c.count(1);
    appendFileSync(p, entries('u', 1, 2)); // written just before the container stops
    stop();
    await c.finished;
    assert.equal(c.state.error, undefined);
    assert.deepEqual(lines(c.got), ['u-0', 'u-1', 'u-2']);
    assert.equal(logFds(d), 0);
  });

  test('followUntil already resolved: reads everything and ends', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('r', 0, 2));
    const es = await collect(p, { follow: true, followUntil: Promise.resolve() });
    assert.deepEqual(lines(es), ['r-0', 'r-1']);
  });

  test('an entry after until ends a follow', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('v', 0, 1));
    const c = follow(tc, p, { until: BASE_S + 5 });
    await c.count(1);
    appendFileSync(p, entries('v', 1, 1) + entries('v', 9, 1));
    await c.finished;
    assert.deepEqual(lines(c.got), ['v-0', 'v-1']);
  });

  test('without fs.watch (no inotify) it polls: appends, rotation, truncation', async (tc) => {
    const realWatch = fs.watch;
    fs.watch = (() => {
      throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
    }) as unknown as typeof fs.watch;
    syncBuiltinESMExports();
    try {
      const d = logDir();
      const p = join(d, 'container.log');
      writeFileSync(p, entries('p', 0, 1));
      const c = follow(tc, p);
      await c.count(1);
      appendFileSync(p, entries('p', 1, 1));
      await c.count(2);
      appendFileSync(p, entries('p', 2, 1));
      rotate(p, 2, entries('q', 0, 1));
      await c.count(4);
      // truncated and rewritten to the same size before the poll: noticed by content
      truncateSync(p, 0);
      appendFileSync(p, entries('r', 3, 1));
      assert.equal(entries('r', 3, 1).length, entries('q', 0, 1).length);
      await c.count(5);
      assert.deepEqual(lines(c.got), ['p-0', 'p-1', 'p-2', 'q-0', 'r-3']);
      c.abort();
      await c.finished;
      assert.equal(logFds(d), 0);
    } finally {
      fs.watch = realWatch;
      syncBuiltinESMExports();
    }
  });

  test('abort ends a follow promptly; break ends it too; nothing leaks', async (tc) => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entries('z', 0, 1));
    // warm-up: libuv keeps one inotify fd per loop once used
    {
      const c = follow(tc, p);
      await c.count(1);
      c.abort();
      await c.finished;
    }
    const fds = openFds().length;
    const watches = inotifyWatches();
    for (let i = 0; i < 5; i++) {
      const c = follow(tc, p);
      await c.count(1);
      await sleep(20);
      const t0 = Date.now();
      c.abort();
      await c.finished;
      assert.ok(Date.now() - t0 < 200, 'abort is prompt');
      assert.equal(c.state.error, undefined);
    }
    for (let i = 0; i < 5; i++) {
      for await (const e of readLogs(p, { ...base, follow: true })) {
        assert.equal(e.line.toString(), 'z-0\n');
        break; // return() runs the cleanup
      }
    }
    // an already aborted signal yields nothing
    const ac = new AbortController();
    ac.abort();
    assert.deepEqual(await collect(p, { follow: true, signal: ac.signal }), []);
    assert.equal(logFds(d), 0);
    assert.equal(openFds().length, fds, 'file descriptors');
    assert.equal(inotifyWatches(), watches, 'inotify watches');
  });
});

// ---------- --since/--until values ----------

describe('parseTimestampArg', () => {
  const savedTZ = process.env.TZ;
  before(() => {
    process.env.TZ = 'Asia/Kolkata'; // +05:30, no DST: the "local" zone of the cases below
  });
  after(() => {
    if (savedTZ === undefined) delete process.env.TZ;
    else process.env.TZ = savedTZ;
  });
  const now = new Date(Date.UTC(2026, 10, 22, 15, 41, 1, 750));
  const nowS = Math.floor(now.getTime() / 1000);
  const ref = Date.UTC(2006, 0, 2, 15, 4, 5) / 1000; // 2006-01-02T15:04:05Z
  const local = 5.5 * 3600;

  test('RFC3339 and RFC3339Nano, with zones', () => {
    assert.equal(parseTimestampArg('2006-01-02T15:04:05Z', now), ref);
    assert.equal(parseTimestampArg('2006-01-02T15:04:05+07:00', now), ref - 7 * 3600);
    assert.equal(parseTimestampArg('2006-01-02T15:04:05-07:00', now), ref + 7 * 3600);
    assert.equal(parseTimestampNs('2006-01-02T15:04:05.123456789Z', now), BigInt(ref) * 1_000_000_000n + 123456789n);
    assert.equal(parseTimestampNs('2006-01-02T15:04:05.5+01:00', now), BigInt(ref - 3600) * 1_000_000_000n + 500000000n);
    assert.equal(parseTimestampArg('2006-01-02T15:04:05.25Z', now), ref + 0.25);
    assert.equal(parseTimestampArg('2006-01-02T15:04Z', now), ref - 5);
    assert.equal(parseTimestampArg('2006-01-02T15Z', now), ref - 245);
    assert.equal(parseTimestampArg('2006-01-02Z', now), Date.UTC(2006, 0, 2) / 1000);
    assert.equal(parseTimestampArg('2006-01-02+01:00', now), Date.UTC(2006, 0, 2) / 1000 - 3600);
    // what `docker logs -t` prints can be fed back
    assert.equal(parseTimestampNs('2026-11-22T15:41:01.123456780Z', now), parseLogTime('2026-11-22T15:41:01.12345678Z'));
  });

  test('without a zone: the zone of now', () => {
    assert.equal(parseTimestampArg('2006-01-02T15:04:05', now), ref - local);
    assert.equal(parseTimestampArg('2006-01-02T15:04', now), ref - 5 - local);
    assert.equal(parseTimestampArg('2006-01-02T15', now), ref - 245 - local);
    assert.equal(parseTimestampArg('2006-01-02', now), Date.UTC(2006, 0, 2) / 1000 - local);
    assert.equal(parseTimestampNs('2006-01-02T15:04:05.000000001', now), BigInt(ref - local) * 1_000_000_000n + 1n);
  });

  test('Go time.Parse laxness and edges (cross-checked against Go)', () => {
    assert.equal(parseTimestampNs('2006-01-02T15:04:05,5Z', now), BigInt(ref) * 1_000_000_000n + 500000000n); // comma fraction
    assert.equal(parseTimestampArg('2006-01-02T3:04:05Z', now), ref - 12 * 3600); // one-digit hour
    assert.equal(parseTimestampArg('2024-02-29', now), Date.UTC(2024, 1, 29) / 1000 - local);
    assert.equal(parseTimestampNs('0001-01-01T00:00:00Z', now), -62135596800n * 1_000_000_000n);
    assert.equal(parseTimestampNs('1969-12-31T23:59:59.5Z', now), -500000000n);
    assert.equal(parseTimestampNs('2006-01-02T15:04:05.1234567891Z', now), BigInt(ref) * 1_000_000_000n + 123456789n);
    assert.equal(parseTimestampNs('1700000000.1234567891', now), 1700000000123456789n);
    assert.equal(parseTimestampArg('+1700000000', now), 1700000000);
    assert.equal(parseTimestampArg('.5s', now), nowS);
    assert.equal(parseTimestampArg('1.s', now), nowS - 1);
    assert.equal(parseTimestampArg('+5s', now), nowS - 5);
    assert.equal(parseTimestampArg('90\u00b5s', now), nowS);
  });

  test('Unix seconds with an optional fraction', () => {
    assert.equal(parseTimestampArg('1700000000', now), 1700000000);
    assert.equal(parseTimestampArg('1700000000.123', now), 1700000000.123);
    assert.equal(parseTimestampNs('1700000000.123', now), 1700000000123000000n);
    assert.equal(parseTimestampNs('1700000000.123456789', now), 1700000000123456789n);
    assert.equal(parseTimestampArg('0', now), 0);
  });

  test('durations: now minus that, in whole seconds', () => {
    assert.equal(parseTimestampArg('10m', now), nowS - 600);
    assert.equal(parseTimestampArg('1h30m', now), nowS - 5400);
    assert.equal(parseTimestampArg('42s', now), nowS - 42);
    assert.equal(parseTimestampArg('1.5h', now), nowS - 5400);
    assert.equal(parseTimestampArg('500ms', now), nowS); // 15:41:01.250 → :01
    assert.equal(parseTimestampArg('800ms', now), nowS - 1); // 15:41:00.950 → :00
    assert.equal(parseTimestampArg('0s', now), nowS);
    assert.equal(parseTimestampArg('-5s', now), nowS + 5);
    assert.equal(parseTimestampArg('1h0m0.5s', now), nowS - 3600); // 14:41:01.250 → :01
  });

  test('garbage gets docker\'s errors, as 400s', () => {
    const cases: [string, string][] = [
      ['foo', 'failed to parse value as time or duration: "foo"'],
      ['', 'failed to parse value as time or duration: ""'],
      ['1h30', 'failed to parse value as time or duration: "1h30"'],
      ['10x', 'failed to parse value as time or duration: "10x"'],
      ['1700000000.abc', 'failed to parse value as time or duration: "1700000000.abc"'],
      ['2006/01/02', 'failed to parse value as time or duration: "2006/01/02"'],
      ['2006-13-02', 'parsing time "2006-13-02": month out of range'],
      ['2006-02-30', 'parsing time "2006-02-30": day out of range'],
      ['2006-01-02T25:00:00Z', 'parsing time "2006-01-02T25:00:00Z": hour out of range'],
      ['2006-01-02T15:60:00Z', 'parsing time "2006-01-02T15:60:00Z": minute out of range'],
      ['2023-02-29', 'parsing time "2023-02-29": day out of range'],
      ['2006-01-02T15:04:05+25:00', 'parsing time "2006-01-02T15:04:05+25:00": time zone offset hour out of range'],
      ['2006-01-02 15:04:05', 'parsing time "2006-01-02 15:04:05": extra text: " 15:04:05"'],
      ['20a6-01-02', 'parsing time "20a6-01-02" as "2006-01-02": cannot parse "20a6-01-02" as "2006"'],
      ['1e3s', 'failed to parse value as time or duration: "1e3s"'],
      ['\u00e9', 'failed to parse value as time or duration: "\u00e9"'],
      ['2006-01-02T15:04:05Zjunk', 'parsing time "2006-01-02T15:04:05Zjunk": extra text: "junk"'],
      ['2006-1-02', 'parsing time "2006-1-02" as "2006-01-02": cannot parse "1-02" as "01"'],
      ['-1', 'parsing time "-1" as "2006-01-02": cannot parse "-1" as "2006"'],
      // GetTimestamp discounts one colon for the zone, so this is tried as 15:04Z07:00
      ['2006-01-02T15:04:05+0700', 'parsing time "2006-01-02T15:04:05+0700" as "2006-01-02T15:04Z07:00": cannot parse ":05+0700" as "Z07:00"'],
      ['2006-01-02T15:04:05.1+0700', 'parsing time "2006-01-02T15:04:05.1+0700" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "+0700" as "Z07:00"'],
    ];
    for (const [v, msg] of cases) {
      assert.throws(
        () => parseTimestampArg(v, now),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, v);
          assert.equal(httpStatus(err), 400);
          assert.equal(err.message, msg, v);
          return true;
        },
      );
    }
  });
});

// ---------- stream frames ----------

describe('stream frames', () => {
  test('encodeFrame writes the 8-byte header', () => {
    const f = encodeFrame(2, Buffer.from('oops\n'));
    assert.deepEqual([...f.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 5]);
    assert.equal(f.subarray(8).toString(), 'oops\n');
    const big = encodeFrame(1, Buffer.alloc(0x01020304 & 0xffff));
    assert.equal(big.readUInt32BE(4), 0x0304);
    assert.deepEqual([...encodeFrame(1, Buffer.alloc(0))], [1, 0, 0, 0, 0, 0, 0, 0]);
  });

  const frames: Frame[] = [
    { stream: 1, payload: Buffer.from('hello\n') },
    { stream: 2, payload: Buffer.from('warning: something\n') },
    { stream: 1, payload: Buffer.alloc(0) },
    { stream: 0, payload: Buffer.from([0, 1, 2, 255]) },
    { stream: 1, payload: Buffer.alloc(70_000, 'y') },
    { stream: 3, payload: Buffer.from('Error grabbing logs: x\n') },
  ];
  const wire = Buffer.concat(frames.map((f) => encodeFrame(f.stream, f.payload)));
  const same = (got: Frame[]) => {
    assert.equal(got.length, frames.length);
    got.forEach((g, i) => {
      assert.equal(g.stream, frames[i].stream);
      assert.ok(g.payload.equals(frames[i].payload), `frame ${i}`);
    });
  };

  test('round trip in one chunk', () => {
    const dec = new FrameDecoder();
    same(dec.push(wire));
    assert.equal(dec.buffered, 0);
    dec.end();
  });

  test('round trip one byte at a time (headers split everywhere)', () => {
    const dec = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...dec.push(wire.subarray(i, i + 1)));
    same(got);
  });

  test('round trip with every split point inside the first headers, and random chunking', () => {
    for (let cut = 1; cut < 40; cut++) {
      const dec = new FrameDecoder();
      same([...dec.push(wire.subarray(0, cut)), ...dec.push(wire.subarray(cut))]);
    }
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 997) + 1;
    for (let round = 0; round < 20; round++) {
      const dec = new FrameDecoder();
      const got: Frame[] = [];
      for (let i = 0; i < wire.length; ) {
        const n = rnd();
        got.push(...dec.push(wire.subarray(i, i + n)));
        i += n;
      }
      same(got);
      dec.end();
    }
  });

  test('an unfinished frame is kept; end() reports it; a bad header throws', () => {
    const dec = new FrameDecoder();
    assert.deepEqual(dec.push(wire.subarray(0, 10)), []);
    assert.equal(dec.buffered, 10);
    assert.throws(() => dec.end(), /inside a frame/);
    assert.throws(() => new FrameDecoder().push(Buffer.from('HTTP/1.1 200 OK\r\n')), /Unrecognized input header: 72/);
  });
});

describe('formatLogLine', () => {
  const e = (over: Partial<LogEntry> = {}): LogEntry => ({
    stream: 'stdout',
    time: '2026-11-22T15:41:01.12345Z',
    timeNs: parseLogTime('2026-11-22T15:41:01.12345Z') as bigint,
    line: Buffer.from('hello\n'),
    ...over,
  });

  test('plain: the line as logged', () => {
    assert.equal(formatLogLine(e(), { timestamps: false, details: false }).toString(), 'hello\n');
  });

  test('timestamps: RFC3339NanoFixed (nine digits) and a space', () => {
    assert.equal(formatLogLine(e(), { timestamps: true, details: false }).toString(), '2026-11-22T15:41:01.123450000Z hello\n');
    assert.equal(formatTimestamp(e({ time: '2026-11-22T15:41:01Z' })), '2026-11-22T15:41:01.000000000Z');
    assert.equal(formatTimestamp(e({ time: '2026-11-22T15:41:01.123456789Z' })), '2026-11-22T15:41:01.123456789Z');
    assert.equal(formatTimestamp(e({ time: '2026-11-22T17:41:01.5+02:00' })), '2026-11-22T17:41:01.500000000+02:00');
    assert.equal(formatTimestamp(e({ time: '2026-11-22T15:41:01.5+00:00' })), '2026-11-22T15:41:01.500000000Z');
  });

  test('details: attrs sorted, query-escaped, then a space (a lone space without attrs)', () => {
    assert.equal(formatLogLine(e(), { timestamps: false, details: true }).toString(), ' hello\n');
    const withAttrs = e({ attrs: { z: 'last', 'com.example/label': 'a b&c=d', a: 'é' } });
    assert.equal(formatLogLine(withAttrs, { timestamps: false, details: true }).toString(), 'a=%C3%A9,com.example%2Flabel=a+b%26c%3Dd,z=last hello\n');
    assert.equal(formatLogLine(withAttrs, { timestamps: true, details: true }).toString(), '2026-11-22T15:41:01.123450000Z a=%C3%A9,com.example%2Flabel=a+b%26c%3Dd,z=last hello\n');
  });

  test('entries read from a file format as dockerd writes them', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, entry('x\n', 'stderr', '2026-11-22T15:41:01.1Z', { tag: 'web' }));
    const [got] = await collect(p);
    assert.equal(formatLogLine(got, { timestamps: true, details: true }).toString(), '2026-11-22T15:41:01.100000000Z tag=web x\n');
  });
});

// ---------- the frame encoder (readLogFrames) against the entry path ----------

describe('readLogFrames: the bytes the entry path and formatLogLine give', () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  // Pieces of a line's output: what the shim escapes (\n, \r, quotes, backslashes, <>&, tabs and
  // other control bytes as \u00XX, U+2028/9), multi-byte UTF-8, and plain text.
  const pieces = ['plain text ', '"q"', '\\', '/', '<b>&amp;</b>', '\t', '\r', '\x01\x1f', 'é', '😀', '\u2028\u2029', '\ufffd', 'ж中', ' '];
  /** A line as the shim writes it (Go's json-file encoder), with the time it would trim. */
  function shimLine(log: string, stream: string, time: string): string {
    const esc = JSON.stringify(log).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).replace(/\\t/g, '\\u0009');
    return `{"log":${esc},"stream":"${stream}","time":"${time}"}\n`;
  }
  function randomLog(): string {
    let s = '';
    const n = rnd(12);
    for (let i = 0; i < n; i++) s += pieces[rnd(pieces.length)];
    if (rnd(10) === 0) s += 'z'.repeat(rnd(3) === 0 ? 40_000 : 2000); // past a search segment, and long
    return rnd(8) === 0 ? s : s + '\n'; // a partial entry now and then
  }
  function timeOf(i: number): string {
    const digits = rnd(11); // 0 (none) … 9 fraction digits, and 10 (more than Go's nine: the entry path)
    const frac = digits ? '.' + String(1 + rnd(999_999_999)).padStart(9, '0').slice(0, Math.min(digits, 9)) + (digits > 9 ? '7' : '') : '';
    return new Date((BASE_S + Math.floor(i / 3)) * 1000).toISOString().slice(0, 19) + frac + 'Z';
  }
  // Lines the fast path must hand to the entry path, which reads or skips them.
  const odd = [
    (i: number) => entry('attrs\n', 'stdout', timeOf(i), { tag: 'web', 'a b': 'c&d' }),
    (i: number) => JSON.stringify({ time: timeOf(i), stream: 'stderr', log: 'reordered\n' }) + '\n',
    () => '{"log":"zoned\\n","stream":"stdout","time":"' + new Date(BASE_S * 1000).toISOString().slice(0, 19) + '.5+02:00"}\n',
    (i: number) => '{"log":"x\\q","stream":"stdout","time":"' + timeOf(i) + '"}\n', // a bad escape: skipped
    (i: number) => '{"log":"bad \\u12G4","stream":"stdout","time":"' + timeOf(i) + '"}\n',
    (i: number) => '{"log":"lone \\ud800 \\udc00 \\ud83d\\ude00 \\ud800\\u0041 \\udbff\\udfff!","stream":"stdout","time":"' + timeOf(i) + '"}\n',
    () => '{"log":"x\\n","stream":"stdin","time":"' + t(1) + '"}\n',
    () => '{"log":"x\\n","stream":"stdout","time":"yesterday"}\n',
    (i: number) => '{"log":"x","stream":"stdout","time":"' + timeOf(i) + '"} \n',
    (i: number) => '{"log":"torn' + '{"log":"y\\n","stream":"stdout","time":"' + timeOf(i) + '"}\n',
    () => '\n',
    () => 'garbage\n',
  ];
  function writeLog(path: string, n: number, withOdd: boolean): void {
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      if (withOdd && rnd(12) === 0) parts.push(odd[rnd(odd.length)](i));
      else parts.push(shimLine(randomLog(), rnd(3) === 0 ? 'stderr' : 'stdout', timeOf(i)));
    }
    writeFileSync(path, parts.join(''));
  }

  async function expected(path: string, o: Partial<LogReadOptions>, fmt: { tty: boolean; timestamps: boolean; details: boolean }): Promise<Buffer> {
    const out: Buffer[] = [];
    for await (const e of readLogs(path, { ...base, ...o })) {
      const line = formatLogLine(e, fmt);
      out.push(fmt.tty ? line : encodeFrame(e.stream === 'stderr' ? 2 : 1, line));
    }
    return Buffer.concat(out);
  }
  async function got(path: string, o: Partial<LogReadOptions>, fmt: { tty: boolean; timestamps: boolean; details: boolean }, pool?: BufferPool): Promise<Buffer> {
    const out: Buffer[] = [];
    // Copied, then given back at once: a pooled buffer reused too early would show as a difference.
    for await (const b of readLogFrames(path, { ...base, ...o }, { ...fmt, pool })) {
      out.push(Buffer.from(b));
      pool?.release(b);
    }
    return Buffer.concat(out);
  }
  const formats = [
    { tty: false, timestamps: false, details: false },
    { tty: false, timestamps: true, details: false },
    { tty: false, timestamps: false, details: true },
    { tty: true, timestamps: true, details: true },
    { tty: true, timestamps: false, details: false },
  ];

  test('the shim\'s lines (escapes, unicode, partial and long entries, several chunks), in every format', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeLog(p, 6000, false);
    for (const fmt of formats) {
      const want = await expected(p, {}, fmt);
      assert.ok(want.length > 600_000);
      assert.ok((await got(p, {}, fmt, logFramePool())).equals(want), JSON.stringify(fmt));
    }
  });

  test('with lines of other shapes among them: the same lines sent or skipped', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeLog(p, 4000, true);
    for (const fmt of formats) assert.ok((await got(p, {}, fmt)).equals(await expected(p, {}, fmt)), JSON.stringify(fmt));
  });

  test('a time one byte off its shape anywhere (digits and separators swapped, neighbours of 0-9): skipped as the entry path skips it', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    const good = '2026-11-22T15:41:07.123Z';
    const parts: string[] = [];
    for (let k = 0; k < good.length; k++) for (const ch of ['/', ':', '0', '9', 'a', '-', 'T', ' ', '\u00e9']) parts.push(shimLine(`k${k} ${ch}\n`, 'stdout', good.slice(0, k) + ch + good.slice(k + 1)));
    parts.push(shimLine('ok\n', 'stdout', good));
    writeFileSync(p, parts.join(''));
    for (const fmt of [formats[0], formats[1]]) {
      const want = await expected(p, {}, fmt);
      assert.ok((await got(p, {}, fmt)).equals(want), JSON.stringify(fmt));
      assert.ok(want.includes(Buffer.from('ok\n')));
    }
  });

  test('a line longer than 1 MiB (garbage) is dropped to its newline; the lines around it are read, by both readers', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, shimLine('before\n', 'stdout', t(1)) + 'g'.repeat(1536 * 1024) + '\n' + shimLine('after\n', 'stderr', t(2)));
    assert.deepEqual(lines(await collect(p)), ['before', 'after']);
    const want = Buffer.concat([encodeFrame(1, Buffer.from('before\n')), encodeFrame(2, Buffer.from('after\n'))]);
    assert.ok((await got(p, {}, formats[0])).equals(want));
    assert.ok((await expected(p, {}, formats[0])).equals(want));
  });

  test('bytes that are not UTF-8 (not the shim\'s): the entry path for their chunk', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeLog(p, 200, false);
    appendFileSync(p, Buffer.concat([Buffer.from('{"log":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b\\n","stream":"stdout","time":"' + t(1) + '"}\n')]));
    const fmt = formats[1];
    const want = await expected(p, {}, fmt);
    assert.ok(want.includes(Buffer.from('a\ufffd\ufffdb\n')));
    assert.ok((await got(p, {}, fmt)).equals(want));
  });

  test('stream selection, since/until (exact and as numbers), tail', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeLog(p, 3000, true);
    const sec = (i: number) => BigInt(BASE_S + i) * 1_000_000_000n;
    const cases: Partial<LogReadOptions>[] = [
      { stdout: false },
      { stderr: false },
      { sinceNs: sec(300) },
      { sinceNs: sec(300) + 500_000_000n, untilNs: sec(700) + 250_000_000n },
      { untilNs: sec(10) },
      { since: BASE_S + 200.5, until: BASE_S + 400.25, stderr: false },
      { tail: 7 },
      { tail: 1500, sinceNs: sec(900) },
      { tail: 0 },
    ];
    for (const o of cases) for (const fmt of [formats[0], formats[1]]) {
      const want = await expected(p, o, fmt);
      assert.ok((await got(p, o, fmt)).equals(want), `${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? String(v) : v))} ${JSON.stringify(fmt)}`);
    }
  });

  test('following: appended lines, a torn line completed, then the end', async () => {
    const d = logDir();
    const p = join(d, 'container.log');
    writeFileSync(p, shimLine('one\n', 'stdout', t(1)));
    const ac = new AbortController();
    let stop!: () => void;
    const followUntil = new Promise<void>((r) => (stop = r));
    const chunks: Buffer[] = [];
    const reading = (async () => {
      for await (const b of readLogFrames(p, { ...base, follow: true, signal: ac.signal, followUntil }, formats[0])) chunks.push(Buffer.from(b));
    })();
    await sleep(100);
    const two = shimLine('two\n', 'stderr', t(2));
    appendFileSync(p, two.slice(0, 20));
    await sleep(100);
    appendFileSync(p, two.slice(20) + shimLine('three', 'stdout', t(3)));
    await sleep(100);
    stop();
    await reading;
    const want = Buffer.concat([encodeFrame(1, Buffer.from('one\n')), encodeFrame(2, Buffer.from('two\n')), encodeFrame(1, Buffer.from('three'))]);
    assert.ok(Buffer.concat(chunks).equals(want), Buffer.concat(chunks).toString());
    assert.equal(logFds(d), 0);
  });
});

describe('FrameDemuxer', () => {
  const frames: Frame[] = [];
  let seed = 3;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let i = 0; i < 3000; i++) frames.push({ stream: ([1, 1, 1, 2, 0, 3] as const)[rnd(6)], payload: Buffer.alloc(rnd(20) === 0 ? rnd(70_000) : rnd(120), 97 + (i % 26)) });
  const wire = Buffer.concat(frames.map((f) => encodeFrame(f.stream, f.payload)));
  const want = { 1: Buffer.concat(frames.filter((f) => f.stream !== 2).map((f) => f.payload)), 2: Buffer.concat(frames.filter((f) => f.stream === 2).map((f) => f.payload)) };

  test('runs of one stream come out whole, in order, whatever the chunking (and streams 0 and 3 as stdout)', () => {
    for (const split of [0, 1, 7, 8, 9, 1000, 65536]) {
      const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
      const writes: number[] = [];
      // Handed-on buffers are views of the chunk: kept as they are, a later change to the chunk would show.
      const demux = new FrameDemuxer((s, b) => {
        out[s].push(b);
        writes.push(s);
      });
      const copy = Buffer.from(wire);
      for (let i = 0; i < copy.length;) {
        // One byte at a time through the first frames only (a byte per push is slow).
        const n = split === 1 && i > 30_000 ? copy.length : split || 1 + rnd(5000);
        demux.push(copy.subarray(i, i + n));
        i += n;
      }
      assert.ok(demux.atBoundary);
      assert.ok(Buffer.concat(out[1]).equals(want[1]), `stdout, split ${split}`);
      assert.ok(Buffer.concat(out[2]).equals(want[2]), `stderr, split ${split}`);
      if (split === 65536) assert.ok(writes.length < frames.length / 2, `${writes.length} writes for ${frames.length} frames`);
    }
  });

  test('a bad header throws as docker\'s stdcopy', () => {
    assert.throws(() => new FrameDemuxer(() => {}).push(Buffer.from('HTTP/1.1 200 OK\r\n')), /Unrecognized input header: 72/);
  });
});
