// A manager's side of autolock while it runs: the swarm's unlock key set,
// rotated or dropped (swarm update), followed by every other manager, and
// handed to a manager that asks for it. The key files themselves are
// key-lock.ts's; etcd holds only the key's hash (KEY), which names the key
// every manager's files must be sealed with.
import { ConflictError, InvalidArgumentError, UnavailableError } from '../errors.ts';
import { humanKey, keyHash, newUnlockKey, parseHumanKey, type NodeKeys } from './key-lock.ts';
import { KEYS, PREFIX, type ClusterStore } from './store.ts';
import { callManager } from './swarm-port.ts';
import type { NodeRecord } from './types.ts';

/** The hash of the unlock key in force; absent or empty when autolock is off. */
export const KEY = `${PREFIX}unlock-key`;

/** dockerd's words. */
export const LOCKED = 'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.';
export const LOCKED_LEAVE = 'Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.';
export const NOT_LOCKED = 'swarm is not locked';

export interface Peer {
  store: ClusterStore;
  nodeId: string;
  role: 'manager' | 'worker';
  /** This node's TLS material, to call other managers with. */
  tls: () => { ca: string; cert: string; key: string };
}

export class Autolock {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly keys: NodeKeys;

  constructor(keys: NodeKeys) {
    this.keys = keys;
  }

  /** One change of the key files at a time: a follow never reads the record from before an update of it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.catch(() => {}).then(fn);
    this.chain = run;
    return run;
  }

  /** The key as `swarm unlock-key` shows it ('' when autolock is off). */
  humanKey(): string {
    return this.keys.kek ? humanKey(this.keys.kek) : '';
  }

  /** The key a locked manager was given, if it opens this node's files; swarm's error otherwise. */
  unlock(text: string): void {
    this.keys.unlock(parseHumanKey(text));
  }

  /** At init: the record names the key this first manager was made with (none: autolock off). */
  async record(store: ClusterStore): Promise<void> {
    if (this.keys.kek) await store.client.put(KEY).value(keyHash(this.keys.kek));
  }

  /**
   * `swarm update`: autolock turned on (a new key), off (none), or its key
   * rotated. This manager's files first, then the record the others follow.
   */
  async change(store: ClusterStore, want: boolean, rotate: boolean): Promise<void> {
    await this.serial(async () => {
      const had = this.keys.kek !== undefined;
      if (want === had && !(want && rotate)) return;
      const kek = want ? newUnlockKey() : undefined;
      await this.keys.apply(kek);
      await store.client.put(KEY).value(kek ? keyHash(kek) : '');
    });
  }

  /**
   * Makes this node's key files follow the record: plain on a worker or with
   * autolock off, else sealed with the key the record names, asked of the
   * other managers when this node does not hold it.
   */
  async follow(p: Peer): Promise<void> {
    await this.serial(async () => {
      const want = p.role === 'manager' ? (await p.store.client.get(KEY).string()) ?? '' : '';
      if (!want) {
        if (this.keys.kek || !this.keys.settled()) await this.keys.apply(undefined);
        return;
      }
      if (this.keys.kek && keyHash(this.keys.kek) === want) {
        if (!this.keys.settled()) await this.keys.apply(this.keys.kek);
        return;
      }
      await this.keys.apply(await this.ask(p, want));
    });
  }

  /** The key named by `want`, from the first other manager that holds it. */
  private async ask(p: Peer, want: string): Promise<Buffer> {
    const nodes = (await p.store.list<NodeRecord>(KEYS.nodes)).filter((n) => n.ManagerStatus && n.ID !== p.nodeId);
    let last = 'no other manager holds it';
    for (const n of nodes) {
      try {
        const r = await callManager<{ UnlockKey: string }>(n.ManagerStatus?.Addr ?? '', 'POST', '/unlock-key', { ...p.tls(), body: {}, timeoutMs: 5000 });
        const kek = parseHumanKey(r.body.UnlockKey);
        if (keyHash(kek) === want) return kek;
        last = `${n.ID} holds another key`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    throw new UnavailableError(`swarm autolock: cannot get the unlock key from another manager: ${last}`);
  }

  /** The swarm port's /unlock-key: only to a node whose record says manager. */
  async grant(store: ClusterStore, nodeId: string): Promise<{ UnlockKey: string }> {
    const node = await store.get<NodeRecord>(KEYS.nodes + nodeId);
    if (node?.Spec.Role !== 'manager') throw new InvalidArgumentError(`node ${nodeId} is not a manager`);
    if (!this.keys.kek) throw new ConflictError('this manager holds no unlock key');
    return { UnlockKey: humanKey(this.keys.kek) };
  }

  /** The node left the swarm: nothing of the key stays in memory. */
  forget(): void {
    this.keys.kek = undefined;
    this.keys.close();
  }
}
