// Search and repository metadata, read-only mode, disabled deletes, config
// handling, and the pull-through cache against the CNCF registry.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import {
  startRegistry, launch, http, errorCode, basic, randomImage, pushImage, skopeo, runCli, hasBinary, tempDir, cleanup, sleep,
} from './helpers.ts';
import { loadConfig, insecureListenProblem } from '../../src/registry/config.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('search and repository metadata', () => {
  it('answers /v1/search in Docker Hub shape with admin-set descriptions and stars, filtered by permission', async () => {
    const dir = tempDir();
    const ht = join(dir, 'htpasswd');
    writeFileSync(ht, `alice:${bcrypt.hashSync('pw-alice', 5)}\n`);
    const reg = await startRegistry({
      auth: { htpasswd: { realm: 'r', path: ht } },
      access: { admins: ['alice'], repositories: [{ match: 'library/*', anonymous: ['pull'] }] },
    }, { dir });
    try {
      const alice = basic('alice', 'pw-alice');
      const img = randomImage(1, 100);
      for (const repo of ['library/nginx', 'library/redis', 'internal/nginx-proxy']) {
        assert.equal((await pushImage(reg.url, repo, img, 'latest', alice)).status, 201);
      }
      const set = await runCli(['meta', 'set', 'library/nginx', '--description', 'Official build of Nginx.', '--stars', '42', reg.configPath]);
      assert.equal(set.status, 0, set.stderr);
      assert.deepEqual(JSON.parse(set.stdout), { name: 'library/nginx', description: 'Official build of Nginx.', stars: 42 });
      assert.equal((await runCli(['meta', 'set', 'internal/nginx-proxy', '--stars', '3', reg.configPath])).status, 0);
      const get = await runCli(['meta', 'get', 'library/nginx', reg.configPath]);
      assert.equal(JSON.parse(get.stdout).stars, 42);
      const bad = await runCli(['meta', 'set', '../etc', '--stars', '1', reg.configPath]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /invalid repository name/);

      const r = await http('GET', `${reg.url}/v1/search?q=nginx&n=25`, { headers: alice });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json(), {
        num_pages: 1,
        num_results: 2,
        page_size: 25,
        query: 'nginx',
        page: 1,
        results: [
          { name: 'library/nginx', description: 'Official build of Nginx.', star_count: 42, is_official: false, is_automated: false },
          { name: 'internal/nginx-proxy', description: '', star_count: 3, is_official: false, is_automated: false },
        ],
      });
      // Descriptions are searched too; anonymous users only see what they may pull.
      const anon = await http('GET', `${reg.url}/v1/search?q=official`);
      assert.deepEqual(anon.json<{ results: Array<{ name: string }> }>().results.map((x) => x.name), ['library/nginx']);
      const anonAll = await http('GET', `${reg.url}/v1/search?q=nginx`);
      assert.deepEqual(anonAll.json<{ results: Array<{ name: string }> }>().results.map((x) => x.name), ['library/nginx']);
      const paged = await http('GET', `${reg.url}/v1/search?q=&n=1&page=2`, { headers: alice });
      const pj = paged.json<{ num_pages: number; results: unknown[]; page: number }>();
      assert.equal(pj.num_pages, 3);
      assert.equal(pj.results.length, 1);
      assert.equal(pj.page, 2);
      const ping = await http('GET', `${reg.url}/v1/_ping`);
      assert.equal(ping.status, 200);
    } finally {
      await reg.stop();
      cleanup(dir);
    }
  });
});

describe('search with token auth (what the Docker daemon sends)', () => {
  it('accepts Basic credentials and catalog:search tokens on /v1/search and filters by the user\'s rights', async () => {
    const dir = tempDir();
    const ht = join(dir, 'htpasswd');
    writeFileSync(ht, `fred:${bcrypt.hashSync('fred-pw', 5)}\n`);
    writeFileSync(join(dir, 't.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const reg = await startRegistry({
      auth: { token: { service: 's', issuer: 'i', signingkey: join(dir, 't.key'), htpasswd: ht, autoredirect: true } },
      access: { admins: ['fred'], repositories: [{ match: 'pub/*', anonymous: ['pull'] }] },
    }, { dir });
    try {
      const tok = (await http('GET', `${reg.url}/auth/token?service=s&scope=repository:pub/web:pull,push&scope=repository:priv/web:pull,push`, { headers: basic('fred', 'fred-pw') })).json<{ token: string }>().token;
      const img = randomImage(1, 100);
      for (const repo of ['pub/web', 'priv/web']) assert.equal((await pushImage(reg.url, repo, img, 'v1', { Authorization: `Bearer ${tok}` })).status, 201);
      const names = (r: Awaited<ReturnType<typeof http>>): string[] => r.json<{ results: Array<{ name: string }> }>().results.map((x) => x.name);
      assert.deepEqual(names(await http('GET', `${reg.url}/v1/search?q=web&n=25`)), ['pub/web'], 'anonymous');
      const withBasic = await http('GET', `${reg.url}/v1/search?q=web&n=25`, { headers: basic('fred', 'fred-pw') });
      assert.equal(withBasic.status, 200);
      assert.deepEqual(names(withBasic), ['priv/web', 'pub/web']);
      assert.equal((await http('GET', `${reg.url}/v1/search?q=web`, { headers: basic('fred', 'wrong') })).status, 401);
      // Logged-in daemons with an identity token ask for registry:catalog:search.
      const search = (await http('GET', `${reg.url}/auth/token?service=s&scope=registry:catalog:search`, { headers: basic('fred', 'fred-pw') })).json<{ token: string }>().token;
      assert.deepEqual(names(await http('GET', `${reg.url}/v1/search?q=web`, { headers: { Authorization: `Bearer ${search}` } })), ['priv/web', 'pub/web']);
      // Basic stays refused on the /v2/ API in token mode, as in the CNCF registry.
      assert.equal((await http('GET', `${reg.url}/v2/priv/web/manifests/v1`, { headers: basic('fred', 'fred-pw') })).status, 401);
    } finally {
      await reg.stop();
      cleanup(dir);
    }
  });
});

describe('modes and configuration', () => {
  it('read-only mode serves pulls and refuses writes with 405 UNSUPPORTED', async () => {
    const dir = tempDir();
    const rw = await startRegistry({}, { dir });
    const img = randomImage(1, 100);
    assert.equal((await pushImage(rw.url, 'ro/app', img, 'v1')).status, 201);
    await rw.stop();
    const ro = await startRegistry({ storage: { maintenance: { readonly: { enabled: true } } } }, { dir, root: rw.root });
    try {
      assert.equal((await http('GET', `${ro.url}/v2/ro/app/manifests/v1`)).status, 200);
      for (const [m, p] of [
        ['POST', '/v2/ro/app/blobs/uploads/'],
        ['POST', `/v2/ro/app/blobs/uploads/?digest=${img.config.digest}`],
        ['POST', `/v2/ro/copy/blobs/uploads/?mount=${img.config.digest}&from=ro/app`],
        ['PUT', '/v2/ro/app/manifests/v2'],
        ['DELETE', `/v2/ro/app/manifests/${img.manifestDigest}`],
        ['DELETE', '/v2/ro/app/manifests/v1'],
        ['DELETE', `/v2/ro/app/blobs/${img.config.digest}`],
      ]) {
        const r = await http(m, `${ro.url}${p}`, { body: m === 'PUT' ? img.manifest : undefined });
        assert.equal(r.status, 405, `${m} ${p}`);
        assert.equal(errorCode(r), 'UNSUPPORTED');
      }
      // Nothing changed, and reads still work.
      assert.deepEqual((await http('GET', `${ro.url}/v2/ro/app/tags/list`)).json(), { name: 'ro/app', tags: ['v1'] });
      assert.equal((await http('GET', `${ro.url}/v2/ro/app/blobs/${img.config.digest}`)).status, 200);
      assert.equal((await http('GET', `${ro.url}/v2/ro/copy/blobs/${img.config.digest}`)).status, 404);
      assert.equal((await http('GET', `${ro.url}/v2/`)).status, 200);
    } finally {
      await ro.stop();
      cleanup(dir);
    }
  });

  it('deletes are refused with 405 unless storage.delete.enabled', async () => {
    const reg = await startRegistry({ storage: { delete: { enabled: false } } });
    try {
      const img = randomImage(1, 100);
      await pushImage(reg.url, 'nodelete/app', img, 'v1');
      const r = await http('DELETE', `${reg.url}/v2/nodelete/app/manifests/${img.manifestDigest}`);
      assert.equal(r.status, 405);
      assert.equal(errorCode(r), 'UNSUPPORTED');
      assert.equal((await http('DELETE', `${reg.url}/v2/nodelete/app/blobs/${img.config.digest}`)).status, 405);
      assert.equal((await http('GET', `${reg.url}/v2/nodelete/app/manifests/v1`)).status, 200);
    } finally {
      await reg.stop();
      cleanup(reg.root);
    }
  });

  it('reports configuration errors clearly and refuses unsupported storage drivers', async () => {
    const dir = tempDir();
    try {
      const cfg = join(dir, 'bad.yml');
      writeFileSync(cfg, 'storage:\n  s3:\n    bucket: x\n');
      const r = await runCli(['serve', cfg]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /only the filesystem storage driver is supported/);
      writeFileSync(cfg, 'auth:\n  htpasswd:\n    path: /x\n  token:\n    service: a\n');
      assert.match((await runCli(['serve', cfg])).stderr, /configure only one of htpasswd, token/);
      const usage = await runCli(['frobnicate']);
      assert.equal(usage.status, 2);
      assert.match(usage.stderr, /Usage: berth registry/);
    } finally {
      cleanup(dir);
    }
  });
});

describe('CNCF configuration files and logging', () => {
  it('serves with the Debian docker-registry config.yml (paths and address changed only) and an htpasswd -B file', { skip: hasBinary('htpasswd') ? false : 'htpasswd (apache2-utils) is not installed' }, async () => {
    const dir = tempDir();
    const ht = join(dir, 'htpasswd');
    const made = spawnSync('htpasswd', ['-Bbc', ht, 'dave', 'dave-Pa55!word']);
    assert.equal(made.status, 0, String(made.stderr));
    assert.match(readFileSync(ht, 'utf8'), /^dave:\$2y\$/);
    // /etc/docker/registry/config.yml as Debian ships it, with the three paths and the address filled in.
    const cfg = join(dir, 'config.yml');
    writeFileSync(cfg, [
      'version: 0.1',
      'log:',
      '  fields:',
      '    service: registry',
      'storage:',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      '  addr: 127.0.0.1:0',
      '  headers:',
      '    X-Content-Type-Options: [nosniff]',
      'auth:',
      '  htpasswd:',
      '    realm: basic-realm',
      `    path: ${ht}`,
      'health:',
      '  storagedriver:',
      '    enabled: true',
      '    interval: 10s',
      '    threshold: 3',
      '',
    ].join('\n'));
    const reg = await launch(['serve', cfg], join(dir, 'data'), cfg);
    try {
      const anon = await http('GET', `${reg.url}/v2/`);
      assert.equal(anon.status, 401);
      assert.equal(anon.headers.get('www-authenticate'), 'Basic realm="basic-realm"');
      assert.equal(anon.headers.get('x-content-type-options'), 'nosniff');
      const dave = basic('dave', 'dave-Pa55!word');
      assert.equal((await http('GET', `${reg.url}/v2/`, { headers: dave })).status, 200);
      assert.equal((await http('GET', `${reg.url}/v2/`, { headers: basic('dave', 'wrong') })).status, 401);
      const img = randomImage(1, 500);
      assert.equal((await pushImage(reg.url, 'deb/app', img, 'v1', dave)).status, 201);
      assert.ok((await http('GET', `${reg.url}/v2/deb/app/manifests/v1`, { headers: dave })).body.equals(img.manifest));
      assert.equal((await http('DELETE', `${reg.url}/v2/deb/app/manifests/${img.manifestDigest}`, { headers: dave })).status, 202, 'storage.delete.enabled');
      assert.ok(existsSync(join(dir, 'data', 'repositories', 'deb', 'app')), 'data kept under storage.filesystem.rootdirectory');
      assert.ok(!reg.output().includes('Pa55'), 'password not logged');
    } finally {
      await reg.stop();
      cleanup(dir);
    }
  });

  it('without a config file the defaults are 127.0.0.1:5000 and /var/lib/berth-registry, and plain HTTP there is allowed', async () => {
    const cfg = await loadConfig(undefined);
    assert.equal(cfg.http.addr, '127.0.0.1:5000');
    assert.equal(cfg.storage.rootDirectory, '/var/lib/berth-registry');
    assert.equal(insecureListenProblem(cfg), undefined);
    assert.equal(cfg.storage.deleteEnabled, false, 'deletes off by default, as in CNCF');
    const help = await runCli(['--help']);
    assert.match(help.stdout, /127\.0\.0\.1:5000/);
  });

  it('writes request logs in JSON (method, uri, status, user) and can turn them off', async () => {
    const dir = tempDir();
    const ht = join(dir, 'htpasswd');
    writeFileSync(ht, `erin:${bcrypt.hashSync('erin-secret-pw', 5)}\n`);
    const json = await startRegistry({ log: { formatter: 'json' }, auth: { htpasswd: { realm: 'r', path: ht } } }, { dir });
    try {
      const img = randomImage(1, 100);
      assert.equal((await pushImage(json.url, 'logs/app', img, 'v1', basic('erin', 'erin-secret-pw'))).status, 201);
      await http('GET', `${json.url}/v2/logs/app/manifests/missing`, { headers: basic('erin', 'erin-secret-pw') });
      await sleep(100);
      const lines = json.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const requests = lines.filter((l) => l.msg === 'request');
      const put = requests.find((l) => l.method === 'PUT' && l.uri === '/v2/logs/app/manifests/v1');
      assert.ok(put, 'manifest PUT logged');
      assert.equal(put.status, 201);
      assert.equal(put.user, 'erin');
      assert.equal(typeof put.ms, 'number');
      const miss = requests.find((l) => l.uri === '/v2/logs/app/manifests/missing');
      assert.equal(miss?.status, 404);
      assert.ok(!json.output().includes('erin-secret-pw'));
    } finally {
      await json.stop();
    }
    const quiet = await startRegistry({ log: { accesslog: { disabled: true } } }, { dir, root: join(dir, 'data') });
    try {
      assert.equal((await http('GET', `${quiet.url}/v2/`)).status, 200);
      await sleep(100);
      assert.match(quiet.output(), /msg="listening"/);
      assert.doesNotMatch(quiet.output(), /msg="request"/);
    } finally {
      await quiet.stop();
      cleanup(dir);
    }
  });
});

describe('pull-through cache with an authenticated upstream', () => {
  it('answers the upstream token challenge with proxy.username/password and never logs the password', async () => {
    const dir = tempDir();
    const ht = join(dir, 'htpasswd');
    writeFileSync(ht, `mirror:${bcrypt.hashSync('mirror-upstream-pw', 5)}\n`);
    writeFileSync(join(dir, 'up.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const upstream = await startRegistry({
      auth: { token: { service: 'up', issuer: 'up', signingkey: join(dir, 'up.key'), htpasswd: ht, autoredirect: true } },
      access: { repositories: [{ match: 'private/**', users: { mirror: ['*'] } }] },
    }, { dir, root: join(dir, 'up-data') });
    let mirror: Awaited<ReturnType<typeof startRegistry>> | undefined;
    let anonMirror: Awaited<ReturnType<typeof startRegistry>> | undefined;
    try {
      const tok = await http('GET', `${upstream.url}/auth/token?service=up&scope=repository:private/app:pull,push`, { headers: basic('mirror', 'mirror-upstream-pw') });
      const img = randomImage(2, 5000);
      assert.equal((await pushImage(upstream.url, 'private/app', img, 'v1', { Authorization: `Bearer ${tok.json<{ token: string }>().token}` })).status, 201);

      mirror = await startRegistry({ proxy: { remoteurl: upstream.url, username: 'mirror', password: 'mirror-upstream-pw' } }, { dir, root: join(dir, 'mirror-data') });
      const m = await http('GET', `${mirror.url}/v2/private/app/manifests/v1`);
      assert.equal(m.status, 200, m.text);
      assert.ok(m.body.equals(img.manifest));
      for (const b of [img.config, ...img.layers]) {
        const r = await http('GET', `${mirror.url}/v2/private/app/blobs/${b.digest}`);
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(b.bytes));
      }
      await sleep(100);
      assert.match(upstream.output(), /uri="?\/v2\/private\/app\/manifests\/v1"? status=200 .*user=mirror/);
      assert.ok(!mirror.output().includes('mirror-upstream-pw'), 'upstream password not in the mirror log');
      assert.ok(!upstream.output().includes('mirror-upstream-pw'), 'upstream password not in the upstream log');

      // Credentials may also come in the URL, as some configs have them; they are not logged.
      const inUrl = new URL(upstream.url);
      inUrl.username = 'mirror';
      inUrl.password = 'mirror-upstream-pw';
      const urlMirror = await startRegistry({ proxy: { remoteurl: inUrl.toString() } }, { dir, root: join(dir, 'url-data') });
      try {
        const viaUrl = await http('GET', `${urlMirror.url}/v2/private/app/manifests/v1`);
        assert.equal(viaUrl.status, 200, viaUrl.text);
        assert.ok(!urlMirror.output().includes('mirror-upstream-pw'), 'password from the URL not logged');
        assert.match(urlMirror.output(), new RegExp(`proxy=${upstream.url.replace(/[/.]/g, '\\$&')}`));
      } finally {
        await urlMirror.stop();
      }

      // Without credentials the upstream refuses, and the mirror has nothing to show.
      anonMirror = await startRegistry({ proxy: { remoteurl: upstream.url } }, { dir, root: join(dir, 'anon-data') });
      const denied = await http('GET', `${anonMirror.url}/v2/private/app/manifests/v1`);
      assert.equal(denied.status, 404);
      assert.equal((await http('GET', `${anonMirror.url}/v2/private/app/blobs/${img.config.digest}`)).status, 404);
    } finally {
      await anonMirror?.stop();
      await mirror?.stop();
      await upstream.stop();
      cleanup(dir);
    }
  });
});

describe('pull-through cache', { skip: hasBinary('docker-registry') && hasBinary('skopeo') ? false : 'docker-registry or skopeo missing' }, () => {
  it('mirrors a CNCF docker-registry upstream and keeps serving from its cache when upstream is down', async () => {
    const dir = tempDir();
    const port = await freePort();
    const upstreamCfg = join(dir, 'upstream.yml');
    writeFileSync(upstreamCfg, [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'upstream-data')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'));
    const upstream = spawn('docker-registry', ['serve', upstreamCfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let upstreamErr = '';
    upstream.stderr.on('data', (c: Buffer) => { upstreamErr += c.toString(); });
    const upstreamExited = new Promise<void>((r) => upstream.on('exit', () => r()));
    const upstreamUrl = `http://127.0.0.1:${port}`;
    let mirror;
    try {
      for (let i = 0; ; i++) {
        const ok = await http('GET', `${upstreamUrl}/v2/`).then((r) => r.status === 200, () => false);
        if (ok) break;
        if (i > 100) throw new Error(`docker-registry did not start: ${upstreamErr}`);
        await sleep(100);
      }
      const img = randomImage(2, 40_000);
      assert.equal((await pushImage(upstreamUrl, 'library/app', img, 'v1')).status, 201);

      mirror = await startRegistry({ proxy: { remoteurl: upstreamUrl } }, { dir });
      const out = join(dir, 'pulled');
      const pull = await skopeo(['copy', '--src-tls-verify=false', `docker://${mirror.host}/library/app:v1`, `oci:${out}:v1`]);
      assert.equal(pull.status, 0, pull.stderr);
      const index = JSON.parse((await import('node:fs')).readFileSync(join(out, 'index.json'), 'utf8'));
      assert.equal(index.manifests[0].digest, img.manifestDigest);
      for (const b of [img.config, ...img.layers]) {
        assert.ok(existsSync(join(out, 'blobs', 'sha256', b.digest.slice(7))));
        const hex = b.digest.slice(7);
        // The mirror commits a blob to its cache once the download to the client is done.
        const cached = join(mirror.root, 'blobs', 'sha256', hex.slice(0, 2), hex);
        for (let i = 0; i < 50 && !existsSync(cached); i++) await sleep(100);
        assert.ok(existsSync(cached), 'cached in the mirror');
      }
      const tags = await http('GET', `${mirror.url}/v2/library/app/tags/list`);
      assert.deepEqual(tags.json(), { name: 'library/app', tags: ['v1'] });

      // A new image under the same tag upstream is picked up.
      const img2 = randomImage(1, 1000);
      assert.equal((await pushImage(upstreamUrl, 'library/app', img2, 'v1')).status, 201);
      const m2 = await http('GET', `${mirror.url}/v2/library/app/manifests/v1`);
      assert.equal(m2.headers.get('docker-content-digest'), img2.manifestDigest);
      assert.equal((await http('GET', `${mirror.url}/v2/library/app/blobs/${img2.layers[0].digest}`)).status, 200);
      const pull2 = await skopeo(['copy', '--src-tls-verify=false', `docker://${mirror.host}/library/app:v1`, `oci:${join(dir, 'pulled2')}:v1`]);
      assert.equal(pull2.status, 0, pull2.stderr);

      // Pushes go to the upstream, not to a mirror.
      const push = await http('POST', `${mirror.url}/v2/library/app/blobs/uploads/`);
      assert.equal(push.status, 405);
      assert.equal(errorCode(push), 'UNSUPPORTED');

      // Upstream gone: the cache still serves what it has.
      upstream.kill('SIGTERM');
      await upstreamExited;
      const src = join(dir, 'pulled-offline');
      const offline = await skopeo(['copy', '--src-tls-verify=false', `docker://${mirror.host}/library/app:v1`, `oci:${src}:v1`]);
      assert.equal(offline.status, 0, offline.stderr);
      const cachedOld = await http('GET', `${mirror.url}/v2/library/app/manifests/${img.manifestDigest}`);
      assert.equal(cachedOld.status, 200);
      assert.ok(cachedOld.body.equals(img.manifest));
      const missing = await http('GET', `${mirror.url}/v2/library/other/manifests/v1`);
      assert.equal(missing.status, 404);
    } finally {
      if (upstream.exitCode === null && upstream.signalCode === null) upstream.kill('SIGTERM');
      await upstreamExited;
      await mirror?.stop();
      cleanup(dir);
    }
  });
});



