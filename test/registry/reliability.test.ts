// Reliability: concurrent pushes sharing layers, uploads interrupted and
// resumed, kill -9 of the registry mid-upload, and hostile paths.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  startRegistry, launch, http, errorCode, sha256, layer, image, pushImage, tempDir, cleanup, sleep, type Image,
} from './helpers.ts';

/** Sends a request over a raw socket, writes only part of the body, then drops the connection. */
async function partialRequest(url: string, method: string, path: string, headers: Record<string, string>, body: Buffer, waitMs = 300): Promise<void> {
  const { hostname, port } = new URL(url);
  const sock = connect(Number(port), hostname);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const head = `${method} ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  sock.write(head);
  sock.write(body);
  await sleep(waitMs);
  sock.destroy();
  await sleep(100);
}

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

async function assertPullable(url: string, repo: string, tag: string, img: Image): Promise<void> {
  const m = await http('GET', `${url}/v2/${repo}/manifests/${tag}`);
  assert.equal(m.status, 200, `${repo}:${tag}`);
  assert.ok(m.body.equals(img.manifest));
  for (const b of [img.config, ...img.layers]) {
    const r = await http('GET', `${url}/v2/${repo}/blobs/${b.digest}`);
    assert.equal(r.status, 200, `${repo} ${b.digest}`);
    assert.ok(r.body.equals(b.bytes));
  }
}

describe('reliability', () => {
  it('concurrent pushes of images sharing layers all succeed and the store keeps one copy of each blob', async () => {
    const reg = await startRegistry();
    try {
      const base = [layer({ 'base1.bin': randomBytes(200_000) }), layer({ 'base2.bin': randomBytes(100_000) })];
      const images = Array.from({ length: 12 }, (_, i) => image([...base, layer({ [`app${i}.bin`]: randomBytes(50_000) })], `img${i}`));
      // Half the images go to one repository (same blobs uploaded at once), half to their own.
      const results = await Promise.all(images.map((img, i) => pushImage(reg.url, i % 2 ? 'shared/app' : `own/app${i}`, img, `v${i}`)));
      for (const r of results) assert.equal(r.status, 201, r.text);
      for (let i = 0; i < images.length; i++) await assertPullable(reg.url, i % 2 ? 'shared/app' : `own/app${i}`, `v${i}`, images[i]);
      const unique = new Set(images.flatMap((img) => [img.config.digest, img.manifestDigest, ...img.layers.map((l) => l.digest)]));
      assert.equal(files(join(reg.root, 'blobs')).length, unique.size);
      assert.deepEqual(files(join(reg.root, 'tmp')), []);
      assert.deepEqual(files(join(reg.root, 'uploads')), []);
      assert.deepEqual(files(join(reg.root, 'pending')), []);
    } finally {
      await reg.stop();
      cleanup(reg.root);
    }
  });

  it('an upload whose connection drops mid-chunk resumes from the reported Range', async () => {
    const reg = await startRegistry();
    try {
      const data = randomBytes(300_000);
      const post = await http('POST', `${reg.url}/v2/resume/app/blobs/uploads/`);
      const loc = post.headers.get('location') as string;
      const p1 = await http('PATCH', `${reg.url}${loc}`, { body: data.subarray(0, 100_000), headers: { 'Content-Range': '0-99999' } });
      assert.equal(p1.status, 202);
      // Second chunk: announce 200 000 bytes, deliver 60 000, drop the connection.
      await partialRequest(reg.url, 'PATCH', loc, { 'Content-Range': '100000-299999', 'Content-Length': '200000', 'Content-Type': 'application/octet-stream' }, data.subarray(100_000, 160_000));
      const status = await http('GET', `${reg.url}${loc}`);
      assert.equal(status.status, 204);
      const m = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
      assert.ok(m, 'Range header present');
      const next = Number(m[1]) + 1;
      assert.ok(next >= 100_000 && next <= 160_000, `resume offset ${next}`);
      // Nothing is visible yet.
      assert.equal((await http('HEAD', `${reg.url}/v2/resume/app/blobs/${sha256(data)}`)).status, 404);
      // A chunk that does not start at the offset is refused.
      const wrong = await http('PATCH', `${reg.url}${loc}`, { body: data.subarray(next + 1), headers: { 'Content-Range': `${next + 1}-299999` } });
      assert.equal(wrong.status, 416);
      const p2 = await http('PATCH', `${reg.url}${loc}`, { body: data.subarray(next), headers: { 'Content-Range': `${next}-299999` } });
      assert.equal(p2.status, 202);
      assert.equal(p2.headers.get('range'), '0-299999');
      const put = await http('PUT', `${reg.url}${loc}?digest=${sha256(data)}`);
      assert.equal(put.status, 201);
      assert.ok((await http('GET', `${reg.url}/v2/resume/app/blobs/${sha256(data)}`)).body.equals(data));
    } finally {
      await reg.stop();
      cleanup(reg.root);
    }
  });

  it('large blob downloads are exact across read-chunk boundaries, and clients dropping mid-download do not disturb others', async () => {
    const reg = await startRegistry();
    try {
      // Blobs are served in 256 KiB reads from pooled buffers: sizes and
      // ranges around those boundaries, many downloads at once, and clients
      // that go away halfway must all leave every other response intact.
      const K = 256 * 1024;
      const blobs = [K - 1, K, K + 1, 3 * K + 17, 5 * 1024 * 1024].map((n) => randomBytes(n));
      for (const b of blobs) assert.equal((await http('POST', `${reg.url}/v2/dl/app/blobs/uploads/?digest=${sha256(b)}`, { body: b })).status, 201);
      const url = (b: Buffer): string => `${reg.url}/v2/dl/app/blobs/${sha256(b)}`;
      const big = blobs[4];
      const { port } = new URL(reg.url);
      const dropped = Array.from({ length: 6 }, async () => {
        // Ask for the 5 MiB blob, read a little of the response, hang up.
        const sock = connect(Number(port), '127.0.0.1');
        await new Promise<void>((r) => sock.once('connect', () => r()));
        sock.write(`GET /v2/dl/app/blobs/${sha256(big)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
        await new Promise<void>((r) => sock.once('data', () => r()));
        sock.destroy();
      });
      const full = Array.from({ length: 3 }, () => blobs.map(async (b) => {
        const r = await http('GET', url(b));
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(b), `blob of ${b.length} bytes comes back whole`);
      })).flat();
      const ranges: Array<[number, number]> = [[0, K - 1], [K - 1, K], [K - 5, 2 * K + 5], [3 * K, 3 * K + 16], [1, 3 * K + 16]];
      const ranged = ranges.map(async ([start, end]) => {
        const r = await http('GET', url(blobs[3]), { headers: { Range: `bytes=${start}-${end}` } });
        assert.equal(r.status, 206);
        assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${blobs[3].length}`);
        assert.ok(r.body.equals(blobs[3].subarray(start, end + 1)), `range ${start}-${end}`);
      });
      await Promise.all([...dropped, ...full, ...ranged]);
      // And after the hang-ups, the big blob still downloads whole.
      assert.ok((await http('GET', url(big))).body.equals(big));
      assert.doesNotMatch(reg.output(), /internal error/);
    } finally {
      await reg.stop();
      cleanup(reg.root);
    }
  });

  it('after kill -9 during uploads the restarted registry has a consistent store and uploads resume', async () => {
    const dir = tempDir();
    const reg = await startRegistry({}, { dir });
    const img = image([layer({ 'a.bin': randomBytes(100_000) })]);
    assert.equal((await pushImage(reg.url, 'crash/app', img, 'before')).status, 201);
    // An upload in progress: first chunk acknowledged...
    const big = randomBytes(2_000_000);
    const post = await http('POST', `${reg.url}/v2/crash/app/blobs/uploads/`);
    const loc = post.headers.get('location') as string;
    assert.equal((await http('PATCH', `${reg.url}${loc}`, { body: big.subarray(0, 500_000), headers: { 'Content-Range': '0-499999' } })).status, 202);
    // ...a monolithic upload and a second chunk still streaming when the process is killed.
    const mono = randomBytes(1_500_000);
    const { hostname, port } = new URL(reg.url);
    const streams = [
      { path: `/v2/crash/app/blobs/uploads/?digest=${sha256(mono)}`, method: 'POST', len: mono.length, part: mono.subarray(0, 700_000) },
      { path: loc, method: 'PATCH', len: 1_500_000, part: big.subarray(500_000, 1_200_000) },
    ];
    const socks = streams.map((s) => {
      const sock = connect(Number(port), hostname);
      sock.on('error', () => {});
      sock.write(`${s.method} ${s.path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${s.len}\r\n\r\n`);
      sock.write(s.part);
      return sock;
    });
    await sleep(300);
    await reg.kill9();
    socks.forEach((s) => s.destroy());

    const again = await launch(['serve', reg.configPath], reg.root, reg.configPath);
    try {
      await assertPullable(again.url, 'crash/app', 'before', img);
      // Neither half-sent blob is visible.
      assert.equal((await http('HEAD', `${again.url}/v2/crash/app/blobs/${sha256(mono)}`)).status, 404);
      assert.equal((await http('HEAD', `${again.url}/v2/crash/app/blobs/${sha256(big)}`)).status, 404);
      assert.deepEqual(files(join(reg.root, 'tmp')), []);
      // The chunked upload survived the crash and reports how much it holds.
      const status = await http('GET', `${again.url}${loc}`);
      assert.equal(status.status, 204);
      const have = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1]) + 1;
      assert.ok(have >= 500_000 && have <= 1_200_000, `offset after crash ${have}`);
      const rest = await http('PATCH', `${again.url}${loc}`, { body: big.subarray(have), headers: { 'Content-Range': `${have}-${big.length - 1}` } });
      assert.equal(rest.status, 202);
      const put = await http('PUT', `${again.url}${loc}?digest=${sha256(big)}`);
      assert.equal(put.status, 201, put.text);
      assert.ok((await http('GET', `${again.url}/v2/crash/app/blobs/${sha256(big)}`)).body.equals(big));
      // Every blob file in the store matches its name: nothing torn.
      for (const f of files(join(reg.root, 'blobs'))) {
        const { readFileSync } = await import('node:fs');
        assert.equal(sha256(readFileSync(f)).slice(7), f.split('/').pop());
      }
    } finally {
      await again.stop();
      cleanup(dir);
    }
  });

  it('refuses path traversal in names, references, digests and upload ids', async () => {
    const reg = await startRegistry();
    try {
      const img = image([layer({ 'x': 'x' })]);
      await pushImage(reg.url, 'safe/app', img, 'v1');
      const { hostname, port } = new URL(reg.url);
      // Raw requests: fetch() would normalise the dot segments away.
      const raw = async (method: string, path: string): Promise<{ status: number; body: string }> => {
        const sock = connect(Number(port), hostname);
        sock.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        let text = '';
        for await (const c of sock) text += (c as Buffer).toString();
        return { status: Number(text.split(' ')[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
      };
      const attempts: Array<[string, string]> = [
        ['GET', '/v2/../../../etc/manifests/latest'],
        ['GET', '/v2/safe/../../repositories/safe/app/manifests/v1'],
        ['GET', '/v2/safe%2F..%2F..%2Fetc/tags/list'],
        ['GET', '/v2/safe/app/manifests/..%2F..%2F..%2F..%2Fetc%2Fpasswd'],
        ['GET', '/v2/safe/app/manifests/sha256:..%2F..%2F..%2Fetc%2Fpasswd'],
        ['GET', '/v2/safe/app/blobs/sha256:..%2F..%2F..%2F..%2Fetc%2Fpasswd'],
        ['GET', '/v2/safe/app/blobs/uploads/..%2F..%2Fblobs'],
        ['PUT', '/v2/safe/app/manifests/..%2Fevil'],
        ['PUT', '/v2/safe/app/blobs/uploads/..%2F..%2Fx?digest=sha256:' + 'a'.repeat(64)],
        ['DELETE', '/v2/safe/app/manifests/..'],
        ['GET', '/v2/safe/app/tags/list/../../../../etc'],
      ];
      for (const [m, p] of attempts) {
        const r = await raw(m, p);
        assert.ok([400, 404, 405].includes(r.status), `${m} ${p} -> ${r.status}`);
        assert.ok(!r.body.includes('root:'), `${m} ${p} leaked a file`);
      }
      const name = await raw('GET', '/v2/../../etc/manifests/latest');
      assert.equal(name.status, 400);
      assert.equal(JSON.parse(name.body).errors[0].code, 'NAME_INVALID');
      // The URL parser treats "%2e%2e" as ".." and "\\" as "/": those spellings
      // must be refused too, not resolved to another repository.
      await pushImage(reg.url, 'other', img, 'v1');
      for (const p of [
        '/v2/safe/%2e%2e/other/manifests/v1',
        '/v2/safe/%2E%2e/other/manifests/v1',
        '/v2/safe/.%2E/other/manifests/v1',
        '/v2/safe/%2e/app/manifests/v1',
        '/v2/safe\\..\\other/manifests/v1',
        '/v2/safe\\app/manifests/v1',
      ]) {
        const r = await raw('GET', p);
        assert.equal(r.status, 400, `${p} -> ${r.status}`);
        assert.equal(JSON.parse(r.body).errors[0].code, 'NAME_INVALID', p);
      }
      const digest = await http('GET', `${reg.url}/v2/safe/app/blobs/sha256:..%2F..%2Fetc`);
      assert.equal(errorCode(digest), 'DIGEST_INVALID');
      // The store holds nothing outside its own layout.
      assert.deepEqual(readdirSync(reg.root).sort(), ['blobs', 'pending', 'repositories', 'tmp', 'trash', 'uploads']);
      assert.deepEqual(readdirSync(join(reg.root, 'repositories')).sort(), ['other', 'safe']);
    } finally {
      await reg.stop();
      cleanup(reg.root);
    }
  });
});
