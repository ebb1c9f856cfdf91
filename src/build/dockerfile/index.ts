// The Dockerfile language: parser, AST dump, instruction check, and the shell
// word expander the build uses for instruction arguments.

export { parseDockerfile, chompHeredocContent, heredocFromWord, heredocFileContent } from './parser.ts';
export type { Dockerfile, Instruction, Heredoc } from './parser.ts';
export { dumpDockerfile, dumpInstruction } from './dump.ts';
export { checkInstruction, isKnownInstruction, knownInstructions } from './instructions.ts';
export { DockerfileParseError, ShellExpansionError } from './errors.ts';
export { ShellLexer, expandWord, expandWords, expandWithMatches, envFromList } from './shell.ts';
export type { EscapeToken, ShellLexOptions, Expansion } from './shell.ts';
export { formatSourceExcerpt } from './source-excerpt.ts';
