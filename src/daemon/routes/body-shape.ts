// Request bodies decoded as dockerd's Go structs would be: a value of the
// wrong JSON type is a 400 with encoding/json's wording, unknown fields are
// ignored. A field sent as null stays null (Go's nil pointer, or its zero
// value: the services read both as "not set"); a null list or map element
// is its element's zero value, as Go makes it. The services behind can then
// trust the types they declare.
import { InvalidArgumentError } from '../../errors.ts';

export type Shape =
  | 'string' | 'int' | 'uint' | 'number' | 'bool' | 'any'
  | { list: Shape }
  | { map: Shape }
  | { fields: Record<string, Shape> };

const GO_TYPE: Record<string, string> = { string: 'string', int: 'int64', uint: 'uint', number: 'float64', bool: 'bool' };

function kind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return `number ${v}`;
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

function goType(s: Shape): string {
  if (typeof s === 'string') return GO_TYPE[s] ?? 'interface {}';
  if ('list' in s) return `[]${goType(s.list)}`;
  if ('map' in s) return `map[string]${goType(s.map)}`;
  return 'struct';
}

/** The zero value Go leaves for a `null` list or map element (null for structs, lists and maps). */
function zero(s: Shape): unknown {
  return s === 'string' ? '' : s === 'int' || s === 'uint' || s === 'number' ? 0 : s === 'bool' ? false : null;
}

function decode(v: unknown, s: Shape, root: string, path: string): unknown {
  const fail = (): never => {
    const k = kind(v);
    throw new InvalidArgumentError(path
      ? `json: cannot unmarshal ${k.startsWith('number') && (s === 'int' || s === 'uint') ? k : k.split(' ')[0]} into Go struct field ${root}.${path} of type ${goType(s)}`
      : `json: cannot unmarshal ${k.split(' ')[0]} into Go value of type ${root}`);
  };
  if (s === 'any') return v;
  if (typeof s === 'string') {
    const ok = s === 'string' ? typeof v === 'string'
      : s === 'bool' ? typeof v === 'boolean'
      : s === 'number' ? typeof v === 'number'
      : typeof v === 'number' && Number.isInteger(v) && (s === 'int' || v >= 0);
    return ok ? v : fail();
  }
  if ('list' in s) {
    if (!Array.isArray(v)) return fail();
    return v.map((e) => (e === null ? zero(s.list) : decode(e, s.list, root, path)));
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail();
  const out: Record<string, unknown> = {};
  const given = v as Record<string, unknown>;
  for (const [key, e] of Object.entries(given)) {
    // As Go's encoding/json: a key matches its field case-insensitively (docker-py sends
    // ServiceMode as {"replicated": …}), an exact match winning over a folded one.
    const k = 'map' in s || key in s.fields ? key : Object.keys(s.fields).find((f) => f.toLowerCase() === key.toLowerCase() && !(f in given)) ?? key;
    const inner = 'map' in s ? s.map : s.fields[k];
    if (inner === undefined) out[k] = e;
    else if (e === null) out[k] = 'map' in s ? zero(inner) : null;
    else out[k] = decode(e, inner, root, 'map' in s ? path : path ? `${path}.${k}` : k);
  }
  return out;
}

/** A parsed JSON body as the Go struct `root` (e.g. container.CreateRequest) would take it; `null` is an empty one. */
export function decodeBody<T>(body: unknown, shape: Shape, root: string): T {
  if (body === null) return {} as T;
  return decode(body, shape, root, '') as T;
}

const strings: Shape = { list: 'string' };
const stringMap: Shape = { map: 'string' };
const emptyObjects: Shape = { map: 'any' };

const endpoint: Shape = {
  fields: {
    IPAMConfig: { fields: { IPv4Address: 'string', IPv6Address: 'string', LinkLocalIPs: strings } },
    Links: strings, Aliases: strings, MacAddress: 'string', DriverOpts: stringMap, NetworkID: 'string', EndpointID: 'string',
    Gateway: 'string', IPAddress: 'string', DNSNames: strings,
  },
};

export const CONTAINER_CONFIG: { fields: Record<string, Shape> } = {
  fields: {
    Hostname: 'string', Domainname: 'string', User: 'string', AttachStdin: 'bool', AttachStdout: 'bool', AttachStderr: 'bool',
    ExposedPorts: emptyObjects, Tty: 'bool', OpenStdin: 'bool', StdinOnce: 'bool', Env: strings, Cmd: strings,
    Healthcheck: { fields: { Test: strings, Interval: 'int', Timeout: 'int', StartPeriod: 'int', StartInterval: 'int', Retries: 'int' } },
    ArgsEscaped: 'bool', Image: 'string', Volumes: emptyObjects, WorkingDir: 'string', Entrypoint: strings, NetworkDisabled: 'bool',
    MacAddress: 'string', OnBuild: strings, Labels: stringMap, StopSignal: 'string', StopTimeout: 'int', Shell: strings,
  },
};

/** HostConfig.Mounts, also a service's ContainerSpec.Mounts (swarm's mount.Mount). */
const HOST_CONFIG_MOUNTS: Shape = {
  list: {
    fields: {
      Type: 'string', Source: 'string', Target: 'string', ReadOnly: 'bool', Consistency: 'string',
      BindOptions: { fields: { Propagation: 'string', NonRecursive: 'bool', CreateMountpoint: 'bool', ReadOnlyNonRecursive: 'bool', ReadOnlyForceRecursive: 'bool' } },
      VolumeOptions: { fields: { NoCopy: 'bool', Labels: stringMap, Subpath: 'string', DriverConfig: { fields: { Name: 'string', Options: stringMap } } } },
      TmpfsOptions: { fields: { SizeBytes: 'int', Mode: 'uint', Options: { list: strings } } },
      ImageOptions: { fields: { Subpath: 'string' } },
      ClusterOptions: 'any',
    },
  },
};

const throttle: Shape = { list: { fields: { Path: 'string', Rate: 'uint' } } };
const HOST_CONFIG: Shape = {
  fields: {
    Binds: strings, ContainerIDFile: 'string', LogConfig: { fields: { Type: 'string', Config: stringMap } }, NetworkMode: 'string',
    PortBindings: { map: { list: { fields: { HostIp: 'string', HostPort: 'string' } } } },
    RestartPolicy: { fields: { Name: 'string', MaximumRetryCount: 'int' } }, AutoRemove: 'bool', VolumeDriver: 'string', VolumesFrom: strings,
    CapAdd: strings, CapDrop: strings, CgroupnsMode: 'string', Dns: strings, DnsOptions: strings, DnsSearch: strings, ExtraHosts: strings,
    GroupAdd: strings, IpcMode: 'string', Cgroup: 'string', Links: strings, OomScoreAdj: 'int', PidMode: 'string', Privileged: 'bool',
    PublishAllPorts: 'bool', ReadonlyRootfs: 'bool', SecurityOpt: strings, StorageOpt: stringMap, Tmpfs: stringMap, UTSMode: 'string',
    UsernsMode: 'string', ShmSize: 'int', Sysctls: stringMap, Runtime: 'string', Isolation: 'string', CpuShares: 'int', Memory: 'int',
    NanoCpus: 'int', CgroupParent: 'string', MemorySwap: 'int', MemoryReservation: 'int', MemorySwappiness: 'int', PidsLimit: 'int',
    CpuPeriod: 'int', CpuQuota: 'int', CpuRealtimePeriod: 'int', CpuRealtimeRuntime: 'int', CpusetCpus: 'string', CpusetMems: 'string',
    BlkioWeight: 'uint', OomKillDisable: 'bool', KernelMemory: 'int',
    BlkioWeightDevice: { list: { fields: { Path: 'string', Weight: 'uint' } } },
    BlkioDeviceReadBps: throttle, BlkioDeviceWriteBps: throttle, BlkioDeviceReadIOps: throttle, BlkioDeviceWriteIOps: throttle,
    Ulimits: { list: { fields: { Name: 'string', Soft: 'int', Hard: 'int' } } },
    Devices: { list: { fields: { PathOnHost: 'string', PathInContainer: 'string', CgroupPermissions: 'string' } } },
    DeviceCgroupRules: strings, Init: 'bool', ConsoleSize: { list: 'uint' }, MaskedPaths: strings, ReadonlyPaths: strings,
    Mounts: HOST_CONFIG_MOUNTS,

  },
};

export const CONTAINER_CREATE: Shape = {
  fields: { ...CONTAINER_CONFIG.fields, HostConfig: HOST_CONFIG, NetworkingConfig: { fields: { EndpointsConfig: { map: endpoint } } } },
};

/** POST /containers/{id}/update: container.UpdateConfig, the resource fields of a HostConfig and its restart policy. */
export const CONTAINER_UPDATE: Shape = {
  fields: Object.fromEntries(Object.entries((HOST_CONFIG as { fields: Record<string, Shape> }).fields).filter(([k]) => [
    'Memory', 'MemorySwap', 'MemoryReservation', 'MemorySwappiness', 'KernelMemory', 'OomKillDisable', 'CpuShares', 'CpuPeriod', 'CpuQuota',
    'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'NanoCpus', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight', 'BlkioWeightDevice',
    'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps', 'RestartPolicy',
  ].includes(k))),
};

export const NETWORK_CREATE: Shape = {
  fields: {
    Name: 'string', Driver: 'string', Scope: 'string', Internal: 'bool', Attachable: 'bool', Ingress: 'bool', EnableIPv4: 'bool', EnableIPv6: 'bool',
    IPAM: { fields: { Driver: 'string', Options: stringMap, Config: { list: { fields: { Subnet: 'string', IPRange: 'string', Gateway: 'string', AuxiliaryAddresses: stringMap } } } } },
    Options: stringMap, Labels: stringMap, ConfigOnly: 'bool', ConfigFrom: { fields: { Network: 'string' } },
  },
};

export const NETWORK_CONNECT: Shape = { fields: { Container: 'string', EndpointConfig: endpoint } };
export const NETWORK_DISCONNECT: Shape = { fields: { Container: 'string', Force: 'bool' } };

export const EXEC_CREATE: Shape = {
  fields: {
    AttachStdin: 'bool', AttachStdout: 'bool', AttachStderr: 'bool', DetachKeys: 'string', Tty: 'bool', Env: strings, Cmd: strings,
    Privileged: 'bool', User: 'string', WorkingDir: 'string', ConsoleSize: { list: 'uint' },
  },
};

export const AUTH_CONFIG: Shape = {
  fields: { username: 'string', password: 'string', auth: 'string', email: 'string', serveraddress: 'string', identitytoken: 'string', registrytoken: 'string' },
};

export const EXEC_START: Shape = { fields: { Detach: 'bool', Tty: 'bool', ConsoleSize: { list: 'uint' } } };

/** volume.CreateOptions (ClusterVolumeSpec: swarm only, accepted and ignored as by a dockerd in no swarm). */
export const VOLUME_CREATE: Shape = { fields: { Name: 'string', Driver: 'string', DriverOpts: stringMap, Labels: stringMap, ClusterVolumeSpec: 'any' } };

/** swarm.InitRequest: the fields berth reads (the rest pass as Go ignores them). */
export const SWARM_INIT: Shape = {
  fields: { ListenAddr: 'string', AdvertiseAddr: 'string', DataPathAddr: 'string', DataPathPort: 'uint', DefaultAddrPool: strings, SubnetSize: 'uint', ForceNewCluster: 'bool', AutoLockManagers: 'bool', Availability: 'string', Spec: { fields: { Name: 'string', Labels: stringMap, CAConfig: 'any', EncryptionConfig: 'any' } } },
};

export const SWARM_UNLOCK: Shape = { fields: { UnlockKey: 'string' } };

export const SWARM_JOIN: Shape = {
  fields: { ListenAddr: 'string', AdvertiseAddr: 'string', DataPathAddr: 'string', RemoteAddrs: strings, JoinToken: 'string', Availability: 'string' },
};

/** swarm.Spec as `swarm update` sends it back: kept whole, its parts as JSON objects. */
export const SWARM_SPEC: Shape = {
  fields: { Name: 'string', Labels: stringMap, Orchestration: 'any', Raft: 'any', Dispatcher: 'any', CAConfig: 'any', EncryptionConfig: 'any', TaskDefaults: 'any' },
};

export const NODE_SPEC: Shape = {
  fields: { Name: 'string', Labels: stringMap, Role: 'string', Availability: 'string' },
};

/** swarm.ServiceSpec: the fields the scheduler and the agent read, typed as dockerd's struct. */
const fileRefs: Shape = {
  list: {
    fields: {
      File: { fields: { Name: 'string', UID: 'string', GID: 'string', Mode: 'uint' } },
      SecretID: 'string', SecretName: 'string', ConfigID: 'string', ConfigName: 'string', Runtime: 'any',
    },
  },
};
const resources: Shape = { fields: { NanoCPUs: 'int', MemoryBytes: 'int', Pids: 'int' } };
const updateConfig: Shape = { fields: { Parallelism: 'uint', Delay: 'int', FailureAction: 'string', Monitor: 'int', MaxFailureRatio: 'number', Order: 'string' } };

export const SERVICE_SPEC: Shape = {
  fields: {
    Name: 'string', Labels: stringMap,
    TaskTemplate: {
      fields: {
        ContainerSpec: {
          fields: {
            Image: 'string', Labels: stringMap, Command: strings, Args: strings, Hostname: 'string', Env: strings, Dir: 'string',
            User: 'string', TTY: 'bool', OpenStdin: 'bool', StopSignal: 'string', StopGracePeriod: 'int', Init: 'bool',
            Healthcheck: { fields: { Test: strings, Interval: 'int', Timeout: 'int', StartPeriod: 'int', StartInterval: 'int', Retries: 'int' } },
            Secrets: fileRefs, Configs: fileRefs, Mounts: HOST_CONFIG_MOUNTS,
          },
        },
        RestartPolicy: { fields: { Condition: 'string', Delay: 'int', MaxAttempts: 'uint', Window: 'int' } },
        Resources: { fields: { Limits: resources, Reservations: resources } },
        Placement: {
          fields: {
            Constraints: strings, MaxReplicas: 'uint',
            Preferences: { list: { fields: { Spread: { fields: { SpreadDescriptor: 'string' } } } } },
            Platforms: { list: { fields: { Architecture: 'string', OS: 'string' } } },
          },
        },
        ForceUpdate: 'uint', Runtime: 'string',
      },
    },
    Mode: { fields: { Replicated: { fields: { Replicas: 'uint' } }, Global: 'any', ReplicatedJob: 'any', GlobalJob: 'any' } },
    UpdateConfig: updateConfig, RollbackConfig: updateConfig,
  },
};

/** swarm.SecretSpec and swarm.ConfigSpec (Data is base64, as Go's []byte). */
export const FILE_SPEC: Shape = {
  fields: {
    Name: 'string', Labels: stringMap, Data: 'string',
    Driver: { fields: { Name: 'string', Options: stringMap } }, Templating: { fields: { Name: 'string', Options: stringMap } },
  },
};
