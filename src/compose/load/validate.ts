// The structural rules the schema cannot say, checked on the merged model
// before it is normalised (compose-go's validation/ and transform/external):
// an external volume has nothing but a name; a secret or config has one
// source; a port's host_ip is an address; a watched path is not blank.
import { isIP } from 'node:net';
import { ComposeError, isMapping, type Mapping } from './errors.ts';

function checkExternal(v: Mapping, path: string): void {
  if (v.external !== true) return;
  for (const k of Object.keys(v)) {
    if (k === 'name' || k === 'external' || k.startsWith('x-')) continue;
    throw new ComposeError(`${path}: conflicting parameters "external" and ${JSON.stringify(k)} specified`);
  }
}

function checkExternalName(v: Mapping, path: string): void {
  if (isMapping(v.external) && v.external.name !== undefined && v.name !== undefined && v.name !== v.external.name) {
    throw new ComposeError(`${path}: name and external.name conflict; only use name`);
  }
}

function checkFileObject(v: Mapping, path: string, keys: string[]): void {
  const count = keys.filter((k) => k in v).length;
  if (count > 1) throw new ComposeError(`${path}: ${keys.join('|')} attributes are mutually exclusive`);
  // A custom driver may have its own way of giving the content.
  if (count === 0 && !('driver' in v) && !('external' in v)) throw new ComposeError(`${path}: one of ${keys.join('|')} must be set`);
}

export function validateModel(model: Mapping): void {
  const each = (key: string, f: (v: Mapping, path: string) => void): void => {
    const m = model[key];
    if (isMapping(m)) for (const [k, v] of Object.entries(m)) if (isMapping(v)) f(v, `${key}.${k}`);
  };
  each('volumes', (v, p) => { checkExternalName(v, p); checkExternal(v, p); });
  each('networks', (v, p) => checkExternalName(v, p));
  each('secrets', (v, p) => { checkExternalName(v, p); checkFileObject(v, p, ['file', 'environment']); });
  each('configs', (v, p) => { checkExternalName(v, p); checkFileObject(v, p, ['file', 'environment', 'content']); });
  each('services', (s, p) => {
    for (const port of Array.isArray(s.ports) ? s.ports : []) {
      if (isMapping(port) && typeof port.host_ip === 'string' && isIP(port.host_ip) === 0) {
        throw new ComposeError(`${p}.ports.[]: invalid ip address: ${port.host_ip}`);
      }
    }
    const watch = isMapping(s.develop) && Array.isArray(s.develop.watch) ? s.develop.watch : [];
    for (const w of watch) {
      if (isMapping(w) && w.path === '') throw new ComposeError(`${p}.develop.watch.[].path: value can't be blank`);
    }
  });
}
