// The Dockerfile parser: physical lines to instructions, with BuildKit's rules
// for parser directives, comments, line continuations and heredocs
// (frontend/dockerfile/parser/parser.go). It only structures the text; the
// build stage expands variables and interprets each instruction.

import { ArgumentError, parseArguments, splitCommand } from './arguments.ts';
import { DockerfileParseError, ShellExpansionError } from './errors.ts';
import { ShellLexer, type EscapeToken } from './shell.ts';
import { trimLeftSpace } from './unicode.ts';

export interface Heredoc {
  /** The delimiter word, quotes removed (`<<"EOF"` → `EOF`). */
  name: string;
  /**
   * The body as written, every line with its newline, terminator excluded.
   * With `chomp` (`<<-`) the leading tabs are NOT yet removed, as in BuildKit:
   * use `chompHeredocContent` before writing it out.
   */
  content: string;
  /** False when any part of the delimiter was quoted: then `$` in the body is literal. */
  expand: boolean;
  /** `<<-`: strip leading tabs from body lines. */
  chomp: boolean;
  /** The descriptor the heredoc feeds (`3<<EOF` → 3); 0 when none was written. */
  fileDescriptor: number;
}

export interface Instruction {
  /** Lower-case keyword: 'from', 'run', 'copy', …, unknown ones too. */
  keyword: string;
  /** The keyword as written (`Run`), for messages that quote it. */
  command: string;
  /** `--name=value` words after the keyword, unquoted (`--x="a b"` → `--x=a b`). */
  flags: string[];
  /** Arguments as BuildKit's AST holds them (see the conformance README). */
  args: string[];
  /** JSON (exec) form was used (RUN/CMD/ENTRYPOINT/SHELL/COPY/ADD/VOLUME/HEALTHCHECK CMD). */
  json: boolean;
  /** The instruction's text with continuations joined, as BuildKit's Node.Original. */
  original: string;
  /** 1-based; a continued instruction ends on its last physical line, a heredoc on its terminator. */
  startLine: number;
  endLine: number;
  heredocs: Heredoc[];
  /** ONBUILD's trigger instruction. */
  next?: Instruction;
}

export interface Dockerfile {
  escapeToken: EscapeToken;
  /** Parser directives found at the top, keys lower-case: escape, syntax, check. */
  directives: Record<string, string>;
  instructions: Instruction[];
  /** Non-fatal findings, worded as BuildKit's (e.g. empty continuation lines). */
  warnings: string[];
}

/** bufio.Scanner's limit in BuildKit. */
const maxLineBytes = 65535;

const heredocInstructions = new Set(['add', 'copy', 'run']);

export function parseDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const lines = splitLines(text.startsWith('\ufeff') ? text.slice(1) : text);
  const directives = new DirectiveScanner();
  const instructions: Instruction[] = [];
  const warnings: string[] = [];
  const fail = (reason: string, line: number, endLine = line) => new DockerfileParseError(reason, file, line, endLine);

  let next = 0;
  let currentLine = 0;
  const readLine = (): string => {
    const raw = lines[next++];
    currentLine++;
    if (raw.length > maxLineBytes / 3 && Buffer.byteLength(raw) > maxLineBytes + (raw.endsWith('\n') ? 1 : 0)) {
      throw fail(`dockerfile line greater than max allowed size of ${maxLineBytes}`, currentLine);
    }
    return raw;
  };

  while (next < lines.length) {
    const first = trimLeftSpace(trimNewline(readLine()));
    try {
      directives.consider(first);
    } catch (err) {
      throw fail((err as Error).message, currentLine);
    }
    const startLine = currentLine;
    const continuation = continuationPattern(directives.escapeToken);
    let [chunk, complete] = trimContinuation(isComment(first) ? '' : first, continuation);
    if (complete && chunk === '') continue;

    let joined = chunk;
    let hadEmptyContinuationLine = false;
    while (!complete && next < lines.length) {
      const line = trimNewline(readLine());
      if (isComment(line)) continue;
      if (trimLeftSpace(line) === '') {
        hadEmptyContinuationLine = true;
        continue;
      }
      [chunk, complete] = trimContinuation(line, continuation);
      joined += chunk;
    }
    if (hadEmptyContinuationLine) warnings.push(`Empty continuation line found in: ${joined}`);

    let instruction: Instruction;
    try {
      instruction = instructionFromLine(joined, directives.escapeToken);
    } catch (err) {
      if (err instanceof ArgumentError) throw fail(err.message, startLine, currentLine);
      throw err;
    }

    if (canContainHeredoc(instruction) && joined.includes('<<')) {
      let starts: HeredocStart[];
      try {
        starts = heredocsFromLine(joined);
      } catch (err) {
        if (err instanceof ShellExpansionError || err instanceof ArgumentError) throw fail(err.message, startLine, currentLine);
        throw err;
      }
      for (const start of starts) {
        let content = '';
        let terminated = false;
        while (next < lines.length) {
          const raw = readLine();
          let candidate = trimNewline(raw);
          if (start.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === start.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        if (!terminated) throw fail('unterminated heredoc', startLine, currentLine);
        instruction.heredocs.push({ ...start, content });
      }
      // ONBUILD's trigger is what the heredocs belong to when it runs.
      if (instruction.next) instruction.next.heredocs = instruction.heredocs;
    }

    setLines(instruction, startLine, currentLine);
    instructions.push(instruction);
  }

  if (instructions.length === 0) throw fail('file with no instructions', Math.max(currentLine, 1));
  return { escapeToken: directives.escapeToken, directives: directives.values, instructions, warnings };
}

/** Removes the leading tabs of every line, for `<<-` heredocs. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/**
 * The heredoc one argument names (`<<EOF`, `<<-"EOF"`), or undefined for an
 * ordinary argument: how COPY and ADD tell inline sources from paths.
 */
export function heredocFromWord(word: string): Omit<Heredoc, 'content'> | undefined {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

/**
 * A COPY/ADD heredoc body as the file it becomes (BuildKit's rules): leading
 * tabs chomped for `<<-`, then `$` expanded unless the delimiter was quoted;
 * quotes in the body are ordinary characters.
 */
export function heredocFileContent(heredoc: Heredoc, env: ReadonlyMap<string, string>): string {
  const content = heredoc.chomp ? chompHeredocContent(heredoc.content) : heredoc.content;
  if (!heredoc.expand) return content;
  return new ShellLexer('\\', { skipProcessQuotes: true }).process(content, env).result;
}

function instructionFromLine(line: string, escape: EscapeToken): Instruction {
  const { command, flags, rest } = splitCommand(line, escape);
  const keyword = command.toLowerCase();
  const parsed = parseArguments(keyword, rest, escape);
  const instruction: Instruction = {
    keyword, command, flags, args: parsed.args, json: parsed.json, original: line, startLine: 0, endLine: 0, heredocs: [],
  };
  if (parsed.subCommand) instruction.next = instructionFromLine(parsed.subCommand, escape);
  return instruction;
}

function setLines(instruction: Instruction, start: number, end: number): void {
  instruction.startLine = start;
  instruction.endLine = end;
  if (instruction.next) setLines(instruction.next, start, end);
}

function canContainHeredoc(instruction: Instruction): boolean {
  const target = instruction.keyword === 'onbuild' && instruction.next ? instruction.next : instruction;
  return heredocInstructions.has(target.keyword) && !target.json;
}

type HeredocStart = Omit<Heredoc, 'content'>;

const noEnv: ReadonlyMap<string, string> = new Map();
/** `[fd]<<[-]word`; RE2's \s has no \v. */
const heredocWord = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/** The heredocs a line opens, in order. A line that does not lex as shell words opens none. */
function heredocsFromLine(line: string): HeredocStart[] {
  const lexer = new ShellLexer('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lexer.process(line, noEnv).words;
  } catch (err) {
    if (err instanceof ShellExpansionError) return [];
    throw err;
  }
  const starts: HeredocStart[] = [];
  for (const word of words) {
    const start = parseHeredocWord(word);
    if (start) starts.push(start);
  }
  return starts;
}

/**
 * One `<<WORD` token. The delimiter is lexed with and without quote removal:
 * if the counts of quote characters differ, part of it was quoted and the body
 * is not expanded, as in a shell.
 */
function parseHeredocWord(word: string): HeredocStart | undefined {
  const m = heredocWord.exec(word);
  if (!m || m[3] === '') return undefined;
  const rest = m[3];
  const words = new ShellLexer('\\', { skipUnsetEnv: true }).process(rest, noEnv).words;
  if (words.length !== 1) return undefined;
  const rawWords = new ShellLexer('\\', { skipUnsetEnv: true, rawQuotes: true }).process(rest, noEnv).words;
  if (rawWords.length !== 1) throw new ArgumentError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const quotes = (s: string) => s.split(/['"]/).length - 1;
  return {
    name: words[0],
    expand: quotes(words[0]) === quotes(rawWords[0]),
    chomp: m[2] === '-',
    fileDescriptor: m[1] === '' ? 0 : Number(m[1]),
  };
}

/**
 * Parser directives (`# key=value`) are read only from the leading block of
 * `#` lines; the first other line, or a comment that is not a known directive,
 * ends the block.
 */
class DirectiveScanner {
  escapeToken: EscapeToken = '\\';
  readonly values: Record<string, string> = {};
  private done = false;

  consider(line: string): void {
    if (this.done) return;
    const m = line.startsWith('#') ? /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/.exec(trimLeftSpace(line.slice(1))) : null;
    const key = m?.[1].toLowerCase();
    if (!m || (key !== 'escape' && key !== 'syntax' && key !== 'check')) {
      this.done = true;
      return;
    }
    if (key in this.values) throw new Error(`only one ${key} parser directive can be used`);
    const value = m[2];
    if (key === 'escape') {
      if (value !== '\\' && value !== '`') throw new Error(`invalid escape token '${value}' does not match \` or \\`);
      this.escapeToken = value;
    }
    this.values[key] = value;
  }
}

/**
 * A line continues when it ends in the escape character (spaces and tabs may
 * follow) that is not itself escaped, or is that character alone.
 */
function continuationPattern(escape: EscapeToken): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

/** [text without the continuation marker, whether the instruction ends here] */
function trimContinuation(line: string, continuation: RegExp): [string, boolean] {
  if (!continuation.test(line)) return [line, true];
  return [line.replace(continuation, '$1'), false];
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith('#');
}

function trimNewline(line: string): string {
  return line.replace(/[\r\n]+$/, '');
}

/** Lines with their newlines kept, so heredoc bodies stay byte-exact. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    lines.push(text.slice(start, end));
    start = end;
  }
  return lines;
}
