// `berth ui`: serves the web dashboard (docs/dashboard.md) for the daemon this
// CLI would talk to, until interrupted.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { distDir } from '../../dist-dir.ts';
import { clientFor, CliError } from '../context.ts';
import { globals } from '../options.ts';
import type { serveDashboard } from '../../ui-server/server.ts';

/**
 * The server is a bundle of its own (node:http, ws), required only here: the
 * CLI's startup snapshot has no dynamic import(), and every other command
 * would otherwise start with it.
 */
function loadServer(dir: string): typeof serveDashboard {
  const { createRequire } = process.getBuiltinModule('node:module');
  const mod = createRequire(join(dir, 'ui-server.cjs'))('./ui-server.cjs') as { serveDashboard: typeof serveDashboard };
  return mod.serveDashboard;
}

export function registerUiCommands(program: Command): void {
  program.command('ui')
    .description('Serve the web dashboard for the daemon (on a loopback address) and open it in a browser')
    .option('--addr <host:port>', 'Loopback address to serve on (port 0: any free port)', '127.0.0.1:0')
    .option('--no-open', 'Print the address instead of opening a browser')
    .action(async (f: { addr: string; open: boolean }, cmd: Command) => {
      const client = await clientFor(globals(cmd));
      const dir = distDir();
      let dash;
      try {
        dash = await loadServer(dir)({ endpoint: client.host, addr: f.addr, root: join(dir, 'ui') });
      } catch (err) {
        throw new CliError(`berth ui: ${(err as Error).message}`, 1);
      }
      process.stdout.write(`Dashboard for ${client.host.url}: ${dash.url}\n`);
      if (f.open) {
        const opener = spawn('xdg-open', [dash.url], { stdio: 'ignore', detached: true });
        opener.on('error', () => process.stderr.write('berth ui: could not run xdg-open; open the address above in a browser\n'));
        opener.unref();
      }
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, resolve);
      });
      await dash.close();
    });
}
