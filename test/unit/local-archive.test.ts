// The CLI's extraction of a container's tar (client/local-archive.ts
// extractTar): crafted tars, as a hostile daemon could send them, into real
// directories. What lands where, and what is refused. And its packing of a
// local tree (packResource), read back by GNU tar.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { extractTar, packResource } from '../../src/client/local-archive.ts';

type Entry = Partial<tar.Header> & { name: string; body?: string };

function tarOf(entries: Entry[]): Readable {
  const pack = tar.pack();
  for (const { body, ...h } of entries) pack.entry({ mode: h.type === 'directory' ? 0o755 : 0o644, mtime: new Date(1_600_000_000_000), ...h }, body ?? '');
  pack.finalize();
  return Readable.from(pack);
}

describe('extractTar', () => {
  let base: string;
  let n = 0;
  const fresh = (): string => {
    const d = join(base, `d${n++}`);
    mkdirSync(d);
    return d;
  };
  before(() => { base = mkdtempSync('/tmp/berth-untar-'); });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('files, directories, symlinks and hard links land with their modes and mtimes', async () => {
    const d = fresh();
    await extractTar(tarOf([
      { name: 'top/', type: 'directory', mode: 0o750 },
      { name: 'top/f', body: 'hello', mode: 0o640 },
      { name: 'top/l', type: 'symlink', linkname: 'f' },
      { name: 'top/h', type: 'link', linkname: 'top/f' },
      { name: 'top/deep/er/g', body: 'made parents' },
    ]), d);
    assert.equal(readFileSync(join(d, 'top/f'), 'utf8'), 'hello');
    assert.equal(statSync(join(d, 'top/f')).mode & 0o7777, 0o640);
    assert.equal(statSync(join(d, 'top')).mode & 0o7777, 0o750);
    assert.equal(statSync(join(d, 'top')).mtimeMs, 1_600_000_000_000);
    assert.equal(statSync(join(d, 'top/f')).mtimeMs, 1_600_000_000_000);
    assert.equal(readlinkSync(join(d, 'top/l')), 'f');
    assert.equal(statSync(join(d, 'top/h')).ino, statSync(join(d, 'top/f')).ino);
    assert.equal(readFileSync(join(d, 'top/deep/er/g'), 'utf8'), 'made parents');
  });

  test('an existing file is replaced; a directory and a non-directory never replace each other', async () => {
    const d = fresh();
    mkdirSync(join(d, 'dir'));
    writeFileSync(join(d, 'dir/keep'), 'kept');
    writeFileSync(join(d, 'file'), 'old');
    await extractTar(tarOf([{ name: 'file', body: 'new' }, { name: 'dir/', type: 'directory' }, { name: 'dir/x', body: 'x' }]), d);
    assert.equal(readFileSync(join(d, 'file'), 'utf8'), 'new');
    assert.equal(readFileSync(join(d, 'dir/keep'), 'utf8'), 'kept');
    assert.equal(readFileSync(join(d, 'dir/x'), 'utf8'), 'x');
    await assert.rejects(extractTar(tarOf([{ name: 'dir', body: 'not a dir' }]), d), /cannot overwrite directory ".*\/dir" with non-directory/);
    await assert.rejects(extractTar(tarOf([{ name: 'file/', type: 'directory' }]), d), /cannot overwrite non-directory ".*\/file" with directory/);
    assert.ok(lstatSync(join(d, 'dir')).isDirectory());
    assert.equal(readFileSync(join(d, 'file'), 'utf8'), 'new');
  });

  test('a symlink replaced mid-tar moves where later entries under its name go', async () => {
    const d = fresh();
    await extractTar(tarOf([
      { name: 'x/', type: 'directory' },
      { name: 'y/', type: 'directory' },
      { name: 'a', type: 'symlink', linkname: 'x' },
      { name: 'a/one', body: '1' },
      { name: 'a', type: 'symlink', linkname: 'y' },
      { name: 'a/two', body: '2' },
    ]), d);
    assert.equal(readFileSync(join(d, 'x/one'), 'utf8'), '1');
    assert.equal(readFileSync(join(d, 'y/two'), 'utf8'), '2');
    assert.ok(!existsSync(join(d, 'x/two')));
  });

  test('names and links that climb out, and symlinks to / or a host path, stay in the destination', async () => {
    const d = fresh();
    const outside = join(base, 'outside');
    await assert.rejects(extractTar(tarOf([{ name: '../outside', body: 'no' }]), d), /is outside of/);
    assert.ok(!existsSync(outside));
    await extractTar(tarOf([
      { name: 'root', type: 'symlink', linkname: '/' },
      { name: 'root/at-root', body: 'in d' },
      { name: 'host', type: 'symlink', linkname: base },
      { name: 'host/outside', body: 'in d too' },
    ]), d);
    assert.equal(readFileSync(join(d, 'at-root'), 'utf8'), 'in d');
    assert.ok(!existsSync(outside));
    // The host path, clamped in the destination, was made there.
    assert.equal(readFileSync(join(d, base, 'outside'), 'utf8'), 'in d too');
    await assert.rejects(extractTar(tarOf([{ name: 'h', type: 'link', linkname: '/' }]), d), /invalid hardlink/);
  });

  // Past the first few files of a tree, files in directories the extraction
  // made are written by worker threads: the entries after them keep tar order.
  const warm = (dir: string): Entry[] => [{ name: `${dir}/`, type: 'directory' }, ...Array.from({ length: 20 }, (_, i) => ({ name: `${dir}/w${i}`, body: `w${i}`, mode: 0o600 }))];

  test('files written off the main thread: same name twice, a hard link to one, a symlink over one, a symlink to /', async () => {
    const d = fresh();
    await extractTar(tarOf([
      ...warm('t'),
      { name: 't/a', body: 'first' },
      { name: 't/a', body: 'second', mode: 0o755 },
      { name: 't/b', body: 'linked' },
      { name: 't/h', type: 'link', linkname: 't/b' },
      { name: 't/c', body: 'replaced by a symlink' },
      { name: 't/c', type: 'symlink', linkname: 'b' },
      { name: 't/root', type: 'symlink', linkname: '/' },
      { name: 't/root/at-root', body: 'in d' },
    ]), d);
    for (let i = 0; i < 20; i++) assert.equal(readFileSync(join(d, `t/w${i}`), 'utf8'), `w${i}`);
    assert.equal(statSync(join(d, 't/w19')).mode & 0o7777, 0o600);
    assert.equal(statSync(join(d, 't/w19')).mtimeMs, 1_600_000_000_000);
    assert.equal(readFileSync(join(d, 't/a'), 'utf8'), 'second');
    assert.equal(statSync(join(d, 't/a')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(d, 't/h')).ino, statSync(join(d, 't/b')).ino);
    assert.equal(readlinkSync(join(d, 't/c')), 'b');
    assert.equal(readFileSync(join(d, 'at-root'), 'utf8'), 'in d');
    await assert.rejects(extractTar(tarOf([...warm('u'), { name: 'u/f', body: 'x' }, { name: 'u/f/', type: 'directory' }]), d), /cannot overwrite non-directory ".*\/u\/f" with directory/);
    await assert.rejects(extractTar(tarOf([...warm('v'), { name: 'v/f', body: 'x' }, { name: 'v/f/under', body: 'y' }]), d), /not a directory/);
    assert.equal(readFileSync(join(d, 'v/f'), 'utf8'), 'x');
  });

  test('a name another process takes while the tar comes: a file is replaced, a directory refused', async () => {
    const d = fresh();
    const bytes = await buffered(tarOf([...warm('z'), { name: 'z/file', body: 'from the tar' }, { name: 'z/dir', body: 'from the tar' }]));
    // The tar up to its last two entries (a header and a block each, the end's two blocks), then, once its directory is there, the rest.
    const cut = bytes.length - 1024 - 2 * 1024;
    const input = new Readable({ read() {} });
    input.push(bytes.subarray(0, cut));
    const extracting = extractTar(input, d);
    for (let i = 0; !existsSync(join(d, 'z')); i++) {
      assert.ok(i < 1000, 'the directory z was never made');
      await new Promise((r) => setTimeout(r, 5));
    }
    writeFileSync(join(d, 'z/file'), 'from another process');
    mkdirSync(join(d, 'z/dir'));
    input.push(bytes.subarray(cut));
    input.push(null);
    await assert.rejects(extracting, /cannot overwrite directory ".*\/z\/dir" with non-directory/);
    assert.equal(readFileSync(join(d, 'z/file'), 'utf8'), 'from the tar');
    assert.ok(lstatSync(join(d, 'z/dir')).isDirectory());
  });
});

async function buffered(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('packResource', () => {
  let base: string;
  before(() => { base = mkdtempSync('/tmp/berth-pack-'); });
  after(() => rmSync(base, { recursive: true, force: true }));

  /** The whole tar the body writer makes; each piece handed back a turn later, as a socket would. */
  async function packed(path: string, rename: (n: string) => string = (n) => n): Promise<Buffer> {
    const pieces: Buffer[] = [];
    await packResource(path, rename)((bytes, done) => {
      pieces.push(Buffer.from(bytes));
      setImmediate(done);
    });
    return Buffer.concat(pieces);
  }

  test('a tree past the first few files (read by a thread, files across slabs) is what tar(1) extracts', async () => {
    const src = join(base, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 60; i++) bodies.set(`sub/f${i}`, randomBytes(i * 997));
    bodies.set('big', randomBytes((2 << 20) + 12_345));
    bodies.set('empty', Buffer.alloc(0));
    for (const [name, body] of bodies) writeFileSync(join(src, name), body, { mode: 0o640 });
    symlinkSync('sub/f3', join(src, 'link'));
    linkSync(join(src, 'sub/f5'), join(src, 'hard'));
    const dst = join(base, 'dst');
    mkdirSync(dst);
    const r = spawnSync('tar', ['-x', '-C', dst], { input: await packed(src, (n) => n.replace(/^src/, 'copy')) });
    assert.equal(r.status, 0, String(r.stderr));
    for (const [name, body] of bodies) {
      assert.ok(readFileSync(join(dst, 'copy', name)).equals(body), name);
      assert.equal(statSync(join(dst, 'copy', name)).mode & 0o777, 0o640);
    }
    assert.equal(readlinkSync(join(dst, 'copy/link')), 'sub/f3');
    assert.equal(statSync(join(dst, 'copy/hard')).ino, statSync(join(dst, 'copy/sub/f5')).ino);
  });
});
