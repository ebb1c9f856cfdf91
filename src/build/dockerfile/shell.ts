// Variable expansion and word splitting for Dockerfile instruction arguments,
// with the semantics of BuildKit's shell.Lex (frontend/dockerfile/shell): the
// quoting and escape rules of a POSIX shell word, `$v`, `${v}`, and the
// `${v-w} ${v:-w} ${v+w} ${v:+w} ${v?m} ${v:?m} ${v#p} ${v##p} ${v%p} ${v%%p}
// ${v/p/r} ${v//p/r}` operators. Nothing is executed: no command substitution,
// no globbing, positional and special parameters are always empty.

import { ShellExpansionError } from './errors.ts';
import { goQuote } from './quote.ts';
import { isDigit, isLetter, isSpace } from './unicode.ts';

export type EscapeToken = '\\' | '`';

export interface ShellLexOptions {
  /** Keep quote characters in the output (quotes still group). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (`$x`, `${x:-y}`). */
  skipUnsetEnv?: boolean;
}

export interface Expansion {
  /** The expanded word, quotes removed. */
  result: string;
  /** The same input split into fields: unquoted expansions split on whitespace. */
  words: string[];
  /** Names referenced and set (set to '' counts). */
  matched: Set<string>;
  /** Names referenced and unset. */
  unmatched: Set<string>;
}

type Env = ReadonlyMap<string, string>;

/** A bare lexer failure; `ShellLexer.process` adds the `failed to process "…"` prefix. */
class LexFailure extends Error {}

export class ShellLexer {
  readonly escapeToken: EscapeToken;
  readonly options: Readonly<ShellLexOptions>;

  constructor(escapeToken: EscapeToken = '\\', options: ShellLexOptions = {}) {
    this.escapeToken = escapeToken;
    this.options = { ...options };
  }

  process(word: string, env: Env): Expansion {
    const scan = new ShellWord(this, word, env);
    try {
      const { result, words } = scan.processStopOn(undefined, this.options.rawEscapes ?? false);
      return { result, words, matched: scan.matched, unmatched: scan.unmatched };
    } catch (err) {
      if (err instanceof LexFailure) throw new ShellExpansionError(`failed to process ${goQuote(word)}: ${err.message}`);
      throw err;
    }
  }
}

/** Expands one word (BuildKit's ProcessWord): variables replaced, quotes and escapes removed. */
export function expandWord(word: string, env: Env, escapeToken: EscapeToken = '\\'): string {
  return new ShellLexer(escapeToken).process(word, env).result;
}

/** Expands and splits into fields (BuildKit's ProcessWords). */
export function expandWords(word: string, env: Env, escapeToken: EscapeToken = '\\'): string[] {
  return new ShellLexer(escapeToken).process(word, env).words;
}

/** Expands one word and reports which variables it referenced (BuildKit's ProcessWordWithMatches). */
export function expandWithMatches(word: string, env: Env, escapeToken: EscapeToken = '\\'): { result: string; matched: Set<string>; unmatched: Set<string> } {
  const { result, matched, unmatched } = new ShellLexer(escapeToken).process(word, env);
  return { result, matched, unmatched };
}

/** An environment from `KEY=value` entries; a bare `KEY` means empty, and the last definition wins. */
export function envFromList(list: Iterable<string>): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq < 0) env.set(entry, '');
    else env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** Collects fields: whitespace from expansions separates them, quoted or escaped text never does. */
class Fields {
  private buf = '';
  private inWord = false;
  private readonly words: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf !== '') {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  finish(): string[] {
    if (this.buf !== '') {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** One pass over one input word. */
class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly lexer: ShellLexer;
  private readonly env: Env;

  constructor(lexer: ShellLexer, word: string, env: Env) {
    this.lexer = lexer;
    this.env = env;
    this.chars = Array.from(word);
    this.rawEscapes = lexer.options.rawEscapes ?? false;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  /** Processes up to `stop` (consumed) or the end of input. */
  processStopOn(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.scanUntil(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private scanUntil(stop: string | undefined): { result: string; words: string[] } {
    const escape = this.lexer.escapeToken;
    const processQuotes = !this.lexer.options.skipProcessQuotes;
    const fields = new Fields();
    let result = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (stop !== undefined && ch === stop) {
        this.next();
        return { result, words: fields.finish() };
      }
      let special: string | undefined;
      if (ch === '$') special = this.processDollar();
      else if (ch === '<') special = this.processPossibleHeredoc();
      else if (processQuotes && ch === "'") special = this.processSingleQuote();
      else if (processQuotes && ch === '"') special = this.processDoubleQuote();
      if (special !== undefined) {
        result += special;
        // Only the result of an expansion is split into fields.
        if (ch === '$') fields.addString(special);
        else fields.addRaw(special);
        continue;
      }
      this.next();
      if (ch === escape) {
        if (this.rawEscapes) {
          fields.addRaw(ch);
          result += ch;
        }
        const escaped = this.next();
        if (escaped === undefined) break; // an escape at the very end is dropped
        fields.addRaw(escaped);
        result += escaped;
      } else {
        fields.addChar(ch);
        result += ch;
      }
    }
    if (stop !== undefined) throw new LexFailure(`unexpected end of statement while looking for matching ${stop}`);
    return { result, words: fields.finish() };
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a ' cannot be escaped inside.
    const raw = this.lexer.options.rawQuotes;
    const open = this.next()!;
    let result = raw ? open : '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new LexFailure('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return raw ? result + ch : result;
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except $ expansions; the escape character escapes only " $ and itself.
    const raw = this.lexer.options.rawQuotes;
    const escape = this.lexer.escapeToken;
    const open = this.next()!;
    let result = raw ? open : '';
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) throw new LexFailure('unexpected end of statement while looking for matching double-quote');
      if (peeked === '"') {
        this.next();
        return raw ? result + '"' : result;
      }
      if (peeked === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next()!;
      if (ch === escape) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === escape) ch = this.next()!;
      }
      result += ch;
    }
  }

  private processPossibleHeredoc(): string {
    // `<<` and the blanks after it stay in one field with the delimiter word.
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let result = '<<';
    for (let ch = this.peek(); ch === ' ' || ch === '\t' || ch === '\r'; ch = this.peek()) result += this.next();
    return result;
  }

  private processDollar(): string {
    this.next();
    const skipUnset = this.lexer.options.skipUnsetEnv ?? false;
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return '$' + name;
      return value ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new LexFailure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexFailure('syntax error: bad substitution');

    const name = this.processName();
    let op = this.next();
    let modifier = op ?? '\ufffd';
    if (op === '}') {
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return `\${${name}}`;
      return value ?? '';
    }
    if (op === '/') return this.processReplacement(name);

    let nullIsUnset = false;
    if (op === ':') {
      nullIsUnset = true;
      op = this.next();
      modifier += op ?? '\ufffd';
    } else if (op !== '+' && op !== '-' && op !== '?' && op !== '#' && op !== '%') {
      throw new LexFailure(`unsupported modifier (${modifier}) in substitution`);
    }
    // Patterns keep their escapes so that `\*` stays a literal star.
    const isPattern = op === '#' || op === '%';
    if (nullIsUnset && isPattern) throw new LexFailure(`unsupported modifier (${modifier}) in substitution`);
    let word = this.processNested('}', isPattern, "syntax error: missing '}'");

    const value = this.getEnv(name);
    if (value === undefined && skipUnset) return `\${${name}${modifier}${word}}`;
    const empty = value === undefined || (nullIsUnset && value === '');
    switch (op) {
      case '-':
        return empty ? word : value!;
      case '+':
        return empty ? '' : word;
      case '?':
        if (value === undefined) throw new LexFailure(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new LexFailure(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // `#`/`%` remove the shortest match, `##`/`%%` the longest.
        const greedy = word.startsWith(op);
        if (greedy) word = word.slice(1);
        return op === '%' ? trimSuffix(word, value ?? '', greedy) : trimPrefix(word, value ?? '', greedy);
      }
      default:
        throw new LexFailure(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  private processReplacement(name: string): string {
    const replaceAll = this.peek() === '/';
    if (replaceAll) this.next();
    const pattern = this.processNested('/', true, "syntax error: missing '/' in ${}");
    const replacement = this.processNested('}', true, "syntax error: missing '}'");
    const value = this.getEnv(name);
    if (value === undefined && this.lexer.options.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    const re = shellPatternToRegex(pattern, true, false);
    if (replaceAll) return goReplaceAll(re, value ?? '', replacement);
    const m = re.exec(value ?? '');
    if (!m) return value ?? '';
    return value!.slice(0, m.index) + replacement + value!.slice(m.index + m[0].length);
  }

  /** A nested word up to `stop`; running out of input gives `missingMessage`. */
  private processNested(stop: string, rawEscapes: boolean, missingMessage: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (err instanceof LexFailure && this.peek() === undefined) throw new LexFailure(missingMessage);
      throw err;
    }
  }

  /** A variable name; a name starting with a digit is all digits, special parameters are one character. */
  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        for (let d = this.peek(); d !== undefined && isDigit(d); d = this.peek()) name += this.next();
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) return this.next()!;
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    const value = this.env.get(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }
}

/**
 * A shell glob (`*`, `?`, escapes; no bracket expressions) as a RegExp. Go's
 * `.` does not match a newline, hence `[^\n]`.
 */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i];
    if (tok === '*') { out += star; continue; }
    if (tok === '?') { out += '[^\\n]'; continue; }
    if (tok === '\\') {
      // `\}` and `\/` were escaped only for the ${} syntax, not for the pattern.
      if (chars[i + 1] === '}' || chars[i + 1] === '/') continue;
      tok = chars[++i];
      if (tok !== '*' && tok !== '?' && tok !== '\\') {
        throw new LexFailure(`invalid pattern (${pattern}) in substitution: invalid escape '\\${tok ?? ''}'`);
      }
      out += '\\' + tok;
      continue;
    }
    if ('[]{}.+()|^$'.includes(tok)) out += '\\';
    out += tok;
  }
  return new RegExp(out, 'gu');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = shellPatternToRegex(pattern, greedy, true);
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Shortest/longest suffix: reverse both so that it becomes a prefix match (escape pairs keep their order). */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

function reversePattern(pattern: string): string {
  const p = Array.from(pattern);
  const out = new Array<string>(p.length);
  const last = p.length - 1;
  for (let i = 0; i <= last;) {
    if (p[i] === '\\' && i !== last) {
      out[last - i - 1] = p[i];
      out[last - i] = p[i + 1];
      i += 2;
    } else {
      out[last - i] = p[i];
      i++;
    }
  }
  return out.join('');
}

/**
 * Go's Regexp.ReplaceAllString: an empty match right after a match is not
 * replaced, and `$0`/`${0}` in the replacement mean the match, `$$` a dollar,
 * any other `$name` nothing (BuildKit's patterns have no groups).
 */
function goReplaceAll(re: RegExp, src: string, template: string): string {
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    re.lastIndex = searchPos;
    const m = re.exec(src);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(template, m[0]);
    lastMatchEnd = end;
    const width = searchPos < src.length ? (src.codePointAt(searchPos)! > 0xffff ? 2 : 1) : 0;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + src.slice(lastMatchEnd);
}

function expandTemplate(template: string, match: string): string {
  let out = '';
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf('$');
    if (dollar < 0) return out + rest;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = /^(?:\{([\p{L}\p{Nd}_]+)\}|([\p{L}\p{Nd}_]+))/u.exec(rest);
    if (!ref) {
      out += '$';
      continue;
    }
    rest = rest.slice(ref[0].length);
    const name = ref[1] ?? ref[2];
    if (/^[0-9]+$/.test(name) && Number(name) === 0) out += match;
  }
}
