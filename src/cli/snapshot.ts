// Entry of the CLI's V8 startup snapshot (dist/cli.blob, built by
// scripts/build.mjs): the CLI's modules are loaded and evaluated once at build
// time, so a command starts from a ready heap instead of parsing and running
// ~200 KB of JavaScript (ADR 0003). Nothing here may touch process state
// (argv, env, stdio): it would be frozen into the snapshot.
import { startupSnapshot } from 'node:v8';
import type { Command } from 'commander';
import { buildProgram } from './program.ts';
import { runCli, runCommand } from './run-cli.ts';
import { Resident } from './resident.ts';
import { WarmChannel, warmSettings, type Warm } from './warm.ts';

/** The most commands one warm process runs (resident.ts); then it ends, and its replacement starts. */
const MAX_COMMANDS = 1000;

// The command tree is built once, here, for a process's first command.
const program = buildProgram();

startupSnapshot.setDeserializeMainFunction(() => {
  // Started by the launcher's pool (warm.ts): wait for commands.
  const warm = warmSettings(process.env);
  if (warm) {
    void serve(warm);
    return;
  }
  // Started as `node --snapshot-blob cli.blob -- ARGS`: there is no script argument.
  void runCli(process.argv.slice(1), program);
});

/**
 * A warm process: runs commands one after another while each leaves it clean
 * (resident.ts), and ends after the first that does not, or when idle.
 */
async function serve(warm: Warm): Promise<void> {
  const channel = WarmChannel.open(warm);
  if (!channel) process.exit(0);
  // Several commands per process unless the pool was started with BERTH_CLI_RESIDENT=0 (one each, as before ADR 0010's reuse).
  const resident = process.env.BERTH_CLI_RESIDENT === '0' ? null : Resident.start();
  let tree: Command | undefined = program;
  let served = 0;
  for (;;) {
    const argv = channel.next();
    if (!argv) process.exit(0);
    resident?.renew();
    process.argv = [process.argv[0], ...argv];
    // Commander keeps a parse's options on its commands: each command gets a tree of its own.
    const code = await runCommand(argv, tree ?? buildProgram());
    tree = undefined;
    channel.endCommand();
    // A long-lived heap gathers what no check sees (V8's code, caches of lazily loaded modules): a process retires after its share.
    const unclean = !resident ? 'one command per process'
      : ++served >= MAX_COMMANDS ? `served ${served} commands`
      : await resident.settle(channel.connFd);
    if (unclean) {
      channel.note(`retire: ${unclean}`);
      process.exit(code);
    }
    if (!(await channel.finish(code))) process.exit(code);
    resident!.reset();
    // The next command's tree, built now that no caller waits (6-7 ms of each command's start otherwise).
    tree = buildProgram();
  }
}
