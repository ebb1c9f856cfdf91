// What a node's agent needs of the engine it runs on: the daemon hands the
// cluster this small interface over its container service, so cluster/ never
// imports containers/ (and containers/ knows nothing of swarms).
export interface TaskContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  /** Neither running nor ever started. */
  created: boolean;
  exitCode: number;
  pid: number;
  error: string;
}

export interface TaskContainerConfig {
  name: string;
  image: string;
  labels: Record<string, string>;
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  hostname?: string;
  workingDir?: string;
  user?: string;
  tty: boolean;
  openStdin: boolean;
  stopSignal?: string;
  init?: boolean;
}

export interface LocalEngine {
  /** The engine's containers that carry `label` (any value). */
  listLabelled(label: string): TaskContainer[];
  /** Creates and starts; throws the engine's typed error (no such image, …). */
  run(cfg: TaskContainerConfig): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, timeoutSec: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** Calls fn when a container carrying `label` exits or is removed; returns the unsubscribe. */
  onExit(label: string, fn: () => void): () => void;
  /** What a node tells the cluster of itself. */
  describe(): { hostname: string; engineVersion: string; nanoCPUs: number; memoryBytes: number };
}

/** The labels dockerd's swarm executor puts on a task's container. */
export const TASK_LABELS = {
  nodeId: 'com.docker.swarm.node.id',
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  task: 'com.docker.swarm.task',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
} as const;
