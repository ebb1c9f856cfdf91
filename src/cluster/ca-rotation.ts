// Root CA rotation, as swarmkit's in two phases, driven by the manager that
// took the `swarm ca --rotate` (its swarm port is the record's Issuer):
//   renew  the new root is cross-signed by the old root's key; every node
//          gets a certificate from the new key, sent with the cross-signed
//          certificate, so it still chains to the old root all nodes trust;
//   trust  once every ready node has one, nodes trust the new root only
//          (managers take its key and restart their etcd member, which reads
//          its CA at start) and renew again, now showing the new root as
//          their TLSInfo; the cross-signed root still goes with certificates
//          until each node's next renewal after the rotation;
//   done   once every ready node shows the new root as its TLSInfo: no
//          rotation in progress, and join tokens carry the new root's digest
//          (old tokens are refused).
// The record in etcd holds certificates only; the new key reaches other
// managers over the swarm port (mutual TLS), never through etcd.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ConflictError, InvalidArgumentError } from '../errors.ts';
import { checkGivenRoot, crossSign, issuedBy, joinToken, makeRootCa, tlsInfo, type KeyPair } from './ca.ts';
import type { Issuer } from './admission.ts';
import type { Membership } from './membership.ts';
import { KEYS, PREFIX, type ClusterStore } from './store.ts';
import { callManager, hostPort } from './swarm-port.ts';
import type { ClusterRecord, NodeRecord } from './types.ts';

export const ROTATION = `${PREFIX}ca-rotation`;

export interface RotationRecord {
  CACert: string;
  CrossSigned: string;
  /** The swarm port of the manager driving it, which holds the new key. */
  Issuer: string;
  IssuerNode: string;
  Phase: 'renew' | 'trust';
}

interface CAConfig {
  ForceRotate?: number;
  SigningCACert?: string;
  SigningCAKey?: string;
}

function pemOf(text: string): string {
  return text.replace(/\r/g, '').trim();
}

/**
 * What a `swarm update` asks of the CA (swarmkit's validateCAConfig, less
 * external CAs): a new root when ForceRotate changed, the root given with
 * its key, or nothing when the root given is the one in force or in rotation.
 */
export function wantedRoot(before: CAConfig | undefined, after: CAConfig | undefined, roots: string[]): KeyPair | undefined {
  const ca = after ?? {};
  if (ca.SigningCAKey && !ca.SigningCACert) throw new InvalidArgumentError('rpc error: code = InvalidArgument desc = if a signing CA key is provided, the signing CA cert must also be provided');
  if (ca.SigningCACert) {
    if (roots.some((r) => pemOf(r) === pemOf(ca.SigningCACert ?? ''))) return undefined;
    if (!ca.SigningCAKey) throw new InvalidArgumentError('rpc error: code = InvalidArgument desc = berth has no external CA: the signing CA key must be provided with the signing CA cert');
    return checkGivenRoot(ca.SigningCACert, ca.SigningCAKey);
  }
  if ((ca.ForceRotate ?? 0) !== (before?.ForceRotate ?? 0)) return makeRootCa();
  return undefined;
}

/** Writes the cluster record through concurrent writers. */
async function updateCluster(store: ClusterStore, change: (c: ClusterRecord) => ClusterRecord): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const c = await store.get<ClusterRecord>(KEYS.cluster);
    if (!c) return;
    if (await store.update(KEYS.cluster, { ...change(c), UpdatedAt: new Date().toISOString() })) return;
  }
  throw new Error('the swarm\'s record kept changing');
}

/** The rotation begun: the cross-signed root made, the record written, the swarm showing the new root in progress. */
export async function beginRotation(store: ClusterStore, next: KeyPair, old: KeyPair, issuer: { addr: string; nodeId: string }): Promise<RotationRecord> {
  const rec: RotationRecord = { CACert: next.cert, CrossSigned: crossSign(next.cert, old), Issuer: issuer.addr, IssuerNode: issuer.nodeId, Phase: 'renew' };
  await store.client.put(ROTATION).value(JSON.stringify(rec));
  await updateCluster(store, (c) => ({ ...c, TLSInfo: tlsInfo(next.cert), RootRotationInProgress: true }));
  return rec;
}

export async function readRotation(store: ClusterStore): Promise<RotationRecord | undefined> {
  const text = await store.client.get(ROTATION).string();
  return text ? (JSON.parse(text) as RotationRecord) : undefined;
}

/**
 * One step of the driver (ready: the nodes whose heartbeat is alive):
 * renew → trust once every ready node's certificate
 * is the new key's, trust → done once every ready node trusts the new root.
 * beforeTrust runs first (the driver's own CA files). Returns the record, or
 * undefined when the rotation is over.
 */
export async function stepRotation(store: ClusterStore, ready: NodeRecord[], rec: RotationRecord, beforeTrust: () => Promise<void>): Promise<RotationRecord | undefined> {
  const want = tlsInfo(rec.CACert);
  const nodes = ready;
  const info = (n: NodeRecord) => n.Description.TLSInfo as ReturnType<typeof tlsInfo> | undefined;
  if (rec.Phase === 'renew') {
    if (!nodes.every((n) => info(n)?.CertIssuerPublicKey === want.CertIssuerPublicKey)) return rec;
    await beforeTrust();
    const next: RotationRecord = { ...rec, Phase: 'trust' };
    await store.client.put(ROTATION).value(JSON.stringify(next));
    return next;
  }
  if (!nodes.every((n) => JSON.stringify(info(n)) === JSON.stringify(want))) return rec;
  await updateCluster(store, (c) => ({ ...c, RootRotationInProgress: false, JoinTokens: { Worker: joinToken(rec.CACert), Manager: joinToken(rec.CACert) } }));
  await store.client.delete().key(ROTATION);
  return undefined;
}

/** What the rotation needs of the node's service (service.ts). */
export interface RotationHost {
  log(level: string, msg: string): void;
  /** The membership running now, if any. */
  current(): Membership | undefined;
  /** The CA this manager holds on disk. */
  caPair(): KeyPair;
  ownTls(): { ca: string; cert: string; key: string };
  writeCa(f: { cert?: string; key?: string }): Promise<void>;
  /** One membership change at a time (the service's serial). */
  serial(fn: () => Promise<void>): Promise<void>;
  /** A new certificate from these managers; whole: the membership restarted whole (a new trust root). */
  renew(m: Membership, from: string[], whole: boolean): Promise<void>;
}

/** A manager's side (driving a rotation) and every node's (following one). */
export class CaRotation {
  /** A rotation this manager drives: the new root's key in memory, stepped each second. */
  private rotating?: { next: KeyPair; rec: RotationRecord; timer: NodeJS.Timeout; busy: boolean };
  private readonly host: RotationHost;

  constructor(host: RotationHost) {
    this.host = host;
  }

  /** A rotation begun here: this manager holds the new key and drives the phases. */
  async start(m: Membership, next: KeyPair): Promise<void> {
    const addr = `${m.state.AdvertiseAddr}:${hostPort(m.state.ListenAddr).port}`;
    const rec = await beginRotation(m.store, next, this.host.caPair(), { addr, nodeId: m.state.NodeID });
    this.stop();
    this.rotating = { next, rec, busy: false, timer: setInterval(() => void this.drive(), 1000) };
    this.rotating.timer.unref();
  }

  stop(): void {
    if (this.rotating) clearInterval(this.rotating.timer);
    this.rotating = undefined;
  }

  /** One step of the rotation driven here; it stops when done or when another manager's took its place. */
  private async drive(): Promise<void> {
    const r = this.rotating;
    const m = this.host.current();
    if (!r || !m || m.closing || r.busy) return;
    r.busy = true;
    try {
      const rec = await readRotation(m.store);
      if (!rec || rec.CACert !== r.next.cert || rec.IssuerNode !== m.state.NodeID) return this.stop();
      const ready = (await m.objects.nodes()).filter((n) => n.Status.State === 'ready');
      // Before nodes switch their trust, this manager's CA files are the new root's.
      const next = await stepRotation(m.store, ready, rec, () => this.host.writeCa({ cert: r.next.cert, key: r.next.key }));
      if (next) r.rec = next;
      else {
        this.host.log('info', 'swarm: root CA rotation completed');
        this.stop();
      }
    } catch (err) {
      this.host.log('warn', `swarm: root CA rotation: ${(err as Error).message}`);
    } finally {
      r.busy = false;
    }
  }

  /** Who signs here now: the CA, or the new root of a rotation driven here (sent with the cross-signed root until nodes trust it). */
  issuer(): Issuer {
    const r = this.rotating;
    if (!r) return this.host.caPair();
    // The cross-signed root goes with certificates in both phases: a client or member that still trusts the old
    // root (an old client finishing its calls, a member not yet restarted) verifies them; a node's next renewal
    // after the rotation drops it.
    return r.rec.Phase === 'renew' ? { ...r.next, chain: r.rec.CrossSigned, trust: this.host.caPair().cert } : { ...r.next, chain: r.rec.CrossSigned };
  }

  /** The swarm port's /ca-key: the new root's key, to a manager following the rotation driven here. */
  async caKey(store: ClusterStore, nodeId: string): Promise<{ CACert: string; CAKey: string }> {
    const node = await store.get<NodeRecord>(KEYS.nodes + nodeId);
    if (node?.Spec.Role !== 'manager') throw new InvalidArgumentError(`node ${nodeId} is not a manager`);
    if (!this.rotating) throw new ConflictError('no root CA rotation is driven by this manager');
    return { CACert: this.rotating.next.cert, CAKey: this.rotating.next.key };
  }

  /**
   * This node follows the record: in the renew phase a certificate from the
   * new key; in the trust phase the new root as its CA (a manager takes its
   * key too), a certificate without the cross-signed root, and its membership
   * restarted whole (etcd reads its CA only at start).
   */
  follow(m: Membership): void {
    void this.host.serial(async () => {
      if (this.host.current() !== m || m.closing) return;
      const rec = await readRotation(m.store);
      if (!rec) return;
      const own = this.host.ownTls();
      if (rec.Phase === 'renew') {
        if (!issuedBy(own.cert, rec.CACert)) await this.host.renew(m, [rec.Issuer], false);
        return;
      }
      // Done once the driver has recorded this node as trusting the new root (its renewal in this phase).
      const self = await m.store.get<NodeRecord>(KEYS.nodes + m.state.NodeID);
      const trusted = (self?.Description.TLSInfo as { TrustRoot?: string } | undefined)?.TrustRoot === rec.CACert;
      if (own.ca.trim() === rec.CACert.trim() && issuedBy(own.cert, rec.CACert) && trusted) return;
      if (m.state.Role === 'manager' && !this.holdsKeyOf(rec.CACert)) {
        const r = await callManager<{ CACert: string; CAKey: string }>(rec.Issuer, 'POST', '/ca-key', { ...own, body: {}, timeoutMs: 10_000 });
        await this.host.writeCa({ key: r.body.CAKey });
      }
      await this.host.writeCa({ cert: rec.CACert });
      await this.host.renew(m, [rec.Issuer], true);
    }).catch((err: Error) => {
      if (this.host.current() !== m || m.closing) return;
      this.host.log('warn', `swarm: following the root CA rotation: ${err.message}; trying again`);
      setTimeout(() => { const now = this.host.current(); if (now) this.follow(now); }, 3000).unref();
    });
  }

  /** Whether the CA key on disk is the key of `caCert`. */
  private holdsKeyOf(caCert: string): boolean {
    try {
      const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
      return spki(createPublicKey(createPrivateKey(this.host.caPair().key))) === spki(new X509Certificate(caCert).publicKey);
    } catch {
      return false;
    }
  }
}
