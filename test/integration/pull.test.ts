// berth pull and POST /images/create?fromImage= against real registries on
// loopback (berth's own, and the CNCF one for Basic auth), with images placed
// by skopeo and by plain HTTP pushes; also the real docker CLI's `docker pull`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import bcrypt from 'bcryptjs';
import { BERTH, DOCKER, busyboxTarPath, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import {
  OCI_INDEX, OCI_LAYER, OCI_MANIFEST, type Blob, type Image, type Registry,
  basic, hasBinary, http, image, layer, pushImage, sha256, skopeo, startRegistry, tar, writeOciLayout,
} from '../registry/helpers.ts';

interface Result { code: number; stdout: string; stderr: string }

/**
 * Runs a CLI without blocking the event loop: the registry is our child and
 * its log pipe must keep draining while the daemon talks to it.
 */
function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

/** The busybox rootfs as a gzip'd OCI layer. */
function busyboxLayer(): { blob: Blob; diffId: string } {
  const raw = readFileSync(busyboxTarPath());
  const gz = gzipSync(raw);
  return { blob: { digest: sha256(gz), bytes: gz, mediaType: OCI_LAYER }, diffId: sha256(raw) };
}

/** An image with a config for another platform (arch), same shape as helpers' image(). */
function imageFor(arch: string, layers: Array<{ blob: Blob; diffId: string }>, note: string): Image {
  return image(layers, note, { arch, cmd: ['sh'] });
}

function pulledLines(out: string): string[] {
  return out.split('\n').filter(Boolean);
}

/** POST /images/create on the daemon socket: the status and the raw body. */
function createRequest(socket: string, query: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'POST', path: `/v1.51/images/create?${query}` }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pull from a registry', () => {
  let d: TestDaemon;
  let reg: Registry;
  let work: string;
  let host: string;
  const bb = busyboxLayer();
  const berth = (args: string[]) => runAsync(BERTH, ['-H', d.host, ...args]);
  const inspect = async (ref: string) => {
    const r = await berth(['image', 'inspect', ref]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Array<{ Id: string; RepoTags: string[]; RepoDigests: string[]; Architecture: string; Config: { Labels: Record<string, string> } }>)[0];
  };

  before(async () => {
    d = await startSeededDaemon();
    reg = await startRegistry({ log: { level: 'warn' } });
    host = `localhost:${new URL(reg.url).port}`;
    work = mkdtempSync('/tmp/berth-pull-');
  });
  after(async () => {
    await d.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a Docker schema2 image pushed by skopeo pulls, runs, and keeps the registry config digest as its ID', { skip: hasBinary('skopeo') ? false : 'no skopeo' }, async () => {
    const img = imageFor('amd64', [bb, layer({ 'hello.txt': 'hello from app:1\n' })], 'one');
    const dir = join(work, 'layout1');
    writeOciLayout(dir, img, '1');
    const cp = await skopeo(['copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${dir}:1`, `docker://${reg.host}/app:1`]);
    assert.equal(cp.status, 0, cp.stderr);
    const m = await http('GET', `${reg.url}/v2/app/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(m.json<{ mediaType: string }>().mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const configDigest = m.json<{ config: { digest: string } }>().config.digest;
    const manifestDigest = sha256(m.body);

    const r = await berth(['pull', `${host}/app:1`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = pulledLines(r.stdout);
    assert.equal(lines[0], '1: Pulling from app');
    // The base is the seeded busybox:latest's layer (same diff ID): it is not fetched again.
    assert.ok(lines.includes(`${bb.blob.digest.slice(7, 19)}: Already exists`), r.stdout);
    const id = img.layers[1].digest.slice(7, 19);
    const mine = lines.filter((l) => l.startsWith(`${id}: `));
    assert.deepEqual(mine, ['Pulling fs layer', 'Verifying Checksum', 'Download complete', 'Pull complete'].map((st) => `${id}: ${st}`));
    assert.ok(!lines.some((l) => l.includes('Downloading')), 'no progress bars when stdout is not a tty');
    assert.deepEqual(lines.slice(-3), [`Digest: ${manifestDigest}`, `Status: Downloaded newer image for ${host}/app:1`, `${host}/app:1`]);

    const info = await inspect(`${host}/app:1`);
    assert.equal(info.Id, configDigest);
    assert.deepEqual(info.RepoTags, [`${host}/app:1`]);
    assert.deepEqual(info.RepoDigests, [`${host}/app@${manifestDigest}`]);
    assert.equal((await inspect(`${host}/app@${manifestDigest}`)).Id, configDigest, 'found by its digest reference');
    const ls = await berth(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}', `${host}/app`]);
    assert.equal(ls.stdout, `${host}/app 1 ${manifestDigest}\n`);

    const run = await berth(['run', '--rm', `${host}/app:1`, 'sh', '-c', 'echo hi; cat /hello.txt']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hi\nhello from app:1\n');
  });

  test('pulling again downloads nothing and says the image is up to date', async () => {
    const r = await berth(['pull', `${host}/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = pulledLines(r.stdout);
    assert.ok(lines.every((l) => !/Pull complete|Pulling fs layer/.test(l)), r.stdout);
    assert.equal(lines.filter((l) => l.endsWith(': Already exists')).length, 2, r.stdout);
    assert.equal(lines.at(-2), `Status: Image is up to date for ${host}/app:1`);
  });

  test('a second tag sharing the base layer downloads only its own layer; -q prints only the reference', async () => {
    const own = layer({ 'two.txt': 'two\n' });
    const img = imageFor('amd64', [bb, own], 'two');
    assert.equal((await pushImage(reg.url, 'app', img, '2')).status, 201);
    const r = await berth(['pull', `${host}/app:2`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = pulledLines(r.stdout);
    assert.ok(lines.includes(`${bb.blob.digest.slice(7, 19)}: Already exists`), r.stdout);
    assert.ok(!lines.includes(`${bb.blob.digest.slice(7, 19)}: Pull complete`), r.stdout);
    assert.ok(lines.includes(`${own.blob.digest.slice(7, 19)}: Pull complete`), r.stdout);
    assert.equal((await inspect(`${host}/app:2`)).Id, img.config.digest);

    const q = await berth(['pull', '-q', `${host}/app:2`]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, `${host}/app:2\n`);
  });

  test('a zstd layer pulls and its files are there', async () => {
    const raw = tar({ 'z.txt': 'zstd\n' });
    const z = zstdCompressSync(raw);
    const zl = { blob: { digest: sha256(z), bytes: z, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, diffId: sha256(raw) };
    const img = imageFor('amd64', [bb, zl], 'zstd');
    assert.equal((await pushImage(reg.url, 'zapp', img, 'z')).status, 201);
    const r = await berth(['pull', `${host}/zapp:z`]);
    assert.equal(r.code, 0, r.stderr);
    const run = await berth(['run', '--rm', `${host}/zapp:z`, 'cat', '/z.txt']);
    assert.equal(run.stdout, 'zstd\n', run.stderr);
  });

  test('a blob whose bytes do not match its digest is rejected and nothing is stored', async () => {
    const bad = layer({ 'bad.bin': randomBytes(8192) });
    const img = imageFor('amd64', [bb, bad], 'bad');
    assert.equal((await pushImage(reg.url, 'bad', img, '1')).status, 201);
    const hex = bad.blob.digest.slice(7);
    const blobFile = join(reg.root, 'blobs', 'sha256', hex.slice(0, 2), hex);
    assert.ok(existsSync(blobFile), blobFile);
    writeFileSync(blobFile, randomBytes(bad.blob.bytes.length));

    const r = await berth(['pull', `${host}/bad:1`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`filesystem layer verification failed for digest ${bad.blob.digest}`));
    const blobs = readdirSync(join(d.dataRoot, 'image', 'blobs', 'sha256'));
    assert.ok(!blobs.includes(hex), 'the bad blob is not in the content store');
    assert.ok(!blobs.includes(img.config.digest.slice(7)), 'no config stored');
    assert.deepEqual(readdirSync(join(d.dataRoot, 'image', 'ingest')), []);
    const ls = await berth(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.ok(!ls.stdout.includes('/bad'), ls.stdout);
    const gone = await berth(['image', 'inspect', img.config.digest]);
    assert.equal(gone.code, 1);
  });

  test('a layer whose content does not match the config\'s diff ID is undone after applying', async () => {
    const l = layer({ 'lie.txt': 'not what the config says\n' });
    const img = imageFor('amd64', [bb, { blob: l.blob, diffId: sha256('something else') }], 'lie');
    assert.equal((await pushImage(reg.url, 'lie', img, '1')).status, 201);
    const snapshots = () => readdirSync(join(d.dataRoot, 'overlay2', 'snapshots')).sort();
    const before = snapshots();
    const r = await berth(['pull', `${host}/lie:1`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /does not match the image configuration/);
    assert.deepEqual(snapshots(), before, 'the applied layer was removed');
    const blobs = readdirSync(join(d.dataRoot, 'image', 'blobs', 'sha256'));
    assert.ok(!blobs.includes(l.blob.digest.slice(7)), 'the layer blob went with the layer');
    assert.equal((await berth(['image', 'inspect', img.config.digest])).code, 1);
    const run = await berth(['run', '--rm', 'busybox', 'true']);
    assert.equal(run.code, 0, 'the shared base layer is intact');
  });

  test('a missing tag is an HTTP 404 before any stream, and exit 1 from the CLI', async () => {
    const r = await berth(['pull', `${host}/app:nosuch`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^Error response from daemon: manifest for ${host}/app:nosuch not found: manifest unknown`));
    const api = await createRequest(d.socket, `fromImage=${encodeURIComponent(`${host}/app`)}&tag=nosuch`);
    assert.equal(api.status, 404);
    assert.match((JSON.parse(api.body) as { message: string }).message, /manifest for .*app:nosuch not found/);
  });

  test('the API streams Docker\'s JSON messages, with progress details', async () => {
    const img = imageFor('amd64', [bb, layer({ 'big.bin': randomBytes(300_000) })], 'api');
    assert.equal((await pushImage(reg.url, 'apiapp', img, 'v')).status, 201);
    const api = await createRequest(d.socket, `fromImage=${encodeURIComponent(`${host}/apiapp`)}&tag=v`);
    assert.equal(api.status, 200);
    const msgs = api.body.split('\r\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(msgs[0], { status: 'Pulling from apiapp', id: 'v' });
    const big = img.layers[1].digest.slice(7, 19);
    const dl = msgs.filter((m) => m.id === big && m.status === 'Downloading');
    assert.ok(dl.length >= 1, JSON.stringify(msgs));
    const detail = dl.at(-1)?.progressDetail as { current: number; total: number };
    assert.equal(detail.total, img.layers[1].bytes.length);
    assert.match(String(dl.at(-1)?.progress), /^\[=*>? *\] +\S+\/\S+$/);
    assert.deepEqual(msgs.at(-2), { status: `Digest: ${img.manifestDigest}` });
    assert.deepEqual(msgs.at(-1), { status: `Status: Downloaded newer image for ${host}/apiapp:v` });
  });

  test('the real docker CLI pulls through the berth daemon and prints Docker\'s lines', { skip: DOCKER ? false : 'no docker CLI' }, async () => {
    const own = layer({ 'docker.txt': 'via docker\n' });
    const img = imageFor('amd64', [bb, own], 'docker');
    assert.equal((await pushImage(reg.url, 'app', img, '3')).status, 201);
    const r = await runAsync(DOCKER as string, ['pull', `${host}/app:3`], { ...process.env, DOCKER_HOST: d.host });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = pulledLines(r.stdout);
    assert.equal(lines[0], '3: Pulling from app');
    assert.ok(lines.includes(`${bb.blob.digest.slice(7, 19)}: Already exists`), r.stdout);
    assert.ok(lines.includes(`${own.blob.digest.slice(7, 19)}: Pull complete`), r.stdout);
    assert.deepEqual(lines.slice(-3), [`Digest: ${img.manifestDigest}`, `Status: Downloaded newer image for ${host}/app:3`, `${host}/app:3`]);
    const again = await runAsync(DOCKER as string, ['pull', `${host}/app:3`], { ...process.env, DOCKER_HOST: d.host });
    assert.match(again.stdout, new RegExp(`Status: Image is up to date for ${host}/app:3`));
    const missing = await runAsync(DOCKER as string, ['pull', `${host}/app:nope`], { ...process.env, DOCKER_HOST: d.host });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /manifest for .*app:nope not found: manifest unknown/);
  });

  test('an index with linux/amd64 and linux/arm64 pulls the amd64 image; one without amd64 is a clear error', async () => {
    const amd = imageFor('amd64', [bb, layer({ 'arch.txt': 'amd64\n' })], 'amd64');
    const arm = imageFor('arm64', [layer({ 'arch.txt': 'arm64\n' })], 'arm64');
    for (const i of [amd, arm]) assert.equal((await pushImage(reg.url, 'multi', i, i.manifestDigest)).status, 201);
    const entry = (i: Image, architecture: string) => ({ mediaType: OCI_MANIFEST, digest: i.manifestDigest, size: i.manifest.length, platform: { os: 'linux', architecture } });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(arm, 'arm64'), entry(amd, 'amd64')] }));
    const put = await http('PUT', `${reg.url}/v2/multi/manifests/both`, { headers: { 'Content-Type': OCI_INDEX }, body: index });
    assert.equal(put.status, 201, put.text);
    const r = await berth(['pull', `${host}/multi:both`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Digest: ${sha256(index)}`));
    const info = await inspect(`${host}/multi:both`);
    assert.equal(info.Id, amd.config.digest);
    assert.equal(info.Architecture, 'amd64');
    assert.deepEqual(info.RepoDigests, [`${host}/multi@${sha256(index)}`]);
    const run = await berth(['run', '--rm', `${host}/multi:both`, 'cat', '/arch.txt']);
    assert.equal(run.stdout, 'amd64\n', run.stderr);

    const armOnly = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(arm, 'arm64')] }));
    assert.equal((await http('PUT', `${reg.url}/v2/multi/manifests/armonly`, { headers: { 'Content-Type': OCI_INDEX }, body: armOnly })).status, 201);
    const no = await berth(['pull', `${host}/multi:armonly`]);
    assert.equal(no.code, 1);
    assert.match(no.stderr, /no matching manifest for linux\/amd64 in the manifest list entries/);
  });

  test('pulling by digest records the digest reference without a tag', async () => {
    const img = imageFor('amd64', [bb, layer({ 'dg.txt': 'by digest\n' })], 'digest');
    assert.equal((await pushImage(reg.url, 'dg', img, 'x')).status, 201);
    const r = await berth(['pull', `${host}/dg@${img.manifestDigest}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(pulledLines(r.stdout).at(-1), `${host}/dg@${img.manifestDigest}`);
    const info = await inspect(`${host}/dg@${img.manifestDigest}`);
    assert.equal(info.Id, img.config.digest);
    assert.deepEqual(info.RepoTags, []);
    assert.deepEqual(info.RepoDigests, [`${host}/dg@${img.manifestDigest}`]);
  });

  test('docker.io names are tried at registry-1.docker.io and fail with a clear error here', async () => {
    const r = await berth(['pull', 'busybox:nosuch-tag']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: .*registry-1\.docker\.io/);
  });
});

describe('pull with registry authentication', () => {
  const PASS = { alice: 'alice-pw-1', root: 'root-pw-2' };
  let d: TestDaemon;
  let work: string;
  const bb = busyboxLayer();
  const berth = (args: string[], env: NodeJS.ProcessEnv = process.env) => runAsync(BERTH, ['-H', d.host, ...args], env);
  /** A DOCKER_CONFIG directory with `docker login` credentials for `host`. */
  const loginDir = (name: string, host: string, user: string, password: string): string => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));
    return dir;
  };
  const htpasswd = (): string => {
    const path = join(work, `htpasswd-${randomBytes(3).toString('hex')}`);
    writeFileSync(path, Object.entries(PASS).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5).replace(/^\$2b\$/, '$2y$')}`).join('\n') + '\n');
    return path;
  };

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-pull-auth-');
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('Bearer tokens from the WWW-Authenticate realm: anonymous where allowed, with the user\'s credentials otherwise', async () => {
    writeFileSync(join(work, 'token.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const reg = await startRegistry({
      log: { level: 'warn' },
      auth: { token: { service: 'pull-test', issuer: 'pull-test-issuer', signingkey: join(work, 'token.key'), htpasswd: htpasswd(), expiration: 60, autoredirect: true } },
      access: {
        admins: ['root'],
        repositories: [
          { match: 'public/**', anonymous: ['pull'] },
          { match: 'team/*', users: { alice: ['pull'] } },
        ],
      },
    });
    try {
      const host = `localhost:${new URL(reg.url).port}`;
      const tok = await http('GET', `${reg.url}/auth/token?service=pull-test&scope=repository:public/app:pull,push&scope=repository:team/app:pull,push`, { headers: basic('root', PASS.root) });
      const auth = { Authorization: `Bearer ${tok.json<{ token: string }>().token}` };
      const pub = imageFor('amd64', [bb, layer({ 'p.txt': 'public\n' })], 'public');
      const team = imageFor('amd64', [bb, layer({ 't.txt': 'team\n' })], 'team');
      assert.equal((await pushImage(reg.url, 'public/app', pub, '1', auth)).status, 201);
      assert.equal((await pushImage(reg.url, 'team/app', team, '1', auth)).status, 201);

      const anon = await berth(['pull', `${host}/public/app:1`]);
      assert.equal(anon.code, 0, anon.stderr);
      assert.match(anon.stdout, new RegExp(`Status: Downloaded newer image for ${host}/public/app:1`));

      const denied = await berth(['pull', `${host}/team/app:1`]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, new RegExp(`pull access denied for ${host}/team/app, repository does not exist or may require 'docker login'`));

      const env = { ...process.env, DOCKER_CONFIG: loginDir('tok', host, 'alice', PASS.alice) };
      const ok = await berth(['pull', `${host}/team/app:1`], env);
      assert.equal(ok.code, 0, ok.stderr);
      const run = await berth(['run', '--rm', `${host}/team/app:1`, 'cat', '/t.txt']);
      assert.equal(run.stdout, 'team\n', run.stderr);
    } finally {
      await reg.stop();
    }
  });

  test('Basic auth against the CNCF registry, with credentials from the docker CLI config (berth and docker)', { skip: hasBinary('docker-registry') ? false : 'no docker-registry' }, async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const cfg = join(work, 'cncf.yml');
    writeFileSync(cfg, [
      'version: 0.1',
      'log: { level: error }',
      `storage: { filesystem: { rootdirectory: ${join(work, 'cncf-data')} } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      `auth: { htpasswd: { realm: basic-realm, path: ${htpasswd()} } }`,
    ].join('\n') + '\n');
    const proc = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    try {
      const url = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        const up = await fetch(`${url}/v2/`).then((r) => r.status, () => 0);
        if (up === 401) break;
        if (i > 100) throw new Error(`docker-registry did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const host = `localhost:${port}`;
      const img = imageFor('amd64', [bb, layer({ 'c.txt': 'cncf\n' })], 'cncf');
      assert.equal((await pushImage(url, 'cncf/app', img, 'v1', basic('alice', PASS.alice))).status, 201);

      const anon = await berth(['pull', `${host}/cncf/app:v1`]);
      assert.equal(anon.code, 1);
      assert.match(anon.stderr, /pull access denied/);

      const env = { ...process.env, DOCKER_CONFIG: loginDir('basic', host, 'alice', PASS.alice) };
      const ok = await berth(['pull', `${host}/cncf/app:v1`], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(pulledLines(ok.stdout).at(-2), `Status: Downloaded newer image for ${host}/cncf/app:v1`);
      const info = JSON.parse((await berth(['image', 'inspect', `${host}/cncf/app:v1`])).stdout) as Array<{ Id: string }>;
      assert.equal(info[0].Id, img.config.digest);

      if (DOCKER) {
        const tagged = imageFor('amd64', [bb, layer({ 'c2.txt': 'cncf2\n' })], 'cncf2');
        assert.equal((await pushImage(url, 'cncf/app', tagged, 'v2', basic('alice', PASS.alice))).status, 201);
        const dk = await runAsync(DOCKER, ['pull', `${host}/cncf/app:v2`], { ...env, DOCKER_HOST: d.host });
        assert.equal(dk.code, 0, dk.stderr);
        assert.match(dk.stdout, new RegExp(`Status: Downloaded newer image for ${host}/cncf/app:v2`));
      }
    } finally {
      proc.kill('SIGTERM');
    }
  });
});

describe('run pulls an image it does not have', () => {
  let d: TestDaemon;
  let reg: Registry;
  before(async () => {
    d = await startSeededDaemon();
    reg = await startRegistry({ log: { level: 'warn' } });
  });
  after(async () => {
    await d.destroy();
    await reg.stop();
  });

  test('berth run of a missing image pulls it (progress on stderr) and runs it', async () => {
    const host = `localhost:${new URL(reg.url).port}`;
    const img = imageFor('amd64', [busyboxLayer(), layer({ 'r.txt': 'ran\n' })], 'run');
    assert.equal((await pushImage(reg.url, 'runme', img, 'latest')).status, 201);
    const r = await runAsync(BERTH, ['-H', d.host, 'run', '--rm', `${host}/runme`, 'cat', '/r.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
    assert.match(r.stderr, new RegExp(`Unable to find image '${host}/runme:latest' locally`));
    assert.match(r.stderr, new RegExp(`Status: Downloaded newer image for ${host}/runme:latest`));
    const missing = await runAsync(BERTH, ['-H', d.host, 'run', '--rm', `${host}/runme:nosuch`, 'true']);
    assert.equal(missing.code, 125, missing.stderr);
    assert.match(missing.stderr, /manifest for .*runme:nosuch not found/);
  });
});
