// save and load: image archives between the daemon and a file or the terminal's pipes.
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { clientFor, CliError } from '../context.ts';
import { globals } from '../options.ts';

function defineSave(parent: Command): void {
  parent.command('save')
    .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
    .option('--platform <platform>', 'Save only the given platform variant')
    .argument('<image...>')
    .action(async (names: string[], f: { output?: string }, cmd: Command) => {
      if (!f.output && process.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
      const client = await clientFor(globals(cmd));
      const res = await client.stream('GET', '/images/get', { query: { names } });
      if (!f.output) {
        await pipeline(res, process.stdout);
        return;
      }
      // A device or pipe (-o /dev/null, a fifo) is written into: renaming over it would replace it.
      const st = statSync(f.output, { throwIfNoEntry: false });
      if (st && !st.isFile() && !st.isDirectory()) {
        await pipeline(res, createWriteStream(f.output, { flags: 'a' })).catch((err: Error) => {
          throw new CliError(`failed to save image: ${err.message}`, 1);
        });
        return;
      }
      // Written beside the target and renamed, so a failed save leaves no half file.
      const tmp = join(dirname(f.output), `.${basename(f.output)}.${process.pid}.tmp`);
      try {
        await pipeline(res, createWriteStream(tmp, { mode: 0o600 }));
        await rename(tmp, f.output);
      } catch (err) {
        await rm(tmp, { force: true });
        throw new CliError(`failed to save image: ${(err as Error).message}`, 1);
      }
    });
}

function defineLoad(parent: Command): void {
  parent.command('load')
    .description('Load an image from a tar archive or STDIN')
    .option('-i, --input <file>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .option('--platform <platform>', 'Load only the given platform variant')
    .action(async (f: { input?: string; quiet?: boolean }, cmd: Command) => {
      let input: Readable;
      if (f.input) {
        if (!existsSync(f.input)) throw new CliError(`open ${f.input}: no such file or directory`, 1);
        input = createReadStream(f.input);
      } else {
        if (process.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty', 1);
        input = process.stdin;
      }
      const client = await clientFor(globals(cmd));
      const res = await client.stream('POST', '/images/load', { query: { quiet: f.quiet ? true : undefined }, stream: input });
      for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
        if (line.trim() === '') continue;
        const m = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message?: string } };
        if (m.error !== undefined || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
        if (m.stream) process.stdout.write(m.stream);
      }
    });
}

export function registerArchiveCommands(parent: Command): void {
  defineSave(parent);
  defineLoad(parent);
}
