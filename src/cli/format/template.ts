// Go's text/template, the subset Docker users write in --format: fields,
// variables, pipelines, if/else/range/with, and the builtin and docker
// functions. Values are JSON-shaped (as `docker inspect` sees them: maps), so a
// missing key prints `<no value>` as Go does for maps, or, with
// `missingkey: 'error'` (docker inspect's raw-JSON pass), fails as Go does.

import { lex, Parser, TemplateError, type Command, type Node, type Operand, type Pipeline } from './template-parse.ts';

export { TemplateError };

const NO_VALUE = Symbol('no value');
type Fn = (...args: unknown[]) => unknown;

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

export function truth(v: unknown): boolean {
  if (v === NO_VALUE || v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/**
 * Go's %v of a number the docker CLI holds: a whole number is one of its
 * structs' integer fields (it executes a template on the typed object first),
 * printed in full, `2140160`; anything else a float64, `0.5`, `2.5e+06`.
 */
export function goNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return '0';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const [mant, e] = n.toExponential().split('e');
  const exp = Number(e);
  // strconv's shortest %g switches to an exponent from 1e+06 on.
  if (exp < -4 || exp >= 6) {
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** fmt's %v. */
export function goPrint(v: unknown): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`;
  if (isMap(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goPrint(v[k])}`).join(' ')}]`;
  return String(v);
}

/**
 * Marks an object that stands for a Go struct (format/go-swarm.ts): `json`
 * keeps its fields' order, where a map's keys come out sorted.
 */
export const GO_STRUCT = Symbol('go struct');

/** Go's json.Marshal of decoded JSON: map keys come out sorted, a struct's fields in their order. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isMap(v)) {
    const keys = GO_STRUCT in v ? Object.keys(v) : Object.keys(v).sort();
    return Object.fromEntries(keys.map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

function goJsonValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return 'null';
  // docker's `json` template function encodes with SetEscapeHTML(false).
  return JSON.stringify(sortKeys(v));
}

function sprintf(format: string, args: unknown[]): string {
  let ai = 0;
  return format.replace(/%([-+# 0]*)(\d+)?(?:\.(\d+))?([svdqtfxXeEgGc%])/g, (_m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (ai >= args.length) return `%!${verb}(MISSING)`;
    const a = args[ai++];
    let s: string;
    switch (verb) {
      case 's': case 'v': s = goPrint(a); break;
      case 'q': s = JSON.stringify(goPrint(a)); break;
      case 'd': s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${goPrint(a)})`; break;
      case 't': s = String(a === true); break;
      case 'f': s = Number(a).toFixed(prec === undefined ? 6 : Number(prec)); break;
      case 'e': case 'E': s = Number(a).toExponential(prec === undefined ? 6 : Number(prec)); break;
      case 'g': case 'G': s = goNumber(Number(a)); break;
      case 'x': case 'X': s = typeof a === 'number' ? a.toString(16) : Buffer.from(String(a)).toString('hex'); if (verb === 'X') s = s.toUpperCase(); break;
      case 'c': s = String.fromCodePoint(Number(a)); break;
      default: s = goPrint(a);
    }
    if ((verb === 's' || verb === 'v' || verb === 'q') && prec !== undefined) s = [...s].slice(0, Number(prec)).join('');
    const w = width ? Number(width) : 0;
    const len = [...s].length;
    if (len < w) {
      const padChar = flags.includes('0') && !flags.includes('-') && verb !== 's' ? '0' : ' ';
      s = flags.includes('-') ? s + ' '.repeat(w - len) : padChar.repeat(w - len) + s;
    }
    return s;
  }) + (ai < args.length ? `%!(EXTRA ${args.slice(ai).map(goPrint).join(', ')})` : '');
}

function eq(a: unknown, b: unknown): boolean {
  if (a === NO_VALUE) a = undefined;
  if (b === NO_VALUE) b = undefined;
  return a === b || (a == null && b == null);
}

function compare(a: unknown, b: unknown, name: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError(`error calling ${name}: incompatible types for comparison`);
}

const BUILTINS: Record<string, Fn> = {
  and: (...a) => { for (const x of a) if (!truth(x)) return x; return a[a.length - 1]; },
  or: (...a) => { for (const x of a) if (truth(x)) return x; return a[a.length - 1]; },
  not: (a) => !truth(a),
  len: (a) => {
    if (typeof a === 'string' || Array.isArray(a)) return a.length;
    if (isMap(a)) return Object.keys(a).length;
    throw new TemplateError(`error calling len: len of type ${typeof a}`);
  },
  index: (a, ...keys) => {
    let v = a;
    for (const k of keys) {
      if (Array.isArray(v) && typeof k === 'number') {
        if (k < 0 || k >= v.length) throw new TemplateError(`error calling index: index out of range: ${k}`);
        v = v[k];
      } else if (isMap(v)) {
        v = Object.hasOwn(v, String(k)) ? v[String(k)] : undefined;
      } else if (v === null || v === undefined || v === NO_VALUE) {
        throw new TemplateError('error calling index: index of untyped nil');
      } else {
        throw new TemplateError(`error calling index: cannot index slice/array with type ${typeof k}`);
      }
    }
    return v === undefined ? NO_VALUE : v;
  },
  slice: (a, ...idx) => {
    const from = (idx[0] as number | undefined) ?? 0;
    const to = idx[1] as number | undefined;
    if (typeof a === 'string' || Array.isArray(a)) return a.slice(from, to);
    throw new TemplateError('error calling slice: cannot slice');
  },
  print: (...a) => a.map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + goPrint(x)).join(''),
  println: (...a) => a.map(goPrint).join(' ') + '\n',
  printf: (f, ...a) => sprintf(String(f), a),
  eq: (a, ...bs) => bs.some((b) => eq(a, b)),
  ne: (a, b) => !eq(a, b),
  lt: (a, b) => compare(a, b, 'lt') < 0,
  le: (a, b) => compare(a, b, 'le') <= 0,
  gt: (a, b) => compare(a, b, 'gt') > 0,
  ge: (a, b) => compare(a, b, 'ge') >= 0,
  html: (a) => goPrint(a).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;'),
  urlquery: (...a) => encodeURIComponent(a.map(goPrint).join('')),
  // docker's additions (cli/templates)
  json: (a) => goJsonValue(a),
  join: (a, sep) => (Array.isArray(a) ? a.map(goPrint).join(String(sep)) : goPrint(a)),
  split: (s, sep) => String(s).split(String(sep)),
  lower: (s) => goPrint(s).toLowerCase(),
  upper: (s) => goPrint(s).toUpperCase(),
  title: (s) => goPrint(s).replace(/(^|\s)(\S)/g, (_m, sp: string, c: string) => sp + c.toUpperCase()),
  pad: (s, before, after) => ' '.repeat(Number(before)) + goPrint(s) + ' '.repeat(Number(after)),
  truncate: (s, n) => [...goPrint(s)].slice(0, Number(n)).join(''),
};

// ---------------- execution ----------------

export interface TemplateOptions {
  /** Go's missingkey option: 'default' prints `<no value>`, 'error' fails the execution. */
  missingKey?: 'default' | 'error';
  /**
   * Maps that stand for Go maps (labels, options…) rather than structs: a key
   * missing from them prints `<no value>` even with missingkey=error, as
   * docker inspect's first pass over its typed structs does.
   */
  openMaps?: WeakSet<object>;
  /** Struct fields the JSON omits when empty (omitempty): their Go zero value, per map. */
  zeroValues?: WeakMap<object, Record<string, unknown>>;
}

interface Scope {
  dot: unknown;
  vars: Map<string, unknown>[];
  src: string;
  opts: TemplateOptions;
}

/** Where an operand is, for errors: Go's `template: :line:col: executing "" at <.A.B>`. */
interface At {
  scope: Scope;
  pos: number;
  text: string;
}

function execError(at: At, message: string): TemplateError {
  const before = at.scope.src.slice(0, at.pos);
  const line = before.split('\n').length;
  const col = at.pos - (before.lastIndexOf('\n') + 1);
  return new TemplateError(`template: :${line}:${col}: executing "" at <${at.text}>: ${message}`);
}

function lookupVar(scope: Scope, name: string): unknown {
  for (let i = scope.vars.length - 1; i >= 0; i--) if (scope.vars[i].has(name)) return scope.vars[i].get(name);
  throw new TemplateError(`template: :1: undefined variable "${name}"`);
}

function field(v: unknown, name: string, at: At): unknown {
  if (v === NO_VALUE) {
    if (at.scope.opts.missingKey === 'error') throw execError(at, `nil pointer evaluating interface {}.${name}`);
    return NO_VALUE;
  }
  if (isMap(v)) {
    if (Object.hasOwn(v, name)) return v[name];
    const zero = at.scope.opts.zeroValues?.get(v);
    if (zero && Object.hasOwn(zero, name)) return zero[name];
    if (at.scope.opts.missingKey === 'error' && !at.scope.opts.openMaps?.has(v)) throw execError(at, `map has no entry for key "${name}"`);
    return NO_VALUE;
  }
  if (v === null || v === undefined) throw execError(at, `nil pointer evaluating interface {}.${name}`);
  throw execError(at, `can't evaluate field ${name} in type ${Array.isArray(v) ? '[]interface {}' : 'interface {}'}`);
}

function walkPath(v: unknown, path: string[], args: unknown[] | undefined, at: At): unknown {
  let cur = v;
  for (let i = 0; i < path.length; i++) {
    cur = field(cur, path[i], at);
    if (typeof cur === 'function') cur = (cur as Fn)(...(i === path.length - 1 && args ? args : []));
  }
  return cur;
}

function evalOperand(op: Operand, scope: Scope, args?: unknown[]): unknown {
  switch (op.t) {
    case 'field': return op.path.length === 0 ? scope.dot : walkPath(scope.dot, op.path, args, { scope, pos: op.pos, text: `.${op.path.join('.')}` });
    case 'var': return walkPath(lookupVar(scope, op.name), op.path, args, { scope, pos: op.pos, text: [op.name, ...op.path].join('.') });
    case 'lit': return op.v;
    case 'sub': return walkPath(evalPipeline(op.pipe, scope), op.path, args, { scope, pos: op.pos, text: `.${op.path.join('.')}` });
    case 'ident': {
      const fn = BUILTINS[op.name];
      if (!fn) throw new TemplateError(`template: :1: function "${op.name}" not defined`);
      return fn(...(args ?? []));
    }
  }
}

function evalCommand(cmd: Command, scope: Scope, piped: unknown, hasPiped: boolean): unknown {
  const [head, ...rest] = cmd.operands;
  const args = rest.map((o) => evalOperand(o, scope));
  if (hasPiped) args.push(piped);
  if (head.t === 'ident' || ((head.t === 'field' || head.t === 'var') && args.length > 0)) return evalOperand(head, scope, args);
  if (args.length > 0) throw new TemplateError(`template: :1: can't give argument to non-function ${head.t === 'lit' ? goPrint(head.v) : 'value'}`);
  return evalOperand(head, scope);
}

function evalPipeline(p: Pipeline, scope: Scope): unknown {
  let v: unknown;
  p.cmds.forEach((c, i) => {
    v = evalCommand(c, scope, v, i > 0);
  });
  if (p.decl.length === 1) {
    if (p.assign) {
      for (let i = scope.vars.length - 1; i >= 0; i--) {
        if (scope.vars[i].has(p.decl[0])) {
          scope.vars[i].set(p.decl[0], v);
          return v;
        }
      }
    }
    scope.vars[scope.vars.length - 1].set(p.decl[0], v);
  }
  return v;
}

function exec(nodes: Node[], scope: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case 'text': out.push(n.v); break;
      case 'action': {
        const v = evalPipeline(n.pipe, scope);
        if (n.pipe.decl.length === 0) out.push(goPrint(v));
        break;
      }
      case 'if': case 'with': {
        scope.vars.push(new Map());
        const v = evalPipeline(n.pipe, scope);
        if (truth(v)) exec(n.body, n.t === 'with' ? { ...scope, dot: v } : scope, out);
        else exec(n.els, scope, out);
        scope.vars.pop();
        break;
      }
      case 'range': {
        scope.vars.push(new Map());
        const decl = n.pipe.decl;
        const v = evalPipeline({ ...n.pipe, decl: [] }, scope);
        const items: [unknown, unknown][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : isMap(v) ? Object.keys(v).sort().map((k) => [k, v[k]])
          : typeof v === 'number' ? Array.from({ length: v }, (_x, i) => [i, i])
          : [];
        if (v !== null && v !== undefined && v !== NO_VALUE && !Array.isArray(v) && !isMap(v) && typeof v !== 'number') {
          throw new TemplateError(`template: :1: range can't iterate over ${goPrint(v)}`);
        }
        if (items.length === 0) exec(n.els, scope, out);
        for (const [k, x] of items) {
          const frame = new Map<string, unknown>();
          if (decl.length === 1) frame.set(decl[0], x);
          if (decl.length === 2) {
            frame.set(decl[0], k);
            frame.set(decl[1], x);
          }
          scope.vars.push(frame);
          exec(n.body, { ...scope, dot: x }, out);
          scope.vars.pop();
        }
        scope.vars.pop();
        break;
      }
    }
  }
}

export interface Template {
  execute(data: unknown, opts?: TemplateOptions): string;
}

export function parseTemplate(src: string): Template {
  const nodes = new Parser(lex(src)).list(false).nodes;
  return {
    execute(data: unknown, opts: TemplateOptions = {}): string {
      const out: string[] = [];
      exec(nodes, { dot: data, vars: [new Map([['$', data]])], src, opts }, out);
      return out.join('');
    },
  };
}
