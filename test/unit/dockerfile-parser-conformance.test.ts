// BuildKit's own parser corpus (../shared/conformance/dockerfile-parser): every
// testfiles/ case must dump byte for byte as its `result`, the negative cases
// must fail with upstream's error, and testfile-line pins line numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParseError, dumpDockerfile, parseDockerfile } from '../../src/build/dockerfile/index.ts';

/** The shared corpus sits beside the repository; a missing corpus is a failure, not a skip. */
function conformanceDir(): string {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  for (const dir of [resolve(repoRoot, '../shared/conformance'), '/work/shared/conformance']) {
    if (existsSync(join(dir, 'dockerfile-parser'))) return join(dir, 'dockerfile-parser');
  }
  throw new Error(`Dockerfile conformance corpus not found (looked in ${resolve(repoRoot, '../shared/conformance')} and /work/shared/conformance)`);
}

const corpus = conformanceDir();
const read = (...parts: string[]) => readFileSync(join(corpus, ...parts), 'utf8');

const cases = readdirSync(join(corpus, 'testfiles')).sort();
test('the corpus has all 33 cases', () => assert.equal(cases.length, 33));

for (const name of cases) {
  test(`testfiles/${name} dumps as upstream's result`, () => {
    const df = parseDockerfile(read('testfiles', name, 'Dockerfile'));
    assert.equal(dumpDockerfile(df), read('testfiles', name, 'result').replaceAll('\r\n', '\n'));
  });
}

const negative: Record<string, string> = {
  empty_dockerfile: 'file with no instructions',
  only_comments: 'file with no instructions',
  env_no_value: 'ENV must have two arguments',
  'shykes-nested-json': 'when using JSON array syntax, arrays must be comprised of strings only',
};
test('the negative corpus is the four known cases', () => {
  assert.deepEqual(readdirSync(join(corpus, 'testfiles-negative')).sort(), Object.keys(negative).sort());
});
for (const [name, reason] of Object.entries(negative)) {
  test(`testfiles-negative/${name} fails: ${reason}`, () => {
    assert.throws(() => parseDockerfile(read('testfiles-negative', name, 'Dockerfile'), 'Dockerfile'), (err: unknown) => {
      assert.ok(err instanceof DockerfileParseError);
      assert.equal(err.reason, reason);
      assert.equal(err.file, 'Dockerfile');
      assert.match(err.message, new RegExp(`^dockerfile parse error on line ${err.line}: `));
      return true;
    });
  });
}

test('negative cases name the line of the bad instruction', () => {
  assert.throws(() => parseDockerfile(read('testfiles-negative', 'env_no_value', 'Dockerfile')),
    { message: 'dockerfile parse error on line 3: ENV must have two arguments', line: 3 });
  assert.throws(() => parseDockerfile(read('testfiles-negative', 'shykes-nested-json', 'Dockerfile'), 'sub/Dockerfile.dev'),
    { line: 1, file: 'sub/Dockerfile.dev' });
});

test('testfile-line: instructions span [5,5], [11,12] and [17,31]', () => {
  const df = parseDockerfile(read('testfile-line', 'Dockerfile'));
  assert.deepEqual(df.instructions.map((i) => [i.startLine, i.endLine]), [[5, 5], [11, 12], [17, 31]]);
  assert.equal(df.instructions[0].startLine, 5);
  assert.equal(df.instructions.at(-1)!.endLine, 31);
});
