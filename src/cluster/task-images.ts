// A task's image, as swarm's executor gets it: the agent pulls an image its
// node lacks before creating the task's container, the task `preparing`
// meanwhile, with the registry credentials the service was created with.
// The docker CLI sends those (`--with-registry-auth`) as X-Registry-Auth on
// service create and update; swarm keeps them in the container spec's
// PullOptions, and never shows them (the API's ContainerSpec has no such
// field). As dockerd's executor, a failed pull is only logged: the container's
// create then fails with the engine's own words ("No such image: …").
import type { LocalEngine } from './local-engine.ts';
import type { ServiceRecord, ServiceSpec, TaskRecord } from './types.ts';

interface PullOptions { RegistryAuth?: string }
type WithPull = { PullOptions?: PullOptions };

function containerSpec(spec: ServiceSpec | undefined): (Record<string, unknown> & WithPull) | undefined {
  return (spec?.TaskTemplate as { ContainerSpec?: Record<string, unknown> & WithPull } | undefined)?.ContainerSpec;
}

/**
 * The credentials a create or update stores with the spec: the header's, or
 * (an update without one) those of the current spec, or of the previous one
 * with `registryAuthFrom=previous-spec`, as dockerd's UpdateService.
 */
export function applyRegistryAuth(spec: ServiceSpec, header: string | undefined, current?: ServiceRecord, from = 'spec'): void {
  const c = containerSpec(spec);
  if (!c) return;
  delete c.PullOptions;
  const auth = header || containerSpec(from === 'previous-spec' ? current?.PreviousSpec : current?.Spec)?.PullOptions?.RegistryAuth;
  if (auth) c.PullOptions = { RegistryAuth: auth };
}

/** The service or task as the API shows it: the credentials left out. */
export function withoutRegistryAuth<T extends { Spec?: unknown; PreviousSpec?: unknown }>(o: T): T {
  const strip = (spec: unknown): unknown => {
    const s = spec as { TaskTemplate?: { ContainerSpec?: WithPull }; ContainerSpec?: WithPull } | undefined;
    const c = s?.TaskTemplate?.ContainerSpec ?? s?.ContainerSpec;
    if (!c?.PullOptions) return spec;
    const { PullOptions: _p, ...rest } = c;
    return s?.TaskTemplate ? { ...s, TaskTemplate: { ...s.TaskTemplate, ContainerSpec: rest } } : { ...s, ContainerSpec: rest };
  };
  return { ...o, ...(o.Spec ? { Spec: strip(o.Spec) } : {}), ...(o.PreviousSpec ? { PreviousSpec: strip(o.PreviousSpec) } : {}) };
}

/** Pulls under way on this node, one per image however many tasks wait for it. */
export class TaskPulls {
  private readonly engine: LocalEngine;
  private readonly pulling = new Map<string, Promise<void>>();
  /** Tasks whose pull has been tried: they go on to create, whatever it gave. */
  private readonly tried = new Set<string>();
  /** Called when a pull ends, so the next pass creates its tasks. */
  onDone: () => void = () => {};
  log: (msg: string) => void = () => {};

  constructor(engine: LocalEngine) {
    this.engine = engine;
  }

  /** Whether the task's container can be created now; if not, its image's pull is under way. */
  ready(t: TaskRecord): boolean {
    const c = t.Spec.ContainerSpec as ({ Image?: string } & WithPull) | undefined;
    const image = c?.Image ?? '';
    if (!image || this.tried.has(t.ID) || this.engine.hasImage(image)) return true;
    let p = this.pulling.get(image);
    if (!p) {
      p = this.engine.pull(image, c?.PullOptions?.RegistryAuth)
        .catch((err: Error) => this.log(`pulling image ${image} failed: ${err.message}`))
        .finally(() => {
          this.pulling.delete(image);
          this.onDone();
        });
      this.pulling.set(image, p);
    }
    void p.then(() => this.tried.add(t.ID));
    return false;
  }

  /** The task's container was made (or refused): nothing more to remember of it. */
  forget(taskId: string): void {
    this.tried.delete(taskId);
  }
}
