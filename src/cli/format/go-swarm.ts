// Swarm objects as the docker CLI prints them: it decodes the daemon's JSON
// into moby's Go structs and encodes them again, so fields come in the
// structs' order, an `omitempty` zero value disappears and a nil pointer is
// left out while a pointer to a zero value stays (`"Init": false`).
import type { Node, Service } from '../../api/swarm.ts';
import { GO_STRUCT } from './template.ts';

/**
 * o: omitempty value; k: always (null when absent); n, b: a number or a bool,
 * always (0, false when absent); p: pointer (omitted only when absent); a
 * struct: always; { ptr }: a pointer to one; [struct]: a list of them.
 */
type Field = 'o' | 'k' | 'n' | 'b' | 'p' | Struct | { ptr: Struct } | [Struct];
interface Struct { [field: string]: Field }

const isEmpty = (x: unknown) => x === undefined || x === null || x === '' || x === 0 || x === false
  || (Array.isArray(x) && x.length === 0) || (typeof x === 'object' && !Array.isArray(x) && Object.keys(x as object).length === 0);

/** Go encodes a map with its keys sorted. */
function sortedMap(x: unknown): unknown {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return x;
  return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function encode(v: unknown, shape: Struct): Record<string, unknown> {
  const r = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(shape)) {
    const x = r[k];
    if (f === 'o') {
      if (!isEmpty(x)) out[k] = sortedMap(x);
    } else if (f === 'k') out[k] = sortedMap(x) ?? null;
    else if (f === 'n') out[k] = x ?? 0;
    else if (f === 'b') out[k] = x ?? false;
    else if (f === 'p') {
      if (x !== undefined && x !== null) out[k] = x;
    } else if (Array.isArray(f)) {
      if (Array.isArray(x) && x.length) out[k] = x.map((e) => encode(e, f[0]));
    } else if ('ptr' in f && typeof f.ptr === 'object') {
      if (x !== undefined && x !== null) out[k] = encode(x, f.ptr as Struct);
    } else out[k] = encode(x, f as Struct);
  }
  // A field berth's daemon sends that these structs lack is kept, at the end, rather than lost.
  for (const [k, x] of Object.entries(r)) if (!(k in shape) && x !== undefined) out[k] = x;
  Object.defineProperty(out, GO_STRUCT, { value: true, enumerable: false });
  return out;
}

/** Go's time.Time in JSON (RFC3339Nano): the fraction's trailing zeros dropped. */
export function goJsonTime(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  return v.replace(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d*?)0*(Z|[+-]\d\d:\d\d)$/, (_m, a: string, f: string, z: string) => `${a}${f ? '.' + f : ''}${z}`);
}

const META = { ID: 'o', Version: { Index: 'o' }, CreatedAt: 'o', UpdatedAt: 'o' } as const satisfies Struct;

function withTimes(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  for (const k of keys) if (k in o) o[k] = goJsonTime(o[k]);
  return o;
}

const FILE_TARGET: Struct = { Name: 'o', UID: 'o', GID: 'o', Mode: 'o' };
const MOUNT: Struct = {
  Type: 'o', Source: 'o', Target: 'o', ReadOnly: 'o', Consistency: 'o',
  BindOptions: { ptr: { Propagation: 'o', NonRecursive: 'o', CreateMountpoint: 'o', ReadOnlyNonRecursive: 'o', ReadOnlyForceRecursive: 'o' } },
  VolumeOptions: { ptr: { NoCopy: 'o', Labels: 'o', Subpath: 'o', DriverConfig: { ptr: { Name: 'o', Options: 'o' } } } },
  ImageOptions: { ptr: { Subpath: 'o' } },
  TmpfsOptions: { ptr: { SizeBytes: 'o', Mode: 'o', Options: 'o' } },
  ClusterOptions: 'p',
};
const CONTAINER_SPEC: Struct = {
  Image: 'o', Labels: 'o', Command: 'o', Args: 'o', Hostname: 'o', Env: 'o', Dir: 'o', User: 'o', Groups: 'o',
  Privileges: { ptr: { CredentialSpec: 'k', SELinuxContext: 'k', Seccomp: 'p', AppArmor: 'p', NoNewPrivileges: 'b' } },
  Init: 'p', StopSignal: 'o', TTY: 'o', OpenStdin: 'o', ReadOnly: 'o', Mounts: [MOUNT], StopGracePeriod: 'p',
  Healthcheck: { ptr: { Test: 'o', Interval: 'o', Timeout: 'o', StartPeriod: 'o', StartInterval: 'o', Retries: 'o' } },
  Hosts: 'o', DNSConfig: { ptr: { Nameservers: 'o', Search: 'o', Options: 'o' } },
  Secrets: [{ File: { ptr: FILE_TARGET }, SecretID: 'o', SecretName: 'o' }],
  Configs: [{ File: { ptr: FILE_TARGET }, Runtime: 'p', ConfigID: 'o', ConfigName: 'o' }],
  Isolation: 'o', Sysctls: 'o', CapabilityAdd: 'o', CapabilityDrop: 'o', Ulimits: [{ Name: 'o', Hard: 'o', Soft: 'o' }], OomScoreAdj: 'o',
};
const UPDATE_CONFIG: Struct = { Parallelism: 'n', Delay: 'o', FailureAction: 'o', Monitor: 'o', MaxFailureRatio: 'n', Order: 'o' };
const PORT: Struct = { Name: 'o', Protocol: 'o', TargetPort: 'o', PublishedPort: 'o', PublishMode: 'o' };
const ENDPOINT_SPEC: Struct = { Mode: 'o', Ports: [PORT] };
const TASK_SPEC: Struct = {
  ContainerSpec: { ptr: CONTAINER_SPEC }, PluginSpec: 'p', NetworkAttachmentSpec: 'p',
  Resources: { ptr: { Limits: { ptr: { NanoCPUs: 'o', MemoryBytes: 'o', Pids: 'o' } }, Reservations: { ptr: { NanoCPUs: 'o', MemoryBytes: 'o', GenericResources: 'o' } }, SwapBytes: 'p', MemorySwappiness: 'p' } },
  RestartPolicy: { ptr: { Condition: 'o', Delay: 'p', MaxAttempts: 'p', Window: 'p' } },
  Placement: { ptr: { Constraints: 'o', Preferences: [{ Spread: { ptr: { SpreadDescriptor: 'o' } } }], MaxReplicas: 'o', Platforms: [{ Architecture: 'o', OS: 'o' }] } },
  Networks: [{ Target: 'o', Aliases: 'o', DriverOpts: 'o' }],
  LogDriver: { ptr: { Name: 'o', Options: 'o' } },
  ForceUpdate: 'n', Runtime: 'o',
};
const SERVICE_SPEC: Struct = {
  Name: 'o', Labels: 'k', TaskTemplate: TASK_SPEC,
  Mode: { Replicated: { ptr: { Replicas: 'p' } }, Global: 'p', ReplicatedJob: { ptr: { MaxConcurrent: 'p', TotalCompletions: 'p' } }, GlobalJob: 'p' },
  UpdateConfig: { ptr: UPDATE_CONFIG }, RollbackConfig: { ptr: UPDATE_CONFIG }, Networks: 'o', EndpointSpec: { ptr: ENDPOINT_SPEC },
};
const SERVICE: Struct = {
  ...META, Spec: SERVICE_SPEC, PreviousSpec: { ptr: SERVICE_SPEC },
  Endpoint: { Spec: ENDPOINT_SPEC, Ports: [PORT], VirtualIPs: [{ NetworkID: 'o', Addr: 'o' }] },
  UpdateStatus: { ptr: { State: 'o', StartedAt: 'p', CompletedAt: 'p', Message: 'o' } },
  ServiceStatus: { ptr: { RunningTasks: 'n', DesiredTasks: 'n', CompletedTasks: 'n' } },
  JobStatus: 'p',
};
const NODE: Struct = {
  ...META,
  Spec: { Name: 'o', Labels: 'k', Role: 'o', Availability: 'o' },
  Description: {
    Hostname: 'o', Platform: { Architecture: 'o', OS: 'o' }, Resources: { NanoCPUs: 'o', MemoryBytes: 'o', GenericResources: 'o' },
    Engine: { EngineVersion: 'o', Labels: 'o', Plugins: [{ Type: 'o', Name: 'o' }] }, TLSInfo: { TrustRoot: 'o', CertIssuerSubject: 'o', CertIssuerPublicKey: 'o' }, CSIInfo: 'p',
  },
  Status: { State: 'o', Message: 'o', Addr: 'o' },
  ManagerStatus: { ptr: { Leader: 'o', Reachability: 'o', Addr: 'o' } },
};

export function goService(s: Service): Record<string, unknown> {
  const out = withTimes(encode(s, SERVICE), ['CreatedAt', 'UpdatedAt']);
  if (out.UpdateStatus) out.UpdateStatus = withTimes({ ...(out.UpdateStatus as Record<string, unknown>) }, ['StartedAt', 'CompletedAt']);
  return out;
}

export function goNode(n: Node): Record<string, unknown> {
  return withTimes(encode(n, NODE), ['CreatedAt', 'UpdatedAt']);
}
