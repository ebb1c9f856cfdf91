// What a build prints: a failed step's error names the image of the last
// good step (the user runs it to debug), and stages built at the same time
// print their lines as one block each, in Dockerfile order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs } from '../helpers/build.ts';

const LEGACY = { ...process.env, DOCKER_BUILDKIT: '0' };

/**
 * Two independent stages that meet at a barrier in a shared cache mount: each
 * says whether it saw the other running, which only a parallel build can do
 * (a serial one gives up after 30 s, printing "alone").
 */
function parallelDockerfile(): string {
  const id = `barrier-${randomBytes(6).toString('hex')}`;
  const stage = (me: string, other: string) => [
    `FROM busybox AS ${me}`,
    `RUN --mount=type=cache,id=${id},target=/barrier echo ${me}-start && touch /barrier/${me} && ` +
      `i=0; while [ ! -e /barrier/${other} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; ` +
      `if [ -e /barrier/${other} ]; then echo ${me}-saw-${other}; else echo ${me}-alone; fi; sleep 1; echo ${me}-end; echo ${me} > /${me}.txt`,
    `RUN echo ${me}-second-step`,
  ];
  return [
    ...stage('one', 'two'),
    ...stage('two', 'one'),
    'FROM busybox',
    'COPY --from=one /one.txt /',
    'COPY --from=two /two.txt /',
    'RUN cat /one.txt /two.txt',
    '',
  ].join('\n');
}

/** Checks the classic output of parallelDockerfile(): each stage's lines are one block, steps in order. */
function assertStageBlocks(out: string): void {
  const lines = out.split('\n');
  const at = (re: RegExp) => {
    const i = lines.findIndex((l) => re.test(l));
    assert.ok(i >= 0, `${re} in:\n${out}`);
    return i;
  };
  // Both stages ran at the same time.
  at(/^one-saw-two$/);
  at(/^two-saw-one$/);
  const oneStart = at(/^Step 1\/10 : FROM busybox AS one$/);
  const oneEnd = at(/^one-second-step$/);
  const twoStart = at(/^Step 4\/10 : FROM busybox AS two$/);
  const twoEnd = at(/^two-second-step$/);
  const finalStart = at(/^Step 7\/10 : FROM busybox$/);
  assert.ok(oneStart < oneEnd && oneEnd < twoStart && twoStart < twoEnd && twoEnd < finalStart, out);
  // Nothing of the other stage inside a block.
  assert.ok(!lines.slice(oneStart, oneEnd + 1).some((l) => /^two-|AS two/.test(l)), out);
  assert.ok(!lines.slice(twoStart, twoEnd + 1).some((l) => /^one-|AS one/.test(l)), out);
  // Step numbers count up, each once.
  const numbers = lines.map((l) => /^Step (\d+)\/10 : /.exec(l)?.[1]).filter(Boolean).map(Number);
  assert.deepEqual(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
}

describe('build output', () => {
  let d: TestDaemon;
  const dirs = new TestDirs();
  const ctx = dirs.context;
  before(async () => {
    d = await startSeededDaemon();
  });
  after(async () => {
    await d.destroy();
    dirs.removeAll();
  });

  test('a failed step\'s error names the last good image; running it shows the state before the failure', () => {
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nRUN echo prepared > /state\nCOPY note.txt /\nRUN false\nRUN echo never\n', 'note.txt': 'note\n' });
    const r = d.berth(['build', dir], { timeout: 120_000 });
    assert.equal(r.code, 1);
    const m = /^The command '\/bin\/sh -c false' returned a non-zero code: 1 \(the last successful step's image is ([a-f0-9]{12}): run it to debug, e\.g\. berth run --rm -it \1 sh\)$/m.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.match(r.stdout, new RegExp(`Step 3/5 : COPY note\\.txt /\\n ---> ${m[1]}\\n`));
    assert.equal(d.berth(['run', '--rm', m[1], 'cat', '/state', '/note.txt']).stdout, 'prepared\nnote\n');

    // A COPY that fails names the image before it too; a failure in the first stage of two names that stage's.
    const copy = d.berth(['build', ctx({ 'Dockerfile': 'FROM busybox AS a\nRUN echo a > /a\nCOPY missing.txt /\nFROM busybox\nCOPY --from=a /a /\n' })], { timeout: 120_000 });
    assert.notEqual(copy.code, 0);
    const c = /COPY failed: file not found in build context.*missing\.txt.* \(the last successful step's image is ([a-f0-9]{12})/.exec(copy.stderr);
    assert.ok(c, copy.stderr);
    assert.equal(d.berth(['run', '--rm', c[1], 'cat', '/a']).stdout, 'a\n');
  });

  test('through the docker CLI, the error (errorDetail) names the image too, with the step\'s exit code', { skip: !DOCKER }, () => {
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nRUN echo from-docker > /state\nRUN exit 3\n' });
    const r = d.docker(['build', dir], { env: LEGACY, timeout: 120_000 });
    assert.equal(r.code, 3, r.stderr + r.stdout);
    const m = /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3 \(the last successful step's image is ([a-f0-9]{12})/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.equal(d.docker(['run', '--rm', m[1], 'cat', '/state']).stdout, 'from-docker\n');
  });

  test('independent stages run at the same time and print one block each, in Dockerfile order', () => {
    const r = d.berth(['build', '--progress=plain', '-t', 'par1', ctx({ 'Dockerfile': parallelDockerfile() })], { timeout: 180_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assertStageBlocks(r.stdout);
    assert.equal(d.berth(['run', '--rm', 'par1', 'cat', '/one.txt', '/two.txt']).stdout, 'one\ntwo\n');
  });

  test('the same through the docker CLI\'s classic builder', { skip: !DOCKER }, () => {
    const r = d.docker(['build', '-t', 'par2', ctx({ 'Dockerfile': parallelDockerfile() })], { env: LEGACY, timeout: 180_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assertStageBlocks(r.stdout);
    assert.equal(d.docker(['run', '--rm', 'par2', 'cat', '/one.txt', '/two.txt']).stdout, 'one\ntwo\n');
  });
});
