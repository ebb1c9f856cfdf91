// Secrets and configs, as swarm's control API keeps them: named objects a
// service references by ID and name, delivered only to that service's tasks.
// A secret's data is sealed with AES-256-GCM under a key kept in a manager's
// swarm directory (0600), so etcd never holds it in the clear; a config's data
// is stored as given (dockerd shows it back on inspect). Removing one a
// service references is refused with swarm's words.
//
// Only managers hold the data key. A worker's agent asks a manager for its
// task's files over the swarm port (forNode), as swarm's dispatcher hands a
// worker only the secrets of the tasks assigned to it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConflictError, EngineError, ForbiddenError, InvalidArgumentError, NotFoundError, SystemError, UnavailableError } from '../errors.ts';
import { labelsMatch } from '../api/filters.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { KEYS, PREFIX, type ClusterStore } from './store.ts';
import { newId } from './spec.ts';
import { lookup, type Filters } from './objects.ts';
import type { Annotated, ServiceRecord, ServiceSpec, TaskRecord } from './types.ts';
import type { TaskFile } from './local-engine.ts';
import { callManager, type WireFile } from './swarm-port.ts';

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

/** The swarm's data key, made once at init: 32 random bytes, base64. */
export function newDataKey(): string {
  return randomBytes(32).toString('base64');
}

/**
 * A manager's data key, readable by root only. open: autolock's hook, the
 * file's content as it reads unsealed. A key missing or unreadable is an
 * error, never a reason for a new one (the swarm's secrets would no longer open).
 */
export async function loadDataKey(swarmDir: string, open: (raw: Buffer) => Buffer = (raw) => raw): Promise<Buffer> {
  const raw = await readFile(`${swarmDir}/${KEY_FILE}`).catch(() => undefined);
  if (!raw) throw new UnavailableError('this manager has no data key for the swarm\'s secrets: leave the swarm and join again');
  const k = Buffer.from(open(raw).toString('utf8').trim(), 'base64');
  if (k.length !== 32) throw new UnavailableError('this manager\'s data key for the swarm\'s secrets is damaged');
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
  /** A manager's; a worker has none. */
  private readonly dataKey?: Buffer;

  constructor(store: ClusterStore, key?: Buffer) {
    this.store = store;
    this.dataKey = key;
  }

  private get key(): Buffer {
    if (!this.dataKey) throw new UnavailableError('only a manager opens the swarm\'s secrets');
    return this.dataKey;
  }

  /** The key as a joining or promoted manager receives it. */
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

  /**
   * A node's request for its task's files (the swarm port's /task-files):
   * the task must be assigned to that node by the leader (its assignment
   * record, which only managers write), and each file it names must be one
   * its service references (now or before an update), so a task record a
   * worker forged or rewrote gets no other service's secret.
   */
  async forNode(nodeId: string, taskId: string): Promise<TaskFile[]> {
    const t = await this.store.get<TaskRecord>(KEYS.tasks + taskId);
    if (!t) throw new NotFoundError(`task ${taskId} not found`);
    // The leader's placement record, which workers cannot write (a task record they can).
    const placed = JSON.parse(await this.store.getString(KEYS.assignments + taskId) ?? '{}') as { NodeID?: string; ServiceID?: string };
    if (t.NodeID !== nodeId || placed.NodeID !== nodeId || placed.ServiceID !== t.ServiceID) throw new ForbiddenError(`task ${taskId} is not assigned to node ${nodeId}`);
    if (t.DesiredState !== 'running' && t.DesiredState !== 'ready' && t.DesiredState !== 'complete') throw new ForbiddenError(`task ${taskId} is not to run`);
    const svc = await this.store.get<ServiceRecord>(KEYS.services + t.ServiceID);
    if (!svc) throw new NotFoundError(`service ${t.ServiceID} not found`);
    for (const kind of ['secret', 'config'] as const) {
      const allowed = new Set([svc.Spec, svc.PreviousSpec].flatMap((s) => (s ? references(s, kind).map((r) => r.id) : [])));
      const denied = references({ TaskTemplate: t.Spec }, kind).filter((r) => !allowed.has(r.id));
      if (denied.length) throw new ForbiddenError(`${kind} ${denied.map((r) => r.name || r.id).join(', ')} is not referenced by service ${svc.Spec.Name}`);
    }
    return this.forTask(t);
  }

  /** The data a task's reference names, opened: on a manager, for its own agent or a node's request. */
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

export function toWire(files: TaskFile[]): WireFile[] {
  return files.map((f) => ({ Kind: f.kind, Target: f.target, Data: f.data.toString('base64'), UID: f.uid, GID: f.gid, Mode: f.mode }));
}

function fromWire(files: WireFile[]): TaskFile[] {
  return files.map((f) => ({ kind: f.Kind === 'secret' ? 'secret' : 'config', target: f.Target, data: Buffer.from(f.Data, 'base64'), uid: f.UID, gid: f.GID, mode: f.Mode }));
}

/** No manager could answer for a task's files: the task waits and is tried again, as swarm's does, rather than start without them. */
export class TaskFilesUnavailable extends Error {}

/**
 * A worker's task files, asked of the managers in turn over the swarm port
 * with this node's certificate. A manager's refusal (the task is not this
 * node's, a secret gone) is the task's error; no manager answering, or none
 * able to (503: no quorum), is TaskFilesUnavailable.
 */
export async function askManagers(t: TaskRecord, managers: string[], tls: () => { ca: string; cert: string; key: string }): Promise<TaskFile[]> {
  if (!(['secret', 'config'] as const).some((k) => references({ TaskTemplate: t.Spec }, k).some((r) => r.file))) return [];
  let last = 'no manager is known';
  for (const remote of managers) {
    try {
      return fromWire((await callManager<{ Files: WireFile[] }>(remote, 'POST', '/task-files', { ...tls(), body: { TaskID: t.ID }, timeoutMs: 10_000 })).body.Files);
    } catch (err) {
      // A node that serves no /task-files (demoted meanwhile, or of an older version) is not a refusal: the next one is asked.
      const noRoute = err instanceof NotFoundError && err.message === 'page not found';
      if (err instanceof EngineError && !(err instanceof UnavailableError) && !(err instanceof SystemError) && !noRoute) throw err;
      last = `${remote}: ${(err as Error).message}`;
    }
  }
  throw new TaskFilesUnavailable(`no manager answered for the task's secrets and configs (${last})`);
}
