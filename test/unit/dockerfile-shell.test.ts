// The shell-word expander beyond BuildKit's tables: the Dockerfile reference's
// examples, the backtick escape, lexer options, and error wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShellExpansionError, ShellLexer, expandWithMatches, expandWord, expandWords } from '../../src/build/dockerfile/index.ts';

test('reference: the ${…} operators on foobarbaz', () => {
  const env = new Map([['str', 'foobarbaz']]);
  const cases: [string, string][] = [
    ['${str#f*b}', 'arbaz'], ['${str##f*b}', 'az'], ['${str%b*}', 'foobar'], ['${str%%b*}', 'foo'],
    ['${str/ba/fo}', 'fooforbaz'], ['${str//ba/fo}', 'fooforfoz'],
    ['${str:-x}', 'foobarbaz'], ['${unset:-x}', 'x'], ['${str:+x}', 'x'], ['${unset:+x}', ''],
    ['\\$str', '$str'], ['\\${str}', '${str}'],
  ];
  for (const [word, expected] of cases) assert.equal(expandWord(word, env), expected, word);
});

test('the backtick escape token escapes, and backslashes are then literal', () => {
  const env = new Map([['X', '1']]);
  assert.equal(expandWord('c:\\dir\\$X', env, '`'), 'c:\\dir\\1');
  assert.equal(expandWord('`$X "a`"b"', env, '`'), '$X a"b');
  assert.deepEqual(expandWords('a` b c', env, '`'), ['a b', 'c']);
});

test('word splitting: unquoted expansions split, quoted ones and escaped blanks do not', () => {
  const env = new Map([['V', 'one two'], ['E', '']]);
  assert.deepEqual(expandWords('$V "$V" \\ x', env), ['one', 'two', 'one two', ' x']);
  assert.deepEqual(expandWords('a$E b', env), ['a', 'b']);
  // Text before an operator expansion stays in its word.
  assert.deepEqual(expandWords('ab${unset:-c d}e', env), ['abc', 'de']);
  assert.deepEqual(expandWords('x=${V:+"q r"}', env), ['x=q', 'r']);
});

test('matched and unmatched names, including those inside patterns and defaults', () => {
  const r = expandWithMatches('${A:-$B} ${C#$D} $E', new Map([['A', ''], ['C', 'cc'], ['D', 'c']]));
  assert.equal(r.result, ' c ');
  assert.deepEqual([...r.matched].sort(), ['A', 'C', 'D']);
  assert.deepEqual([...r.unmatched].sort(), ['B', 'E']);
});

test('errors say what failed, in BuildKit\'s words', () => {
  const env = new Map([['EMPTY', '']]);
  const fails = (word: string, message: string) => assert.throws(() => expandWord(word, env), (err: unknown) => {
    assert.ok(err instanceof ShellExpansionError);
    assert.equal(err.message, message);
    return true;
  });
  fails('${X:?must be set}', 'failed to process "${X:?must be set}": X: must be set');
  fails('${X?}', 'failed to process "${X?}": X: is not allowed to be unset');
  fails('${EMPTY:?}', 'failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty');
  fails('${}', 'failed to process "${}": syntax error: bad substitution');
  fails('${X', 'failed to process "${X": unsupported modifier (\ufffd) in substitution');
  fails('${X:-a', 'failed to process "${X:-a": syntax error: missing \'}\'');
  fails('${X=a}', 'failed to process "${X=a}": unsupported modifier (=) in substitution');
  fails('${X:#a}', 'failed to process "${X:#a}": unsupported modifier (:#) in substitution');
  fails('"abc', 'failed to process "\\"abc": unexpected end of statement while looking for matching double-quote');
  fails("'abc", 'failed to process "\'abc": unexpected end of statement while looking for matching single-quote');
  fails('${X#\\a}', 'failed to process "${X#\\\\a}": invalid pattern (\\a) in substitution: invalid escape \'\\a\'');
});

test('lexer options: raw quotes and escapes, unset variables kept, quotes ignored', () => {
  const env = new Map([['SET', 'v']]);
  assert.equal(new ShellLexer('\\', { rawQuotes: true }).process(`'a b' "c $SET"`, env).result, `'a b' "c v"`);
  assert.equal(new ShellLexer('\\', { rawEscapes: true }).process('a\\ b', env).result, 'a\\ b');
  assert.equal(new ShellLexer('\\', { skipUnsetEnv: true }).process('$SET $NO ${NO} ${NO:-d}', env).result, 'v $NO ${NO} ${NO:-d}');
  assert.equal(new ShellLexer('\\', { skipProcessQuotes: true }).process(`'$SET' "x"`, env).result, `'v' "x"`);
});

test('patterns: globs match across any characters but a newline, escapes make them literal', () => {
  const env = new Map([['P', 'a*b?c.d'], ['M', 'line1\nline2']]);
  assert.equal(expandWord('${P#*\\*}', env), 'b?c.d');
  assert.equal(expandWord('${P%\\?*}', env), 'a*b');
  assert.equal(expandWord('${P//./-}', env), 'a*b?c-d');
  assert.equal(expandWord('${M#*1}', env), '\nline2');
  assert.equal(expandWord('${M##*e}', env), '1\nline2');
  // A replacement that reaches //-substitution with a $ in it is read as Go's
  // template: $0 is the match, $$ a dollar, other names are empty.
  const withTemplate = new Map([...env, ['R', '[$0|$$|$x|$]']]);
  assert.equal(expandWord('${P//b/$R}', withTemplate), 'a*[b|$||$]?c.d');
  assert.equal(expandWord('${P/b/$R}', withTemplate), 'a*[$0|$$|$x|$]?c.d');
});
