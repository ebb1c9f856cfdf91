// The Files tab's streaming tar lister (src/ui/tar-list.ts) against GNU tar:
// every entry of a GNU and a pax archive, fed in chunks of any size, with
// its name (long ones included), kind, size and link target; and the
// directory's children picked as the archive API's GET names them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childrenOf, TarLister, type TarEntry } from '../../src/ui/tar-list.ts';

function list(tar: Uint8Array, chunk: () => number): TarEntry[] {
  const l = new TarLister();
  const out: TarEntry[] = [];
  for (let at = 0; at < tar.length;) {
    const n = Math.min(chunk(), tar.length - at);
    l.push(tar.subarray(at, at + n), (e) => out.push(e));
    at += n;
  }
  assert.ok(l.done, 'the end of the archive was seen');
  return out;
}

test('GNU and pax archives are listed entry by entry, in chunks of any size', () => {
  const dir = mkdtempSync('/tmp/berth-ui-tarlist-');
  try {
    const long = 'd'.repeat(90) + '/' + 'e'.repeat(90);
    mkdirSync(join(dir, 'top', long), { recursive: true });
    mkdirSync(join(dir, 'top', 'empty'));
    writeFileSync(join(dir, 'top', 'big.bin'), Buffer.alloc(100_001, 7));
    writeFileSync(join(dir, 'top', long, 'f'.repeat(120) + '.txt'), 'deep\n');
    symlinkSync('/' + 'x'.repeat(150), join(dir, 'top', 'far-link'));
    writeFileSync(join(dir, 'top', 'héllo wörld.txt'), 'hi\n');
    for (const format of ['gnu', 'pax']) {
      const tarFile = join(dir, `${format}.tar`);
      const r = spawnSync('tar', ['-C', dir, `--format=${format}`, '-cf', tarFile, 'top']);
      assert.equal(r.status, 0, r.stderr?.toString());
      const tar = readFileSync(tarFile);
      const names = spawnSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const chunk of [() => 1 + Math.floor(Math.random() * 700), () => 512, () => tar.length]) {
        const got = list(tar, chunk);
        assert.deepEqual(got.map((e) => e.name).sort(), [...names].sort(), format);
        const by = new Map(got.map((e) => [e.name.replace(/\/$/, ''), e]));
        assert.equal(by.get('top/big.bin')?.size, 100_001);
        assert.equal(by.get('top/big.bin')?.type, '0');
        assert.equal((by.get('top/big.bin')!.mode & 0o777).toString(8), (0o666 & ~process.umask()).toString(8));
        assert.equal(by.get('top/far-link')?.type, '2');
        assert.equal(by.get('top/far-link')?.linkname, '/' + 'x'.repeat(150));
        assert.equal(by.get(`top/${long}/${'f'.repeat(120)}.txt`)?.size, 5);
        assert.equal(by.get('top/empty')?.type, '5');
        const root = got[0].name;
        assert.equal(root, 'top/');
        const children = got.map((e) => childrenOf(root, e)).filter(Boolean).sort();
        assert.deepEqual(children, ['big.bin', 'd'.repeat(90), 'empty', 'far-link', 'héllo wörld.txt']);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the children of the root: the archive API names them /bin, /etc', () => {
  const e = (name: string): TarEntry => ({ name, type: '5', size: 0, mode: 0o755, mtime: 0, linkname: '' });
  assert.equal(childrenOf('/', e('/bin/')), 'bin');
  assert.equal(childrenOf('/', e('/bin/sh')), undefined);
  assert.equal(childrenOf('tmp/', e('tmp/x')), 'x');
  assert.equal(childrenOf('tmp/', e('tmpx/y')), undefined);
  assert.equal(childrenOf('tmp/', e('tmp/')), undefined);
});
