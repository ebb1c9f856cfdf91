// `.env`, --env-file and a service's env_file: KEY=VALUE lines in compose's
// dotenv dialect (comments, `export `, single/double quotes, multi-line
// quoted values, `${VAR}` substitution in unquoted and double-quoted values).
import { readFileSync } from 'node:fs';
import { ComposeError } from './errors.ts';
import { substitute, InvalidTemplateError, MissingRequiredError, type Lookup } from './interpolate.ts';

const KEY = /^[A-Za-z_][A-Za-z0-9_.\-\[\]]*$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$' };

/**
 * Parses dotenv text. A later line may use an earlier one's value; `lookup`
 * supplies the rest (the process environment). A bare `KEY` takes its value
 * from `lookup` and is skipped when unset.
 */
export function parseEnvText(text: string, filename: string, lookup: Lookup = () => undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  const get: Lookup = (n) => (Object.hasOwn(vars, n) ? vars[n] : lookup(n));
  const src = text.replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (why: string): never => {
    throw new ComposeError(`failed to read ${filename}: line ${line}: ${why}`);
  };
  const interp = (v: string): string => {
    try {
      return substitute(v, get);
    } catch (err) {
      if (err instanceof InvalidTemplateError || err instanceof MissingRequiredError) fail(err.message || `invalid interpolation format: ${v}`);
      throw err;
    }
  };
  while (i < src.length) {
    let end = src.indexOf('\n', i);
    if (end < 0) end = src.length;
    let raw = src.slice(i, end).trim();
    const startLine = line;
    i = end + 1;
    line++;
    if (raw === '' || raw.startsWith('#')) continue;
    if (raw.startsWith('export ')) raw = raw.slice(7).trimStart();
    const eq = raw.search(/[=:]/);
    if (eq < 0) {
      if (!KEY.test(raw)) { line = startLine; fail(`unexpected character "${raw[0]}" in variable name "${raw}"`); }
      const v = lookup(raw);
      if (v !== undefined) vars[raw] = v;
      continue;
    }
    const key = raw.slice(0, eq).trim();
    if (!KEY.test(key)) { line = startLine; fail(`unexpected character in variable name "${key}"`); }
    let rest = raw.slice(eq + 1).trimStart();
    const q = rest[0];
    if (q === '"' || q === "'") {
      // A quoted value may run over several lines; find its closing quote.
      let body = rest.slice(1);
      let close = findClose(body, q);
      while (close < 0 && i < src.length) {
        let e2 = src.indexOf('\n', i);
        if (e2 < 0) e2 = src.length;
        body += '\n' + src.slice(i, e2);
        i = e2 + 1;
        line++;
        close = findClose(body, q);
      }
      if (close < 0) { line = startLine; fail(`unterminated quoted value ${key}`); }
      const inner = body.slice(0, close);
      vars[key] = q === "'" ? inner : interp(inner.replace(/\\([nrt\\"])/g, (_m, c: string) => ESCAPES[c]));
      continue;
    }
    // Unquoted: an inline comment needs a blank before its `#`.
    const hash = rest.search(/\s#/);
    if (hash >= 0) rest = rest.slice(0, hash);
    vars[key] = interp(rest.trim());
  }
  return vars;
}

function findClose(body: string, q: string): number {
  for (let k = 0; k < body.length; k++) {
    if (body[k] === '\\' && q === '"') { k++; continue; }
    if (body[k] === q) return k;
  }
  return -1;
}

export function readEnvFile(path: string, lookup?: Lookup): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ComposeError(`env file ${path} not found: stat ${path}: no such file or directory`);
    if (code === 'EISDIR') throw new ComposeError(`env file ${path}: is a directory`);
    throw new ComposeError(`failed to read ${path}: ${(err as Error).message}`);
  }
  return parseEnvText(text, path, lookup);
}
