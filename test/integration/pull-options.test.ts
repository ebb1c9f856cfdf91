// pull -a/--all-tags, --platform and -q against the CNCF registry, with a
// multi-platform index placed by skopeo (copy --all from an OCI layout).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BERTH, DOCKER, busyboxTarPath, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { type CncfRegistry, runAsync, startCncfRegistry } from '../helpers/registries.ts';
import { OCI_INDEX, OCI_LAYER, OCI_MANIFEST, type Blob, type Image, hasBinary, image, layer, pushImage, sha256, skopeo } from '../registry/helpers.ts';

const SKIP = !hasBinary('docker-registry') ? 'no docker-registry' : !hasBinary('skopeo') ? 'no skopeo' : false;

function imageFor(arch: string, layers: Array<{ blob: Blob; diffId: string }>, note: string): Image {
  return image(layers, note, { arch, cmd: ['sh'] });
}

/** An OCI layout whose `tag` is an index over the given images (platform linux/<arch>). */
function writeIndexLayout(dir: string, images: Array<{ img: Image; arch: string }>, tag: string): Buffer {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const { img } of images) {
    for (const b of [img.config, ...img.layers]) writeFileSync(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes);
    writeFileSync(join(dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), img.manifest);
  }
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: images.map(({ img, arch }) => ({ mediaType: OCI_MANIFEST, digest: img.manifestDigest, size: img.manifest.length, platform: { os: 'linux', architecture: arch } })),
  }));
  writeFileSync(join(dir, 'blobs', 'sha256', sha256(index).slice(7)), index);
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: OCI_INDEX, digest: sha256(index), size: index.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return index;
}

describe('pull options', { skip: SKIP }, () => {
  let d: TestDaemon;
  let reg: CncfRegistry;
  let work: string;
  const raw = readFileSync(busyboxTarPath());
  const gz = gzipSync(raw);
  const bb = { blob: { digest: sha256(gz), bytes: gz, mediaType: OCI_LAYER }, diffId: sha256(raw) };
  const berth = (args: string[]) => runAsync(BERTH, ['-H', d.host, ...args]);

  before(async () => {
    d = await startSeededDaemon();
    reg = await startCncfRegistry();
    work = mkdtempSync('/tmp/berth-pullopt-');
  });
  after(async () => {
    await d.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('--platform picks that entry of an index skopeo placed; a platform the index lacks is Docker\'s error', async () => {
    const amd = imageFor('amd64', [bb, layer({ 'arch.txt': 'amd64\n' })], 'amd64');
    const arm = imageFor('arm64', [layer({ 'arch.txt': 'arm64\n' })], 'arm64');
    const dir = join(work, 'index');
    const index = writeIndexLayout(dir, [{ img: amd, arch: 'amd64' }, { img: arm, arch: 'arm64' }], 'both');
    const cp = await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${dir}:both`, `docker://${reg.host}/plat:both`]);
    assert.equal(cp.status, 0, cp.stderr);

    const r = await berth(['pull', '--platform', 'linux/arm64', `${reg.host}/plat:both`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Digest: ${sha256(index)}`));
    const info = JSON.parse((await berth(['image', 'inspect', `${reg.host}/plat:both`])).stdout) as Array<{ Id: string; Architecture: string }>;
    assert.equal(info[0].Id, arm.config.digest);
    assert.equal(info[0].Architecture, 'arm64');

    const none = await berth(['pull', '--platform', 'linux/s390x', `${reg.host}/plat:both`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
  });

  test('-a pulls every tag of the repository; -q prints only the name', async () => {
    for (const t of ['1', '2', '3']) {
      const img = imageFor('amd64', [bb, layer({ 'tag.txt': `tag ${t}\n` })], t);
      assert.equal((await pushImage(reg.url, 'alltags', img, t)).status, 201);
    }
    const r = await berth(['pull', '-a', `${reg.host}/alltags`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.deepEqual(lines.filter((l) => / Pulling from /.test(l)), ['1: Pulling from alltags', '2: Pulling from alltags', '3: Pulling from alltags']);
    assert.deepEqual(lines.slice(-2), [`Status: Downloaded newer image for ${reg.host}/alltags`, `${reg.host}/alltags`]);
    const ls = await berth(['images', '--format', '{{.Tag}}', `${reg.host}/alltags`]);
    assert.deepEqual(ls.stdout.split('\n').filter(Boolean).sort(), ['1', '2', '3']);
    for (const t of ['1', '3']) {
      const cat = await berth(['run', '--rm', `${reg.host}/alltags:${t}`, 'cat', '/tag.txt']);
      assert.equal(cat.stdout, `tag ${t}\n`, cat.stderr);
    }
    const again = await berth(['pull', '-a', '-q', `${reg.host}/alltags`]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `${reg.host}/alltags\n`);
    const bad = await berth(['pull', '-a', `${reg.host}/alltags:1`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /tag can't be used with --all-tags\/-a/);
  });

  test('the real docker CLI pulls all tags through berth', { skip: DOCKER ? false : 'no docker CLI' }, async () => {
    assert.equal((await berth(['rmi', `${reg.host}/alltags:1`, `${reg.host}/alltags:2`, `${reg.host}/alltags:3`])).code, 0);
    const r = await runAsync(DOCKER as string, ['pull', '-a', `${reg.host}/alltags`], { env: { ...process.env, DOCKER_HOST: d.host } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/alltags`));
    const ls = await berth(['images', '--format', '{{.Tag}}', `${reg.host}/alltags`]);
    assert.deepEqual(ls.stdout.split('\n').filter(Boolean).sort(), ['1', '2', '3']);
  });
});
