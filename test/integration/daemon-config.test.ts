// Daemon flags and daemon.json, and TCP only with mutual TLS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, TestDaemon, run } from '../helpers/daemon.ts';

function openssl(args: string[], cwd: string): void {
  const r = run('openssl', args, { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr} (${cwd})`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate. */
function makeCerts(dir: string): void {
  const p = (f: string) => join(dir, f);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('ca-key.pem'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=berth test CA'], dir);
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']]) {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p(`${name}-key.pem`), '-out', p(`${name}.csr`), '-subj', `/CN=${name}`], dir);
    writeFileSync(p(`${name}.ext`), ext + '\n');
    openssl(['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '2', '-extfile', p(`${name}.ext`)], dir);
  }
}

function freePort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

describe('daemon configuration', () => {
  let certs: string;
  before(() => {
    certs = mkdtempSync('/tmp/berth-certs-');
    makeCerts(certs);
  });
  after(() => rmSync(certs, { recursive: true, force: true }));

  test('plain TCP is refused unless explicitly forced', () => {
    const dir = mkdtempSync('/tmp/bt-');
    try {
      const r = run(BERTH, ['daemon', '-H', `tcp://127.0.0.1:${freePort()}`, '--data-root', join(dir, 'd'), '--exec-root', join(dir, 'x'), '--pidfile', join(dir, 'pid')], { timeout: 15_000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refusing to listen on tcp:\/\/127\.0\.0\.1:\d+ without mutual TLS/);
      // The refused daemon takes down the bridge and chains its start had set up.
      const tag = createHash('sha256').update(join(dir, 'd')).digest('hex').slice(0, 8);
      assert.notEqual(run('ip', ['link', 'show', `berth-${tag}`]).code, 0, 'no bridge left behind');
      assert.doesNotMatch(run('iptables-save', []).stdout, new RegExp(`BERTH-${tag}`));
      assert.equal(existsSync(join(dir, 'pid')), false, 'no pidfile left behind');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('mutual TLS over TCP works for berth and docker, and rejects clients without a certificate', async () => {
    const port = freePort();
    const d = new TestDaemon(['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'server.pem'), '--tlskey', join(certs, 'server-key.pem')]);
    await d.start();
    try {
      const tlsFlags = ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'client.pem'), '--tlskey', join(certs, 'client-key.pem'), '-H', `tcp://127.0.0.1:${port}`];
      const v = run(BERTH, [...tlsFlags, 'version', '--format', '{{.Server.ApiVersion}}']);
      assert.equal(v.stdout, '1.51\n', v.stderr);
      if (DOCKER) {
        const dv = run(DOCKER, [...tlsFlags, 'version', '--format', '{{.Server.APIVersion}}']);
        assert.equal(dv.stdout, '1.51\n', dv.stderr);
      }
      const curl = run('curl', ['-sS', '--cacert', join(certs, 'ca.pem'), `https://127.0.0.1:${port}/_ping`]);
      assert.notEqual(curl.code, 0, 'a client without a certificate is refused');
    } finally {
      await d.destroy();
    }
  });

  test('daemon.json with dockerd keys, and a key given twice is an error', async () => {
    const dir = mkdtempSync('/tmp/bt-cfg-');
    try {
      writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'log-opts': { 'max-size': '2k', 'max-file': '2' }, 'default-runtime': 'crun' }));
      const d = new TestDaemon(['--config-file', join(dir, 'daemon.json')]);
      await d.start();
      try {
        d.seedBusybox();
        assert.equal(d.berth(['info', '--format', '{{.DefaultRuntime}}']).stdout, 'crun\n');
        assert.equal(d.berth(['run', '--rm', 'busybox', 'echo', 'via crun']).stdout, 'via crun\n');
        d.berth(['create', '--name', 'lo', 'busybox', 'true']);
        assert.equal(d.berth(['inspect', '-f', '{{index .HostConfig.LogConfig.Config "max-size"}}', 'lo']).stdout, '2k\n');
        assert.equal(d.berth(['run', '--rm', '--runtime', 'runc', 'busybox', 'echo', 'via runc']).stdout, 'via runc\n');
      } finally {
        await d.destroy();
      }
      const twice = run(BERTH, ['daemon', '--config-file', join(dir, 'daemon.json'), '--default-runtime', 'runc', '--data-root', join(dir, 'd')], { timeout: 15_000 });
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /the following directives are specified both as a flag and in the configuration file: default-runtime/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
