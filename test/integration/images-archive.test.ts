// save and load: berth's archives read by skopeo and the docker CLI, skopeo's
// archives (docker-archive and oci-archive) read by berth, compressed input,
// and hostile archives that must fail cleanly and leave nothing behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import tarStream from 'tar-stream';
import { DOCKER, busyboxTarPath, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar } from '../helpers/tar.ts';
import { hasBinary, image, layer, sha256, skopeo, tar, writeOciLayout } from '../registry/helpers.ts';


/** Entry names and contents of a tar. */
async function readTar(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => { ex.on('finish', resolve); ex.on('error', reject); });
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    stream.on('end', () => { out.set(h.name, Buffer.concat(chunks)); next(); });
  });
  ex.end(buf);
  await done;
  return out;
}

describe('image save and load', () => {
  let d: TestDaemon;
  let work: string;
  let busyboxId: string;
  const snapshots = () => readdirSync(join(d.dataRoot, 'overlay2/snapshots')).length;
  const imageIds = () => d.berth(['images', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean).sort();

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-archive-');
    busyboxId = d.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim();
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('save writes Docker 25+\'s layout: manifest.json, repositories, and an OCI index over the same blobs', async () => {
    assert.equal(d.berth(['tag', 'busybox', 'example.com/team/bb:v1']).code, 0);
    const file = join(work, 'two.tar');
    const r = d.berth(['save', '-o', file, 'busybox', 'example.com/team/bb:v1']);
    assert.equal(r.code, 0, r.stderr);
    const files = await readTar(readFileSync(file));
    for (const f of ['manifest.json', 'index.json', 'oci-layout', 'repositories', `blobs/sha256/${busyboxId.slice(7)}`]) assert.ok(files.has(f), `${f} in the archive`);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.equal(manifest.length, 1);
    assert.deepEqual(manifest[0].RepoTags.sort(), ['busybox:latest', 'example.com/team/bb:v1']);
    assert.equal(manifest[0].Config, `blobs/sha256/${busyboxId.slice(7)}`);
    const [diffId] = JSON.parse(d.berth(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'busybox']).stdout) as string[];
    assert.deepEqual(manifest[0].Layers, [`blobs/sha256/${diffId.slice(7)}`]);
    assert.equal(sha256(files.get(manifest[0].Layers[0])!), diffId, 'the layer tar is the uncompressed layer');
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => m.annotations['io.containerd.image.name']).sort(), ['docker.io/library/busybox:latest', 'example.com/team/bb:v1']);
    const oci = files.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!;
    assert.equal(sha256(oci), index.manifests[0].digest);
    assert.deepEqual(JSON.parse(files.get('repositories')!.toString()), { busybox: { latest: diffId.slice(7) }, 'example.com/team/bb': { v1: diffId.slice(7) } });
    d.berth(['rmi', 'example.com/team/bb:v1']);
  });

  test('skopeo reads berth\'s archive both as docker-archive and as OCI layout', { skip: !hasBinary('skopeo') }, async () => {
    const file = join(work, 'bb.tar');
    assert.equal(d.berth(['save', '-o', file, 'busybox']).code, 0);
    const asDocker = await skopeo(['inspect', '--config', `docker-archive:${file}`]);
    assert.equal(asDocker.status, 0, asDocker.stderr);
    assert.equal(sha256(asDocker.stdout.trim()) === busyboxId || JSON.parse(asDocker.stdout).rootfs.type === 'layers', true);
    const dir = join(work, 'from-berth-oci');
    const c = await skopeo(['copy', `docker-archive:${file}`, `oci:${dir}:copied`]);
    assert.equal(c.status, 0, c.stderr);
    const files = await readTar(readFileSync(file));
    const ociDir = join(work, 'berth-as-oci');
    for (const [name, data] of files) {
      if (name.endsWith('/')) continue;
      const p = join(ociDir, name);
      spawnSync('mkdir', ['-p', join(p, '..')]);
      writeFileSync(p, data);
    }
    const asOci = await skopeo(['inspect', `oci:${ociDir}`]);
    assert.equal(asOci.status, 0, asOci.stderr);
  });

  test('rmi, then load from -i, from stdin and compressed: same image ID, Docker\'s messages', async () => {
    const file = join(work, 'bb.tar');
    assert.equal(d.berth(['save', '-o', file, 'busybox']).code, 0);
    const plain = readFileSync(file);
    d.berth(['tag', 'busybox', 'keep:1']);
    assert.equal(d.berth(['rmi', 'busybox']).code, 0);
    const r = d.berth(['load', '-i', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Loaded image: busybox:latest\n');
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim(), busyboxId);
    const compressed: [string, Buffer][] = [
      ['gzip', gzipSync(plain)],
      ['zstd', zstdCompressSync(plain)],
      ['xz', spawnSync('xz', ['-c'], { input: plain, maxBuffer: 1 << 28 }).stdout],
      ['bzip2', spawnSync('bzip2', ['-c'], { input: plain, maxBuffer: 1 << 28 }).stdout],
    ];
    for (const [name, data] of compressed) {
      assert.equal(d.berth(['rmi', 'keep:1']).code, 0);
      assert.equal(d.berth(['rmi', 'busybox']).code, 0, `${name}: rmi`);
      assert.equal(d.berth(['image', 'inspect', 'busybox']).code, 1);
      const l = d.berth(['load'], { input: data });
      assert.equal(l.code, 0, `${name}: ${l.stderr}`);
      assert.equal(l.stdout, 'Loaded image: busybox:latest\n', name);
      d.berth(['tag', 'busybox', 'keep:1']);
    }
    assert.equal(d.berth(['run', '--rm', 'busybox', 'echo', 'loaded']).stdout, 'loaded\n');
    d.berth(['rmi', 'keep:1']);
  });

  test('an image whose layer is stored compressed saves its uncompressed tar, which loads back', async () => {
    const gz = gzipSync(readFileSync(busyboxTarPath()));
    const imp = d.berth(['import', '-c', 'CMD ["sh"]', '-m', 'gzipped', '-', 'gz:1'], { input: gz });
    assert.equal(imp.code, 0, imp.stderr);
    const file = join(work, 'gz.tar');
    assert.equal(d.berth(['save', '-o', file, 'gz:1']).code, 0);
    const files = await readTar(readFileSync(file));
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as { Layers: string[] }[];
    const [diffId] = JSON.parse(d.berth(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'gz:1']).stdout) as string[];
    assert.equal(sha256(files.get(manifest[0].Layers[0])!), diffId);
    const gzId = d.berth(['image', 'inspect', '-f', '{{.Id}}', 'gz:1']).stdout.trim();
    assert.equal(d.berth(['rmi', 'gz:1']).code, 0);
    assert.equal(d.berth(['load', '-i', file]).stdout, 'Loaded image: gz:1\n');
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Id}}', 'gz:1']).stdout.trim(), gzId);
    assert.equal(d.berth(['run', '--rm', 'gz:1', 'echo', 'ok']).stdout, 'ok\n');
    d.berth(['rmi', 'gz:1']);
  });

  test('a tag moved by load is reported as Docker does; an image saved by ID loads untagged', () => {
    const other = d.berth(['import', '-c', 'CMD ["sh"]', '-m', 'another', join(work, 'bb.tar'), 'othertag:1']);
    assert.equal(other.code, 0, other.stderr);
    const byId = join(work, 'byid.tar');
    assert.equal(d.berth(['save', '-o', byId, busyboxId.slice(7, 19)]).code, 0);
    const file = join(work, 'bb.tar');
    d.berth(['tag', 'othertag:1', 'busybox:latest']);
    const otherId = d.berth(['image', 'inspect', '-f', '{{.Id}}', 'othertag:1']).stdout.trim();
    const r = d.berth(['load', '-i', file]);
    assert.equal(r.stdout, `The image busybox:latest already exists, renaming the old one with ID ${otherId} to empty string\nLoaded image: busybox:latest\n`);
    const u = d.berth(['load', '-i', byId]);
    assert.equal(u.stdout, `Loaded image ID: ${busyboxId}\n`);
    d.berth(['rmi', 'othertag:1']);
  });

  test('the docker CLI: docker save -o, docker save | docker load, docker load -i', { skip: !DOCKER }, () => {
    const file = join(work, 'docker.tar');
    const s = d.docker(['save', '-o', file, 'busybox']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(d.docker(['rmi', 'busybox']).stdout, new RegExp(`^Untagged: busybox:latest\nDeleted: ${busyboxId}\nDeleted: sha256:[a-f0-9]{64}\n$`), 'the image and its layer');
    const l = d.docker(['load', '-i', file]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(l.stdout, 'Loaded image: busybox:latest\n');
    const piped = spawnSync('bash', ['-c', `set -o pipefail; ${DOCKER} save busybox | ${DOCKER} load`], { env: d.env, encoding: 'utf8' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stdout, 'Loaded image: busybox:latest\n');
    const none = d.docker(['save', '-o', join(work, 'none.tar'), 'nosuch:1']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No such image: nosuch:1/);
  });

  test('python3-docker: images.get().save() and images.load()', { skip: spawnSync('python3', ['-c', 'import docker']).status !== 0 }, () => {
    const py = `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
data = b''.join(c.images.get('busybox').save())
imgs = c.images.load(data)
print(','.join(sorted(t for i in imgs for t in i.tags)))
print(len([i for i in c.images.list() if 'busybox:latest' in i.tags]))
`;
    const r = spawnSync('python3', ['-c', py, d.host], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'busybox:latest\n1\n');
  });

  test('dockerode: getImage().get() and loadImage(), listImages() and history()', async () => {
    const docker = new Docker({ socketPath: d.socket });
    const chunks: Buffer[] = [];
    for await (const c of await docker.getImage('busybox').get()) chunks.push(c as Buffer);
    const files = await readTar(Buffer.concat(chunks));
    assert.ok(files.has('manifest.json') && files.has('index.json'));
    const res = await docker.loadImage(Readable.from([Buffer.concat(chunks)]));
    let body = '';
    for await (const c of res) body += String(c);
    assert.equal(body, '{"stream":"Loaded image: busybox:latest\\n"}\n');
    const list = await docker.listImages({ filters: { reference: ['busybox'] } });
    assert.deepEqual(list.map((i) => i.RepoTags), [['busybox:latest']]);
    const hist = await docker.getImage('busybox').history() as { Id: string; Comment: string }[];
    assert.equal(hist[0].Id, busyboxId);
  });

  test('archives made by skopeo load: docker-archive and oci-archive', { skip: !hasBinary('skopeo') }, async () => {
    const img = image([layer({ 'hello.txt': 'from skopeo\n' }), layer({ 'bin/': '', 'second.txt': 'two\n' })], 'skopeo-made');
    const dir = join(work, 'oci-src');
    writeOciLayout(dir, img, 'v1');
    const docker = join(work, 'skopeo-docker.tar');
    const oci = join(work, 'skopeo-oci.tar');
    assert.equal((await skopeo(['copy', `oci:${dir}:v1`, `docker-archive:${docker}:skopeo/img:v1`])).status, 0);
    assert.equal((await skopeo(['copy', `oci:${dir}:v1`, `oci-archive:${oci}:skopeo/oci:v2`])).status, 0);
    const a = d.berth(['load', '-i', docker]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, 'Loaded image: skopeo/img:v1\n');
    const b = d.berth(['load', '-i', oci]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, 'Loaded image: skopeo/oci:v2\n');
    const ids = ['skopeo/img:v1', 'skopeo/oci:v2'].map((t) => d.berth(['image', 'inspect', '-f', '{{.Id}}', t]).stdout.trim());
    assert.equal(ids[0], img.config.digest);
    assert.equal(ids[1], img.config.digest);
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Config.Labels.note}}', 'skopeo/img:v1']).stdout, 'skopeo-made\n');
    // berth's save of it goes back through skopeo to an OCI dir with the same config.
    const back = join(work, 'back.tar');
    assert.equal(d.berth(['save', '-o', back, 'skopeo/img:v1']).code, 0);
    const cfg = await skopeo(['inspect', '--raw', '--config', `docker-archive:${back}`]);
    assert.equal(cfg.status, 0, cfg.stderr);
    assert.equal(sha256(cfg.stdout), img.config.digest);
    d.berth(['rmi', 'skopeo/img:v1', 'skopeo/oci:v2']);
  });

  describe('hostile archives fail with a clear error and leave nothing', () => {
    const config = (diffIds: string[]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const goodLayer = tar({ 'pwned.txt': 'x' });
    const cases: [string, () => Promise<Buffer>, RegExp][] = [
      ['a ../ entry', () => makeTar([{ name: '../../../../tmp/berth-load-escape', content: 'x' }, { name: 'manifest.json', content: '[]' }]), /invalid archive: entry "\.\.\/\.\.\/\.\.\/\.\.\/tmp\/berth-load-escape" points outside the archive/],
      ['an absolute symlink', () => makeTar([{ name: 'manifest.json', type: 'symlink', linkname: '/etc/passwd' }]), /invalid archive: symlink "manifest.json" has an absolute target \(\/etc\/passwd\)/],
      ['a symlink climbing out', () => makeTar([{ name: 'manifest.json', type: 'symlink', linkname: '../../../../etc/passwd' }]), /invalid archive: symlink "manifest.json" target .* points outside the archive/],
      ['a hard link escaping', () => makeTar([{ name: 'manifest.json', type: 'link', linkname: '../../../../etc/passwd' }]), /invalid archive: hard link "manifest.json" target .* points outside the archive/],
      ['manifest.json naming a file outside', () => makeTar([{ name: 'manifest.json', content: JSON.stringify([{ Config: '../../../../etc/passwd', RepoTags: ['evil:1'], Layers: [] }]) }]), /invalid archive: path "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" points outside the archive/],
      ['manifest.json naming a missing layer', () => {
        const cfg = config([sha256(goodLayer)]);
        return makeTar([{ name: 'c.json', content: cfg }, { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['evil:1'], Layers: ['nope/layer.tar'] }]) }]);
      }, /invalid archive: manifest.json names "nope\/layer.tar", which is not in the archive/],
      ['a layer whose digest does not match the config', () => {
        const cfg = config([sha256(goodLayer), sha256('something else')]);
        return makeTar([
          { name: 'c.json', content: cfg }, { name: 'l1.tar', content: goodLayer }, { name: 'l2.tar', content: tar({ 'other.txt': 'y' }) },
          { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['evil:1'], Layers: ['l1.tar', 'l2.tar'] }]) },
        ]);
      }, /invalid archive: layer l2.tar: digest mismatch: the image config names sha256:[a-f0-9]{64}, the layer is sha256:[a-f0-9]{64}/],
      ['an OCI blob whose content does not match its digest', async () => {
        const cfg = config([sha256(goodLayer)]);
        const fake = 'sha256:' + 'ab'.repeat(32);
        const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: fake, size: goodLayer.length }] }));
        return makeTar([
          { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
          { name: `blobs/sha256/${sha256(cfg).slice(7)}`, content: cfg },
          { name: `blobs/sha256/${fake.slice(7)}`, content: goodLayer },
          { name: `blobs/sha256/${sha256(manifest).slice(7)}`, content: manifest },
          { name: 'index.json', content: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/library/evil:1' } }] }) },
        ]);
      }, /invalid archive: layer blobs\/sha256\/abab.*: digest mismatch: the manifest names sha256:abab.*, the blob is sha256:/],
      ['not an image archive', () => makeTar([{ name: 'hello.txt', content: 'hi' }]), /invalid archive: neither manifest.json nor index.json found/],
    ];
    for (const [what, build, message] of cases) {
      test(what, async () => {
        const beforeSnaps = snapshots();
        const beforeIds = imageIds();
        const blobs = () => readdirSync(join(d.dataRoot, 'image/blobs/sha256')).sort();
        const beforeBlobs = blobs();
        const r = d.berth(['load'], { input: await build() });
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stderr, message);
        assert.equal(d.berth(['image', 'inspect', 'evil:1']).code, 1);
        assert.deepEqual(imageIds(), beforeIds, 'no image added');
        assert.equal(snapshots(), beforeSnaps, 'no layer left behind');
        assert.deepEqual(blobs(), beforeBlobs, 'no blob left behind');
        assert.deepEqual(readdirSync(join(d.dataRoot, 'image/ingest')), [], 'no staging left behind');
        assert.equal(readdirSync('/tmp').some((f) => f.startsWith('berth-load-escape')), false);
        if (DOCKER) {
          const viaDocker = d.docker(['load'], { input: await build() });
          assert.equal(viaDocker.code, 1);
          assert.match(viaDocker.stderr, message);
        }
      });
    }
  });
});

describe('a daemon killed during a load', () => {
  test('restarts with a consistent store: no image, no layer, no staging left; the load then succeeds', async () => {
    const d = await startSeededDaemon();
    const work = mkdtempSync('/tmp/berth-load-crash-');
    try {
      // Three 40 MiB layers of random bytes: long enough to kill the daemon mid-way.
      const layers = [0, 1, 2].map((i) => tar({ [`big${i}.bin`]: randomBytes(40 << 20) }));
      const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) } }));
      const archive = join(work, 'big.tar');
      writeFileSync(archive, await makeTar([
        { name: 'c.json', content: cfg },
        ...layers.map((l, i) => ({ name: `l${i}.tar`, content: l })),
        { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['big:1'], Layers: ['l0.tar', 'l1.tar', 'l2.tar'] }]) },
      ]));
      const snaps = () => readdirSync(join(d.dataRoot, 'overlay2/snapshots')).length;
      const before = snaps();
      const loader = d.spawnBerth(['load', '-i', archive], { stdio: 'ignore' });
      // Kill once the first layer is being unpacked (a new snapshot appears).
      for (let i = 0; i < 600 && snaps() === before; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 150));
      await d.crash();
      loader.kill('SIGKILL');
      await d.start();
      assert.equal(d.berth(['image', 'inspect', 'big:1']).code, 1);
      assert.equal(snaps(), before, `partial layers were collected: ${readdirSync(join(d.dataRoot, 'overlay2/metadata')).map((n) => readFileSync(join(d.dataRoot, 'overlay2/metadata', n), 'utf8')).join(' ')}`);
      assert.deepEqual(readdirSync(join(d.dataRoot, 'image/ingest')), [], 'staging swept');
      const r = d.berth(['load', '-i', archive]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Loaded image: big:1\n');
      assert.equal(d.berth(['run', '--rm', 'busybox', 'true']).code, 0);
    } finally {
      await d.destroy();
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('archives in the older docker save layout, and hostile layers inside a valid archive', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('pre-25 layout: <id>/layer.tar with a relative symlink for a layer two images share', async () => {
    const base = tar({ 'shared.txt': 'shared\n' });
    const top = tar({ 'own.txt': 'own\n' });
    const cfg = (diffIds: string[], note: string) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { note } }, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const c1 = cfg([sha256(base)], 'one');
    const c2 = cfg([sha256(base), sha256(top)], 'two');
    const archive = await makeTar([
      { name: 'aaaa/', type: 'directory' },
      { name: 'aaaa/layer.tar', content: base },
      { name: 'aaaa/VERSION', content: '1.0' },
      { name: 'bbbb/', type: 'directory' },
      { name: 'bbbb/layer.tar', type: 'symlink', linkname: '../aaaa/layer.tar' },
      { name: 'cccc/layer.tar', content: top },
      { name: `${sha256(c1).slice(7)}.json`, content: c1 },
      { name: `${sha256(c2).slice(7)}.json`, content: c2 },
      { name: 'manifest.json', content: JSON.stringify([
        { Config: `${sha256(c1).slice(7)}.json`, RepoTags: ['old/one:1'], Layers: ['aaaa/layer.tar'] },
        { Config: `${sha256(c2).slice(7)}.json`, RepoTags: ['old/two:1', 'old/two:latest'], Layers: ['bbbb/layer.tar', 'cccc/layer.tar'] },
      ]) },
      { name: 'repositories', content: '{}' },
    ]);
    const r = d.berth(['load'], { input: archive });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Loaded image: old/one:1\nLoaded image: old/two:1\nLoaded image: old/two:latest\n');
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Id}} {{len .RootFS.Layers}}', 'old/two']).stdout, `${sha256(c2)} 2\n`);
  });

  test('the same layer tar on two parents: removing one image keeps the blob the other saves from', async () => {
    const shared = tar({ 'same.txt': 'same\n' });
    const other = tar({ 'other.txt': 'other\n' });
    const cfg = (diffIds: string[]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const a = cfg([sha256(shared)]);
    const b = cfg([sha256(other), sha256(shared)]);
    const archive = await makeTar([
      { name: 'a.json', content: a }, { name: 'b.json', content: b }, { name: 'shared.tar', content: shared }, { name: 'other.tar', content: other },
      { name: 'manifest.json', content: JSON.stringify([{ Config: 'a.json', RepoTags: ['twice:a'], Layers: ['shared.tar'] }, { Config: 'b.json', RepoTags: ['twice:b'], Layers: ['other.tar', 'shared.tar'] }]) },
    ]);
    assert.equal(d.berth(['load'], { input: archive }).code, 0);
    assert.equal(d.berth(['rmi', 'twice:a']).code, 0);
    const r = d.berth(['save', '-o', '/dev/null', 'twice:b']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(statSync('/dev/null').isCharacterDevice(), 'save -o into a device writes into it, it does not replace it');
    d.berth(['rmi', 'twice:b']);
  });

  test('a layer with ../ names and an absolute symlink writes nothing outside its layer', async () => {
    const evil = await makeTar([
      { name: '../../../../../../tmp/berth-layer-escape', content: 'x' },
      { name: 'link', type: 'symlink', linkname: '/tmp' },
      { name: 'link/berth-layer-escape-link', content: 'x' },
    ]);
    const c = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(evil)] } }));
    const archive = await makeTar([{ name: 'c.json', content: c }, { name: 'l.tar', content: evil }, { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['evil:layer'], Layers: ['l.tar'] }]) }]);
    const r = d.berth(['load'], { input: archive });
    assert.equal(readdirSync('/tmp').some((f) => f.startsWith('berth-layer-escape')), false, 'nothing written outside');
    if (r.code !== 0) {
      assert.match(r.stderr, /\S/);
      assert.equal(d.berth(['image', 'inspect', 'evil:layer']).code, 1, 'a refused layer leaves no image');
    }
  });
});
