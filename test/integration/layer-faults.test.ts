// A layer tar that fails half-way (corrupt header, truncated, broken gzip)
// while it is unpacked and stored in the same pass (import): the command
// fails, and neither the half-unpacked snapshot nor the half-written blob nor
// a blob of the failed layer is left; the next import works. The same holds
// for such a layer inside a load.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar } from '../helpers/tar.ts';

describe('a layer that fails while it is unpacked and stored', () => {
  let d: TestDaemon;
  let work: string;
  const state = () => ({
    ingest: readdirSync(join(d.dataRoot, 'image/ingest')),
    blobs: readdirSync(join(d.dataRoot, 'image/blobs/sha256')).sort(),
    snapshots: readdirSync(join(d.dataRoot, 'overlay2/snapshots')).length,
    images: d.berth(['images', '-aq']).stdout,
  });
  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-layer-faults-');
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  const importFails = (name: string, bytes: Buffer) => {
    const file = join(work, name);
    writeFileSync(file, bytes);
    const before = state();
    const r = d.berth(['import', file, `broken:${name}`], { timeout: 60_000 });
    assert.notEqual(r.code, 0, `${name}: the import fails`);
    assert.notEqual(r.stderr, '', `${name}: with an error`);
    assert.deepEqual(state(), before, `${name}: no scratch file, blob, snapshot or image left`);
    // Through stdin as well.
    const piped = d.berth(['import', '-', `broken:${name}-stdin`], { input: bytes, timeout: 60_000 });
    assert.notEqual(piped.code, 0);
    assert.deepEqual(state(), before, `${name} from stdin: nothing left`);
  };

  test('a corrupt header in the middle of a large tar', async () => {
    const first = await makeTar([{ name: 'first.bin', content: randomBytes(4 << 20) }]);
    // The first entry, then a header block of garbage, then much more: the unpacking stops long before the end.
    const entryEnd = 512 + (4 << 20);
    const bytes = Buffer.concat([first.subarray(0, entryEnd), randomBytes(512), randomBytes(24 << 20)]);
    importFails('corrupt.tar', bytes);
  });

  test('a tar cut off inside a file', async () => {
    const whole = await makeTar([{ name: 'a.txt', content: 'a\n' }, { name: 'big.bin', content: randomBytes(1 << 20) }]);
    importFails('truncated.tar', whole.subarray(0, 2048 + 300_000));
  });

  test('a gzip stream that breaks off into garbage', async () => {
    const gz = gzipSync(await makeTar([{ name: 'big.bin', content: randomBytes(2 << 20) }]));
    importFails('broken.tar.gz', Buffer.concat([gz.subarray(0, 100_000), randomBytes(4 << 20)]));
  });

  test('a good tar imports after them', async () => {
    const file = join(work, 'good.tar');
    writeFileSync(file, await makeTar([{ name: 'ok.txt', content: 'ok\n' }]));
    const r = d.berth(['import', file, 'good:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['image', 'inspect', '-f', '{{len .RootFS.Layers}}', 'good:1']).stdout, '1\n');
    // Its one file is there: the layer was unpacked in full.
    const c = d.berth(['create', '--name', 'goodc', 'good:1', 'x']);
    assert.equal(c.code, 0, c.stderr);
    const out = join(work, 'goodc.tar');
    assert.equal(d.berth(['export', '-o', out, 'goodc']).code, 0);
    assert.match(run('tar', ['-xOf', out, 'ok.txt']).stdout, /^ok\n$/);
    d.berth(['rm', 'goodc']);
    assert.deepEqual(state().ingest, []);
  });

  test('a truncated layer inside a load: nothing staged, unpacked or recorded is left', async () => {
    const layer = await makeTar([{ name: 'big.bin', content: randomBytes(1 << 20) }]);
    const cut = layer.subarray(0, 600_000);
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    const archive = await makeTar([
      { name: 'c.json', content: cfg },
      { name: 'l.tar', content: cut },
      { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['cut:1'], Layers: ['l.tar'] }]) },
    ]);
    const before = state();
    const r = d.berth(['load'], { input: archive, timeout: 60_000 });
    assert.notEqual(r.code, 0);
    assert.deepEqual(state(), before);
  });
});
