// `.env`, --env-file and a service's env_file: KEY=VALUE lines in compose's
// dotenv dialect (comments, `export `, single/double quotes, multi-line
// quoted values, `${VAR}` substitution in unquoted and double-quoted values).
import { readFileSync } from 'node:fs';
import { ComposeError } from './errors.ts';
import { substitute, InvalidTemplateError, MissingRequiredError, type Lookup } from './interpolate.ts';

const SPACE = new Set(['\t', '\v', '\f', '\r', ' ', '\u0085', '\u00a0']);
const isKeyChar = (c: string): boolean => /[\p{L}\p{N}_.\-[\]]/u.test(c);
const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\' };

/**
 * The shell escapes of a double-quoted value: \a \b \f \n \r \t \v \" \\, octal
 * \0NNN, and \$ for a literal dollar (written `$$` for the substitution that
 * follows). Anything else keeps its backslash.
 */
function expandEscapes(s: string): string {
  return s.replace(/\\(?:[abcfnrtv$"\\]|0\d{0,3})/g, (m) => {
    if (m === '\\$') return '$$';
    if (m.startsWith('\\0')) return m.length === 5 && /^[0-7]{3}$/.test(m.slice(2)) ? String.fromCharCode(parseInt(m.slice(2), 8)) : m;
    return SIMPLE_ESCAPES[m[1]] ?? m;
  });
}

/**
 * Parses dotenv text (compose-go's dotenv dialect): `KEY=value` or
 * `KEY: value`, `export `, comments, unquoted values cut at ` #`,
 * single-quoted values literal but for \', double-quoted ones with shell
 * escapes, both over several lines, and `${VAR}` substitution in all but
 * single-quoted values — `lookup` (the environment) first, then earlier
 * lines. A bare `KEY` takes its value from `lookup`, and is skipped if unset.
 */
export function parseEnvText(text: string, filename: string, lookup: Lookup = () => undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  const get: Lookup = (n) => lookup(n) ?? (Object.hasOwn(vars, n) ? vars[n] : undefined);
  const src = text.startsWith('\ufeff') ? text.slice(1) : text;
  let line = 1;
  let i = 0;
  const fail = (why: string): never => {
    throw new ComposeError(`failed to read ${filename}: line ${line}: ${why}`);
  };
  const interp = (v: string): string => {
    try {
      return substitute(v, get);
    } catch (err) {
      if (err instanceof InvalidTemplateError) fail(`invalid interpolation format: ${v}`);
      if (err instanceof MissingRequiredError) fail(err.message);
      throw err;
    }
  };
  while (i < src.length) {
    // The next statement: blanks and comment lines skipped.
    const c = src[i];
    if (c === '\n') { line++; i++; continue; }
    if (SPACE.has(c) || /\s/.test(c)) { i++; continue; }
    if (c === '#') {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? src.length : nl;
      continue;
    }
    const exp = /^export[ \t\v\f\r]+/.exec(src.slice(i, i + 40));
    if (exp) i += exp[0].length;
    // The key, up to `=`, `:` or the end of the line (a bare key).
    const start = i;
    let end = -1;
    let bare = false;
    for (; i < src.length; i++) {
      const k = src[i];
      if (SPACE.has(k)) continue;
      if (k === '=' || k === ':' || k === '\n') {
        end = i;
        bare = k === '\n';
        break;
      }
      if (!isKeyChar(k)) fail(`unexpected character ${JSON.stringify(k)} in variable name ${JSON.stringify(src.slice(start).split('\n')[0])}`);
    }
    if (end < 0) { end = src.length; bare = true; }
    const key = src.slice(start, end).replace(/\s+$/, '');
    if (key.includes(' ')) fail('key cannot contain a space');
    i = end + 1;
    if (bare) {
      const v = lookup(key);
      if (v !== undefined) vars[key] = v;
      line++;
      continue;
    }
    while (i < src.length && SPACE.has(src[i])) i++;
    const q = src[i];
    if (q !== '"' && q !== "'") {
      let nl = src.indexOf('\n', i);
      if (nl < 0) nl = src.length;
      let value = src.slice(i, nl);
      const hash = value.indexOf(' #');
      if (hash >= 0) value = value.slice(0, hash);
      vars[key] = interp(value.replace(/\s+$/, ''));
      i = nl + 1;
      line++;
      continue;
    }
    // A quoted value, over as many lines as it takes; \<quote> is the quote itself.
    let chars = '';
    let escaped = false;
    let closed = -1;
    const startLine = line;
    for (let j = i + 1; j < src.length; j++) {
      const ch = src[j];
      if (ch === '\n') line++;
      if (ch !== q) {
        if (!escaped && ch === '\\') { escaped = true; continue; }
        if (escaped) { escaped = false; chars += '\\'; }
        chars += ch;
        continue;
      }
      if (escaped) { escaped = false; chars += ch; continue; }
      closed = j;
      break;
    }
    if (closed < 0) {
      line = startLine;
      fail(`unterminated quoted value ${src.slice(i).split('\n')[0]}`);
    }
    vars[key] = q === '"' ? interp(expandEscapes(chars)) : chars;
    i = closed + 1;
  }
  return vars;
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
