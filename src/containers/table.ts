// The containers the daemon knows: their records by ID and by name, each
// container's lock, and the atomic write of its record (config.v2.json).
import { join } from 'node:path';
import type { ContainerRecord } from '../api/container.ts';
import { InvalidArgumentError, noSuchContainer } from '../errors.ts';
import { writeJsonAtomic } from '../files/atomic.ts';

export class ContainerTable {
  readonly records = new Map<string, ContainerRecord>();
  /** Name (without the leading slash) → ID. */
  readonly names = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly dataRoot: string;

  constructor(dataRoot: string) {
    this.dataRoot = dataRoot;
  }

  get containersDir(): string {
    return join(this.dataRoot, 'containers');
  }

  dir(id: string): string {
    return join(this.containersDir, id);
  }

  get(ref: string): ContainerRecord {
    const r = this.find(ref);
    if (!r) throw noSuchContainer(ref);
    return r;
  }

  find(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const byId = this.records.get(ref);
    if (byId) return byId;
    const byName = this.names.get(ref.replace(/^\//, ''));
    if (byName) return this.records.get(byName);
    if (/^[a-f0-9]+$/.test(ref)) {
      const hits = [...this.records.keys()].filter((id) => id.startsWith(ref));
      if (hits.length === 1) return this.records.get(hits[0]);
      if (hits.length > 1) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${ref}`);
    }
    return undefined;
  }

  list(): ContainerRecord[] {
    return [...this.records.values()];
  }

  /** Runs `fn` with the container's lock held, so operations on one container never interleave. */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(() => {}, () => {});
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /**
   * Containers a forced removal has killed, until it is done: the exit their
   * shim reports is saved as the others' (the removal waits for it), but the
   * record goes right after, so that save need not outlive a host crash (the
   * record then still says running, and the next start finds it exited).
   */
  readonly doomed = new Set<string>();

  /** `durable: false`: atomic but not fsynced (files/atomic.ts), for a record about to be removed. */
  async save(rec: ContainerRecord, durable = true): Promise<void> {
    await writeJsonAtomic(join(this.dir(rec.Id), 'config.v2.json'), rec, durable && !this.doomed.has(rec.Id));
  }
}
