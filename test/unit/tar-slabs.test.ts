// The slab tar writer (files/tar-slabs.ts) and the header blocks it writes
// (files/tar-format.ts): real tar(1) reads what they make; slabs are reused,
// never handed out twice at once; short reads are padded; a failed or
// aborted sink stops the writer instead of leaving it waiting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { paxEntry, TAR_END, ustarHeader } from '../../src/files/tar-format.ts';
import { SlabWriter, type SlabSink } from '../../src/files/tar-slabs.ts';

/** A sink that keeps a copy of every slab and hands it back on the next turn, as a socket would. */
function collector(): { sink: SlabSink; bytes: () => Buffer; slabs: Set<ArrayBufferLike>; maxOut: () => number } {
  const parts: Buffer[] = [];
  const slabs = new Set<ArrayBufferLike>();
  const out = new Set<ArrayBufferLike>();
  let max = 0;
  return {
    sink: (b, done) => {
      assert.ok(!out.has(b.buffer), 'a slab handed out while the sink still holds it');
      out.add(b.buffer);
      max = Math.max(max, out.size);
      slabs.add(b.buffer);
      parts.push(Buffer.from(b));
      setImmediate(() => {
        out.delete(b.buffer);
        done();
      });
    },
    bytes: () => Buffer.concat(parts),
    slabs,
    maxOut: () => max,
  };
}

describe('SlabWriter', () => {
  test('a tar of headers, PAX records and file bodies that tar(1) lists and extracts, through 4 reused slabs', async () => {
    const c = collector();
    const w = new SlabWriter(c.sink, { slabSize: 64 * 1024, slabs: 4 });
    const files = [0, 1, 511, 512, 513, 100_000, 300_001].map((n, i) => ({ name: `dir/f${i}`, data: Buffer.alloc(n, 0x41 + i) }));
    await w.put(ustarHeader({ name: 'dir/', type: 'directory', mode: 0o750, uid: 0, gid: 0, mtime: 1_600_000_000 }));
    for (const f of files) {
      await w.put(ustarHeader({ name: f.name, type: 'file', mode: 0o640, uid: 2_000_000, gid: 7, mtime: 1_600_000_000, size: f.data.length }));
      await w.fill(f.data.length, (buf, off, len, pos) => f.data.copy(buf, off, pos, pos + len));
    }
    const long = `dir/${'n'.repeat(150)}ü`;
    await w.put(paxEntry([['path', long], ['uid', '3000000']], long, 1_600_000_000));
    await w.put(ustarHeader({ name: 'placeholder', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1_600_000_000, linkname: 'f0' }));
    await w.put(TAR_END);
    await w.flush();
    const tar = c.bytes();
    assert.equal(tar.length % 512, 0);
    assert.ok(c.slabs.size <= 4, `${c.slabs.size} slabs for ${tar.length} bytes`);
    assert.ok(c.maxOut() > 1, 'slabs go out while the next is filled');
    const r = spawnSync('tar', ['-tv', '--numeric-owner'], { input: tar, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^drwxr-x--- 0\/0 +0 2020-09-13 .* dir\/$/);
    assert.match(lines[6], /^-rw-r----- 2000000\/7 +100000 .* dir\/f5$/);
    assert.match(lines[8], new RegExp(`^lrwxrwxrwx 3000000/0 .* ${long} -> f0$`));
    for (const [i, f] of files.entries()) {
      const x = spawnSync('tar', ['-xO', f.name], { input: tar, maxBuffer: 1 << 20 });
      assert.ok(x.stdout.equals(f.data), `content of ${f.name} (${i})`);
    }
  });

  test('a source that ends early is padded with zeros to the size in its header', async () => {
    const c = collector();
    const w = new SlabWriter(c.sink, { slabSize: 4096, slabs: 2 });
    await w.put(ustarHeader({ name: 'shrunk', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 10_000 }));
    const got = await w.fill(10_000, (buf, off, len, pos) => (pos >= 3000 ? 0 : buf.fill(0x7a, off, off + Math.min(len, 3000 - pos)) && Math.min(len, 3000 - pos)));
    await w.put(TAR_END);
    await w.flush();
    assert.equal(got, 3000);
    const x = spawnSync('tar', ['-xO', 'shrunk'], { input: c.bytes() });
    assert.equal(x.status, 0);
    assert.ok(x.stdout.equals(Buffer.concat([Buffer.alloc(3000, 0x7a), Buffer.alloc(7000)])));
  });

  test('a sink that fails, or an abort while every slab is out, stops the writer', async () => {
    const failing = new SlabWriter((_b, done) => setImmediate(() => done(new Error('EPIPE'))), { slabSize: 1024, slabs: 1 });
    await assert.rejects(async () => {
      for (let i = 0; i < 10; i++) await failing.put(Buffer.alloc(1024));
    }, /EPIPE/);
    const ac = new AbortController();
    const stuck = new SlabWriter(() => {}, { slabSize: 1024, slabs: 1, signal: ac.signal });
    const p = (async () => {
      for (let i = 0; i < 10; i++) await stuck.put(Buffer.alloc(1024));
    })();
    setImmediate(() => ac.abort(new Error('client gone')));
    await assert.rejects(p, /client gone/);
  });
});
