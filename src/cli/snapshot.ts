// Entry of the CLI's V8 startup snapshot (dist/cli.blob, built by
// scripts/build.mjs): the CLI's modules are loaded and evaluated once at build
// time, so a command starts from a ready heap instead of parsing and running
// ~200 KB of JavaScript (ADR 0003). Nothing here may touch process state
// (argv, env, stdio): it would be frozen into the snapshot.
import { startupSnapshot } from 'node:v8';
import { buildProgram } from './program.ts';
import { runCli } from './run-cli.ts';
import { awaitCommand, warmSettings } from './warm.ts';

// The command tree is built once, here; each process parses one command line with it.
const program = buildProgram();

startupSnapshot.setDeserializeMainFunction(() => {
  // Started by the launcher's pool (warm.ts): wait for a command first.
  const warm = warmSettings(process.env);
  if (warm) {
    delete process.env.BERTH_CLI_WARM_FDS;
    delete process.env.BERTH_CLI_WARM_IDLE;
    const argv = awaitCommand(warm);
    if (!argv) process.exit(0);
    process.argv = [process.argv[0], ...argv];
    void runCli(argv, program);
    return;
  }
  // Started as `node --snapshot-blob cli.blob -- ARGS`: there is no script argument.
  void runCli(process.argv.slice(1), program);
});
