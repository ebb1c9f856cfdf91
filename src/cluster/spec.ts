// Checks of a ServiceSpec as swarm's control API makes them, with its words,
// and the IDs swarm gives its objects.
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotImplementedError } from '../errors.ts';
import { parseNormalizedNamed } from '../api/reference.ts';
import { parseConstraints } from './placement.ts';
import type { FileReference, Resources, ServiceSpec, UpdateConfig } from './types.ts';

/** swarm's identity.NewID: 128 random bits in base 36, 25 characters. */
export function newId(): string {
  return BigInt('0x' + randomBytes(16).toString('hex')).toString(36).padStart(25, '0');
}

const NAME_RE = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

/** dockerd's answer to an invalid spec: the control API's gRPC status, as its error string. */
function invalid(desc: string): InvalidArgumentError {
  return new InvalidArgumentError(`rpc error: code = InvalidArgument desc = ${desc}`);
}

export function validateServiceSpec(spec: ServiceSpec | undefined): asserts spec is ServiceSpec & { Name: string } {
  if (!spec || typeof spec !== 'object') throw invalid('invalid argument');
  const name = spec.Name ?? '';
  if (!name) throw invalid('meta: name must be provided');
  if (!NAME_RE.test(name) || name.length > 63) throw invalid(`name must be valid as a DNS name component`);
  const task = spec.TaskTemplate;
  if (!task) throw invalid('TaskSpec: missing runtime');
  if (task.Runtime && task.Runtime !== 'container') throw new NotImplementedError(`rpc error: code = Unimplemented desc = RuntimeSpec: unimplemented runtime in service spec`);
  const c = task.ContainerSpec;
  if (!c) throw invalid('ContainerSpec: missing in service spec');
  if (!c.Image) throw invalid('ContainerSpec: image reference must be provided');
  try {
    parseNormalizedNamed(c.Image);
  } catch {
    throw invalid(`ContainerSpec: ${JSON.stringify(c.Image)} is not a valid repository/tag`);
  }
  for (const r of [task.Resources?.Limits, task.Resources?.Reservations]) validateResources(r);
  const rp = task.RestartPolicy;
  if (rp?.Condition && !['none', 'on-failure', 'any'].includes(rp.Condition)) throw invalid(`TaskSpec: invalid restart condition ${rp.Condition}`);
  if ((rp?.Delay ?? 0) < 0) throw invalid('TaskSpec: restart-delay cannot be negative');
  if ((rp?.Window ?? 0) < 0) throw invalid('TaskSpec: restart-window cannot be negative');
  try {
    parseConstraints(task.Placement?.Constraints ?? []);
  } catch (err) {
    // swarm returns the parser's error bare (gRPC's Unknown); a client's mistake all the same.
    throw new InvalidArgumentError(`rpc error: code = Unknown desc = ${(err as Error).message}`);
  }
  validateRefs(c.Secrets ?? [], 'secret', (r) => [r.SecretID, r.SecretName]);
  validateRefs(c.Configs ?? [], 'config', (r) => [r.ConfigID, r.ConfigName]);
  const mode = spec.Mode ?? {};
  const replicas = mode.Replicated?.Replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 0) throw invalid('Number of replicas must be non-negative');
  const rj = mode.ReplicatedJob;
  if (rj && ((rj.MaxConcurrent ?? 0) < 0 || !Number.isInteger(rj.MaxConcurrent ?? 0))) throw invalid('Maximum concurrent jobs must not be negative');
  if (rj && ((rj.TotalCompletions ?? 0) < 0 || !Number.isInteger(rj.TotalCompletions ?? 0))) throw invalid('Total completed jobs must not be negative');
  if (mode.ReplicatedJob || mode.GlobalJob) {
    if (spec.UpdateConfig) throw invalid('Jobs may not have an update config');
  } else {
    for (const [which, uc] of [['update', spec.UpdateConfig], ['rollback', spec.RollbackConfig]] as const) validateUpdate(uc, which);
  }
}

function validateResources(r: Resources | undefined): void {
  if (!r) return;
  if (r.NanoCPUs && r.NanoCPUs < 1e6) throw invalid(`invalid cpu value ${r.NanoCPUs / 1e9}: Must be at least 0.001`);
  if (r.MemoryBytes && r.MemoryBytes < 4 * 1024 * 1024) throw invalid(`invalid memory value ${r.MemoryBytes}: Must be at least 4MiB`);
}

function validateUpdate(uc: UpdateConfig | undefined, which: 'update' | 'rollback'): void {
  if (!uc) return;
  // dockerd's convert step names the bad value before swarm sees the spec.
  if (uc.FailureAction && !['pause', 'continue', 'rollback'].includes(uc.FailureAction)) throw new InvalidArgumentError(`unrecognized ${which} failure action ${uc.FailureAction}`);
  if (uc.Order && !['stop-first', 'start-first'].includes(uc.Order)) throw new InvalidArgumentError(`unrecognized ${which} order ${uc.Order}`);
  if ((uc.Delay ?? 0) < 0) throw invalid('TaskSpec: update-delay cannot be negative');
  if ((uc.Monitor ?? 0) < 0) throw invalid('TaskSpec: update-monitor cannot be negative');
  const ratio = uc.MaxFailureRatio ?? 0;
  if (ratio < 0 || ratio > 1) throw invalid('TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1');
}

/** swarm's validateSecretRefsSpec / validateConfigRefsSpec: IDs, names, targets, no target twice. */
function validateRefs(refs: FileReference[], kind: 'secret' | 'config', ids: (r: FileReference) => [string | undefined, string | undefined]): void {
  const targets = new Map<string, string>();
  for (const r of refs) {
    const [id, name] = ids(r);
    if (!id || !name) throw invalid(`malformed ${kind} reference`);
    if (!r.File && !(kind === 'config' && r.Runtime)) throw invalid(`malformed ${kind} reference, no target provided`);
    if (!r.File) continue;
    if (!r.File.Name) throw invalid(`malformed file ${kind} reference, invalid target file name provided`);
    const prev = targets.get(r.File.Name);
    if (prev !== undefined) throw invalid(`${kind} references '${prev}' and '${name}' have a conflicting target: '${r.File.Name}'`);
    targets.set(r.File.Name, name);
  }
}

/** The replica count a replicated service asks for (swarm's default is 1). */
export function replicasOf(spec: ServiceSpec): number {
  return spec.Mode?.Replicated?.Replicas ?? 1;
}

export type ServiceMode = 'replicated' | 'global' | 'replicated-job' | 'global-job';

export function modeOf(spec: ServiceSpec): ServiceMode {
  const m = spec.Mode ?? {};
  return m.Global ? 'global' : m.ReplicatedJob ? 'replicated-job' : m.GlobalJob ? 'global-job' : 'replicated';
}

/** The spec as stored: the mode made explicit (a job's counts too), as dockerd answers it. */
export function normalizeSpec(spec: ServiceSpec & { Name: string }): ServiceSpec & { Name: string } {
  const mode = modeOf(spec);
  const rj = spec.Mode?.ReplicatedJob;
  const Mode = mode === 'global' ? { Global: {} }
    : mode === 'global-job' ? { GlobalJob: {} }
    : mode === 'replicated-job' ? { ReplicatedJob: { MaxConcurrent: rj?.MaxConcurrent ?? 1, TotalCompletions: rj?.TotalCompletions ?? rj?.MaxConcurrent ?? 1 } }
    : { Replicated: { Replicas: replicasOf(spec) } };
  return { ...spec, Labels: spec.Labels ?? {}, Mode };
}

/**
 * A task spec reduced to what it asks for: empty values dropped (Go's
 * omitempty: a client that sends "Init": false or "Resources": {} asks for
 * nothing more than one that leaves them out) and keys sorted. Two specs
 * with the same form run the same container; a task whose spec differs from
 * its service's is out of date and is replaced by an update.
 */
export function specForm(v: unknown): string {
  const prune = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.length ? x.map(prune) : undefined;
    if (x && typeof x === 'object') {
      const entries = Object.entries(x as Record<string, unknown>).map(([k, e]) => [k, prune(e)] as const).filter(([, e]) => e !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
      return entries.length ? Object.fromEntries(entries) : undefined;
    }
    return x === null || x === false || x === 0 || x === '' ? undefined : x;
  };
  return JSON.stringify(prune(v) ?? null);
}
