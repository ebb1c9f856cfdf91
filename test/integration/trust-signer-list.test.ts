// Content trust's published signer lists (ADR 0008) and the trust client on a
// TLS registry. A publisher (config A) signs and pushes; a consumer with its
// own DOCKER_CONFIG (config B) and no signer added pulls with trust on,
// trusting the list the registry carries and pinning its root key on first
// use. A list re-signed by another root, a rolled-back list and a removed
// signer's new signatures are each set up in a real `berth registry` and
// refused with nothing stored. Then a registry behind TLS, trusted through a
// certs.d directory the test makes (BERTH_CERTS_D for the client,
// --registry-certs-dir for the daemons).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { BERTH, TestDaemon, startSeededDaemon } from '../helpers/daemon.ts';
import { runAsync, type Result } from '../helpers/registries.ts';
import { hasBinary, http, image, layer, pushImage, startRegistry, sha256, type Registry, OCI_MANIFEST } from '../registry/helpers.ts';
import { keyId } from '../../src/trust/keys.ts';
import { makeSignerList, SIGNER_LIST_MEDIA_TYPE, SIGNER_LIST_TAG } from '../../src/trust/signer-list.ts';

const PASS = 'repository passphrase';
const ROOT_PASS = 'root passphrase!';
const IP = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

interface Inspect { Signers: { Name: string; Keys: { ID: string }[] }[]; AdministrativeKeys: { Name: string; Keys: { ID: string }[] }[]; SignedTags: { SignedTag: string; Signers: string[] }[] }
interface Pins { [repo: string]: { root: string; version: number } }

function harness() {
  const h = {
    d: undefined as unknown as TestDaemon,
    d2: undefined as unknown as TestDaemon,
    work: '',
    extraEnv: {} as NodeJS.ProcessEnv,
    env(o: { daemon?: TestDaemon; trust?: boolean; config: string }): NodeJS.ProcessEnv {
      const e: NodeJS.ProcessEnv = { ...process.env, ...h.extraEnv, DOCKER_HOST: (o.daemon ?? h.d).host, DOCKER_CONFIG: join(h.work, o.config), DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: PASS, DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: ROOT_PASS };
      delete e.DOCKER_CONTENT_TRUST;
      if (o.trust) e.DOCKER_CONTENT_TRUST = '1';
      return e;
    },
    berth(args: string[], o: { daemon?: TestDaemon; trust?: boolean; config: string }): Promise<Result> {
      return runAsync('sh', ['-c', `cd "$0" && exec "$@"`, h.work, BERTH, ...args], { env: h.env(o) });
    },
    ok(r: Result): Result {
      assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r;
    },
    async images2(): Promise<string> {
      return h.ok(await h.berth(['images', '-a', '--digests', '--format', '{{.Repository}}:{{.Tag}}@{{.Digest}} {{.ID}}'], { daemon: h.d2, config: 'B' })).stdout.split('\n').sort().join('\n');
    },
    /** A pull by config B on the second daemon with trust on that must fail, storing nothing. */
    async refused(ref: string, why: RegExp): Promise<void> {
      const before = await h.images2();
      const r = await h.berth(['pull', ref], { daemon: h.d2, trust: true, config: 'B' });
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, why);
      assert.equal(await h.images2(), before, 'nothing stored');
    },
    pins(config: string): Pins {
      return JSON.parse(readFileSync(join(h.work, config, 'trust/roots.json'), 'utf8')) as Pins;
    },
  };
  return h;
}

describe('content trust: signer lists published in the registry', () => {
  const h = harness();
  const { ok } = h;
  let reg: Registry;
  let R: string;
  const listManifest = async (): Promise<Buffer> => {
    const r = await http('GET', `${reg.url}/v2/pub/manifests/${SIGNER_LIST_TAG}`, { headers: { accept: OCI_MANIFEST } });
    assert.equal(r.status, 200);
    return r.body;
  };
  const putList = async (manifest: Buffer): Promise<void> => {
    assert.equal((await http('PUT', `${reg.url}/v2/pub/manifests/${SIGNER_LIST_TAG}`, { headers: { 'content-type': OCI_MANIFEST }, body: manifest })).status, 201);
  };
  const pushRandom = async (tag: string, note: string): Promise<string> => {
    const img = image([layer({ [`${note}.txt`]: note })], note);
    assert.equal((await pushImage(reg.url, 'pub', img, tag)).status, 201);
    return img.manifestDigest;
  };

  before(async () => {
    h.d = await startSeededDaemon();
    h.d2 = new TestDaemon();
    await h.d2.start();
    reg = await startRegistry();
    R = reg.host;
    h.work = mkdtempSync('/tmp/berth-trust-list-');
  });
  after(async () => {
    await h.d.destroy();
    await h.d2.destroy();
    await reg.stop();
    rmSync(h.work, { recursive: true, force: true });
  });

  test('signer add creates the root key and publishes a signed list; a consumer with no signer added pulls through it and pins the root', async () => {
    ok(await h.berth(['trust', 'key', 'generate', 'alice'], { config: 'A' }));
    const add = ok(await h.berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', `${R}/pub`], { config: 'A' }));
    assert.match(add.stdout, new RegExp(`Initializing signed repository for ${R}/pub\\.\\.\\.\\nRoot key with ID ([a-f0-9]{64}) created\\nSigner list version 1 of ${R}/pub published`));
    assert.ok(!add.stdout.includes(ROOT_PASS) && !add.stderr.includes(ROOT_PASS), 'the root passphrase is never printed');
    const rootId = /Root key with ID ([a-f0-9]{64})/.exec(add.stdout)?.[1] as string;
    assert.match(readFileSync(join(h.work, 'A/trust/private', `${rootId}.key`), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: root\n/);
    // The list in the registry: an OCI artifact under the fixed tag, its one layer the document.
    const m = JSON.parse((await listManifest()).toString('utf8')) as { artifactType: string; layers: { mediaType: string; digest: string }[] };
    assert.equal(m.artifactType, SIGNER_LIST_MEDIA_TYPE);
    const doc = JSON.parse((await http('GET', `${reg.url}/v2/pub/blobs/${m.layers[0].digest}`)).text) as { rootKey: { keyid: string }; dsseEnvelope: { payload: string } };
    assert.equal(doc.rootKey.keyid, rootId);
    const content = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString('utf8')) as { repository: string; version: number; signers: Record<string, unknown[]> };
    assert.equal(content.repository, `${R}/pub`);
    assert.equal(content.version, 1);
    assert.deepEqual(Object.keys(content.signers), ['alice']);

    ok(await h.berth(['tag', 'busybox', `${R}/pub:v1`], { config: 'A' }));
    ok(await h.berth(['push', `${R}/pub:v1`], { trust: true, config: 'A' }));
    const digest = (await http('HEAD', `${reg.url}/v2/pub/manifests/v1`, { headers: { accept: OCI_MANIFEST + ', application/vnd.docker.distribution.manifest.v2+json' } })).headers.get('docker-content-digest') as string;

    // Config B has never heard of pub: no signers.json, no pins.
    const pull = ok(await h.berth(['pull', `${R}/pub:v1`], { daemon: h.d2, trust: true, config: 'B' }));
    assert.match(pull.stdout, new RegExp(`^Tagging ${R}/pub@${digest} as ${R}/pub:v1$`, 'm'));
    assert.deepEqual(h.pins('B')[`${R}/pub`], { ...h.pins('B')[`${R}/pub`], root: rootId, version: 1 });
    const info = JSON.parse(ok(await h.berth(['trust', 'inspect', `${R}/pub`], { config: 'B' })).stdout) as Inspect[];
    assert.deepEqual(info[0].Signers.map((s) => s.Name), ['alice']);
    assert.deepEqual(info[0].AdministrativeKeys, [{ Name: 'Root', Keys: [{ ID: rootId }] }]);
    assert.deepEqual(info[0].SignedTags.map((t) => [t.SignedTag, t.Signers]), [['v1', ['alice']]]);
    const pretty = ok(await h.berth(['trust', 'inspect', '--pretty', `${R}/pub`], { config: 'B' })).stdout;
    assert.match(pretty, new RegExp(`\nList of signers and their keys for ${R}/pub\n\nSIGNER +KEYS\nalice +[a-f0-9]{12}\n`));
    assert.match(pretty, new RegExp(`\nAdministrative keys for ${R}/pub\n\n  Root Key:\t${rootId}\n$`));
    // An unsigned tag is still refused for B.
    await pushRandom('unsigned', 'unsigned');
    await h.refused(`${R}/pub:unsigned`, /No valid trust data for unsigned/);
  });

  test('a signer list re-signed by another root is refused by a consumer that pinned the first', async () => {
    const genuine = await listManifest();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const mallory = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const malloryPem = mallory.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const forged = makeSignerList({ repository: `${R}/pub`, version: 50, signers: { mallory: [{ id: keyId(mallory.publicKey), publicKey: malloryPem }] } }, privateKey);
    const empty = Buffer.from('{}');
    for (const b of [forged, empty]) assert.equal((await http('POST', `${reg.url}/v2/pub/blobs/uploads/?digest=${sha256(b)}`, { headers: { 'content-type': 'application/octet-stream' }, body: b })).status, 201);
    await putList(Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: SIGNER_LIST_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [{ mediaType: SIGNER_LIST_MEDIA_TYPE, digest: sha256(forged), size: forged.length }],
    })));
    try {
      await h.refused(`${R}/pub:v1`, /signer list of .*\/pub is signed by root key [a-f0-9]{12}, not by the root key [a-f0-9]{12} pinned on first use/);
      // The publisher's own client refuses to build on it too.
      const add = await h.berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice2', `${R}/pub`], { config: 'A' });
      assert.equal(add.code, 1);
      assert.match(add.stderr, /not by the root key .* pinned on first use/);
    } finally {
      await putList(genuine);
    }
    ok(await h.berth(['pull', `${R}/pub:v1`], { daemon: h.d2, trust: true, config: 'B' }));
  });

  test('a rolled-back signer list is refused once a newer version was seen', async () => {
    const v1 = await listManifest();
    ok(await h.berth(['trust', 'key', 'generate', 'bob'], { config: 'Bob' }));
    const add = ok(await h.berth(['trust', 'signer', 'add', '--key', 'bob.pub', 'bob', `${R}/pub`], { config: 'A' }));
    assert.match(add.stdout, /Signer list version 2 of .*\/pub published/);
    ok(await h.berth(['trust', 'inspect', `${R}/pub`], { config: 'B' }));
    assert.equal(h.pins('B')[`${R}/pub`].version, 2);
    const v2 = await listManifest();
    await putList(v1);
    try {
      await h.refused(`${R}/pub:v1`, /signer list of .*\/pub has version 1, older than version 2 already seen: rollback refused/);
    } finally {
      await putList(v2);
    }
    // A deleted list is no way round the pin either; the root's holder publishes again, above the pinned version.
    assert.equal((await http('DELETE', `${reg.url}/v2/pub/manifests/${sha256(v2)}`)).status, 202);
    await h.refused(`${R}/pub:v1`, /signer list of .*\/pub is missing from the registry, though root key [a-f0-9]{12} \(version 2\) was pinned/);
    ok(await h.berth(['trust', 'key', 'generate', 'carl'], { config: 'Carl' }));
    const again = ok(await h.berth(['trust', 'signer', 'add', '--key', 'carl.pub', 'carl', `${R}/pub`], { config: 'A' }));
    assert.match(again.stdout, /Signer list version 3 of .*\/pub published/);
    assert.doesNotMatch(again.stdout, /Initializing/);
    ok(await h.berth(['pull', `${R}/pub:v1`], { daemon: h.d2, trust: true, config: 'B' }));
    assert.equal(h.pins('B')[`${R}/pub`].version, 3);
    const info = JSON.parse(ok(await h.berth(['trust', 'inspect', `${R}/pub`], { config: 'B' })).stdout) as Inspect[];
    assert.deepEqual(info[0].Signers.map((s) => s.Name), ['alice', 'bob', 'carl']);
    assert.match(ok(await h.berth(['trust', 'signer', 'remove', 'carl', `${R}/pub`], { config: 'A' })).stdout, /Signer list version 4 of .*\/pub published/);
  });

  test('a signer removed from the list: its new signatures are refused, and so are its old ones', async () => {
    // bob, a listed signer, signs from his own configuration: B trusts it through the list.
    await pushRandom('bob1', 'bob-first');
    ok(await h.berth(['trust', 'sign', `${R}/pub:bob1`], { config: 'Bob' }));
    ok(await h.berth(['pull', `${R}/pub:bob1`], { daemon: h.d2, trust: true, config: 'B' }));

    const rm = ok(await h.berth(['trust', 'signer', 'remove', 'bob', `${R}/pub`], { config: 'A' }));
    assert.match(rm.stdout, /Signer list version 5 of .*\/pub published/);
    const info = JSON.parse(ok(await h.berth(['trust', 'inspect', `${R}/pub`], { config: 'B' })).stdout) as Inspect[];
    assert.deepEqual(info[0].Signers.map((s) => s.Name), ['alice']);
    assert.equal(h.pins('B')[`${R}/pub`].version, 5);

    // bob, no longer listed, cannot sign through the list; trusting himself locally, he still can sign...
    await pushRandom('bob2', 'bob-second');
    const refusedSign = await h.berth(['trust', 'sign', `${R}/pub:bob2`], { config: 'Bob' });
    assert.equal(refusedSign.code, 1);
    assert.match(refusedSign.stderr, /no private key of a signer of .*\/pub \(alice\)/);
    const local = ok(await h.berth(['trust', 'signer', 'add', '--key', 'bob.pub', 'bob', `${R}/pub`], { config: 'Bob' }));
    assert.match(local.stdout, /published under a root key this client does not hold: bob is trusted by this client only/);
    ok(await h.berth(['trust', 'sign', `${R}/pub:bob2`], { config: 'Bob' }));
    // ...but B, trusting the list, refuses the signature, and the earlier one too.
    await h.refused(`${R}/pub:bob2`, /signed by key [a-f0-9]{12}, which is not a signer of/);
    ok(await h.berth(['rmi', `${R}/pub:bob1`], { daemon: h.d2, config: 'B' }));
    await h.refused(`${R}/pub:bob1`, /which is not a signer of/);
    // alice's signatures are unaffected.
    ok(await h.berth(['pull', `${R}/pub:v1`], { daemon: h.d2, trust: true, config: 'B' }));
  });
});

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

describe('content trust on a registry behind TLS (certs.d)', { skip: !hasBinary('openssl') ? 'no openssl' : !IP ? 'no non-loopback address' : false }, () => {
  const h = harness();
  const { ok } = h;
  let reg: Registry;
  let R: string;
  let certs: string;
  let empty: string;
  let pki: string;

  before(async () => {
    h.work = mkdtempSync('/tmp/berth-trust-tls-');
    pki = join(h.work, 'pki');
    mkdirSync(pki);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=berth trust test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], pki);
    for (const [name, ext] of [['server', `subjectAltName=IP:${IP}\nextendedKeyUsage=serverAuth`], ['client', 'extendedKeyUsage=clientAuth']]) {
      writeFileSync(join(pki, `${name}.ext`), ext + '\n');
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], pki);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], pki);
    }
    reg = await startRegistry({ http: { addr: `${IP}:0`, tls: { certificate: join(pki, 'server.crt'), key: join(pki, 'server.key') } } });
    R = reg.host;
    certs = join(h.work, 'certs.d');
    mkdirSync(join(certs, R), { recursive: true });
    copyFileSync(join(pki, 'ca.crt'), join(certs, R, 'ca.crt'));
    empty = join(h.work, 'no-certs.d');
    mkdirSync(empty);
    h.d = await startSeededDaemon(['--registry-certs-dir', certs]);
    h.d2 = new TestDaemon(['--registry-certs-dir', certs]);
    await h.d2.start();
  });
  after(async () => {
    await h.d?.destroy();
    await h.d2?.destroy();
    await reg?.stop();
    rmSync(h.work, { recursive: true, force: true });
  });

  test('with the CA in the certs.d directory, trusted push and pull work over TLS', async () => {
    assert.match(reg.url, /^https:/);
    h.extraEnv = { BERTH_CERTS_D: certs };
    ok(await h.berth(['trust', 'key', 'generate', 'alice'], { config: 'A' }));
    ok(await h.berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', `${R}/tls`], { config: 'A' }));
    ok(await h.berth(['tag', 'busybox', `${R}/tls:1`], { config: 'A' }));
    const push = ok(await h.berth(['push', `${R}/tls:1`], { trust: true, config: 'A' }));
    assert.match(push.stdout, new RegExp(`Successfully signed ${R}/tls:1`));
    const pull = ok(await h.berth(['pull', `${R}/tls:1`], { daemon: h.d2, trust: true, config: 'B' }));
    assert.match(pull.stdout, new RegExp(`Tagging ${R}/tls@sha256:[a-f0-9]{64} as ${R}/tls:1`));
    assert.equal(ok(await h.berth(['run', '--rm', `${R}/tls:1`, 'echo', 'over tls'], { daemon: h.d2, trust: true, config: 'B' })).stdout, 'over tls\n');
  });

  test('without the CA the trust client fails with a clear TLS error and nothing is pulled', async () => {
    h.extraEnv = { BERTH_CERTS_D: empty };
    const before = await h.images2();
    ok(await h.berth(['rmi', `${R}/tls:1`], { daemon: h.d2, config: 'B' }));
    const r = await h.berth(['pull', `${R}/tls:1`], { daemon: h.d2, trust: true, config: 'C' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`error contacting registry ${R}: tls: failed to verify certificate: x509: certificate signed by unknown authority \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\)`));
    assert.match(r.stderr, new RegExp(`put the registry's CA in ${empty}/${R}/ca.crt`));
    assert.notEqual(await h.images2(), before, 'the rmi took effect');
    assert.ok(!(await h.images2()).includes(`${R}/tls:1`), 'nothing pulled');
    const sign = await h.berth(['trust', 'inspect', `${R}/tls`], { config: 'A' });
    assert.equal(sign.code, 1);
    assert.match(sign.stderr, /x509: certificate signed by unknown authority/);
  });

  test('a registry that requires a client certificate gets certs.d\'s client.cert/client.key from the trust client', { skip: hasBinary('docker-registry') ? false : 'no docker-registry' }, async () => {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const host = `${IP}:${port}`;
    const cfg = join(h.work, 'mtls.yml');
    writeFileSync(cfg, [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(h.work, 'mtls-data')} }, delete: { enabled: true } }`,
      `http: { addr: "${host}", tls: { certificate: ${join(pki, 'server.crt')}, key: ${join(pki, 'server.key')}, clientcas: [${join(pki, 'ca.crt')}] } }`,
    ].join('\n') + '\n');
    const mtlsCerts = join(h.work, 'mtls-certs.d');
    mkdirSync(join(mtlsCerts, host), { recursive: true });
    copyFileSync(join(pki, 'ca.crt'), join(mtlsCerts, host, 'ca.crt'));
    const proc = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      for (let i = 0; spawnSync('bash', ['-c', `exec 3<>/dev/tcp/${IP}/${port}`]).status !== 0; i++) {
        if (i > 100 || proc.exitCode !== null) throw new Error('docker-registry did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
      // The CA alone: the registry refuses the handshake without a client certificate.
      h.extraEnv = { BERTH_CERTS_D: mtlsCerts };
      const without = await h.berth(['trust', 'inspect', `${host}/m`], { config: 'A' });
      assert.equal(without.code, 1);
      assert.match(without.stderr, new RegExp(`error contacting registry ${host}: `));
      copyFileSync(join(pki, 'client.crt'), join(mtlsCerts, host, 'client.cert'));
      copyFileSync(join(pki, 'client.key'), join(mtlsCerts, host, 'client.key'));
      const d3 = await startSeededDaemon(['--registry-certs-dir', mtlsCerts]);
      try {
        ok(await h.berth(['trust', 'signer', 'add', '--key', 'alice.pub', 'alice', `${host}/m`], { config: 'A' }));
        ok(await h.berth(['tag', 'busybox', `${host}/m:1`], { daemon: d3, config: 'A' }));
        ok(await h.berth(['push', `${host}/m:1`], { daemon: d3, trust: true, config: 'A' }));
        const info = JSON.parse(ok(await h.berth(['trust', 'inspect', `${host}/m`], { config: 'D' })).stdout) as Inspect[];
        assert.deepEqual(info[0].SignedTags.map((t) => [t.SignedTag, t.Signers]), [['1', ['alice']]]);
      } finally {
        await d3.destroy();
      }
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
  });
});
