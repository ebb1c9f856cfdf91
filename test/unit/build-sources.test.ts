// Which ADD sources are git repositories (BuildKit's grammar), how
// `url#ref:subdir` splits, and the order in which the output of stages built
// at the same time comes out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isGitSource, parseGitRef } from '../../src/build/git-remote.ts';
import { StageOutput } from '../../src/build/stage-output.ts';

test('ADD sources that are git repositories, as BuildKit\'s ParseGitRef', () => {
  for (const yes of [
    'git://host/repo', 'git://host/repo.git#main:sub', 'ssh://git@host/repo', 'https://host/user/repo.git',
    'http://host/repo.git#v1', 'git@github.com:moby/buildkit.git#v0.14.1:docs', 'user_1@host.example:path',
  ]) assert.ok(isGitSource(yes), yes);
  for (const no of [
    'https://host/archive.tar.gz', 'https://host/repo', 'file:///srv/repo.git', 'ftp://host/repo.git',
    'github.com/user/repo', './repo.git', 'repo.git', 'dir/a@b:c', 'ext::sh -c id',
  ]) assert.ok(!isGitSource(no), no);
});

test('url#ref:subdir splits; refs and URLs that git would read as options are refused', () => {
  assert.deepEqual(parseGitRef('git://h/r.git'), { url: 'git://h/r.git', ref: '', subdir: '' });
  assert.deepEqual(parseGitRef('git://h/r.git#v1'), { url: 'git://h/r.git', ref: 'v1', subdir: '' });
  assert.deepEqual(parseGitRef('git://h/r.git#:docs'), { url: 'git://h/r.git', ref: '', subdir: 'docs' });
  assert.deepEqual(parseGitRef('git@h:r.git#main:a/b'), { url: 'git@h:r.git', ref: 'main', subdir: 'a/b' });
  assert.deepEqual(parseGitRef('github.com/u/r#x'), { url: 'https://github.com/u/r', ref: 'x', subdir: '' });
  assert.equal(parseGitRef('git://h/r.git#--upload-pack=touch /x'), undefined);
  assert.equal(parseGitRef('--upload-pack=x'), undefined);
});

test('stage output: the first stage writes live, the others are held and come out whole, in stage order', () => {
  const out: string[] = [];
  const o = new StageOutput((t) => out.push(t));
  const one = o.open(0);
  const two = o.open(1);
  const three = o.open(2);
  o.text(one, 'one-a ');
  o.text(three, 'three-a ');
  o.text(two, 'two-a ');
  assert.deepEqual(out, ['one-a ']);
  o.text(three, 'three-b ');
  o.close(three);
  o.text(two, 'two-b ');
  o.text(one, 'one-b ');
  o.close(one);
  // Two is still running: its held lines come out and it writes live; three waits for it.
  o.text(two, 'two-c ');
  assert.equal(out.join(''), 'one-a one-b two-a two-b two-c ');
  o.close(two);
  assert.equal(out.join(''), 'one-a one-b two-a two-b two-c three-a three-b ');
  // A stage that starts when none is running writes live at once.
  const four = o.open(3);
  o.text(four, 'four ');
  assert.equal(out.join('').endsWith('three-b four '), true);
  o.close(four);
  o.flushAll();
});
