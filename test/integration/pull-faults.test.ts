// Pulls through a fault proxy in front of the CNCF registry: a connection
// dropped mid-layer is resumed with a Range request; a blob whose bytes do not
// match its digest is rejected with nothing stored; 500s are retried with
// backoff, then reported as dockerd words them, as are 401 and 404;
// concurrent pulls of images sharing a layer download it once; a daemon
// killed -9 mid-pull leaves a consistent store and the next pull succeeds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { BERTH, busyboxTarPath, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { type CncfRegistry, type FaultProxy, runAsync, startCncfRegistry, startFaultProxy } from '../helpers/registries.ts';
import { OCI_LAYER, type Blob, hasBinary, image, layer, pushImage, sha256 } from '../registry/helpers.ts';

const SKIP = hasBinary('docker-registry') ? false : 'no docker-registry';

function busyboxLayer(): { blob: Blob; diffId: string } {
  const raw = readFileSync(busyboxTarPath());
  const gz = gzipSync(raw);
  return { blob: { digest: sha256(gz), bytes: gz, mediaType: OCI_LAYER }, diffId: sha256(raw) };
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('pull through a faulty connection', { skip: SKIP }, () => {
  let d: TestDaemon;
  let reg: CncfRegistry;
  let proxy: FaultProxy;
  const bb = busyboxLayer();
  const berth = (args: string[]) => runAsync(BERTH, ['-H', d.host, ...args]);
  const blobPath = (digest: string) => join(d.dataRoot, 'image', 'blobs', 'sha256', digest.slice(7));
  const isBlob = (digest: string) => (s: { method: string; url: string }) => s.method === 'GET' && s.url.endsWith(`/blobs/${digest}`);
  /** An image of busybox plus one random file, in the registry as `repo:1`; returns the file's bytes and its layer. */
  const place = async (repo: string, bytes = 2_000_000, extra: Array<{ blob: Blob; diffId: string }> = []) => {
    const data = randomBytes(bytes);
    const l = layer({ 'file.bin': data });
    const img = image([bb, ...extra, l], repo);
    const r = await pushImage(reg.url, repo, img, '1');
    assert.equal(r.status, 201, r.text);
    return { data, layer: l, img };
  };

  before(async () => {
    d = await startSeededDaemon();
    reg = await startCncfRegistry();
    proxy = await startFaultProxy(reg.url);
  });
  after(async () => {
    await d.destroy();
    await proxy.stop();
    await reg.stop();
  });

  test('a connection dropped in the middle of a layer is resumed with a Range request', async () => {
    const { data, layer: l } = await place('resume');
    proxy.seen.length = 0;
    proxy.rule = (s, nth) => (isBlob(l.blob.digest)(s) && nth === 1 ? { truncate: 700_000 } : undefined);
    const r = await berth(['pull', `${proxy.host}/resume:1`]);
    proxy.rule = () => undefined;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const gets = proxy.seen.filter(isBlob(l.blob.digest));
    assert.equal(gets.length, 2, JSON.stringify(gets.map((g) => g.headers.range)));
    assert.equal(gets[0].headers.range, undefined);
    const m = /^bytes=(\d+)-$/.exec(String(gets[1].headers.range));
    assert.ok(m && Number(m[1]) > 0 && Number(m[1]) <= 700_000, String(gets[1].headers.range));
    const sum = await berth(['run', '--rm', `${proxy.host}/resume:1`, 'busybox', 'md5sum', '/file.bin']);
    assert.equal(sum.stdout.split(' ')[0], md5(data), sum.stderr);
  });

  test('a blob whose bytes do not match its digest is rejected and nothing of it is stored', async () => {
    const { layer: l } = await place('corrupt');
    proxy.rule = (s) => (isBlob(l.blob.digest)(s) ? { corrupt: true } : undefined);
    const r = await berth(['pull', `${proxy.host}/corrupt:1`]);
    proxy.rule = () => undefined;
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`filesystem layer verification failed for digest ${l.blob.digest}`));
    assert.equal(existsSync(blobPath(l.blob.digest)), false);
    assert.deepEqual(readdirSync(join(d.dataRoot, 'image', 'ingest')), []);
    const ls = await berth(['images', '-q', `${proxy.host}/corrupt`]);
    assert.equal(ls.stdout, '');
  });

  test('5xx answers are retried with backoff: a passing outage is survived, a lasting one is reported', async () => {
    await place('flaky');
    proxy.seen.length = 0;
    proxy.rule = (s, nth) => (s.url.includes('/flaky/manifests/') && nth <= 2 ? { status: 503 } : undefined);
    const ok = await berth(['pull', `${proxy.host}/flaky:1`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(proxy.seen.filter((s) => s.url.includes('/flaky/manifests/')).length, 3);

    await place('down');
    proxy.seen.length = 0;
    proxy.rule = (s) => (s.url.includes('/down/manifests/') ? { status: 500 } : undefined);
    const down = await berth(['pull', `${proxy.host}/down:1`]);
    proxy.rule = () => undefined;
    assert.equal(down.code, 1);
    assert.match(down.stderr, /Error response from daemon: received unexpected HTTP status: 500 Internal Server Error/);
    assert.equal(proxy.seen.filter((s) => s.url.includes('/down/manifests/')).length, 4, 'one try and three retries');
  });

  test('401 and 404 are clear errors in dockerd\'s words', async () => {
    proxy.rule = (s) => (s.url.includes('/locked/') ? { status: 401 } : undefined);
    const denied = await berth(['pull', `${proxy.host}/locked:1`]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, new RegExp(`pull access denied for ${proxy.host}/locked, repository does not exist or may require 'docker login'`));
    proxy.rule = () => undefined;
    const missing = await berth(['pull', `${proxy.host}/nosuch:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`Error response from daemon: (manifest for ${proxy.host}/nosuch:1 not found|repository ${proxy.host}/nosuch not found)`));
  });

  test('a registry that never answers is given up on with a clear error', async () => {
    proxy.rule = (s) => (s.url === '/v2/' ? { stall: true } : undefined);
    const r = await berth(['pull', `${proxy.host}/silent:1`]);
    proxy.rule = () => undefined;
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Error response from daemon: Get "http://${proxy.host}/v2/": net/http: timeout awaiting response headers`));
  });

  test('two concurrent pulls of images sharing a layer download it once', async () => {
    const shared = layer({ 'shared.bin': randomBytes(3_000_000) });
    await place('share-a', 1000, [shared]);
    await place('share-b', 1000, [shared]);
    proxy.seen.length = 0;
    // Slow the shared blob down so that both pulls want it at the same time.
    proxy.rule = (s) => (isBlob(shared.blob.digest)(s) ? { delayMs: 1500 } : undefined);
    const [a, b] = await Promise.all([berth(['pull', `${proxy.host}/share-a:1`]), berth(['pull', `${proxy.host}/share-b:1`])]);
    proxy.rule = () => undefined;
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(proxy.seen.filter(isBlob(shared.blob.digest)).length, 1);
    for (const repo of ['share-a', 'share-b']) {
      const r = await berth(['run', '--rm', `${proxy.host}/${repo}:1`, 'busybox', 'ls', '/shared.bin']);
      assert.equal(r.stdout, '/shared.bin\n', r.stderr);
    }
  });

  test('kill -9 of the daemon in the middle of a pull leaves a consistent store; the next pull succeeds', async () => {
    const { data, layer: l } = await place('crash', 8_000_000);
    proxy.seen.length = 0;
    proxy.rule = (s) => (isBlob(l.blob.digest)(s) ? { delayMs: 4000 } : undefined);
    const pulling = berth(['pull', `${proxy.host}/crash:1`]);
    for (let i = 0; i < 100 && !proxy.seen.some(isBlob(l.blob.digest)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(proxy.seen.some(isBlob(l.blob.digest)), 'the layer download started');
    await d.crash();
    const cut = await pulling;
    assert.notEqual(cut.code, 0);
    proxy.rule = () => undefined;
    await d.start();
    assert.equal((await berth(['images', '-q', `${proxy.host}/crash`])).stdout, '');
    assert.deepEqual(readdirSync(join(d.dataRoot, 'image', 'ingest')), []);
    const r = await berth(['pull', `${proxy.host}/crash:1`]);
    assert.equal(r.code, 0, r.stderr);
    const sum = await berth(['run', '--rm', `${proxy.host}/crash:1`, 'busybox', 'md5sum', '/file.bin']);
    assert.equal(sum.stdout.split(' ')[0], md5(data), sum.stderr);
  });
});
