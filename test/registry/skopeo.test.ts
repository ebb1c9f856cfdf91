// Interoperability with a real client: skopeo copies images into and out of
// the registry over plain HTTP, HTTPS, with htpasswd credentials and through
// the bearer token flow.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import {
  startRegistry, launch, http, randomImage, writeOciLayout, skopeo, hasBinary, tempDir, cleanup, type Image, type Registry, sleep,
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
    } finally {
      cleanup(dir);
    }
  });
});
