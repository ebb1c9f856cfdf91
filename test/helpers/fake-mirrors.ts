// Stand-ins for the apt mirror and npm's registry on an address this machine
// has (a TestDaemon's bridge gateway), for a test host that names them in its
// /etc/hosts: HTTPS on :443 with a certificate for registry.npmjs.org from a
// CA the test makes (so the host trusts it only when given that CA, as with a
// proxy that re-signs HTTPS), plain HTTP on :80 answering 404. In a process of
// its own: the CLIs run synchronously, so a server in the test process could
// not answer. What each saw (a GET, a failed handshake) is kept for asserts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeMirrors {
  /** The CA's PEM: what a host's admin would add to trust the stand-in. */
  caPem: string;
  /** What the servers saw, one line each: `https GET /`, `https handshake failed`, `http GET /…`. */
  seen(): string[];
  stop(): void;
}

const SERVER = `
const https = require('node:https'), http = require('node:http'), fs = require('node:fs');
const [addr, dir] = process.argv.slice(1);
const log = (l) => fs.appendFileSync(dir + '/seen', l + '\\n');
const s = https.createServer({ cert: fs.readFileSync(dir + '/server.pem'), key: fs.readFileSync(dir + '/server-key.pem') }, (req, res) => {
  log('https ' + req.method + ' ' + req.url);
  res.end('ok\\n');
});
s.on('tlsClientError', () => log('https handshake failed'));
const p = http.createServer((req, res) => { log('http ' + req.method + ' ' + req.url); res.statusCode = 404; res.end(); });
let up = 0;
const ready = () => { if (++up === 2) console.log('listening'); };
s.listen(443, addr, ready);
p.listen(80, addr, ready);
`;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
}

export async function startFakeMirrors(addr: string): Promise<FakeMirrors> {
  const dir = mkdtempSync('/tmp/bt-mirrors-');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=berth test re-signing proxy CA',
    '-keyout', join(dir, 'ca-key.pem'), '-out', join(dir, 'ca.pem')]);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:registry.npmjs.org\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=registry.npmjs.org', '-keyout', join(dir, 'server-key.pem'), '-out', join(dir, 'server.csr')]);
  openssl(['x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca-key.pem'), '-CAcreateserial', '-days', '2',
    '-extfile', join(dir, 'ext'), '-out', join(dir, 'server.pem')]);
  const proc: ChildProcess = spawn(process.execPath, ['-e', SERVER, addr, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => { if (c.toString().includes('listening')) resolve(); });
    proc.once('exit', () => reject(new Error(`fake mirrors on ${addr} exited: ${err}`)));
  });
  return {
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    seen: () => {
      try {
        return readFileSync(join(dir, 'seen'), 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    stop: () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
