// Docker's certs.d layout, read by the daemon's registry client and the
// trust client alike: `<root>/<host[:port]>/*.crt` are CAs trusted for that
// host (in addition to the system roots), and a `NAME.cert` with its
// `NAME.key` is the client certificate offered to it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** berth's own directory first, then dockerd's. */
export const DEFAULT_CERTS_DIRS = ['/etc/berth/certs.d', '/etc/docker/certs.d'];

export interface CertsMaterial {
  /** PEM CAs from every root that has a directory for the host. */
  ca: string[];
  cert?: string;
  key?: string;
}

/** The TLS material for `host` (host[:port]) under each of `roots`; a host that is not one path component reads nothing. */
export function readCertsD(roots: string[], host: string): CertsMaterial {
  const out: CertsMaterial = { ca: [] };
  if (host === '' || host.includes('/') || host === '.' || host === '..') return out;
  for (const root of roots) {
    const dir = join(root, host);
    if (!existsSync(dir)) continue;
    let files: string[];
    try {
      files = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const p = join(dir, f);
      if (f.endsWith('.crt')) out.ca.push(readFileSync(p, 'utf8'));
      if (f.endsWith('.cert') && out.cert === undefined) {
        const keyFile = join(dir, f.slice(0, -'.cert'.length) + '.key');
        if (existsSync(keyFile)) {
          out.cert = readFileSync(p, 'utf8');
          out.key = readFileSync(keyFile, 'utf8');
        }
      }
    }
  }
  return out;
}

/** Options for tls.connect from the material: a certs.d CA adds to the system roots, as dockerd does. */
export function tlsOptions(m: CertsMaterial): { ca?: string[]; cert?: string; key?: string } {
  const tls = process.getBuiltinModule('node:tls');
  return {
    ...(m.ca.length ? { ca: [...tls.rootCertificates, ...m.ca] } : {}),
    ...(m.cert && m.key ? { cert: m.cert, key: m.key } : {}),
  };
}
