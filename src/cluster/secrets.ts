// Secrets and configs, as swarm's control API keeps them: named objects a
// service references by ID and name, delivered only to that service's tasks.
// A secret's data is sealed with AES-256-GCM under a key kept in the node's
// swarm directory (0600), so etcd never holds it in the clear; a config's data
// is stored as given (dockerd shows it back on inspect). Removing one a
// service references is refused with swarm's words.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.ts';
import { labelsMatch } from '../api/filters.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { KEYS, PREFIX, type ClusterStore } from './store.ts';
import { newId } from './spec.ts';
import { lookup, type Filters } from './objects.ts';
import type { Annotated, ServiceRecord, ServiceSpec, TaskRecord } from './types.ts';
import type { TaskFile } from './local-engine.ts';

export type FileKind = 'secret' | 'config';

export interface FileObjectSpec {
  Name?: string;
  Labels?: Record<string, string>;
  /** Base64, as the API carries it. */
  Data?: string;
  Driver?: { Name?: string; Options?: Record<string, string> } | null;
  Templating?: { Name?: string; Options?: Record<string, string> } | null;
}

export interface FileObject extends Annotated {
  Spec: FileObjectSpec & { Name: string; Labels: Record<string, string> };
}

/** As stored: a secret's Data is replaced by its sealed form. */
interface StoredObject extends FileObject {
  Sealed?: string;
}

/** The data key's file under the swarm directory (autolock seals it, key-lock.ts). */
export const DATA_KEY_FILE = 'secrets.key';
const KEY_FILE = DATA_KEY_FILE;
const NAME_RE = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
const MAX_SIZE: Record<FileKind, number> = { secret: 500 * 1024, config: 1000 * 1024 };

function invalid(desc: string): InvalidArgumentError {
  return new InvalidArgumentError(`rpc error: code = InvalidArgument desc = ${desc}`);
}

/**
 * The node's data key: 32 random bytes, made once, readable by root only.
 * open: autolock's hook, the file's content as it reads unsealed (a sealed
 * file read as base64 would look like no key and be replaced).
 */
export async function loadDataKey(swarmDir: string, open: (raw: Buffer) => Buffer = (raw) => raw): Promise<Buffer> {
  const path = `${swarmDir}/${KEY_FILE}`;
  const raw = await readFile(path).catch(() => undefined);
  if (raw) {
    // A sealed key that does not open is an error, never a reason for a new key.
    const k = Buffer.from(open(raw).toString('utf8').trim(), 'base64');
    if (k.length === 32) return k;
  }
  const k = randomBytes(32);
  await writeFileAtomic(path, k.toString('base64'), 0o600);
  return k;
}

/** A data key handed over at join, kept as loadDataKey reads it. */
export async function writeDataKey(swarmDir: string, base64: string): Promise<void> {
  if (Buffer.from(base64, 'base64').length !== 32) throw new Error('the swarm\'s data key is not 32 bytes');
  await writeFileAtomic(`${swarmDir}/${KEY_FILE}`, base64, 0o600);
}

function seal(key: Buffer, id: string, data: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  // The object's ID is bound in: a sealed blob moved to another secret does not open.
  c.setAAD(Buffer.from(id));
  const body = Buffer.concat([c.update(data), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

function unseal(key: Buffer, id: string, sealed: string): Buffer {
  const raw = Buffer.from(sealed, 'base64');
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(id));
  d.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([d.update(raw.subarray(28)), d.final()]);
}

export class ClusterFiles {
  private readonly store: ClusterStore;
  private readonly key: Buffer;

  constructor(store: ClusterStore, key: Buffer) {
    this.store = store;
    this.key = key;
  }

  /** The key as a joiner receives it. */
  keyText(): string {
    return this.key.toString('base64');
  }

  private static prefix(kind: FileKind): string {
    return `${PREFIX}${kind}s/`;
  }

  private static names(kind: FileKind): string {
    return `${PREFIX}names/${kind}s/`;
  }

  /** What the API shows: a secret's data never. */
  private static view(o: StoredObject): FileObject {
    const { Sealed: _s, ...rest } = o;
    return rest;
  }

  async list(kind: FileKind, filters: Filters = {}): Promise<FileObject[]> {
    for (const k of Object.keys(filters)) if (!['id', 'label', 'name', 'names'].includes(k)) throw new InvalidArgumentError(`invalid filter '${k}'`);
    const all = await this.store.list<StoredObject>(ClusterFiles.prefix(kind));
    return all.filter((o) => (!filters.id?.length || filters.id.some((p) => o.ID.startsWith(p)))
      && (!filters.name?.length || filters.name.some((p) => o.Spec.Name.startsWith(p)))
      && (!filters.names?.length || filters.names.includes(o.Spec.Name))
      && labelsMatch(o.Spec.Labels ?? {}, filters.label ?? []))
      .sort((a, b) => (a.CreatedAt < b.CreatedAt ? -1 : 1)).map(ClusterFiles.view);
  }

  private async find(kind: FileKind, ref: string): Promise<StoredObject> {
    if (!ref) throw invalid(`${kind} ID must be provided`);
    return lookup(kind, ref, await this.store.list<StoredObject>(ClusterFiles.prefix(kind)), (o) => o.Spec.Name);
  }

  async get(kind: FileKind, ref: string): Promise<FileObject> {
    return ClusterFiles.view(await this.find(kind, ref));
  }

  async create(kind: FileKind, spec: FileObjectSpec): Promise<{ ID: string }> {
    const name = spec.Name ?? '';
    if (!name) throw invalid('name must be provided');
    if (name.length > 64 || !NAME_RE.test(name)) throw invalid('invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]');
    if (kind === 'secret' && spec.Driver) throw invalid(spec.Driver.Name ? 'secret drivers are not supported by berth' : 'secret driver must have a name');
    const data = Buffer.from(spec.Data ?? '', 'base64');
    if (data.length < 1 || data.length >= MAX_SIZE[kind]) throw invalid(`${kind} data must be larger than 0 and less than ${MAX_SIZE[kind]} bytes`);
    const now = new Date().toISOString();
    const id = newId();
    const labels = spec.Labels ?? {};
    const rec: Omit<StoredObject, 'Version'> = kind === 'secret'
      ? { ID: id, CreatedAt: now, UpdatedAt: now, Spec: { Name: name, Labels: labels, ...(spec.Templating ? { Templating: spec.Templating } : {}) }, Sealed: seal(this.key, id, data) }
      : { ID: id, CreatedAt: now, UpdatedAt: now, Spec: { Name: name, Labels: labels, Data: data.toString('base64'), ...(spec.Templating ? { Templating: spec.Templating } : {}) } };
    if (!(await this.store.createNamed(ClusterFiles.names(kind) + name, ClusterFiles.prefix(kind) + id, rec))) {
      throw new ConflictError(`rpc error: code = AlreadyExists desc = ${kind} ${name} already exists`);
    }
    return { ID: id };
  }

  /** Only the labels may change, as swarm allows. */
  async update(kind: FileKind, ref: string, version: number, spec: FileObjectSpec): Promise<void> {
    const o = await this.find(kind, ref);
    if (version !== o.Version.Index) throw new ConflictError('rpc error: code = Unknown desc = update out of sequence');
    const sameData = kind === 'secret' ? !spec.Data || unseal(this.key, o.ID, o.Sealed ?? '').equals(Buffer.from(spec.Data, 'base64')) : (spec.Data ?? '') === (o.Spec.Data ?? '');
    if ((spec.Name ?? '') !== o.Spec.Name || !sameData) throw invalid('only updates to Labels are allowed');
    const next: StoredObject = { ...o, UpdatedAt: new Date().toISOString(), Spec: { ...o.Spec, Labels: spec.Labels ?? {} } };
    if (!(await this.store.update(ClusterFiles.prefix(kind) + o.ID, next))) throw new ConflictError('rpc error: code = Unknown desc = update out of sequence');
  }

  async remove(kind: FileKind, ref: string): Promise<void> {
    const o = await this.find(kind, ref);
    const users = (await this.store.list<ServiceRecord>(KEYS.services)).filter((s) => references(s.Spec, kind).some((r) => r.id === o.ID));
    if (users.length) {
      throw invalid(`${kind} '${o.Spec.Name}' is in use by the following service${users.length === 1 ? '' : 's'}: ${users.map((s) => s.Spec.Name).join(', ')}`);
    }
    if (!(await this.store.deleteAt(ClusterFiles.prefix(kind) + o.ID, o.Version.Index, ClusterFiles.names(kind) + o.Spec.Name))) {
      throw new NotFoundError(`${kind} ${ref} not found`);
    }
  }

  /** swarm's checkSecretExistence / checkConfigExistence at service create and update. */
  async checkReferences(spec: ServiceSpec): Promise<void> {
    for (const kind of ['secret', 'config'] as const) {
      const refs = references(spec, kind);
      if (!refs.length) continue;
      const all = await this.store.list<StoredObject>(ClusterFiles.prefix(kind));
      const missing = refs.filter((r) => !all.some((o) => o.ID === r.id && o.Spec.Name === r.name)).map((r) => r.name);
      if (missing.length) throw invalid(`${kind}${missing.length === 1 ? '' : 's'} not found: ${missing.join(', ')}`);
    }
  }

  /** The secret and config files a task's references name, opened for its container by the agent of its node. */
  async forTask(t: TaskRecord): Promise<TaskFile[]> {
    const out: TaskFile[] = [];
    for (const kind of ['secret', 'config'] as const) {
      for (const r of references({ TaskTemplate: t.Spec }, kind)) {
        if (!r.file) continue; // a runtime reference (a credential spec) is no file
        const name = r.file.Name;
        // As dockerd on Linux: a relative secret target is under /run/secrets, a relative config's under /.
        const target = name.startsWith('/') ? name : kind === 'secret' ? `/run/secrets/${name}` : `/${name}`;
        out.push({ kind, target, data: await this.data(kind, r.id), uid: Number(r.file.UID || 0), gid: Number(r.file.GID || 0), mode: r.file.Mode ?? 0o444 });
      }
    }
    return out;
  }

  /** The data a task's reference names, opened: read by the agent of the node that runs the task. */
  async data(kind: FileKind, id: string): Promise<Buffer> {
    const o = await this.store.get<StoredObject>(ClusterFiles.prefix(kind) + id);
    if (!o) throw new NotFoundError(`${kind} ${id} not found`);
    return kind === 'secret' ? unseal(this.key, o.ID, o.Sealed ?? '') : Buffer.from(o.Spec.Data ?? '', 'base64');
  }
}

/** The secrets or configs a service spec references: ID, name and file target. */
export function references(spec: ServiceSpec, kind: FileKind): { id: string; name: string; file?: { Name: string; UID?: string; GID?: string; Mode?: number } }[] {
  const c = spec.TaskTemplate?.ContainerSpec;
  const refs = (kind === 'secret' ? c?.Secrets : c?.Configs) ?? [];
  return refs.map((r) => ({ id: (kind === 'secret' ? r.SecretID : r.ConfigID) ?? '', name: (kind === 'secret' ? r.SecretName : r.ConfigName) ?? '', file: r.File }));
}
