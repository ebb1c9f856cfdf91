import { InvalidArgumentError } from '../../errors.ts';

/**
 * A Dockerfile that cannot be parsed. The message reads like BuildKit's
 * ("dockerfile parse error on line 3: unknown instruction: FOO"); `file` and
 * `line` (1-based) let the engine print the `Dockerfile:3` source excerpt, and
 * `reason` is the bare cause without the location prefix.
 */
export class DockerfileParseError extends InvalidArgumentError {
  readonly file: string;
  readonly line: number;
  readonly endLine: number;
  readonly reason: string;
  constructor(reason: string, file: string, line: number, endLine = line) {
    super(`dockerfile parse error on line ${line}: ${reason}`);
    this.file = file;
    this.line = line;
    this.endLine = endLine;
    this.reason = reason;
  }
}

/** A word that the shell lexer cannot expand: bad substitution, `${x:?msg}`, unterminated quote. */
export class ShellExpansionError extends InvalidArgumentError {}
