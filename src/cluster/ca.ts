// The cluster's certificate authority, as swarmkit's: a root CA made at
// `swarm init`, join tokens that carry the digest of its certificate (so a
// joiner checks the CA a manager offers before trusting it), and node
// certificates issued at join with the node's ID as CN, its role as OU
// (swarm-manager / swarm-worker) and the cluster's ID as O. The same
// certificates are the etcd members' peer and client certificates. Made with
// the openssl command: node:crypto makes keys but cannot issue certificates.
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, SystemError } from '../errors.ts';

export type Role = 'manager' | 'worker';
export const OU: Record<Role, string> = { manager: 'swarm-manager', worker: 'swarm-worker' };

/** swarmkit's root CA lives 20 years; a node certificate 90 days unless CAConfig.NodeCertExpiry says otherwise. */
const CA_DAYS = '7300';
export const NODE_CERT_EXPIRY_NS = 90 * 24 * 3600 * 1e9;
/**
 * A node certificate's notBefore is set this far back, for clocks a little
 * behind (swarmkit: an hour); at most a tenth of its validity, so that
 * renewal at half its lifetime never falls before its issue.
 */
const BACKDATE_MS = 60_000;

/**
 * swarmkit's minimum NodeCertExpiry (1 h). BERTH_SWARM_MIN_CERT_EXPIRY (seconds) lowers it for tests
 * that watch certificates renew within a run.
 */
export function minCertExpiryNs(): number {
  const s = Number(process.env.BERTH_SWARM_MIN_CERT_EXPIRY);
  return Number.isFinite(s) && s > 0 ? s * 1e9 : 3600 * 1e9;
}

/** swarmkit's check of a spec's NodeCertExpiry, in its words. */
export function checkCertExpiry(ns: unknown): void {
  if (ns === undefined || ns === null) return;
  if (typeof ns !== 'number' || !Number.isFinite(ns)) throw new InvalidArgumentError('rpc error: code = InvalidArgument desc = invalid argument');
  const min = minCertExpiryNs();
  if (ns < min) throw new InvalidArgumentError(`rpc error: code = InvalidArgument desc = minimum certificate expiry time is: ${goDuration(min)}`);
}

/** Go's time.Duration String() for whole seconds and up: 1h0m0s, 1m30s, 45s. */
function goDuration(ns: number): string {
  const s = Math.round(ns / 1e9);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m${s % 60}s` : m ? `${m}m${s % 60}s` : `${s}s`;
}

/** openssl's time form for -startdate/-enddate. */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** dockerd's file names under <data-root>/swarm/certificates. */
export const FILES = { caCert: 'swarm-root-ca.crt', caKey: 'swarm-root-ca.key', cert: 'swarm-node.crt', key: 'swarm-node.key' };

function openssl(cwd: string, args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { cwd, input, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', OPENSSL_CONF: '/dev/null' } });
  if (r.error) throw new SystemError(`swarm CA: openssl: ${r.error.message}`);
  if (r.status !== 0) throw new SystemError(`swarm CA: openssl ${args[0]}: ${r.stderr.trim()}`);
  return r.stdout;
}

function scratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ca-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface KeyPair {
  cert: string;
  key: string;
}

/** A new root CA (EC P-256, CN swarm-ca as swarmkit's). */
export function makeRootCa(): KeyPair {
  return scratch((dir) => {
    openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', CA_DAYS, '-subj', '/CN=swarm-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-addext', 'subjectKeyIdentifier=hash']);
    return { cert: readFileSync(join(dir, 'ca.crt'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') };
  });
}

/** A node's key and a request for its certificate; the CA sets the subject. */
export function makeCsr(): { csr: string; key: string } {
  return scratch((dir) => {
    openssl(dir, ['req', '-new', ...EC, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=pending']);
    return { csr: readFileSync(join(dir, 'node.csr'), 'utf8'), key: readFileSync(join(dir, 'node.key'), 'utf8') };
  });
}

/**
 * Signs a node's request: CN node ID, OU its role, O the cluster; usable
 * both as a server (its swarm port, its etcd member) and as a client (etcd,
 * other managers), for its advertise address and loopback.
 */
export function issueNodeCert(ca: KeyPair, csr: string, o: { nodeId: string; role: Role; clusterId: string; addr: string; expiryNs?: number }): string {
  if (!/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n?$/.test(csr)) throw new InvalidArgumentError('invalid certificate request');
  return scratch((dir) => {
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, 'node.csr'), csr);
    // swarmkit's names (its role and ID), which gRPC checks (it may not use an IP as a TLS server name), and the IPs.
    const sans = [...new Set([`DNS:${OU[o.role]}`, `DNS:${o.nodeId}`, `IP:${o.addr}`, 'IP:127.0.0.1'])];
    // Key identifiers: every root is CN=swarm-ca, and OpenSSL picks a certificate's issuer by them (a rotation's two roots).
    writeFileSync(join(dir, 'ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${sans.join(',')}\n`
      + 'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n');
    // `openssl ca`, not `x509 -req`: only it takes an end time finer than whole days (a short NodeCertExpiry).
    writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca = c\n[c]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\n');
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), `${randomBytes(16).toString('hex')}\n`);
    const now = Date.now();
    const validMs = (o.expiryNs ?? NODE_CERT_EXPIRY_NS) / 1e6;
    openssl(dir, ['ca', '-config', 'ca.cnf', '-batch', '-notext', '-preserveDN', '-in', 'node.csr', '-cert', 'ca.crt', '-keyfile', 'ca.key',
      '-startdate', asn1Time(now - Math.min(BACKDATE_MS, validMs / 10)), '-enddate', asn1Time(now + validMs),
      '-extfile', 'ext', '-subj', `/O=${o.clusterId}/OU=${OU[o.role]}/CN=${o.nodeId}`, '-out', 'node.crt']);
    return readFileSync(join(dir, 'node.crt'), 'utf8');
  });
}

/**
 * The new root of a rotation signed by the old root's key (swarmkit's
 * cross-signed intermediate): a certificate the new key issues, sent with
 * it, still chains to the old root while nodes trust only that.
 */
export function crossSign(next: string, old: KeyPair): string {
  return scratch((dir) => {
    writeFileSync(join(dir, 'next.crt'), next);
    writeFileSync(join(dir, 'ca.crt'), old.cert);
    writeFileSync(join(dir, 'ca.key'), old.key, { mode: 0o600 });
    writeFileSync(join(dir, 'ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n');
    openssl(dir, ['x509', '-in', 'next.crt', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', CA_DAYS, '-extfile', 'ext', '-out', 'cross.crt']);
    return readFileSync(join(dir, 'cross.crt'), 'utf8');
  });
}

function rpcInvalid(desc: string): InvalidArgumentError {
  return new InvalidArgumentError(`rpc error: code = InvalidArgument desc = ${desc}`);
}

/** swarmkit's checks of a root given to `swarm ca --rotate --ca-cert --ca-key`, in its words. */
export function checkGivenRoot(cert: string, key: string): KeyPair {
  const blocks = cert.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length > 1) throw rpcInvalid('the desired CA certificate cannot contain multiple certificates');
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch {
    throw rpcInvalid('could not parse the desired CA certificate');
  }
  if (!x.ca) throw rpcInvalid('the desired CA certificate is not a CA certificate');
  if (Date.parse(x.validTo) < Date.now() + 365 * 24 * 3600 * 1000) throw rpcInvalid('CA certificate expires too soon');
  let pub: string;
  try {
    pub = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    throw rpcInvalid('could not parse the desired CA key');
  }
  if (pub !== x.publicKey.export({ type: 'spki', format: 'pem' }).toString()) throw rpcInvalid('certificate key mismatch');
  return { cert: `${blocks[0]}\n`, key };
}

/** Whether `cert` (its first certificate) was signed by `ca`'s key. */
export function issuedBy(cert: string, ca: string): boolean {
  try {
    return new X509Certificate(cert).verify(new X509Certificate(ca).publicKey);
  } catch {
    return false;
  }
}

/** The identity a node certificate names. */
export function certIdentity(pem: string | Buffer): { nodeId: string; role?: Role; clusterId: string } {
  const x = new X509Certificate(pem);
  const field = (k: string) => x.subject.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
  const ou = field('OU');
  return { nodeId: field('CN'), clusterId: field('O'), role: ou === OU.manager ? 'manager' : ou === OU.worker ? 'worker' : undefined };
}

/** base36 of a hex number, zero-padded to `width` characters. */
function base36(hex: string, width: number): string {
  return BigInt(`0x${hex}`).toString(36).padStart(width, '0');
}

/** The digest a token carries: SHA-256 of the CA certificate, base36, 50 characters. */
export function caDigest(caCert: string): string {
  return base36(createHash('sha256').update(caCert).digest('hex'), 50);
}

/** swarm's v1 join token: SWMTKN-1-<CA digest>-<128 random bits in base36, 25 characters>. */
export function joinToken(caCert: string): string {
  return `SWMTKN-1-${caDigest(caCert)}-${base36(randomBytes(16).toString('hex'), 25)}`;
}

/** The CA digest a token names; throws swarmkit's "invalid join token" for anything else. */
export function tokenDigest(token: string): string {
  const m = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token);
  if (!m) throw new InvalidArgumentError('invalid join token');
  return m[1];
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The Swarm's and a node's TLSInfo: the trust root, and the issuer's
 * subject and public key (DER, base64), as dockerd shows them.
 */
export function tlsInfo(caCert: string, issuer = caCert): { TrustRoot: string; CertIssuerSubject: string; CertIssuerPublicKey: string } {
  const x = new X509Certificate(issuer);
  return {
    TrustRoot: caCert,
    CertIssuerSubject: derSubject(x.raw).toString('base64'),
    CertIssuerPublicKey: x.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** One DER element at `at`: where its content starts and where it ends. */
function element(der: Buffer, at: number): { start: number; end: number } {
  let len = der[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  return { start, end: start + len };
}

/** The subject Name of a certificate's DER (tbsCertificate's sixth field, after an explicit version). */
function derSubject(cert: Buffer): Buffer {
  const tbs = element(cert, element(cert, 0).start);
  let at = tbs.start;
  if (cert[at] === 0xa0) at = element(cert, at).end; // [0] version
  for (let i = 0; i < 4; i++) at = element(cert, at).end; // serial, signature, issuer, validity
  return cert.subarray(at, element(cert, at).end);
}
