// Checks of a ServiceSpec as swarm's control API makes them, with its words,
// and the IDs swarm gives its objects.
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotImplementedError } from '../errors.ts';
import { parseNormalizedNamed } from '../api/reference.ts';
import type { ServiceSpec } from './types.ts';

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
  const rp = task.RestartPolicy;
  if (rp?.Condition && !['none', 'on-failure', 'any'].includes(rp.Condition)) throw invalid(`TaskSpec: invalid restart condition ${rp.Condition}`);
  if ((rp?.Delay ?? 0) < 0) throw invalid('TaskSpec: restart-delay cannot be negative');
  if ((rp?.Window ?? 0) < 0) throw invalid('TaskSpec: restart-window cannot be negative');
  const mode = spec.Mode ?? {};
  // This first slice schedules replicated services only; the others say so.
  if (mode.Global || mode.ReplicatedJob || mode.GlobalJob) throw new NotImplementedError('berth schedules replicated services only: global and job modes are not implemented yet');
  const replicas = mode.Replicated?.Replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 0) throw invalid('invalid replicas value');
}

/** The replica count a replicated service asks for (swarm's default is 1). */
export function replicasOf(spec: ServiceSpec): number {
  return spec.Mode?.Replicated?.Replicas ?? 1;
}

/** The spec as stored: the mode made explicit, as dockerd answers it. */
export function normalizeSpec(spec: ServiceSpec & { Name: string }): ServiceSpec & { Name: string } {
  return { ...spec, Labels: spec.Labels ?? {}, Mode: { Replicated: { Replicas: replicasOf(spec) } } };
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
