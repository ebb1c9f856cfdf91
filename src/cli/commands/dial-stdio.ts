// `system dial-stdio`: this host's daemon socket on stdin/stdout. What ssh
// runs on a berth host for `-H ssh://…`, berth's CLI and the docker CLI alike
// (the docker CLI runs `docker system dial-stdio`: a `docker` that is berth).
import { connect } from 'node:net';
import type { Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { globals } from '../options.ts';

export function registerDialStdioCommands(program: Command): void {
  const system = program.commands.find((c) => c.name() === 'system') ?? program.command('system').description('Manage berth');
  system.command('dial-stdio')
    .description('Proxy the stdio stream to the daemon connection. Should not be invoked manually.')
    .action(async (_f: unknown, cmd: Command) => {
      // Through clientFor: the default daemon is started on demand, as for any command.
      const { host } = await clientFor(globals(cmd));
      if (!host.socketPath) throw new CliError(`dial-stdio: ${host.url}: only a daemon on a unix socket can be dialled`, 1);
      const where = host.socketPath;
      const s = connect(where);
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('error', (err: NodeJS.ErrnoException) => reject(new CliError(`Cannot connect to the berth daemon at unix://${where}. Is the berth daemon running? (${err.code})`, 1)));
      });
      // stdin's end half-closes the connection: the daemon still answers what it was sent.
      process.stdin.pipe(s);
      s.on('data', (c: Buffer) => process.stdout.write(c));
      await new Promise<void>((resolve) => {
        s.once('end', resolve);
        s.once('close', () => resolve());
        s.once('error', () => resolve());
      });
    });
}
