// Issue #12 for `berth registry`: clients that go away in the middle of
// every kind of registry stream (blob GET with and without Range, HEAD,
// monolithic and chunked uploads, PUT with the last chunk, manifest PUT,
// listings, search, the pull-through proxy) at seeded random byte offsets,
// or that send garbage or dawdle. The registry keeps its pid, answers, gets
// its fds back, keeps no temp file, never serves a cut blob as complete, and
// a later whole push and pull of the same content works.
// Set BERTH_TEST_SEED to replay a run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cleanup, http, image, layer, pushImage, sha256, sleep, startRegistry, tempDir, type Registry, OCI_MANIFEST } from './helpers.ts';
import { prng } from '../helpers/seeded.ts';
import { fdCount, fdTargets } from '../helpers/proc-fds.ts';

const SEED = Number(process.env.BERTH_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`registry aborted-streams: seed ${SEED} (BERTH_TEST_SEED=${SEED} replays it)`);

interface Abandoned { status: number; got: number; head: string }

interface AbandonOptions {
  method?: string;
  /** The request path (unused with `raw`). */
  path?: string;
  headers?: Record<string, string>;
  /** The body the request announces (Content-Length, unless chunked). */
  body?: Buffer;
  /** Send only this many bytes of the body, then go away. */
  sendBody?: number;
  chunked?: boolean;
  /** Raw bytes sent instead of a request. */
  raw?: Buffer;
  /** Go away after this many response bytes (0: right after the request)... */
  after: number;
  /** ...or after this long, whichever comes first. */
  maxMs?: number;
  /** At `after`, stop reading (the registry's writes back up) for this long before going away. */
  stallMs?: number;
}

/** One raw HTTP request to the registry, dropped part way. */
function abandon(url: string, o: AbandonOptions): Promise<Abandoned> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), hostname);
    let got = 0;
    let head = '';
    let status = 0;
    let done = false;
    let stalled = false;
    const finish = (): void => {
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
      if (o.raw) {
        s.write(o.raw);
      } else {
        const h: Record<string, string> = { Host: `${hostname}:${port}`, ...(o.headers ?? {}) };
        if (o.body && !o.chunked) h['Content-Length'] = String(o.body.length);
        if (o.chunked) h['Transfer-Encoding'] = 'chunked';
        s.write(`${o.method ?? 'GET'} ${o.path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
        if (o.body) {
          const part = o.body.subarray(0, o.sendBody ?? o.body.length);
          if (o.chunked && part.length > 0) s.write(`${part.length.toString(16)}\r\n`);
          s.write(part);
          if (o.chunked && o.sendBody === undefined) s.write('\r\n0\r\n\r\n');
        }
      }
      // After the bytes left this side; a little later so the registry has read them.
      if (o.after === 0) setTimeout(finish, 30);
    });
    s.on('data', (c: Buffer) => {
      got += c.length;
      if (!status) {
        head += c.subarray(0, 1024).toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
        if (m) status = Number(m[1]);
      }
      if (o.after > 0 && got >= o.after && !stalled) {
        if (!o.stallMs) return finish();
        stalled = true;
        s.pause();
        setTimeout(finish, o.stallMs);
      }
    });
  });
}

/** A whole raw request, read to the end (for requests fetch() would refuse to send). */
async function rawRequest(url: string, bytes: Buffer | string): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  const s = connect(Number(port), hostname);
  let text = '';
  // The server may answer and close before the whole request is written (a 413):
  // the write then fails with EPIPE, and what did arrive is still the answer.
  s.on('error', () => {});
  s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
  const closed = new Promise((r) => s.once('close', r));
  s.write(bytes);
  const timer = setTimeout(() => s.destroy(), 10_000);
  await closed;
  clearTimeout(timer);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

/** Polls `check` until it holds or `ms` pass; returns its last value. */
async function until<T>(check: () => T | Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await check();
  while (!v && Date.now() < deadline) {
    await sleep(100);
    v = await check();
  }
  return v;
}

const ls = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of ls(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

/** Size of an upload session's data, or undefined once it is gone. */
async function uploadOffset(reg: Registry, loc: string): Promise<number | undefined> {
  const r = await http('GET', `${reg.url}${loc}`);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 204, r.text);
  return Number(/^0-(\d+)$/.exec(r.headers.get('range') ?? '')?.[1]) + 1;
}

/** Bookkeeping of one registry process under test. */
class Watched {
  readonly reg: Registry;
  readonly pid: number;
  base = 0;

  constructor(reg: Registry) {
    this.reg = reg;
    this.pid = reg.proc.pid as number;
  }

  baseline(): void {
    this.base = fdCount(this.pid);
  }

  /** Same process, answers, fds back, no temp or pending file, nothing logged as an error. */
  async recovered(what: string): Promise<void> {
    const { reg, pid } = this;
    assert.equal(reg.proc.exitCode, null, `${what}: registry still running`);
    assert.equal(reg.proc.pid, pid, `${what}: same pid`);
    assert.doesNotThrow(() => process.kill(pid, 0), `${what}: registry alive`);
    const base = await http('GET', `${reg.url}/v2/`);
    assert.equal(base.status, 200, `${what}: registry answers`);
    const fds = await until(() => fdCount(pid) <= this.base + 10);
    assert.ok(fds, `${what}: fds back within 10 of ${this.base} (now ${fdCount(pid)}: ${fdTargets(pid)})`);
    assert.ok(await until(() => ls(join(reg.root, 'tmp')).length === 0), `${what}: no temp files left: ${ls(join(reg.root, 'tmp')).join(', ')}`);
    assert.deepEqual(ls(join(reg.root, 'pending')), [], `${what}: no pending manifest records left`);
    // A client that leaves is not the registry's error, and nothing escaped every handler.
    assert.deepEqual(reg.output().split('\n').filter((l) => /level=error|fatal/.test(l)), [], `${what}: no error logged`);
  }
}

describe('registry: abandoned streams', () => {
  const rand = prng(SEED);
  let w: Watched;
  let reg: Registry;
  const big = randomBytes(3 * 1024 * 1024 + 12345);
  const bigDigest = sha256(big);
  const img = image([layer({ 'a.bin': randomBytes(50_000) }), layer({ 'b.bin': randomBytes(20_000) })]);

  before(async () => {
    reg = await startRegistry({ log: { level: 'info', accesslog: { disabled: true } } });
    w = new Watched(reg);
    assert.equal((await http('POST', `${reg.url}/v2/abandon/app/blobs/uploads/?digest=${bigDigest}`, { body: big })).status, 201);
    assert.equal((await pushImage(reg.url, 'abandon/app', img, 'v1')).status, 201);
    // One of each, complete, so lazily opened files count in the baseline.
    assert.ok((await http('GET', `${reg.url}/v2/abandon/app/blobs/${bigDigest}`)).body.equals(big));
    assert.equal((await http('GET', `${reg.url}/v2/_catalog`)).status, 200);
    assert.equal((await http('GET', `${reg.url}/v1/search?q=app`)).status, 200);
    await sleep(300);
    w.baseline();
  });
  after(async () => {
    await reg?.stop();
  });

  test('blob GET, Range GET and HEAD dropped at seeded random offsets', async () => {
    const runs: Promise<Abandoned>[] = [];
    for (let i = 0; i < 60; i++) {
      const kind = i % 3;
      const start = Math.floor(rand() * big.length);
      const headers: Record<string, string> = kind === 1 ? { Range: `bytes=${start}-` } : {};
      const method = kind === 2 && i % 2 ? 'HEAD' : 'GET';
      // Leave within the body (a HEAD has none: right after its status line).
      const bodyLen = method === 'HEAD' ? 1 : kind === 1 ? big.length - start : big.length;
      runs.push(abandon(reg.url, { method, path: `/v2/abandon/app/blobs/${bigDigest}`, headers, after: 1 + Math.floor(rand() * Math.min(bodyLen, 1024 * 1024)), maxMs: 10_000 }));
    }
    // Readers that stop reading with the registry's writes backed up, then leave.
    for (let i = 0; i < 8; i++) {
      runs.push(abandon(reg.url, { path: `/v2/abandon/app/blobs/${bigDigest}`, after: 1 + Math.floor(rand() * 256 * 1024), stallMs: 500 + Math.floor(rand() * 1000), maxMs: 10_000 }));
    }
    const results = await Promise.all(runs);
    assert.deepEqual(results.filter((r) => r.status !== 0 && r.status !== 200 && r.status !== 206).map((r) => r.head.split('\r\n')[0]), []);
    await w.recovered('abandoned blob downloads');
    const whole = await http('GET', `${reg.url}/v2/abandon/app/blobs/${bigDigest}`);
    assert.equal(whole.status, 200);
    assert.ok(whole.body.equals(big), 'the blob downloads whole afterwards');
    const tail = await http('GET', `${reg.url}/v2/abandon/app/blobs/${bigDigest}`, { headers: { Range: 'bytes=1000000-' } });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(big.subarray(1_000_000)));
  });

  test('monolithic uploads (POST ?digest=) cut mid-body leave no blob and no session', async () => {
    const data = randomBytes(1024 * 1024 + 77);
    const d = sha256(data);
    const runs: Promise<Abandoned>[] = [];
    for (let i = 0; i < 12; i++) {
      runs.push(abandon(reg.url, {
        method: 'POST', path: `/v2/mono/app/blobs/uploads/?digest=${d}`, body: data, sendBody: Math.floor(rand() * data.length),
        chunked: i % 3 === 0, headers: { 'Content-Type': 'application/octet-stream' }, after: 0,
      }));
    }
    await Promise.all(runs);
    await w.recovered('cut monolithic uploads');
    assert.equal((await http('GET', `${reg.url}/v2/mono/app/blobs/${d}`)).status, 404, 'a cut upload is never served');
    assert.equal((await http('HEAD', `${reg.url}/v2/mono/app/blobs/${d}`)).status, 404);
    assert.ok(await until(() => ls(join(reg.root, 'uploads')).length === 0), `no upload session left: ${ls(join(reg.root, 'uploads')).join(', ')}`);
    assert.ok(!files(join(reg.root, 'blobs')).some((f) => f.endsWith(d.slice(7))), 'no blob file for the cut content');
    const ok = await http('POST', `${reg.url}/v2/mono/app/blobs/uploads/?digest=${d}`, { body: data });
    assert.equal(ok.status, 201, ok.text);
    assert.ok((await http('GET', `${reg.url}/v2/mono/app/blobs/${d}`)).body.equals(data));
  });

  test('chunked uploads (PATCH, PUT with the last chunk) cut mid-body: resumable, never served, freed by DELETE', async () => {
    const data = randomBytes(900_000);
    const d = sha256(data);
    const sessions: string[] = [];
    for (let i = 0; i < 10; i++) {
      const post = await http('POST', `${reg.url}/v2/chunked/app/blobs/uploads/`);
      assert.equal(post.status, 202);
      sessions.push(post.headers.get('location') as string);
    }
    // A first chunk acknowledged, then the second cut: as PATCH, or as the final PUT.
    const first = Math.floor(rand() * 300_000) + 1;
    const runs = sessions.map(async (loc, i) => {
      assert.equal((await http('PATCH', `${reg.url}${loc}`, { body: data.subarray(0, first), headers: { 'Content-Range': `0-${first - 1}` } })).status, 202);
      const rest = data.subarray(first);
      const cut = Math.floor(rand() * rest.length);
      const asPut = i % 2 === 1;
      return abandon(reg.url, {
        method: asPut ? 'PUT' : 'PATCH', path: asPut ? `${loc}?digest=${d}` : loc, body: rest, sendBody: cut, chunked: i % 4 === 0,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${first}-${data.length - 1}` }, after: 0,
      });
    });
    await Promise.all(runs);
    await w.recovered('cut chunked uploads');
    assert.equal((await http('GET', `${reg.url}/v2/chunked/app/blobs/${d}`)).status, 404, 'a cut upload is never served');
    // Each session is still there and says how much it holds: the acknowledged chunk and what arrived of the cut one.
    const offsets = await Promise.all(sessions.map((loc) => uploadOffset(reg, loc)));
    for (const o of offsets) assert.ok(o !== undefined && o >= first && o <= data.length, `offset ${o} within ${first}..${data.length}`);
    // DELETE frees a session and its file.
    const dirsBefore = ls(join(reg.root, 'uploads')).length;
    assert.equal(dirsBefore, sessions.length, 'one directory per open session');
    for (const loc of sessions.slice(1)) assert.equal((await http('DELETE', `${reg.url}${loc}`)).status, 204);
    assert.equal(ls(join(reg.root, 'uploads')).length, 1, 'DELETE removed the sessions');
    for (const loc of sessions.slice(1)) assert.equal((await http('GET', `${reg.url}${loc}`)).status, 404);
    // The remaining one resumes from its offset and completes.
    const have = offsets[0] as number;
    const rest = await http('PATCH', `${reg.url}${sessions[0]}`, { body: data.subarray(have), headers: { 'Content-Range': `${have}-${data.length - 1}` } });
    assert.equal(rest.status, 202, rest.text);
    const put = await http('PUT', `${reg.url}${sessions[0]}?digest=${d}`);
    assert.equal(put.status, 201, put.text);
    assert.ok((await http('GET', `${reg.url}/v2/chunked/app/blobs/${d}`)).body.equals(data));
    assert.deepEqual(ls(join(reg.root, 'uploads')), []);
    await w.recovered('after the resumed upload');
  });

  test('an upload cancelled (DELETE) while a chunk streams in: the chunk gets 404 and nothing is kept', async () => {
    const data = randomBytes(400_000);
    const post = await http('POST', `${reg.url}/v2/cancel/app/blobs/uploads/`);
    const loc = post.headers.get('location') as string;
    const { hostname, port } = new URL(reg.url);
    const s = connect(Number(port), hostname);
    s.write(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Range: 0-${data.length - 1}\r\nContent-Length: ${data.length}\r\nConnection: close\r\n\r\n`);
    const cut = 1 + Math.floor(rand() * (data.length - 2));
    s.write(data.subarray(0, cut));
    await sleep(200);
    assert.equal((await http('DELETE', `${reg.url}${loc}`)).status, 204);
    s.write(data.subarray(cut));
    let answer = '';
    for await (const c of s) answer += (c as Buffer).toString('latin1');
    assert.match(answer, /^HTTP\/1\.1 404 /, answer.slice(0, 200));
    assert.match(answer, /BLOB_UPLOAD_UNKNOWN/);
    assert.equal((await http('GET', `${reg.url}${loc}`)).status, 404);
    assert.deepEqual(ls(join(reg.root, 'uploads')), []);
    assert.equal((await http('GET', `${reg.url}/v2/cancel/app/blobs/${sha256(data)}`)).status, 404);
    await w.recovered('an upload cancelled mid-chunk');
  });

  test('a DELETE racing the PUT that completes the same upload: 201 or 404, never a 500', async () => {
    // A sha512 digest for a sha256 session makes the PUT hash the file from disk: a window for the DELETE.
    const data = randomBytes(64 * 1024 * 1024);
    const d512 = 'sha512:' + createHash('sha512').update(data).digest('hex');
    for (const delay of [0, 10, 40]) {
      const post = await http('POST', `${reg.url}/v2/race/app/blobs/uploads/`);
      const loc = post.headers.get('location') as string;
      assert.equal((await http('PATCH', `${reg.url}${loc}`, { body: data })).status, 202);
      const put = http('PUT', `${reg.url}${loc}?digest=${d512}`);
      await sleep(delay);
      const del = await http('DELETE', `${reg.url}${loc}`);
      const p = await put;
      assert.ok(p.status === 201 || p.status === 404, `PUT after ${delay} ms: ${p.status} ${p.text}`);
      assert.ok(del.status === 204 || del.status === 404, `DELETE: ${del.status}`);
      const got = await http('GET', `${reg.url}/v2/race/app/blobs/${d512}`);
      if (p.status === 201) assert.ok(got.body.equals(data));
      else assert.equal(got.status, 404);
      assert.deepEqual(ls(join(reg.root, 'uploads')), []);
    }
    await w.recovered('DELETE racing PUT');
  });

  test('manifest PUTs cut mid-body store nothing; listings and search dropped early', async () => {
    const other = image([layer({ 'c.bin': randomBytes(30_000) })], 'cut-manifest');
    for (const b of [other.config, ...other.layers]) {
      assert.equal((await http('POST', `${reg.url}/v2/man/app/blobs/uploads/?digest=${b.digest}`, { body: b.bytes })).status, 201);
    }
    const runs: Promise<Abandoned>[] = [];
    for (let i = 0; i < 10; i++) {
      runs.push(abandon(reg.url, {
        method: 'PUT', path: i % 2 ? `/v2/man/app/manifests/${other.manifestDigest}?tag=cut` : '/v2/man/app/manifests/cut',
        body: other.manifest, sendBody: Math.floor(rand() * other.manifest.length), chunked: i % 3 === 0,
        headers: { 'Content-Type': OCI_MANIFEST }, after: 0,
      }));
    }
    // The token endpoint's form body, cut (this registry issues no tokens: it still reads the body first).
    const form = Buffer.from('grant_type=password&username=u&password=p&service=s&scope=' + 'x'.repeat(20_000));
    for (let i = 0; i < 3; i++) runs.push(abandon(reg.url, { method: 'POST', path: '/auth/token', body: form, sendBody: Math.floor(rand() * form.length), after: 0 }));
    for (const path of ['/v2/_catalog', '/v2/_catalog?n=1', '/v2/abandon/app/tags/list', '/v1/search?q=app', `/v2/abandon/app/manifests/v1`, `/v2/abandon/app/referrers/${img.manifestDigest}`]) {
      for (let i = 0; i < 4; i++) runs.push(abandon(reg.url, { path, after: i === 0 ? 0 : 1 + Math.floor(rand() * 200) }));
    }
    await Promise.all(runs);
    await w.recovered('cut manifest PUTs and listings');
    assert.equal((await http('GET', `${reg.url}/v2/man/app/manifests/cut`)).status, 404, 'no tag from a cut PUT');
    assert.equal((await http('GET', `${reg.url}/v2/man/app/manifests/${other.manifestDigest}`)).status, 404, 'no manifest from a cut PUT');
    assert.equal((await pushImage(reg.url, 'man/app', other, 'cut')).status, 201);
    assert.ok((await http('GET', `${reg.url}/v2/man/app/manifests/cut`)).body.equals(other.manifest));
  });

  test('garbage and slow clients get 4xx or a closed connection, never harm the registry', async () => {
    const data = randomBytes(200_000);
    const post = await http('POST', `${reg.url}/v2/junk/app/blobs/uploads/`);
    const loc = post.headers.get('location') as string;
    const host = `Host: ${new URL(reg.url).host}\r\n`;
    // A chunked manifest bigger than the limit is refused with 413, not a reset.
    const huge = await rawRequest(reg.url, Buffer.concat([
      Buffer.from(`PUT /v2/junk/app/manifests/big HTTP/1.1\r\n${host}Content-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`),
      ...Array.from({ length: 6 }, () => Buffer.from(`100000\r\n${'x'.repeat(0x100000)}\r\n`)),
      Buffer.from('0\r\n\r\n'),
    ]));
    assert.equal(huge.status, 413, huge.text.slice(0, 300));
    // A PATCH whose chunked body is shorter than its Content-Range says: 400, and the session holds nothing of it.
    assert.equal((await http('PATCH', `${reg.url}${loc}`, { body: data.subarray(0, 1000), headers: { 'Content-Range': '0-999' } })).status, 202);
    const short = await rawRequest(reg.url, `PATCH ${loc} HTTP/1.1\r\n${host}Content-Range: 1000-1099\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    assert.equal(short.status, 400, short.text.slice(0, 300));
    assert.equal(await uploadOffset(reg, loc), 1000, 'a refused chunk leaves nothing in the session');
    const results = await Promise.all([
      // Not HTTP at all.
      abandon(reg.url, { raw: randomBytes(4096), after: 0, maxMs: 500 }),
      abandon(reg.url, { raw: Buffer.from('GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'), after: 1, maxMs: 2000 }),
      // Broken chunked encoding in the middle of upload bodies.
      abandon(reg.url, { raw: Buffer.from(`PATCH ${loc} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n`), after: 1, maxMs: 2000 }),
      abandon(reg.url, { raw: Buffer.from(`POST /v2/junk/app/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n10\r\n${'y'.repeat(40)}\r\n`), after: 1, maxMs: 2000 }),
      // Bad headers: a Content-Range that is no range, a digest that is no digest, an absurd Range.
      abandon(reg.url, { method: 'PATCH', path: loc, headers: { 'Content-Range': 'bytes=banana' }, body: data, sendBody: 1000, after: 1, maxMs: 2000 }),
      abandon(reg.url, { method: 'PUT', path: `${loc}?digest=sha256:zz`, body: data, sendBody: 5000, after: 1, maxMs: 2000 }),
      abandon(reg.url, { path: `/v2/abandon/app/blobs/${bigDigest}`, headers: { Range: 'bytes=99999999999999999999-' }, after: 1, maxMs: 2000 }),
      // A header flood.
      abandon(reg.url, { path: '/v2/', headers: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`X-Junk-${i}`, 'x'.repeat(50)])), after: 1, maxMs: 2000 }),
      // Slow: headers a byte at a time, then gone; a body that stalls.
      (async () => {
        const { hostname, port } = new URL(reg.url);
        const s = connect(Number(port), hostname);
        s.on('error', () => {});
        for (const ch of `GET /v2/abandon/app/blobs/${bigDigest} HTTP/1.1\r\nHo`) {
          s.write(ch);
          await sleep(5);
        }
        s.destroy();
        return { status: 0, got: 0, head: '' };
      })(),
      abandon(reg.url, { method: 'PATCH', path: loc, body: data.subarray(1000), sendBody: 10, after: 0, maxMs: 1500 }),
    ]);
    assert.ok(results.every((r) => r.status === 0 || (r.status >= 400 && r.status < 500)), results.map((r) => r.head.split('\r\n')[0]).join(' | '));
    await w.recovered('garbage and slow clients');
    // The session is still usable after all that.
    const have = (await uploadOffset(reg, loc)) as number;
    assert.ok(have >= 1000 && have <= 1010, `offset ${have}`);
    const tail = await http('PATCH', `${reg.url}${loc}`, { body: data.subarray(have), headers: { 'Content-Range': `${have}-${data.length - 1}` } });
    assert.equal(tail.status, 202, tail.text);
    // What the stalled PATCH left is its own bytes, so the session finishes as the whole blob.
    assert.equal((await http('PUT', `${reg.url}${loc}?digest=${sha256(data)}`)).status, 201);
    assert.ok((await http('GET', `${reg.url}/v2/junk/app/blobs/${sha256(data)}`)).body.equals(data));
    assert.equal((await http('POST', `${reg.url}/v2/junk/app/blobs/uploads/?digest=${sha256(data)}`, { body: data })).status, 201);
  });
});

describe('registry: more connections than it has fds', () => {
  test('connections beyond its open-files limit are turned away, not fatal', async () => {
    const reg = await startRegistry({ log: { level: 'info', accesslog: { disabled: true } } });
    try {
      const w = new Watched(reg);
      assert.equal((await http('GET', `${reg.url}/v2/`)).status, 200);
      await sleep(200);
      w.baseline();
      // Room for a few connections only, then twice as many clients as that, each with half a request.
      const limit = w.base + 20;
      const pr = spawnSync('prlimit', ['--pid', String(w.pid), `--nofile=${limit}:${limit}`]);
      assert.equal(pr.status, 0, pr.stderr?.toString());
      const { hostname, port } = new URL(reg.url);
      const socks = Array.from({ length: 60 }, () => {
        const s = connect(Number(port), hostname);
        s.on('error', () => {});
        s.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
        return s;
      });
      await sleep(1500);
      // The limit was reached: the flood did what it was meant to.
      assert.ok(fdCount(w.pid) >= limit - 3, `registry at its fd limit (${fdCount(w.pid)} of ${limit})`);
      for (const s of socks) s.destroy();
      await sleep(500);
      await w.recovered('a connection flood beyond the fd limit');
    } finally {
      await reg.stop();
    }
  });
});

/** An upstream registry stand-in that serves one blob slowly and notes how each response ended. */
interface SlowUpstream {
  url: string;
  /** Blob responses that ended before all bytes were sent (the proxy hung up). */
  cut: number;
  /** Blob responses sent whole. */
  whole: number;
  /** Manifest requests left unanswered that the proxy then hung up on. */
  hungUp: number;
  /** Requests for the manifest that never gets an answer, as they reached the upstream. */
  hangs: number;
  close(): Promise<void>;
}

/** A digest the stand-in upstream answers with other bytes, as a corrupt or lying upstream would. */
const LIE = sha256('what the digest names');

async function slowUpstream(blob: Buffer, digest: string): Promise<SlowUpstream> {
  const state = { cut: 0, whole: 0, hungUp: 0, hangs: 0 };
  // Most of the blob as fast as the proxy takes it (so a client that stops
  // reading backs the proxy up), then a slow tail of about a second, so no
  // response can end before a client that left has had time to be noticed.
  const slowFrom = blob.length - 2 * 1024 * 1024;
  const streamBlob = async (res: ServerResponse): Promise<void> => {
    for (let off = 0; off < blob.length && !res.destroyed; off += 64 * 1024) {
      if (!res.write(blob.subarray(off, off + 64 * 1024))) {
        await new Promise<void>((r) => { res.once('drain', r); res.once('close', r); });
      }
      if (off >= slowFrom) await sleep(30);
    }
    res.end();
  };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    } else if (path === `/v2/up/app/blobs/${digest}`) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length, 'Docker-Content-Digest': digest });
      res.on('close', () => { if (res.writableFinished) state.whole++; else state.cut++; });
      if (req.method === 'HEAD') res.end();
      else void streamBlob(res);
    } else if (path === `/v2/up/app/blobs/${LIE}`) {
      const wrong = Buffer.from('something else entirely');
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': wrong.length }).end(wrong);
    } else if (path === '/v2/up/app/manifests/hang') {
      state.hangs++;
      // Never answers; the proxy must give up on it when its client does.
      res.on('close', () => { if (!res.writableFinished) state.hungUp++; });
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get cut() { return state.cut; },
    get whole() { return state.whole; },
    get hungUp() { return state.hungUp; },
    get hangs() { return state.hangs; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('registry: abandoned pull-through streams', () => {
  const rand = prng(SEED ^ 0x5bd1e995);
  const blob = randomBytes(18 * 1024 * 1024);
  const digest = sha256(blob);
  let up: SlowUpstream;
  let mirror: Registry;
  let w: Watched;
  let dir: string;

  before(async () => {
    dir = tempDir();
    up = await slowUpstream(blob, digest);
    mirror = await startRegistry({ proxy: { remoteurl: up.url }, log: { level: 'info', accesslog: { disabled: true } } }, { dir, root: join(dir, 'data') });
    w = new Watched(mirror);
    assert.equal((await http('GET', `${mirror.url}/v2/`)).status, 200);
    assert.equal((await http('GET', `${mirror.url}/v2/up/app/manifests/nope`)).status, 404);
    await sleep(300);
    w.baseline();
  });
  after(async () => {
    await mirror?.stop();
    await up?.close();
    if (dir) cleanup(dir);
  });

  test('a client leaving mid-blob cancels the upstream fetch and keeps no partial cache file', async () => {
    const n = 8;
    const runs: Promise<Abandoned>[] = [];
    for (let i = 0; i < n; i++) {
      // Half leave at once, half first stop reading so the registry waits for a drain that never comes.
      const stallMs = i % 2 ? 300 + Math.floor(rand() * 1000) : undefined;
      runs.push(abandon(mirror.url, { path: `/v2/up/app/blobs/${digest}`, after: 1 + Math.floor(rand() * blob.length * (stallMs ? 0.2 : 0.8)), stallMs, maxMs: 20_000 }));
    }
    const results = await Promise.all(runs);
    assert.ok(results.every((r) => r.status === 200 && r.got < blob.length), results.map((r) => `${r.status}/${r.got}`).join(' '));
    // Each upstream response is cut soon after its client left, long before the slow upstream would have finished it.
    assert.ok(await until(() => up.cut === n, 3000), `upstream fetches cancelled: ${up.cut} cut, ${up.whole} whole of ${n}`);
    assert.equal(up.whole, 0, 'no upstream response ran to its end');
    await w.recovered('abandoned proxied blobs');
    assert.ok(!files(join(mirror.root, 'blobs')).some((f) => f.endsWith(digest.slice(7))), 'no partial blob cached');
    // A request whose upstream never answers ends with its client.
    // The client stays until its request has reached the upstream (on a loaded machine that takes a while), then leaves.
    const { hostname, port } = new URL(mirror.url);
    const client = connect(Number(port), hostname);
    client.on('error', () => {});
    client.write(`GET /v2/up/app/manifests/hang HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`);
    assert.ok(await until(() => up.hangs === 1, 10_000), 'the request reached the upstream');
    client.destroy();
    assert.ok(await until(() => up.hungUp === 1, 3000), 'the unanswered upstream request was dropped with its client');
    await w.recovered('abandoned proxied manifest');
    // A whole pull goes through, is cached, and is then served from the cache.
    const whole = await http('GET', `${mirror.url}/v2/up/app/blobs/${digest}`);
    assert.equal(whole.status, 200);
    assert.ok(whole.body.equals(blob));
    assert.ok(await until(() => up.whole === 1, 3000), 'the upstream sent the blob whole once');
    const cached = files(join(mirror.root, 'blobs')).find((f) => f.endsWith(digest.slice(7)));
    assert.ok(cached && readFileSync(cached).equals(blob), 'the whole blob is cached');
    // Bytes upstream sends for a digest they do not match are not passed off as that blob, nor cached.
    await assert.rejects(http('GET', `${mirror.url}/v2/up/app/blobs/${LIE}`), 'a response with the wrong bytes is cut, not completed');
    assert.ok(!files(join(mirror.root, 'blobs')).some((f) => f.endsWith(LIE.slice(7))), 'wrong bytes not cached');
    await w.recovered('an upstream blob failing its digest');
    await up.close();
    const again = await http('GET', `${mirror.url}/v2/up/app/blobs/${digest}`);
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(blob), 'served from the cache with the upstream gone');
  });
});
