// Content trust (issue #19, ADR 0007) against a real `berth registry`: keys
// kept encrypted, push with DOCKER_CONTENT_TRUST=1 signing, a second daemon
// pulling and running only what a trusted signer signed, `trust inspect`,
// `trust revoke`, the attacks of the issue each set up in the registry and
// refused with nothing stored, and berth's signatures checked by an
// independent verifier (sigstore's @sigstore/verify from npm).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { BERTH, DOCKER, TestDaemon, startSeededDaemon } from '../helpers/daemon.ts';
import { runAsync, startCncfRegistry, type Result } from '../helpers/registries.ts';
import { basic, hasBinary, http, layer, image, pushImage, sha256, startRegistry, type Registry, OCI_MANIFEST } from '../registry/helpers.ts';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const PASS = 'correct horse battery';
const ROOT_PASS = 'root of all trust';

interface Referrers { manifests: { digest: string; artifactType?: string }[] }

describe('content trust', () => {
  let d: TestDaemon;
  let d2: TestDaemon;
  let reg: Registry;
  let work: string;
  let cfg: string;
  let R: string;
  const env = (o: { daemon?: TestDaemon; trust?: boolean; config?: string; pass?: string } = {}): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: (o.daemon ?? d).host, DOCKER_CONFIG: o.config ?? cfg, DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: o.pass ?? PASS, DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: ROOT_PASS };
    delete e.DOCKER_CONTENT_TRUST;
    if (o.trust) e.DOCKER_CONTENT_TRUST = '1';
    return e;
  };
  const berth = (args: string[], o: Parameters<typeof env>[0] & { cwd?: string } = {}): Promise<Result> => runAsync('sh', ['-c', `cd "$0" && exec "$@"`, o.cwd ?? work, BERTH, ...args], { env: env(o) });
  const ok = (r: Result): Result => {
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const images2 = async (): Promise<string> => ok(await berth(['images', '-a', '--digests', '--format', '{{.Repository}}:{{.Tag}}@{{.Digest}} {{.ID}}'], { daemon: d2 })).stdout.split('\n').sort().join('\n');
  const digestOf = async (repo: string, tag: string): Promise<string> => {
    const r = await http('HEAD', `${reg.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST + ', application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(r.status, 200, `${repo}:${tag}`);
    return r.headers.get('docker-content-digest') as string;
  };
  const signaturesOf = async (repo: string, digest: string): Promise<string[]> => {
    const r = await http('GET', `${reg.url}/v2/${repo}/referrers/${digest}`);
    assert.equal(r.status, 200);
    return r.json<Referrers>().manifests.filter((m) => m.artifactType === BUNDLE).map((m) => m.digest);
  };
  /** A pull on the second daemon with trust on that must fail, leaving its images as they were. */
  const refused = async (ref: string, why: RegExp): Promise<void> => {
    const before = await images2();
    const r = await berth(['pull', ref], { daemon: d2, trust: true });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, why);
    assert.equal(await images2(), before, 'nothing stored');
  };
  /** Pushes `bytes` as a signature-shaped artifact attached to repo@subject. */
  const attach = async (repo: string, subject: string, bundle: Buffer, size = bundle.length): Promise<void> => {
    const empty = Buffer.from('{}');
    for (const b of [bundle, empty]) assert.equal((await http('POST', `${reg.url}/v2/${repo}/blobs/uploads/?digest=${sha256(b)}`, { headers: { 'content-type': 'application/octet-stream' }, body: b })).status, 201);
    const subj = await http('GET', `${reg.url}/v2/${repo}/manifests/${subject}`, { headers: { accept: OCI_MANIFEST + ', application/vnd.docker.distribution.manifest.v2+json' } });
    const m = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: BUNDLE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [{ mediaType: BUNDLE, digest: sha256(bundle), size }],
      subject: { mediaType: subj.headers.get('content-type'), digest: subject, size: subj.body.length },
    }));
    assert.equal((await http('PUT', `${reg.url}/v2/${repo}/manifests/${sha256(m)}`, { headers: { 'content-type': OCI_MANIFEST }, body: m })).status, 201);
  };
  const bundleOf = async (repo: string, sig: string): Promise<Buffer> => {
    const m = (await http('GET', `${reg.url}/v2/${repo}/manifests/${sig}`, { headers: { accept: OCI_MANIFEST } })).json<{ layers: { digest: string }[] }>();
    return (await http('GET', `${reg.url}/v2/${repo}/blobs/${m.layers[0].digest}`)).body;
  };
  /** A small runnable-looking image of its own pushed by plain HTTP, unsigned. */
  const pushRandom = async (repo: string, tag: string, note: string): Promise<string> => {
    const img = image([layer({ [`${note}.txt`]: note })], note);
    assert.equal((await pushImage(reg.url, repo, img, tag)).status, 201);
    return img.manifestDigest;
  };

  before(async () => {
    d = await startSeededDaemon();
    d2 = new TestDaemon();
    await d2.start();
    reg = await startRegistry();
    R = reg.host;
    work = mkdtempSync('/tmp/berth-trust-');
    cfg = join(work, 'config');
  });
  after(async () => {
    await d.destroy();
    await d2.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('trust key generate writes NAME.pub in the working directory and keeps the private key encrypted; a wrong passphrase signs nothing', async () => {
    const r = ok(await berth(['trust', 'key', 'generate', 'alice']));
    assert.match(r.stdout, new RegExp(`Corresponding public key available: ${work}/alice.pub`));
    assert.match(readFileSync(join(work, 'alice.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----\nrole: alice\n/);
    const priv = readdirSync(join(cfg, 'trust/private'));
    assert.equal(priv.length, 1);
    const pem = readFileSync(join(cfg, 'trust/private', priv[0]), 'utf8');
    assert.match(pem, /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.ok(!r.stdout.includes(PASS) && !r.stderr.includes(PASS), 'the passphrase is never printed');
    assert.equal((await berth(['trust', 'key', 'generate', 'alice'])).code, 1, 'an existing NAME.pub is not overwritten');
    // Without a passphrase and without a terminal there is nothing to sign with.
    const noPass = await runAsync(BERTH, ['trust', 'key', 'generate', 'nopass'], { env: { ...env(), DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: '' } });
    assert.equal(noPass.code, 1);
    assert.match(noPass.stderr, /DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE/);

    ok(await berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', `${R}/app`, `${R}/other`]));
    ok(await berth(['tag', 'busybox', `${R}/app:wrongpass`]));
    const bad = await berth(['push', `${R}/app:wrongpass`], { trust: true, pass: 'not the passphrase' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /wrong passphrase/);
    assert.ok(!bad.stderr.includes('not the passphrase'));
    assert.deepEqual(await signaturesOf('app', await digestOf('app', 'wrongpass')), []);
  });

  test('on a terminal the passphrase is asked for twice, without echo', { skip: hasBinary('script') ? false : 'no script(1)' }, async () => {
    const ttyCfg = join(work, 'tty');
    const typed = (first: string, second: string) => runAsync('sh', ['-c', `(sleep 1.5; printf '${first}\\r'; sleep 1; printf '${second}\\r'; sleep 1) | script -qfc "cd ${work} && ${BERTH} trust key generate $0" /dev/null`, 'ttykey'], { env: { ...env({ config: ttyCfg }), DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: '' } });
    const mismatch = await typed('typed-passphrase-1', 'typed-passphrase-2');
    assert.match(mismatch.stdout, /passphrases do not match/);
    assert.throws(() => readdirSync(join(ttyCfg, 'trust/private')));
    const r = await typed('typed-passphrase-1', 'typed-passphrase-1');
    assert.match(r.stdout, /Enter passphrase for new ttykey key: \r?\nRepeat passphrase: \r?\nSuccessfully generated/);
    assert.ok(!r.stdout.includes('typed-passphrase'), r.stdout);
    const [file] = readdirSync(join(ttyCfg, 'trust/private'));
    const { KeyStore } = await import('../../src/trust/keys.ts');
    const store = new KeyStore(join(ttyCfg, 'trust'));
    assert.equal(store.unlock(store.get(file.slice(0, 64)), 'typed-passphrase-1').asymmetricKeyType, 'ec');
  });

  test('push with DOCKER_CONTENT_TRUST=1 signs; a second daemon pulls and runs the signed digest; inspect names the signer', async () => {
    ok(await berth(['tag', 'busybox', `${R}/app:v1`]));
    const p = ok(await berth(['push', `${R}/app:v1`], { trust: true }));
    assert.match(p.stdout, /Signing and pushing trust metadata\n/);
    assert.match(p.stdout, new RegExp(`Successfully signed ${R}/app:v1`));
    const digest = await digestOf('app', 'v1');
    assert.equal((await signaturesOf('app', digest)).length, 1);

    const pull = ok(await berth(['pull', `${R}/app:v1`], { daemon: d2, trust: true }));
    assert.match(pull.stdout, new RegExp(`^Pull \\(1 of 1\\): ${R}/app:v1@${digest}$`, 'm'));
    assert.match(pull.stdout, new RegExp(`^Tagging ${R}/app@${digest} as ${R}/app:v1$`, 'm'));
    const insp = JSON.parse(ok(await berth(['image', 'inspect', `${R}/app:v1`], { daemon: d2 })).stdout) as { RepoDigests: string[] }[];
    assert.deepEqual(insp[0].RepoDigests, [`${R}/app@${digest}`]);
    const run = ok(await berth(['run', '--rm', `${R}/app:v1`, 'echo', 'trusted'], { daemon: d2, trust: true }));
    assert.equal(run.stdout, 'trusted\n');

    const pretty = ok(await berth(['trust', 'inspect', '--pretty', `${R}/app`])).stdout;
    assert.match(pretty, new RegExp(`Signatures for ${R}/app\\n\\nSIGNED TAG +DIGEST +SIGNERS\\nv1 +${digest.slice(7)} +alice\\n`));
    assert.match(pretty, /List of signers and their keys for .*\n\nSIGNER +KEYS\nalice +[a-f0-9]{12}\n/);
    const json = JSON.parse(ok(await berth(['trust', 'inspect', `${R}/app:v1`])).stdout) as { Name: string; SignedTags: { SignedTag: string; Digest: string; Signers: string[] }[] }[];
    assert.deepEqual(json[0].SignedTags, [{ SignedTag: 'v1', Digest: digest.slice(7), Signers: ['alice'] }]);
  });

  test('berth\'s signature verifies with @sigstore/verify, and a tampered one does not', async () => {
    const digest = await digestOf('app', 'v1');
    const [sig] = await signaturesOf('app', digest);
    const doc = JSON.parse((await bundleOf('app', sig)).toString('utf8')) as { dsseEnvelope: { payload: string } };
    const key = createPublicKey(readFileSync(join(work, 'alice.pub'), 'utf8').split('\n').filter((l) => l !== '' && !/^[a-z]+: /.test(l)).join('\n'));
    const verify = (json: unknown): void => {
      const bundle = bundleFromJSON(json);
      const hint = bundle.verificationMaterial.content.$case === 'publicKey' ? bundle.verificationMaterial.content.publicKey.hint : '';
      const trust = toTrustMaterial({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], ctlogs: [], certificateAuthorities: [], timestampAuthorities: [] }, (h: string) => {
        if (h !== hint) throw new Error(`unknown key ${h}`);
        return { publicKey: key, validFor: () => true };
      });
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
    };
    verify(doc);
    const statement = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString('utf8')) as { subject: { name: string; digest: { sha256: string } }[]; predicateType: string };
    assert.deepEqual(statement.subject, [{ name: `${R}/app`, digest: { sha256: digest.slice(7) } }]);
    assert.equal(statement.predicateType, 'https://sigstore.dev/cosign/sign/v1');
    const tampered = structuredClone(doc);
    tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify({ ...statement, subject: [{ name: `${R}/app`, digest: { sha256: 'f'.repeat(64) } }] })).toString('base64');
    assert.throws(() => verify(tampered), /signature verification failed/);
  });

  test('an unsigned tag and a tag moved to another digest after signing are refused; --disable-content-trust pulls them', async () => {
    await pushRandom('app', 'unsigned', 'unsigned');
    await refused(`${R}/app:unsigned`, /^Error: No valid trust data for unsigned\n/);
    ok(await berth(['pull', '--disable-content-trust', `${R}/app:unsigned`], { daemon: d2, trust: true }));

    await pushRandom('app', 'moved', 'first');
    ok(await berth(['trust', 'sign', `${R}/app:moved`]));
    await pushRandom('app', 'moved', 'second');
    await refused(`${R}/app:moved`, /No valid trust data for moved/);
    // run and create refuse the same way, before the daemon sees anything.
    const run = await berth(['create', `${R}/app:moved`], { daemon: d2, trust: true });
    assert.equal(run.code, 125);
    assert.match(run.stderr, /No valid trust data for moved/);
  });

  test('build with DOCKER_CONTENT_TRUST=1 builds FROM the signed digest and tags it; an unsigned FROM is refused before the daemon sees it', async () => {
    const digest = await digestOf('app', 'v1');
    ok(await berth(['rmi', `${R}/app:v1`], { daemon: d2 }));
    const ctxDir = join(work, 'build');
    mkdirSync(ctxDir);
    writeFileSync(join(ctxDir, 'Dockerfile'), `FROM ${R}/app:v1 AS base\nRUN echo built > /built\nFROM base\nRUN cat /built\n`);
    const b = ok(await berth(['build', '-t', 'trusted-build', ctxDir], { daemon: d2, trust: true }));
    assert.match(b.stdout, new RegExp(`FROM ${R}/app@${digest} AS base`));
    assert.match(b.stderr, new RegExp(`Tagging ${R}/app@${digest} as ${R}/app:v1`));
    assert.equal(ok(await berth(['run', '--rm', 'trusted-build', 'cat', '/built'], { daemon: d2 })).stdout, 'built\n');
    const insp = JSON.parse(ok(await berth(['image', 'inspect', `${R}/app:v1`], { daemon: d2 })).stdout) as { RepoDigests: string[] }[];
    assert.deepEqual(insp[0].RepoDigests, [`${R}/app@${digest}`]);

    writeFileSync(join(ctxDir, 'Dockerfile'), `FROM ${R}/app:unsigned\nRUN true\n`);
    const before = await images2();
    const u = await berth(['build', '-t', 'untrusted-build', ctxDir], { daemon: d2, trust: true });
    assert.equal(u.code, 1);
    assert.match(u.stderr, /No valid trust data for unsigned/);
    assert.equal(await images2(), before);
  });

  test('pull -a with trust pulls every signed tag by its digest and no unsigned one', async () => {
    ok(await berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', `${R}/many`]));
    const a = await pushRandom('many', 'a', 'many-a');
    const b = await pushRandom('many', 'b', 'many-b');
    await pushRandom('many', 'c', 'many-c');
    ok(await berth(['trust', 'sign', `${R}/many:a`]));
    ok(await berth(['trust', 'sign', `${R}/many:b`]));
    const r = ok(await berth(['pull', '-a', `${R}/many`], { daemon: d2, trust: true }));
    assert.match(r.stdout, new RegExp(`^Pull \\(1 of 2\\): ${R}/many:a@${a}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Pull \\(2 of 2\\): ${R}/many:b@${b}$`, 'm'));
    const tags = ok(await berth(['images', '--format', '{{.Tag}}', `${R}/many`], { daemon: d2 })).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(tags, ['a', 'b']);
    const none = await berth(['pull', '-a', `${R}/app-none`], { daemon: d2, trust: true });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No trusted tags for .*\/app-none/);
  });

  test('a layer blob swapped in the registry\'s storage is refused and nothing is stored', async () => {
    const img = image([layer({ 'payload.txt': 'the real layer' })], 'swap');
    assert.equal((await pushImage(reg.url, 'app', img, 'swap')).status, 201);
    ok(await berth(['trust', 'sign', `${R}/app:swap`]));
    const hex = img.layers[0].digest.slice(7);
    writeFileSync(join(reg.root, 'blobs', 'sha256', hex.slice(0, 2), hex), layer({ 'payload.txt': 'an evil layer!' }).blob.bytes);
    await refused(`${R}/app:swap`, new RegExp(`filesystem layer verification failed for digest ${img.layers[0].digest}`));
  });

  test('signatures by an unknown signer, over another repository, truncated or oversized are refused', async () => {
    // bob signs in a configuration of his own where he is a signer; alice's configuration does not know him.
    const bobCfg = join(work, 'bob');
    ok(await berth(['trust', 'key', 'generate', 'bob'], { config: bobCfg }));
    ok(await berth(['trust', 'signer', 'add', '--key', 'bob.pub', 'bob', `${R}/app`], { config: bobCfg }));
    await pushRandom('app', 'bob', 'bob');
    ok(await berth(['trust', 'sign', `${R}/app:bob`], { config: bobCfg }));
    await refused(`${R}/app:bob`, /not a signer of/);

    // alice's genuine signature of other:x, copied beside the same image in app.
    const digest = await pushRandom('other', 'x', 'shared');
    await pushRandom('app', 'x', 'shared');
    ok(await berth(['trust', 'sign', `${R}/other:x`]));
    const [sig] = await signaturesOf('other', digest);
    await attach('app', digest, await bundleOf('other', sig));
    await refused(`${R}/app:x`, /signature is for repository .*\/other, not .*\/app/);
    ok(await berth(['pull', `${R}/other:x`], { daemon: d2, trust: true }));

    const good = await bundleOf('other', sig);
    const tDigest = await pushRandom('app', 'truncated', 'truncated');
    await attach('app', tDigest, good.subarray(0, good.length >> 1));
    await refused(`${R}/app:truncated`, /not valid JSON/);

    const oDigest = await pushRandom('app', 'oversized', 'oversized');
    const padded = JSON.stringify({ ...JSON.parse(good.toString('utf8')) as object, padding: 'x'.repeat(100_000) });
    await attach('app', oDigest, Buffer.from(padded));
    await refused(`${R}/app:oversized`, /over the 65536 byte limit/);
    // A manifest that understates the size is caught by the download limit.
    const lDigest = await pushRandom('app', 'lying', 'lying');
    await attach('app', lDigest, Buffer.from(padded), 1000);
    await refused(`${R}/app:lying`, /over the 65536 byte limit/);
  });

  test('trust key load imports an existing P-256 key, which then signs; other keys are refused', async () => {
    const daveCfg = join(work, 'dave');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(work, 'dave.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeFileSync(join(work, 'dave.pub'), publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const r = ok(await berth(['trust', 'key', 'load', 'dave.pem', '--name', 'dave'], { config: daveCfg }));
    assert.equal(r.stdout, 'Loading key from "dave.pem"...\nSuccessfully imported key from dave.pem\n');
    assert.match(readFileSync(join(daveCfg, 'trust/private', readdirSync(join(daveCfg, 'trust/private'))[0]), 'utf8'), /ENCRYPTED PRIVATE KEY-----\nrole: dave\n/);
    ok(await berth(['trust', 'signer', 'add', '--key', 'dave.pub', 'dave', `${R}/app`], { config: daveCfg }));
    await pushRandom('app', 'dave', 'dave');
    ok(await berth(['trust', 'sign', `${R}/app:dave`], { config: daveCfg }));
    const info = JSON.parse(ok(await berth(['trust', 'inspect', `${R}/app:dave`], { config: daveCfg })).stdout) as { SignedTags: { Signers: string[] }[] }[];
    assert.deepEqual(info[0].SignedTags.map((t) => t.Signers), [['dave']]);
    writeFileSync(join(work, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const rsa = await berth(['trust', 'key', 'load', 'rsa.pem', '--name', 'rsa'], { config: daveCfg });
    assert.equal(rsa.code, 1);
    assert.match(rsa.stderr, /only ECDSA P-256 keys are supported/);
  });

  test('a signer key past its expiry: its signatures are refused and it signs nothing', async () => {
    const carolCfg = join(work, 'carol');
    ok(await berth(['trust', 'key', 'generate', 'carol'], { config: carolCfg }));
    const pub = readFileSync(join(work, 'carol.pub'), 'utf8');
    assert.match(pub, /^expires: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    ok(await berth(['trust', 'signer', 'add', '--key', 'carol.pub', 'carol', `${R}/app`], { config: carolCfg }));
    await pushRandom('app', 'carol', 'carol');
    ok(await berth(['trust', 'sign', `${R}/app:carol`], { config: carolCfg }));
    // alice's configuration trusts carol's key only until a date already past.
    writeFileSync(join(work, 'carol-expired.pub'), pub.replace(/^expires: .*$/m, 'expires: 2020-01-01T00:00:00Z'));
    ok(await berth(['trust', 'signer', 'add', '--key', 'carol-expired.pub', 'carol', `${R}/app`]));
    await refused(`${R}/app:carol`, /key [a-f0-9]{12} of signer carol expired on 2020-01-01T00:00:00Z/);
    ok(await berth(['trust', 'signer', 'remove', '--force', 'carol', `${R}/app`], { config: carolCfg }));
    ok(await berth(['trust', 'signer', 'add', '--key', 'carol-expired.pub', 'carol', `${R}/app`], { config: carolCfg }));
    const sign = await berth(['trust', 'sign', `${R}/app:carol`], { config: carolCfg });
    assert.equal(sign.code, 1);
    assert.match(sign.stderr, /expired on 2020-01-01T00:00:00Z/);
  });

  test('trust revoke deletes a tag\'s signature and trust signer remove stops trusting a signer', async () => {
    ok(await berth(['tag', 'busybox', `${R}/app:v2`]));
    ok(await berth(['push', `${R}/app:v2`], { trust: true }));
    const r = ok(await berth(['trust', 'revoke', `${R}/app:v2`]));
    assert.match(r.stdout, new RegExp(`Successfully deleted signature for ${R}/app:v2`));
    // v2 is the same image as v1: only v2's signature went, v1's is still there.
    assert.equal((await signaturesOf('app', await digestOf('app', 'v2'))).length, 1);
    await refused(`${R}/app:v2`, /No valid trust data for v2 \(signature is for tag v1\)/);
    const inspect = JSON.parse(ok(await berth(['trust', 'inspect', `${R}/app`])).stdout) as { SignedTags: { SignedTag: string }[] }[];
    assert.ok(inspect[0].SignedTags.some((t) => t.SignedTag === 'v1'));
    assert.ok(!inspect[0].SignedTags.some((t) => t.SignedTag === 'v2'));

    // v1 is still signed by alice; once she is removed as a signer it is not trusted.
    ok(await berth(['rmi', `${R}/app:v1`], { daemon: d2 }));
    ok(await berth(['trust', 'signer', 'remove', '--force', 'alice', `${R}/app`]));
    await refused(`${R}/app:v1`, /remote trust data does not exist|No valid trust data/);
  });

  test('a first trusted push to a repository without signers creates its repository key', async () => {
    ok(await berth(['tag', 'busybox', `${R}/fresh:1`]));
    const r = ok(await berth(['push', `${R}/fresh:1`], { trust: true }));
    assert.match(r.stdout, /Initializing signed repository for .*\/fresh/);
    const info = JSON.parse(ok(await berth(['trust', 'inspect', `${R}/fresh`])).stdout) as { SignedTags: { Signers: string[] }[]; AdministrativeKeys: { Name: string }[] }[];
    assert.deepEqual(info[0].SignedTags.map((t) => t.Signers), [['repository']]);
    assert.deepEqual(info[0].AdministrativeKeys.map((k) => k.Name), ['Root', 'Repository']);
    ok(await berth(['pull', `${R}/fresh:1`], { daemon: d2, trust: true }));
  });

  test('a registry without the referrers API (the CNCF registry, with Basic auth) carries signatures under the fallback tag', { skip: hasBinary('docker-registry') ? false : 'no docker-registry' }, async () => {
    const cncf = await startCncfRegistry({ users: { u: 'pw' } });
    try {
      const C = cncf.host;
      ok(await berth(['login', '-u', 'u', '-p', 'pw', C]));
      ok(await berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', `${C}/cn`]));
      ok(await berth(['tag', 'busybox', `${C}/cn:1`]));
      ok(await berth(['push', `${C}/cn:1`], { trust: true }));
      const auth = basic('u', 'pw');
      assert.equal((await http('GET', `${cncf.url}/v2/cn/referrers/${'sha256:' + '0'.repeat(64)}`, { headers: auth })).status, 404, 'no referrers API');
      const tags = (await http('GET', `${cncf.url}/v2/cn/tags/list`, { headers: auth })).json<{ tags: string[] }>().tags;
      const digest = (await http('HEAD', `${cncf.url}/v2/cn/manifests/1`, { headers: { ...auth, accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).headers.get('docker-content-digest') as string;
      assert.deepEqual(tags.sort(), ['1', 'berth-trust-signers', digest.replace(':', '-')]);
      const index = (await http('GET', `${cncf.url}/v2/cn/manifests/${digest.replace(':', '-')}`, { headers: { ...auth, accept: 'application/vnd.oci.image.index.v1+json' } })).json<Referrers>();
      assert.deepEqual(index.manifests.map((m) => m.artifactType), [BUNDLE]);
      const pull = ok(await berth(['pull', `${C}/cn:1`], { daemon: d2, trust: true }));
      assert.match(pull.stdout, new RegExp(`Tagging ${C}/cn@${digest} as ${C}/cn:1`));
      assert.match(ok(await berth(['trust', 'inspect', '--pretty', `${C}/cn`])).stdout, new RegExp(`\n1 +${digest.slice(7)} +alice\n`));
    } finally {
      await cncf.stop();
    }
  });

  test('a daemon with a trust policy pulls only what the policy\'s signers signed, for any client, build FROM included', async () => {
    const policy = join(work, 'policy.json');
    writeFileSync(policy, JSON.stringify({ repositories: { [`${R}/app`]: { signers: { alice: join(work, 'alice.pub') } } } }));
    const d3 = new TestDaemon(['--trust-policy', policy]);
    await d3.start();
    try {
      const images3 = async (): Promise<string> => ok(await berth(['images', '-a', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], { daemon: d3 })).stdout;
      const signed = ok(await berth(['pull', `${R}/app:v1`], { daemon: d3 }));
      assert.match(signed.stdout, /Status: Downloaded newer image/);
      const before = await images3();
      const unsigned = await berth(['pull', `${R}/app:unsigned`], { daemon: d3 });
      assert.equal(unsigned.code, 1);
      assert.match(unsigned.stderr, /Source image rejected: the daemon's trust policy requires a trusted signature for .*\/app:unsigned: No valid trust data for unsigned/);
      const byDigest = await berth(['pull', `${R}/app@${await digestOf('app', 'unsigned')}`], { daemon: d3 });
      assert.equal(byDigest.code, 1);
      assert.match(byDigest.stderr, /Source image rejected/);
      // bob's signature is valid, but bob is not in the policy.
      assert.match((await berth(['pull', `${R}/app:bob`], { daemon: d3 })).stderr, /not a signer of/);
      // The docker CLI meets the same refusal: the policy is the daemon's.
      if (DOCKER) {
        const docker = await runAsync(DOCKER, ['pull', `${R}/app:unsigned`], { env: { ...process.env, DOCKER_HOST: d3.host } });
        assert.notEqual(docker.code, 0);
        assert.match(docker.stderr, /Source image rejected/);
      }
      const ctxDir = join(work, 'build-policy');
      mkdirSync(ctxDir);
      writeFileSync(join(ctxDir, 'Dockerfile'), `FROM ${R}/app:moved\nRUN true\n`);
      const b = await berth(['build', ctxDir], { daemon: d3 });
      assert.notEqual(b.code, 0);
      assert.match(b.stdout + b.stderr, /Source image rejected/);
      assert.equal(await images3(), before, 'nothing stored');
      // Repositories the policy does not name are pulled as before.
      ok(await berth(['pull', `${R}/other:x`], { daemon: d3 }));
    } finally {
      await d3.destroy();
    }
  });
});
