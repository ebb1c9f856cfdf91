// Entry point of the ESM bundle: the daemon, the registry, or (when the CLI
// snapshot is not used) the CLI. Each is loaded lazily.
import { enableCompileCache } from 'node:module';

enableCompileCache?.();

const argv = process.argv.slice(2);
if (argv[0] === 'daemon') {
  const { daemonMain } = await import('./daemon/main.ts');
  process.exitCode = await daemonMain(argv.slice(1));
} else if (argv[0] === 'registry') {
  const { registryMain } = await import('./registry/cli.ts');
  process.exitCode = await registryMain(argv.slice(1));
} else {
  const { runCli } = await import('./cli/run-cli.ts');
  await runCli(argv);
}
