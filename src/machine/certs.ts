// A machine's TLS material, made with the openssl command (node:crypto makes
// keys but cannot issue certificates): its own CA, a server certificate whose
// subject alternative names include the address the clients dial, and a
// client certificate. ECDSA P-256, as the docker CLI and berth's daemon both
// take; three years, as docker-machine's.
import { spawnSync } from 'node:child_process';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { MachineError } from './store.ts';

const DAYS = '1095';
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  if (r.error) throw new MachineError(`Error generating certificates: openssl: ${r.error.message}`);
  if (r.status !== 0) throw new MachineError(`Error generating certificates: openssl ${args[0]}: ${r.stderr.trim()}`);
}

/** The SANs of the server certificate: the address clients dial, and loopback for use on the host itself. */
export function serverSans(host: string): string[] {
  const sans = [isIP(host) ? `IP:${host}` : `DNS:${host}`, 'DNS:localhost', 'IP:127.0.0.1'];
  return [...new Set(sans)];
}

/** ca.pem and ca-key.pem in dir. */
export function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', DAYS, '-subj', `/O=berth machine ${name}/CN=berth machine CA`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
}

function issue(dir: string, base: string, subject: string, ext: string): void {
  openssl(dir, ['req', ...EC, '-keyout', `${base}-key.pem`, '-out', `${base}.csr`, '-subj', subject]);
  writeFileSync(join(dir, `${base}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, '-out', `${base}.pem`, '-days', DAYS, '-extfile', `${base}.ext`]);
}

/** server.pem and server-key.pem, signed by the CA in dir. */
export function makeServerCert(dir: string, name: string, sans: string[]): void {
  issue(dir, 'server', `/O=berth machine ${name}/CN=${name}`, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`);
}

/** cert.pem and key.pem (the docker CLI's names in DOCKER_CERT_PATH), signed by the CA in dir. */
export function makeClientCert(dir: string, name: string): void {
  issue(dir, 'client', `/O=berth machine ${name}/CN=client`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  renameSync(join(dir, 'client.pem'), join(dir, 'cert.pem'));
  renameSync(join(dir, 'client-key.pem'), join(dir, 'key.pem'));
}

/** Removes the requests and extension files certificate making leaves. */
export function cleanScratch(dir: string): void {
  for (const f of ['server.csr', 'server.ext', 'client.csr', 'client.ext']) rmSync(join(dir, f), { force: true });
}
