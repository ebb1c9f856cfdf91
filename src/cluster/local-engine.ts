// What a node's agent needs of the engine it runs on: the daemon hands the
// cluster this small interface over its container service, so cluster/ never
// imports containers/ (and containers/ knows nothing of swarms).
import type { OverlayState } from '../api/overlay.ts';
import type { HostPort } from './host-ports.ts';

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
  /** The healthcheck's status (starting, healthy, unhealthy), or '' with none. */
  health: string;
  /** Its published ports: "80/tcp" → host port. */
  ports: Record<string, number>;
}

/** A file the task's container gets: a secret (on a tmpfs, under /run/secrets) or a config. */
export interface TaskFile {
  kind: 'secret' | 'config';
  /** Absolute path in the container. */
  target: string;
  data: Buffer;
  uid: number;
  gid: number;
  mode: number;
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
  /** Overlays the task joins (the first is its network mode), by ID, with its aliases on each. */
  networks?: { id: string; aliases: string[] }[];
  healthcheck?: Record<string, unknown>;
  nanoCpus?: number;
  memory?: number;
  pidsLimit?: number;
  /** The spec's --mount entries, in the Engine API's HostConfig.Mounts shape. */
  mounts?: Record<string, unknown>[];
  /** Host-mode published ports: bound on this node to the container. */
  hostPorts?: HostPort[];
  /** The task's ID: the files below are kept per task. */
  taskId: string;
  files: TaskFile[];
}

export type { OverlaySpec, OverlayState } from '../api/overlay.ts';

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
  /** Whether the engine has the image (a reference as the spec names it). */
  hasImage(ref: string): boolean;
  /** Pulls the image, with the registry credentials the service was created with (X-Registry-Auth's encoding). */
  pull(ref: string, registryAuth?: string): Promise<void>;
  /** Whether the engine has this network (an overlay is made on a node only once used there). */
  hasNetwork(id: string): boolean;
  /** Makes the node's overlays, VIPs and routing mesh match the cluster's state. */
  syncOverlays(state: OverlayState): Promise<void>;
  /** The overlay addresses this engine's containers hold now, by network ID: what the cluster records for this node beyond them is stale. */
  heldAddresses(): Map<string, Set<string>>;
  /** The subnets this node's own networks and routes take: an overlay's must not overlap them. */
  localSubnets(): Promise<string[]>;
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
