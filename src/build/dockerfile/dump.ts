// BuildKit's AST.Dump(): one `(keyword ["flags"] "arg"…)` line per
// instruction, Go-quoted. It is the format of the conformance `result` files,
// and a readable way to see what the parser made of a file.

import type { Dockerfile, Instruction } from './parser.ts';
import { goQuote, goQuoteList } from './quote.ts';
import { trimSpace } from './unicode.ts';

/** The dump of a whole file, ending in one newline (a conformance `result`). */
export function dumpDockerfile(df: Dockerfile): string {
  return df.instructions.map((i) => `(${dumpInstruction(i)})\n`).join('');
}

export function dumpInstruction(i: Instruction): string {
  let out = i.keyword;
  if (i.flags.length > 0) out += ' ' + goQuoteList(i.flags);
  if (i.next) out += ` (${dumpInstruction(i.next)})`;
  else for (const arg of i.args) out += ' ' + goQuote(arg);
  return trimSpace(out);
}
