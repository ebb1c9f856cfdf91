// berth search / GET /images/search against berth's own registry, which
// offers Docker Hub's /v1/search: a host in the term picks the registry;
// --limit, --filter stars=N|is-official, --no-trunc, --format; logged-in
// users see what they may pull. Also the real docker CLI's `docker search`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { runAsync, writeHtpasswd } from '../helpers/registries.ts';
import { basic, pushImage, randomImage, runCli, startRegistry, type Registry } from '../registry/helpers.ts';

const LONG = 'A very long description of the proxy image that goes beyond the column width';

describe('search', () => {
  let d: TestDaemon;
  let reg: Registry;
  let work: string;
  let host: string;
  const env = () => ({ ...process.env, DOCKER_CONFIG: join(work, 'cfg') });
  const berth = (args: string[], input?: string) => runAsync(BERTH, ['-H', d.host, ...args], { env: env(), input });

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-search-');
    reg = await startRegistry({
      log: { level: 'warn' },
      auth: { htpasswd: { realm: 'r', path: writeHtpasswd(work, { alice: 'pw-alice' }) } },
      access: { admins: ['alice'], repositories: [{ match: 'library/*', anonymous: ['pull'] }] },
    });
    host = `localhost:${new URL(reg.url).port}`;
    const img = randomImage(1, 100);
    for (const repo of ['library/nginx', 'library/busybox', 'internal/nginx-proxy']) {
      assert.equal((await pushImage(reg.url, repo, img, 'latest', basic('alice', 'pw-alice'))).status, 201);
    }
    assert.equal((await runCli(['meta', 'set', 'library/nginx', '--description', 'Official build of Nginx.', '--stars', '42', reg.configPath])).status, 0);
    assert.equal((await runCli(['meta', 'set', 'internal/nginx-proxy', '--description', LONG, '--stars', '3', reg.configPath])).status, 0);
  });
  after(async () => {
    await d.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a table like docker search\'s; anonymous users see only what they may pull', async () => {
    const r = await berth(['search', `${host}/nginx`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.match(lines[0], /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL$/);
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[1], /^library\/nginx\s+Official build of Nginx\.\s+42\s*$/);
  });

  test('logged in: more results; --limit, --filter, --no-trunc and --format', async () => {
    const login = await berth(['login', '-u', 'alice', '--password-stdin', host], 'pw-alice');
    assert.equal(login.code, 0, login.stderr);
    const all = await berth(['search', '--format', '{{.Name}} {{.StarCount}} {{.IsOfficial}}', `${host}/nginx`]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'library/nginx 42 false\ninternal/nginx-proxy 3 false\n');

    const trunc = await berth(['search', `${host}/proxy`]);
    assert.match(trunc.stdout, /A very long description of the proxy image t…/);
    assert.doesNotMatch(trunc.stdout, /column width/);
    const full = await berth(['search', '--no-trunc', `${host}/proxy`]);
    assert.match(full.stdout, new RegExp(LONG));

    const limited = await berth(['search', '--limit', '1', '--format', '{{.Name}}', `${host}/nginx`]);
    assert.equal(limited.stdout, 'library/nginx\n');
    const stars = await berth(['search', '--filter', 'stars=10', '--format', '{{.Name}}', `${host}/nginx`]);
    assert.equal(stars.stdout, 'library/nginx\n');
    const official = await berth(['search', '--filter', 'is-official=true', '--format', '{{.Name}}', `${host}/nginx`]);
    assert.equal(official.stdout, '');
    const badFilter = await berth(['search', '--filter', 'color=red', `${host}/nginx`]);
    assert.equal(badFilter.code, 1);
    assert.match(badFilter.stderr, /Error response from daemon: invalid filter 'color'/);
    const badLimit = await berth(['search', '--limit', '500', `${host}/nginx`]);
    assert.equal(badLimit.code, 1);
    assert.match(badLimit.stderr, /limit 500 is outside the range of \[1, 100\]/);
  });

  test('the real docker CLI searches through berth', { skip: DOCKER ? false : 'no docker CLI' }, async () => {
    const r = await runAsync(DOCKER as string, ['search', `${host}/nginx`], { env: { ...env(), DOCKER_HOST: d.host } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL/);
    assert.match(r.stdout, /library\/nginx\s+Official build of Nginx\.\s+42/);
  });
});
