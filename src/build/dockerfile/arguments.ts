// How each instruction's text after the keyword becomes flags and arguments,
// following BuildKit's line parsers (frontend/dockerfile/parser/line_parsers.go)
// so that the AST dump matches its conformance files. Nothing is expanded or
// unquoted here except flags; that is the build stage's job.

import { isSpace, trimLeftSpace, trimSpace } from './unicode.ts';
import type { EscapeToken } from './shell.ts';
import { goQuote } from './quote.ts';

/** Thrown by the line parsers; the parser adds file and line. */
export class ArgumentError extends Error {}

export interface ParsedArguments {
  args: string[];
  json: boolean;
  /** ONBUILD's trigger, as text still to be parsed. */
  subCommand?: string;
}

/** Splits on runs of ASCII blanks, as Go's `[\t\v\f\r ]+` regexp does. */
const blanks = /[\t\v\f\r ]+/;

/** The keyword, the `--flags` (unquoted), and the trimmed remainder. */
export function splitCommand(line: string, escape: EscapeToken): { command: string; flags: string[]; rest: string } {
  const trimmed = trimSpace(line);
  const m = blanks.exec(trimmed);
  if (!m) return { command: trimmed, flags: [], rest: '' };
  const command = trimmed.slice(0, m.index);
  const { flags, rest } = extractFlags(trimmed.slice(m.index + m[0].length), escape);
  return { command, flags, rest: trimSpace(rest) };
}

/**
 * Leading words that start with `--` are flags; quotes in them are removed and
 * escapes resolved. A bare `--` ends the flags and is dropped.
 */
function extractFlags(line: string, escape: EscapeToken): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let word = '';
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = line[pos];
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { flags, rest: line.slice(pos) };
      phase = 'word';
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word !== '')) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        if (word === '--') return { flags, rest: line.slice(pos) };
        if (blankOK || word !== '') flags.push(word);
        phase = 'spaces';
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
    } else if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === line.length) {
        phase = 'word'; // an escape at the end of the line is dropped
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return { flags, rest: '' };
}

/**
 * Words separated by whitespace outside quotes; quotes and escapes are kept
 * in the words (used by ENV, LABEL and ARG).
 */
export function parseWords(rest: string, escape: EscapeToken): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let word = '';
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos];
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || word !== '') words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        if (blankOK || word !== '') words.push(word);
        phase = 'spaces';
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue; // an escape at the end is dropped
        word += ch;
        ch = chars[++pos];
      }
      word += ch;
      continue;
    }
    // In quotes: the escape character is literal inside single quotes.
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = chars[++pos];
    }
    word += ch;
  }
  return words;
}

function whitespaceDelimited(rest: string): ParsedArguments {
  return { args: rest === '' ? [] : rest.split(blanks), json: false };
}

/** A JSON array of strings, or undefined when `rest` is not valid JSON (then it is shell form). */
function parseJSONArray(rest: string): string[] | undefined {
  const text = trimLeftSpace(rest);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((v): v is string => typeof v === 'string')) {
    throw new ArgumentError('when using JSON array syntax, arrays must be comprised of strings only');
  }
  return value;
}

/** RUN, CMD, ENTRYPOINT, SHELL: exec form, or the whole rest as one shell-form argument. */
function maybeJSON(rest: string): ParsedArguments {
  if (rest === '') return { args: [], json: false };
  const list = parseJSONArray(rest);
  return list ? { args: list, json: true } : { args: [rest], json: false };
}

/** ADD, COPY, VOLUME: a JSON array, or whitespace-separated words. */
function maybeJSONToList(rest: string): ParsedArguments {
  const list = parseJSONArray(rest);
  return list ? { args: list, json: true } : whitespaceDelimited(rest);
}

/** ENV and LABEL: `key value…` (legacy, one pair) or `k=v k2=v2…`, as [key, value, separator] triples. */
function nameValue(rest: string, keyword: string, escape: EscapeToken): ParsedArguments {
  const words = parseWords(rest, escape);
  if (words.length === 0) return { args: [], json: false };
  if (!words[0].includes('=')) {
    const m = blanks.exec(rest);
    if (!m) throw new ArgumentError(`${keyword} must have two arguments`);
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) throw new ArgumentError(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    args.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return { args, json: false };
}

/** HEALTHCHECK: the type word (CMD, NONE, …), then the rest parsed like CMD. */
function healthConfig(rest: string): ParsedArguments {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep])) sep++;
  if (sep === 0) return { args: [], json: false };
  let next = sep;
  while (next < rest.length && isSpace(rest[next])) next++;
  const cmd = maybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/** The arguments of one instruction, by its (lower-case) keyword. */
export function parseArguments(keyword: string, rest: string, escape: EscapeToken): ParsedArguments {
  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume':
      return maybeJSONToList(rest);
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell':
      return maybeJSON(rest);
    case 'from':
    case 'expose':
      return whitespaceDelimited(rest);
    case 'env':
      return nameValue(rest, 'ENV', escape);
    case 'label':
      return nameValue(rest, 'LABEL', escape);
    case 'arg':
      return { args: parseWords(rest, escape), json: false };
    case 'healthcheck':
      return healthConfig(rest);
    case 'maintainer':
    case 'user':
    case 'workdir':
    case 'stopsignal':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'onbuild':
      return { args: [], json: false, subCommand: rest };
    default:
      // BuildKit's parser keeps unknown instructions with one empty argument;
      // checkInstruction rejects them when the build uses the file.
      return { args: [''], json: false };
  }
}
