// The cgroup file readers a stats sample uses: "key value" files parsed as
// numbers, and files kept open between samples read afresh each time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKeyed, readNumber } from '../../src/runtime/cgroups/usage.ts';
import { KeptCgroupFiles } from '../../src/runtime/cgroups/kept-files.ts';

test('readKeyed takes "key number" lines and skips anything else', () => {
  const dir = mkdtempSync('/tmp/berth-cg-');
  try {
    const f = join(dir, 'memory.stat');
    writeFileSync(f, 'cache 123\nrss 0\n  indented 5\nneg -5\ntwo 1 2\nword x\nempty \nhierarchical_memory_limit 9223372036854771712\nlast 7');
    assert.deepEqual(readKeyed(f), { cache: 123, rss: 0, hierarchical_memory_limit: 9223372036854771712, last: 7 });
    assert.deepEqual(readKeyed(join(dir, 'missing')), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kept files are read afresh, a large one whole, a missing one fails', () => {
  const dir = mkdtempSync('/tmp/berth-cg-');
  const kept = new KeptCgroupFiles();
  try {
    const f = join(dir, 'memory.usage_in_bytes');
    writeFileSync(f, '100\n');
    assert.equal(readNumber(f, kept.read), 100);
    writeFileSync(f, '4096\n'); // rewritten in place, as the kernel regenerates a cgroup file
    assert.equal(readNumber(f, kept.read), 4096);
    const big = join(dir, 'big.stat');
    const text = Array.from({ length: 8000 }, (_, i) => `k${i} ${i}`).join('\n');
    writeFileSync(big, text);
    assert.equal(Object.keys(readKeyed(big, kept.read)).length, 8000);
    assert.throws(() => kept.read(join(dir, 'gone')), /ENOENT/);
    assert.equal(readNumber(join(dir, 'gone'), kept.read), undefined);
  } finally {
    kept.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
