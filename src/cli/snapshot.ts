// Entry of the CLI's V8 startup snapshot (dist/cli.blob, built by
// scripts/build.mjs): the CLI's modules are loaded and evaluated once at build
// time, so a command starts from a ready heap instead of parsing and running
// ~200 KB of JavaScript (ADR 0003). Nothing here may touch process state
// (argv, env, stdio): it would be frozen into the snapshot.
import { startupSnapshot } from 'node:v8';
import { buildProgram } from './program.ts';
import { runCli } from './run-cli.ts';

// The command tree is built once, here; each process parses one command line with it.
const program = buildProgram();

startupSnapshot.setDeserializeMainFunction(() => {
  // Started as `node --snapshot-blob cli.blob -- ARGS`: there is no script argument.
  void runCli(process.argv.slice(1), program);
});
