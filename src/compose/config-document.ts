// The project as `docker compose config` prints it: the normalised model with
// empty sections left out, keys in compose's order, in YAML or JSON.
import { stringify } from 'yaml';
import type { Project, Service } from './model.ts';

function isEmpty(v: unknown): boolean {
  if (v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length === 0;
  return false;
}

/** A service without its name (the key says it) and without empty collections; profiles first, then by key. */
function serviceDocument(s: Service): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(s).filter((k) => k !== 'name').sort();
  if (keys.includes('profiles')) keys.splice(keys.indexOf('profiles'), 1), keys.unshift('profiles');
  for (const k of keys) {
    const v = (s as unknown as Record<string, unknown>)[k];
    // networks: {default: null} is kept: it says the service is on the default network.
    if (isEmpty(v) && !(k === 'command' || k === 'entrypoint')) continue;
    if (v === undefined) continue;
    out[k] = v;
  }
  return out;
}

function sorted<T>(m: Record<string, T>, f: (v: T) => unknown = (v) => v): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(m).sort()) out[k] = f(m[k]);
  return out;
}

export function projectDocument(p: Project): Record<string, unknown> {
  const doc: Record<string, unknown> = { name: p.name, services: sorted(p.services, serviceDocument) };
  for (const key of ['networks', 'volumes', 'secrets', 'configs'] as const) {
    if (!isEmpty(p[key])) doc[key] = sorted(p[key] as Record<string, unknown>);
  }
  Object.assign(doc, p.extensions ?? {});
  return doc;
}

export function renderYaml(doc: unknown): string {
  return stringify(doc, { indent: 2, lineWidth: 0, aliasDuplicateObjects: false });
}

/** Go's json.MarshalIndent(v, "", "  "), HTML characters escaped as Go does. */
export function renderJson(doc: unknown): string {
  return JSON.stringify(doc, null, 2).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}
