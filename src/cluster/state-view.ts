// The loops' view of the swarm's state: each prefix they read (tasks,
// services, nodes, …) is read once at a revision R and then kept by an etcd
// watch from R+1, so an idle node's scheduler, agent and network passes read
// memory, not etcd. Loops are woken by the view's changes.
//
// Revision-consistent per key: an event applies only if it is newer than the
// key's entry and than the prefix's last read (its floor), so a read and the
// watch may overlap in any order. A prefix is read anew:
//  - after this node wrote (any put, delete or transaction on its client), so
//    a pass sees its own writes (the scheduler names new tasks by random ID:
//    a pass that did not see the last one's creations would make them again);
//  - while its watch is down, and once after the watch reattached (etcd3
//    resumes from the last revision it saw, which may pass over events);
//  - when the watch is cancelled (its revision compacted away): read and
//    watched afresh.
// A slow safety check (resyncMs) compares each prefix's keys and revisions
// (keys only, no values) with the view's, and reads it anew if they differ:
// a watch on a member cut off from its peers stays open and silent (etcd ends
// such watches only for clients that ask with require-leader, which the
// etcd3 client does not offer).
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { KEYS, type CachedReads } from './store.ts';
import { NETWORK_KEYS } from './networks.ts';
import { UPDATES } from './updater.ts';

interface Held {
  prefix: string;
  kvs: Map<string, IKeyValue>;
  /** Keys deleted after the floor, with the deletion's revision: an older put arriving late is not applied. */
  gone: Map<string, number>;
  /** The revision of the last read: everything up to it is in kvs. */
  floor: number;
  /** This node's write count at the last read: a later write makes the next read go to etcd. */
  readAt: number;
  watcher?: Watcher;
  /** The watch is attached (not reconnecting, not cancelled). */
  live: boolean;
  reading?: { seq: number; done: Promise<void> };
}

const rev = (kv: IKeyValue) => Number(kv.mod_revision);

export class StateView implements CachedReads {
  private client: Etcd3;
  private readonly held: Held[];
  private readonly resyncMs: number;
  private readonly log: (msg: string) => void;
  private writes = 0;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private readonly listeners: Array<(key: string) => void> = [];

  constructor(client: Etcd3, prefixes: string[], o: { resyncMs: number; log: (msg: string) => void }) {
    this.client = client;
    this.held = prefixes.map((prefix) => ({ prefix, kvs: new Map(), gone: new Map(), floor: 0, readAt: -1, live: false }));
    this.resyncMs = o.resyncMs;
    this.log = o.log;
    this.countWrites();
  }

  /** Called with the key of each change the watches bring (and a prefix when it must be looked at afresh). */
  onChange(fn: (key: string) => void): void {
    this.listeners.push(fn);
  }

  /** The first reads and the watches; then the safety check every resyncMs. */
  async start(): Promise<void> {
    // A prefix that cannot be watched now is read from etcd by each pass (as before the view) and tried again.
    await Promise.all(this.held.map((h) => this.watch(h).catch((err: Error) => {
      this.log(`swarm state watch on ${h.prefix}: ${err.message}`);
      this.retry(h, 1000);
    })));
    const tick = () => {
      this.timer = setTimeout(() => void this.check().finally(() => { if (!this.stopped) tick(); }), this.resyncMs);
      this.timer.unref();
    };
    tick();
  }

  /**
   * The store's client was swapped for one showing a renewed certificate
   * (cert-renewal.ts): the watches move to it, its writes are counted, and
   * every prefix is read anew through it.
   */
  async rebind(client: Etcd3): Promise<void> {
    const old = this.held.map((h) => h.watcher);
    this.client = client;
    this.countWrites();
    for (const h of this.held) {
      h.watcher = undefined;
      h.live = false;
      h.readAt = -1;
    }
    await Promise.all(old.map((w) => w?.cancel().catch(() => {})));
    await Promise.all(this.held.map((h) => this.watch(h).then(() => this.notify(h.prefix), (err: Error) => {
      this.log(`swarm state watch on ${h.prefix}: ${err.message}`);
      this.retry(h, 1000);
    })));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.held.map((h) => h.watcher?.cancel().catch(() => {})));
  }

  async prefix(prefix: string): Promise<IKeyValue[] | undefined> {
    const h = this.holder(prefix);
    if (!h || !(await this.fresh(h))) return undefined;
    // In key order, as etcd answers a range.
    return [...h.kvs.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, kv]) => kv);
  }

  async key(key: string): Promise<IKeyValue | null | undefined> {
    const h = this.holder(key);
    if (!h || !(await this.fresh(h))) return undefined;
    return h.kvs.get(key) ?? null;
  }

  private holder(key: string): Held | undefined {
    return this.held.find((h) => key.startsWith(h.prefix));
  }

  /**
   * Every put, delete and transaction of this client counts as a write: the
   * loops' own, the API's, and those made through builders elsewhere (the
   * overlays' address claims). A failed compare counts too: someone else
   * wrote, and a retry must see it.
   */
  private countWrites(): void {
    const kv = this.client.kv;
    const put = kv.put.bind(kv);
    const del = kv.deleteRange.bind(kv);
    const txn = kv.txn.bind(kv);
    kv.put = (...a) => put(...a).finally(() => { this.writes++; });
    kv.deleteRange = (...a) => del(...a).finally(() => { this.writes++; });
    kv.txn = (...a) => txn(...a).finally(() => { this.writes++; });
  }

  /** Reads h again if the view cannot answer for it as it is; false if etcd cannot be read either. */
  private async fresh(h: Held): Promise<boolean> {
    if (h.live && h.readAt >= this.writes) return true;
    try {
      await this.read(h);
      return true;
    } catch {
      return false; // the store's own read reports it
    }
  }

  private read(h: Held): Promise<void> {
    const seq = this.writes;
    if (h.reading && h.reading.seq >= seq) return h.reading.done;
    const done = (async () => {
      const res = await this.client.getAll().prefix(h.prefix).exec();
      const at = Number(res.header.revision);
      if (at < h.floor) return; // a newer read finished first
      const next = new Map<string, IKeyValue>();
      for (const kv of res.kvs) {
        const k = kv.key.toString('utf8');
        if ((h.gone.get(k) ?? 0) > at) continue; // deleted since, by an event already applied
        const mine = h.kvs.get(k);
        next.set(k, mine && rev(mine) > at ? mine : kv);
      }
      for (const [k, kv] of h.kvs) if (!next.has(k) && rev(kv) > at) next.set(k, kv); // made since
      h.kvs = next;
      h.floor = at;
      for (const [k, r] of h.gone) if (r <= at) h.gone.delete(k);
      h.readAt = Math.max(h.readAt, seq);
    })();
    const reading = { seq, done };
    h.reading = reading;
    return done.finally(() => { if (h.reading === reading) h.reading = undefined; });
  }

  private apply(h: Held, type: 'put' | 'delete', kv: IKeyValue): void {
    const k = kv.key.toString('utf8');
    const r = rev(kv);
    const cur = h.kvs.get(k);
    if (r <= h.floor || (cur && rev(cur) >= r) || (h.gone.get(k) ?? 0) >= r) return;
    if (type === 'put') {
      h.kvs.set(k, kv);
      h.gone.delete(k);
    } else {
      h.kvs.delete(k);
      h.gone.set(k, r);
    }
    this.notify(k);
  }

  private notify(key: string): void {
    for (const fn of this.listeners) fn(key);
  }

  /** A read, then a watch from the revision after it; a cancelled watch starts over. */
  private async watch(h: Held): Promise<void> {
    await this.read(h);
    const w = await this.client.watch().prefix(h.prefix).startRevision(String(h.floor + 1)).create();
    if (this.stopped) {
      await w.cancel().catch(() => {});
      return;
    }
    h.watcher = w;
    h.live = true;
    w.on('put', (kv) => this.apply(h, 'put', kv))
      .on('delete', (kv) => this.apply(h, 'delete', kv))
      .on('disconnected', () => { if (h.watcher === w) h.live = false; })
      .on('connected', () => {
        if (h.live || h.watcher !== w) return;
        // Reattached: read once more (events may have been passed over), and let the loops look.
        h.live = true;
        h.readAt = -1;
        this.notify(h.prefix);
      })
      .on('error', (err: Error) => {
        if (h.watcher !== w) return; // one this view moved away from (rebind)
        // Cancelled by etcd (its revision compacted, most often): the view starts this prefix over.
        h.live = false;
        h.watcher = undefined;
        if (this.stopped) return;
        this.log(`swarm state watch on ${h.prefix}: ${err.message}; reading it anew`);
        this.rewatch(h);
      });
  }

  private rewatch(h: Held, delayMs = 1000): void {
    void this.watch(h).then(() => this.notify(h.prefix), (err: Error) => {
      if (this.stopped) return;
      this.log(`swarm state watch on ${h.prefix}: ${err.message}`);
      this.retry(h, delayMs);
    });
  }

  /** Tried again after delayMs, doubling to 30 s: a prefix refused (or a store away) is not asked for in a spin. */
  private retry(h: Held, delayMs: number): void {
    setTimeout(() => { if (!this.stopped && !h.watcher) this.rewatch(h, Math.min(delayMs * 2, 30_000)); }, delayMs).unref();
  }

  /** The safety check: each live prefix's keys and revisions as etcd has them (no values), against the view's. */
  private async check(): Promise<void> {
    for (const h of this.held) {
      if (!h.live || this.stopped) continue;
      try {
        const key = Buffer.from(h.prefix);
        const res = await this.client.kv.range({ key, range_end: prefixEnd(key), keys_only: true });
        const same = res.kvs.length === h.kvs.size && res.kvs.every((kv) => {
          const mine = h.kvs.get(kv.key.toString('utf8'));
          return mine !== undefined && rev(mine) === rev(kv);
        });
        if (same || Number(res.header.revision) <= h.floor) continue;
        this.log(`swarm state view: ${h.prefix} differed from etcd; reading it anew`);
        h.readAt = -1;
        this.notify(h.prefix);
      } catch { /* etcd unreachable: the loops' own reads say so */ }
    }
  }
}

/** The end of a prefix's range: its last byte one higher (the prefixes here are ASCII). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  return end;
}

/**
 * The prefixes a node's loops read: the agent's and the network pass's on
 * every node; the scheduler's (heartbeats, leadership, update progress) on
 * managers. Secrets, configs and name claims are read from etcd when needed.
 */
export function loopPrefixes(role: 'manager' | 'worker'): string[] {
  const every = [KEYS.cluster, KEYS.nodes, KEYS.services, KEYS.tasks, NETWORK_KEYS.networks, NETWORK_KEYS.vips, NETWORK_KEYS.nodeAddrs, NETWORK_KEYS.ipam];
  return role === 'manager' ? [...every, KEYS.heartbeats, KEYS.leader, UPDATES] : every;
}

/** How often the safety check runs: BERTH_SWARM_RESYNC_S seconds (a test sets it long to show the watches alone suffice), else 60. */
export function resyncMs(): number {
  const s = Number(process.env.BERTH_SWARM_RESYNC_S);
  // At most setTimeout's limit (24.8 days): past it Node fires at once.
  return Math.min((Number.isFinite(s) && s > 0 ? s : 60) * 1000, 2 ** 31 - 1);
}
