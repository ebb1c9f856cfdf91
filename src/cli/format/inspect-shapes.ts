// What the docker CLI's inspect knows from its typed structs and a template
// over raw JSON does not: which objects are Go maps (labels, options…, where a
// missing key prints `<no value>`) and which struct fields the daemon omits
// when empty (they print their zero value). docker inspect runs the template
// on its typed struct first and, only when that fails, on the raw JSON with
// missingkey=error; these two lists let a pass over the JSON stand for the first.
import type { TemplateOptions } from './template.ts';

/** Keys whose value is a Go map in the container, image and network inspect shapes. */
const OPEN_MAPS = new Set([
  'Labels', 'ExposedPorts', 'Volumes', 'Sysctls', 'StorageOpt', 'Tmpfs', 'Annotations', 'PortBindings', 'Ports',
  'Networks', 'DriverOpts', 'Data', 'Options', 'Containers', 'AuxiliaryAddresses', 'Services',
]);
/** `Config` is a map only below these (LogConfig.Config); elsewhere it is a struct. */
const OPEN_CONFIG_PARENTS = new Set(['LogConfig']);

const OPEN_ZERO = Symbol('an empty Go map');
type Zeroes = Record<string, unknown>;

/**
 * Zero values of the fields the JSON may omit (omitempty) or berth does not
 * fill, per struct. Only fields whose Go name is their JSON key: a template
 * naming one of the others (CpuShares for CPUShares) fails the typed pass too.
 */
const IMAGE_CONFIG: Zeroes = {
  User: '', ExposedPorts: OPEN_ZERO, Env: [], Entrypoint: [], Cmd: [], Volumes: OPEN_ZERO, WorkingDir: '', Labels: OPEN_ZERO,
  StopSignal: '', ArgsEscaped: false, Healthcheck: null, OnBuild: [], Shell: [],
};
const CONTAINER_CONFIG: Zeroes = {
  ...IMAGE_CONFIG, Hostname: '', Domainname: '', AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false,
  OpenStdin: false, StdinOnce: false, Image: '', NetworkDisabled: false, StopTimeout: null, MacAddress: '',
};
const HOST_CONFIG: Zeroes = {
  Annotations: OPEN_ZERO, Binds: [], BlkioDeviceReadBps: [], BlkioDeviceReadIOps: [], BlkioDeviceWriteBps: [], BlkioDeviceWriteIOps: [],
  BlkioWeight: 0, BlkioWeightDevice: [], CapAdd: [], CapDrop: [], Cgroup: '', CgroupParent: '', CgroupnsMode: '', ContainerIDFile: '',
  CpusetCpus: '',
  CpusetMems: '', DeviceCgroupRules: [], DeviceRequests: [], Devices: [], ExtraHosts: [], GroupAdd: [], IOMaximumBandwidth: 0,
  IOMaximumIOps: 0, Init: null, IpcMode: '', Isolation: '', Links: [], MaskedPaths: [], Memory: 0, MemoryReservation: 0, MemorySwap: 0,
  MemorySwappiness: null, Mounts: [], NetworkMode: '', OomKillDisable: null, OomScoreAdj: 0, PidMode: '', PidsLimit: null,
  PortBindings: OPEN_ZERO, Privileged: false, PublishAllPorts: false, ReadonlyPaths: [], ReadonlyRootfs: false, AutoRemove: false,
  Runtime: '', SecurityOpt: [], ShmSize: 0, StorageOpt: OPEN_ZERO, Sysctls: OPEN_ZERO, Tmpfs: OPEN_ZERO, UTSMode: '', Ulimits: [],
  UsernsMode: '', VolumeDriver: '', VolumesFrom: [],
};

/** Per shape (told apart by a field each has): the zeroes of the top level ('') and of the structs by their key. */
const SHAPES: { has: string; zeroes: Record<string, Zeroes> }[] = [
  {
    has: 'RootFS', // an image
    zeroes: {
      '': {
        Container: '', ContainerConfig: null, DockerVersion: '', Parent: '', Comment: '', Author: '', VirtualSize: 0,
        Variant: '', OsVersion: '', Descriptor: null, Manifests: [],
      },
      Config: IMAGE_CONFIG,
    },
  },
  { has: 'State', zeroes: { '': { ImageManifestDescriptor: null, SizeRw: null, SizeRootFs: null }, Config: CONTAINER_CONFIG, HostConfig: HOST_CONFIG, State: { Health: null } } },
  { has: 'IPAM', zeroes: { '': { Peers: [], Services: OPEN_ZERO } } },
];

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fresh zero values (a template may not share them between objects); empty maps count as Go maps. */
function zeroesFor(spec: Record<string, unknown>, openMaps: WeakSet<object>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec).map(([k, z]) => {
    if (z !== OPEN_ZERO) return [k, Array.isArray(z) ? [] : z];
    const m = {};
    openMaps.add(m);
    return [k, m];
  }));
}

/** Template options for `inspect -f` over `obj` (a container, image or network as the API returns it). */
export function inspectTemplateOptions(obj: unknown): TemplateOptions {
  const openMaps = new WeakSet<object>();
  const zeroValues = new WeakMap<object, Record<string, unknown>>();
  if (!isMap(obj)) return { missingKey: 'error', openMaps, zeroValues };
  const shape = SHAPES.find((s) => s.has in obj)?.zeroes ?? {};
  const walk = (v: unknown, key: string, parent: string) => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x, '', key);
      return;
    }
    if (!isMap(v)) return;
    const open = OPEN_MAPS.has(key) || (key === 'Config' && OPEN_CONFIG_PARENTS.has(parent));
    if (open) openMaps.add(v);
    else if (key && shape[key]) zeroValues.set(v, zeroesFor(shape[key], openMaps));
    for (const [k, x] of Object.entries(v)) walk(x, open ? '' : k, key);
  };
  walk(obj, '', '');
  if (shape['']) zeroValues.set(obj, zeroesFor(shape[''], openMaps));
  return { missingKey: 'error', openMaps, zeroValues };
}
