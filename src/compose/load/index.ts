// loadProject: compose files → the project model (src/compose/model.ts).
// Per file: YAML, interpolation, schema validation, include, extends; then the
// files merged in order, profiles applied, normalised and checked. Nothing
// here talks to an engine, so a bad file fails before anything is started.
import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, resolve } from 'node:path';
import type { LoadOptions, Project } from '../model.ts';
import { ComposeError, isMapping, type Mapping } from './errors.ts';
import { readEnvFile } from './env-file.ts';
import { findDefaultFiles, readSource } from './files.ts';
import { interpolateTree } from './interpolate.ts';
import { enforceUnicity, mergeModels, stripMarkers } from './merge.ts';
import { applyExtends } from './extends.ts';
import { applyIncludes } from './include.ts';
import { parseComposeYaml } from './yaml.ts';
import { validateSchema } from './schema.ts';
import { normaliseProject } from './normalise.ts';
import { applyProfiles, withServicesEnabled } from './profiles.ts';
import { checkProject } from './checks.ts';
import { chooseProjectName } from './project-name.ts';
import { validateModel } from './validate.ts';
import { composeWarn } from '../warn.ts';

export { ComposeError } from './errors.ts';
export { withServicesEnabled, profileNames, isEnabled } from './profiles.ts';
export { parseDuration, formatDuration } from './duration.ts';

function definedEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function readEnvFiles(files: string[], processEnv: Record<string, string>): Record<string, string> {
  const fromFiles: Record<string, string> = {};
  for (const f of files) Object.assign(fromFiles, readEnvFile(f, (n) => processEnv[n] ?? fromFiles[n]));
  return fromFiles;
}

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

interface FileContext {
  processEnv: Record<string, string>;
  workingDir: string;
  interpolate: boolean;
  warn: (m: string) => void;
}

/** Runs `f`, naming `file` in a ComposeError that does not name it yet. */
function inFile<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ComposeError && !err.message.includes(file)) throw new ComposeError(`${file}: ${err.message}`);
    throw err;
  }
}

/**
 * One file through YAML, interpolation, include and extends. A file read on
 * its own (included, or extended from) is validated here; the project's own
 * files are validated as merged so far, as compose does, so an override may
 * say only part of what the schema requires.
 */
function loadFile(path: string, env: Record<string, string>, ctx: FileContext, chain: string[], validate: boolean, dir: string): Mapping {
  const src = readSource(path);
  let model: Mapping = {};
  for (let doc of parseComposeYaml(src.text, path)) {
    if (ctx.interpolate) {
      const raw = doc;
      doc = inFile(path, () => interpolateTree(raw, { lookup: (n) => env[n], warn: ctx.warn }));
    }
    model = mergeModels(model, doc);
  }
  if (validate) validateSchema(stripMarkers(model) as Mapping, path);
  model = applyIncludes(model, path, dir, env, (p, e, c, d) => loadFile(p, e, ctx, c, true, d), chain);
  return applyExtends(model, path, dir, (p) => {
    if (!isFile(p)) throw new ComposeError(`open ${p}: no such file or directory`);
    return loadFile(p, env, ctx, [...chain, p], true, dirname(p));
  });
}

interface Merged {
  name: string;
  merged: Mapping;
  files: string[];
  workingDir: string;
  env: Record<string, string>;
  warn: (m: string) => void;
  /** The environment files interpolation read. */
  envFiles: string[];
}

function loadMerged(opts: LoadOptions): Merged {
  const warn = opts.warn ?? composeWarn;
  const processEnv = definedEnv(opts.env);
  const cwd = resolve(opts.cwd);
  const projectDirFlag = opts.projectDirectory ? resolve(cwd, opts.projectDirectory) : undefined;
  const envFileFlags = opts.envFiles.map((f) => resolve(cwd, f));
  for (const f of envFileFlags) if (!isFile(f)) throw new ComposeError(`couldn't find env file: ${f}`);

  // COMPOSE_FILE may come from the .env of the directory compose starts in.
  let files = opts.files.map((f) => (f === '-' ? '-' : resolve(cwd, f)));
  if (files.length === 0) {
    const early = { ...readEnvFiles(envFileFlags.length ? envFileFlags : [resolve(projectDirFlag ?? cwd, '.env')].filter(isFile), processEnv), ...processEnv };
    if (early.COMPOSE_FILE) {
      const sep = early.COMPOSE_PATH_SEPARATOR || delimiter;
      files = early.COMPOSE_FILE.split(sep).filter(Boolean).map((f) => resolve(projectDirFlag ?? cwd, f));
    } else {
      files = findDefaultFiles(projectDirFlag ?? cwd);
    }
  }
  for (const f of files) {
    if (f !== '-' && !existsSync(f)) throw new ComposeError(`open ${f}: no such file or directory`);
  }
  const workingDir = projectDirFlag ?? (files[0] === '-' ? cwd : dirname(files[0]));

  // The interpolation environment: .env (or --env-file) under the shell's variables.
  const dotEnv = envFileFlags.length > 0 ? envFileFlags : [resolve(workingDir, '.env')].filter(isFile);
  const env: Record<string, string> = { ...readEnvFiles(dotEnv, processEnv), ...processEnv };

  // The name first: files may use ${COMPOSE_PROJECT_NAME} (the last file's `name:` wins).
  let topName: string | undefined;
  for (const f of files) {
    for (const doc of parseComposeYaml(readSource(f).text, f)) {
      if (typeof doc.name !== 'string' || doc.name === '') continue;
      const raw = doc.name;
      topName = opts.noInterpolate ? raw : inFile(f, () => interpolateTree({ name: raw }, { lookup: (n) => env[n], warn: () => {} }).name as string);
    }
  }
  const name = chooseProjectName(opts.projectName, env, topName, workingDir);
  env.COMPOSE_PROJECT_NAME = name;

  const ctx: FileContext = { processEnv, workingDir, interpolate: !opts.noInterpolate, warn };
  let merged: Mapping = {};
  for (const f of files) {
    const abs = f === '-' || isAbsolute(f) ? f : resolve(cwd, f);
    merged = enforceUnicity(mergeModels(merged, loadFile(abs, env, ctx, [abs], false, workingDir))) as Mapping;
    validateSchema(stripMarkers(merged) as Mapping, abs);
    if ('version' in merged) {
      warn(`${abs}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`);
      delete merged.version;
    }
  }
  merged = stripMarkers(merged) as Mapping;
  if (!isMapping(merged.services) && merged.include === undefined && Object.keys(merged).length === 0) {
    throw new ComposeError('empty compose file');
  }
  inFile(files.join(', '), () => validateModel(merged));
  return { merged, files, workingDir, env, warn, name, envFiles: dotEnv };
}

/**
 * The merged files as a plain mapping, before normalisation: what
 * `config --no-interpolate` prints (with `noInterpolate` set).
 */
export async function loadModel(opts: LoadOptions): Promise<Mapping> {
  const { merged, name } = loadMerged(opts);
  return { name, ...merged };
}

/** `check: false` is `config --no-consistency`: the project as loaded, references unchecked. */
export async function loadProject(opts: LoadOptions, { check = true }: { check?: boolean } = {}): Promise<Project> {
  const { merged, files, workingDir, env, warn, name, envFiles } = loadMerged(opts);
  // Errors past this point concern the merged project: they name its files.
  const where = files.join(', ');
  const norm = inFile(where, () => normaliseProject(name, merged, { workingDir, env, resolvePaths: opts.resolvePaths !== false, noEnvResolution: opts.noEnvResolution, noNormalize: opts.noNormalize }));
  const active = opts.profiles.length > 0 ? opts.profiles : (env.COMPOSE_PROFILES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const { enabled, disabled } = applyProfiles(norm.services, active);
  let project: Project = {
    name,
    workingDir,
    configFiles: files.map((f) => (f === '-' ? resolve(workingDir, '-') : f)),
    services: enabled,
    disabledServices: disabled,
    networks: norm.networks,
    volumes: norm.volumes,
    secrets: norm.secrets,
    configs: norm.configs,
    environment: env,
  };
  if (envFiles.length > 0) project.envFiles = envFiles;
  const extensions = Object.fromEntries(Object.entries(merged).filter(([k]) => k.startsWith('x-')));
  if (Object.keys(extensions).length > 0) project.extensions = extensions;
  if (opts.services && opts.services.length > 0) {
    for (const s of opts.services) {
      if (!project.services[s] && !project.disabledServices[s]) throw new ComposeError(`no such service: ${s}`);
    }
    project = withServicesEnabled(project, opts.services);
  }
  const checked = project;
  if (check) inFile(where, () => checkProject(checked, warn));
  return project;
}
