// The dashboard's bit of tar (src/ui/tar.ts) against GNU tar: what it packs,
// tar reads; what tar packs (ustar, GNU long names, pax), it reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstFile, tarOneFile } from '../../src/ui/tar.ts';

test('a packed file is read back by GNU tar, name, mode and bytes', () => {
  const data = Buffer.from('x'.repeat(1000) + 'end\n');
  const tar = tarOneFile('notes.txt', data, 1_700_000_000);
  const dir = mkdtempSync('/tmp/berth-ui-tar-');
  try {
    writeFileSync(join(dir, 'a.tar'), tar);
    const list = spawnSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^-rw-r--r-- 0\/0 +1004 2023-11-1\d \d\d:\d\d notes\.txt\n$/);
    const out = spawnSync('tar', ['-xOf', join(dir, 'a.tar'), 'notes.txt']);
    assert.equal(out.status, 0);
    assert.deepEqual(out.stdout, data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => tarOneFile('a/b', data), /cannot upload/);
  assert.throws(() => tarOneFile('x'.repeat(101), data), /cannot upload/);
});

test('the first file of tars GNU tar makes is found, long names included', () => {
  const dir = mkdtempSync('/tmp/berth-ui-tar-');
  try {
    const long = 'd'.repeat(60) + '/' + 'f'.repeat(80) + '.txt';
    mkdirSync(join(dir, 'src', 'd'.repeat(60)), { recursive: true });
    writeFileSync(join(dir, 'src', long), 'long one\n');
    writeFileSync(join(dir, 'src', 'short.txt'), 'short one\n');
    for (const format of ['ustar', 'gnu', 'pax']) {
      for (const [name, want] of [['short.txt', 'short one\n'], [long, 'long one\n']]) {
        if (format === 'ustar' && name === long) continue; // ustar splits it into prefix/name: also read, below
        const r = spawnSync('tar', [`--format=${format}`, '-cf', '-', '-C', join(dir, 'src'), name], { maxBuffer: 1 << 24 });
        assert.equal(r.status, 0, String(r.stderr));
        const f = firstFile(new Uint8Array(r.stdout));
        assert.equal(f?.name, name, `${format} ${name}`);
        assert.equal(Buffer.from(f!.data).toString(), want);
      }
    }
    const ustar = spawnSync('tar', ['--format=ustar', '-cf', '-', '-C', join(dir, 'src'), long]);
    assert.equal(firstFile(new Uint8Array(ustar.stdout))?.name, long);
    // A directory first: no file to take.
    const d = spawnSync('tar', ['-cf', '-', '-C', dir, 'src']);
    assert.equal(firstFile(new Uint8Array(d.stdout)), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
