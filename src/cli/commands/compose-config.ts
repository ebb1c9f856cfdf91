// `berth compose config`: the project as loaded (merged, interpolated,
// normalised), or one of its lists, as docker compose v2 prints them.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { CliError } from '../context.ts';
import { projectFlags, projectLoadOptions } from '../compose-project.ts';
import { loadModel, loadProject, profileNames } from '../../compose/load/index.ts';
import { projectDocument, renderJson, renderYaml } from '../../compose/config-document.ts';
import type { Project } from '../../compose/model.ts';
import { extractVariables } from '../../compose/load/variables.ts';
import { composeWarn } from '../../compose/warn.ts';
import { tabwrite } from '../format/table.ts';
import { configHash } from '../../compose/container-config.ts';

interface ConfigFlags {
  format?: string;
  quiet?: boolean;
  services?: boolean;
  volumes?: boolean;
  networks?: boolean;
  profiles?: boolean;
  images?: boolean;
  environment?: boolean;
  variables?: boolean;
  consistency?: boolean;
  pathResolution?: boolean;
  envResolution?: boolean;
  normalize?: boolean;
  noInterpolate?: boolean;
  resolveImageDigests?: boolean;
  lockImageDigests?: boolean;
  output?: string;
  hash?: string;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
  return out;
}

/** Services in dependency order, dependencies first (compose's --services order). */
function dependencyOrder(p: Project): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n) || !p.services[n]) return;
    seen.add(n);
    for (const d of Object.keys(p.services[n].depends_on).sort()) visit(d);
    out.push(n);
  };
  for (const n of Object.keys(p.services).sort()) visit(n);
  return out;
}

/** The project reduced to the named services and what they depend on. */
function selectServices(p: Project, names: string[]): Project {
  if (names.length === 0) return p;
  const keep = new Set<string>();
  const add = (n: string): void => {
    if (keep.has(n)) return;
    if (!p.services[n]) throw new CliError(`no such service: ${n}`, 1);
    keep.add(n);
    for (const d of Object.keys(p.services[n].depends_on)) add(d);
  };
  names.forEach(add);
  const services: Project['services'] = {};
  for (const n of Object.keys(p.services)) if (keep.has(n)) services[n] = p.services[n];
  return { ...p, services };
}

export function registerComposeConfigCommands(compose: Command): void {
  compose.command('config')
    .description('Parse, resolve and render compose file in canonical format')
    .argument('[service...]')
    .option('--format <format>', 'Format the output. Values: [yaml | json]')
    .option('-q, --quiet', "Only validate the configuration, don't print anything")
    .option('--services', 'Print the service names, one per line.')
    .option('--volumes', 'Print the volume names, one per line.')
    .option('--networks', 'Print the network names, one per line.')
    .option('--profiles', 'Print the profile names, one per line.')
    .option('--images', 'Print the image names, one per line.')
    .option('--environment', 'Print environment used for interpolation.')
    .option('--variables', 'Print model variables and default values.')
    .option('--no-interpolate', "Don't interpolate environment variables")
    .option('--no-consistency', "Don't check model consistency - warning: may produce invalid Compose output")
    .option('--no-path-resolution', "Don't resolve file paths")
    .option('--no-env-resolution', "Don't resolve service env files")
    .option('--no-normalize', "Don't normalize compose model")
    .option('--resolve-image-digests', 'Pin image tags to digests')
    .option('--lock-image-digests', 'Produces an override file with image digests')
    .option('-o, --output <file>', 'Save to file (default to stdout)')
    .option('--hash <services>', 'Print the service config hash, one per line ("*" for all services).')
    .action(async (services: string[], f: ConfigFlags & { interpolate?: boolean }, cmd: Command) => {
      if (f.resolveImageDigests || f.lockImageDigests) {
        throw new CliError('--resolve-image-digests and --lock-image-digests are not supported by berth compose yet', 1);
      }
      const noInterpolate = f.interpolate === false;
      const opts = { ...projectLoadOptions(projectFlags(cmd)), noInterpolate, services, resolvePaths: f.pathResolution !== false, noEnvResolution: f.envResolution === false, noNormalize: f.normalize === false };
      const out = (s: string): void => {
        if (!f.quiet) process.stdout.write(s);
      };
      const warn = composeWarn;
      if (f.variables) {
        if (services.length > 0) warn('service filtering is not applied when --variables is set, variables from the full model will be rendered');
        const vars = [...extractVariables(await loadModel({ ...opts, noInterpolate: true, services: [] })).values()].sort((a, b) => (a.Name < b.Name ? -1 : 1));
        const byName = Object.fromEntries(vars.map((v) => [v.Name, v]));
        if (f.format === 'json') return out(JSON.stringify(byName, null, 4) + '\n\n');
        if (f.format === 'yaml') {
          const lower = Object.fromEntries(vars.map((v) => [v.Name, { name: v.Name, defaultvalue: v.DefaultValue, presencevalue: v.PresenceValue, required: v.Required }]));
          // Go's yaml.Marshal, as compose prints these, indents by four.
          return out(stringify(lower, { indent: 4 }));
        }
        if (f.format && f.format !== 'table') throw new CliError(`format value "${f.format}" could not be parsed: parsing failed`, 1);
        const rows = ['NAME\tREQUIRED\tDEFAULT VALUE\tALTERNATE VALUE', ...vars.map((v) => `${v.Name}\t${v.Required}\t${v.DefaultValue}\t${v.PresenceValue}`)];
        return out(tabwrite(rows.join('\n') + '\n', 20, 3));
      }
      const format = f.format ?? 'yaml';
      if (format !== 'yaml' && format !== 'json') throw new CliError(`unsupported format "${format}"`, 1);
      if (noInterpolate && services.length > 0) warn('service filtering is not applied when --no-interpolate is set, the full model will be rendered');
      if (noInterpolate && !f.services && !f.volumes && !f.networks && !f.profiles && !f.images && !f.environment) {
        // Printed as compose prints its raw model: a Go map, keys sorted at every level.
        const model = sortKeys(await loadModel({ ...opts, services: [] }));
        const text = format === 'json' ? renderJson(model) : renderYaml(model);
        if (f.output && !f.quiet) writeFileSync(f.output, text);
        else out(text);
        return;
      }
      if (f.hash !== undefined) {
        // The hash the planner labels containers with (com.docker.compose.config-hash), `<service> <hash>` by name.
        const named = f.hash === '*' ? [] : f.hash.split(',').filter(Boolean);
        const p = await loadProject({ ...opts, services: named });
        for (const n of named) if (!p.services[n]) throw new CliError(`no such service: ${n}`, 1);
        const chosen = Object.values(p.services).filter((s) => named.length === 0 || named.includes(s.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
        return out(chosen.map((s) => `${s.name} ${configHash(s, p.environment)}\n`).join(''));
      }
      const project = selectServices(await loadProject(opts, { check: f.consistency !== false }), services);
      const lines = (xs: string[]): void => out(xs.map((x) => x + '\n').join(''));
      if (f.services) return lines(dependencyOrder(project));
      if (f.volumes) return lines(Object.keys(project.volumes).sort());
      if (f.networks) return lines(Object.keys(project.networks).sort());
      if (f.profiles) return lines(profileNames(project));
      if (f.images) {
        return lines(Object.values(project.services).sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => s.image ?? `${project.name}-${s.name}`));
      }
      if (f.environment) {
        return lines(Object.entries(project.environment).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`));
      }
      const doc = projectDocument(project);
      // Compose escapes `$` in its output so that the output is itself a valid compose file.
      // JSON as compose-go marshals the project: a map at the top (keys sorted), no newline after it.
      const text = (format === 'json' ? renderJson(Object.fromEntries(Object.entries(doc).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))) : renderYaml(doc)).replaceAll('$', () => '$$');
      if (f.output && !f.quiet) writeFileSync(f.output, text);
      else out(text);
    });
}
