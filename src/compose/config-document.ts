// The project as `docker compose config` prints it: the normalised model with
// empty values left out, keys in compose-go's order (its structs' field order;
// maps sorted), in YAML or JSON.
import { Scalar, stringify } from 'yaml';
import type { Project } from './model.ts';

const w = (s: string): string[] => s.split(' ');
// Field orders of compose-go's types (types/types.go, build.go, healthcheck.go).
const SERVICE = w('profiles annotations attach build develop blkio_config cap_add cap_drop cgroup_parent cgroup cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpus cpuset cpu_shares command configs container_name credential_spec depends_on deploy device_cgroup_rules devices dns dns_opt dns_search dockerfile domainname entrypoint provider environment env_file expose extends external_links extra_hosts group_add gpus hostname healthcheck image init ipc isolation labels label_file links logging log_driver log_opt mem_limit mem_reservation memswap_limit mem_swappiness mac_address models net network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform ports privileged pull_policy read_only restart runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode uts volume_driver volumes volumes_from working_dir pre_start post_start pre_stop');
const ORDERS: Array<[string, string[]]> = [
  ['services.*', SERVICE],
  ['services.*.build', w('context dockerfile dockerfile_inline entitlements args provenance sbom ssh labels cache_from cache_to no_cache no_cache_filter additional_contexts pull extra_hosts isolation network target secrets shm_size tags ulimits platforms privileged')],
  ['services.*.healthcheck', w('test timeout interval retries start_period start_interval disable')],
  ['services.*.volumes.*', w('type source target read_only consistency bind volume tmpfs image')],
  ['services.*.volumes.*.bind', w('selinux propagation create_host_path recursive')],
  ['services.*.volumes.*.volume', w('labels nocopy subpath')],
  ['services.*.volumes.*.tmpfs', w('size mode')],
  ['services.*.ports.*', w('name mode host_ip target published protocol app_protocol')],
  ['services.*.networks.*', w('aliases driver_opts gw_priority interface_name ipv4_address ipv6_address link_local_ips mac_address priority')],
  ['services.*.deploy', w('mode replicas labels update_config rollback_config resources restart_policy placement endpoint_mode')],
  ['services.*.deploy.resources', w('limits reservations')],
  ['services.*.deploy.resources.*', w('cpus memory pids devices generic_resources')],
  ['services.*.deploy.restart_policy', w('condition delay max_attempts window')],
  ['services.*.depends_on.*', w('condition restart required')],
  ['services.*.secrets.*', w('source target uid gid mode')],
  ['services.*.env_file.*', w('path required format')],
  ['services.*.configs.*', w('source target uid gid mode')],
  ['services.*.logging', w('driver options')],
  ['networks.*', w('name driver driver_opts ipam external internal attachable labels enable_ipv4 enable_ipv6')],
  ['networks.*.ipam', w('driver config options')],
  ['volumes.*', w('name driver driver_opts external labels')],
  ['secrets.*', w('name file environment content external labels driver driver_opts template_driver')],
  ['configs.*', w('name file environment content external labels driver driver_opts template_driver')],
  ['', w('name services networks volumes secrets configs models')],
];

// Sizes compose-go prints as strings of bytes (its UnitBytes).
const BYTE_KEYS = ['services.*.mem_limit', 'services.*.mem_reservation', 'services.*.memswap_limit', 'services.*.shm_size', 'services.*.build.shm_size', 'services.*.deploy.resources.*.memory', 'services.*.volumes.*.tmpfs.size'];

function matches(path: string[], pattern: string): boolean {
  const p = pattern.split('.');
  return p.length === path.length && p.every((x, i) => x === '*' || x === path[i]);
}

function orderFor(path: string[]): string[] | undefined {
  for (const [pattern, order] of ORDERS) {
    const p = pattern === '' ? [] : pattern.split('.');
    if (p.length === path.length && p.every((x, i) => x === '*' || x === path[i])) return order;
  }
  return undefined;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

/** Keeps nulls where they mean something: `networks: {default: null}`, `environment: {X: null}`. */
function keepsNull(path: string[]): boolean {
  return path.length === 3 && path[0] === 'services' && (path[2] === 'networks' || path[2] === 'environment' || path[2] === 'labels');
}

/**
 * A struct-like mapping (one compose-go has a type for) keeps its known
 * fields in order, empty ones dropped, then its extensions; any other mapping
 * is sorted by key, as Go marshals maps.
 */
function shape(v: unknown, path: string[]): unknown {
  if (Array.isArray(v)) return v.map((x, i) => shape(x, [...path, String(i)]));
  if (typeof v !== 'object' || v === null) return v;
  const obj = v as Record<string, unknown>;
  const order = orderFor(path);
  const keys = order
    ? [...order.filter((k) => k in obj), ...Object.keys(obj).filter((k) => !order.includes(k)).sort()]
    : Object.keys(obj).sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const x = obj[k];
    // volume: {} says "a volume mount with default options" in compose's output; keep it.
    const keepEmpty = order !== undefined && k === 'volume' && path[2] === 'volumes';
    if (x === null ? !keepsNull(path) && order !== undefined : isEmpty(x) && order !== undefined && !keepEmpty) continue;
    // A service's false flags (privileged, read_only, tty…) are omitempty in compose-go.
    if (x === false && path.length === 2 && path[0] === 'services') continue;
    if (BYTE_KEYS.some((b) => matches([...path, k], b)) && typeof x === 'number') {
      // omitempty: a size of 0 is not printed.
      if (x !== 0) out[k] = String(x);
      continue;
    }
    out[k] = shape(x, [...path, k]);
  }
  return out;
}

export function projectDocument(p: Project): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(p.services)) {
    const { name: _name, ...rest } = s;
    services[k] = rest;
  }
  return shape({ name: p.name, services, networks: p.networks, volumes: p.volumes, secrets: p.secrets, configs: p.configs, ...p.extensions }, []) as Record<string, unknown>;
}

// Go's yaml.v3 quotes what YAML 1.1 read as booleans, so older parsers read them back as strings.
const OLD_BOOLS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

function quoteOldBools(v: unknown): unknown {
  if (typeof v === 'string' && OLD_BOOLS.has(v)) {
    const q = new Scalar(v);
    q.type = 'QUOTE_DOUBLE';
    return q;
  }
  if (Array.isArray(v)) return v.map(quoteOldBools);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, quoteOldBools(x)]));
  return v;
}

export function renderYaml(doc: unknown): string {
  return stringify(quoteOldBools(doc), { indent: 2, lineWidth: 0, aliasDuplicateObjects: false });
}

/** Go's json.MarshalIndent(v, "", "  "), HTML characters escaped as Go does. */
export function renderJson(doc: unknown): string {
  return JSON.stringify(doc, null, 2).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}
