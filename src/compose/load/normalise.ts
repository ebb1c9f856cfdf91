// The merged project in the model's long forms: services normalised, the
// implicit default network added where used, and the engine's names of
// networks, volumes, secrets and configs resolved.
import type { FileObjectConfig, NetworkConfig, Service, VolumeConfig } from '../model.ts';
import { isMapping, type Mapping } from './errors.ts';
import { toKeyValueMap } from './merge.ts';
import { hostPath, normaliseService, type ServiceContext } from './normalise-service.ts';

export interface Normalised {
  services: Record<string, Service>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, FileObjectConfig>;
  configs: Record<string, FileObjectConfig>;
}

function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(toKeyValueMap(v))) out[k] = x === null || x === undefined ? '' : String(x);
  return out;
}

/** `<project>_<key>` unless the file names it; an external resource is known by its key. */
function resourceName(project: string, key: string, def: Mapping): string {
  if (typeof def.name === 'string' && def.name !== '') return def.name;
  return def.external ? key : `${project}_${key}`;
}

function resource<T>(project: string, key: string, raw: unknown, named = true): T {
  const def: Mapping = isMapping(raw) ? { ...raw } : {};
  const out: Mapping = named || (typeof def.name === 'string' && def.name !== '') ? { name: resourceName(project, key, def) } : {};
  for (const [k, v] of Object.entries(def)) {
    if (k === 'name') continue;
    if (k === 'labels') out.labels = labels(v);
    else if (k === 'driver_opts') out.driver_opts = labels(v);
    // The long-gone `external: {name: x}` form.
    else if (k === 'external' && isMapping(v)) {
      out.external = true;
      if (typeof v.name === 'string') out.name = v.name;
    } else out[k] = v;
  }
  return out as T;
}

export function normaliseProject(project: string, model: Mapping, ctx: ServiceContext): Normalised {
  const services: Record<string, Service> = {};
  for (const [name, raw] of Object.entries((model.services as Mapping | undefined) ?? {})) {
    services[name] = normaliseService(name, (raw ?? {}) as Mapping, ctx);
  }
  const networks: Record<string, NetworkConfig> = {};
  for (const [k, v] of Object.entries((model.networks as Mapping | undefined) ?? {})) networks[k] = resource(project, k, v, !ctx.noNormalize);
  // The implicit default network exists as soon as one service is on it.
  if (!ctx.noNormalize && !networks.default && Object.values(services).some((s) => 'default' in s.networks)) {
    networks.default = { name: `${project}_default` };
  }
  const volumes: Record<string, VolumeConfig> = {};
  for (const [k, v] of Object.entries((model.volumes as Mapping | undefined) ?? {})) {
    const vol = resource<VolumeConfig>(project, k, v, !ctx.noNormalize);
    // A local volume that is a bind mount in disguise (o=bind): its device is a host path.
    const dev = vol.driver_opts?.device;
    if (vol.driver === 'local' && vol.driver_opts?.o === 'bind' && dev !== undefined) {
      vol.driver_opts = { ...vol.driver_opts, device: hostPath(dev, ctx) };
    }
    volumes[k] = vol;
  }
  const fileObjects = (key: 'secrets' | 'configs'): Record<string, FileObjectConfig> => {
    const out: Record<string, FileObjectConfig> = {};
    for (const [k, v] of Object.entries((model[key] as Mapping | undefined) ?? {})) {
      const r = resource<FileObjectConfig>(project, k, v, !ctx.noNormalize);
      if (r.file !== undefined) r.file = hostPath(String(r.file), ctx);
      // Environment-backed: the content is the variable's value, as compose resolves it.
      if (r.environment !== undefined && r.content === undefined && ctx.env[r.environment] !== undefined) r.content = ctx.env[r.environment];
      out[k] = r;
    }
    return out;
  };
  return { services, networks, volumes, secrets: fileObjects('secrets'), configs: fileObjects('configs') };
}
