// The project flags of `berth compose` (docker compose v2's: -f, -p,
// --project-directory, --profile, --env-file…) and the LoadOptions they make.
// Every compose subcommand loads its project through projectLoadOptions.
import { Option, type Command } from 'commander';
import type { LoadOptions } from '../compose/model.ts';
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

export function addProjectFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --file <file>', 'Compose configuration files').argParser(collect))
    .option('-p, --project-name <name>', 'Project name')
    .option('--project-directory <dir>', 'Specify an alternate working directory (default: the path of the, first specified, Compose file)')
    .addOption(new Option('--profile <profile>', 'Specify a profile to enable').argParser(collect))
    .addOption(new Option('--env-file <file>', 'Specify an alternate environment file').argParser(collect))
    .addOption(new Option('--progress <type>', 'Set type of progress output').choices(['auto', 'tty', 'plain', 'json', 'quiet']))
    .addOption(new Option('--ansi <when>', 'Control when to print ANSI control characters').choices(['never', 'always', 'auto']).default('auto'))
    .option('--parallel <n>', 'Control max parallelism, -1 for unlimited', '-1')
    .option('--dry-run', 'Execute command in dry run mode')
    .option('--compatibility', 'Run compose in backward compatibility mode')
    .option('--all-resources', 'Include all resources, even those not used by services');
}

/** The project flags given to the `compose` group (before the subcommand) or to the subcommand itself. */
export function projectFlags(cmd: Command): ProjectFlags {
  return cmd.optsWithGlobals<ProjectFlags>();
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
