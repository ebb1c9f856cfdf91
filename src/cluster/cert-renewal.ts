// Node certificates renewed before they expire, as swarmkit's agents do: at
// a random point between 50% and 80% of the certificate's lifetime the node
// makes a new key, and a manager signs it over the swarm port (the current
// certificate, still valid, names the node). Random, so that nodes that
// joined together do not all ask at once.
import { X509Certificate } from 'node:crypto';
import { makeCsr } from './ca.ts';
import { callManager, type JoinRequest } from './swarm-port.ts';

/** How long from now until this certificate is due for renewal. */
export function renewalDelayMs(certPem: string, rand = Math.random()): number {
  const x = new X509Certificate(certPem);
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  return Math.max(0, from + (to - from) * (0.5 + 0.3 * rand) - Date.now());
}

export interface Renewed {
  cert: string;
  key: string;
  caCert: string;
}

/** A new key and certificate, from the first of the managers that signs it. */
export async function renewCertificate(managers: string[], own: { ca: string; cert: string; key: string }, body: Omit<JoinRequest, 'Csr'>): Promise<Renewed> {
  const csr = makeCsr();
  let last: Error = new Error('no manager is ready');
  for (const remote of managers) {
    try {
      const r = await callManager<{ Cert: string; CACert: string }>(remote, 'POST', '/renew', { ...own, body: { ...body, Csr: csr.csr }, timeoutMs: 10_000 });
      return { cert: r.body.Cert, key: csr.key, caCert: r.body.CACert };
    } catch (err) {
      last = err as Error;
    }
  }
  throw last;
}
