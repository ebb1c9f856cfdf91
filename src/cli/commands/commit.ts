// commit, pause, unpause — at the top level and under `berth container`.
import { Option, type Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { collect, globals } from '../options.ts';
import { forEach } from '../output.ts';

/** Runs `fn` for each container as the docker CLI does: errors printed, exit 1 at the end. */
export function registerCommitCommands(program: Command): void {
  const group = program.commands.find((c) => c.name() === 'container');
  for (const parent of group ? [program, group] : [program]) {
    parent.command('commit')
      .description("Create a new image from a container's changes")
      .option('-a, --author <author>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
      .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
      .option('-m, --message <message>', 'Commit message')
      .addOption(new Option('-p, --pause [bool]', 'Pause container during commit').default(true))
      .addOption(new Option('--no-pause').hideHelp())
      .argument('[container]')
      .argument('[repository]')
      .action(async (containerArg: string | undefined, repositoryArg: string | undefined, f: { author?: string; change?: string[]; message?: string; pause: boolean | string }, cmd: Command) => {
        let container = containerArg;
        let repository = repositoryArg;
        // `-p CONTAINER`: commander takes the container as the flag's optional value.
        if (typeof f.pause === 'string' && !['true', 'false', '1', '0'].includes(f.pause)) {
          [container, repository] = [f.pause, container];
          f.pause = true;
        }
        const pause = f.pause === true || f.pause === 'true' || f.pause === '1';
        if (!container) throw new CliError('"commit" requires at least 1 and at most 2 arguments.', 1);
        const client = await clientFor(globals(cmd));
        let repo: string | undefined;
        let tag: string | undefined;
        if (repository) {
          // The tag is what follows the last colon after the last slash (a registry port is not a tag).
          const slash = repository.lastIndexOf('/');
          const colon = repository.lastIndexOf(':');
          if (colon > slash) {
            repo = repository.slice(0, colon);
            tag = repository.slice(colon + 1);
          } else {
            repo = repository;
          }
        }
        const res = await client.call<{ Id: string }>('POST', '/commit', {
          query: { container, repo, tag, author: f.author, comment: f.message, changes: f.change, pause },
          body: {},
        });
        process.stdout.write(res.Id + '\n');
      });

    for (const action of ['pause', 'unpause'] as const) {
      parent.command(action)
        .description(action === 'pause' ? 'Pause all processes within one or more containers' : 'Unpause all processes within one or more containers')
        .argument('<container...>')
        .action(async (ids: string[], _f: unknown, cmd: Command) => {
          const client = await clientFor(globals(cmd));
          await forEach(ids, async (id) => {
            await client.status('POST', `/containers/${encodeURIComponent(id)}/${action}`);
            process.stdout.write(id + '\n');
          });
        });
    }
  }
}
