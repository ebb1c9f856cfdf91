// A command or entrypoint string split into words as compose splits it
// (go-shellwords: blanks separate, quotes group, backslash escapes; no
// expansion).
import { ComposeError } from './errors.ts';

export function splitShellWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let have = false;
  let quote: '"' | "'" | '' = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = '';
      else cur += c;
      continue;
    }
    if (c === '\\' && i + 1 < s.length) {
      const n = s[i + 1];
      // Inside double quotes a backslash escapes only what the shell lets it.
      if (quote === '"' && !'"\\$`'.includes(n)) cur += c;
      cur += n;
      have = true;
      i++;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = '';
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      have = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (have) words.push(cur);
      cur = '';
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (quote) throw new ComposeError(`invalid command line string: ${s}`);
  if (have) words.push(cur);
  return words;
}
