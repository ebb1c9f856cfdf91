// GET /images/{name}/attestations. berth's image store keeps an image's
// config and layers, not the OCI index it was pulled from, so it answers as
// dockerd's legacy (graphdriver) store: 501, after dockerd's version gate and
// parameter checks. The image used carries a real attestation manifest
// (BuildKit's layout: an unknown/unknown entry of its index pointing at the
// image manifest), pushed by hand to `berth registry`; pulling and running it
// must pick the image and never the attestation entry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, http, image, layer, pushImage, sha256, startRegistry, type Registry } from '../registry/helpers.ts';

const PROVENANCE = 'https://slsa.dev/provenance/v0.2';

describe('image attestations', () => {
  let d: TestDaemon;
  let reg: Registry;
  let ref: string;
  let configDigest: string;
  before(async () => {
    d = await startSeededDaemon();
    reg = await startRegistry();
    const img = image([layer({ 'hello.txt': 'hello\n' })], 'attested', { cmd: ['cat', '/hello.txt'] });
    configDigest = img.config.digest;
    assert.equal((await pushImage(reg.url, 'att', img, img.manifestDigest)).status, 201);
    // The attestation manifest: one in-toto statement about the image, as BuildKit writes it.
    const statement = Buffer.from(JSON.stringify({
      _type: 'https://in-toto.io/Statement/v0.1', predicateType: PROVENANCE,
      subject: [{ name: 'pkg:docker/att@latest', digest: { sha256: img.manifestDigest.slice(7) } }], predicate: { builder: { id: 'test' } },
    }));
    const config = Buffer.from('{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["' + sha256(statement) + '"]}}');
    for (const blob of [statement, config]) {
      const r = await http('POST', `${reg.url}/v2/att/blobs/uploads/?digest=${sha256(blob)}`, { headers: { 'Content-Type': 'application/octet-stream' }, body: blob });
      assert.equal(r.status, 201, r.text);
    }
    const att = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.in-toto+json', digest: sha256(statement), size: statement.length, annotations: { 'in-toto.io/predicate-type': PROVENANCE } }],
    }));
    assert.equal((await http('PUT', `${reg.url}/v2/att/manifests/${sha256(att)}`, { headers: { 'Content-Type': OCI_MANIFEST }, body: att })).status, 201);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: sha256(att), size: att.length, platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': img.manifestDigest } },
        { mediaType: OCI_MANIFEST, digest: img.manifestDigest, size: img.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }));
    assert.equal((await http('PUT', `${reg.url}/v2/att/manifests/latest`, { headers: { 'Content-Type': OCI_INDEX }, body: index })).status, 201);
    ref = `${reg.host}/att:latest`;
  });
  after(async () => {
    await d.destroy();
    await reg.stop();
  });

  test('an index with an attestation manifest pulls its image, never the attestation entry', () => {
    const pull = d.berth(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Id}} {{.Os}}/{{.Architecture}}', ref]).stdout.trim(), `${configDigest} linux/amd64`);
    const id = d.berth(['create', ref]).stdout.trim();
    assert.equal(d.berth(['cp', `${id}:/hello.txt`, '-']).stdout.includes('hello\n'), true);
  });

  test('attestations are answered as dockerd\'s legacy store: 501, for any image', async () => {
    for (const name of [encodeURIComponent(ref), 'busybox', 'no-such-image']) {
      for (const query of ['', '?statement=true&type=' + encodeURIComponent(PROVENANCE), '?platform=' + encodeURIComponent('{"os":"linux","architecture":"amd64"}')]) {
        const r = await callApi(d.socket, 'GET', `/images/${name}/attestations${query}`);
        assert.deepEqual([r.status, JSON.parse(r.body)], [501, { message: 'the legacy image store does not support attestations' }], `${name}${query}`);
      }
    }
  });

  test('dockerd\'s version gate and platform checks come first', async () => {
    for (const [path, message] of [
      ['/v1.51/images/busybox/attestations', 'GET /images/{name:.*}/attestations requires minimum API version 1.55'],
      ['/v1.24/images/busybox/attestations', 'GET /images/{name:.*}/attestations requires minimum API version 1.55'],
      ['/images/busybox/attestations?platform=a&platform=b', 'only one platform value is currently supported'],
      ['/images/busybox/attestations?platform=' + encodeURIComponent('{"os":"linux"}'), 'both OS and Architecture must be provided'],
      ['/images/busybox/attestations?platform=' + encodeURIComponent('{"variant":"v8"}'), 'optional platform fields provided, but OS and Architecture are missing'],
    ]) {
      const r = await callApi(d.socket, 'GET', path);
      assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message }], path);
    }
    const bad = await callApi(d.socket, 'GET', '/images/busybox/attestations?platform=nope');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /^failed to parse platform: /);
  });
});
