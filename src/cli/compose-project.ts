// The project flags of `berth compose` (docker compose v2's: -f, -p,
// --project-directory, --profile, --env-file…) and the LoadOptions they make.
// Every compose subcommand loads its project through loadComposeProject (or
// projectLoadOptions(projectFlags(cmd))).
import { Option, type Command } from 'commander';
import type { LoadOptions, Project } from '../compose/model.ts';
import { loadProject } from '../compose/load/index.ts';
import { collect } from './options.ts';

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

/** The project of a compose subcommand; `services` named on its command line are enabled whatever their profiles. */
export function loadComposeProject(cmd: Command, services: string[] = []): Promise<Project> {
  return loadProject({ ...projectLoadOptions(projectFlags(cmd)), services });
}
