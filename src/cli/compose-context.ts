// The project a lifecycle command works on: loaded from the compose files the
// flags name; for `down` (and the like) with -p but no compose file, known by
// name only, as docker compose allows.
import type { Command } from 'commander';
import type { Project } from '../compose/model.ts';
import { loadComposeProject, projectFlags } from './compose-project.ts';

function bareProject(name: string): Project {
  return { name, workingDir: process.cwd(), configFiles: [], services: {}, disabledServices: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, environment: {} };
}

export async function loadLifecycleProject(cmd: Command, o: { needModel: boolean; services?: string[] }): Promise<{ project: Project; haveModel: boolean }> {
  try {
    return { project: await loadComposeProject(cmd, o.services), haveModel: true };
  } catch (err) {
    const flags = projectFlags(cmd);
    const name = flags.projectName ?? process.env.COMPOSE_PROJECT_NAME;
    if (!o.needModel && name && !flags.file?.length && /no configuration file provided/.test((err as Error).message)) return { project: bareProject(name), haveModel: false };
    throw err;
  }
}
