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

/** omitempty fields of the structs (container and image config), by the key of the struct, with their zero value. */
const CONFIG_ZERO: Record<string, unknown> = {
  Healthcheck: null, StopSignal: '', StopTimeout: null, Shell: [], OnBuild: [], ArgsEscaped: false, NetworkDisabled: false,
  MacAddress: '', User: '', Env: [], Entrypoint: [], Cmd: [], WorkingDir: '', ExposedPorts: OPEN_ZERO, Volumes: OPEN_ZERO, Labels: OPEN_ZERO,
};
const ZERO_VALUES: Record<string, Record<string, unknown>> = { State: { Health: null }, Config: CONFIG_ZERO, ContainerConfig: CONFIG_ZERO };

/** The same for the top level, told apart by a field each shape has. */
function rootZero(obj: Record<string, unknown>): Record<string, unknown> | undefined {
  if ('RootFS' in obj) {
    return {
      Container: '', ContainerConfig: null, DockerVersion: '', Parent: '', Comment: '', Author: '', VirtualSize: 0,
      Variant: '', OsVersion: '', Descriptor: null, Manifests: [],
    };
  }
  if ('State' in obj) return { ImageManifestDescriptor: null };
  if ('IPAM' in obj) return { Peers: [], Services: OPEN_ZERO };
  return undefined;
}

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
  const walk = (v: unknown, key: string, parent: string) => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x, '', key);
      return;
    }
    if (!isMap(v)) return;
    const open = OPEN_MAPS.has(key) || (key === 'Config' && OPEN_CONFIG_PARENTS.has(parent));
    if (open) openMaps.add(v);
    else if (ZERO_VALUES[key]) zeroValues.set(v, zeroesFor(ZERO_VALUES[key], openMaps));
    for (const [k, x] of Object.entries(v)) walk(x, open ? '' : k, key);
  };
  walk(obj, '', '');
  const root = isMap(obj) ? rootZero(obj) : undefined;
  if (root) zeroValues.set(obj as object, zeroesFor(root, openMaps));
  return { missingKey: 'error', openMaps, zeroValues };
}
