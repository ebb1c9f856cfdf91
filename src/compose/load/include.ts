// `include`: other compose projects pulled in whole, each loaded from its own
// directory with its own .env, its resources added to this project's (a
// resource this project also defines is merged, this project's definition winning).
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ComposeError, isMapping, type Mapping } from './errors.ts';
import { mergeModels } from './merge.ts';
import { rebaseModel } from './paths.ts';
import { readEnvFile } from './env-file.ts';

/** Loads one file of an included project (in `dir`): parse, interpolate with `env`, validate, its own includes and extends. */
export type IncludedLoader = (path: string, env: Record<string, string>, chain: string[], dir: string) => Mapping;

interface IncludeEntry {
  path: string[];
  project_directory?: string;
  env_file?: string[];
}

function entries(v: unknown, file: string): IncludeEntry[] {
  if (!Array.isArray(v)) throw new ComposeError(`\`include\` must be a list, got ${JSON.stringify(v)}`);
  return v.map((e) => {
    if (typeof e === 'string') return { path: [e] };
    if (!isMapping(e)) throw new ComposeError(`${file}: invalid include entry`);
    const list = (x: unknown): string[] | undefined => (x === undefined ? undefined : (Array.isArray(x) ? x : [x]).map(String));
    return { path: list(e.path) ?? [], project_directory: e.project_directory as string | undefined, env_file: list(e.env_file) };
  });
}

/** `dir`: the including project's directory, which relative include paths start from. */
/**
 * `environment: [VAR]` in an included service takes VAR from the included
 * project's environment (its env_file), which the including project does not see.
 */
function resolveBareEnvironment(model: Mapping, env: Record<string, string>): Mapping {
  if (!isMapping(model.services)) return model;
  const services: Mapping = {};
  for (const [name, svc] of Object.entries(model.services)) {
    if (!isMapping(svc) || svc.environment === undefined) {
      services[name] = svc;
      continue;
    }
    const e = svc.environment;
    let resolved: unknown = e;
    if (Array.isArray(e)) resolved = e.map((x) => (typeof x === 'string' && !x.includes('=') && env[x] !== undefined ? `${x}=${env[x]}` : x));
    else if (isMapping(e)) resolved = Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v === null && env[k] !== undefined ? env[k] : v]));
    services[name] = { ...svc, environment: resolved };
  }
  return { ...model, services };
}

export function applyIncludes(model: Mapping, file: string, dir: string, baseEnv: Record<string, string>, load: IncludedLoader, chain: string[]): Mapping {
  if (model.include === undefined) return model;
  const fileDir = dir;
  let out: Mapping = { ...model };
  delete out.include;
  for (const inc of entries(model.include, file)) {
    for (const p of inc.path) {
      // compose's remote resources (git, OCI artifacts) need a fetch berth's loader does not make.
      if (/^(oci:\/\/|git@|https?:\/\/|ssh:\/\/|git:\/\/)/.test(p)) throw new ComposeError(`${file}: include of a remote resource is not supported: ${p}`);
    }
    const paths = inc.path.map((p) => (isAbsolute(p) ? p : resolve(fileDir, p)));
    if (paths.length === 0) throw new ComposeError(`${file}: include entry without a path`);
    for (const p of paths) {
      if (chain.includes(p)) throw new ComposeError(`include cycle detected:\n${chain[0]}\n include ${[...chain.slice(1), p].join('\n include ')}`);
      if (!existsSync(p)) throw new ComposeError(`open ${p}: no such file or directory`);
    }
    const projectDir = inc.project_directory === undefined ? dirname(paths[0]) : resolve(fileDir, inc.project_directory);
    let envFiles = inc.env_file?.filter((f) => f !== '/dev/null').map((f) => resolve(fileDir, f));
    if (envFiles === undefined) {
      const dotEnv = resolve(projectDir, '.env');
      envFiles = existsSync(dotEnv) && statSync(dotEnv).isFile() ? [dotEnv] : [];
    }
    // The included project's .env (or env_file) adds what the including environment does not set.
    const fromFiles: Record<string, string> = {};
    for (const f of envFiles) Object.assign(fromFiles, readEnvFile(f, (n) => baseEnv[n] ?? fromFiles[n]));
    const env: Record<string, string> = { ...fromFiles, ...baseEnv };
    let imported: Mapping = {};
    for (const p of paths) imported = mergeModels(imported, load(p, env, [...chain, p], projectDir));
    imported = resolveBareEnvironment(rebaseModel(imported, projectDir, true), env);
    for (const key of ['services', 'volumes', 'networks', 'secrets', 'configs']) {
      const from = imported[key];
      if (!isMapping(from)) continue;
      const to: Mapping = isMapping(out[key]) ? { ...(out[key] as Mapping) } : {};
      for (const [name, def] of Object.entries(from)) {
        to[name] = name in to ? (mergeModels({ [key]: { [name]: def } }, { [key]: { [name]: to[name] } })[key] as Mapping)[name] : def;
      }
      out = { ...out, [key]: to };
    }
  }
  return out;
}
