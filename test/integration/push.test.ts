// berth push (CLI and POST /images/{name}/push) to the CNCF distribution
// registry on loopback: what lands there is checked with skopeo and by a
// second daemon pulling it back; existence checks, cross-repository mounts,
// chunked uploads (seen through the fault proxy), all-tags pushes, the real
// docker CLI, and berth's own registry in token mode.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, zstdCompressSync } from 'node:zlib';
import { BERTH, DOCKER, TestDaemon, startSeededDaemon } from '../helpers/daemon.ts';
import { type CncfRegistry, runAsync, startCncfRegistry, startFaultProxy, writeHtpasswd } from '../helpers/registries.ts';
import { basic, hasBinary, http, image, pushImage, sha256, skopeo, startRegistry, tar } from '../registry/helpers.ts';

const SKIP = hasBinary('docker-registry') ? false : 'no docker-registry';

interface Inspect { Id: string; RepoTags: string[]; RepoDigests: string[]; RootFS: { Layers: string[] } }

describe('push to the CNCF registry', { skip: SKIP }, () => {
  let d: TestDaemon;
  let d2: TestDaemon;
  let reg: CncfRegistry;
  let work: string;
  const berth = (args: string[], o: { env?: NodeJS.ProcessEnv; input?: string } = {}) => runAsync(BERTH, ['-H', d.host, ...args], o);
  const berth2 = (args: string[]) => runAsync(BERTH, ['-H', d2.host, ...args]);
  const inspect = async (run: typeof berth, ref: string): Promise<Inspect> => {
    const r = await run(['image', 'inspect', ref]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Inspect[])[0];
  };
  before(async () => {
    d = await startSeededDaemon();
    d2 = new TestDaemon();
    await d2.start();
    reg = await startCncfRegistry();
    work = mkdtempSync('/tmp/berth-push-');
  });
  after(async () => {
    await d.destroy();
    await d2.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('push of a local image prints Docker\'s lines, skopeo sees a valid schema2 image, and the digest becomes a RepoDigest', async () => {
    assert.equal((await berth(['tag', 'busybox', `${reg.host}/bb:1`])).code, 0);
    const r = await berth(['push', `${reg.host}/bb:1`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.split('\n').filter(Boolean);
    const local = await inspect(berth, `${reg.host}/bb:1`);
    const id = local.RootFS.Layers[0].slice(7, 19);
    assert.equal(lines[0], `The push refers to repository [${reg.host}/bb]`);
    assert.deepEqual(lines.filter((l) => l.startsWith(`${id}: `)), [`${id}: Preparing`, `${id}: Pushed`]);
    const last = lines.at(-1) as string;
    const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/.exec(last);
    assert.ok(m, last);

    const insp = await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/bb:1`]);
    assert.equal(insp.status, 0, insp.stderr);
    assert.equal(sha256(insp.stdout), m[1], 'the manifest the registry serves is the one berth reported');
    assert.equal(Buffer.byteLength(insp.stdout), Number(m[2]));
    const manifest = JSON.parse(insp.stdout) as { mediaType: string; config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> };
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.config.digest, local.Id);
    assert.equal(manifest.layers[0].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');

    // Copy it out with skopeo: the gzip'd layer unpacks to exactly the layer berth has (its diff ID).
    const out = join(work, 'out1');
    const cp = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/bb:1`, `dir:${out}`]);
    assert.equal(cp.status, 0, cp.stderr);
    const blob = readFileSync(join(out, manifest.layers[0].digest.slice(7)));
    assert.equal(sha256(blob), manifest.layers[0].digest);
    assert.equal(sha256(gunzipSync(blob)), local.RootFS.Layers[0]);

    const after = await inspect(berth, `${reg.host}/bb:1`);
    assert.deepEqual(after.RepoDigests, [`${reg.host}/bb@${m[1]}`]);
  });

  test('pushing again finds every layer there; another repository of the same registry mounts it', async () => {
    const again = await berth(['push', `${reg.host}/bb:1`]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /: Layer already exists\n/);
    assert.doesNotMatch(again.stdout, /Pushed/);

    assert.equal((await berth(['tag', 'busybox', `${reg.host}/other/bb:2`])).code, 0);
    const other = await berth(['push', `${reg.host}/other/bb:2`]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /: Mounted from bb\n/);
    assert.doesNotMatch(other.stdout, /Pushed/);
  });

  test('round trip: a second daemon pulls what berth pushed and gets the same image ID, RepoDigest and layers', async () => {
    const layerTar = join(work, 'layer.tar');
    const exp = await runAsync('sh', ['-c', `mkdir -p ${work}/l && echo round-trip > ${work}/l/content.txt && tar -C ${work}/l -cf ${layerTar} .`]);
    assert.equal(exp.code, 0, exp.stderr);
    const imp = await berth(['import', layerTar, `${reg.host}/rt:v1`]);
    assert.equal(imp.code, 0, imp.stderr);
    const push = await berth(['push', `${reg.host}/rt:v1`]);
    assert.equal(push.code, 0, push.stderr);
    const digest = (/v1: digest: (sha256:[a-f0-9]{64})/.exec(push.stdout) ?? [])[1];
    assert.ok(digest, push.stdout);

    const pull = await berth2(['pull', `${reg.host}/rt:v1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`Digest: ${digest}`));
    const a = await inspect(berth, `${reg.host}/rt:v1`);
    const b = await inspect(berth2, `${reg.host}/rt:v1`);
    assert.equal(b.Id, a.Id);
    assert.deepEqual(b.RootFS.Layers, a.RootFS.Layers);
    assert.deepEqual(b.RepoDigests, [`${reg.host}/rt@${digest}`]);
    assert.deepEqual(a.RepoDigests, b.RepoDigests);
  });

  test('a pulled image is pushed with its original compressed blobs, mounted or uploaded, unchanged', async () => {
    const src = await berth2(['pull', `${reg.host}/rt:v1`]);
    assert.equal(src.code, 0, src.stderr);
    assert.equal((await berth2(['tag', `${reg.host}/rt:v1`, `${reg.host}/copy:v1`])).code, 0);
    const before = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/rt:v1`])).stdout) as { layers: Array<{ digest: string }> };
    const p = await berth2(['push', `${reg.host}/copy:v1`]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /Mounted from rt/);
    const copied = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/copy:v1`])).stdout) as { layers: Array<{ digest: string }> };
    assert.deepEqual(copied.layers.map((l) => l.digest), before.layers.map((l) => l.digest));

    // To another registry: the kept blobs are uploaded (one PUT each), byte for byte.
    const other = await startCncfRegistry();
    try {
      assert.equal((await berth2(['tag', `${reg.host}/rt:v1`, `${other.host}/rt:v1`])).code, 0);
      const up = await berth2(['push', `${other.host}/rt:v1`]);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stdout, /: Pushed\n/);
      const there = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${other.host}/rt:v1`])).stdout) as { layers: Array<{ digest: string }> };
      assert.deepEqual(there.layers.map((l) => l.digest), before.layers.map((l) => l.digest));
      const pulled = await berth(['pull', `${other.host}/rt:v1`]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal((await inspect(berth, `${other.host}/rt:v1`)).Id, (await inspect(berth, `${reg.host}/rt:v1`)).Id);
    } finally {
      await other.stop();
    }
  });

  test('an image with a zstd layer is pushed as an OCI manifest that keeps the zstd blob; it pulls back', async () => {
    const raw = tar({ 'z.txt': 'zstd pushed\n' });
    const z = zstdCompressSync(raw);
    const img = image([{ blob: { digest: sha256(z), bytes: z, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, diffId: sha256(raw) }], 'zstd');
    assert.equal((await pushImage(reg.url, 'zsrc', img, '1')).status, 201);
    assert.equal((await berth2(['pull', `${reg.host}/zsrc:1`])).code, 0);
    const other = await startCncfRegistry();
    try {
      assert.equal((await berth2(['tag', `${reg.host}/zsrc:1`, `${other.host}/z:1`])).code, 0);
      const p = await berth2(['push', `${other.host}/z:1`]);
      assert.equal(p.code, 0, p.stderr);
      const raw2 = await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${other.host}/z:1`]);
      assert.equal(raw2.status, 0, raw2.stderr);
      const m = JSON.parse(raw2.stdout) as { mediaType: string; config: { mediaType: string }; layers: Array<{ mediaType: string; digest: string }> };
      assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(m.config.mediaType, 'application/vnd.oci.image.config.v1+json');
      assert.deepEqual(m.layers.map((l) => [l.mediaType, l.digest]), [['application/vnd.oci.image.layer.v1.tar+zstd', sha256(z)]]);
      const back = await berth(['pull', `${other.host}/z:1`]);
      assert.equal(back.code, 0, back.stderr);
      assert.equal((await inspect(berth, `${other.host}/z:1`)).Id, img.config.digest);
    } finally {
      await other.stop();
    }
  });

  test('push without a tag uses latest; -a pushes every tag; -q prints only the reference; a missing image is an error', async () => {
    for (const t of ['a', 'b', 'latest']) assert.equal((await berth(['tag', 'busybox', `${reg.host}/multi:${t}`])).code, 0);
    const dflt = await berth(['push', `${reg.host}/multi`]);
    assert.equal(dflt.code, 0, dflt.stderr);
    assert.match(dflt.stdout, /^Using default tag: latest\n/);
    assert.match(dflt.stdout, /\nlatest: digest: sha256:/);
    assert.doesNotMatch(dflt.stdout, /\na: digest/);

    const all = await berth(['push', '-a', `${reg.host}/multi`]);
    assert.equal(all.code, 0, all.stderr);
    const digests = all.stdout.split('\n').filter((l) => /: digest: /.test(l)).map((l) => l.split(':')[0]);
    assert.deepEqual(digests, ['a', 'b', 'latest']);
    const tags = await http('GET', `${reg.url}/v2/multi/tags/list`);
    assert.deepEqual(tags.json<{ tags: string[] }>().tags.sort(), ['a', 'b', 'latest']);

    const q = await berth(['push', '-q', `${reg.host}/multi:a`]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, `${reg.host}/multi:a\n`);

    const missing = await berth(['push', `${reg.host}/nothing:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`An image does not exist locally with the tag: ${reg.host}/nothing`));
    const bad = await berth(['push', '-a', `${reg.host}/multi:a`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /tag can't be used with --all-tags\/-a/);
  });

  test('a layer bigger than a chunk goes up in several PATCHes with Content-Range', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const dir = join(work, 'big');
      const r = await runAsync('sh', ['-c', `mkdir -p ${dir}/r && head -c 48000000 /dev/urandom > ${dir}/r/big.bin && tar -C ${dir}/r -cf ${dir}/big.tar .`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await berth(['import', join(dir, 'big.tar'), `${proxy.host}/big:1`])).code, 0);
      const p = await berth(['push', `${proxy.host}/big:1`]);
      assert.equal(p.code, 0, p.stderr);
      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      assert.ok(patches.length >= 2, `PATCHes: ${patches.length}`);
      assert.deepEqual(patches.map((s) => s.headers['content-range']).slice(0, 1), [`0-${33554431}`]);
      const out = join(work, 'bigout');
      const cp = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/big:1`, `dir:${out}`]);
      assert.equal(cp.status, 0, cp.stderr);
      const digest = (/1: digest: (sha256:[a-f0-9]{64})/.exec(p.stdout) ?? [])[1];
      const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
      assert.equal(sha256(readFileSync(join(out, 'manifest.json'))), digest);
      assert.ok(readdirSync(out).includes(m.layers[0].digest.slice(7)));
    } finally {
      await proxy.stop();
    }
  });

  test('the real docker CLI pushes and pulls through the berth daemon', { skip: DOCKER ? false : 'no docker CLI' }, async () => {
    const env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(work, 'dockercfg') };
    assert.equal((await berth(['tag', 'busybox', `${reg.host}/dk:1`])).code, 0);
    const push = await runAsync(DOCKER as string, ['push', `${reg.host}/dk:1`], { env });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`The push refers to repository \\[${reg.host}/dk\\]`));
    assert.match(push.stdout, /: (Pushed|Layer already exists|Mounted from \S+)\n/);
    assert.match(push.stdout, /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    const env2 = { ...env, DOCKER_HOST: d2.host };
    const pull = await runAsync(DOCKER as string, ['pull', `${reg.host}/dk:1`], { env: env2 });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/dk:1`));
  });
});

describe('push to berth\'s registry with token auth', () => {
  let d: TestDaemon;
  let work: string;
  const PASS = { alice: 'alice-pw-1' };

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-push-tok-');
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('login gets a token, push asks for pull,push and mounts across repositories the user may read', async () => {
    writeFileSync(join(work, 'token.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const reg = await startRegistry({
      log: { level: 'warn' },
      auth: { token: { service: 'push-test', issuer: 'push-test-issuer', signingkey: join(work, 'token.key'), htpasswd: writeHtpasswd(work, PASS), expiration: 60, autoredirect: true } },
      access: { repositories: [{ match: 'alice/**', users: { alice: ['pull', 'push'] } }] },
    });
    try {
      const host = `localhost:${new URL(reg.url).port}`;
      const env = { ...process.env, DOCKER_CONFIG: join(work, 'cfg') };
      const berth = (args: string[], input?: string) => runAsync(BERTH, ['-H', d.host, ...args], { env, input });
      assert.equal((await berth(['tag', 'busybox', `${host}/alice/one:1`])).code, 0);
      const denied = await berth(['push', `${host}/alice/one:1`]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /unauthorized|denied/);

      const bad = await berth(['login', '-u', 'alice', '--password-stdin', host], 'wrong');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Error response from daemon: .*unauthorized/);
      const ok = await berth(['login', '-u', 'alice', '--password-stdin', host], PASS.alice + '\n');
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'Login Succeeded\n');

      const p1 = await berth(['push', `${host}/alice/one:1`]);
      assert.equal(p1.code, 0, p1.stderr);
      assert.match(p1.stdout, /Pushed/);
      assert.equal((await berth(['tag', 'busybox', `${host}/alice/two:1`])).code, 0);
      const p2 = await berth(['push', `${host}/alice/two:1`]);
      assert.equal(p2.code, 0, p2.stderr);
      assert.match(p2.stdout, /Mounted from alice\/one/);
      const tok = await http('GET', `${reg.url}/auth/token?service=push-test&scope=repository:alice/two:pull`, { headers: basic('alice', PASS.alice) });
      const m = await http('GET', `${reg.url}/v2/alice/two/manifests/1`, { headers: { Authorization: `Bearer ${tok.json<{ token: string }>().token}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
      assert.equal(m.status, 200);
    } finally {
      await reg.stop();
    }
  });
});
