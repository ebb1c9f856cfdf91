// Runs `berth registry ...` until the main CLI dispatches to it:
//   node_modules/.bin/node test/registry/run-registry.ts serve config.yml
import { registryMain } from '../../src/registry/cli.ts';

process.exitCode = await registryMain(process.argv.slice(2));
