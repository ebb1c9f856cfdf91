// Interoperability with a real client: skopeo copies images into and out of
// the registry over plain HTTP, HTTPS, with htpasswd credentials and through
// the bearer token flow.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import {
  startRegistry, launch, http, randomImage, writeOciLayout, skopeo, hasBinary, tempDir, cleanup, type Image, sleep,
  layer, image, tar, sha256, OCI_LAYER,
} from './helpers.ts';

const HAVE_SKOPEO = hasBinary('skopeo');
const skip = HAVE_SKOPEO ? false : 'skopeo is not installed';

/** Reads what skopeo wrote to an OCI layout: the manifest and every blob, by digest. */
function readLayout(dir: string): { manifest: Buffer; blobs: Map<string, Buffer> } {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blob = (d: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
  const manifest = blob(index.manifests[0].digest);
  const m = JSON.parse(manifest.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const blobs = new Map<string, Buffer>();
  for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) blobs.set(d, blob(d));
  return { manifest, blobs };
}

function assertSameImage(dir: string, img: Image): void {
  const got = readLayout(dir);
  assert.ok(got.manifest.equals(img.manifest), 'manifest bytes round-trip');
  for (const b of [img.config, ...img.layers]) assert.ok(got.blobs.get(b.digest)?.equals(b.bytes), `blob ${b.digest} round-trips`);
}

describe('skopeo interoperability', { skip }, () => {
  let work: string;
  before(() => { work = tempDir('berth-skopeo-'); });
  after(() => cleanup(work));

  it('copies an image in and out over plain HTTP, and between repositories', async () => {
    const reg = await startRegistry({}, { dir: work });
    try {
      const img = randomImage(3, 50_000);
      const src = join(work, 'src-plain');
      writeOciLayout(src, img, 'v1');
      const push = await skopeo(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/team/app:v1`]);
      assert.equal(push.status, 0, push.stderr);
      const inspect = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/team/app:v1`]);
      assert.equal(inspect.status, 0, inspect.stderr);
      assert.equal(inspect.stdout, img.manifest.toString());
      const out = join(work, 'out-plain');
      const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/team/app:v1`, `oci:${out}:v1`]);
      assert.equal(pull.status, 0, pull.stderr);
      assertSameImage(out, img);
      // Registry to registry in the same registry: skopeo mounts the blobs across repositories.
      const copy = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/team/app:v1`, `docker://${reg.host}/other/app:copy`]);
      assert.equal(copy.status, 0, copy.stderr);
      await sleep(100);
      assert.match(reg.output(), /method=POST uri="\/v2\/other\/app\/blobs\/uploads\/\?[^"]*mount=sha256%3A[a-f0-9]{64}[^"]*" status=201/);
      const tags = await skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/other/app`]);
      assert.deepEqual(JSON.parse(tags.stdout).Tags, ['copy']);
    } finally {
      await reg.stop();
    }
  });

  it('requires credentials with htpasswd auth and reports denied pushes', async () => {
    const ht = join(work, 'htpasswd');
    writeFileSync(ht, `alice:${bcrypt.hashSync('alice-pw', 5)}\nbob:${bcrypt.hashSync('bob-pw', 5)}\n`);
    const reg = await startRegistry({
      auth: { htpasswd: { realm: 'r', path: ht } },
      access: { repositories: [{ match: '**', users: { alice: ['*'], bob: ['pull'] } }] },
    }, { dir: work });
    try {
      const img = randomImage(2, 20_000);
      const src = join(work, 'src-auth');
      writeOciLayout(src, img, 'v1');
      const anon = await skopeo(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/secure/app:v1`]);
      assert.notEqual(anon.status, 0);
      assert.match(anon.stderr, /unauthorized|authentication required/i);
      const wrong = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:nope', `oci:${src}:v1`, `docker://${reg.host}/secure/app:v1`]);
      assert.notEqual(wrong.status, 0);
      const bob = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'bob:bob-pw', `oci:${src}:v1`, `docker://${reg.host}/secure/app:v1`]);
      assert.notEqual(bob.status, 0);
      assert.match(bob.stderr, /denied/i);
      const ok = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${src}:v1`, `docker://${reg.host}/secure/app:v1`]);
      assert.equal(ok.status, 0, ok.stderr);
      const out = join(work, 'out-auth');
      const pull = await skopeo(['copy', '--src-tls-verify=false', '--src-creds', 'bob:bob-pw', `docker://${reg.host}/secure/app:v1`, `oci:${out}:v1`]);
      assert.equal(pull.status, 0, pull.stderr);
      assertSameImage(out, img);
      assert.ok(!reg.output().includes('alice-pw') && !reg.output().includes('bob-pw'), 'passwords stay out of the log');
    } finally {
      await reg.stop();
    }
  });

  it('works through the bearer token flow, including anonymous pulls of public repositories', async () => {
    const ht = join(work, 'htpasswd-token');
    writeFileSync(ht, `alice:${bcrypt.hashSync('alice-pw', 5)}\n`);
    writeFileSync(join(work, 'token.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const reg = await startRegistry({
      auth: { token: { service: 'reg', issuer: 'berth', signingkey: join(work, 'token.key'), htpasswd: ht, autoredirect: true } },
      access: { repositories: [{ match: 'public/*', anonymous: ['pull'] }, { match: '**', users: { alice: ['*'] } }] },
    }, { dir: work });
    try {
      const img = randomImage(2, 30_000);
      const src = join(work, 'src-token');
      writeOciLayout(src, img, 'v1');
      const anon = await skopeo(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/public/app:v1`]);
      assert.notEqual(anon.status, 0, 'anonymous push refused');
      const push = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${src}:v1`, `docker://${reg.host}/public/app:v1`]);
      assert.equal(push.status, 0, push.stderr);
      const out = join(work, 'out-token');
      const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/public/app:v1`, `oci:${out}:v1`]);
      assert.equal(pull.status, 0, pull.stderr);
      assertSameImage(out, img);
      const push2 = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${src}:v1`, `docker://${reg.host}/private/app:v1`]);
      assert.equal(push2.status, 0, push2.stderr);
      const anonPrivate = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/private/app:v1`]);
      assert.notEqual(anonPrivate.status, 0);
      await sleep(100);
      assert.match(reg.output(), /uri="?\/auth\/token\?.*status=200/);
    } finally {
      await reg.stop();
    }
  });

  it('pushes several images sharing a layer concurrently', async () => {
    const reg = await startRegistry({}, { dir: work });
    try {
      const base = layer({ 'base.bin': randomBytes(1_000_000) });
      const images = Array.from({ length: 4 }, (_, i) => image([base, layer({ [`app${i}.bin`]: randomBytes(100_000) })], `c${i}`));
      const results = await Promise.all(images.map((img, i) => {
        const src = join(work, `src-conc${i}`);
        writeOciLayout(src, img, 'v1');
        return skopeo(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/${i % 2 ? 'conc/shared' : `conc/own${i}`}:v${i}`]);
      }));
      for (const r of results) assert.equal(r.status, 0, r.stderr);
      for (let i = 0; i < images.length; i++) {
        const out = join(work, `out-conc${i}`);
        const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/${i % 2 ? 'conc/shared' : `conc/own${i}`}:v${i}`, `oci:${out}:v${i}`]);
        assert.equal(pull.status, 0, pull.stderr);
        assertSameImage(out, images[i]);
      }
      assert.deepEqual(readdirSync(join(reg.root, 'uploads')), [], 'no upload session left over');
    } finally {
      await reg.stop();
    }
  });

  it('a skopeo push killed mid-upload leaves nothing visible, and the next push succeeds', async () => {
    const reg = await startRegistry({}, { dir: work });
    try {
      // A large gzip'd layer (fast level-1 compression of random bytes) so the kill lands mid-upload.
      const raw = tar({ 'big.bin': randomBytes(64 * 1024 * 1024) });
      const gz = gzipSync(raw, { level: 1 });
      const big = { blob: { digest: sha256(gz), bytes: gz, mediaType: OCI_LAYER }, diffId: sha256(raw) };
      const img = image([layer({ 'small.txt': 'hello' }), big], 'killed');
      const src = join(work, 'src-kill');
      writeOciLayout(src, img, 'v1');
      const p = spawn('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/kill/app:v1`], { stdio: 'ignore' });
      const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
      const uploads = join(reg.root, 'uploads');
      const receiving = (): boolean => {
        for (const id of existsSync(uploads) ? readdirSync(uploads) : []) {
          try {
            if (statSync(join(uploads, id, 'data')).size > 1_000_000) return true;
          } catch {
            // finished or not created yet
          }
        }
        return false;
      };
      let caught = false;
      for (let i = 0; i < 20_000 && p.exitCode === null; i++) {
        if (receiving()) {
          p.kill('SIGKILL');
          caught = true;
          break;
        }
        await sleep(2);
      }
      await exited;
      assert.ok(caught, 'skopeo was killed while the big layer was uploading');
      await sleep(200);
      assert.equal((await http('HEAD', `${reg.url}/v2/kill/app/blobs/${big.blob.digest}`)).status, 404, 'half-uploaded layer not visible');
      assert.equal((await http('GET', `${reg.url}/v2/kill/app/manifests/v1`)).status, 404, 'no manifest');
      assert.equal((await http('GET', `${reg.url}/v2/`)).status, 200, 'registry still up');
      const again = await skopeo(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/kill/app:v1`], 120_000);
      assert.equal(again.status, 0, again.stderr);
      const out = join(work, 'out-kill');
      const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/kill/app:v1`, `oci:${out}:v1`], 120_000);
      assert.equal(pull.status, 0, pull.stderr);
      assertSameImage(out, img);
    } finally {
      await reg.stop();
    }
  });

  it('serves HTTPS with the configured certificate', { skip: hasBinary('openssl') ? false : 'openssl is not installed' }, async () => {
    const key = join(work, 'tls.key');
    const cert = join(work, 'tls.crt');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    assert.equal(r.status, 0, String(r.stderr));
    const reg = await startRegistry({ http: { tls: { certificate: cert, key } } }, { dir: work });
    try {
      assert.match(reg.url, /^https:\/\//);
      const img = randomImage(1, 10_000);
      const src = join(work, 'src-tls');
      writeOciLayout(src, img, 'v1');
      const push = await skopeo(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/tls/app:v1`]);
      assert.equal(push.status, 0, push.stderr);
      const out = join(work, 'out-tls');
      const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/tls/app:v1`, `oci:${out}:v1`]);
      assert.equal(pull.status, 0, pull.stderr);
      assertSameImage(out, img);
      await assert.rejects(http('GET', reg.url.replace('https:', 'http:') + '/v2/'), 'plain HTTP is not answered on the TLS port');
    } finally {
      await reg.stop();
    }
    // With TLS, a non-loopback address needs no opt-in.
    const wide = await startRegistry({ http: { addr: '0.0.0.0:0', tls: { certificate: cert, key } } }, { dir: work });
    try {
      const port = new URL(wide.url).port;
      const inspect = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://127.0.0.1:${port}/tls/app:v1`]);
      assert.equal(inspect.status, 0, inspect.stderr);
    } finally {
      await wide.stop();
    }
  });
});

describe('listen address safety', () => {
  it('refuses plain HTTP on a non-loopback address unless explicitly allowed', async () => {
    const dir = tempDir();
    try {
      const cfg = join(dir, 'c.yml');
      writeFileSync(cfg, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 0.0.0.0:0\n`);
      const r = spawnSync(join(import.meta.dirname, '../../node_modules/.bin/node'), [join(import.meta.dirname, 'run-registry.ts'), 'serve', cfg], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /refusing to serve plain HTTP on 0\.0\.0\.0:0.*http\.tls.*allowinsecure/s);
      const reg = await launch(['serve', cfg, '--allow-insecure-http'], join(dir, 'data'), cfg);
      try {
        const port = new URL(reg.url).port;
        assert.equal((await http('GET', `http://127.0.0.1:${port}/v2/`)).status, 200);
      } finally {
        await reg.stop();
      }
      // ":port" (all interfaces, as the CNCF sample config has it) is refused the same way.
      const all = join(dir, 'all.yml');
      writeFileSync(all, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: :0\n`);
      const refused = spawnSync(join(import.meta.dirname, '../../node_modules/.bin/node'), [join(import.meta.dirname, 'run-registry.ts'), 'serve', all], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /refusing to serve plain HTTP on all interfaces/);
      // The opt-in also works from the config file.
      writeFileSync(all, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: :0\n  allowinsecure: true\n`);
      const optIn = await launch(['serve', all], join(dir, 'data'), all);
      try {
        assert.equal((await http('GET', `http://127.0.0.1:${new URL(optIn.url).port}/v2/`)).status, 200);
      } finally {
        await optIn.stop();
      }
      // Loopback names need no opt-in.
      for (const addr of ['localhost:0', '[::1]:0', '127.0.0.2:0']) {
        writeFileSync(all, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: "${addr}"\n`);
        const lo = await launch(['serve', all], join(dir, 'data'), all).catch((e: Error) => e);
        if (lo instanceof Error) {
          // No IPv6 loopback on this machine: the listen fails, but not because of the HTTP policy.
          assert.doesNotMatch(lo.message, /refusing to serve plain HTTP/, addr);
          continue;
        }
        await lo.stop();
      }
    } finally {
      cleanup(dir);
    }
  });
});
