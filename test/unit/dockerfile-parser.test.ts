// The Dockerfile parser beyond BuildKit's dump corpus: directives, comments,
// continuations, which form (JSON/shell) was used, heredocs, errors with file
// and line, and the examples of the Dockerfile reference.
import { httpStatus } from '../../src/daemon/routes/errors.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DockerfileParseError, checkInstruction, chompHeredocContent, dumpDockerfile, expandWord, formatSourceExcerpt, heredocFileContent, heredocFromWord, parseDockerfile,
  type Heredoc, type Instruction,
} from '../../src/build/dockerfile/index.ts';

const dump = (text: string) => dumpDockerfile(parseDockerfile(text));
const only = (text: string): Instruction => {
  const df = parseDockerfile(text);
  assert.equal(df.instructions.length, 1, dump(text));
  return df.instructions[0];
};
const parseFails = (text: string, reason: string | RegExp, line: number, file = 'Dockerfile') =>
  assert.throws(() => parseDockerfile(text, file), (err: unknown) => {
    assert.ok(err instanceof DockerfileParseError, String(err));
    if (typeof reason === 'string') assert.equal(err.reason, reason);
    else assert.match(err.reason, reason);
    assert.equal(err.line, line);
    assert.equal(err.file, file);
    assert.equal(err.message, `dockerfile parse error on line ${line}: ${err.reason}`);
    return true;
  });

test('parser directives: escape and syntax are read from the top, keys case-insensitive', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1\n# ESCAPE = `\n\nFROM busybox\nRUN echo a `\n  b\nCOPY c:\\ d\\\n');
  assert.equal(df.escapeToken, '`');
  assert.deepEqual(df.directives, { syntax: 'docker/dockerfile:1', escape: '`' });
  assert.equal(dumpDockerfile(df), '(from "busybox")\n(run "echo a   b")\n(copy "c:\\\\" "d\\\\")\n');
});

test('parser directives: only in the leading block of comments', () => {
  // After an instruction, a blank line or an ordinary comment, `# escape=` is just a comment.
  for (const text of ['FROM a\n# escape=`\nRUN x \\\n y\n', '\n# escape=`\nFROM a\nRUN x \\\n y\n', '# hello\n# escape=`\nFROM a\nRUN x \\\n y\n']) {
    const df = parseDockerfile(text);
    assert.equal(df.escapeToken, '\\', text);
    assert.deepEqual(df.directives, {});
    assert.equal(df.instructions.at(-1)!.args[0], 'x  y');
  }
  // An unknown directive ends the block too.
  assert.equal(parseDockerfile('# unknowndirective=value\n# escape=`\nFROM a\n').escapeToken, '\\');
  // A directive cannot be continued onto the next line.
  const df = parseDockerfile('# direc \\\ntive=value\nFROM a\n');
  assert.equal(df.instructions[0].keyword, 'tive=value');
});

test('parser directives: a repeated or invalid directive is an error on its line', () => {
  parseFails('# escape=\\\n# escape=`\nFROM a\n', 'only one escape parser directive can be used', 2);
  parseFails('# escape=x\nFROM a\n', "invalid escape token 'x' does not match ` or \\", 1);
});

test('comments and blank lines produce nothing; # is a comment only at the start of a line', () => {
  const df = parseDockerfile('# Comment\n\n   # indented comment\nRUN echo hello # not a comment\n\nRUN echo "#" world\n');
  assert.deepEqual(df.instructions.map((i) => i.args), [['echo hello # not a comment'], ['echo "#" world']]);
  assert.deepEqual(df.instructions.map((i) => [i.startLine, i.endLine]), [[4, 4], [6, 6]]);
});

test('line continuations: comments and empty lines inside are skipped, with a warning for the empty ones', () => {
  const df = parseDockerfile('FROM a\nRUN apt-get update && \\\n# comment\n\n    apt-get install -y x\nRUN done\n');
  const run = df.instructions[1];
  assert.equal(run.args[0], 'apt-get update &&     apt-get install -y x');
  assert.equal(run.original, 'RUN apt-get update &&     apt-get install -y x');
  assert.deepEqual([run.startLine, run.endLine], [2, 5]);
  assert.deepEqual(df.warnings, ['Empty continuation line found in: RUN apt-get update &&     apt-get install -y x']);
  assert.deepEqual([df.instructions[2].startLine, df.instructions[2].endLine], [6, 6]);
});

test('CRLF line endings and a BOM are accepted', () => {
  assert.equal(dump('\ufeffFROM a\r\nRUN b \\\r\n  c\r\n'), '(from "a")\n(run "b   c")\n');
});

test('the form used is recorded: JSON (exec) or shell', () => {
  const df = parseDockerfile([
    'FROM a', 'CMD ["echo test"]', 'CMD echo test', 'ENTRYPOINT ["/bin/sh", "-c"]', "RUN ['single', 'quotes']",
    'SHELL ["/bin/bash", "-c"]', 'COPY ["a b", "/c/"]', 'COPY a /c/', 'VOLUME ["/data"]', 'HEALTHCHECK CMD ["curl", "x"]',
    'HEALTHCHECK CMD curl x', 'CMD []', 'RUN [ "unterminated"',
  ].join('\n'));
  assert.deepEqual(df.instructions.slice(1).map((i) => [i.keyword, i.json, i.args]), [
    ['cmd', true, ['echo test']],
    ['cmd', false, ['echo test']],
    ['entrypoint', true, ['/bin/sh', '-c']],
    ['run', false, ["['single', 'quotes']"]],
    ['shell', true, ['/bin/bash', '-c']],
    ['copy', true, ['a b', '/c/']],
    ['copy', false, ['a', '/c/']],
    ['volume', true, ['/data']],
    ['healthcheck', true, ['CMD', 'curl', 'x']],
    ['healthcheck', false, ['CMD', 'curl x']],
    ['cmd', true, []],
    ['run', false, ['[ "unterminated"']],
  ]);
});

test('flags are unquoted and stop at the first other word or a bare --', () => {
  const run = only('RUN --mount=type=cache,target=/root/.cache --network=none --x="a b" pip install -r r.txt --user');
  assert.deepEqual(run.flags, ['--mount=type=cache,target=/root/.cache', '--network=none', '--x=a b']);
  assert.deepEqual(run.args, ['pip install -r r.txt --user']);
  const copy = only('COPY --from=build --chown=1:1 --chmod=755 --link /out /app/');
  assert.deepEqual(copy.flags, ['--from=build', '--chown=1:1', '--chmod=755', '--link']);
  assert.deepEqual(copy.args, ['/out', '/app/']);
});

test('ONBUILD keeps its trigger as a nested instruction', () => {
  const df = parseDockerfile('FROM a\nONBUILD RUN ["echo", "x"]\nONBUILD COPY --chown=1 . /app\n');
  const [, run, copy] = df.instructions;
  assert.equal(run.next?.keyword, 'run');
  assert.equal(run.next?.json, true);
  assert.deepEqual(run.next?.args, ['echo', 'x']);
  assert.deepEqual(copy.next?.flags, ['--chown=1']);
  assert.equal(copy.next?.original, 'COPY --chown=1 . /app');
  assert.deepEqual([copy.next?.startLine, copy.next?.endLine], [3, 3]);
});

test('ENV, LABEL and ARG keep quotes for the build to expand', () => {
  const df = parseDockerfile('FROM a\nENV A="x y" B=z\\ w\nENV OLD value with spaces\nLABEL "com.example.vendor"="ACME Inc" version=1.0\nARG V="1 2" W\n');
  assert.deepEqual(df.instructions.slice(1).map((i) => i.args), [
    ['A', '"x y"', '=', 'B', 'z\\ w', '='],
    ['OLD', 'value with spaces', ''],
    ['"com.example.vendor"', '"ACME Inc"', '=', 'version', '1.0', '='],
    ['V="1 2"', 'W'],
  ]);
  parseFails('FROM a\nENV A=1 B\n', 'Syntax error - can\'t find = in "B". Must be of the form: name=value', 2);
});

// Heredocs: the cases of BuildKit's parser_heredoc_test.go.
const heredocFile = `FROM alpine:3.6
RUN <<EMPTY
EMPTY
RUN 3<<EMPTY2
EMPTY2
RUN "<<NOHEREDOC"
RUN <<INDENT
\tfoo
\tbar
INDENT
RUN <<-UNINDENT
\tbaz
\tquux
\tUNINDENT
RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND
RUN <<COMMENT
# internal comment
echo hello world # trailing comment
COMMENT
RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT
COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2
COPY <<X <<Y /dest
Y
X
X
Y
RUN <<COMPLEX python3
print('hello world')
COMPLEX
COPY <<file.txt /dest
hello world
file.txt
RUN <<eo'f'
echo foo
eof
RUN <<eo\\'f
echo foo
eo'f
RUN <<'one two'
echo bar
one two
RUN <<$EOF
$EOF
RUN <<  EOF  > foo
EOF
USER <<INVALID
RUN ["<<EOF"]
`;

test('heredocs: names, bodies, expansion and chomping as BuildKit parses them', () => {
  const df = parseDockerfile(heredocFile);
  const h = (name: string, content: string, expand = true, chomp = false, fileDescriptor = 0): Heredoc => ({ name, content, expand, chomp, fileDescriptor });
  assert.deepEqual(df.instructions.slice(1).map((i) => i.heredocs), [
    [h('EMPTY', '')],
    [h('EMPTY2', '', true, false, 3)],
    [],
    [h('INDENT', '\tfoo\n\tbar\n')],
    [h('UNINDENT', '\tbaz\n\tquux\n', true, true)],
    [h('NOEXPAND', "\tdon't expand $NAME\n", false, true)],
    [h('COMMENT', '# internal comment\necho hello world # trailing comment\n')],
    [h('MOUNT', 'echo hello\n')],
    [h('FILE1', 'content 1\n'), h('FILE2', 'content 2\n')],
    [h('X', 'Y\n'), h('Y', 'X\n')],
    [h('COMPLEX', "print('hello world')\n")],
    [h('file.txt', 'hello world\n')],
    [h('eof', 'echo foo\n', false)],
    [h("eo'f", 'echo foo\n')],
    [h('one two', 'echo bar\n', false)],
    [h('$EOF', '')],
    [h('EOF', '')],
    [], // USER takes no heredocs: <<INVALID is an ordinary argument
    [], // JSON form takes no heredocs
  ]);
  const mount = df.instructions[8];
  assert.deepEqual(mount.flags, ['--mount=type=cache,target=/foo']);
  assert.deepEqual(mount.args, ['<<MOUNT']);
  assert.deepEqual([mount.startLine, mount.endLine], [22, 24]);
  assert.deepEqual(df.instructions[11].args, ['<<COMPLEX python3']);
  assert.deepEqual(df.instructions[9].args, ['<<FILE1', '<<FILE2', '/dest']);
});

test('heredocs: <<- bodies lose their leading tabs, quoted delimiters stop expansion', () => {
  assert.equal(chompHeredocContent('\thello\n\t\tworld\n  spaces stay\n'), 'hello\nworld\n  spaces stay\n');
  // The reference's COPY <<-EOT and <<-"EOT" examples.
  const expanded = only('COPY <<-EOT /script.sh\n\techo "hello ${FOO}"\nEOT\n').heredocs[0];
  assert.deepEqual([expanded.expand, expanded.chomp], [true, true]);
  const literal = only('COPY <<-"EOT" /script.sh\n  echo "hello ${FOO}"\nEOT\n').heredocs[0];
  assert.deepEqual([literal.name, literal.expand, literal.chomp, literal.content], ['EOT', false, true, '  echo "hello ${FOO}"\n']);
});

test('heredocFromWord tells heredoc arguments from paths', () => {
  for (const word of ['<<EOF', "<<'EOF'", '<<"EOF"', '<<-EOF', "<<-'EOF'", '<<-"EOF"', '<<EO"F"', '<< EOF', '<<- EOF']) {
    assert.equal(heredocFromWord(word)?.name, 'EOF', word);
  }
  for (const word of ['', 'EOF', '<<', '<<-', '<EOF', '<<<EOF', '<<EOF sh', "<<'EOF", '<<EOF"']) {
    assert.equal(heredocFromWord(word), undefined, word);
  }
  assert.deepEqual(heredocFromWord('<<-"EOT"'), { name: 'EOT', expand: false, chomp: true, fileDescriptor: 0 });
});

test('heredocFileContent: what a COPY heredoc writes', () => {
  const env = new Map([['FOO', 'bar']]);
  const [expanded] = only('COPY <<-EOT /script.sh\n\techo "hello ${FOO}" \\$HOME \'$FOO\'\nEOT\n').heredocs;
  assert.equal(heredocFileContent(expanded, env), 'echo "hello bar" $HOME \'bar\'\n');
  const [literal] = only('COPY <<-"EOT" /script.sh\n\techo "hello ${FOO}"\nEOT\n').heredocs;
  assert.equal(heredocFileContent(literal, env), 'echo "hello ${FOO}"\n');
});

test('heredocs: a body is not parsed as instructions, and line numbers run to the terminator', () => {
  const df = parseDockerfile('FROM a\nRUN <<EOF\nFROM b\n# not a comment\n\nEOF\nRUN after\n');
  assert.equal(df.instructions.length, 3);
  assert.equal(df.instructions[1].heredocs[0].content, 'FROM b\n# not a comment\n\n');
  assert.deepEqual([df.instructions[1].startLine, df.instructions[1].endLine], [2, 6]);
  assert.equal(df.instructions[2].startLine, 7);
});

test('heredocs: an unterminated heredoc names the instruction\'s line', () => {
  parseFails('FROM a\nRUN <<EOF\necho hi\n', 'unterminated heredoc', 2);
  // A body ends only at a line that is exactly the delimiter.
  parseFails('FROM a\nRUN <<EOF\n EOF\nEOF \n', 'unterminated heredoc', 2);
});

test('heredocs: a CRLF body keeps its bytes, the terminator may end in CRLF', () => {
  assert.equal(only('RUN <<EOF\r\nline\r\nEOF\r\n').heredocs[0].content, 'line\r\n');
});

test('ONBUILD triggers can hold heredocs', () => {
  const df = parseDockerfile('FROM a\nONBUILD RUN <<EOF\necho x\nEOF\n');
  assert.equal(df.instructions[1].heredocs[0].content, 'echo x\n');
  assert.equal(df.instructions[1].next?.heredocs[0].name, 'EOF');
});

test('unknown instructions parse, and checkInstruction rejects them with the line', () => {
  const df = parseDockerfile('FROM a\n\nFOOBAR bar\ncopyy a b\nRUNN x\nFOO y\n', 'app/Dockerfile');
  assert.equal(dumpDockerfile(df), '(from "a")\n(foobar "")\n(copyy "")\n(runn "")\n(foo "")\n');
  checkInstruction(df.instructions[0]);
  assert.throws(() => checkInstruction(df.instructions[1], 'app/Dockerfile'),
    { name: 'DockerfileParseError', message: 'dockerfile parse error on line 3: unknown instruction: FOOBAR', line: 3, file: 'app/Dockerfile' });
  assert.throws(() => checkInstruction(df.instructions[2]), { message: 'dockerfile parse error on line 4: unknown instruction: copyy (did you mean copy?)' });
  assert.throws(() => checkInstruction(df.instructions[3]), { message: 'dockerfile parse error on line 5: unknown instruction: RUNN (did you mean RUN?)' });
  assert.throws(() => checkInstruction(df.instructions[4]), { message: 'dockerfile parse error on line 6: unknown instruction: FOO (did you mean FROM?)' });
  assert.throws(() => checkInstruction(df.instructions[1]), (err: unknown) => err instanceof DockerfileParseError && httpStatus(err) === 400);
});

test('checkInstruction rejects the ONBUILD triggers BuildKit forbids', () => {
  const df = parseDockerfile('FROM a\nONBUILD ONBUILD RUN x\nONBUILD FROM b\nONBUILD maintainer me\nONBUILD RUN ok\n');
  assert.throws(() => checkInstruction(df.instructions[1]), { message: 'dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed' });
  assert.throws(() => checkInstruction(df.instructions[2]), { message: "dockerfile parse error on line 3: FROM isn't allowed as an ONBUILD trigger" });
  assert.throws(() => checkInstruction(df.instructions[3]), { message: "dockerfile parse error on line 4: MAINTAINER isn't allowed as an ONBUILD trigger" });
  checkInstruction(df.instructions[4]);
});

test('a line over 65535 bytes is rejected as BuildKit does', () => {
  parseFails(`FROM a\nRUN echo ${'x'.repeat(65535)}\n`, 'dockerfile line greater than max allowed size of 65535', 2);
  assert.equal(only(`RUN ${'x'.repeat(65531)}\n`).args[0].length, 65531);
});

test('errors name the file they were given', () => {
  parseFails('', 'file with no instructions', 1, 'docker/Dockerfile.prod');
  parseFails('FROM a\nCMD ["a", 1]\n', 'when using JSON array syntax, arrays must be comprised of strings only', 2, '-');
});

// Every ```dockerfile block of the Dockerfile reference parses, except the
// fragments that illustrate directives alone or show a broken file on purpose.
function referenceFile(): string {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  for (const path of [resolve(repoRoot, '../shared/reference/dockerfile-reference.md'), '/work/shared/reference/dockerfile-reference.md']) {
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  throw new Error('the Dockerfile reference (../shared/reference/dockerfile-reference.md) is missing');
}

test('the Dockerfile reference\'s examples parse', () => {
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const line of referenceFile().split('\n')) {
    if (current) {
      if (line.trim() === '```') {
        blocks.push(current.join('\n') + '\n');
        current = undefined;
      } else {
        current.push(line.replace(/^ {1,4}/, '')); // blocks inside list items are indented
      }
    } else if (line.trim() === '```dockerfile') {
      current = [];
    }
  }
  assert.ok(blocks.length > 100, `found ${blocks.length} examples`);
  const failures: string[] = [];
  for (const block of blocks) {
    try {
      for (const i of parseDockerfile(block).instructions) checkInstruction(i);
    } catch (err) {
      assert.ok(err instanceof DockerfileParseError, String(err));
      failures.push(`${block.split('\n')[0]} => ${err.reason}`);
    }
  }
  assert.deepEqual(failures, [
    '# Comment => unknown instruction: INSTRUCTION',
    '# direc \\ => unknown instruction: tive=value',
    '# unknowndirective=value => file with no instructions',
    '#directive=value => file with no instructions',
    '# syntax=docker/dockerfile:1 => file with no instructions',
    '# escape=\\ => file with no instructions',
    '# escape=` => file with no instructions',
    '# check=skip=<checks|all> => only one check parser directive can be used',
    '# check=skip=JSONArgsRecommended,StageNameCasing => file with no instructions',
    '# check=error=true => file with no instructions',
    '# check=skip=JSONArgsRecommended;error=true => file with no instructions',
  ]);
});

test('reference: the Windows escape example', () => {
  // The reference shows the old builder joining `c:\\` with the next line; BuildKit
  // (and its trailing-backslash corpus case) treats an escaped escape as no continuation.
  assert.equal(dump('FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n'),
    '(from "microsoft/nanoserver")\n(copy "testfile.txt" "c:\\\\\\\\")\n(run "dir c:")\n');
  assert.equal(dump('# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n'),
    '(from "microsoft/nanoserver")\n(copy "testfile.txt" "c:\\\\")\n(run "dir c:\\\\")\n');
});

test('reference: environment replacement example', () => {
  const df = parseDockerfile('FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}   # WORKDIR /bar\nADD . $FOO       # ADD . /bar\nCOPY \\$FOO /quux # COPY $FOO /quux\n');
  const env = new Map([['FOO', '/bar']]);
  assert.equal(expandWord(df.instructions[2].args[0].replace(/\s+#.*/, ''), env), '/bar');
  assert.equal(expandWord(df.instructions[3].args[1], env), '/bar');
  assert.equal(expandWord(df.instructions[4].args[0], env), '$FOO');
});

test('reference: heredoc examples', () => {
  const multi = parseDockerfile('# syntax=docker/dockerfile:1\nFROM alpine\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n');
  assert.deepEqual(multi.instructions[1].heredocs.map((h) => [h.name, h.content]), [['FILE1', 'I am\nfirst\n'], ['FILE2', 'I am\nsecond\n']]);
  assert.deepEqual(multi.instructions[1].args, ['<<FILE1 cat > file1 && <<FILE2 cat > file2']);
  const shebang = parseDockerfile('FROM python:3.6\nRUN <<EOT\n#!/usr/bin/env python\nprint("hello world")\nEOT\n');
  assert.equal(shebang.instructions[1].heredocs[0].content, '#!/usr/bin/env python\nprint("hello world")\n');
  const copy = parseDockerfile('FROM alpine\nCOPY <<EOF greeting.txt\nhello world\nEOF\n').instructions[1];
  assert.deepEqual([copy.args, copy.heredocs[0].content], [['<<EOF', 'greeting.txt'], 'hello world\n']);
});

test('formatSourceExcerpt prints BuildKit\'s Dockerfile:N excerpt', () => {
  const text = 'FROM busybox\n\nFOO bar\n';
  const i = parseDockerfile(text).instructions[1];
  assert.throws(() => checkInstruction(i), (err: unknown) => {
    assert.ok(err instanceof DockerfileParseError);
    assert.equal(formatSourceExcerpt(text, err.file, err.line, err.endLine), [
      'Dockerfile:3', '--------------------', '   1 |     FROM busybox', '   2 |     ', '   3 | >>> FOO bar', '   4 |     ', '--------------------', '',
    ].join('\n'));
    return true;
  });
  const long = 'FROM a\nRUN a \\\n  b\nRUN c\nRUN d\nRUN e\nRUN f\n';
  assert.equal(formatSourceExcerpt(long, 'Dockerfile', 2, 3), [
    'Dockerfile:2', '--------------------', '   1 |     FROM a', '   2 | >>> RUN a \\', '   3 | >>>   b', '   4 |     RUN c', '--------------------', '',
  ].join('\n'));
  assert.equal(formatSourceExcerpt(long, 'Dockerfile', 99), '');
});
