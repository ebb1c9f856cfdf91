// The project model: a compose project after loading, interpolation, merging,
// `extends`/`include`, profile selection and normalisation — the shape that
// `docker compose config --format json` prints. The loader (load/) produces
// it; the planner and every command consume it and never see a raw file.
//
// Normalised means: every short syntax is in its long form (ports, volumes,
// depends_on, networks, secrets, configs, environment), relative paths are
// absolute, durations are kept as compose strings ("1m30s") for printing and
// converted where used, and names of networks/volumes are resolved
// (`<project>_<key>` unless `name:` or `external` says otherwise).

export interface Project {
  /** Project name, lower-cased and validated as compose does ([a-z0-9][a-z0-9_-]*). */
  name: string;
  /** Absolute project directory (the first file's directory, or --project-directory). */
  workingDir: string;
  /** Absolute paths of the files merged, in order. */
  configFiles: string[];
  /** Absolute paths of the environment files interpolation read (--env-file, or the project's .env when there is one). */
  envFiles?: string[];
  /** Enabled services only (profiles already applied), keyed by service name. */
  services: Record<string, Service>;
  /** Services disabled by profiles: kept so `config --profiles` and `--no-deps` errors can name them. */
  disabledServices: Record<string, Service>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, FileObjectConfig>;
  configs: Record<string, FileObjectConfig>;
  /** The variables interpolation used (.env, --env-file, the process environment). */
  environment: Record<string, string>;
  /** Top-level `x-*` keys, kept for `config`. */
  extensions?: Record<string, unknown>;
}

export interface Service {
  name: string;
  profiles?: string[];
  image?: string;
  build?: BuildConfig;
  pull_policy?: 'always' | 'never' | 'missing' | 'build' | 'if_not_present' | 'daily' | 'weekly' | string;
  command?: string[] | null;
  entrypoint?: string[] | null;
  /** Merged from env_file(s) then environment; a null value means "take it from the shell, or unset". */
  environment: Record<string, string | null>;
  ports: PortConfig[];
  expose?: string[];
  volumes: ServiceVolume[];
  tmpfs?: string[];
  /** Service network attachments; the default network is written out explicitly as `default`. */
  networks: Record<string, ServiceNetwork | null>;
  network_mode?: string;
  depends_on: Record<string, DependsOn>;
  healthcheck?: Healthcheck;
  restart?: string;
  deploy?: Deploy;
  /** Replica count after `scale:`/`deploy.replicas`/`--scale` (default 1). */
  scale?: number;
  labels: Record<string, string>;
  container_name?: string;
  user?: string;
  working_dir?: string;
  hostname?: string;
  domainname?: string;
  dns?: string[];
  dns_search?: string[];
  dns_opt?: string[];
  extra_hosts?: string[];
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  read_only?: boolean;
  init?: boolean;
  tty?: boolean;
  stdin_open?: boolean;
  stop_signal?: string;
  /** Compose duration string ("10s"). */
  stop_grace_period?: string;
  secrets?: ServiceFileObject[];
  configs?: ServiceFileObject[];
  logging?: { driver?: string; options?: Record<string, string> };
  ulimits?: Record<string, { soft: number; hard: number }>;
  sysctls?: Record<string, string>;
  security_opt?: string[];
  devices?: string[];
  group_add?: string[];
  ipc?: string;
  pid?: string;
  shm_size?: string | number;
  mem_limit?: string | number;
  cpus?: number | string;
  platform?: string;
  /** Only with LoadOptions.noEnvResolution (`config --no-env-resolution`): the env files, not read. */
  env_file?: Array<{ path: string; required: boolean; format?: string }>;
  links?: string[];
  external_links?: string[];
  volumes_from?: string[];
  develop?: Develop;
  /** Keys from the file that berth does not model yet but keeps for `config`. */
  [extension: `x-${string}`]: unknown;
}

export interface BuildConfig {
  /** Absolute path, or a git/http URL. */
  context: string;
  dockerfile?: string;
  dockerfile_inline?: string;
  args?: Record<string, string | null>;
  target?: string;
  labels?: Record<string, string>;
  cache_from?: string[];
  cache_to?: string[];
  network?: string;
  no_cache?: boolean;
  pull?: boolean;
  shm_size?: string | number;
  extra_hosts?: string[];
  secrets?: ServiceFileObject[];
  tags?: string[];
  platforms?: string[];
}

export interface PortConfig {
  name?: string;
  mode?: 'ingress' | 'host';
  host_ip?: string;
  target: number;
  /** "8080" or a range "8080-8090"; absent means an ephemeral host port. */
  published?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  app_protocol?: string;
}

export type ServiceVolume =
  | { type: 'volume'; source?: string; target: string; read_only?: boolean; volume?: { nocopy?: boolean; subpath?: string } }
  | { type: 'bind'; source: string; target: string; read_only?: boolean; bind?: { propagation?: string; create_host_path?: boolean; selinux?: 'z' | 'Z' } }
  | { type: 'tmpfs'; target: string; read_only?: boolean; tmpfs?: { size?: number | string; mode?: number } }
  | { type: 'npipe' | 'cluster' | 'image'; source?: string; target: string; read_only?: boolean };

export interface ServiceNetwork {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  priority?: number;
  mac_address?: string;
  link_local_ips?: string[];
}

export interface DependsOn {
  condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  restart?: boolean;
  /** false: a missing or disabled dependency is not an error. */
  required: boolean;
}

export interface Healthcheck {
  test?: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

export interface Deploy {
  mode?: string;
  replicas?: number;
  labels?: Record<string, string>;
  resources?: {
    limits?: { cpus?: string | number; memory?: string | number; pids?: number };
    reservations?: { cpus?: string | number; memory?: string | number };
  };
  restart_policy?: { condition?: 'none' | 'on-failure' | 'any'; delay?: string; max_attempts?: number; window?: string };
}

export interface Develop {
  watch?: Array<{
    path: string; action: 'sync' | 'rebuild' | 'sync+restart' | 'restart' | 'sync+exec'; target?: string; ignore?: string[]; include?: string[];
    /** sync+exec's command, run in each of the service's containers after a sync. */
    exec?: WatchExec;
    /** Sync the whole path once when the watch starts. */
    initial_sync?: boolean;
  }>;
}

/** A develop.watch exec hook (the spec's service_hook). */
export interface WatchExec {
  command: string[] | string;
  user?: string;
  privileged?: boolean | string;
  working_dir?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
}

export interface ServiceFileObject {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface NetworkConfig {
  /** The engine's name for it: `<project>_<key>` unless `name:` or `external`. */
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  ipam?: { driver?: string; config?: Array<{ subnet?: string; ip_range?: string; gateway?: string; aux_addresses?: Record<string, string> }>; options?: Record<string, string> };
  external?: boolean;
  internal?: boolean;
  attachable?: boolean;
  enable_ipv6?: boolean;
  labels?: Record<string, string>;
}

export interface VolumeConfig {
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  external?: boolean;
  labels?: Record<string, string>;
}

/** A top-level secret or config: backed by a file, an environment variable or inline content. */
export interface FileObjectConfig {
  name: string;
  file?: string;
  environment?: string;
  content?: string;
  external?: boolean;
  labels?: Record<string, string>;
}

/** The labels docker compose puts on what it creates; both tools find each other's projects by them. */
export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  containerNumber: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  configHash: 'com.docker.compose.config-hash',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  environmentFile: 'com.docker.compose.project.environment_file',
  dependsOn: 'com.docker.compose.depends_on',
  image: 'com.docker.compose.image',
  version: 'com.docker.compose.version',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  replace: 'com.docker.compose.replace',
} as const;

/** What the loader needs: the project flags of `compose` and the environment they run in. */
export interface LoadOptions {
  /** -f files as given (relative to cwd); empty means look up compose.yaml & co. from cwd upward. "-" is stdin. */
  files: string[];
  /** -p / COMPOSE_PROJECT_NAME / the top-level `name:` / the directory's name, in that order. */
  projectName?: string;
  projectDirectory?: string;
  /** --profile flags; COMPOSE_PROFILES is read from `env` when empty. */
  profiles: string[];
  /** --env-file flags; `<project dir>/.env` when empty. */
  envFiles: string[];
  /** The process environment (tests pass their own). */
  env: Record<string, string | undefined>;
  cwd: string;
  /** false: host paths (binds, build contexts, secret files…) are kept as written (`config --no-path-resolution`). */
  resolvePaths?: boolean;
  /** Services named on the command line: enabled with their dependencies whatever their profiles. */
  services?: string[];
  /** `config --no-interpolate`: values kept as written. */
  noInterpolate?: boolean;
  /** `config --no-env-resolution`: env_file entries listed, not read; bare `KEY` entries left unset. */
  noEnvResolution?: boolean;
  /** `config --no-normalize`: the model without compose's implicit defaults. */
  noNormalize?: boolean;
  /** Where loading warnings go (unset variables…); stderr as `WARN[0000] …` when absent. */
  warn?: (message: string) => void;
}
