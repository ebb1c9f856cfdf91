// The spec's "Merge and override": how a later file (or an extending service)
// changes an earlier one. Mappings merge key by key, sequences append, scalars
// are replaced; command/entrypoint/healthcheck.test are replaced whole; the
// key=value forms (environment, labels…) merge by key; ports, volumes, secrets
// and configs keep one entry per unique key (the later wins, in the earlier's
// place). `!reset` removes, `!override` replaces.
import { ComposeError, isMapping, type Mapping } from './errors.ts';
import { Override, RESET } from './yaml.ts';

type Path = string[];

function matches(path: Path, pattern: string): boolean {
  const p = pattern.split('.');
  return p.length === path.length && p.every((x, i) => x === '*' || x === path[i]);
}

/** `["A=1", "B"]` or `{A: 1}` as one mapping; a bare `B` has the value null. */
export function toKeyValueMap(v: unknown, sep = '='): Mapping {
  if (isMapping(v)) return { ...v };
  const out: Mapping = {};
  if (Array.isArray(v)) {
    for (const e of v) {
      const s = String(e);
      const i = s.indexOf(sep);
      if (i < 0) out[s] = null;
      else out[s.slice(0, i)] = s.slice(i + 1);
    }
  }
  return out;
}

/** Service `networks` / `depends_on` as a mapping (the list form means defaults). */
function toNameMap(v: unknown, dflt: () => unknown): Mapping {
  if (isMapping(v)) return { ...v };
  const out: Mapping = {};
  if (Array.isArray(v)) for (const n of v) out[String(n)] = dflt();
  return out;
}

const KEY_VALUE = [
  'services.*.environment', 'services.*.labels', 'services.*.annotations', 'services.*.build.args',
  'services.*.build.labels', 'services.*.build.additional_contexts', 'services.*.deploy.labels',
  'services.*.sysctls', 'services.*.volumes.*.volume.labels', 'networks.*.labels', 'volumes.*.labels',
  'secrets.*.labels', 'configs.*.labels', 'networks.*.driver_opts', 'volumes.*.driver_opts',
];
const REPLACED = ['services.*.command', 'services.*.entrypoint', 'services.*.healthcheck.test'];

function mergeAt(base: unknown, over: unknown, path: Path): unknown {
  if (over === RESET) return RESET;
  if (over instanceof Override) return over.value;
  if (over === undefined) return base;
  if (base instanceof Override) base = base.value;
  if (base === undefined || base === RESET) return over;
  if (REPLACED.some((p) => matches(path, p))) return over;
  if (KEY_VALUE.some((p) => matches(path, p))) {
    return mergeMappings(toKeyValueMap(base), toKeyValueMap(over), path);
  }
  if (matches(path, 'services.*.networks')) return mergeMappings(toNameMap(base, () => null), toNameMap(over, () => null), path);
  if (matches(path, 'services.*.depends_on')) {
    const dflt = (): Mapping => ({ condition: 'service_started', required: true });
    return mergeMappings(toNameMap(base, dflt), toNameMap(over, dflt), path);
  }
  if (matches(path, 'services.*.build')) {
    const b = typeof base === 'string' ? { context: base } : base;
    const o = typeof over === 'string' ? { context: over } : over;
    return mergeAt2(b, o, path);
  }
  if (matches(path, 'services.*.extra_hosts') || matches(path, 'services.*.build.extra_hosts')) {
    if (isMapping(base) && isMapping(over)) return mergeMappings(base, over, path);
    return [...hostList(base), ...hostList(over)];
  }
  if (matches(path, 'services.*.logging') && isMapping(base) && isMapping(over)) {
    // Another driver's options mean nothing to this one.
    if (over.driver !== undefined && base.driver !== undefined && over.driver !== base.driver) return over;
    return mergeMappings(base, over, path);
  }
  if (matches(path, 'services.*.ulimits.*') && (!isMapping(base) || !isMapping(over))) return over;
  if (['dns', 'dns_search', 'dns_opt', 'tmpfs', 'env_file', 'label_file'].some((k) => matches(path, `services.*.${k}`))) {
    return [...asList(base), ...asList(over)];
  }
  return mergeAt2(base, over, path);
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function hostList(v: unknown): string[] {
  if (isMapping(v)) {
    return Object.entries(v).flatMap(([h, ip]) => (Array.isArray(ip) ? ip : [ip]).map((i) => `${h}=${String(i)}`));
  }
  return asList(v).map(String);
}

function mergeAt2(base: unknown, over: unknown, path: Path): unknown {
  if (isMapping(base)) {
    if (!isMapping(over)) {
      if (over === null) return base;
      throw new ComposeError(`cannot override ${path.join('.')}`);
    }
    return mergeMappings(base, over, path);
  }
  if (Array.isArray(base)) {
    if (!Array.isArray(over)) {
      if (over === null) return base;
      throw new ComposeError(`cannot override ${path.join('.')}`);
    }
    return [...base, ...over];
  }
  return over;
}

function mergeMappings(base: Mapping, over: Mapping, path: Path): Mapping {
  const out: Mapping = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeAt(base[k], v, [...path, k]);
  return out;
}

/** Merges two parsed compose files (or two service definitions under `path`). */
export function mergeModels(base: Mapping, over: Mapping, path: Path = []): Mapping {
  return mergeMappings(base, over, path);
}

/** Drops `!reset` keys and unwraps `!override` values left once all merging is done. */
export function stripMarkers(v: unknown): unknown {
  if (v instanceof Override) return stripMarkers(v.value);
  if (Array.isArray(v)) return v.filter((x) => x !== RESET).map(stripMarkers);
  if (isMapping(v)) {
    const out: Mapping = {};
    for (const [k, x] of Object.entries(v)) if (x !== RESET) out[k] = stripMarkers(x);
    return out;
  }
  return v;
}

// ---- one entry per unique key (compose-go override/uncity.go's rules) ----

function volumeKey(v: unknown): string {
  if (isMapping(v)) return String(v.target ?? '');
  const parts = String(v).split(':');
  // "src:dst[:mode]" or "dst"; a Windows-style drive letter is not supported here.
  return parts.length === 1 ? parts[0] : parts[1];
}

function portKey(v: unknown): string {
  if (isMapping(v)) return `${String(v.host_ip ?? '')}:${String(v.published ?? '')}:${String(v.target ?? '')}/${String(v.protocol ?? 'tcp')}`;
  return String(v);
}

function mountKey(prefix: string) {
  return (v: unknown): string => {
    if (isMapping(v)) return v.target !== undefined ? String(v.target) : `${prefix}${String(v.source)}`;
    return `${prefix}${String(v)}`;
  };
}

const UNIQUE: Array<[string, (v: unknown) => string]> = [
  ['services.*.volumes', volumeKey],
  ['services.*.ports', portKey],
  ['services.*.secrets', mountKey('/run/secrets/')],
  ['services.*.configs', mountKey('/')],
  ['services.*.cap_add', String],
  ['services.*.cap_drop', String],
  ['services.*.expose', String],
  ['services.*.profiles', String],
  ['services.*.links', String],
  ['services.*.dns', String],
  ['services.*.dns_opt', String],
  ['services.*.dns_search', String],
  ['services.*.tmpfs', String],
  ['services.*.security_opt', String],
  ['services.*.networks.*.aliases', String],
  ['services.*.env_file', (v) => (isMapping(v) ? String(v.path) : String(v))],
];

/** A later entry with an earlier one's key takes that entry's place. */
export function enforceUnicity(v: unknown, path: Path = []): unknown {
  if (Array.isArray(v)) {
    const rule = UNIQUE.find(([p]) => matches(path, p));
    const items = v.map((x, i) => enforceUnicity(x, [...path, String(i)]));
    if (!rule) return items;
    const out: unknown[] = [];
    const at = new Map<string, number>();
    for (const x of items) {
      const k = rule[1](x);
      const i = at.get(k);
      if (i === undefined) {
        at.set(k, out.length);
        out.push(x);
      } else {
        out[i] = x;
      }
    }
    return out;
  }
  if (isMapping(v)) {
    const out: Mapping = {};
    for (const [k, x] of Object.entries(v)) out[k] = enforceUnicity(x, [...path, k]);
    return out;
  }
  return v;
}
