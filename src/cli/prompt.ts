// The `[y/N]` confirmation of prune and rm commands.
import { createInterface } from 'node:readline/promises';

export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    process.stdout.write(question + ' [y/N] ');
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(process.stdin.isTTY ? question + ' [y/N] ' : '');
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}
