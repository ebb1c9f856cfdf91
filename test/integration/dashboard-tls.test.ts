// `berth ui --tlsverify`: the dashboard over HTTPS, only to clients with a
// certificate its CA signed (as the daemon's API with --tlsverify), the only
// way it listens on a non-loopback address. Checked with curl (OpenSSL) and
// Node's TLS client: no certificate, another CA's, and the CA's own; a
// wildcard address in a network namespace of the test's own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { WebSocket } from 'ws';
import { run, startSeededDaemon, TestDaemon } from '../helpers/daemon.ts';
import { startUi, type UiServer } from '../helpers/dashboard.ts';

function openssl(args: string[], cwd: string): void {
  const r = run('sh', ['-c', 'cd "$0" && exec openssl "$@"', cwd, ...args], { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA in `dir` and, signed by it, NAME.pem/NAME-key.pem for each [name, extensions]. */
function makeCa(dir: string, cn: string, certs: Array<[string, string]>): void {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', ...EC, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${cn}`], dir);
  for (const [name, ext] of certs) {
    openssl(['req', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    writeFileSync(join(dir, `${name}.ext`), ext + '\n');
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
}

describe('berth ui --tlsverify', () => {
  let dir: string;
  let d: TestDaemon;
  let ui: UiServer;
  let token: string;
  const ca = (f: string) => join(dir, 'ca', f);
  const other = (f: string) => join(dir, 'other', f);
  const tlsFlags = () => ['--tlsverify', '--tlscacert', ca('ca.pem'), '--tlscert', ca('server.pem'), '--tlskey', ca('server-key.pem')];

  /** curl (OpenSSL) against the dashboard, as a client with `cert` (a NAME in `where`) or none. */
  const curl = (url: string, o: { cert?: (f: string) => string; cookie?: boolean; extra?: string[] } = {}) => {
    const args = ['-sS', '--max-time', '20', '--cacert', ca('ca.pem'), '-o', '-', '-w', '\\n%{http_code}', ...(o.extra ?? [])];
    if (o.cert) args.push('--cert', o.cert('client.pem'), '--key', o.cert('client-key.pem'));
    if (o.cookie) args.push('-H', `Cookie: berth-ui-token=${token}`);
    args.push(url);
    return run('curl', args);
  };

  before(async () => {
    dir = mkdtempSync('/tmp/bt-ui-tls-');
    makeCa(join(dir, 'ca'), 'berth ui test CA', [
      ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'],
      ['client', 'extendedKeyUsage=clientAuth'],
    ]);
    makeCa(join(dir, 'other'), 'another CA', [['client', 'extendedKeyUsage=clientAuth']]);
    d = await startSeededDaemon();
    ui = await startUi(d, ['--addr', '127.0.0.1:0', ...tlsFlags()]);
    token = new URL(ui.url).searchParams.get('token')!;
  });

  after(async () => {
    await ui?.stop();
    await d?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the address printed is HTTPS; a client with the CA\'s certificate gets the dashboard and the API', () => {
    assert.match(ui.url, /^https:\/\/127\.0\.0\.1:\d+\/\?token=/);
    // The first visit trades the token for a Secure cookie.
    const first = curl(ui.url, { cert: ca, extra: ['-D', '-'] });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^HTTP\/1\.1 303/);
    assert.match(first.stdout, /set-cookie: berth-ui-token=[^;]+; HttpOnly; SameSite=Strict; Path=\/; Secure/i);
    const page = curl(`${ui.origin}/`, { cert: ca, cookie: true });
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stdout, /<div id="app"><\/div>[\s\S]*\n200$/);
    const ping = curl(`${ui.origin}/api/v1.51/_ping`, { cert: ca, cookie: true });
    assert.equal(ping.stdout, 'OK\n200');
    // The token is still needed beside the certificate (another page in the same browser has the certificate too).
    assert.match(curl(`${ui.origin}/api/v1.51/_ping`, { cert: ca }).stdout, /token[\s\S]*\n403$/);
  });

  test('no client certificate, or one from another CA: the handshake is refused, nothing is served', async () => {
    for (const cert of [undefined, other]) {
      const r = curl(`${ui.origin}/api/v1.51/containers/json`, { cert, cookie: true });
      assert.notEqual(r.code, 0, `served to ${cert ? 'another CA\'s client' : 'a client without a certificate'}: ${r.stdout}`);
      assert.doesNotMatch(r.stdout, /\[|200$/);
      // TLS 1.3 finishes the client's side of the handshake before the server checks: curl then reads the alert, a reset or nothing.
      assert.match(r.stderr, /alert|certificate|handshake|reset by peer|Empty reply/i);
    }
    // Node's TLS client the same: the server's alert, no response.
    const viaNode = (cert?: (f: string) => string) => new Promise<string>((resolve) => {
      const req = request(`${ui.origin}/api/v1.51/_ping`, {
        ca: readFileSync(ca('ca.pem')), headers: { Cookie: `berth-ui-token=${token}` },
        ...(cert ? { cert: readFileSync(cert('client.pem')), key: readFileSync(cert('client-key.pem')) } : {}),
      }, (res) => resolve(`status ${res.statusCode}`));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });
    assert.equal(await viaNode(ca), 'status 200');
    assert.match(await viaNode(other), /ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET|ALERT/);
    assert.match(await viaNode(), /ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET|ALERT|HANDSHAKE/);
  });

  test('the terminal\'s exec stream is a WebSocket over the same TLS: the CA\'s client gets a shell, a client without a certificate nothing', async () => {
    assert.equal(d.berth(['run', '-d', '--name', 'ui-tls-sh', 'busybox', 'sleep', '300']).code, 0);
    try {
      const tls = { ca: readFileSync(ca('ca.pem')), cert: readFileSync(ca('client.pem')), key: readFileSync(ca('client-key.pem')) };
      const headers = { Cookie: `berth-ui-token=${token}`, Origin: ui.origin };
      // The exec is created through the dashboard's API, as the page does.
      const id = await new Promise<string>((resolve, reject) => {
        const body = JSON.stringify({ AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ['sh'] });
        const req = request(`${ui.origin}/api/v1.51/containers/ui-tls-sh/exec`, { method: 'POST', ...tls, headers: { ...headers, 'Content-Type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => { text += c; });
          res.on('end', () => (res.statusCode === 201 ? resolve((JSON.parse(text) as { Id: string }).Id) : reject(new Error(`${res.statusCode} ${text}`))));
        });
        req.on('error', reject);
        req.end(body);
      });
      const wsUrl = `${ui.origin.replace(/^https/, 'wss')}/ws/exec/${id}?h=24&w=80`;
      const out = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { ...tls, headers });
        let seen = '';
        const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no answer: ${JSON.stringify(seen)}`)); }, 20_000);
        let asked = false;
        const type = (): void => {
          if (asked) return;
          asked = true;
          ws.send('echo tls-$((40+2))\n');
        };
        // A shell that asks nothing gets the line after a second.
        ws.on('open', () => setTimeout(type, 1000));
        ws.on('message', (m: Buffer) => {
          seen += m.toString();
          // ash asks where the cursor is (ESC[6n) and waits for a terminal's answer before it reads a line.
          if (!asked && seen.includes('\u001b[6n')) {
            ws.send('\u001b[1;1R');
            type();
          }
          if (/tls-42\r?\n/.test(seen)) { clearTimeout(timer); ws.close(); resolve(seen); }
        });
        ws.on('error', reject);
      });
      assert.match(out, /\btls-42\r?\n/);
      const refused = await new Promise<string>((resolve) => {
        const ws = new WebSocket(wsUrl, { ca: tls.ca, headers });
        ws.on('open', () => { ws.close(); resolve('open'); });
        ws.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      assert.notEqual(refused, 'open');
    } finally {
      d.berth(['rm', '-f', 'ui-tls-sh']);
    }
  });

  test('a non-loopback address without --tlsverify is refused, and the TLS flags are checked', () => {
    const r = d.berth(['ui', '--no-open', '--addr', '0.0.0.0:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to serve the dashboard on 0\.0\.0\.0 without TLS client authentication: a non-loopback address needs --tlsverify --tlscacert --tlscert --tlskey/);
    const half = d.berth(['ui', '--no-open', '--addr', '0.0.0.0:0', '--tlsverify', '--tlscacert', ca('ca.pem')]);
    assert.equal(half.code, 1);
    assert.match(half.stderr, /--tlsverify needs --tlscacert, --tlscert and --tlskey/);
    const noVerify = d.berth(['ui', '--no-open', '--addr', '0.0.0.0:0', '--tlscert', ca('server.pem'), '--tlskey', ca('server-key.pem')]);
    assert.equal(noVerify.code, 1);
    assert.match(noVerify.stderr, /used only with --tlsverify/);
    const missing = d.berth(['ui', '--no-open', '--tlsverify', '--tlscacert', join(dir, 'nope.pem'), '--tlscert', ca('server.pem'), '--tlskey', ca('server-key.pem')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--tlscacert: ENOENT/);
  });

  test('with --tlsverify it serves a wildcard address (in a network namespace of the test\'s own)', async () => {
    const wild = await startUi(d, ['--addr', '0.0.0.0:8443', ...tlsFlags()], ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh']);
    try {
      // The wildcard's URL names the certificate's first name that is not loopback, else this host: here, localhost has to do.
      assert.match(wild.url, /^https:\/\/[^/]+:8443\/\?token=/);
      const t = new URL(wild.url).searchParams.get('token')!;
      const r = run('nsenter', ['-t', String(wild.proc.pid), '-n', 'curl', '-sS', '--max-time', '20', '--cacert', ca('ca.pem'), '--cert', ca('client.pem'), '--key', ca('client-key.pem'),
        '-H', `Cookie: berth-ui-token=${t}`, '-w', '\\n%{http_code}', 'https://127.0.0.1:8443/api/v1.51/_ping']);
      assert.equal(r.stdout, 'OK\n200', r.stderr);
      const none = run('nsenter', ['-t', String(wild.proc.pid), '-n', 'curl', '-sS', '--max-time', '20', '--cacert', ca('ca.pem'), '-H', `Cookie: berth-ui-token=${t}`, 'https://127.0.0.1:8443/api/v1.51/_ping']);
      assert.notEqual(none.code, 0);
    } finally {
      await wild.stop();
    }
  });

  test('berth daemon --tlsverify --ui serves the dashboard as its API: HTTPS, the CA\'s clients only', async () => {
    const daemon = new TestDaemon([...tlsFlags(), '--ui', '127.0.0.1:0']);
    try {
      await daemon.start();
      let logged: RegExpExecArray | null = null;
      for (let i = 0; i < 100 && !logged; i++) {
        logged = /dashboard on (https:\/\/127\.0\.0\.1:\d+)\/\?token=([A-Za-z0-9_-]+)/.exec(daemon.log());
        if (!logged) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(logged, daemon.log().slice(-2000));
      const ping = ['-sS', '--max-time', '20', '--cacert', ca('ca.pem'), '-H', `Cookie: berth-ui-token=${logged[2]}`, '-w', '\\n%{http_code}', `${logged[1]}/api/v1.51/_ping`];
      assert.equal(run('curl', [...ping, '--cert', ca('client.pem'), '--key', ca('client-key.pem')]).stdout, 'OK\n200');
      assert.notEqual(run('curl', [...ping, '--cert', other('client.pem'), '--key', other('client-key.pem')]).code, 0);
    } finally {
      await daemon.destroy();
    }
  });
});
