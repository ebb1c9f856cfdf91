// A node's agent: makes the engine's task containers match the tasks the
// store assigns to this node. Containers are found by their task label, so a
// daemon restarted (even after kill -9) adopts the ones still running and
// never starts a second container for a task.
import { KEYS, type ClusterStore } from './store.ts';
import { TASK_LABELS, type LocalEngine, type TaskContainer, type TaskContainerConfig, type TaskFile } from './local-engine.ts';
import { taskHostPorts } from './host-ports.ts';
import { TaskPulls } from './task-images.ts';
import { NETWORK_KEYS, type OverlayNetworkRecord } from './networks.ts';
import { networksReady, serviceNetworks } from './network-agent.ts';
import { TaskFilesUnavailable } from './secrets.ts';
import { taskName, terminal, type ServiceRecord, type TaskRecord, type TaskState, type TaskStatus } from './types.ts';

export function containerConfig(svc: ServiceRecord, t: TaskRecord, nodeId: string, files: TaskFile[] = [], networks: TaskContainerConfig['networks'] = []): TaskContainerConfig {
  const c = t.Spec.ContainerSpec ?? { Image: '' };
  const name = taskName(svc.Spec.Name, t);
  const limits = t.Spec.Resources?.Limits;
  return {
    taskId: t.ID,
    files,
    hostPorts: taskHostPorts(t),
    healthcheck: c.Healthcheck,
    nanoCpus: limits?.NanoCPUs || undefined,
    memory: limits?.MemoryBytes || undefined,
    pidsLimit: limits?.Pids || undefined,
    mounts: c.Mounts?.length ? c.Mounts : undefined,
    name,
    image: c.Image,
    labels: {
      ...(c.Labels ?? {}),
      [TASK_LABELS.nodeId]: nodeId,
      [TASK_LABELS.serviceId]: svc.ID,
      [TASK_LABELS.serviceName]: svc.Spec.Name,
      [TASK_LABELS.task]: '',
      [TASK_LABELS.taskId]: t.ID,
      [TASK_LABELS.taskName]: name,
    },
    env: c.Env ?? [],
    entrypoint: c.Command?.length ? c.Command : undefined,
    cmd: c.Args?.length ? c.Args : undefined,
    hostname: c.Hostname || undefined,
    workingDir: c.Dir || undefined,
    user: c.User || undefined,
    tty: c.TTY ?? false,
    openStdin: c.OpenStdin ?? false,
    stopSignal: c.StopSignal || undefined,
    init: c.Init ?? undefined,
    ...(networks?.length ? { networks } : {}),
  };
}

/** The task's host-mode ports as bound (a port the engine picked included), as dockerd's PortStatus. */
function portStatus(t: TaskRecord, c?: TaskContainer): Record<string, unknown> {
  const ports = taskHostPorts(t);
  if (!ports.length || !c?.running) return {};
  return { Ports: ports.map((p) => ({ Protocol: p.protocol, TargetPort: p.target, PublishedPort: c.ports[`${p.target}/${p.protocol}`] ?? p.published, PublishMode: 'host' })) };
}

const RUN_PARALLEL = 4;

/** The task's stop grace period in seconds (dockerd's default is 10). */
function grace(t: TaskRecord): number {
  return Math.ceil((t.Spec.ContainerSpec?.StopGracePeriod ?? 10e9) / 1e9);
}

export class Agent {
  private readonly store: ClusterStore;
  private readonly engine: LocalEngine;
  private readonly nodeId: string;

  /** The secrets and configs a task gets, read when its container is made. */
  private readonly files: (t: TaskRecord) => Promise<TaskFile[]>;

  constructor(store: ClusterStore, engine: LocalEngine, nodeId: string, files: (t: TaskRecord) => Promise<TaskFile[]> = async () => []) {
    this.store = store;
    this.engine = engine;
    this.nodeId = nodeId;
    this.files = files;
    this.pulls = new TaskPulls(engine);
  }

  /** Containers being stopped (and maybe removed) in the background: a grace period never holds up a pass. */
  private readonly ending = new Set<string>();
  /** Called when a background stop ends, so the next pass records it. */
  onEnded: () => void = () => {};
  /** Images being pulled for tasks about to run. */
  readonly pulls: TaskPulls;
  /** Called when a task waits for an overlay this node has not made yet. */
  onNetworksMissing: () => void = () => {};
  log: (msg: string) => void = () => {};
  /** Tasks waiting for a manager to hand over their files: said once each. */
  private readonly waitingFiles = new Set<string>();

  private end(c: TaskContainer, graceSec: number, remove: boolean): void {
    if (this.ending.has(c.id)) return;
    this.ending.add(c.id);
    void (async () => {
      try {
        // As dockerd: the stop signal, the grace period, then SIGKILL; removal after.
        if (c.running) await this.engine.stop(c.id, graceSec);
        if (remove) await this.engine.remove(c.id);
      } catch { /* gone already, or the next pass tries again */ }
      this.ending.delete(c.id);
      this.onEnded();
    })();
  }

  async pass(): Promise<void> {
    const [all, services] = await Promise.all([this.store.list<TaskRecord>(KEYS.tasks), this.store.list<ServiceRecord>(KEYS.services)]);
    const tasks = new Map(all.filter((t) => t.NodeID === this.nodeId).map((t) => [t.ID, t]));
    for (const id of this.waitingFiles) if (!tasks.has(id)) this.waitingFiles.delete(id);
    const containers = new Map<string, TaskContainer>();
    for (const c of this.engine.listLabelled(TASK_LABELS.taskId)) {
      const t = tasks.get(c.labels[TASK_LABELS.taskId]);
      // A container whose task is gone, or is to be removed, goes (a scaled-down slot, a removed service, reaped history).
      if (!t || t.DesiredState === 'remove') this.end(c, t ? grace(t) : 10, true);
      containers.set(c.labels[TASK_LABELS.taskId], c);
    }
    const toRun: [ServiceRecord, TaskRecord][] = [];
    for (const t of tasks.values()) {
      const c = containers.get(t.ID);
      if (t.DesiredState === 'remove' || t.DesiredState === 'shutdown') {
        if (c?.running || (c && this.ending.has(c.id))) {
          if (t.DesiredState === 'shutdown') this.end(c, grace(t), false);
          continue; // its status is written once it has stopped
        }
        if (!terminal(t.Status.State)) await this.setStatus(t, 'shutdown', 'shutdown', c);
        continue;
      }
      if (terminal(t.Status.State)) continue; // the scheduler decides what replaces it
      if (t.DesiredState === 'ready') continue; // stop-first: started once the slot's old task has ended
      if (c?.running) {
        // As dockerd's executor: a task with a healthcheck is starting until healthy, and an unhealthy one fails.
        if (c.health === 'unhealthy') {
          this.end(c, grace(t), false);
          await this.setStatus(t, 'failed', 'started', c, 'dockerexec: unhealthy container');
        } else if (c.health === 'starting') {
          if (t.Status.State !== 'starting') await this.setStatus(t, 'starting', 'starting', c);
        } else if (t.Status.State !== 'running') await this.setStatus(t, 'running', 'started', c);
      } else if (c && !c.created) {
        await this.ended(t, c);
      } else if (c) {
        await this.engine.start(c.id).then(() => this.setStatus(t, 'running', 'started', this.find(c.id)), (err: Error) => this.setStatus(t, 'failed', 'starting', c, err.message));
      } else if (t.Status.State === 'running') {
        await this.setStatus(t, 'failed', 'started', undefined, 'task: container removed');
      } else {
        const svc = services.find((s) => s.ID === t.ServiceID);
        if (svc) toRun.push([svc, t]);
      }
    }
    // A task waits for its overlays (a network pass makes ingress when a service first publishes);
    // they are read only when a task is to start, so an idle node's tick reads no more.
    if (toRun.length) this.nets = await this.store.list<OverlayNetworkRecord>(NETWORK_KEYS.networks);
    // And for them to be made on this node (local-overlays.ts): the network pass does so once the task is assigned here.
    for (let i = toRun.length - 1; i >= 0; i--) {
      const [svc, t] = toRun[i];
      const here = networksReady(svc, this.nets) && serviceNetworks(svc, this.nets).every((n) => this.engine.hasNetwork(n.id));
      if (!here) this.onNetworksMissing();
      // An image the node lacks is pulled first (task-images.ts), the task preparing meanwhile.
      const pulled = here && this.pulls.ready(t);
      if (here && !pulled && t.Status.State !== 'preparing') await this.setStatus(t, 'preparing', 'preparing');
      if (!pulled) toRun.splice(i, 1);
    }
    // New tasks start a few at a time: a service of many replicas converges
    // sooner than one by one, without flooding the engine.
    const queue = toRun.slice();
    await Promise.all(Array.from({ length: Math.min(RUN_PARALLEL, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.run(...next);
    }));
  }

  /** The overlays as of the last pass that started a task. */
  private nets: OverlayNetworkRecord[] = [];

  private async run(svc: ServiceRecord, t: TaskRecord): Promise<void> {
    let files: TaskFile[];
    try {
      files = await this.files(t);
      this.waitingFiles.delete(t.ID);
    } catch (err) {
      if (!(err instanceof TaskFilesUnavailable)) return this.setStatus(t, 'rejected', 'preparing', undefined, (err as Error).message);
      // The task waits (the next pass asks again); it never starts without its secrets.
      if (!this.waitingFiles.has(t.ID)) this.log(`task ${t.ID} waits for its secrets and configs: ${err.message}`);
      this.waitingFiles.add(t.ID);
      return;
    }
    this.pulls.forget(t.ID);
    try {
      const id = await this.engine.run(containerConfig(svc, t, this.nodeId, files, serviceNetworks(svc, this.nets)));
      const now = this.find(id);
      // A container that ended before the status write is recorded as ended.
      if (now && !now.running && !now.created) await this.ended(t, now);
      else if (now?.health === 'starting') await this.setStatus(t, 'starting', 'starting', now);
      else await this.setStatus(t, 'running', 'started', now);
    } catch (err) {
      await this.setStatus(t, 'rejected', 'preparing', undefined, (err as Error).message);
    }
  }

  private find(id: string): TaskContainer | undefined {
    return this.engine.listLabelled(TASK_LABELS.taskId).find((c) => c.id === id);
  }

  private async ended(t: TaskRecord, c: TaskContainer): Promise<void> {
    if (c.exitCode === 0) await this.setStatus(t, 'complete', 'finished', c);
    else await this.setStatus(t, 'failed', 'started', c, `task: non-zero exit (${c.exitCode})`);
  }

  private async setStatus(t: TaskRecord, state: TaskState, message: string, c?: TaskContainer, err?: string): Promise<void> {
    const now = new Date().toISOString();
    const status: TaskStatus = { Timestamp: now, State: state, Message: message, PortStatus: portStatus(t, c) };
    if (err) status.Err = err;
    if (c) status.ContainerStatus = { ContainerID: c.id, PID: c.running ? c.pid : 0, ExitCode: c.running ? 0 : c.exitCode };
    else if (t.Status.ContainerStatus) status.ContainerStatus = t.Status.ContainerStatus;
    // Written only over the revision read: a lost race is redone by the next pass.
    await this.store.update(KEYS.tasks + t.ID, { ...t, UpdatedAt: now, Status: status });
  }
}
