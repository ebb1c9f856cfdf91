// `extends`: a service built on another one, in the same file or another
// file, merged by the spec's rules with the extending service winning.
import { dirname, resolve } from 'node:path';
import { ComposeError, isMapping, type Mapping } from './errors.ts';
import { mergeModels } from './merge.ts';
import { rebaseService } from './paths.ts';

/** Reads, interpolates and validates another compose file for its services. */
export type FileReader = (path: string) => Mapping;

function serviceOf(model: Mapping, name: string, file: string, ref: string): Mapping {
  const services = model.services;
  if (services === undefined) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${file}: no services section`);
  if (!isMapping(services)) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${file}: services must be a mapping`);
  const s = services[ref];
  if (!isMapping(s)) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${file}: service ${JSON.stringify(ref)} not found`);
  return s;
}

/** `dir`: what a relative `extends.file` is relative to (the project's directory for its own files, as compose-go). */
function resolveOne(name: string, model: Mapping, file: string, dir: string, read: FileReader, chain: string[]): Mapping {
  const svc = serviceOf(model, name, file, name);
  const ext = svc.extends;
  // Not a string or a mapping: left for the schema to report.
  if (typeof ext !== 'string' && !isMapping(ext)) return svc;
  const spec = typeof ext === 'string' ? { service: ext } : ext;
  if (typeof spec.service !== 'string') throw new ComposeError(`extends.${name}.service is required`);
  const ref = spec.service;
  let baseModel = model;
  let baseFile = file;
  if (typeof spec.file === 'string' && spec.file !== '') {
    if (/^(oci:\/\/|git@|https?:\/\/|ssh:\/\/|git:\/\/)/.test(spec.file)) {
      throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${file}: extending from a remote resource is not supported: ${spec.file}`);
    }
    baseFile = resolve(dir, spec.file);
    baseModel = read(baseFile);
  }
  const key = `${baseFile}#${ref}`;
  if (chain.includes(key)) {
    throw new ComposeError(`circular reference with extends: ${[...chain, key].map((k) => k.replace(/^.*#/, '')).join(' -> ')}`);
  }
  serviceOf(baseModel, name, baseFile, ref);
  let base = resolveOne(ref, baseModel, baseFile, baseFile === file ? dir : dirname(baseFile), read, [...chain, key]);
  if (baseFile !== file) base = rebaseService(base, dirname(baseFile));
  const own: Mapping = { ...svc };
  delete own.extends;
  const merged = mergeModels({ services: { [name]: base } }, { services: { [name]: own } });
  const out = { ...((merged.services as Mapping)[name] as Mapping) };
  delete out.extends;
  return out;
}

/** Every service of a file with its `extends` chain resolved. */
export function applyExtends(model: Mapping, file: string, dir: string, read: FileReader): Mapping {
  if (!isMapping(model.services)) return model;
  const services: Mapping = {};
  for (const [name, svc] of Object.entries(model.services)) {
    // A service that is not a mapping is left for the schema to report.
    services[name] = isMapping(svc) ? resolveOne(name, model, file, dir, read, [`${file}#${name}`]) : svc;
  }
  return { ...model, services };
}
