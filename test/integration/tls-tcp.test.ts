// TCP hosts with mutual TLS: a daemon with --tlsverify refuses, at the TLS
// handshake, a client with no certificate, one signed by another CA and an
// expired one; the docker CLI with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH and
// berth's CLI with the same variables or flags get in. Without --tlsverify
// the daemon listens on loopback only (and only when told --tls=false).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { connect as tcpConnect } from 'node:net';
import { BERTH, DOCKER, TestDaemon, run } from '../helpers/daemon.ts';

function openssl(args: string[], cwd: string): void {
  const r = run('sh', ['-c', 'cd "$0" && exec openssl "$@"', cwd, ...args], { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA in `dir` (ca.pem, ca-key.pem). */
function makeCa(dir: string, cn: string): void {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', ...EC, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${cn}`], dir);
}

/** NAME.pem and NAME-key.pem signed by the CA in `dir`; `dates` gives a validity window (openssl ca), else 2 days. */
function makeCert(dir: string, name: string, ext: string, dates?: [string, string]): void {
  openssl(['req', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  if (!dates) {
    writeFileSync(join(dir, `${name}.ext`), ext + '\n');
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
    return;
  }
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca=t\n[t]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n[ext]\n${ext}\n`);
  openssl(['ca', '-batch', '-notext', '-config', 'ca.cnf', '-extensions', 'ext', '-cert', 'ca.pem', '-keyfile', 'ca-key.pem', '-in', `${name}.csr`, '-out', `${name}.pem`, '-startdate', dates[0], '-enddate', dates[1]], dir);
}

/** A DOCKER_CERT_PATH directory: ca.pem, cert.pem, key.pem. */
function certPath(dir: string, caDir: string, certDir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(caDir, 'ca.pem'), join(dir, 'ca.pem'));
  copyFileSync(join(certDir, `${name}.pem`), join(dir, 'cert.pem'));
  copyFileSync(join(certDir, `${name}-key.pem`), join(dir, 'key.pem'));
  return dir;
}

/** Resolves once something accepts TCP connections on the port: the daemon may answer on its unix socket first. */
async function listening(port: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

/**
 * A TLS exchange of one /_ping: what came back before the connection ended,
 * and the TLS error, if any (the server's alert when it refuses the certificate).
 */
function ping(port: number, o: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({ host: '127.0.0.1', port, ca: o.ca, cert: o.cert, key: o.key });
    s.on('secureConnect', () => s.write('GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    s.on('data', (c: Buffer) => { data += c; });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ data, error: err.code ?? err.message }));
    s.on('close', () => resolve({ data }));
  });
}

describe('TCP with mutual TLS', () => {
  let dir: string;
  let d: TestDaemon;
  let port: number;
  const ca = () => join(dir, 'ca');
  const other = () => join(dir, 'other');
  // A clean client environment: no DOCKER_* of the caller's.
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))) as Record<string, string>;
    return { ...base, HOME: dir, DOCKER_CONFIG: join(dir, 'config'), ...extra };
  };

  before(async () => {
    dir = mkdtempSync('/tmp/bt-tls-');
    makeCa(ca(), 'berth test CA');
    makeCert(ca(), 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth');
    makeCert(ca(), 'client', 'extendedKeyUsage=clientAuth');
    makeCert(ca(), 'expired', 'extendedKeyUsage=clientAuth', ['20200101000000Z', '20200102000000Z']);
    makeCa(other(), 'another CA');
    makeCert(other(), 'stranger', 'extendedKeyUsage=clientAuth');
    port = freePort();
    d = new TestDaemon(['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(ca(), 'ca.pem'), '--tlscert', join(ca(), 'server.pem'), '--tlskey', join(ca(), 'server-key.pem')]);
    await d.start();
    await listening(port);
  });
  after(async () => {
    await d?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the handshake refuses no certificate, another CA\'s and an expired one; the CA\'s own gets an answer', async () => {
    const caPem = readFileSync(join(ca(), 'ca.pem'));
    const good = await ping(port, { ca: caPem, cert: readFileSync(join(ca(), 'client.pem')), key: readFileSync(join(ca(), 'client-key.pem')) });
    assert.equal(good.error, undefined);
    assert.match(good.data, /^HTTP\/1\.1 200 OK\r\n[\s\S]*OK$/);
    const none = await ping(port, { ca: caPem });
    assert.equal(none.data, '', 'nothing is served to a client without a certificate');
    assert.match(none.error ?? '', /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/);
    // A certificate the daemon's CA did not sign, or an expired one: the daemon
    // closes the connection as the handshake ends, before reading a byte of the request.
    const stranger = await ping(port, { ca: caPem, cert: readFileSync(join(other(), 'stranger.pem')), key: readFileSync(join(other(), 'stranger-key.pem')) });
    assert.equal(stranger.data, '', 'nothing is served to a certificate of another CA');
    const expired = await ping(port, { ca: caPem, cert: readFileSync(join(ca(), 'expired.pem')), key: readFileSync(join(ca(), 'expired-key.pem')) });
    assert.equal(expired.data, '', 'nothing is served to an expired certificate');
  });

  test('a daemon whose TCP address is taken says so and exits 1, its unix socket closed again', async () => {
    // It listened on its unix socket first; before the fix it went on serving there after its fatal line, and ignored SIGTERM.
    const second = new TestDaemon(['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(ca(), 'ca.pem'), '--tlscert', join(ca(), 'server.pem'), '--tlskey', join(ca(), 'server-key.pem')]);
    const proc = second.launch();
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    try {
      assert.equal(code, 1);
      assert.match(second.log(), /level=fatal msg="cannot listen: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+"/);
    } finally {
      await second.destroy().catch(() => undefined);
    }
  });

  test('berth\'s CLI: flags or DOCKER_TLS_VERIFY/DOCKER_CERT_PATH get in; a refused certificate is a clear error', () => {
    const flags = ['--tlsverify', '--tlscacert', join(ca(), 'ca.pem'), '--tlscert', join(ca(), 'client.pem'), '--tlskey', join(ca(), 'client-key.pem'), '-H', `tcp://127.0.0.1:${port}`];
    const v = run(BERTH, [...flags, 'version', '--format', '{{.Server.ApiVersion}}'], { env: env() });
    assert.deepEqual([v.code, v.stdout], [0, '1.51\n'], v.stderr);
    const good = certPath(join(dir, 'good'), ca(), ca(), 'client');
    const viaEnv = run(BERTH, ['info', '--format', '{{.Name}}'], { env: env({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: good }) });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    for (const [name, certDir, alert] of [
      ['stranger', other(), /^error during connect: tcp:\/\/127\.0\.0\.1:\d+: the daemon refused this client's TLS certificate \(it was not issued by the CA of --tlscacert\)\n$/],
      ['expired', ca(), /^error during connect: tcp:\/\/127\.0\.0\.1:\d+: the daemon refused this client's TLS certificate \(it expired on Jan  2 00:00:00 2020 GMT\)\n$/],
    ] as const) {
      const p = certPath(join(dir, name), ca(), certDir, name);
      const r = run(BERTH, ['ps'], { env: env({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: p }) });
      assert.equal(r.code, 1, name);
      assert.match(r.stderr, alert, `${name}: ${r.stderr}`);
    }
    const plain = run(BERTH, ['-H', `tcp://127.0.0.1:${port}`, 'ps'], { env: env() });
    assert.deepEqual([plain.code, plain.stderr], [1, 'berth only speaks to TCP daemons over mutual TLS: set --tlsverify (or DOCKER_TLS_VERIFY=1)\n']);
  });

  test('the docker CLI with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH or --tlsverify works; with another CA\'s certificate it is refused', { skip: !DOCKER }, () => {
    const good = certPath(join(dir, 'good-docker'), ca(), ca(), 'client');
    const r = run(DOCKER as string, ['run', '--rm', '--pull', 'never', 'busybox', 'true'], { env: env({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: good }) });
    // No image is seeded here: the answer is the daemon's, over TLS.
    assert.match(r.stderr, /No such image: busybox/);
    const v = run(DOCKER as string, ['--tlsverify', '--tlscacert', join(ca(), 'ca.pem'), '--tlscert', join(ca(), 'client.pem'), '--tlskey', join(ca(), 'client-key.pem'), '-H', `tcp://127.0.0.1:${port}`, 'version', '--format', '{{.Server.APIVersion}}'], { env: env() });
    assert.deepEqual([v.code, v.stdout], [0, '1.51\n'], v.stderr);
    const p = certPath(join(dir, 'stranger-docker'), ca(), other(), 'stranger');
    const s = run(DOCKER as string, ['ps'], { env: env({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: p }) });
    assert.equal(s.code, 1);
    // Go's client sends no certificate the server's CA list does not name: refused as having none.
    assert.match(s.stderr, /remote error: tls: (certificate required|unknown certificate authority|bad certificate)/);
  });

  test('the docker CLI over mutual TLS: an attached run prints its output and stdin reaches it (the CLI half-closes its side)', { skip: !DOCKER }, () => {
    d.seedBusybox();
    const good = certPath(join(dir, 'attach-docker'), ca(), ca(), 'client');
    const e = env({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: good });
    const r = run(DOCKER as string, ['run', '--rm', 'busybox', 'sh', '-c', 'sleep 0.3; echo hi; exit 3'], { env: e });
    assert.deepEqual([r.code, r.stdout], [3, 'hi\n'], r.stderr);
    const i = run(DOCKER as string, ['run', '--rm', '-i', 'busybox', 'cat'], { env: e, input: 'through stdin\n' });
    assert.deepEqual([i.code, i.stdout], [0, 'through stdin\n'], i.stderr);
    assert.equal(run(DOCKER as string, ['run', '-d', '--name', 'tls-exec', 'busybox', 'sleep', '60'], { env: e }).code, 0);
    const x = run(DOCKER as string, ['exec', 'tls-exec', 'echo', 'exec over tls'], { env: e });
    assert.deepEqual([x.code, x.stdout], [0, 'exec over tls\n'], x.stderr);
  });

  test('without --tlsverify: refused on any address but loopback, even with --tls=false', () => {
    const scratch = mkdtempSync('/tmp/bt-');
    try {
      const daemon = (host: string, extra: string[] = []) => run(BERTH, ['daemon', '-H', host, ...extra, '--data-root', join(scratch, 'd'), '--exec-root', join(scratch, 'x'), '--pidfile', join(scratch, 'pid')], { timeout: 30_000 });
      const tlsOnly = ['--tls', '--tlscacert', join(ca(), 'ca.pem'), '--tlscert', join(ca(), 'server.pem'), '--tlskey', join(ca(), 'server-key.pem')];
      const cases: Array<[string, string[]]> = [
        [`tcp://0.0.0.0:${freePort()}`, []], [`tcp://0.0.0.0:${freePort()}`, ['--tls=false']], [`tcp://0.0.0.0:${freePort()}`, tlsOnly],
        [`tcp://10.213.0.9:${freePort()}`, ['--tls=false']], [`tcp://[::]:${freePort()}`, []],
      ];
      for (const [host, extra] of cases) {
        const r = daemon(host, extra);
        assert.equal(r.code, 1, `${host} ${extra.join(' ')}`);
        assert.match(r.stderr, new RegExp(`refusing to listen on ${host.replace(/[.[\]]/g, '\\$&')} without mutual TLS: a TCP address other than loopback needs --tlsverify`));
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
