// How the daemon reaches registries that are not on loopback: TLS with a CA
// and a client certificate from certs.d/<host:port>/ (the directory set by
// --registry-certs-dir), insecure-registries (host:port or CIDR; plain HTTP
// or unverified TLS), and registry-mirrors for docker.io names. The CNCF
// registry listens on this machine's non-loopback address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { BERTH, DOCKER, TestDaemon, startSeededDaemon } from '../helpers/daemon.ts';
import { runAsync, startCncfRegistry } from '../helpers/registries.ts';
import { hasBinary, image, layer, pushImage } from '../registry/helpers.ts';

const IP = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const SKIP = !hasBinary('docker-registry') ? 'no docker-registry' : !hasBinary('openssl') ? 'no openssl' : !IP ? 'no non-loopback address' : false;

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, a server certificate for `ip`, and a client certificate, all signed by the CA. */
function makeCerts(dir: string, ip: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=berth test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  for (const [name, ext] of [['server', `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth`], ['client', 'extendedKeyUsage=clientAuth']]) {
    writeFileSync(join(dir, `${name}.ext`), ext + '\n');
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  }
}

/** docker-registry on IP:port, with TLS (and client certificates required) when asked. */
async function startRemoteRegistry(dir: string, o: { tls?: boolean; clientCerts?: boolean }): Promise<{ host: string; stop: () => Promise<void> }> {
  const port = 20000 + Math.floor(Math.random() * 30000);
  const cfg = join(dir, `reg-${port}.yml`);
  const lines = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${join(dir, `data-${port}`)} } }`,
  ];
  if (o.tls) {
    lines.push(`http: { addr: "${IP}:${port}", tls: { certificate: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')}${o.clientCerts ? `, clientcas: [${join(dir, 'ca.crt')}]` : ''} } }`);
  } else {
    lines.push(`http: { addr: "${IP}:${port}" }`);
  }
  writeFileSync(cfg, lines.join('\n') + '\n');
  const proc: ChildProcess = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
  for (let i = 0; ; i++) {
    const up = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/${IP}/${port}`]).status === 0;
    if (up) break;
    if (i > 100 || proc.exitCode !== null) throw new Error(`docker-registry did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise((r) => proc.once('exit', r));
  return { host: `${IP}:${port}`, stop: async () => { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } } };
}

describe('registry hosts: certs.d, insecure-registries, registry-mirrors', { skip: SKIP }, () => {
  let work: string;
  const daemons: TestDaemon[] = [];
  const daemon = async (args: string[] = [], seeded = true) => {
    const d = seeded ? await startSeededDaemon(args) : new TestDaemon(args);
    if (!seeded) await d.start();
    daemons.push(d);
    return d;
  };
  const berth = (d: TestDaemon, args: string[]) => runAsync(BERTH, ['-H', d.host, ...args]);

  before(() => {
    work = mkdtempSync('/tmp/berth-hosts-');
    makeCerts(work, IP as string);
  });
  after(async () => {
    for (const d of daemons) await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('TLS with the CA and a client certificate from certs.d/<host:port>/; without them, a clear TLS error', async () => {
    const reg = await startRemoteRegistry(work, { tls: true, clientCerts: true });
    try {
      const certs = join(work, 'certs.d');
      mkdirSync(join(certs, reg.host), { recursive: true });
      copyFileSync(join(work, 'ca.crt'), join(certs, reg.host, 'ca.crt'));
      copyFileSync(join(work, 'client.crt'), join(certs, reg.host, 'client.cert'));
      copyFileSync(join(work, 'client.key'), join(certs, reg.host, 'client.key'));
      const d = await daemon(['--registry-certs-dir', certs]);
      assert.equal((await berth(d, ['tag', 'busybox', `${reg.host}/tls/bb:1`])).code, 0);
      const push = await berth(d, ['push', `${reg.host}/tls/bb:1`]);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stdout, /1: digest: sha256:/);

      // A daemon with only the CA: the registry refuses it for lack of a client certificate.
      const caOnly = join(work, 'certs-ca-only');
      mkdirSync(join(caOnly, reg.host), { recursive: true });
      copyFileSync(join(work, 'ca.crt'), join(caOnly, reg.host, 'ca.crt'));
      const d2 = await daemon(['--registry-certs-dir', caOnly], false);
      const noClient = await berth(d2, ['pull', `${reg.host}/tls/bb:1`]);
      assert.equal(noClient.code, 1);
      assert.match(noClient.stderr, new RegExp(`Error response from daemon: Get "https://${reg.host}/v2/"`));

      // No CA at all: the server certificate is not trusted.
      const d3 = await daemon(['--registry-certs-dir', join(work, 'empty')], false);
      const untrusted = await berth(d3, ['pull', `${reg.host}/tls/bb:1`]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /certificate/);

      const d4 = await daemon(['--registry-certs-dir', certs], false);
      const pull = await berth(d4, ['pull', `${reg.host}/tls/bb:1`]);
      assert.equal(pull.code, 0, pull.stderr);
    } finally {
      await reg.stop();
    }
  });

  test('insecure-registries (a CIDR flag, or host:port in daemon.json) allow plain HTTP and unverified TLS', async () => {
    const plain = await startRemoteRegistry(work, {});
    const tls = await startRemoteRegistry(work, { tls: true });
    try {
      const img = image([layer({ 'x.txt': 'insecure\n' })], 'insecure');
      assert.equal((await pushImage(`http://${plain.host}`, 'app', img, '1')).status, 201);

      const strict = await daemon(['--registry-certs-dir', join(work, 'empty')], false);
      const refused = await berth(strict, ['pull', `${plain.host}/app:1`]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, new RegExp(`https://${plain.host}/v2/`));

      const byCidr = await daemon(['--registry-certs-dir', join(work, 'empty'), '--insecure-registry', `${IP}/24`], false);
      const ok = await berth(byCidr, ['pull', `${plain.host}/app:1`]);
      assert.equal(ok.code, 0, ok.stderr);
      if (DOCKER) {
        const di = await runAsync(DOCKER, ['info'], { env: { ...process.env, DOCKER_HOST: byCidr.host } });
        assert.match(di.stdout, new RegExp(`Insecure Registries:\\n(\\s+\\S+\\n)*\\s+${IP?.replace(/\.\d+$/, '')}\\.0/24`), di.stdout);
      }

      const cfg = join(work, 'daemon.json');
      writeFileSync(cfg, JSON.stringify({ 'insecure-registries': [tls.host], 'registry-certs-dir': join(work, 'empty') }));
      const byFile = await daemon(['--config-file', cfg]);
      assert.equal((await berth(byFile, ['tag', 'busybox', `${tls.host}/app:2`])).code, 0);
      const push = await berth(byFile, ['push', `${tls.host}/app:2`]);
      assert.equal(push.code, 0, push.stderr);
    } finally {
      await plain.stop();
      await tls.stop();
    }
  });

  test('registry-mirrors: a docker.io name is pulled from the mirror, or from Docker Hub when the mirror lacks it', async () => {
    const mirror = await startCncfRegistry();
    try {
      const img = image([layer({ 'm.txt': 'from the mirror\n' })], 'mirror');
      assert.equal((await pushImage(mirror.url, 'library/mirrored', img, 'v1')).status, 201);
      const bad = await runAsync(BERTH, ['daemon', '--registry-mirror', 'not a url', '--data-root', join(work, 'x')]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr + bad.stdout, /invalid mirror: "not a url" is not a valid URI/);

      const d = await daemon(['--registry-mirror', mirror.url], false);
      const r = await berth(d, ['pull', 'mirrored:v1']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Status: Downloaded newer image for mirrored:v1/);
      const info = JSON.parse((await berth(d, ['image', 'inspect', 'mirrored:v1'])).stdout) as Array<{ Id: string }>;
      assert.equal(info[0].Id, img.config.digest);
      // A name the mirror lacks falls through to Docker Hub itself (unreachable from here).
      const miss = await berth(d, ['pull', 'notonmirror:v1']);
      assert.equal(miss.code, 1);
      assert.match(miss.stderr, /registry-1\.docker\.io/);
      if (DOCKER) {
        const di = await runAsync(DOCKER, ['info'], { env: { ...process.env, DOCKER_HOST: d.host } });
        assert.match(di.stdout, new RegExp(`Registry Mirrors:\\n\\s+${mirror.url}/`), di.stdout);
      }
    } finally {
      await mirror.stop();
    }
  });
});
