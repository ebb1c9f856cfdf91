// A service or resource read from another directory (an included project, a
// service extended from another file) has its relative paths made absolute
// against that directory before it joins this project.
import { isAbsolute, resolve } from 'node:path';
import { isMapping, type Mapping } from './errors.ts';

const rel = (p: unknown, dir: string): unknown => (typeof p === 'string' && p !== '' && !isAbsolute(p) && !p.startsWith('~') ? resolve(dir, p) : p);
const isRemote = (c: string): boolean => /^(https?:\/\/|git@|git:\/\/|github\.com\/)/.test(c);

/**
 * `project`: the service belongs to a project of its own (an included one),
 * whose default build context is its directory. An extended service's build
 * without a context builds in the extending project's directory (as compose-go).
 */
export function rebaseService(raw: Mapping, dir: string, project = false): Mapping {
  const s: Mapping = { ...raw };
  if (typeof s.build === 'string') s.build = isRemote(s.build) ? s.build : rel(s.build, dir);
  else if (isMapping(s.build) && (s.build.context !== undefined || project)) {
    const ctx = s.build.context ?? '.';
    s.build = { ...s.build, context: typeof ctx === 'string' && isRemote(ctx) ? ctx : rel(ctx, dir) };
  }
  if (s.env_file !== undefined) {
    s.env_file = (Array.isArray(s.env_file) ? s.env_file : [s.env_file]).map((e) => (isMapping(e) ? { ...e, path: rel(e.path, dir) } : rel(e, dir)));
  }
  if (s.label_file !== undefined) s.label_file = (Array.isArray(s.label_file) ? s.label_file : [s.label_file]).map((e) => rel(e, dir));
  if (Array.isArray(s.volumes)) {
    s.volumes = s.volumes.map((v) => {
      if (typeof v === 'string') {
        const i = v.indexOf(':');
        return i > 0 && v.startsWith('.') ? `${resolve(dir, v.slice(0, i))}${v.slice(i)}` : v;
      }
      return isMapping(v) && v.type === 'bind' ? { ...v, source: rel(v.source, dir) } : v;
    });
  }
  if (isMapping(s.extends) && typeof s.extends.file === 'string') s.extends = { ...s.extends, file: rel(s.extends.file, dir) };
  return s;
}

/** A whole model's relative paths against `dir` (an included project). */
export function rebaseModel(model: Mapping, dir: string, project = false): Mapping {
  const out: Mapping = { ...model };
  if (isMapping(model.services)) {
    const services: Mapping = {};
    for (const [k, v] of Object.entries(model.services)) services[k] = isMapping(v) ? rebaseService(v, dir, project) : v;
    out.services = services;
  }
  for (const key of ['secrets', 'configs'] as const) {
    if (!isMapping(model[key])) continue;
    const m: Mapping = {};
    for (const [k, v] of Object.entries(model[key] as Mapping)) m[k] = isMapping(v) && typeof v.file === 'string' ? { ...v, file: rel(v.file, dir) } : v;
    out[key] = m;
  }
  return out;
}
