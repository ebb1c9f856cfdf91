// `berth ui`: serves the web dashboard (docs/dashboard.md) for the daemon this
// CLI would talk to, until interrupted.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

interface UiFlags { addr: string; open: boolean; tlsverify?: boolean; tlscacert?: string; tlscert?: string; tlskey?: string }

/** --tlsverify's files, read: the dashboard then serves HTTPS to clients with a certificate the CA signed. */
function tlsMaterial(f: UiFlags): { ca: Buffer; cert: Buffer; key: Buffer } | undefined {
  if (!f.tlsverify) {
    if (f.tlscacert || f.tlscert || f.tlskey) throw new CliError('berth ui: --tlscacert, --tlscert and --tlskey are used only with --tlsverify (the dashboard serves TLS with client authentication or not at all)', 1);
    return undefined;
  }
  if (!f.tlscacert || !f.tlscert || !f.tlskey) throw new CliError('berth ui: --tlsverify needs --tlscacert, --tlscert and --tlskey', 1);
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new CliError(`berth ui: --${flag}: ${(err as Error).message}`, 1);
    }
  };
  return { ca: read('tlscacert', f.tlscacert), cert: read('tlscert', f.tlscert), key: read('tlskey', f.tlskey) };
}

export function registerUiCommands(program: Command): void {
  program.command('ui')
    .description('Serve the web dashboard for the daemon (on a loopback address, or any with --tlsverify) and open it in a browser')
    .option('--addr <host:port>', 'Address to serve on (port 0: any free port); not loopback only with --tlsverify', '127.0.0.1:0')
    .option('--no-open', 'Print the address instead of opening a browser')
    .option('--tlsverify', 'Serve HTTPS and require a client certificate signed by --tlscacert')
    .option('--tlscacert <path>', 'CA whose client certificates are accepted')
    .option('--tlscert <path>', "The dashboard's TLS certificate")
    .option('--tlskey <path>', "The dashboard's TLS key")
    .action(async (f: UiFlags, cmd: Command) => {
      const tls = tlsMaterial(f);
      const client = await clientFor(globals(cmd));
      const dir = distDir();
      let dash;
      try {
        dash = await loadServer(dir)({ endpoint: client.host, addr: f.addr, root: join(dir, 'ui'), tls });
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
