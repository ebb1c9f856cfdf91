// Walks every endpoint of the OCI distribution spec against a real registry
// process, including the negative cases and their error codes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  startRegistry, http, errorCode, sha256, randomImage, pushImage, cleanup,
  OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, type Registry,
} from './helpers.ts';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

describe('distribution spec conformance', () => {
  let reg: Registry;
  let u: string;

  before(async () => {
    reg = await startRegistry({ storage: { maxmanifestsize: 64 * 1024 } });
    u = reg.url;
  });
  after(async () => {
    await reg.stop();
    cleanup(reg.root);
  });

  it('GET /v2/ answers 200 with the API version header', async () => {
    const r = await http('GET', `${u}/v2/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(r.json(), {});
  });

  it('POST then PUT uploads a blob; HEAD and GET return it with digest and length', async () => {
    const data = randomBytes(3000);
    const digest = sha256(data);
    const post = await http('POST', `${u}/v2/conf/post-put/blobs/uploads/`);
    assert.equal(post.status, 202);
    const loc = post.headers.get('location');
    assert.ok(loc?.startsWith('/v2/conf/post-put/blobs/uploads/'));
    assert.ok(post.headers.get('docker-upload-uuid'));
    const put = await http('PUT', `${u}${loc}?digest=${digest}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('location'), `/v2/conf/post-put/blobs/${digest}`);
    assert.equal(put.headers.get('docker-content-digest'), digest);

    const head = await http('HEAD', `${u}/v2/conf/post-put/blobs/${digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '3000');
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal(head.body.length, 0);
    const get = await http('GET', `${u}/v2/conf/post-put/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(data));
  });

  it('a single POST with ?digest= uploads monolithically (201)', async () => {
    const data = randomBytes(100);
    const r = await http('POST', `${u}/v2/conf/mono/blobs/uploads/?digest=${sha256(data)}`, { body: data });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('docker-content-digest'), sha256(data));
    assert.ok((await http('GET', `${u}/v2/conf/mono/blobs/${sha256(data)}`)).body.equals(data));
  });

  it('chunked PATCH uploads track Range, reject out-of-order chunks with 416, and report status', async () => {
    const data = randomBytes(10_000);
    const digest = sha256(data);
    const post = await http('POST', `${u}/v2/conf/chunked/blobs/uploads/`, { headers: { 'Content-Length': '0' } });
    let loc = post.headers.get('location') as string;
    const p1 = await http('PATCH', `${u}${loc}`, {
      body: data.subarray(0, 4000),
      headers: { 'Content-Range': '0-3999', 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-3999');
    loc = p1.headers.get('location') as string;

    const wrong = await http('PATCH', `${u}${loc}`, { body: data.subarray(5000, 6000), headers: { 'Content-Range': '5000-5999' } });
    assert.equal(wrong.status, 416);
    assert.equal(wrong.headers.get('range'), '0-3999');

    const status = await http('GET', `${u}${loc}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-3999');
    assert.equal(status.headers.get('location'), loc);

    const p2 = await http('PATCH', `${u}${loc}`, { body: data.subarray(4000, 8000), headers: { 'Content-Range': '4000-7999' } });
    assert.equal(p2.status, 202);
    assert.equal(p2.headers.get('range'), '0-7999');
    // The final chunk comes with the closing PUT.
    const put = await http('PUT', `${u}${loc}?digest=${digest}`, { body: data.subarray(8000), headers: { 'Content-Range': '8000-9999' } });
    assert.equal(put.status, 201);
    assert.ok((await http('GET', `${u}/v2/conf/chunked/blobs/${digest}`)).body.equals(data));
    // A closed session is gone.
    assert.equal((await http('GET', `${u}${loc}`)).status, 404);
  });

  it('a PUT whose digest does not match the bytes is DIGEST_INVALID and nothing becomes visible', async () => {
    const data = randomBytes(500);
    const other = sha256(randomBytes(10));
    const post = await http('POST', `${u}/v2/conf/bad/blobs/uploads/`);
    const put = await http('PUT', `${u}${post.headers.get('location')}?digest=${other}`, { body: data });
    assert.equal(put.status, 400);
    assert.equal(errorCode(put), 'DIGEST_INVALID');
    assert.equal((await http('HEAD', `${u}/v2/conf/bad/blobs/${other}`)).status, 404);
    assert.equal((await http('HEAD', `${u}/v2/conf/bad/blobs/${sha256(data)}`)).status, 404);
    // Malformed and unsupported digests are refused with 400 too.
    for (const d of ['sha256:xyz', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'A'.repeat(64)]) {
      const r = await http('POST', `${u}/v2/conf/bad/blobs/uploads/?digest=${d}`, { body: data });
      assert.equal(r.status, 400, d);
      assert.equal(errorCode(r), 'DIGEST_INVALID');
    }
    const noDigest = await http('POST', `${u}/v2/conf/bad/blobs/uploads/`);
    const put2 = await http('PUT', `${u}${noDigest.headers.get('location')}`, { body: data });
    assert.equal(put2.status, 400);
    assert.equal(errorCode(put2), 'DIGEST_INVALID');
  });

  it('sha512 digests are supported end to end', async () => {
    const { createHash } = await import('node:crypto');
    const data = randomBytes(64);
    const d = 'sha512:' + createHash('sha512').update(data).digest('hex');
    const post = await http('POST', `${u}/v2/conf/sha512/blobs/uploads/?digest-algorithm=sha512`);
    assert.equal(post.status, 202);
    const put = await http('PUT', `${u}${post.headers.get('location')}?digest=${d}`, { body: data });
    assert.equal(put.status, 201);
    assert.ok((await http('GET', `${u}/v2/conf/sha512/blobs/${d}`)).body.equals(data));
    assert.equal((await http('POST', `${u}/v2/conf/sha512/blobs/uploads/?digest-algorithm=md5`)).status, 400);
  });

  it('unknown upload sessions are BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE', async () => {
    const id = 'f'.repeat(32);
    for (const m of ['GET', 'PATCH', 'PUT', 'DELETE']) {
      const r = await http(m, `${u}/v2/conf/x/blobs/uploads/${id}?digest=${sha256('x')}`, m === 'PATCH' || m === 'PUT' ? { body: 'x' } : {});
      assert.equal(r.status, 404, m);
      assert.equal(errorCode(r), 'BLOB_UPLOAD_UNKNOWN', m);
    }
    // Traversal-looking ids never reach the filesystem.
    const r = await http('GET', `${u}/v2/conf/x/blobs/uploads/..%2F..%2Fetc`);
    assert.equal(r.status, 404);
    // A session belongs to the repository it was opened in.
    const post = await http('POST', `${u}/v2/conf/owner/blobs/uploads/`);
    const id2 = post.headers.get('docker-upload-uuid');
    assert.equal((await http('GET', `${u}/v2/conf/intruder/blobs/uploads/${id2}`)).status, 404);
    assert.equal((await http('GET', `${u}/v2/conf/owner/blobs/uploads/${id2}`)).status, 204);
  });

  it('DELETE on an upload cancels it', async () => {
    const post = await http('POST', `${u}/v2/conf/cancel/blobs/uploads/`);
    const loc = post.headers.get('location') as string;
    assert.equal((await http('PATCH', `${u}${loc}`, { body: 'abc' })).status, 202);
    assert.equal((await http('DELETE', `${u}${loc}`)).status, 204);
    const again = await http('GET', `${u}${loc}`);
    assert.equal(again.status, 404);
    assert.equal(errorCode(again), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('blobs support Range requests (206, suffix ranges, 416 past the end)', async () => {
    const data = Buffer.from('0123456789');
    await http('POST', `${u}/v2/conf/range/blobs/uploads/?digest=${sha256(data)}`, { body: data });
    const url = `${u}/v2/conf/range/blobs/${sha256(data)}`;
    const r1 = await http('GET', url, { headers: { Range: 'bytes=2-5' } });
    assert.equal(r1.status, 206);
    assert.equal(r1.text, '2345');
    assert.equal(r1.headers.get('content-range'), 'bytes 2-5/10');
    const r2 = await http('GET', url, { headers: { Range: 'bytes=7-' } });
    assert.equal(r2.text, '789');
    const r3 = await http('GET', url, { headers: { Range: 'bytes=-3' } });
    assert.equal(r3.text, '789');
    const r4 = await http('GET', url, { headers: { Range: 'bytes=20-30' } });
    assert.equal(r4.status, 416);
    assert.equal(r4.headers.get('content-range'), 'bytes */10');
  });

  it('unknown blobs are 404 BLOB_UNKNOWN, also when the blob exists only in another repository', async () => {
    const data = randomBytes(50);
    await http('POST', `${u}/v2/conf/holder/blobs/uploads/?digest=${sha256(data)}`, { body: data });
    const r = await http('GET', `${u}/v2/conf/other/blobs/${sha256(data)}`);
    assert.equal(r.status, 404);
    assert.equal(errorCode(r), 'BLOB_UNKNOWN');
    assert.equal((await http('HEAD', `${u}/v2/conf/holder/blobs/${sha256(randomBytes(4))}`)).status, 404);
    const bad = await http('GET', `${u}/v2/conf/holder/blobs/sha256:nothex`);
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'DIGEST_INVALID');
  });

  it('cross-repository mount links an existing blob (201) and falls back to an upload (202) otherwise', async () => {
    const data = randomBytes(70);
    await http('POST', `${u}/v2/conf/src/blobs/uploads/?digest=${sha256(data)}`, { body: data });
    const m = await http('POST', `${u}/v2/conf/dst/blobs/uploads/?mount=${sha256(data)}&from=conf/src`);
    assert.equal(m.status, 201);
    assert.equal(m.headers.get('location'), `/v2/conf/dst/blobs/${sha256(data)}`);
    assert.ok((await http('GET', `${u}/v2/conf/dst/blobs/${sha256(data)}`)).body.equals(data));
    const miss = await http('POST', `${u}/v2/conf/dst/blobs/uploads/?mount=${sha256('nope')}&from=conf/src`);
    assert.equal(miss.status, 202);
    assert.ok(miss.headers.get('location')?.includes('/blobs/uploads/'));
  });

  it('manifests: push by tag, pull by tag and digest with the pushed Content-Type, HEAD, ETag', async () => {
    const img = randomImage(2, 1000);
    const put = await pushImage(u, 'conf/img', img, 'v1');
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('docker-content-digest'), img.manifestDigest);
    assert.equal(put.headers.get('location'), `/v2/conf/img/manifests/${img.manifestDigest}`);
    for (const ref of ['v1', img.manifestDigest]) {
      const g = await http('GET', `${u}/v2/conf/img/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(g.status, 200);
      assert.ok(g.body.equals(img.manifest), 'exact bytes');
      assert.equal(g.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(g.headers.get('docker-content-digest'), img.manifestDigest);
      const h = await http('HEAD', `${u}/v2/conf/img/manifests/${ref}`);
      assert.equal(h.status, 200);
      assert.equal(h.headers.get('content-length'), String(img.manifest.length));
    }
    const cached = await http('GET', `${u}/v2/conf/img/manifests/v1`, { headers: { 'If-None-Match': `"${img.manifestDigest}"` } });
    assert.equal(cached.status, 304);
    const missing = await http('GET', `${u}/v2/conf/img/manifests/nope`);
    assert.equal(missing.status, 404);
    assert.equal(errorCode(missing), 'MANIFEST_UNKNOWN');
    const noRepo = await http('GET', `${u}/v2/conf/never-pushed/manifests/latest`);
    assert.equal(noRepo.status, 404);
    assert.equal(errorCode(noRepo), 'NAME_UNKNOWN');
  });

  it('Docker schema 2 manifests keep their media type', async () => {
    const img = randomImage(1, 100);
    for (const b of [img.config, ...img.layers]) await http('POST', `${u}/v2/conf/docker/blobs/uploads/?digest=${b.digest}`, { body: b.bytes });
    const m = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: img.config.digest, size: img.config.bytes.length },
      layers: img.layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.bytes.length })),
    }));
    const put = await http('PUT', `${u}/v2/conf/docker/manifests/latest`, { body: m, headers: { 'Content-Type': DOCKER_MANIFEST } });
    assert.equal(put.status, 201);
    const g = await http('GET', `${u}/v2/conf/docker/manifests/latest`, { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(g.headers.get('content-type'), DOCKER_MANIFEST);
    assert.ok(g.body.equals(m));
  });

  it('a manifest referencing unknown blobs is MANIFEST_BLOB_UNKNOWN listing them', async () => {
    const img = randomImage(1, 100);
    const put = await http('PUT', `${u}/v2/conf/orphan/manifests/v1`, { body: img.manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(put.status, 400);
    assert.equal(errorCode(put), 'MANIFEST_BLOB_UNKNOWN');
    const detail = put.json<{ errors: Array<{ detail: { digests: string[] } }> }>().errors[0].detail.digests;
    assert.ok(detail.includes(img.config.digest));
    assert.equal((await http('GET', `${u}/v2/conf/orphan/manifests/v1`)).status, 404);
  });

  it('invalid manifests are MANIFEST_INVALID; a digest reference that does not match is DIGEST_INVALID', async () => {
    const cases: Array<[string, string]> = [
      ['not json', OCI_MANIFEST],
      ['[]', OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 1, name: 'x' }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: 'sha256:zz', size: 1 }, layers: [] }), OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), OCI_MANIFEST],
    ];
    for (const [body, type] of cases) {
      const r = await http('PUT', `${u}/v2/conf/invalid/manifests/v1`, { body, headers: { 'Content-Type': type } });
      assert.equal(r.status, 400, body);
      assert.equal(errorCode(r), 'MANIFEST_INVALID', body);
    }
    const img = randomImage(1, 10);
    await pushImage(u, 'conf/invalid', img, 'ok');
    const wrong = sha256('something else');
    const r = await http('PUT', `${u}/v2/conf/invalid/manifests/${wrong}`, { body: img.manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(r.status, 400);
    assert.equal(errorCode(r), 'DIGEST_INVALID');
  });

  it('manifests over the size limit are refused with 413', async () => {
    const big = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { pad: 'x'.repeat(70 * 1024) } });
    const r = await http('PUT', `${u}/v2/conf/big/manifests/v1`, { body: big, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(r.status, 413);
    assert.equal(errorCode(r), 'SIZE_INVALID');
  });

  it('PUT by digest with ?tag= creates several tags and reports them in OCI-Tag', async () => {
    const img = randomImage(1, 10);
    await pushImage(u, 'conf/multitag', img, 'first');
    const r = await http('PUT', `${u}/v2/conf/multitag/manifests/${img.manifestDigest}?tag=1.0&tag=1&tag=latest`, {
      body: img.manifest,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('oci-tag'), '1.0, 1, latest');
    const tags = await http('GET', `${u}/v2/conf/multitag/tags/list`);
    assert.deepEqual(tags.json(), { name: 'conf/multitag', tags: ['1', '1.0', 'first', 'latest'] });
  });

  it('image indexes must reference manifests present in the repository', async () => {
    const a = randomImage(1, 10);
    await pushImage(u, 'conf/index', a, 'amd64');
    const entry = (digest: string, size: number): Record<string, unknown> => ({ mediaType: OCI_MANIFEST, digest, size, platform: { architecture: 'amd64', os: 'linux' } });
    const good = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(a.manifestDigest, a.manifest.length)] }));
    const put = await http('PUT', `${u}/v2/conf/index/manifests/multi`, { body: good, headers: { 'Content-Type': OCI_INDEX } });
    assert.equal(put.status, 201);
    assert.equal((await http('GET', `${u}/v2/conf/index/manifests/multi`)).headers.get('content-type'), OCI_INDEX);
    const bad = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(sha256('missing'), 5)] }));
    const r = await http('PUT', `${u}/v2/conf/index/manifests/broken`, { body: bad, headers: { 'Content-Type': OCI_INDEX } });
    assert.equal(r.status, 400);
    assert.equal(errorCode(r), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('Docker manifest lists are stored and served with their media type and must reference present manifests', async () => {
    const a = randomImage(1, 10);
    const b = randomImage(1, 10);
    await pushImage(u, 'conf/dlist', a, 'amd64');
    await pushImage(u, 'conf/dlist', b, 'arm64');
    const entry = (img: typeof a, arch: string): Record<string, unknown> => ({ mediaType: OCI_MANIFEST, digest: img.manifestDigest, size: img.manifest.length, platform: { architecture: arch, os: 'linux' } });
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [entry(a, 'amd64'), entry(b, 'arm64')] }));
    const put = await http('PUT', `${u}/v2/conf/dlist/manifests/latest`, { body: list, headers: { 'Content-Type': DOCKER_LIST } });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.get('docker-content-digest'), sha256(list));
    const g = await http('GET', `${u}/v2/conf/dlist/manifests/latest`, { headers: { Accept: DOCKER_LIST } });
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('content-type'), DOCKER_LIST);
    assert.ok(g.body.equals(list));
    // Every child is reachable by the digest the list names.
    for (const img of [a, b]) assert.ok((await http('GET', `${u}/v2/conf/dlist/manifests/${img.manifestDigest}`)).body.equals(img.manifest));
    const dangling = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [entry(a, 'amd64'), { ...entry(b, 'arm64'), digest: sha256('absent') }] }));
    const bad = await http('PUT', `${u}/v2/conf/dlist/manifests/broken`, { body: dangling, headers: { 'Content-Type': DOCKER_LIST } });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'MANIFEST_BLOB_UNKNOWN');
    assert.deepEqual(bad.json<{ errors: Array<{ detail: { digests: string[] } }> }>().errors[0].detail.digests, [sha256('absent')]);
  });

  it('more negative cases: bad Content-Range, length mismatch, bad pagination, bad tags, bad mount digest, HEAD without a body', async () => {
    const post = await http('POST', `${u}/v2/conf/neg/blobs/uploads/`);
    const loc = post.headers.get('location') as string;
    const badRange = await http('PATCH', `${u}${loc}`, { body: 'abc', headers: { 'Content-Range': 'bytes=zz' } });
    assert.equal(badRange.status, 416);
    assert.equal(errorCode(badRange), 'BLOB_UPLOAD_INVALID');
    const backwards = await http('PATCH', `${u}${loc}`, { body: 'abc', headers: { 'Content-Range': '5-2' } });
    assert.equal(backwards.status, 416);
    const mismatch = await http('PATCH', `${u}${loc}`, { body: 'abcd', headers: { 'Content-Range': '0-9' } });
    assert.equal(mismatch.status, 400);
    assert.equal(errorCode(mismatch), 'SIZE_INVALID');
    // None of the refused chunks left bytes behind.
    assert.equal((await http('GET', `${u}${loc}`)).headers.get('range'), '0-0');
    const ok = await http('PATCH', `${u}${loc}`, { body: 'abc', headers: { 'Content-Range': '0-2' } });
    assert.equal(ok.headers.get('range'), '0-2');
    // A closing PUT whose chunk does not continue at the offset is 416 too, and the session stays usable.
    const gap = await http('PUT', `${u}${loc}?digest=${sha256('abcdef')}`, { body: 'ef', headers: { 'Content-Range': '4-5' } });
    assert.equal(gap.status, 416);
    assert.equal(gap.headers.get('range'), '0-2');
    const close = await http('PUT', `${u}${loc}?digest=${sha256('abcdef')}`, { body: 'def', headers: { 'Content-Range': '3-5' } });
    assert.equal(close.status, 201);
    assert.equal((await http('GET', `${u}/v2/conf/neg/blobs/${sha256('abcdef')}`)).text, 'abcdef');

    const img = randomImage(1, 10);
    await pushImage(u, 'conf/neg', img, 'v1');
    for (const n of ['abc', '-1', '1.5']) {
      const r = await http('GET', `${u}/v2/conf/neg/tags/list?n=${n}`);
      assert.equal(r.status, 400, n);
      assert.equal(errorCode(r), 'PAGINATION_NUMBER_INVALID', n);
    }
    assert.equal((await http('GET', `${u}/v2/_catalog?n=x`)).status, 400);
    for (const tag of ['-lead', '.dot', 'a'.repeat(129), 'sp%20ace']) {
      const r = await http('PUT', `${u}/v2/conf/neg/manifests/${tag}`, { body: img.manifest, headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(r.status, 400, tag);
      assert.equal(errorCode(r), 'MANIFEST_INVALID', tag);
    }
    const badTagQuery = await http('PUT', `${u}/v2/conf/neg/manifests/${img.manifestDigest}?tag=-x`, { body: img.manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(badTagQuery.status, 400);
    const mount = await http('POST', `${u}/v2/conf/neg2/blobs/uploads/?mount=sha256:nothex&from=conf/neg`);
    assert.equal(mount.status, 400);
    assert.equal(errorCode(mount), 'DIGEST_INVALID');
    const headMissing = await http('HEAD', `${u}/v2/conf/neg/manifests/nope`);
    assert.equal(headMissing.status, 404);
    assert.equal(headMissing.body.length, 0);
    const badRef = await http('GET', `${u}/v2/conf/neg/manifests/sha256:short`);
    assert.equal(badRef.status, 400);
    assert.equal(errorCode(badRef), 'DIGEST_INVALID');
  });

  it('tags list paginates with n and last and a Link header; n=0 is empty; unknown repos are NAME_UNKNOWN', async () => {
    const img = randomImage(1, 10);
    for (const t of ['c', 'a', 'B', 'b', 'd']) assert.equal((await pushImage(u, 'conf/tags', img, t)).status, 201);
    const all = await http('GET', `${u}/v2/conf/tags/tags/list`);
    assert.deepEqual(all.json<{ tags: string[] }>().tags, ['B', 'a', 'b', 'c', 'd']);
    const p1 = await http('GET', `${u}/v2/conf/tags/tags/list?n=2`);
    assert.deepEqual(p1.json<{ tags: string[] }>().tags, ['B', 'a']);
    assert.equal(p1.headers.get('link'), '</v2/conf/tags/tags/list?n=2&last=a>; rel="next"');
    const p2 = await http('GET', `${u}/v2/conf/tags/tags/list?n=2&last=a`);
    assert.deepEqual(p2.json<{ tags: string[] }>().tags, ['b', 'c']);
    const p3 = await http('GET', `${u}/v2/conf/tags/tags/list?n=2&last=c`);
    assert.deepEqual(p3.json<{ tags: string[] }>().tags, ['d']);
    assert.equal(p3.headers.get('link'), null);
    const zero = await http('GET', `${u}/v2/conf/tags/tags/list?n=0`);
    assert.deepEqual(zero.json<{ tags: string[] }>().tags, []);
    assert.equal(zero.headers.get('link'), null);
    const lastOnly = await http('GET', `${u}/v2/conf/tags/tags/list?last=b`);
    assert.deepEqual(lastOnly.json<{ tags: string[] }>().tags, ['c', 'd']);
    const unknown = await http('GET', `${u}/v2/conf/no-such-repo/tags/list`);
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), 'NAME_UNKNOWN');
  });

  it('_catalog lists repositories with pagination', async () => {
    const all = await http('GET', `${u}/v2/_catalog`);
    const repos = all.json<{ repositories: string[] }>().repositories;
    assert.ok(repos.includes('conf/img') && repos.includes('conf/tags'));
    assert.deepEqual([...repos].sort(), repos);
    const p1 = await http('GET', `${u}/v2/_catalog?n=1`);
    assert.equal(p1.json<{ repositories: string[] }>().repositories.length, 1);
    assert.match(p1.headers.get('link') ?? '', /^<\/v2\/_catalog\?n=1&last=.+>; rel="next"$/);
  });

  it('referrers API lists manifests with a subject, filters by artifactType, and never 404s', async () => {
    const subject = randomImage(1, 10);
    await pushImage(u, 'conf/ref', subject, 'app');
    const emptyConfig = Buffer.from('{}');
    await http('POST', `${u}/v2/conf/ref/blobs/uploads/?digest=${sha256(emptyConfig)}`, { body: emptyConfig });
    const sig = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(emptyConfig), size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: subject.manifestDigest, size: subject.manifest.length },
      annotations: { 'org.example.who': 'ci' },
    }));
    const put = await http('PUT', `${u}/v2/conf/ref/manifests/${sha256(sig)}`, { body: sig, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('oci-subject'), subject.manifestDigest);
    const list = await http('GET', `${u}/v2/conf/ref/referrers/${subject.manifestDigest}`);
    assert.equal(list.status, 200);
    assert.equal(list.headers.get('content-type'), OCI_INDEX);
    const body = list.json<{ manifests: Array<Record<string, unknown>> }>();
    assert.deepEqual(body.manifests, [{
      mediaType: OCI_MANIFEST,
      digest: sha256(sig),
      size: sig.length,
      artifactType: 'application/vnd.example.signature',
      annotations: { 'org.example.who': 'ci' },
    }]);
    const filtered = await http('GET', `${u}/v2/conf/ref/referrers/${subject.manifestDigest}?artifactType=application/other`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(filtered.json<{ manifests: unknown[] }>().manifests, []);
    const none = await http('GET', `${u}/v2/conf/ref/referrers/${sha256('nothing')}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.json<{ manifests: unknown[] }>().manifests, []);
    assert.equal((await http('GET', `${u}/v2/conf/ref/referrers/sha256:bad`)).status, 400);
    // Deleting the referrer removes it from the list.
    assert.equal((await http('DELETE', `${u}/v2/conf/ref/manifests/${sha256(sig)}`)).status, 202);
    const after = await http('GET', `${u}/v2/conf/ref/referrers/${subject.manifestDigest}`);
    assert.deepEqual(after.json<{ manifests: unknown[] }>().manifests, []);
  });

  it('deletes tags, manifests (and the tags pointing at them) and blobs with 202', async () => {
    const img = randomImage(1, 10);
    await pushImage(u, 'conf/del', img, 'one');
    await pushImage(u, 'conf/del', img, 'two');
    assert.equal((await http('DELETE', `${u}/v2/conf/del/manifests/one`)).status, 202);
    assert.equal((await http('GET', `${u}/v2/conf/del/manifests/one`)).status, 404);
    assert.equal((await http('GET', `${u}/v2/conf/del/manifests/two`)).status, 200);
    assert.equal((await http('DELETE', `${u}/v2/conf/del/manifests/${img.manifestDigest}`)).status, 202);
    assert.equal((await http('GET', `${u}/v2/conf/del/manifests/${img.manifestDigest}`)).status, 404);
    assert.equal((await http('GET', `${u}/v2/conf/del/manifests/two`)).status, 404);
    const again = await http('DELETE', `${u}/v2/conf/del/manifests/${img.manifestDigest}`);
    assert.equal(again.status, 404);
    assert.equal(errorCode(again), 'MANIFEST_UNKNOWN');
    const layer = img.layers[0].digest;
    assert.equal((await http('DELETE', `${u}/v2/conf/del/blobs/${layer}`)).status, 202);
    const gone = await http('GET', `${u}/v2/conf/del/blobs/${layer}`);
    assert.equal(gone.status, 404);
    assert.equal(errorCode(gone), 'BLOB_UNKNOWN');
    assert.equal((await http('DELETE', `${u}/v2/conf/del/blobs/${layer}`)).status, 404);
  });

  it('invalid repository names are NAME_INVALID; unknown methods are 405 UNSUPPORTED', async () => {
    for (const name of ['Upper/case', 'a//b', '-lead', 'trail-', 'a/_manifests', 'x'.repeat(256), 'a%2F..%2Fb']) {
      const r = await http('GET', `${u}/v2/${name}/tags/list`);
      assert.equal(r.status, 400, name);
      assert.equal(errorCode(r), 'NAME_INVALID', name);
    }
    const r = await http('POST', `${u}/v2/conf/img/manifests/v1`);
    assert.equal(r.status, 405);
    assert.equal(errorCode(r), 'UNSUPPORTED');
    assert.equal((await http('GET', `${u}/nothing-here`)).status, 404);
  });
});
