// Node certificates renewed before they expire, as swarmkit's agents do: at
// a random point between 50% and 80% of the certificate's lifetime the node
// makes a new key, and a manager signs it over the swarm port (the current
// certificate, still valid, names the node). Random, so that nodes that
// joined together do not all ask at once.
import { X509Certificate } from 'node:crypto';
import { makeCsr } from './ca.ts';
import { readRotation } from './ca-rotation.ts';
import { beat, renewLeadership, type Membership } from './membership.ts';
import { callManager, type JoinRequest } from './swarm-port.ts';

/** How long from now until this certificate is due for renewal. */
export function renewalDelayMs(certPem: string, rand = Math.random()): number {
  const x = new X509Certificate(certPem);
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  return Math.max(0, from + (to - from) * (0.5 + 0.3 * rand) - Date.now());
}

/** A certificate past its notAfter: renewal is too late, only a new join replaces it. */
export function certificateExpired(certPem: string): boolean {
  try {
    return Date.parse(new X509Certificate(certPem).validTo) <= Date.now();
  } catch {
    return false;
  }
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

/** What renewal needs of the node's service (service.ts). */
export interface RenewalHost {
  log(level: string, msg: string): void;
  /** The membership running now, if any. */
  current(): Membership | undefined;
  /** One membership change at a time (the service's serial). */
  serial(fn: () => Promise<void>): Promise<void>;
  ownTls(): { ca: string; cert: string; key: string };
  describe(): JoinRequest['Description'];
  /** The node's new certificate and key on disk (the key sealed while autolock is on). */
  writeOwn(cert: string, key: string): Promise<void>;
  /** etcd's in-memory copy of the certificate and key (key-lock.ts). */
  memoryFile(content: string): number;
  /** The watch on the swarm's keys, made anew through the store's current client. */
  rewatch(m: Membership): Promise<void>;
}

export class CertRenewal {
  private readonly host: RenewalHost;

  constructor(host: RenewalHost) {
    this.host = host;
  }

  /** The next renewal of this node's certificate, at swarmkit's random point of its lifetime. */
  schedule(m: Membership, cert: string, delayMs = renewalDelayMs(cert)): void {
    clearTimeout(m.renewal);
    // setTimeout takes at most 2^31-1 ms (24.8 days): a longer wait is taken in steps.
    const step = Math.min(delayMs, 2 ** 31 - 1);
    m.renewal = setTimeout(() => {
      if (this.host.current() !== m || m.closing) return;
      if (step < delayMs) return this.schedule(m, cert, delayMs - step);
      void this.host.serial(() => this.renew(m)).catch((err: Error) => {
        this.host.log('warn', `swarm: renewing this node's certificate: ${err.message}; trying again`);
        if (this.host.current() === m && !m.closing) this.schedule(m, cert, 5000);
      });
    }, step);
    m.renewal.unref();
  }

  /**
   * A new key and certificate from a manager (only: a rotation's driver),
   * taken in place so the API never sees the node out of its swarm: etcd's
   * in-memory copy rewritten (whole: its member restarted, for a new trust
   * root it reads only at start), the store's client, watch, heartbeat and
   * leadership moved to a client that shows the new certificate, the swarm
   * port's TLS replaced.
   */
  async renew(m: Membership, only?: string[], whole = false): Promise<void> {
    if (this.host.current() !== m || m.closing) return;
    // During a root rotation only its driver issues from the new root: a renewal elsewhere would set this node back.
    const rotation = only ? undefined : await readRotation(m.store);
    const managers = only ?? (rotation ? [rotation.Issuer] : (await m.objects.nodes()).filter((n) => n.ManagerStatus && n.Status.State === 'ready').map((n) => n.ManagerStatus?.Addr ?? ''));
    const r = await renewCertificate(managers, this.host.ownTls(), { Addr: m.state.AdvertiseAddr, Description: this.host.describe() });
    await this.host.writeOwn(r.cert, r.key);
    const own = this.host.ownTls();
    this.host.memoryFile(own.cert + own.key);
    const member = m.member;
    if (whole && member) {
      await m.store.whileRestarting(async () => {
        await member.stop();
        await member.start();
      });
    }
    const old = await m.store.swapCredentials({ ca: Buffer.from(own.ca), cert: Buffer.from(own.cert), key: Buffer.from(own.key) });
    await this.host.rewatch(m);
    const heartbeat = m.heartbeat;
    await beat(m, this.host.log);
    heartbeat?.release();
    await renewLeadership(m, this.host.log);
    m.port?.setSecureContext({ ca: own.ca, cert: own.cert, key: own.key });
    // Calls still in flight on the old client finish first.
    setTimeout(() => old.close(), 10_000).unref();
    this.host.log('info', `swarm: renewed this node's certificate${whole ? ' and took the new root CA' : ''}`);
    this.schedule(m, own.cert);
  }
}
