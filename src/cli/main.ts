// Entry point of the one `berth` executable: the daemon, the registry, or the
// CLI. Each is loaded lazily so a CLI call parses only the CLI's code.
import { enableCompileCache } from 'node:module';

enableCompileCache?.();

const argv = process.argv.slice(2);
let code: number;
if (argv[0] === 'daemon') {
  const { daemonMain } = await import('../daemon/main.ts');
  code = await daemonMain(argv.slice(1));
} else if (argv[0] === 'registry') {
  const { registryMain } = await import('../registry/cli.ts');
  code = await registryMain(argv.slice(1));
} else {
  // A closed pipe (`berth logs x | head`) ends the command quietly, as
  // SIGPIPE ends the docker CLI.
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 141 : 1));
  }
  const { cliMain } = await import('./program.ts');
  code = await cliMain(argv);
  // A CLI command is done when its action is: a stream still open (a wait
  // after a failed start, a detached attach) must not keep it alive. Writes to
  // pipes, files and terminals are synchronous on Linux, so nothing is lost.
  process.exit(code);
}
process.exitCode = code;
