// Security: htpasswd Basic auth with per-repository permissions, the bearer
// token flow, refusal of bad tokens, and credentials kept out of the logs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, createPrivateKey, createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { SignJWT, decodeProtectedHeader } from 'jose';
import { startRegistry, http, errorCode, basic, randomImage, pushImage, tempDir, cleanup, sha256, hasBinary, OCI_MANIFEST as OCI_MANIFEST_TYPE, type Registry } from './helpers.ts';

const PASSWORDS = { alice: 'alice-S3cret!pw', bob: 'bob-pa55word', carol: 'carol-hunter2', root: 'root-topsecret' };

function writeHtpasswd(dir: string): string {
  const path = join(dir, 'htpasswd');
  // htpasswd -B writes $2y$ hashes; cost 5 keeps the test fast.
  const lines = Object.entries(PASSWORDS).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5).replace(/^\$2b\$/, '$2y$')}`);
  writeFileSync(path, lines.join('\n') + '\nlegacy:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n');
  return path;
}

const bearer = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });

const ACCESS = {
  admins: ['root'],
  teams: { devs: ['alice', 'bob'] },
  repositories: [
    { match: 'public/**', anonymous: ['pull'], users: { alice: ['push'] } },
    { match: 'team/*', teams: { devs: ['pull'] }, users: { alice: ['push', 'delete'] } },
  ],
};

describe('htpasswd auth with per-repository permissions', () => {
  let reg: Registry;
  let dir: string;
  const img = randomImage(1, 2000);

  before(async () => {
    dir = tempDir();
    reg = await startRegistry({ auth: { htpasswd: { realm: 'test-realm', path: writeHtpasswd(dir) } }, access: ACCESS }, { dir });
  });
  after(async () => {
    await reg.stop();
    cleanup(dir);
  });

  it('challenges clients without credentials and refuses wrong passwords', async () => {
    const r = await http('GET', `${reg.url}/v2/`);
    assert.equal(r.status, 401);
    assert.equal(errorCode(r), 'UNAUTHORIZED');
    assert.equal(r.headers.get('www-authenticate'), 'Basic realm="test-realm"');
    const wrong = await http('GET', `${reg.url}/v2/`, { headers: basic('alice', 'wrong') });
    assert.equal(wrong.status, 401);
    const unknown = await http('GET', `${reg.url}/v2/`, { headers: basic('mallory', 'x') });
    assert.equal(unknown.status, 401);
    const legacy = await http('GET', `${reg.url}/v2/`, { headers: basic('legacy', 'password') });
    assert.equal(legacy.status, 401, 'non-bcrypt hashes are not accepted');
    assert.equal((await http('GET', `${reg.url}/v2/`, { headers: basic('alice', PASSWORDS.alice) })).status, 200);
  });

  it('lets alice push to team/app and devs pull it; bob may not push, carol may not pull', async () => {
    const alice = basic('alice', PASSWORDS.alice);
    assert.equal((await pushImage(reg.url, 'team/app', img, 'v1', alice)).status, 201);
    const bobPull = await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: basic('bob', PASSWORDS.bob) });
    assert.equal(bobPull.status, 200);
    assert.ok(bobPull.body.equals(img.manifest));
    const bobPush = await pushImage(reg.url, 'team/app', randomImage(1, 10), 'v2', basic('bob', PASSWORDS.bob));
    assert.equal(bobPush.status, 403);
    assert.equal(errorCode(bobPush), 'DENIED');
    const carol = await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: basic('carol', PASSWORDS.carol) });
    assert.equal(carol.status, 403);
    assert.equal(errorCode(carol), 'DENIED');
    const carolBlob = await http('GET', `${reg.url}/v2/team/app/blobs/${img.layers[0].digest}`, { headers: basic('carol', PASSWORDS.carol) });
    assert.equal(carolBlob.status, 403);
    const anon = await http('GET', `${reg.url}/v2/team/app/manifests/v1`);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic /);
  });

  it('allows anonymous pull where configured, but not anonymous push', async () => {
    assert.equal((await pushImage(reg.url, 'public/tools/base', img, 'latest', basic('alice', PASSWORDS.alice))).status, 201);
    const anon = await http('GET', `${reg.url}/v2/public/tools/base/manifests/latest`);
    assert.equal(anon.status, 200);
    assert.equal((await http('GET', `${reg.url}/v2/public/tools/base/blobs/${img.layers[0].digest}`)).status, 200);
    const push = await http('POST', `${reg.url}/v2/public/tools/base/blobs/uploads/`);
    assert.equal(push.status, 401);
  });

  it('refuses every endpoint without the right permission and leaves the repository untouched', async () => {
    const alice = basic('alice', PASSWORDS.alice);
    const u = reg.url;
    // An upload session of alice's, which nobody else may read, write, finish or cancel.
    const post = await http('POST', `${u}/v2/team/app/blobs/uploads/`, { headers: alice });
    assert.equal(post.status, 202);
    const session = post.headers.get('location') as string;
    assert.equal((await http('PATCH', `${u}${session}`, { headers: alice, body: 'abc' })).status, 202);
    const layerDigest = img.layers[0].digest;
    const reads: Array<[string, string]> = [
      ['GET', `/v2/team/app/manifests/v1`],
      ['HEAD', `/v2/team/app/manifests/v1`],
      ['GET', `/v2/team/app/manifests/${img.manifestDigest}`],
      ['GET', `/v2/team/app/blobs/${layerDigest}`],
      ['HEAD', `/v2/team/app/blobs/${layerDigest}`],
      ['GET', `/v2/team/app/tags/list`],
      ['GET', `/v2/team/app/referrers/${img.manifestDigest}`],
    ];
    const writes: Array<[string, string, string?]> = [
      ['POST', `/v2/team/app/blobs/uploads/`],
      ['POST', `/v2/team/app/blobs/uploads/?digest=${sha256('x')}`, 'x'],
      ['POST', `/v2/team/app/blobs/uploads/?mount=${layerDigest}&from=public/tools/base`],
      ['GET', session],
      ['PATCH', session, 'def'],
      ['PUT', `${session}?digest=${sha256('abc')}`],
      ['DELETE', session],
      ['PUT', `/v2/team/app/manifests/v2`, img.manifest.toString()],
      ['DELETE', `/v2/team/app/manifests/v1`],
      ['DELETE', `/v2/team/app/manifests/${img.manifestDigest}`],
      ['DELETE', `/v2/team/app/blobs/${layerDigest}`],
    ];
    const who: Array<[string, Record<string, string>, Array<[string, string, string?]>]> = [
      ['anonymous', {}, [...reads, ...writes]],
      ['carol (no rights on team/*)', basic('carol', PASSWORDS.carol), [...reads, ...writes]],
      ['bob (pull only)', basic('bob', PASSWORDS.bob), writes],
    ];
    for (const [name, headers, calls] of who) {
      for (const [method, path, body] of calls) {
        const r = await http(method, `${u}${path}`, { headers: { ...headers, 'Content-Type': OCI_MANIFEST_TYPE }, body });
        const what = `${name}: ${method} ${path} -> ${r.status}`;
        if (name === 'anonymous') {
          assert.equal(r.status, 401, what);
          assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm="test-realm"/, what);
        } else {
          assert.equal(r.status, 403, what);
          if (method !== 'HEAD') assert.equal(errorCode(r), 'DENIED', what);
        }
        assert.ok(!r.body.includes(img.manifest) && !r.body.includes(img.layers[0].bytes), `${what} leaked content`);
      }
    }
    // Nothing changed: alice's session still holds its 3 bytes, the tag and blobs are there.
    const status = await http('GET', `${u}${session}`, { headers: alice });
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-2');
    assert.ok((await http('GET', `${u}/v2/team/app/manifests/v1`, { headers: alice })).body.equals(img.manifest));
    assert.equal((await http('HEAD', `${u}/v2/team/app/blobs/${layerDigest}`, { headers: alice })).status, 200);
    const tags = await http('GET', `${u}/v2/team/app/tags/list`, { headers: alice });
    assert.deepEqual(tags.json(), { name: 'team/app', tags: ['v1'] });
    assert.equal((await http('DELETE', `${u}${session}`, { headers: alice })).status, 204);
  });

  it('needs the delete permission to delete; admins can do anything', async () => {
    const bob = await http('DELETE', `${reg.url}/v2/team/app/manifests/v1`, { headers: basic('bob', PASSWORDS.bob) });
    assert.equal(bob.status, 403);
    const root = await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: basic('root', PASSWORDS.root) });
    assert.equal(root.status, 200);
    const alice = await http('DELETE', `${reg.url}/v2/team/app/manifests/v1`, { headers: basic('alice', PASSWORDS.alice) });
    assert.equal(alice.status, 202);
  });

  it('a mount from a repository the user cannot read falls back to an upload instead of leaking the blob', async () => {
    const root = basic('root', PASSWORDS.root);
    const secret = randomImage(1, 100);
    assert.equal((await pushImage(reg.url, 'secret/x', secret, 'v1', root)).status, 201);
    const m = await http('POST', `${reg.url}/v2/team/app/blobs/uploads/?mount=${secret.layers[0].digest}&from=secret/x`, {
      headers: basic('alice', PASSWORDS.alice),
    });
    assert.equal(m.status, 202);
    assert.equal((await http('HEAD', `${reg.url}/v2/team/app/blobs/${secret.layers[0].digest}`, { headers: basic('alice', PASSWORDS.alice) })).status, 404);
  });

  it('filters the catalog by what the user may pull', async () => {
    const bob = await http('GET', `${reg.url}/v2/_catalog`, { headers: basic('bob', PASSWORDS.bob) });
    assert.deepEqual(bob.json(), { repositories: ['public/tools/base', 'team/app'] });
    const carol = await http('GET', `${reg.url}/v2/_catalog`, { headers: basic('carol', PASSWORDS.carol) });
    assert.deepEqual(carol.json(), { repositories: ['public/tools/base'] });
    const root = await http('GET', `${reg.url}/v2/_catalog`, { headers: basic('root', PASSWORDS.root) });
    assert.deepEqual(root.json(), { repositories: ['public/tools/base', 'secret/x', 'team/app'] });
  });

  it('never writes passwords or Authorization headers to the request log', async () => {
    const log = reg.output();
    assert.match(log, /msg="request".*user=alice/, 'requests are logged with the user name');
    for (const [user, pw] of Object.entries(PASSWORDS)) {
      assert.ok(!log.includes(pw), `password of ${user} leaked`);
      assert.ok(!log.includes(Buffer.from(`${user}:${pw}`).toString('base64')), `Basic header of ${user} leaked`);
    }
    assert.ok(!log.includes('hunter2'));
    assert.match(log, /ignoring htpasswd entry without a bcrypt hash.*user=legacy/);
  });
});

describe('bearer token auth', () => {
  let reg: Registry;
  let dir: string;
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  let keyPem: string;
  const img = randomImage(2, 1500);

  async function getToken(scope: string | string[], creds?: [string, string]): Promise<{ status: number; token?: string; body: Record<string, unknown> }> {
    const q = new URLSearchParams({ service });
    for (const s of Array.isArray(scope) ? scope : [scope]) q.append('scope', s);
    const r = await http('GET', `${reg.url}/auth/token?${q}`, { headers: creds ? basic(creds[0], creds[1]) : {} });
    const body = r.json();
    return { status: r.status, token: body.token as string | undefined, body };
  }

  before(async () => {
    dir = tempDir();
    keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(join(dir, 'token.key'), keyPem);
    reg = await startRegistry({
      auth: { token: { service, issuer, signingkey: join(dir, 'token.key'), htpasswd: writeHtpasswd(dir), expiration: 60, autoredirect: true } },
      access: ACCESS,
    }, { dir });
  });
  after(async () => {
    await reg.stop();
    cleanup(dir);
  });

  it('challenges with a Bearer realm and service, including the scope needed', async () => {
    const base = await http('GET', `${reg.url}/v2/`);
    assert.equal(base.status, 401);
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="${reg.url}/auth/token",service="${service}"`);
    const r = await http('GET', `${reg.url}/v2/team/app/manifests/v1`);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), `Bearer realm="${reg.url}/auth/token",service="${service}",scope="repository:team/app:pull"`);
  });

  it('issues ES256 tokens with the granted subset of the requested scope and a libtrust key id', async () => {
    const t = await getToken('repository:team/app:pull,push', ['bob', PASSWORDS.bob]);
    assert.equal(t.status, 200);
    assert.equal(t.body.access_token, t.token);
    assert.equal(t.body.expires_in, 60);
    const header = decodeProtectedHeader(t.token as string);
    assert.equal(header.alg, 'ES256');
    assert.match(String(header.kid), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const claims = JSON.parse(Buffer.from((t.token as string).split('.')[1], 'base64url').toString());
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, service);
    assert.equal(claims.sub, 'bob');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    const wrong = await getToken('repository:team/app:pull', ['bob', 'nope']);
    assert.equal(wrong.status, 401);
  });

  it('runs the full push and pull flow with tokens', async () => {
    const t = await getToken('repository:team/app:pull,push', ['alice', PASSWORDS.alice]);
    assert.equal((await pushImage(reg.url, 'team/app', img, 'v1', bearer(t.token as string))).status, 201);
    const bob = await getToken('repository:team/app:pull', ['bob', PASSWORDS.bob]);
    const pulled = await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: bearer(bob.token as string) });
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(img.manifest));
  });

  it('refuses operations outside the token scope: DENIED when the user lacks the right, insufficient_scope when only the token does', async () => {
    const bob = await getToken('repository:team/app:pull,push', ['bob', PASSWORDS.bob]);
    const push = await http('POST', `${reg.url}/v2/team/app/blobs/uploads/`, { headers: bearer(bob.token as string) });
    assert.equal(push.status, 403);
    assert.equal(errorCode(push), 'DENIED');
    const other = await http('GET', `${reg.url}/v2/public/x/manifests/v1`, { headers: bearer(bob.token as string) });
    assert.equal(other.status, 401, 'token has no scope for public/x; bob could get one');
    assert.match(other.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    const alice = await getToken('repository:team/app:pull', ['alice', PASSWORDS.alice]);
    const alicePush = await http('POST', `${reg.url}/v2/team/app/blobs/uploads/`, { headers: bearer(alice.token as string) });
    assert.equal(alicePush.status, 401);
    assert.match(alicePush.headers.get('www-authenticate') ?? '', /scope="repository:team\/app:pull,push",error="insufficient_scope"/);
  });

  it('gives anonymous clients only anonymous access', async () => {
    const root = await getToken('repository:public/lib:pull,push', ['root', PASSWORDS.root]);
    assert.equal((await pushImage(reg.url, 'public/lib', img, 'v1', bearer(root.token as string))).status, 201);
    const anon = await getToken(['repository:public/lib:pull,push', 'repository:team/app:pull']);
    assert.equal(anon.status, 200);
    const claims = JSON.parse(Buffer.from((anon.token as string).split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/lib', actions: ['pull'] }]);
    assert.equal((await http('GET', `${reg.url}/v2/public/lib/manifests/v1`, { headers: bearer(anon.token as string) })).status, 200);
    const team = await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: bearer(anon.token as string) });
    assert.equal(team.status, 401);
  });

  it('grants delete through tokens only to users with the delete permission', async () => {
    const root = await getToken('repository:team/del:pull,push', ['root', PASSWORDS.root]);
    const victim = randomImage(1, 100);
    assert.equal((await pushImage(reg.url, 'team/del', victim, 'v1', bearer(root.token as string))).status, 201);
    const bob = await getToken('repository:team/del:pull,delete', ['bob', PASSWORDS.bob]);
    const bobClaims = JSON.parse(Buffer.from((bob.token as string).split('.')[1], 'base64url').toString());
    assert.deepEqual(bobClaims.access, [{ type: 'repository', name: 'team/del', actions: ['pull'] }], 'bob is in devs: pull only');
    const bobDel = await http('DELETE', `${reg.url}/v2/team/del/manifests/${victim.manifestDigest}`, { headers: bearer(bob.token as string) });
    assert.equal(bobDel.status, 403);
    assert.equal(errorCode(bobDel), 'DENIED');
    // A pull-only token of alice's is not enough, although alice may delete: she is asked to fetch a better token.
    const alicePull = await getToken('repository:team/del:pull', ['alice', PASSWORDS.alice]);
    const short = await http('DELETE', `${reg.url}/v2/team/del/manifests/${victim.manifestDigest}`, { headers: bearer(alicePull.token as string) });
    assert.equal(short.status, 401);
    assert.match(short.headers.get('www-authenticate') ?? '', /scope="repository:team\/del:delete",error="insufficient_scope"/);
    const alice = await getToken('repository:team/del:delete', ['alice', PASSWORDS.alice]);
    const del = await http('DELETE', `${reg.url}/v2/team/del/manifests/${victim.manifestDigest}`, { headers: bearer(alice.token as string) });
    assert.equal(del.status, 202);
    assert.equal((await http('GET', `${reg.url}/v2/team/del/manifests/v1`, { headers: bearer(bob.token as string) })).status, 404);
  });

  it('refuses expired, wrong-audience, wrong-issuer, wrongly signed, unsigned and tampered tokens', async () => {
    const key = createPrivateKey(keyPem);
    const good = await getToken('repository:team/app:pull', ['bob', PASSWORDS.bob]);
    const kid = decodeProtectedHeader(good.token as string).kid as string;
    const now = Math.floor(Date.now() / 1000);
    const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
    const make = (o: { aud?: string; iss?: string; exp?: number; key?: ReturnType<typeof createPrivateKey>; nbf?: number }): Promise<string> =>
      new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? service)
        .setSubject('bob')
        .setIssuedAt(now - 10)
        .setNotBefore(o.nbf ?? now - 10)
        .setExpirationTime(o.exp ?? now + 60)
        .sign(o.key ?? key);
    // Our own signature with the right claims works, so the failures below are about the claim under test.
    const control = await make({});
    assert.equal((await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: bearer(control) })).status, 200);
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const bad: Record<string, string> = {
      expired: await make({ exp: now - 30 }),
      'not yet valid': await make({ nbf: now + 300 }),
      'wrong audience': await make({ aud: 'some-other-registry' }),
      'wrong issuer': await make({ iss: 'evil-issuer' }),
      'wrong signature': await make({ key: otherKey }),
      unsigned: `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${control.split('.')[1]}.`,
      tampered: (() => {
        const [h, p, s] = control.split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
        claims.access[0].actions = ['pull', 'push', 'delete'];
        return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
      })(),
      garbage: 'not-a-jwt',
    };
    for (const [what, token] of Object.entries(bad)) {
      const r = await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: bearer(token) });
      assert.equal(r.status, 401, what);
      assert.equal(errorCode(r), 'UNAUTHORIZED', what);
      assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
    }
  });

  it('never logs passwords or tokens', async () => {
    const log = reg.output();
    for (const pw of Object.values(PASSWORDS)) assert.ok(!log.includes(pw));
    const t = await getToken('repository:team/app:pull', ['bob', PASSWORDS.bob]);
    await http('GET', `${reg.url}/v2/team/app/manifests/v1`, { headers: bearer(t.token as string) });
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!reg.output().includes((t.token as string).split('.')[2]));
    assert.match(reg.output(), /user=bob/);
    // Credentials a client puts into the URL are not logged either.
    await http('GET', `${reg.url}/v2/?access_token=${t.token as string}`);
    await http('GET', `${reg.url}/auth/token?service=${service}&account=bob&password=${encodeURIComponent(PASSWORDS.bob)}`);
    await new Promise((r) => setTimeout(r, 100));
    const after = reg.output();
    assert.ok(!after.includes((t.token as string).split('.')[2]), 'token in a query string leaked');
    assert.ok(!after.includes(encodeURIComponent(PASSWORDS.bob)) && !after.includes(PASSWORDS.bob), 'password in a query string leaked');
    assert.match(after, /uri="?\/auth\/token\?service=berth-test-registry&account=bob&password=REDACTED"?/);
  });
});

describe('token expiry and RS256 keys', () => {
  it('a token stops working once it expires', async () => {
    const dir = tempDir();
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    writeFileSync(join(dir, 'rsa.key'), pem);
    const reg = await startRegistry({
      auth: { token: { realm: 'http://127.0.0.1:1/auth/token', service: 's', issuer: 'i', signingkey: join(dir, 'rsa.key'), expiration: 3 } },
      access: { repositories: [{ match: '**', anonymous: ['pull'] }] },
    }, { dir });
    try {
      const ch = await http('GET', `${reg.url}/v2/`);
      assert.match(ch.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:1\/auth\/token",service="s"$/);
      const t = await http('GET', `${reg.url}/auth/token?service=s&scope=repository:any/thing:pull`);
      const token = t.json<{ token: string }>().token;
      assert.equal(decodeProtectedHeader(token).alg, 'RS256');
      const ok = await http('GET', `${reg.url}/v2/any/thing/tags/list`, { headers: bearer(token) });
      assert.equal(ok.status, 404, 'authorized (the repository just does not exist)');
      // Three seconds of life: a loaded machine once took over one between issuing the token and its first use.
      await new Promise((r) => setTimeout(r, 3100));
      const expired = await http('GET', `${reg.url}/v2/any/thing/tags/list`, { headers: bearer(token) });
      assert.equal(expired.status, 401);
    } finally {
      await reg.stop();
      cleanup(dir);
    }
  });
});

/** The libtrust key id a CNCF token server puts in "kid": base32 of the first 240 bits of SHA-256(SPKI DER), in groups of 4. */
function libtrustKid(pub: KeyObject): string {
  const bytes = createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return (out.match(/.{4}/g) as string[]).join(':');
}

describe('tokens from an external token service (auth.token.rootcertbundle)', { skip: hasBinary('openssl') ? false : 'openssl is not installed' }, () => {
  it('accepts tokens signed by a certificate in the bundle (by kid or x5c) and refuses the rest', async () => {
    const dir = tempDir();
    const keyPath = join(dir, 'issuer.key');
    const certPath = join(dir, 'issuer.crt');
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=token-issuer']);
    assert.equal(gen.status, 0, String(gen.stderr));
    // A config as written for the CNCF registry in front of an external token server.
    const reg = await startRegistry({
      auth: { token: { realm: 'https://auth.example.test/token', service: 'ext-registry', issuer: 'ext-issuer', rootcertbundle: certPath } },
    }, { dir });
    try {
      const key = createPrivateKey(readFileSync(keyPath));
      const cert = new X509Certificate(readFileSync(certPath));
      const now = Math.floor(Date.now() / 1000);
      const sign = (header: Record<string, unknown>, k = key, access = [{ type: 'repository', name: 'ext/app', actions: ['pull', 'push'] }]): Promise<string> =>
        new SignJWT({ access }).setProtectedHeader({ alg: 'ES256', ...header }).setIssuer('ext-issuer').setAudience('ext-registry')
          .setSubject('someone').setIssuedAt(now).setExpirationTime(now + 60).sign(k);
      const challenge = await http('GET', `${reg.url}/v2/ext/app/tags/list`);
      assert.equal(challenge.status, 401);
      assert.equal(challenge.headers.get('www-authenticate'), 'Bearer realm="https://auth.example.test/token",service="ext-registry",scope="repository:ext/app:pull"');
      assert.equal((await http('GET', `${reg.url}/auth/token?service=ext-registry`)).status, 404, 'no built-in token service without a signing key');

      const byKid = await sign({ kid: libtrustKid(cert.publicKey) });
      const img = randomImage(1, 100);
      assert.equal((await pushImage(reg.url, 'ext/app', img, 'v1', bearer(byKid))).status, 201);
      const byX5c = await sign({ x5c: [cert.raw.toString('base64')] });
      const pulled = await http('GET', `${reg.url}/v2/ext/app/manifests/v1`, { headers: bearer(byX5c) });
      assert.equal(pulled.status, 200);
      assert.ok(pulled.body.equals(img.manifest));
      // Scope is enforced for foreign tokens too.
      const other = await http('GET', `${reg.url}/v2/ext/other/tags/list`, { headers: bearer(byKid) });
      assert.equal(other.status, 401);
      assert.match(other.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);

      const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const bad: Record<string, string> = {
        'unknown key': await sign({ kid: libtrustKid(stranger.publicKey) }, stranger.privateKey),
        'known kid, other key': await sign({ kid: libtrustKid(cert.publicKey) }, stranger.privateKey),
        'x5c of a certificate not in the bundle': await sign({ x5c: [Buffer.from('not a cert').toString('base64')] }),
      };
      for (const [what, token] of Object.entries(bad)) {
        const r = await http('GET', `${reg.url}/v2/ext/app/manifests/v1`, { headers: bearer(token) });
        assert.equal(r.status, 401, what);
        assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
      }
    } finally {
      await reg.stop();
      cleanup(dir);
    }
  });
});
