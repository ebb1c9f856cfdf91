// The swarm objects of the Engine API (docker-engine-api.yaml: Swarm, Node,
// Service, Task, Secret, Config) as a client reads and writes them: the CLI's
// swarm commands and `stack` build and print these shapes.
export interface Meta {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
}

export interface SwarmInfo extends Meta {
  Spec: SwarmSpec;
  TLSInfo?: { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string };
  JoinTokens: { Worker: string; Manager: string };
}

export interface SwarmSpec {
  Name?: string;
  Labels?: Record<string, string>;
  Orchestration?: { TaskHistoryRetentionLimit?: number };
  Raft?: { SnapshotInterval?: number; KeepOldSnapshots?: number; [k: string]: unknown };
  Dispatcher?: { HeartbeatPeriod?: number };
  CAConfig?: { NodeCertExpiry?: number; ExternalCAs?: ExternalCA[]; SigningCACert?: string; SigningCAKey?: string; ForceRotate?: number };
  EncryptionConfig?: { AutoLockManagers?: boolean };
  [k: string]: unknown;
}

export interface ExternalCA {
  Protocol: string;
  URL: string;
  Options?: Record<string, string>;
  CACert?: string;
}

export interface NodeSpec {
  Name?: string;
  Labels?: Record<string, string>;
  Role?: 'manager' | 'worker';
  Availability?: 'active' | 'pause' | 'drain';
}

export interface Node extends Meta {
  Spec: NodeSpec;
  Description?: {
    Hostname?: string;
    Platform?: { Architecture?: string; OS?: string };
    Resources?: { NanoCPUs?: number; MemoryBytes?: number };
    Engine?: { EngineVersion?: string; Labels?: Record<string, string>; Plugins?: { Type: string; Name: string }[] };
    TLSInfo?: { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string };
  };
  Status?: { State?: string; Message?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string } | null;
}

export interface Mount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  [k: string]: unknown;
}

export interface SecretReference {
  File?: { Name: string; UID: string; GID: string; Mode: number };
  Runtime?: Record<string, never>;
  SecretID?: string;
  SecretName?: string;
  ConfigID?: string;
  ConfigName?: string;
}

export interface ContainerSpec {
  Image?: string;
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Groups?: string[];
  TTY?: boolean;
  OpenStdin?: boolean;
  ReadOnly?: boolean;
  Mounts?: Mount[];
  StopSignal?: string;
  StopGracePeriod?: number;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number; StartInterval?: number };
  Hosts?: string[];
  DNSConfig?: { Nameservers?: string[]; Search?: string[]; Options?: string[] };
  Secrets?: SecretReference[];
  Configs?: SecretReference[];
  Init?: boolean;
  Sysctls?: Record<string, string>;
  CapabilityAdd?: string[];
  CapabilityDrop?: string[];
  Ulimits?: { Name: string; Soft: number; Hard: number }[];
  [k: string]: unknown;
}

export interface ResourceSpec {
  NanoCPUs?: number;
  MemoryBytes?: number;
  Pids?: number;
  GenericResources?: unknown[];
}

export interface Placement {
  Constraints?: string[];
  Preferences?: { Spread: { SpreadDescriptor: string } }[];
  MaxReplicas?: number;
  Platforms?: { Architecture?: string; OS?: string }[];
}

export interface TaskSpec {
  ContainerSpec?: ContainerSpec;
  Resources?: { Limits?: ResourceSpec; Reservations?: ResourceSpec };
  RestartPolicy?: { Condition?: string; Delay?: number; MaxAttempts?: number; Window?: number };
  Placement?: Placement;
  Networks?: { Target: string; Aliases?: string[]; DriverOpts?: Record<string, string> }[];
  LogDriver?: { Name: string; Options?: Record<string, string> };
  ForceUpdate?: number;
  Runtime?: string;
  [k: string]: unknown;
}

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: string;
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: string;
}

export interface PortConfig {
  Name?: string;
  Protocol?: string;
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: string;
}

export interface ServiceMode {
  Replicated?: { Replicas?: number };
  Global?: Record<string, never>;
  ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number };
  GlobalJob?: Record<string, never>;
}

export interface ServiceSpec {
  Name?: string;
  Labels?: Record<string, string>;
  TaskTemplate: TaskSpec;
  Mode?: ServiceMode;
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: { Mode?: string; Ports?: PortConfig[] };
  [k: string]: unknown;
}

export interface Service extends Meta {
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint?: { Spec?: { Mode?: string; Ports?: PortConfig[] }; Ports?: PortConfig[]; VirtualIPs?: { NetworkID: string; Addr: string }[] };
  UpdateStatus?: { State?: string; StartedAt?: string; CompletedAt?: string; Message?: string };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number; CompletedTasks?: number };
  JobStatus?: { JobIteration: { Index: number }; LastExecution?: string };
}

export interface Task extends Meta {
  Name?: string;
  Labels?: Record<string, string>;
  Spec: TaskSpec;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  Status: {
    Timestamp?: string;
    State: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number };
    PortStatus?: { Ports?: PortConfig[] };
  };
  DesiredState: string;
  JobIteration?: { Index: number };
}

/** A secret or a config: the same shape, a secret's data never returned. */
export interface SecretOrConfig extends Meta {
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    Data?: string;
    Driver?: { Name: string; Options?: Record<string, string> } | null;
    Templating?: { Name: string; Options?: Record<string, string> } | null;
  };
}
