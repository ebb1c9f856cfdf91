// The swarm objects as the Engine API shows them (docker-engine-api.yaml:
// Swarm, Node, Service, Task). Stored in etcd as these JSON shapes less their
// Version, which is the key's mod_revision (swarm's Version.Index).
export interface Version {
  Index: number;
}

export interface Annotated {
  ID: string;
  Version: Version;
  CreatedAt: string;
  UpdatedAt: string;
}

export interface JoinTokens {
  Worker: string;
  Manager: string;
}

export interface ClusterRecord extends Annotated {
  Spec: Record<string, unknown>;
  TLSInfo: { TrustRoot: string; CertIssuerSubject: string; CertIssuerPublicKey: string };
  RootRotationInProgress: boolean;
  DefaultAddrPool: string[];
  SubnetSize: number;
  DataPathPort: number;
  JoinTokens: JoinTokens;
}

export interface NodeRecord extends Annotated {
  Spec: { Name?: string; Labels: Record<string, string>; Role: 'manager' | 'worker'; Availability: 'active' | 'pause' | 'drain' };
  Description: Record<string, unknown> & { Hostname: string };
  Status: { State: 'unknown' | 'down' | 'ready' | 'disconnected'; Message?: string; Addr: string };
  ManagerStatus?: { Leader?: boolean; Reachability: 'unknown' | 'unreachable' | 'reachable'; Addr: string };
}

export interface RestartPolicy {
  Condition?: 'none' | 'on-failure' | 'any';
  /** Nanoseconds. */
  Delay?: number;
  MaxAttempts?: number;
  Window?: number;
}

export interface ContainerSpec {
  Image: string;
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  TTY?: boolean;
  OpenStdin?: boolean;
  StopSignal?: string;
  StopGracePeriod?: number;
  Init?: boolean | null;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  Secrets?: FileReference[];
  Configs?: FileReference[];
  Mounts?: Record<string, unknown>[];
  [key: string]: unknown;
}

export interface Resources {
  NanoCPUs?: number;
  MemoryBytes?: number;
  Pids?: number;
}

export interface Placement {
  Constraints?: string[];
  Preferences?: { Spread?: { SpreadDescriptor?: string } }[];
  MaxReplicas?: number;
  Platforms?: { Architecture?: string; OS?: string }[];
}

/** A secret's or config's reference in a container spec: which object, and the file it becomes. */
export interface FileReference {
  File?: { Name: string; UID?: string; GID?: string; Mode?: number };
  SecretID?: string;
  SecretName?: string;
  ConfigID?: string;
  ConfigName?: string;
  Runtime?: Record<string, never>;
}

export interface UpdateConfig {
  Parallelism?: number;
  /** Nanoseconds. */
  Delay?: number;
  FailureAction?: 'pause' | 'continue' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

export interface TaskSpec {
  ContainerSpec?: ContainerSpec;
  RestartPolicy?: RestartPolicy;
  Resources?: { Limits?: Resources; Reservations?: Resources };
  Placement?: Placement;
  ForceUpdate?: number;
  Runtime?: string;
  [key: string]: unknown;
}

export interface ServiceSpec {
  Name?: string;
  Labels?: Record<string, string>;
  TaskTemplate?: TaskSpec;
  Mode?: { Replicated?: { Replicas?: number }; Global?: Record<string, never>; ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number }; GlobalJob?: Record<string, never> };
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  [key: string]: unknown;
}

export interface ServiceRecord extends Annotated {
  Spec: ServiceSpec & { Name: string };
  Endpoint: { Spec: Record<string, unknown> };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number; CompletedTasks: number };
  PreviousSpec?: ServiceSpec;
  UpdateStatus?: UpdateStatus;
  /** Job modes only: which execution of the job is current. */
  JobStatus?: { JobIteration: Version; LastExecution?: string };
}

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface UpdateStatus {
  State: UpdateState;
  StartedAt?: string;
  CompletedAt?: string;
  Message: string;
}

export type TaskState =
  | 'new' | 'allocated' | 'pending' | 'assigned' | 'accepted' | 'preparing' | 'ready' | 'starting' | 'running'
  | 'complete' | 'shutdown' | 'failed' | 'rejected' | 'remove' | 'orphaned';

/** The order swarmkit gives the states: a task only moves forward. */
export const TASK_STATES: TaskState[] = ['new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'];

export function stateRank(s: TaskState): number {
  return TASK_STATES.indexOf(s);
}

/** A task that has ended (its container, if any, no longer runs for it). */
/** dockerd names a task's container <service>.<slot>.<task ID>; a global task's <service>.<node ID>.<task ID>. */
export function taskName(serviceName: string, t: Pick<TaskRecord, 'Slot' | 'ID' | 'NodeID'>): string {
  return `${serviceName}.${t.Slot || t.NodeID}.${t.ID}`;
}

export function terminal(s: TaskState): boolean {
  return stateRank(s) > stateRank('running');
}

export interface TaskStatus {
  Timestamp: string;
  State: TaskState;
  Message: string;
  Err?: string;
  ContainerStatus?: { ContainerID: string; PID: number; ExitCode: number };
  PortStatus: Record<string, unknown>;
}

export interface TaskRecord extends Annotated {
  Labels: Record<string, string>;
  Spec: TaskSpec;
  ServiceID: string;
  Slot: number;
  NodeID?: string;
  Status: TaskStatus;
  DesiredState: TaskState;
  /** Job modes only: the service's JobIteration the task was made for. */
  JobIteration?: Version;
  /** The service's endpoint spec when the task was made (its host-mode ports). */
  Endpoint?: { Spec?: Record<string, unknown> };
}
