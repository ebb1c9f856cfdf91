// Variable substitution in compose values (the spec's "Interpolation"):
// `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`,
// `${VAR:+a}`, `${VAR+a}`, nesting in the default/alternative/message, and `$$`.
// Applied to values only, never keys, per file before merging.
import { ComposeError, isMapping, type Mapping } from './errors.ts';
import { Override, RESET } from './yaml.ts';

export type Lookup = (name: string) => string | undefined;

/** A `${...}` that is not a valid substitution; the caller names the key. */
export class InvalidTemplateError extends Error {}

/** `${VAR:?msg}` on an unset (or empty) variable. */
export class MissingRequiredError extends Error {
  constructor(variable: string, reason: string) {
    super(reason ? `required variable ${variable} is missing a value: ${reason}` : `required variable ${variable} is missing a value`);
  }
}

const NAME_START = /[_a-zA-Z]/;
const NAME = /[_a-zA-Z0-9]/;
const BRACED = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-+?])([\s\S]*))?$/;

/** Index of the `}` closing the `${` at `open`, counting nested braces; -1 if none. */
function closingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * Substitutes one string. `unset` is told each variable read but not set
 * (compose warns and uses "").
 */
export function substitute(template: string, lookup: Lookup, unset?: (name: string) => void): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next !== undefined && NAME_START.test(next)) {
      let j = i + 2;
      while (j < template.length && NAME.test(template[j])) j++;
      const name = template.slice(i + 1, j);
      const v = lookup(name);
      if (v === undefined) unset?.(name);
      out += v ?? '';
      i = j;
    } else if (next === '{') {
      const end = closingBrace(template, i + 1);
      if (end < 0) throw new InvalidTemplateError(template);
      const m = BRACED.exec(template.slice(i + 2, end));
      if (!m) throw new InvalidTemplateError(template);
      out += braced(m[1], m[2], m[3] ?? '', lookup, unset);
      i = end + 1;
    } else {
      // Not a variable: compose keeps the `$` as written.
      out += '$';
      i++;
    }
  }
  return out;
}

function braced(name: string, op: string | undefined, arg: string, lookup: Lookup, unset?: (name: string) => void): string {
  const v = lookup(name);
  const inner = (): string => substitute(arg, lookup, unset);
  switch (op) {
    case undefined:
      if (v === undefined) unset?.(name);
      return v ?? '';
    case ':-': return v === undefined || v === '' ? inner() : v;
    case '-': return v === undefined ? inner() : v;
    case ':+': return v !== undefined && v !== '' ? inner() : (v ?? '');
    case '+': return v !== undefined ? inner() : '';
    case ':?': if (v === undefined || v === '') throw new MissingRequiredError(name, inner()); return v;
    case '?': if (v === undefined) throw new MissingRequiredError(name, inner()); return v;
    default: throw new InvalidTemplateError(name);
  }
}

// Values compose turns back into numbers and booleans after substitution
// (compose-go loader/interpolate.go's cast table); `*` is any key or index.
const CASTS: Array<[string[], 'int' | 'float' | 'bool']> = [
  ...(['cpu_count', 'cpu_period', 'cpu_quota', 'cpu_rt_period', 'cpu_rt_runtime', 'cpu_shares', 'oom_score_adj', 'pids_limit', 'scale'] as const)
    .map((k): [string[], 'int'] => [['services', '*', k], 'int']),
  [['services', '*', 'cpu_percent'], 'float'],
  [['services', '*', 'cpus'], 'float'],
  ...(['init', 'oom_kill_disable', 'privileged', 'read_only', 'stdin_open', 'tty'] as const)
    .map((k): [string[], 'bool'] => [['services', '*', k], 'bool']),
  [['services', '*', 'depends_on', '*', 'required'], 'bool'],
  [['services', '*', 'depends_on', '*', 'restart'], 'bool'],
  [['services', '*', 'deploy', 'replicas'], 'int'],
  [['services', '*', 'deploy', 'restart_policy', 'max_attempts'], 'int'],
  [['services', '*', 'deploy', 'update_config', 'parallelism'], 'int'],
  [['services', '*', 'deploy', 'update_config', 'max_failure_ratio'], 'float'],
  [['services', '*', 'deploy', 'rollback_config', 'parallelism'], 'int'],
  [['services', '*', 'deploy', 'rollback_config', 'max_failure_ratio'], 'float'],
  [['services', '*', 'deploy', 'placement', 'max_replicas_per_node'], 'int'],
  [['services', '*', 'healthcheck', 'retries'], 'int'],
  [['services', '*', 'healthcheck', 'disable'], 'bool'],
  [['services', '*', 'ports', '*', 'target'], 'int'],
  [['services', '*', 'ulimits', '*'], 'int'],
  [['services', '*', 'ulimits', '*', 'hard'], 'int'],
  [['services', '*', 'ulimits', '*', 'soft'], 'int'],
  [['services', '*', 'volumes', '*', 'read_only'], 'bool'],
  [['services', '*', 'volumes', '*', 'volume', 'nocopy'], 'bool'],
  ...(['external', 'internal', 'attachable', 'enable_ipv4', 'enable_ipv6'] as const)
    .map((k): [string[], 'bool'] => [['networks', '*', k], 'bool']),
  [['volumes', '*', 'external'], 'bool'],
  [['secrets', '*', 'external'], 'bool'],
  [['configs', '*', 'external'], 'bool'],
];

function castFor(path: string[]): 'int' | 'float' | 'bool' | undefined {
  for (const [pattern, kind] of CASTS) {
    if (pattern.length === path.length && pattern.every((p, i) => p === '*' || p === path[i])) return kind;
  }
  return undefined;
}

function cast(value: string, kind: 'int' | 'float' | 'bool', where: string, warn: (m: string) => void): unknown {
  if (kind === 'bool') {
    const l = value.toLowerCase();
    if (l === 'true' || l === 'false') return l === 'true';
    if (['y', 'yes', 'on', 'n', 'no', 'off'].includes(l)) {
      const b = ['y', 'yes', 'on'].includes(l);
      warn(`"${value}" for boolean is not supported by YAML 1.2, please use \`${b}\``);
      return b;
    }
    throw new ComposeError(`error while interpolating ${where}: failed to cast to expected type: invalid boolean: ${value}`);
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) {
    throw new ComposeError(`error while interpolating ${where}: failed to cast to expected type: strconv.Parse${kind === 'int' ? 'Int' : 'Float'}: parsing "${value}": invalid syntax`);
  }
  return n;
}

export interface InterpolateOptions {
  lookup: Lookup;
  warn: (message: string) => void;
}

/** Interpolates every string value of a parsed file (keys untouched); errors name the key path. */
export function interpolateTree(root: Mapping, opts: InterpolateOptions): Mapping {
  const warned = new Set<string>();
  const unset = (name: string): void => {
    if (warned.has(name)) return;
    warned.add(name);
    opts.warn(`The "${name}" variable is not set. Defaulting to a blank string.`);
  };
  const walk = (v: unknown, path: string[]): unknown => {
    if (typeof v === 'string') {
      const where = path.join('.');
      let s = v;
      try {
        if (v.includes('$')) s = substitute(v, opts.lookup, unset);
      } catch (err) {
        if (err instanceof InvalidTemplateError) {
          throw new ComposeError(`invalid interpolation format for ${where}.\nYou may need to escape any $ with another $.\n${v}`);
        }
        if (err instanceof MissingRequiredError) throw new ComposeError(`error while interpolating ${where}: ${err.message}`);
        throw err;
      }
      const kind = castFor(path);
      return kind ? cast(s, kind, where, opts.warn) : s;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, String(i)]));
    if (v instanceof Override) return new Override(walk(v.value, path));
    if (v === RESET) return v;
    if (isMapping(v)) {
      const out: Mapping = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, [...path, k]);
      return out;
    }
    return v;
  };
  return walk(root, []) as Mapping;
}
