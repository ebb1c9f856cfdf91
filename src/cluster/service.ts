// The cluster as a service the daemon composes: this node's swarm membership
// (the etcd member it runs, its heartbeat, its bid for leadership) and the
// loops that follow from it (the scheduler on the leader, the agent on every
// node). Out of a swarm none of it runs and every question is refused with
// dockerd's 503.
import { join } from 'node:path';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { ConflictError, InvalidArgumentError, UnavailableError } from '../errors.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { EtcdMember, freePort } from './etcd-member.ts';
import { ClusterStore, KEYS } from './store.ts';
import { loopPrefixes, resyncMs, StateView } from './state-view.ts';
import { ReconcileLoop } from './reconcile-loop.ts';
import { Agent } from './agent.ts';
import { NetworkAgent } from './network-agent.ts';
import type { ClusterNetworks } from './networks.ts';
import { ClusterObjects } from './objects.ts';
import { TASK_LABELS, type LocalEngine } from './local-engine.ts';
import { askManagers, ClusterFiles, DATA_KEY_FILE, loadDataKey, newDataKey, toWire, writeDataKey } from './secrets.ts';
import { newId } from './spec.ts';
import { checkCertExpiry, FILES, issueNodeCert, joinToken, makeCsr, makeRootCa, tlsInfo, tokenDigest, type KeyPair } from './ca.ts';
import { Admission, clientUrls } from './admission.ts';
import { AccessControl } from './access.ts';
import { CaRotation, readRotation, ROTATION, wantedRoot } from './ca-rotation.ts';
import { NodeKeys, newUnlockKey } from './key-lock.ts';
import { Autolock, KEY as UNLOCK_KEY, LOCKED, LOCKED_LEAVE, NOT_LOCKED } from './autolock.ts';
import { certificateExpired, CertRenewal } from './cert-renewal.ts';
import { removeNode, setManagerStatus, updateNode, updateSwarm, type NodeSpecUpdate, type SwarmUpdate } from './node-admin.ts';
import { callManager, hostPort, listenSwarmPort, SWARM_PORT, type JoinGrant, type JoinRequest } from './swarm-port.ts';
import { LOG_PORTS, nodeLogs, serveLogs, type LogQuery, type LogSource } from './node-logs.ts';
import type { LogEntry } from '../api/stream-frames.ts';
import { advertiseAddr, beat, campaign, hostOf, LEAVE_REFUSAL, leaveRefusal, listenAddr, promoteLearner, stopMembership, type Membership, type NodeState } from './membership.ts';
import type { ClusterRecord, NodeRecord } from './types.ts';
import { BackgroundJoin, joinSteps, joinWithin } from './join-pending.ts';
import { dropLostManagers } from './force-new-cluster.ts';

export const NO_SWARM = 'This node is not part of a swarm';
export const NO_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const WORKER = 'This node is not a swarm manager. Worker nodes can\'t be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.';
/** The private key files under swarm/ (FILES are dockerd's names under swarm/certificates). */
const KEY_FILES = { key: `certificates/${FILES.key}`, caKey: `certificates/${FILES.caKey}` };
const EXPIRED = 'Swarm certificates have expired. To replace them, leave the swarm and join again.';
const ALREADY = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';

export interface InitRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  ForceNewCluster?: boolean;
  AutoLockManagers?: boolean;
  Availability?: 'active' | 'pause' | 'drain';
  Spec?: Record<string, unknown>;
}

export interface JoinApiRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  DataPathAddr?: string;
  RemoteAddrs?: string[];
  JoinToken?: string;
  Availability?: 'active' | 'pause' | 'drain';
}

export class ClusterService {
  private m?: Membership;
  private busy?: Promise<unknown>;
  /** Why a recorded membership could not be resumed at start (GET /info's Swarm.Error). */
  private restoreError = '';
  /** A join that went on in the background (join-pending.ts), and why the last one failed. */
  private readonly joins = new BackgroundJoin((level, msg) => this.log(level, msg));
  /** The next try to resume a recorded membership that could not be (restore). */
  private retry?: NodeJS.Timeout;
  private stopped = false;
  /** A manager's membership found with its keys sealed at start, until `swarm unlock`. */
  private locked?: NodeState;
  /** A membership found at start with its certificate expired: only a leave ends it. */
  private expired?: NodeState;
  /** The private key files, sealed while autolock is on, and the unlock key in memory. */
  private readonly keys: NodeKeys;
  private readonly lock: Autolock;
  /** Root CA rotation: driven by the manager that took `swarm ca --rotate`, followed by every node. */
  private readonly rotation: CaRotation;
  /** This node's certificate renewed before it expires, taken in place. */
  private readonly renewal: CertRenewal;
  log: (level: string, msg: string) => void = () => {};

  private readonly dataRoot: string;
  private readonly engine: LocalEngine;

  constructor(dataRoot: string, engine: LocalEngine) {
    this.dataRoot = dataRoot;
    this.engine = engine;
    // Under swarm/: the node's TLS key, a manager's CA key, the secrets' data key.
    this.keys = new NodeKeys(this.dir, () => [KEY_FILES.key, KEY_FILES.caKey, DATA_KEY_FILE]);
    this.lock = new Autolock(this.keys);
    this.rotation = new CaRotation({
      log: (level, msg) => this.log(level, msg),
      current: () => this.m,
      caPair: () => this.caPair(),
      ownTls: () => this.ownTls(),
      writeCa: async (f) => {
        if (f.key) await this.keys.write(KEY_FILES.caKey, f.key);
        if (f.cert) await writeFileAtomic(this.file('caCert'), f.cert);
      },
      serial: (fn) => this.serial(fn),
      renew: (m, from, whole) => this.renewal.renew(m, from, whole),
    });
    this.renewal = new CertRenewal({
      log: (level, msg) => this.log(level, msg),
      current: () => this.m,
      serial: (fn) => this.serial(fn),
      ownTls: () => this.ownTls(),
      describe: () => this.describe(),
      writeOwn: async (cert, key) => {
        await writeFileAtomic(this.file('cert'), cert);
        await this.keys.write(KEY_FILES.key, key);
      },
      memoryFile: (content) => this.keys.memoryFile(content),
      rewatch: (m) => m.view?.rebind(m.store.client) ?? Promise.resolve(),
    });
  }

  private get dir(): string {
    return join(this.dataRoot, 'swarm');
  }

  private get certDir(): string {
    return join(this.dir, 'certificates');
  }

  private file(name: keyof typeof FILES): string {
    return join(this.certDir, FILES[name]);
  }

  get active(): boolean {
    return this.m !== undefined;
  }

  get nodeId(): string {
    return this.m?.state.NodeID ?? '';
  }

  /** The API's Swarm header (the docker CLI reads its state before the slash): active/manager, active/worker, locked, error or inactive. */
  get header(): string {
    return this.m ? `active/${this.m.state.Role}` : this.locked ? 'locked' : this.expired ? 'error' : 'inactive';
  }

  get etcdPid(): number | undefined {
    return this.m?.member?.pid;
  }

  /** The swarm's secrets and configs, on a manager. */
  files(): ClusterFiles {
    this.objects();
    return (this.m as Membership).files;
  }

  /** The node's objects, or dockerd's refusal for a node in no swarm or a worker. */
  objects(): ClusterObjects {
    if (!this.m) throw new UnavailableError(this.locked ? LOCKED : this.expired ? EXPIRED : NO_MANAGER);
    if (this.m.state.Role !== 'manager') throw new UnavailableError(WORKER);
    return this.m.objects;
  }

  /** The swarm's overlay networks, or dockerd's refusal for a node in no swarm or a worker. */
  networks(): ClusterNetworks {
    return this.manager().networks;
  }

  /** An overlay address for a container of this node (the engine asks at its start). */
  async allocateAddress(networkId: string, owner: { containerId: string; labels: Record<string, string>; names?: string[] }): Promise<string> {
    const m = this.m;
    if (!m) throw new UnavailableError(NO_SWARM);
    const ip = await m.networks.allocate(networkId, {
      kind: 'container', id: owner.containerId, node: m.state.NodeID,
      service: owner.labels[TASK_LABELS.serviceId], task: owner.labels[TASK_LABELS.taskId],
      ...(owner.names?.length ? { names: owner.names } : {}),
    });
    m.agent.kick();
    return ip!;
  }

  /** This node's task logs, read by the daemon from its containers: served to managers on the swarm port. */
  logSource?: LogSource;

  /** The logs of tasks on another node, asked of it over mutual TLS with this node's certificate. */
  remoteLogs(nodeId: string, q: LogQuery, signal: AbortSignal): AsyncGenerator<LogEntry[]> {
    if (!this.m) throw new UnavailableError(NO_SWARM);
    return nodeLogs(this.m.store, { ca: this.file('caCert'), cert: this.file('cert'), key: this.file('key') }, nodeId, q, signal);
  }

  /** One networking pass now: an overlay just created or removed is made real on this node before the answer. */
  async syncNetworks(): Promise<void> {
    await this.m?.net.pass(true);
  }

  /**
   * A container of this node is about to join these networks (names, IDs or
   * prefixes the engine does not know): an overlay of the swarm among them is
   * made here now, as swarm makes a network on a node only once it is used there.
   */
  async demandOverlays(refs: string[]): Promise<void> {
    await this.m?.net.demand(refs);
  }

  async releaseAddress(networkId: string, ip: string): Promise<void> {
    await this.m?.networks.release(networkId, ip);
  }

  private manager(): Membership {
    this.objects();
    return this.m as Membership;
  }

  async updateNode(ref: string, version: number, spec: NodeSpecUpdate): Promise<void> {
    const m = this.manager();
    await updateNode(m.store, m.objects, ref, version, spec);
  }

  async removeNode(ref: string, force: boolean): Promise<void> {
    const m = this.manager();
    await removeNode(m.store, m.objects, ref, force);
  }

  async updateSwarm(u: Omit<SwarmUpdate, 'caCert'> & { rotateManagerUnlockKey?: boolean }): Promise<void> {
    const m = this.manager();
    const caConfig = u.spec.CAConfig as { NodeCertExpiry?: unknown; SigningCAKey?: string } | undefined;
    checkCertExpiry(caConfig?.NodeCertExpiry);
    const cluster = await m.objects.cluster();
    const inRotation = await readRotation(m.store);
    const next = wantedRoot(cluster.Spec.CAConfig as never, caConfig as never, [cluster.TLSInfo.TrustRoot, this.caPair().cert, ...(inRotation ? [inRotation.CACert] : [])]);
    // The signing key is never kept in the spec (swarmkit redacts it).
    const spec = caConfig ? { ...u.spec, CAConfig: { ...caConfig, SigningCAKey: undefined } } : u.spec;
    await updateSwarm(m.store, m.objects, { ...u, spec, caCert: this.caPair().cert });
    if (next) await this.rotation.start(m, next);
    const autolock = (u.spec.EncryptionConfig as { AutoLockManagers?: unknown } | undefined)?.AutoLockManagers === true;
    await this.lock.change(m.store, autolock, u.rotateManagerUnlockKey === true);
  }

  /** `GET /swarm/unlockkey`: the unlock key on a manager, '' with autolock off. */
  unlockKey(): string {
    this.objects();
    return this.lock.humanKey();
  }

  /** `swarm unlock`: a locked manager's key files opened with the key given, and its membership resumed. */
  async unlock(text: string): Promise<void> {
    return this.serial(async () => {
      if (this.m) throw this.m.state.Role === 'manager' ? new ConflictError(NOT_LOCKED) : new UnavailableError(WORKER);
      const state = this.locked;
      if (!state) throw new UnavailableError(NO_MANAGER);
      this.lock.unlock(text);
      await this.attach(state);
      this.locked = undefined;
      await this.saveState(state);
    });
  }

  /** The CA a manager holds (certificate and key, under the data root, the key 0600 and sealed while locked). */
  private caPair(): KeyPair {
    return { cert: readFileSync(this.file('caCert'), 'utf8'), key: this.keys.read(KEY_FILES.caKey).toString('utf8') };
  }

  /** This node's certificate, its key and the CA's certificate, as PEM. */
  private ownTls(): { ca: string; cert: string; key: string } {
    return { ca: readFileSync(this.file('caCert'), 'utf8'), cert: readFileSync(this.file('cert'), 'utf8'), key: this.keys.read(KEY_FILES.key).toString('utf8') };
  }

  /** One init/join/leave/restore at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = (this.busy ?? Promise.resolve()).catch(() => {}).then(fn);
    this.busy = run;
    return run;
  }

  /** At daemon start: a node that was in a swarm comes back into it. */
  async restore(): Promise<void> {
    const state = await this.recorded();
    if (!state) {
      // No membership recorded: an init or join a crash cut short leaves nothing to keep.
      await rm(this.dir, { recursive: true, force: true });
      return;
    }
    if (existsSync(this.file('cert')) && certificateExpired(readFileSync(this.file('cert'), 'utf8'))) {
      // Down past its certificate's end, the node had no chance to renew: dockerd's words, and a leave is the way out.
      this.expired = state;
      this.restoreError = EXPIRED;
      this.log('error', `swarm: ${EXPIRED}`);
      return;
    }
    if (state.Role === 'manager' && this.keys.sealed()) {
      // Autolock: nothing of the membership runs until `swarm unlock`; the node's containers run on.
      this.locked = state;
      this.log('info', 'swarm: this manager is locked; use "swarm unlock" with the unlock key');
      return;
    }
    await this.resume(state);
  }

  /** Records this node's membership (state.json). */
  private saveState(state: NodeState): Promise<void> {
    return writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state));
  }

  /** The membership this node recorded (state.json), if any. */
  private async recorded(): Promise<NodeState | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as NodeState;
    } catch {
      return undefined;
    }
  }

  private async resume(state: NodeState): Promise<void> {
    try {
      await this.serial(async () => {
        if (this.m || this.joins.pending || this.stopped) return; // joined, left or stopped meanwhile
        await this.attach(state);
        // The members as they are now (attach read them): the next start reaches the store through these.
        await this.saveState(state);
      });
      this.restoreError = '';
    } catch (err) {
      // The daemon still serves, and tries again: a manager whose peers are
      // down (no quorum for its member) rejoins them when they return.
      this.restoreError = (err as Error).message;
      this.log('error', `swarm: cannot resume this node's membership (trying again in 5 s): ${this.restoreError}`);
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.recorded().then((again) => (again && !this.m && !this.stopped ? this.resume(again) : undefined)), 5000);
      this.retry.unref();
    }
  }

  /** Writes this node's certificate material: keys 0600, in a 0700 directory. */
  private async writeCerts(f: { caCert: string; cert: string; key: string; caKey?: string }): Promise<void> {
    await mkdir(this.certDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file('caCert'), f.caCert);
    await writeFileAtomic(this.file('cert'), f.cert);
    await this.keys.write(KEY_FILES.key, f.key);
    if (f.caKey) await this.keys.write(KEY_FILES.caKey, f.caKey);
    else await rm(this.file('caKey'), { force: true });
  }

  async init(req: InitRequest): Promise<string> {
    return this.serial(async () => {
      // A locked or expired membership has no keys to start a member with: unlock, or leave, first.
      if (req.ForceNewCluster && !this.locked && !this.expired && (this.m || this.restoreError)) return this.forceNewCluster();
      if (this.m || this.joins.pending || this.locked || this.expired) throw new UnavailableError(ALREADY);
      clearTimeout(this.retry);
      this.restoreError = '';
      for (const a of [req.ListenAddr, req.AdvertiseAddr]) {
        if (a && !hostOf(a)) throw new InvalidArgumentError('advertise address must be a non-zero IP address or network interface (with optional port number)');
      }
      if (req.Availability && !['active', 'pause', 'drain'].includes(req.Availability)) throw new InvalidArgumentError(`invalid availability ${JSON.stringify(req.Availability)}`);
      const spec = clusterSpec(req.Spec, req.AutoLockManagers);
      checkCertExpiry((spec.CAConfig as { NodeCertExpiry: number }).NodeCertExpiry);
      await rm(this.dir, { recursive: true, force: true });
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // --autolock: the keys are sealed from the first write.
      this.keys.kek = (spec.EncryptionConfig as { AutoLockManagers: boolean }).AutoLockManagers ? newUnlockKey() : undefined;
      const addr = advertiseAddr(req.AdvertiseAddr, req.ListenAddr);
      const state: NodeState = {
        NodeID: newId(), ClusterID: newId(), Role: 'manager', AdvertiseAddr: addr, ListenAddr: listenAddr(req.ListenAddr),
        ports: { client: await freePort(addr), peer: await freePort(addr) }, endpoints: [], raftAlone: true,
      };
      try {
        // The cluster's root CA, and this first manager's certificate from it.
        const ca = makeRootCa();
        const csr = makeCsr();
        await this.keys.write(DATA_KEY_FILE, newDataKey());
        await this.writeCerts({ caCert: ca.cert, caKey: ca.key, key: csr.key, cert: issueNodeCert(ca, csr.csr, { nodeId: state.NodeID, role: 'manager', clusterId: state.ClusterID, addr, expiryNs: (spec.CAConfig as { NodeCertExpiry: number }).NodeCertExpiry }) });
        const m = await this.attach(state, async (store) => {
          const now = new Date().toISOString();
          const cluster: Omit<ClusterRecord, 'Version'> = {
            ID: state.ClusterID, CreatedAt: now, UpdatedAt: now, Spec: spec,
            TLSInfo: tlsInfo(ca.cert),
            RootRotationInProgress: false, DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24, DataPathPort: 4789,
            JoinTokens: { Worker: joinToken(ca.cert), Manager: joinToken(ca.cert) },
          };
          await store.create(KEYS.cluster, cluster);
          const node: Omit<NodeRecord, 'Version'> = {
            ID: state.NodeID, CreatedAt: now, UpdatedAt: now,
            Spec: { Labels: {}, Role: 'manager', Availability: req.Availability || 'active' },
            Description: { ...this.describe(), TLSInfo: tlsInfo(ca.cert) },
            Status: { State: 'ready', Addr: state.AdvertiseAddr },
            ManagerStatus: { Reachability: 'reachable', Addr: `${state.AdvertiseAddr}:${SWARM_PORT}` },
          };
          await store.create(KEYS.nodes + state.NodeID, node);
          await this.lock.record(store);
          // etcd's auth on from the start: this manager's user with root, workers' narrowed as they join (access.ts).
          await new AccessControl(store).pass();
        });
        // The membership is recorded last: a crash before this leaves no half swarm.
        await this.saveState(state);
        return m.state.NodeID;
      } catch (err) {
        await this.teardown();
        this.lock.forget();
        await rm(this.dir, { recursive: true, force: true });
        throw err;
      }
    });
  }

  /**
   * `swarm init --force-new-cluster` on a manager (one that lost its quorum,
   * or could not resume for want of it): its etcd member restarts as the only
   * member of its cluster, keeping the store (services, nodes, secrets); the
   * other managers' records become workers' (force-new-cluster.ts).
   */
  private async forceNewCluster(): Promise<string> {
    const state = this.m?.state ?? (await this.recorded());
    if (!state) throw new UnavailableError(NO_SWARM);
    if (state.Role !== 'manager' || !state.ports) throw new UnavailableError(WORKER);
    clearTimeout(this.retry);
    // Its tasks run on; its heartbeat lease is left to the restarted store.
    await this.teardown({ keepHeartbeat: true });
    const m = await this.attach({ ...state, initialCluster: undefined, memberId: undefined, raftAlone: true }, undefined, { forceNewCluster: true }).catch((err: Error) => {
      // Still recorded, not running: it can be tried again, or left.
      this.restoreError = err.message;
      throw err;
    });
    await dropLostManagers(m.store, state.NodeID);
    await this.saveState(m.state);
    this.restoreError = '';
    return state.NodeID;
  }

  /** What a node tells the cluster of itself (Node.Description). */
  private describe(): Record<string, unknown> & { Hostname: string } {
    const d = this.engine.describe();
    return {
      Hostname: d.hostname, Platform: { Architecture: 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: d.nanoCPUs, MemoryBytes: d.memoryBytes },
      Engine: { EngineVersion: d.engineVersion, Plugins: [{ Type: 'Log', Name: 'json-file' }, { Type: 'Network', Name: 'bridge' }, { Type: 'Volume', Name: 'local' }] },
    };
  }

  /** `swarm join`, in dockerd's time: past 20 s without a manager's answer it goes on in the background. */
  async join(req: JoinApiRequest): Promise<void> {
    return this.serial(async () => {
      if (this.m || this.joins.pending || this.locked || this.expired) throw new UnavailableError(ALREADY);
      if (req.Availability && !['active', 'pause', 'drain'].includes(req.Availability)) throw new InvalidArgumentError(`invalid availability ${JSON.stringify(req.Availability)}`);
      const remotes = (req.RemoteAddrs ?? []).filter(Boolean);
      if (!remotes.length) throw new InvalidArgumentError('at least 1 RemoteAddr is required to join');
      const digest = tokenDigest(req.JoinToken ?? '');
      for (const a of [req.ListenAddr, req.AdvertiseAddr]) {
        if (a && !hostOf(a)) throw new InvalidArgumentError('advertise address must be a non-zero IP address or network interface (with optional port number)');
      }
      this.joins.error = '';
      const cancel = new AbortController();
      const host = { dir: this.dir, describe: () => this.describe(), writeCerts: this.writeCerts.bind(this), attach: (s: NodeState) => this.attach(s), teardown: () => this.teardown() };
      // Managers that do not answer in time: the join goes on in the background, the node `pending`.
      await joinWithin(joinSteps(host, req, remotes, digest, cancel.signal), cancel, (p) => this.joins.track(p));
    });
  }

  async leave(force: boolean): Promise<void> {
    // A join going on in the background is cancelled (dockerd's leave of a pending node).
    const wasJoining = await this.joins.cancel();
    return this.serial(async () => {
      const m = this.m;
      if (!m && this.locked) {
        // A locked manager cannot reach the store: with --force it drops its membership here only, as dockerd's.
        if (!force) throw new UnavailableError(LOCKED_LEAVE);
        this.locked = undefined;
        await this.forgetMembership();
        return;
      }
      if (!m && this.expired) {
        this.expired = undefined;
        this.restoreError = '';
        await this.forgetMembership();
        return;
      }
      if (!m) {
        if (wasJoining) return;
        // A membership recorded but not running (its member removed by another's
        // --force-new-cluster, its peers gone): leaving drops it here.
        const recorded = this.restoreError ? await this.recorded() : undefined;
        if (!recorded) throw new UnavailableError(NO_SWARM);
        if (recorded.Role === 'manager' && !force) throw new UnavailableError(LEAVE_REFUSAL);
        clearTimeout(this.retry);
        this.restoreError = '';
        await this.forgetMembership();
        return;
      }
      if (m.state.Role === 'manager') {
        if (!force) throw new UnavailableError(await leaveRefusal(m));
        await this.leaveMembers(m);
      }
      await this.teardown();
      await this.forgetMembership();
    });
  }

  /** What a leave ends on this node: its task containers, its overlays, its swarm directory, the unlock key in memory. */
  private async forgetMembership(): Promise<void> {
    // As dockerd's leave: the node's task containers go with its membership.
    for (const c of this.engine.listLabelled(TASK_LABELS.taskId)) await this.engine.remove(c.id).catch(() => {});
    // And its overlays, once no container is on them.
    await this.engine.syncOverlays({ vtep: '', dataPort: 4789, networks: [], services: [] }).catch(() => {});
    await rm(join(this.dir, 'state.json'), { force: true });
    await rm(this.dir, { recursive: true, force: true });
    this.lock.forget();
    this.rotation.stop();
  }

  /**
   * A manager leaving: its heartbeat and leadership end while the store still
   * answers, then its etcd member leaves the cluster, so the others' quorum
   * counts one member fewer rather than one missing.
   */
  private async leaveMembers(m: Membership): Promise<void> {
    m.closing = true;
    await m.leaderLease?.revoke().catch(() => {});
    await m.heartbeat?.revoke().catch(() => {});
    for (let attempt = 1; ; attempt++) {
      try {
        const members = await m.store.members();
        const me = members.find((x) => x.name === m.state.NodeID);
        if (me && members.length > 1) await m.store.removeMember(me.id);
        return;
      } catch (err) {
        this.log('warn', `swarm leave: removing this node's etcd member (attempt ${attempt}): ${(err as Error).message}`);
        if (attempt === 5) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** At daemon stop: the loops and the member stop; the membership stays recorded. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.joins.cancel();
    await this.serial(() => this.teardown());
  }

  private leavingAlone?: Promise<void>;

  /**
   * A lone member on etcd's quick timing, once a second member is added: the
   * membership is recorded as not alone (a daemon's next start takes the
   * swarm's timing), and once the new member votes this one is restarted on
   * the swarm's timing. Until then it leads, beating quicker than the new
   * one's timeout, which is safe (the reverse is not); stopped, it hands the
   * lead to the new member (etcd moves it at a graceful stop), so its
   * manager's store is away only for the restart, not for an election.
   */
  private leaveAlone(m: Membership): void {
    if (!m.member?.alone || this.leavingAlone) return;
    this.leavingAlone = (async () => {
      if (m.closing) return;
      m.state.raftAlone = false;
      await this.saveState(m.state);
      const own = m.member?.clientUrl;
      const deadline = Date.now() + 120_000;
      while (!m.closing && Date.now() < deadline) {
        const members = await m.store.members().catch(() => []);
        if (members.some((x) => !x.isLearner && x.name && !x.clientURLs.includes(own ?? ''))) {
          this.log('info', 'swarm: a second manager votes; restarting the etcd member with the swarm\'s raft timing');
          await m.member?.retime();
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      // No member came to vote (the join failed): still alone, as recorded again.
      if (!m.closing && (await m.store.members()).every((x) => x.clientURLs.includes(own ?? ''))) {
        m.state.raftAlone = true;
        await this.saveState(m.state);
      }
    })().catch((err: Error) => this.log('warn', `swarm: the etcd member's raft timing: ${err.message}`)).finally(() => { this.leavingAlone = undefined; });
  }

  /** Starts what a recorded membership runs: the member (managers), the store, heartbeat, loops, the swarm port. */
  private async attach(state: NodeState, seed?: (store: ClusterStore) => Promise<void>, o: { forceNewCluster?: boolean } = {}): Promise<Membership> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const own = this.ownTls();
    const creds = { ca: Buffer.from(own.ca), cert: Buffer.from(own.cert), key: Buffer.from(own.key) };
    // etcd reads its key at every handshake, and the file may be sealed: it reads a copy held in memory.
    const tls = { ca: this.file('caCert'), cert: this.file('cert'), key: this.file('key'), fd: this.keys.memoryFile(own.cert + own.key) };
    let member: EtcdMember | undefined;
    let endpoints = state.endpoints;
    if (state.Role === 'manager' && state.ports) {
      member = new EtcdMember(this.dir, state.NodeID, {
        addr: state.AdvertiseAddr, ports: state.ports, tls, initialCluster: state.initialCluster, clusterState: state.initialCluster ? 'existing' : 'new', forceNewCluster: o.forceNewCluster,
        alone: state.raftAlone,
      });
      member.log = (msg) => this.log('warn', msg);
      try {
        if (state.memberId) {
          // A learner serves no client: it is started, caught up and promoted through the others.
          await member.start({ waitHealthy: false });
          await promoteLearner(endpoints, creds, state.memberId, () => member?.pid !== undefined);
          delete state.memberId;
          delete state.initialCluster;
        } else {
          await member.start();
        }
      } catch (err) {
        // Not left running behind a failed attach: the next try, or a leave, starts from none.
        await member.stop();
        throw err;
      }
      // Its own member only: etcd3 picks a random host per call, which sent a manager's
      // every read across the network; the member is supervised, and restarts are retried over.
      endpoints = [member.clientUrl];
    }
    // The swarm's one data key, made at init and handed to managers only; a worker's
    // (one from before this rule, or a demoted manager's) goes.
    if (state.Role !== 'manager') await rm(join(this.dir, DATA_KEY_FILE), { force: true });
    const dataKey = state.Role === 'manager' ? await loadDataKey(this.dir, (raw) => this.keys.open(DATA_KEY_FILE, raw)) : undefined;
    const store = await ClusterStore.connect(endpoints, creds);
    const files = new ClusterFiles(store, dataKey);
    const objects = new ClusterObjects(store, state.NodeID);
    objects.checkReferences = (spec) => files.checkReferences(spec);
    // The loops read the watched view; the API (objects) reads etcd.
    const view = new StateView(store.client, [...loopPrefixes(state.Role), ROTATION, ...(state.Role === 'manager' ? [UNLOCK_KEY] : [])], { resyncMs: resyncMs(), log: (msg) => this.log('warn', msg) });
    const reads = store.withReads(view);
    // A manager opens its tasks' files itself; a worker asks a manager for them (swarm-port.ts's /task-files).
    const managers = async () => (await reads.list<NodeRecord>(KEYS.nodes)).filter((n) => n.ManagerStatus?.Addr)
      .sort((x, y) => Number(y.Status.State === 'ready') - Number(x.Status.State === 'ready')).map((n) => n.ManagerStatus?.Addr ?? '');
    const agent = new Agent(reads, this.engine, state.NodeID, state.Role === 'manager' ? (t) => files.forTask(t) : async (t) => askManagers(t, await managers(), () => this.ownTls()));
    agent.log = (msg) => this.log('warn', `swarm agent: ${msg}`);
    const net = new NetworkAgent(reads, this.engine, state.NodeID);
    // The node's overlays first, so a task's networks are there when it starts; a failure there holds no task up.
    const pass = async () => {
      await net.pass().catch((err: Error) => this.log('warn', `swarm networks: ${err.message}`));
      await agent.pass();
    };
    const m: Membership = {
      state, member, store, objects, files, networks: net.networks, net, view,
      agent: new ReconcileLoop(pass, (err) => this.log('warn', `swarm agent: ${err.message}`), 2000),
      unsubscribe: () => {},
      closing: false,
    };
    this.m = m;
    agent.onEnded = () => m.agent.kick();
    // The next pass (a watch event's or the ticker's) makes it.
    agent.onNetworksMissing = () => net.markDirty();
    agent.pulls.onDone = () => m.agent.kick();
    agent.pulls.log = (msg) => this.log('warn', `swarm agent: ${msg}`);
    try {
      if (seed) await seed(store);
      // The members as they are now: a worker's way to the store follows them.
      state.endpoints = clientUrls(await store.members());
      // A daemon killed with -9 left its heartbeat and leadership on leases still running out.
      // (A heartbeat put anew moves to the new lease; the old one's end takes nothing with it.)
      await store.revokeStale(KEYS.leader, state.NodeID);
      await beat(m, this.log);
      const kick = () => { m.net.markDirty(); m.agent.kick(); m.scheduler?.kick(); };
      const self = KEYS.nodes + state.NodeID;
      // A change, or a prefix to look at afresh (its key is then the prefix): the loops look, and this node takes its own changes (role, lock, rotation).
      view.onChange((key) => {
        kick();
        if (self.startsWith(key)) this.selfChanged(m);
        if (UNLOCK_KEY.startsWith(key)) this.followLock(m);
        if (ROTATION.startsWith(key)) this.rotation.follow(m);
      });
      await view.start();
      m.unsubscribe = this.engine.onExit(TASK_LABELS.taskId, () => m.agent.kick());
      const logs = serveLogs(store, () => this.logSource);
      if (state.Role === 'manager') {
        const admission = () => new Admission(store, () => this.rotation.issuer(), () => files.keyText(), () => this.leaveAlone(m));
        m.port = await listenSwarmPort(state.ListenAddr, own, {
          caCert: () => readFileSync(tls.ca, 'utf8'),
          join: (req) => admission().join(req),
          promote: (nodeId, req) => admission().promote(nodeId, req),
          renew: (caller, req) => admission().renew(caller, req),
          unlockKey: (nodeId) => this.lock.grant(store, nodeId),
          caKey: (nodeId) => this.rotation.caKey(store, nodeId),
          taskFiles: async (nodeId, taskId) => ({ Files: toWire(await files.forNode(nodeId, taskId)) }),
          logs,
        });
        await campaign(m, this.log);
      } else {
        // A worker serves only its task logs there (node-logs.ts); without the port, only its logs are missing.
        m.port = await listenSwarmPort(state.ListenAddr, own, { logs }).catch((err: Error) => {
          this.log('warn', `swarm: cannot serve task logs on ${state.ListenAddr}: ${err.message}`);
          return undefined;
        });
      }
      if (m.port) await store.put(LOG_PORTS + state.NodeID, String(hostPort(state.ListenAddr).port));
      // The key files as autolock now says (a manager joined or promoted since it changed, a demoted one).
      this.followLock(m);
      // A rotation begun while this node was down or changing is followed now.
      this.rotation.follow(m);
      this.renewal.schedule(m, own.cert);
      m.agent.kick();
      // A role changed or a removal while this daemon was down is taken now.
      this.selfChanged(m);
    } catch (err) {
      await this.teardown();
      throw err;
    }
    return m;
  }

  /** The key files follow the unlock key's record; tried again while no manager can hand the key over. */
  private followLock(m: Membership): void {
    void this.lock.follow({ store: m.store, nodeId: m.state.NodeID, role: m.state.Role, tls: () => this.ownTls() }).catch((err: Error) => {
      if (this.m !== m || m.closing) return;
      this.log('warn', `swarm autolock: ${err.message}; trying again`);
      setTimeout(() => { if (this.m === m && !m.closing) this.followLock(m); }, 3000).unref();
    });
  }

  /**
   * This node's record changed: a new role is taken (promote/demote), a
   * removal (`node rm --force`) is a leave. Serialised with init/join/leave.
   */
  private selfChanged(m: Membership): void {
    void this.serial(async () => {
      if (this.m !== m || m.closing) return;
      const node = await m.store.get<NodeRecord>(KEYS.nodes + m.state.NodeID);
      if (!node) {
        this.log('warn', 'swarm: this node was removed from the swarm; leaving it');
        await this.teardown();
        for (const c of this.engine.listLabelled(TASK_LABELS.taskId)) await this.engine.remove(c.id).catch(() => {});
        await this.engine.syncOverlays({ vtep: '', dataPort: 4789, networks: [], services: [] }).catch(() => {});
        await rm(this.dir, { recursive: true, force: true });
        return;
      }
      if (node.Spec.Role === m.state.Role) return;
      if (node.Spec.Role === 'manager') await this.becomeManager(m);
      else await this.becomeWorker(m);
    }).catch((err: Error) => {
      this.log('warn', `swarm: taking this node's new role: ${err.message}; trying again`);
      // Tried again until the role is taken (a manager busy with another's promotion, a store restarting).
      setTimeout(() => { if (this.m) this.selfChanged(this.m); }, 3000).unref();
    });
  }

  /** Promoted: a manager's certificate, the CA key and an etcd member, asked of a manager with this node's certificate. */
  private async becomeManager(m: Membership): Promise<void> {
    const managers = (await m.objects.nodes()).filter((n) => n.ManagerStatus && n.Status.State === 'ready').map((n) => n.ManagerStatus?.Addr ?? '');
    const addr = m.state.AdvertiseAddr;
    const csr = makeCsr();
    const ports = { client: await freePort(addr), peer: await freePort(addr) };
    const own = this.ownTls();
    const body: JoinRequest = { Csr: csr.csr, Addr: addr, Description: this.describe(), Ports: ports };
    let grant: JoinGrant | undefined;
    let last: Error = new Error('no manager is ready');
    for (const remote of managers) {
      try {
        grant = (await callManager<JoinGrant>(remote, 'POST', '/promote', { ...own, body })).body;
        break;
      } catch (err) {
        last = err as Error;
      }
    }
    if (!grant) throw last;
    if (!grant.DataKey) throw new UnavailableError('the manager granted no data key for the swarm\'s secrets');
    // Its tasks run on through the change: the next agent adopts them.
    await this.teardown({ keepHeartbeat: true });
    await rm(join(this.dir, 'data'), { recursive: true, force: true });
    await this.writeCerts({ caCert: grant.CACert, cert: grant.Cert, key: csr.key, caKey: grant.CAKey });
    // A manager opens secrets: the data key is kept before the manager's membership starts.
    await writeDataKey(this.dir, grant.DataKey);
    const state: NodeState = { ...m.state, Role: 'manager', ports, endpoints: grant.Endpoints, initialCluster: grant.InitialCluster, memberId: grant.MemberID };
    const next = await this.attach(state).catch(async (err: unknown) => {
      // Back as the worker it was (its new certificate serves that too); the promotion is tried again.
      await rm(join(this.dir, 'data'), { recursive: true, force: true });
      await this.attach(m.state);
      throw err;
    });
    await this.saveState(state);
    await setManagerStatus(next.store, state.NodeID, { Reachability: 'reachable', Addr: `${addr}:${SWARM_PORT}` });
  }

  /** Demoted: its etcd member leaves the cluster, the CA key goes, the store is reached through the managers. */
  private async becomeWorker(m: Membership): Promise<void> {
    const members = await m.store.members();
    const others = clientUrls(members.filter((x) => x.name !== m.state.NodeID));
    // Written while this node is still a manager: as a worker its etcd user may not write its record (access.ts).
    await setManagerStatus(m.store, m.state.NodeID, undefined);
    await this.leaveMembers(m);
    await this.teardown({ keepHeartbeat: true });
    await rm(join(this.dir, 'data'), { recursive: true, force: true });
    await rm(this.file('caKey'), { force: true });
    const { ports: _p, ...rest } = m.state;
    const state: NodeState = { ...rest, Role: 'worker', endpoints: others };
    await this.attach(state);
    await this.saveState(state);
  }

  private async teardown(o: { keepHeartbeat?: boolean } = {}): Promise<void> {
    const m = this.m;
    if (!m) return;
    this.m = undefined;
    await stopMembership(m, o);
  }

  /** The Swarm section of GET /info. */
  async info(): Promise<Record<string, unknown>> {
    const m = this.m;
    // A locked manager, as dockerd shows it: no node ID until unlocked, the lock as its error.
    if (!m && this.locked) return { NodeID: '', NodeAddr: this.locked.AdvertiseAddr, LocalNodeState: 'locked', ControlAvailable: false, Error: LOCKED, RemoteManagers: null };
    // Certificates expired while the daemon was down: an error until a leave.
    if (!m && this.expired) return { NodeID: '', NodeAddr: '', LocalNodeState: 'error', ControlAvailable: false, Error: this.restoreError, RemoteManagers: null };
    if (!m) {
      // A join going on in the background, or a recorded membership being tried again: pending.
      const state = this.joins.pending || this.restoreError ? 'pending' : this.joins.error ? 'error' : 'inactive';
      return { NodeID: '', NodeAddr: '', LocalNodeState: state, ControlAvailable: false, Error: this.restoreError || this.joins.error, RemoteManagers: null };
    }
    const base = { NodeID: m.state.NodeID, NodeAddr: m.state.AdvertiseAddr, LocalNodeState: 'active', ControlAvailable: m.state.Role === 'manager' };
    let nodes, cluster;
    try {
      [nodes, cluster] = await Promise.all([m.objects.nodes(), m.objects.cluster()]);
    } catch (err) {
      // docker info still answers while the store is down, saying why.
      return { ...base, Error: (err as Error).message, RemoteManagers: null };
    }
    const remote = nodes.filter((n) => n.ManagerStatus).map((n) => ({ NodeID: n.ID, Addr: n.ManagerStatus?.Addr }));
    // A worker sees its managers, not the cluster's numbers (dockerd's worker view).
    if (m.state.Role !== 'manager') return { ...base, Error: '', RemoteManagers: remote };
    const { JoinTokens: _t, ...withoutTokens } = cluster;
    return {
      ...base, Error: '', RemoteManagers: remote,
      Nodes: nodes.length, Managers: nodes.filter((n) => n.Spec.Role === 'manager').length,
      Cluster: withoutTokens,
    };
  }
}

/** dockerd's default cluster spec, with what the init request set over it (name, labels, certificate expiry, autolock). */
function clusterSpec(given: Record<string, unknown> = {}, autolock = false): Record<string, unknown> {
  const expiry = (given.CAConfig as { NodeCertExpiry?: unknown } | undefined)?.NodeCertExpiry;
  const locked = autolock || (given.EncryptionConfig as { AutoLockManagers?: unknown } | undefined)?.AutoLockManagers === true;
  return {
    Name: 'default', Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
    Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
    CAConfig: { NodeCertExpiry: typeof expiry === 'number' && expiry > 0 ? expiry : 7_776_000_000_000_000 },
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: locked },
    ...Object.fromEntries(Object.entries(given).filter(([k]) => k === 'Labels' || k === 'Name')),
  };
}
