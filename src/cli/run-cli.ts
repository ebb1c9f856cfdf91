// Runs one CLI command and exits, for both ways the CLI starts: from the
// startup snapshot (snapshot.ts) and from the ESM bundle (main.ts).
import type { Command } from 'commander';
import { cliMain } from './program.ts';

export async function runCli(argv: string[], program?: Command): Promise<never> {
  // A closed pipe (`berth logs x | head`) ends the command quietly, as
  // SIGPIPE ends the docker CLI.
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 141 : 1));
  }
  const code = await cliMain(argv, program);
  // A command is done when its action is: a stream still open (a wait after
  // a failed start, a detached attach) must not keep it alive. Writes to a
  // pipe are asynchronous, though: what is still queued for one is flushed
  // first (`berth logs c | wc -c` lost its last kilobytes to process.exit).
  await Promise.all([process.stdout, process.stderr].map(flushed));
  process.exit(code);
}

function flushed(out: NodeJS.WriteStream): Promise<void> {
  if (out.writableLength === 0 || out.destroyed) return Promise.resolve();
  return new Promise((resolve) => out.write('', () => resolve()));
}
