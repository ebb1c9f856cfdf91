// The desired state in etcd. One key per object, its JSON less Version; the
// Version.Index a client sees is the key's mod_revision, and an update
// names the revision it read, as swarm's version check does.
//
//   /berth/swarm/cluster              the Swarm object (ID, Spec, JoinTokens)
//   /berth/swarm/nodes/<id>           Node objects (Status.State comes from the heartbeats)
//   /berth/swarm/heartbeats/<id>      a node's heartbeat, on a lease: gone when the node stops
//   /berth/swarm/leader               the leader's node ID, on its lease (the scheduler runs there)
//   /berth/swarm/names/services/<n>   service name → ID, so two creates cannot take one name
//   /berth/swarm/services/<id>        Service objects
//   /berth/swarm/tasks/<id>           Task objects (NodeID says whose agent runs it)
//   /berth/swarm/assignments/<id>     the leader's placement of a task ({NodeID, ServiceID}): workers
//                                     write task records (their status) but not this, which a
//                                     manager checks before handing a task's files to a node
import type { Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import { ConflictError, EngineError, UnavailableError } from '../errors.ts';
import type { Annotated } from './types.ts';
import { QuorumCheck } from './quorum.ts';

export const PREFIX = '/berth/swarm/';
export const KEYS = {
  cluster: `${PREFIX}cluster`,
  leader: `${PREFIX}leader`,
  nodes: `${PREFIX}nodes/`,
  heartbeats: `${PREFIX}heartbeats/`,
  serviceNames: `${PREFIX}names/services/`,
  services: `${PREFIX}services/`,
  tasks: `${PREFIX}tasks/`,
  assignments: `${PREFIX}assignments/`,
};

type Stored<T extends Annotated> = Omit<T, 'Version'>;

/** A planned restart in progress, shared by a store's successive clients. */
interface Gate {
  p?: Promise<unknown>;
}

/** The client and what goes with it, shared by a store and its copies withReads: a renewal replaces client and quorum for all. */
interface Connection {
  client: Etcd3;
  /** Asks the member the client talks to about its leader. */
  quorum: QuorumCheck;
  urls: string[];
  gate: Gate;
}

/** Reads answered from memory (state-view.ts's watched view); undefined sends the read to etcd. */
export interface CachedReads {
  /** The kvs under prefix. */
  prefix(prefix: string): Promise<IKeyValue[] | undefined>;
  /** The key's kv, null if absent. */
  key(key: string): Promise<IKeyValue | null | undefined>;
}

export interface Member {
  id: string;
  /** The node ID (empty for a member added but not started yet). */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/**
 * An etcd that cannot answer is the swarm being unavailable (503), not a
 * server bug; one without a leader is swarmkit's lost quorum (quorum.ts).
 * The call is made only after the quorum check: a write refused to the
 * client must not be sent, where it could wait for a leader and be
 * committed after all.
 */
async function guard<T>(call: () => Promise<T>, quorum: QuorumCheck): Promise<T> {
  await quorum.precheck();
  try {
    // etcd refuses a request whose auth revision an auth change (the leader's, access.ts) overtook
    // before it applied: not applied, so sent again once, as etcd's own client does.
    return await untilConnected(() => call().catch((err: Error) => {
      if (!/revision of auth store is old/.test(err.message)) throw err;
      return call();
    }));
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw (await quorum.explain()) ?? new UnavailableError(`the swarm's store (etcd) is unavailable: ${(err as Error).message}`);
  }
}

/**
 * A call made while the client has no connection to its member (it was
 * never sent, so it may be made again) is retried for up to 10 s: a
 * manager's member restarting (its supervisor, or etcd-member.ts retime when
 * a second manager votes) is away for a second or two, and the client
 * reconnects on its own backoff.
 */
async function untilConnected<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!/UNAVAILABLE: (No connection established|connect ECONNREFUSED)/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function decode<T extends Annotated>(kv: IKeyValue): T {
  const obj = JSON.parse(kv.value.toString('utf8')) as T;
  obj.Version = { Index: Number(kv.mod_revision) };
  return obj;
}

function encode<T extends Annotated>(obj: T | Stored<T>): string {
  const { Version: _v, ...rest } = obj as T;
  return JSON.stringify(rest);
}

export class ClusterStore {
  private readonly conn: Connection;
  private readonly reads?: CachedReads;

  private constructor(conn: Connection, reads?: CachedReads) {
    this.conn = conn;
    this.reads = reads;
  }

  /** The etcd client; replaced when the node's certificate is renewed (swapCredentials). */
  get client(): Etcd3 {
    return this.conn.client;
  }

  private guard<T>(call: () => Promise<T>): Promise<T> {
    return guard(call, this.conn.quorum);
  }

  /** The same store with its reads answered by `reads` where they can be (the loops' view); writes unchanged. */
  withReads(reads: CachedReads): ClusterStore {
    return new ClusterStore(this.conn, reads);
  }

  /**
   * A planned restart of this manager's member (it reads a new trust root
   * only at start): calls that fail meanwhile wait for it and try again,
   * so the API does not answer 503 for a restart the node chose.
   */
  async whileRestarting(fn: () => Promise<void>): Promise<void> {
    const p = fn();
    this.conn.gate.p = p;
    try {
      await p;
    } finally {
      if (this.conn.gate.p === p) this.conn.gate.p = undefined;
    }
  }

  /**
   * A renewed certificate: calls from now on, of this store and of its
   * copies withReads, go through a client that shows it. The old client is
   * returned, to be closed once the leases and the watches made through it
   * have moved.
   */
  async swapCredentials(tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<Etcd3> {
    const next = await ClusterStore.connect(this.conn.urls, tls, this.conn.gate);
    const old = this.conn.client;
    this.conn.client = next.client;
    this.conn.quorum = new QuorumCheck(next.client);
    return old;
  }

  /**
   * etcd3 is loaded only once a node is in a swarm: grpc is no part of a
   * plain daemon's start. urls: the members' client URLs (this node's own
   * first on a manager); tls: the node's certificate, which etcd requires.
   */
  static async connect(urls: string[], tls: { ca: Buffer; cert: Buffer; key: Buffer }, gate: Gate = {}): Promise<ClusterStore> {
    const [{ Etcd3, isRecoverableError }, { ExponentialBackoff, handleWhen, noop, retry }] = await Promise.all([import('etcd3'), import('cockatiel')]);
    const policy = retry(handleWhen(isRecoverableError), { maxAttempts: 4, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) });
    // A call that fails during a planned restart (whileRestarting) waits for it, then tries for up to 3 s more while gRPC reconnects.
    const gated = {
      execute: async <T>(fn: Parameters<typeof policy.execute<T>>[0], signal?: AbortSignal): Promise<T> => {
        try {
          return await policy.execute(fn, signal);
        } catch (err) {
          if (!gate.p) throw err;
          await gate.p.catch(() => {});
          for (let i = 0; ; i++) {
            try {
              return await policy.execute(fn, signal);
            } catch (again) {
              if (i === 5) throw again;
              await new Promise((r) => setTimeout(r, 500));
            }
          }
        }
      },
    } as unknown as typeof policy;
    const client = new Etcd3({
      hosts: urls,
      credentials: { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key },
      // Members are dialled by IP, which TLS may not name as a server: the name checked is the managers' role.
      grpcOptions: { 'grpc.ssl_target_name_override': 'swarm-manager' },
      dialTimeout: 5000,
      // A member that hangs (stopped, starved) must not hang the API: each try of a unary call
      // gives up after 3 s (etcd3 counts DEADLINE_EXCEEDED as recoverable: the policy below tries
      // up to 4 times); watches and keepalives stream on.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 3000 }),
      faultHandling: {
        // A circuit breaker (etcd3's default) would refuse every call for seconds
        // after the supervised member restarts; retries with a short backoff ride
        // over the restart, and move to another member when one is gone.
        host: () => noop,
        global: gated,
      },
    });
    return new ClusterStore({ client, quorum: new QuorumCheck(client), urls, gate });
  }

  async get<T extends Annotated>(key: string): Promise<T | undefined> {
    const held = await this.reads?.key(key);
    if (held !== undefined) return held ? decode<T>(held) : undefined;
    const res = await this.guard(() => this.client.get(key).exec());
    return res.kvs[0] ? decode<T>(res.kvs[0]) : undefined;
  }

  async list<T extends Annotated>(prefix: string): Promise<T[]> {
    return (await this.keys(prefix)).map((kv) => decode<T>(kv));
  }

  async keys(prefix: string): Promise<IKeyValue[]> {
    const held = await this.reads?.prefix(prefix);
    if (held) return held;
    return (await this.guard(() => this.client.getAll().prefix(prefix).exec())).kvs;
  }

  async getString(key: string): Promise<string | null> {
    const held = await this.reads?.key(key);
    if (held !== undefined) return held ? held.value.toString('utf8') : null;
    return this.guard(() => this.client.get(key).string());
  }

  /** Creates a key that must not exist yet; false if it does. */
  async create<T extends Annotated>(key: string, obj: Stored<T>): Promise<boolean> {
    const res = await this.guard(() => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(encode(obj))).commit());
    return res.succeeded;
  }

  /**
   * A service's record and its name's claim in one transaction: a second
   * service of that name fails whole, as swarm's name index does.
   */
  async createNamed<T extends Annotated>(nameKey: string, key: string, obj: Stored<T>): Promise<boolean> {
    const res = await this.guard(() => this.client.if(nameKey, 'Create', '==', 0).and(key, 'Create', '==', 0)
      .then(this.client.put(nameKey).value(obj.ID), this.client.put(key).value(encode(obj))).commit());
    return res.succeeded;
  }

  /** Writes obj if the key is still at the revision it was read at (obj.Version.Index). */
  async update<T extends Annotated>(key: string, obj: T): Promise<boolean> {
    const res = await this.guard(() => this.client.if(key, 'Mod', '==', obj.Version.Index).then(this.client.put(key).value(encode(obj))).commit());
    return res.succeeded;
  }

  /** update() that throws dockerd's sequence error when someone wrote first. */
  async updateOrConflict<T extends Annotated>(key: string, obj: T): Promise<void> {
    if (!(await this.update(key, obj))) throw new ConflictError('update out of sequence');
  }

  /** Deletes the keys only if key is still at its read revision. */
  async deleteAt(key: string, revision: number, ...alsoKeys: string[]): Promise<boolean> {
    const res = await this.guard(() => this.client.if(key, 'Mod', '==', revision)
      .then(this.client.delete().key(key), ...alsoKeys.map((k) => this.client.delete().key(k))).commit());
    return res.succeeded;
  }

  async delete(key: string): Promise<void> {
    await this.guard(() => this.client.delete().key(key).exec());
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.guard(() => this.client.delete().prefix(prefix).exec());
  }

  async put(key: string, value: string, lease?: Lease): Promise<void> {
    await this.guard(() => (lease ? lease.put(key).value(value) : this.client.put(key).value(value)).exec());
  }

  /** Puts key on lease only if no one holds it. */
  async claim(key: string, value: string, lease: Lease): Promise<boolean> {
    const id = await this.guard(() => lease.grant());
    const res = await this.guard(() => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value).lease(id)).commit());
    return res.succeeded;
  }

  /**
   * Revokes the lease a key was put with, if its value is ours: a daemon
   * killed with -9 leaves its heartbeat and leadership on leases that would
   * otherwise hold until their TTL.
   */
  async revokeStale(key: string, value: string): Promise<void> {
    const res = await this.guard(() => this.client.get(key).exec());
    const kv = res.kvs[0];
    if (!kv || kv.value.toString('utf8') !== value || kv.lease === '0') return;
    await this.client.leaseClient.leaseRevoke({ ID: kv.lease }).catch(() => {});
  }

  // --- etcd membership (managers are its members) ---

  async members(): Promise<Member[]> {
    const res = await this.guard(() => this.client.cluster.memberList({}));
    return res.members.map((m) => ({ id: m.ID, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner }));
  }

  /** A new member as a learner: it counts towards no quorum until promoted, so a joiner that never starts costs the cluster nothing. */
  async addLearner(peerUrl: string): Promise<{ id: string; members: Member[] }> {
    const res = await this.guard(() => this.client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true }));
    return { id: res.member.ID, members: res.members.map((m) => ({ id: m.ID, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner })) };
  }

  async promoteMember(id: string): Promise<void> {
    await this.guard(() => this.client.cluster.memberPromote({ ID: id }));
  }

  async removeMember(id: string): Promise<void> {
    await this.guard(() => this.client.cluster.memberRemove({ ID: id }));
  }

  lease(ttlSec: number): Lease {
    return this.client.lease(ttlSec);
  }

  async watch(prefix: string): Promise<Watcher> {
    return this.client.watch().prefix(prefix).create();
  }

  close(): void {
    this.client.close();
  }
}
