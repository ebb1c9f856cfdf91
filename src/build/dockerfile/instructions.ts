// Which instructions exist. The parser keeps unknown ones (as BuildKit's
// does); the build calls checkInstruction so that the error names the line.

import { DockerfileParseError } from './errors.ts';
import type { Instruction } from './parser.ts';

export const knownInstructions: readonly string[] = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label',
  'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
];
const known = new Set(knownInstructions);

export function isKnownInstruction(keyword: string): boolean {
  return known.has(keyword.toLowerCase());
}

/**
 * Throws `unknown instruction: FOO` (with BuildKit's "did you mean" hint) for
 * an instruction that does not exist, and rejects the ONBUILD triggers that
 * BuildKit forbids.
 */
export function checkInstruction(i: Instruction, file = 'Dockerfile'): void {
  const fail = (reason: string) => new DockerfileParseError(reason, file, i.startLine, i.endLine);
  if (!known.has(i.keyword)) {
    const hint = suggestion(i.command);
    throw fail(`unknown instruction: ${i.command}${hint ? ` (did you mean ${hint}?)` : ''}`);
  }
  if (i.keyword === 'onbuild' && i.next) {
    const trigger = i.next.command.toUpperCase();
    if (trigger === 'ONBUILD') throw fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    if (trigger === 'FROM' || trigger === 'MAINTAINER') throw fail(`${trigger} isn't allowed as an ONBUILD trigger`);
  }
}

/** The known instruction within edit distance 2, in the case the user wrote (BuildKit's suggest.Search). */
function suggestion(written: string): string | undefined {
  const lower = written.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of knownInstructions) {
    const d = editDistance(lower, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  if (written === written.toUpperCase() && written !== lower) return best.toUpperCase();
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
