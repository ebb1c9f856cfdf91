// The project flags of `berth compose` (docker compose v2's: -f, -p,
// --project-directory, --profile, --env-file…) and the LoadOptions they make.
// Every compose subcommand finds its project through resolveProject, the one
// place that decides whether the compose file must be read.
import { Option, type Command } from 'commander';
import type { LoadOptions, Project } from '../compose/model.ts';
import { loadProject } from '../compose/load/index.ts';
import { collect } from './options.ts';
import { CliError } from './context.ts';

export interface ProjectFlags {
  file?: string[];
  projectName?: string;
  projectDirectory?: string;
  profile?: string[];
  envFile?: string[];
  progress?: string;
  ansi?: string;
  parallel?: string;
  dryRun?: boolean;
  compatibility?: boolean;
  allResources?: boolean;
}

const LISTS = ['file', 'profile', 'envFile'] as const;

function projectOptions(): Option[] {
  return [
    new Option('-f, --file <file>', 'Compose configuration files').argParser(collect),
    new Option('-p, --project-name <name>', 'Project name'),
    new Option('--project-directory <dir>', 'Specify an alternate working directory (default: the path of the, first specified, Compose file)'),
    new Option('--profile <profile>', 'Specify a profile to enable').argParser(collect),
    new Option('--env-file <file>', 'Specify an alternate environment file').argParser(collect),
    new Option('--progress <type>', 'Set type of progress output').choices(['auto', 'tty', 'plain', 'json', 'quiet']),
    new Option('--ansi <when>', 'Control when to print ANSI control characters ("never"|"always"|"auto")').choices(['never', 'always', 'auto']),
    new Option('--parallel <n>', 'Control max parallelism, -1 for unlimited'),
    new Option('--dry-run', 'Execute command in dry run mode'),
    new Option('--compatibility', 'Run compose in backward compatibility mode'),
    new Option('--all-resources', 'Include all resources, even those not used by services'),
  ];
}

/**
 * Adds the project flags to the `compose` group. Like docker compose's
 * persistent flags they may also follow the subcommand (`compose config -f x`):
 * each subcommand gets them when it is dispatched. The group stays
 * positional, so a subcommand that passes its operands through (`exec svc
 * tail -f`) keeps the flags after its service name as operands.
 */
export function addProjectFlags(cmd: Command): Command {
  for (const o of projectOptions()) cmd.addOption(o);
  return cmd.hook('preSubcommand', (_group, sub) => {
    // A subcommand's own flag wins, by long name or by letter (`logs -f`, `version -f`, `run -p`).
    for (const o of projectOptions()) if (!sub.options.some((x) => x.long === o.long || (o.short && x.short === o.short))) sub.addOption(o);
  });
}

/** The project flags given before the subcommand and after it: lists joined, a later single value winning. */
export function projectFlags(cmd: Command): ProjectFlags {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const out: Record<string, unknown> = {};
  for (const c of chain) {
    for (const [k, v] of Object.entries(c.opts())) {
      if (v === undefined) continue;
      if ((LISTS as readonly string[]).includes(k)) out[k] = [...((out[k] as string[] | undefined) ?? []), ...(v as string[])];
      else out[k] = v;
    }
  }
  return out as ProjectFlags;
}

/** LoadOptions for the flags, in this process's environment and working directory. */
export function projectLoadOptions(flags: ProjectFlags, env: Record<string, string | undefined> = process.env, cwd: string = process.cwd()): LoadOptions {
  return {
    files: flags.file ?? [],
    projectName: flags.projectName,
    projectDirectory: flags.projectDirectory,
    profiles: (flags.profile ?? []).flatMap((p) => p.split(',')).filter(Boolean),
    envFiles: flags.envFile ?? [],
    env,
    cwd,
  };
}

/**
 * How much of the project a command needs:
 * - `model`: the compose file must load (up, create, run, watch, …);
 * - `name`: commands that only look at what runs (ps, logs, exec, …), as
 *   compose's projectOrName: `-p` alone names the project without reading a
 *   file; otherwise the file is loaded, and when that fails
 *   COMPOSE_PROJECT_NAME still names it;
 * - `name-for-down`: the file is loaded, but with none at all, `-p` (or
 *   COMPOSE_PROJECT_NAME) names a project with no services, whose
 *   containers the engine's labels tell (down).
 */
export type ProjectNeed = 'model' | 'name' | 'name-for-down';

export interface ResolvedProject {
  name: string;
  /** The loaded project; absent only when `name` was enough. */
  project?: Project;
  /** The service names the loaded project defines. */
  services?: string[];
}

/** A project known by name only: no services; the engine's labels say what it has. */
export function bareProject(name: string): Project {
  return { name, workingDir: process.cwd(), configFiles: [], services: {}, disabledServices: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, environment: {} };
}

/** The project of a compose subcommand; `services` named on its command line are enabled whatever their profiles. */
export async function resolveProject(cmd: Command, need: 'model', services?: string[]): Promise<ResolvedProject & { project: Project }>;
export async function resolveProject(cmd: Command, need: ProjectNeed, services?: string[]): Promise<ResolvedProject>;
export async function resolveProject(cmd: Command, need: ProjectNeed, services: string[] = []): Promise<ResolvedProject> {
  const flags = projectFlags(cmd);
  if (need === 'name' && flags.projectName && !flags.file?.length) return { name: flags.projectName };
  try {
    const project = await loadProject({ ...projectLoadOptions(flags), services });
    return { name: project.name, project, services: Object.keys(project.services) };
  } catch (err) {
    const fromEnv = process.env.COMPOSE_PROJECT_NAME;
    if (need === 'name' && fromEnv) return { name: fromEnv };
    const name = flags.projectName ?? fromEnv;
    if (need === 'name-for-down' && name && !flags.file?.length && /no configuration file provided/.test((err as Error).message)) return { name };
    throw err;
  }
}

/** The project for a lifecycle command: a bare one (no services) when only its name is known. */
export async function lifecycleProject(cmd: Command, need: 'model' | 'name-for-down', services: string[] = []): Promise<{ project: Project; haveModel: boolean }> {
  const r = await resolveProject(cmd, need, services);
  return r.project ? { project: r.project, haveModel: true } : { project: bareProject(r.name), haveModel: false };
}

/** `--ansi` and the terminal: whether output may carry colours. */
export function ansiEnabled(cmd: Command, stream: NodeJS.WriteStream = process.stdout): boolean {
  const ansi = projectFlags(cmd).ansi ?? 'auto';
  return ansi === 'always' || (ansi === 'auto' && stream.isTTY === true);
}

/** `--index N` as cobra parses an int flag, with its wording for anything else. */
export function indexFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw new CliError(`invalid argument ${JSON.stringify(v)} for "--index" flag: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`, 1);
  return Number(v);
}
