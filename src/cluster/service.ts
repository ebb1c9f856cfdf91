// The cluster as a service the daemon composes: this node's swarm membership
// (the etcd member it runs, its heartbeat, its bid for leadership) and the
// loops that follow from it (the scheduler on the leader, the agent on every
// node). Out of a swarm none of it runs and every question is refused with
// dockerd's 503.
import { join } from 'node:path';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type { Lease, Watcher } from 'etcd3';
import { isIP } from 'node:net';
import { InvalidArgumentError, UnavailableError } from '../errors.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { EtcdMember, freePort, type MemberPorts } from './etcd-member.ts';
import { ClusterStore, KEYS, PREFIX } from './store.ts';
import { ReconcileLoop } from './reconcile-loop.ts';
import { Scheduler } from './scheduler.ts';
import { Agent } from './agent.ts';
import { NetworkAgent } from './network-agent.ts';
import type { ClusterNetworks } from './networks.ts';
import { ClusterObjects } from './objects.ts';
import { TASK_LABELS, type LocalEngine } from './local-engine.ts';
import { joinToken, newId } from './spec.ts';
import type { ClusterRecord, NodeRecord } from './types.ts';

export const NO_SWARM = 'This node is not part of a swarm';
export const NO_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const ALREADY = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';
const LAST_MANAGER = 'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.';

/** The port swarm's managers listen on; named in join commands (joins come with the multi-host step). */
const SWARM_PORT = 2377;
const HEARTBEAT_TTL = 10;
const LEADER_TTL = 5;

interface NodeState {
  NodeID: string;
  AdvertiseAddr: string;
  ports: MemberPorts;
}

/** What a running membership holds. */
interface Membership {
  state: NodeState;
  member: EtcdMember;
  store: ClusterStore;
  objects: ClusterObjects;
  networks: ClusterNetworks;
  net: NetworkAgent;
  heartbeat?: Lease;
  leaderLease?: Lease;
  watcher?: Watcher;
  agent: ReconcileLoop;
  scheduler?: ReconcileLoop;
  campaign?: NodeJS.Timeout;
  rebeat?: NodeJS.Timeout;
  unsubscribe: () => void;
  closing: boolean;
}

export interface InitRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  ForceNewCluster?: boolean;
  Spec?: Record<string, unknown>;
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

  get active(): boolean {
    return this.m !== undefined;
  }

  get nodeId(): string {
    return this.m?.state.NodeID ?? '';
  }

  get etcdPid(): number | undefined {
    return this.m?.member.pid;
  }

  /** The node's objects, or dockerd's refusal for a node in no swarm. */
  objects(): ClusterObjects {
    if (!this.m) throw new UnavailableError(NO_MANAGER);
    return this.m.objects;
  }

  /** The swarm's overlay networks, or dockerd's refusal for a node in no swarm. */
  networks(): ClusterNetworks {
    if (!this.m) throw new UnavailableError(NO_MANAGER);
    return this.m.networks;
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
    await this.m?.net.pass();
  }

  async releaseAddress(networkId: string, ip: string): Promise<void> {
    await this.m?.networks.release(networkId, ip);
  }

  /** One init/leave/restore at a time. */
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
      // No membership recorded: an init a crash cut short leaves nothing to keep.
      await rm(this.dir, { recursive: true, force: true });
      return;
    }
    try {
      await this.serial(() => this.join(state));
      this.restoreError = '';
    } catch (err) {
      // The daemon still serves; the membership stays recorded for the next start.
      this.restoreError = (err as Error).message;
      this.log('error', `swarm: cannot resume this node's membership: ${this.restoreError}`);
    }
  }

  async init(req: InitRequest): Promise<string> {
    return this.serial(async () => {
      if (this.m) throw new UnavailableError(ALREADY);
      for (const a of [req.ListenAddr, req.AdvertiseAddr]) {
        if (a && !hostOf(a)) throw new InvalidArgumentError('advertise address must be a non-zero IP address or network interface (with optional port number)');
      }
      await rm(this.dir, { recursive: true, force: true });
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const addr = hostOf(req.AdvertiseAddr || req.ListenAddr || '127.0.0.1');
      const state: NodeState = { NodeID: newId(), AdvertiseAddr: addr === '0.0.0.0' ? '127.0.0.1' : addr, ports: { client: await freePort(), peer: await freePort() } };
      try {
        const m = await this.join(state, async (store) => {
          const now = new Date().toISOString();
          const cluster: Omit<ClusterRecord, 'Version'> = {
            ID: newId(), CreatedAt: now, UpdatedAt: now, Spec: clusterSpec(req.Spec),
            TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
            RootRotationInProgress: false, DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24, DataPathPort: 4789,
            JoinTokens: { Worker: joinToken(), Manager: joinToken() },
          };
          await store.create(KEYS.cluster, cluster);
          const d = this.engine.describe();
          const node: Omit<NodeRecord, 'Version'> = {
            ID: state.NodeID, CreatedAt: now, UpdatedAt: now,
            Spec: { Labels: {}, Role: 'manager', Availability: 'active' },
            Description: {
              Hostname: d.hostname, Platform: { Architecture: 'x86_64', OS: 'linux' },
              Resources: { NanoCPUs: d.nanoCPUs, MemoryBytes: d.memoryBytes },
              Engine: { EngineVersion: d.engineVersion, Plugins: [{ Type: 'Log', Name: 'json-file' }, { Type: 'Network', Name: 'bridge' }, { Type: 'Volume', Name: 'local' }] },
              TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
            },
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

  async leave(force: boolean): Promise<void> {
    return this.serial(async () => {
      if (!this.m) throw new UnavailableError(NO_SWARM);
      // Every node here is the only manager: leaving erases the swarm, as dockerd warns.
      if (!force) throw new UnavailableError(LAST_MANAGER);
      await this.teardown();
      // As dockerd's leave: the node's task containers go with its membership.
      for (const c of this.engine.listLabelled(TASK_LABELS.taskId)) await this.engine.remove(c.id).catch(() => {});
      // And its overlays, once no container is on them.
      await this.engine.syncOverlays({ vtep: '', dataPort: 4789, networks: [], services: [] }).catch(() => {});
      await rm(join(this.dir, 'state.json'), { force: true });
      await rm(this.dir, { recursive: true, force: true });
    });
  }

  /** At daemon stop: the loops and the member stop; the membership stays recorded. */
  async shutdown(): Promise<void> {
    await this.serial(() => this.teardown());
  }

  private async join(state: NodeState, seed?: (store: ClusterStore) => Promise<void>): Promise<Membership> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const member = new EtcdMember(this.dir, state.NodeID, state.ports);
    member.log = (msg) => this.log('warn', msg);
    await member.start();
    const store = await ClusterStore.connect(member.clientUrl);
    const agent = new Agent(store, this.engine, state.NodeID);
    const net = new NetworkAgent(store, this.engine, state.NodeID);
    // The node's overlays first, so a task's networks are there when it starts; a failure there holds no task up.
    const pass = async () => {
      await net.pass().catch((err: Error) => this.log('warn', `swarm networks: ${err.message}`));
      await agent.pass();
    };
    const m: Membership = {
      state, member, store, objects: new ClusterObjects(store, state.NodeID), networks: net.networks, net,
      agent: new ReconcileLoop(pass, (err) => this.log('warn', `swarm agent: ${err.message}`), 2000),
      unsubscribe: () => {},
      closing: false,
    };
    this.m = m;
    agent.onEnded = () => m.agent.kick();
    try {
      if (seed) await seed(store);
      // A daemon killed with -9 left its heartbeat and leadership on leases still running out.
      await store.revokeStale(KEYS.heartbeats + state.NodeID, state.NodeID);
      await store.revokeStale(KEYS.leader, state.NodeID);
      await this.beat(m);
      m.watcher = await store.watch(PREFIX);
      const kick = () => { m.agent.kick(); m.scheduler?.kick(); };
      m.watcher.on('put', kick).on('delete', kick).on('error', (err) => this.log('warn', `swarm watch: ${err.message}`));
      m.unsubscribe = this.engine.onExit(TASK_LABELS.taskId, () => m.agent.kick());
      await this.campaign(m);
      m.agent.kick();
    } catch (err) {
      await this.teardown();
      throw err;
    }
    return m;
  }

  /** The node's heartbeat: a key on a lease, renewed while the daemon lives. */
  private async beat(m: Membership): Promise<void> {
    const lease = m.store.lease(HEARTBEAT_TTL);
    m.heartbeat = lease;
    lease.on('lost', () => {
      if (m.closing) return;
      this.log('warn', 'swarm heartbeat lease lost; renewing');
      this.rebeat(m);
    });
    await m.store.put(KEYS.heartbeats + m.state.NodeID, m.state.NodeID, lease);
  }

  /** A new heartbeat, tried each second while etcd cannot take it: a node never stays down by a missed retry. */
  private rebeat(m: Membership): void {
    void this.beat(m).catch((err: Error) => {
      if (m.closing) return;
      this.log('warn', `swarm heartbeat: ${err.message}`);
      m.heartbeat?.release();
      m.rebeat = setTimeout(() => { if (!m.closing) this.rebeat(m); }, 1000);
    });
  }

  /** Bids for leadership until won; the winner runs the scheduler. */
  private async campaign(m: Membership): Promise<void> {
    if (m.closing) return;
    const lease = m.store.lease(LEADER_TTL);
    let won = false;
    try {
      won = await m.store.claim(KEYS.leader, m.state.NodeID, lease);
    } catch (err) {
      this.log('warn', `swarm election: ${(err as Error).message}`);
    }
    if (!won) {
      lease.release();
      m.campaign = setTimeout(() => void this.campaign(m), 1000);
      return;
    }
    m.leaderLease = lease;
    const scheduler = new Scheduler(m.store);
    m.scheduler = new ReconcileLoop(() => scheduler.pass(), (err) => this.log('warn', `swarm scheduler: ${err.message}`), 1000);
    m.scheduler.kick();
    lease.on('lost', () => {
      if (m.closing) return;
      this.log('warn', 'swarm leadership lost; campaigning again');
      const s = m.scheduler;
      m.scheduler = undefined;
      void s?.stop().then(() => this.campaign(m));
    });
  }

  private async teardown(): Promise<void> {
    const m = this.m;
    if (!m) return;
    m.closing = true;
    this.m = undefined;
    clearTimeout(m.campaign);
    clearTimeout(m.rebeat);
    m.unsubscribe();
    await m.agent.stop();
    await m.scheduler?.stop();
    await m.watcher?.cancel().catch(() => {});
    // Revoked, not left to expire: the node shows down and leadership is free at once.
    await m.leaderLease?.revoke().catch(() => {});
    await m.heartbeat?.revoke().catch(() => {});
    m.store.close();
    await m.member.stop();
  }

  /** The Swarm section of GET /info. */
  async info(): Promise<Record<string, unknown>> {
    const m = this.m;
    if (!m) return { NodeID: '', NodeAddr: '', LocalNodeState: this.restoreError ? 'error' : 'inactive', ControlAvailable: false, Error: this.restoreError, RemoteManagers: null };
    let nodes, cluster;
    try {
      [nodes, cluster] = await Promise.all([m.objects.nodes(), m.objects.cluster()]);
    } catch (err) {
      // docker info still answers while the store is down, saying why.
      return { NodeID: m.state.NodeID, NodeAddr: m.state.AdvertiseAddr, LocalNodeState: 'active', ControlAvailable: true, Error: (err as Error).message, RemoteManagers: null };
    }
    const { JoinTokens: _t, ...withoutTokens } = cluster;
    return {
      NodeID: m.state.NodeID, NodeAddr: m.state.AdvertiseAddr, LocalNodeState: 'active', ControlAvailable: true, Error: '',
      RemoteManagers: nodes.filter((n) => n.ManagerStatus).map((n) => ({ NodeID: n.ID, Addr: n.ManagerStatus?.Addr })),
      Nodes: nodes.length, Managers: nodes.filter((n) => n.Spec.Role === 'manager').length,
      Cluster: withoutTokens,
    };
  }
}

/** The IP of an `ip[:port]` address ([v6]:port too), or '' if it is none. */
function hostOf(addr: string): string {
  const m = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(addr) ?? /^([^:]+)(?::\d{1,5})?$/.exec(addr) ?? (isIP(addr) ? [addr, addr] : null);
  return m && isIP(m[1]) ? m[1] : '';
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
