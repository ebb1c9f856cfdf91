// The cluster as a service the daemon composes: this node's swarm membership
// (the etcd member it runs, its heartbeat, its bid for leadership) and the
// loops that follow from it (the scheduler on the leader, the agent on every
// node). Out of a swarm none of it runs and every question is refused with
// dockerd's 503.
import { join } from 'node:path';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, UnavailableError } from '../errors.ts';
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
import { ClusterFiles, loadDataKey, writeDataKey } from './secrets.ts';
import { newId } from './spec.ts';
import { caDigest, FILES, issueNodeCert, joinToken, makeCsr, makeRootCa, tlsInfo, tokenDigest, type KeyPair } from './ca.ts';
import { Admission, clientUrls } from './admission.ts';
import { removeNode, setManagerStatus, updateNode, updateSwarm, type NodeSpecUpdate, type SwarmUpdate } from './node-admin.ts';
import { callManager, listenSwarmPort, SWARM_PORT, type JoinGrant, type JoinRequest } from './swarm-port.ts';
import { advertiseAddr, beat, campaign, firstContact, hostOf, leaveRefusal, listenAddr, promoteLearner, stopMembership, type Membership, type NodeState } from './membership.ts';
import type { ClusterRecord, NodeRecord } from './types.ts';

export const NO_SWARM = 'This node is not part of a swarm';
export const NO_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const WORKER = 'This node is not a swarm manager. Worker nodes can\'t be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.';
const ALREADY = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';

export interface InitRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  ForceNewCluster?: boolean;
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
  log: (level: string, msg: string) => void = () => {};

  private readonly dataRoot: string;
  private readonly engine: LocalEngine;

  constructor(dataRoot: string, engine: LocalEngine) {
    this.dataRoot = dataRoot;
    this.engine = engine;
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

  /** The API's Swarm header: active/manager, active/worker or inactive. */
  get header(): string {
    return this.m ? `active/${this.m.state.Role}` : 'inactive';
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
    if (!this.m) throw new UnavailableError(NO_MANAGER);
    if (this.m.state.Role !== 'manager') throw new UnavailableError(WORKER);
    return this.m.objects;
  }

  /** The swarm's overlay networks, or dockerd's refusal for a node in no swarm or a worker. */
  networks(): ClusterNetworks {
    return this.manager().networks;
  }

  /** An overlay address for a container of this node (the engine asks at its start). */
  async allocateAddress(networkId: string, owner: { containerId: string; labels: Record<string, string> }): Promise<string> {
    const m = this.m;
    if (!m) throw new UnavailableError(NO_SWARM);
    const ip = await m.networks.allocate(networkId, {
      kind: 'container', id: owner.containerId, node: m.state.NodeID,
      service: owner.labels[TASK_LABELS.serviceId], task: owner.labels[TASK_LABELS.taskId],
    });
    m.agent.kick();
    return ip!;
  }

  /** One networking pass now: an overlay just created or removed is made real on this node before the answer. */
  async syncNetworks(): Promise<void> {
    await this.m?.net.pass(true);
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

  async updateSwarm(u: Omit<SwarmUpdate, 'caCert'>): Promise<void> {
    const m = this.manager();
    await updateSwarm(m.store, m.objects, { ...u, caCert: this.caPair().cert });
  }

  /** The CA a manager holds (certificate and key, under the data root, the key 0600). */
  private caPair(): KeyPair {
    return { cert: readFileSync(this.file('caCert'), 'utf8'), key: readFileSync(this.file('caKey'), 'utf8') };
  }

  /** One init/join/leave/restore at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = (this.busy ?? Promise.resolve()).catch(() => {}).then(fn);
    this.busy = run;
    return run;
  }

  /** At daemon start: a node that was in a swarm comes back into it. */
  async restore(): Promise<void> {
    let state: NodeState;
    try {
      state = JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as NodeState;
    } catch {
      // No membership recorded: an init or join a crash cut short leaves nothing to keep.
      await rm(this.dir, { recursive: true, force: true });
      return;
    }
    try {
      await this.serial(async () => {
        await this.attach(state);
        // The members as they are now (attach read them): the next start reaches the store through these.
        await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state));
      });
      this.restoreError = '';
    } catch (err) {
      // The daemon still serves; the membership stays recorded for the next start.
      this.restoreError = (err as Error).message;
      this.log('error', `swarm: cannot resume this node's membership: ${this.restoreError}`);
    }
  }

  /** Writes this node's certificate material: keys 0600, in a 0700 directory. */
  private async writeCerts(f: { caCert: string; cert: string; key: string; caKey?: string }): Promise<void> {
    await mkdir(this.certDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file('caCert'), f.caCert);
    await writeFileAtomic(this.file('cert'), f.cert);
    await writeFileAtomic(this.file('key'), f.key, 0o600);
    if (f.caKey) await writeFileAtomic(this.file('caKey'), f.caKey, 0o600);
    else await rm(this.file('caKey'), { force: true });
  }

  async init(req: InitRequest): Promise<string> {
    return this.serial(async () => {
      if (this.m) throw new UnavailableError(ALREADY);
      for (const a of [req.ListenAddr, req.AdvertiseAddr]) {
        if (a && !hostOf(a)) throw new InvalidArgumentError('advertise address must be a non-zero IP address or network interface (with optional port number)');
      }
      if (req.Availability && !['active', 'pause', 'drain'].includes(req.Availability)) throw new InvalidArgumentError(`invalid availability ${JSON.stringify(req.Availability)}`);
      await rm(this.dir, { recursive: true, force: true });
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const addr = advertiseAddr(req.AdvertiseAddr, req.ListenAddr);
      const state: NodeState = {
        NodeID: newId(), ClusterID: newId(), Role: 'manager', AdvertiseAddr: addr, ListenAddr: listenAddr(req.ListenAddr),
        ports: { client: await freePort(addr), peer: await freePort(addr) }, endpoints: [],
      };
      try {
        // The cluster's root CA, and this first manager's certificate from it.
        const ca = makeRootCa();
        const csr = makeCsr();
        await this.writeCerts({ caCert: ca.cert, caKey: ca.key, key: csr.key, cert: issueNodeCert(ca, csr.csr, { nodeId: state.NodeID, role: 'manager', clusterId: state.ClusterID, addr }) });
        const m = await this.attach(state, async (store) => {
          const now = new Date().toISOString();
          const cluster: Omit<ClusterRecord, 'Version'> = {
            ID: state.ClusterID, CreatedAt: now, UpdatedAt: now, Spec: clusterSpec(req.Spec),
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
        });
        // The membership is recorded last: a crash before this leaves no half swarm.
        await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state));
        return m.state.NodeID;
      } catch (err) {
        await this.teardown();
        await rm(this.dir, { recursive: true, force: true });
        throw err;
      }
    });
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

  /**
   * `swarm join`: the manager's CA fetched and checked against the digest the
   * token carries, then the token presented over TLS pinned to that CA; the
   * manager answers with this node's certificate and how to reach the store.
   */
  async join(req: JoinApiRequest): Promise<void> {
    return this.serial(async () => {
      if (this.m) throw new UnavailableError(ALREADY);
      if (req.Availability && !['active', 'pause', 'drain'].includes(req.Availability)) throw new InvalidArgumentError(`invalid availability ${JSON.stringify(req.Availability)}`);
      const remotes = (req.RemoteAddrs ?? []).filter(Boolean);
      if (!remotes.length) throw new InvalidArgumentError('at least 1 RemoteAddr is required to join');
      const digest = tokenDigest(req.JoinToken ?? '');
      for (const a of [req.ListenAddr, req.AdvertiseAddr]) {
        if (a && !hostOf(a)) throw new InvalidArgumentError('advertise address must be a non-zero IP address or network interface (with optional port number)');
      }
      const { remote, caCert, localAddress } = await firstContact(remotes);
      if (caDigest(caCert) !== digest) throw new InvalidArgumentError(`remote CA does not match fingerprint. Expected: ${digest}`);
      const addr = req.AdvertiseAddr ? hostOf(req.AdvertiseAddr) : localAddress.replace(/^::ffff:/, '');
      const csr = makeCsr();
      const ports = { client: await freePort(addr), peer: await freePort(addr) };
      const body: JoinRequest = { Token: req.JoinToken, Csr: csr.csr, Addr: addr, Description: this.describe(), Availability: req.Availability, Ports: ports };
      const grant = (await callManager<JoinGrant>(remote, 'POST', '/join', { ca: caCert, body })).body;
      await rm(this.dir, { recursive: true, force: true });
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      try {
        await this.writeCerts({ caCert: grant.CACert, cert: grant.Cert, key: csr.key, caKey: grant.CAKey });
        if (grant.DataKey) await writeDataKey(this.dir, grant.DataKey);
        const state: NodeState = {
          NodeID: grant.NodeID, ClusterID: grant.ClusterID, Role: grant.Role, AdvertiseAddr: addr, ListenAddr: listenAddr(req.ListenAddr),
          endpoints: grant.Endpoints,
          ...(grant.Role === 'manager' ? { ports, initialCluster: grant.InitialCluster, memberId: grant.MemberID } : {}),
        };
        await this.attach(state);
        await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state));
      } catch (err) {
        await this.teardown();
        await rm(this.dir, { recursive: true, force: true });
        throw err;
      }
    });
  }

  async leave(force: boolean): Promise<void> {
    return this.serial(async () => {
      const m = this.m;
      if (!m) throw new UnavailableError(NO_SWARM);
      if (m.state.Role === 'manager') {
        if (!force) throw new UnavailableError(await leaveRefusal(m));
        await this.leaveMembers(m);
      }
      await this.teardown();
      // As dockerd's leave: the node's task containers go with its membership.
      for (const c of this.engine.listLabelled(TASK_LABELS.taskId)) await this.engine.remove(c.id).catch(() => {});
      // And its overlays, once no container is on them.
      await this.engine.syncOverlays({ vtep: '', dataPort: 4789, networks: [], services: [] }).catch(() => {});
      await rm(join(this.dir, 'state.json'), { force: true });
      await rm(this.dir, { recursive: true, force: true });
    });
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
    await this.serial(() => this.teardown());
  }

  /** Starts what a recorded membership runs: the member (managers), the store, heartbeat, loops, the swarm port. */
  private async attach(state: NodeState, seed?: (store: ClusterStore) => Promise<void>): Promise<Membership> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tls = { ca: this.file('caCert'), cert: this.file('cert'), key: this.file('key') };
    const creds = { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
    let member: EtcdMember | undefined;
    let endpoints = state.endpoints;
    if (state.Role === 'manager' && state.ports) {
      member = new EtcdMember(this.dir, state.NodeID, { addr: state.AdvertiseAddr, ports: state.ports, tls, initialCluster: state.initialCluster, clusterState: state.initialCluster ? 'existing' : 'new' });
      member.log = (msg) => this.log('warn', msg);
      if (state.memberId) {
        // A learner serves no client: it is started, caught up and promoted through the others.
        await member.start({ waitHealthy: false });
        await promoteLearner(endpoints, creds, state.memberId, () => member?.pid !== undefined);
        delete state.memberId;
        delete state.initialCluster;
      } else {
        await member.start();
      }
      // Its own member only: etcd3 picks a random host per call, which sent a manager's
      // every read across the network; the member is supervised, and restarts are retried over.
      endpoints = [member.clientUrl];
    }
    const store = await ClusterStore.connect(endpoints, creds);
    // The swarm's one data key, made at init and handed to joiners: every node's agent opens the secrets of its tasks.
    const files = new ClusterFiles(store, await loadDataKey(this.dir));
    const objects = new ClusterObjects(store, state.NodeID);
    objects.checkReferences = (spec) => files.checkReferences(spec);
    // The loops read the watched view; the API (objects) reads etcd.
    const view = new StateView(store.client, loopPrefixes(state.Role), { resyncMs: resyncMs(), log: (msg) => this.log('warn', msg) });
    const reads = store.withReads(view);
    const agent = new Agent(reads, this.engine, state.NodeID, (t) => files.forTask(t));
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
      // A change, or a prefix to look at afresh (its key is then the prefix).
      view.onChange((key) => {
        kick();
        if (self.startsWith(key)) this.selfChanged(m);
      });
      await view.start();
      m.unsubscribe = this.engine.onExit(TASK_LABELS.taskId, () => m.agent.kick());
      if (state.Role === 'manager') {
        m.port = await listenSwarmPort(state.ListenAddr, { ca: readFileSync(tls.ca, 'utf8'), cert: readFileSync(tls.cert, 'utf8'), key: readFileSync(tls.key, 'utf8') }, {
          caCert: () => readFileSync(tls.ca, 'utf8'),
          join: (req) => new Admission(store, () => this.caPair(), () => files.keyText()).join(req),
          promote: (nodeId, req) => new Admission(store, () => this.caPair(), () => files.keyText()).promote(nodeId, req),
        });
        await campaign(m, this.log);
      }
      m.agent.kick();
      // A role changed or a removal while this daemon was down is taken now.
      this.selfChanged(m);
    } catch (err) {
      await this.teardown();
      throw err;
    }
    return m;
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
    const own = { ca: readFileSync(this.file('caCert'), 'utf8'), cert: readFileSync(this.file('cert'), 'utf8'), key: readFileSync(this.file('key'), 'utf8') };
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
    // Its tasks run on through the change: the next agent adopts them.
    await this.teardown({ keepHeartbeat: true });
    await rm(join(this.dir, 'data'), { recursive: true, force: true });
    await this.writeCerts({ caCert: grant.CACert, cert: grant.Cert, key: csr.key, caKey: grant.CAKey });
    const state: NodeState = { ...m.state, Role: 'manager', ports, endpoints: grant.Endpoints, initialCluster: grant.InitialCluster, memberId: grant.MemberID };
    const next = await this.attach(state).catch(async (err: unknown) => {
      // Back as the worker it was (its new certificate serves that too); the promotion is tried again.
      await rm(join(this.dir, 'data'), { recursive: true, force: true });
      await this.attach(m.state);
      throw err;
    });
    await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state));
    await setManagerStatus(next.store, state.NodeID, { Reachability: 'reachable', Addr: `${addr}:${SWARM_PORT}` });
  }

  /** Demoted: its etcd member leaves the cluster, the CA key goes, the store is reached through the managers. */
  private async becomeWorker(m: Membership): Promise<void> {
    const members = await m.store.members();
    const others = clientUrls(members.filter((x) => x.name !== m.state.NodeID));
    await this.leaveMembers(m);
    await this.teardown({ keepHeartbeat: true });
    await rm(join(this.dir, 'data'), { recursive: true, force: true });
    await rm(this.file('caKey'), { force: true });
    const { ports: _p, ...rest } = m.state;
    const state: NodeState = { ...rest, Role: 'worker', endpoints: others };
    const next = await this.attach(state);
    await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state));
    await setManagerStatus(next.store, state.NodeID, undefined);
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
    if (!m) return { NodeID: '', NodeAddr: '', LocalNodeState: this.restoreError ? 'error' : 'inactive', ControlAvailable: false, Error: this.restoreError, RemoteManagers: null };
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

/** dockerd's default cluster spec, with what the init request set over it. */
function clusterSpec(given: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Name: 'default', Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
    Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
    CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: false },
    ...Object.fromEntries(Object.entries(given).filter(([k]) => k === 'Labels' || k === 'Name')),
  };
}
