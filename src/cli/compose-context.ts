// The project a compose command works on: loaded from the compose files the
// group's flags name; for `down` (and the like) with -p but no compose file,
// known by name only, as docker compose allows.
import { Option, type Command } from 'commander';
import type { Project } from '../compose/model.ts';
import { loadProject } from '../compose/load/index.ts';
import { projectFlags, projectLoadOptions } from './compose-project.ts';

function bareProject(name: string): Project {
  return { name, workingDir: process.cwd(), configFiles: [], services: {}, disabledServices: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, environment: {} };
}

export async function loadComposeProject(cmd: Command, o: { needModel: boolean }): Promise<{ project: Project; haveModel: boolean }> {
  const flags = projectFlags(cmd);
  try {
    return { project: await loadProject(projectLoadOptions(flags)), haveModel: true };
  } catch (err) {
    const name = flags.projectName ?? process.env.COMPOSE_PROJECT_NAME;
    if (!o.needModel && name && !flags.file?.length && /no configuration file provided/.test((err as Error).message)) return { project: bareProject(name), haveModel: false };
    throw err;
  }
}

/**
 * docker compose's project flags are persistent: they may follow the
 * subcommand too, but a subcommand's own flag of the same name wins there
 * (`rm -f` is --force, `logs -f` --follow, `run -p` --publish). So the group
 * stops parsing at the subcommand, and each subcommand gets a copy of every
 * group flag it does not shadow; optsWithGlobals merges the two.
 */
export function inheritProjectFlags(group: Command): void {
  group.enablePositionalOptions(true);
  for (const sub of group.commands) {
    const taken = new Set(sub.options.flatMap((o) => [o.short, o.long]).filter((x): x is string => !!x));
    for (const o of group.options) {
      if ((o.short && taken.has(o.short)) || (o.long && taken.has(o.long))) continue;
      // A copy without the default: a default here would hide the value given to the group.
      const copy = new Option(o.flags, o.description);
      if (o.argChoices) copy.choices(o.argChoices);
      if (o.parseArg) copy.argParser(o.parseArg);
      sub.addOption(copy);
    }
  }
}
