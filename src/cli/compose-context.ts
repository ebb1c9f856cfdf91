// The project a compose command works on: loaded from the compose files the
// group's flags name, or, for `down` without a file, known by name only.
import type { Command } from 'commander';
import type { Project } from '../compose/model.ts';

export async function loadComposeProject(_cmd: Command, _o: { needModel: boolean }): Promise<{ project: Project; haveModel: boolean }> {
  throw new Error('the compose loader is not merged yet');
}
