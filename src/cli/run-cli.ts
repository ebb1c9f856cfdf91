// Runs one CLI command, for every way the CLI starts: from the startup
// snapshot (snapshot.ts), cold or warm, and from the ESM bundle (main.ts).
import type { Command } from 'commander';
import { cliMain } from './program.ts';

/** Runs one command and exits with its status. */
export async function runCli(argv: string[], program?: Command): Promise<never> {
  const code = await runCommand(argv, program);
  // A command is done when its action is: a stream still open (a wait after
  // a failed start, a detached attach) must not keep it alive.
  process.exit(code);
}

/** Runs one command, its output written out; returns its status. */
export async function runCommand(argv: string[], program?: Command): Promise<number> {
  // A closed pipe (`berth logs x | head`) ends the command quietly, as
  // SIGPIPE ends the docker CLI.
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 141 : 1));
  }
  const code = await cliMain(argv, program);
  // Writes to a pipe whose reader is slower than the command (`berth logs c |
  // slow`) wait in libuv's queue: process.exit would drop them, so the exit
  // waits until they are written (as the docker CLI's blocking writes do).
  await Promise.all([process.stdout, process.stderr].map(flushed));
  return code;
}

/** Resolves once everything queued on `out` is written: an empty write's callback runs after those before it. */
function flushed(out: NodeJS.WriteStream): Promise<void> {
  if (out.writableLength === 0 || out.destroyed) return Promise.resolve();
  return new Promise((resolve) => out.write('', () => resolve()));
}
