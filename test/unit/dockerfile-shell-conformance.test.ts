// BuildKit's shell-lexer tables (../shared/conformance/dockerfile-shell):
// envVarTest for one-word expansion, wordsTest for field splitting, and
// process-with-matches.json for the ${…} operators and referenced names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShellExpansionError, envFromList, expandWithMatches, expandWord, expandWords } from '../../src/build/dockerfile/index.ts';

/** The shared corpus sits beside the repository; a missing corpus is a failure, not a skip. */
function conformanceDir(): string {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  for (const dir of [resolve(repoRoot, '../shared/conformance'), '/work/shared/conformance']) {
    if (existsSync(join(dir, 'dockerfile-shell'))) return join(dir, 'dockerfile-shell');
  }
  throw new Error(`Dockerfile conformance corpus not found (looked in ${resolve(repoRoot, '../shared/conformance')} and /work/shared/conformance)`);
}

const corpus = conformanceDir();
const read = (name: string) => readFileSync(join(corpus, name), 'utf8');

test('envVarTest: ProcessWord on all non-Windows lines', () => {
  const env = new Map([['PWD', '/home'], ['SHELL', 'bash'], ['KOREAN', '한국어'], ['NULL', '']]);
  let checked = 0;
  const failures: string[] = [];
  for (const line of read('envVarTest').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [platform, source, expected] = line.split('|').map((f) => f.trim());
    if (platform === 'W') continue;
    checked++;
    let got: string;
    try {
      got = expandWord(source, env);
    } catch (err) {
      if (!(err instanceof ShellExpansionError)) throw err;
      got = 'error';
    }
    if (got !== expected) failures.push(`${source}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
  }
  assert.deepEqual(failures, []);
  assert.equal(checked, 228); // 230 lines, two of them Windows-only
});

test('wordsTest: ProcessWords with the file\'s ENV lines', () => {
  const env = new Map<string, string>();
  let checked = 0;
  const failures: string[] = [];
  for (const line of read('wordsTest').split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    if (line.startsWith('ENV ')) {
      const [name, ...value] = line.slice(4).trimStart().split('=');
      env.set(name, value.join('='));
      continue;
    }
    const bar = line.indexOf('|');
    const input = line.slice(0, bar).trim();
    const expected = line.slice(bar + 1).trimStart().split(',');
    checked++;
    let got: string[];
    try {
      got = expandWords(input, env);
    } catch (err) {
      if (!(err instanceof ShellExpansionError)) throw err;
      got = ['error'];
    }
    if (JSON.stringify(got) !== JSON.stringify(expected)) failures.push(`${input}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
  }
  assert.deepEqual(failures, []);
  assert.equal(checked, 24);
});

interface MatchCase {
  input: string;
  envs: Record<string, string>;
  expected?: string;
  expectError?: boolean;
  errorContains?: string;
  matched?: string[];
  unmatched?: string[];
}
const tables = JSON.parse(read('process-with-matches.json')) as {
  processWithMatches: MatchCase[];
  targetPlatformExample: MatchCase[];
  mandatoryVars: MatchCase[];
  getEnv: { envList: string[]; name: string; expected: string }[];
};

for (const table of ['processWithMatches', 'targetPlatformExample', 'mandatoryVars'] as const) {
  test(`process-with-matches.json ${table}`, () => {
    const failures: string[] = [];
    for (const c of tables[table]) {
      const env = new Map(Object.entries(c.envs));
      if (c.expectError) {
        try {
          const got = expandWithMatches(c.input, env);
          failures.push(`${c.input}: expected an error, got ${JSON.stringify(got.result)}`);
        } catch (err) {
          if (!(err instanceof ShellExpansionError)) throw err;
          if (c.errorContains && !err.message.includes(c.errorContains)) failures.push(`${c.input}: error ${JSON.stringify(err.message)} lacks ${JSON.stringify(c.errorContains)}`);
        }
        continue;
      }
      const got = expandWithMatches(c.input, env);
      if (got.result !== c.expected) failures.push(`${c.input}: got ${JSON.stringify(got.result)}, want ${JSON.stringify(c.expected)}`);
      if (c.matched && JSON.stringify([...got.matched].sort()) !== JSON.stringify(c.matched)) failures.push(`${c.input}: matched ${[...got.matched].sort()}, want ${c.matched}`);
      if (c.unmatched && JSON.stringify([...got.unmatched].sort()) !== JSON.stringify(c.unmatched)) failures.push(`${c.input}: unmatched ${[...got.unmatched].sort()}, want ${c.unmatched}`);
    }
    assert.deepEqual(failures, []);
  });
}

test('process-with-matches.json getEnv: env lists, last definition wins', () => {
  for (const c of tables.getEnv) assert.equal(envFromList(c.envList).get(c.name) ?? '', c.expected, JSON.stringify(c));
});

test('process-with-matches.json has its 62 cases', () => {
  const n = tables.processWithMatches.length + tables.targetPlatformExample.length + tables.mandatoryVars.length + tables.getEnv.length;
  assert.equal(n, 62);
});
