// The pure parts of userns-remap: subordinate ranges read as moby's
// LoadIdentityMapping, a free range picked for dockremap, host IDs of
// container IDs, and a snapshot's overlay options moved onto the idmapped view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeSubIdStart, subIdRanges, throughView, toHost } from '../../src/runtime/userns.ts';

test('a user\'s ranges, by name or uid, laid end to end from container ID 0; none is dockerd\'s error', () => {
  const dir = mkdtempSync('/tmp/userns-unit-');
  try {
    const f = join(dir, 'subuid');
    writeFileSync(f, '# comment\nalice:100000:65536\nbob:165536:1000\n1001:300000:10\nalice:500000:5\n');
    assert.deepEqual(subIdRanges(f, { name: 'alice', uid: 1000 }), [
      { containerID: 0, hostID: 100000, size: 65536 },
      { containerID: 65536, hostID: 500000, size: 5 },
    ]);
    assert.deepEqual(subIdRanges(f, { name: 'carol', uid: 1001 }), [{ containerID: 0, hostID: 300000, size: 10 }]);
    assert.throws(() => subIdRanges(f, { name: 'dave', uid: 7 }), { message: 'no subuid ranges found for user "dave"' });
    // The first gap of 65536 at or above 100000.
    assert.equal(freeSubIdStart(f, 65536), 166536);
    assert.equal(freeSubIdStart(f, 150000), 300010);
    assert.equal(freeSubIdStart(join(dir, 'missing'), 65536), 100000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host IDs of container IDs, across ranges; none outside them', () => {
  const ranges = [{ containerID: 0, hostID: 100000, size: 10 }, { containerID: 10, hostID: 500000, size: 5 }];
  assert.equal(toHost(ranges, 0), 100000);
  assert.equal(toHost(ranges, 9), 100009);
  assert.equal(toHost(ranges, 12), 500002);
  assert.equal(toHost(ranges, 15), undefined);
});

test('overlay options move onto the view only for directories under the snapshots root', () => {
  const from = '/d/overlay2/snapshots';
  const opts = ['index=off', `lowerdir=${from}/3/fs:${from}/2/fs:/elsewhere/x`, `upperdir=${from}/4/fs`, `workdir=${from}/4/work`, 'userxattr'];
  assert.deepEqual(throughView(opts, from, '/x/userns-layers'), [
    'index=off', 'lowerdir=/x/userns-layers/3/fs:/x/userns-layers/2/fs:/elsewhere/x', 'upperdir=/x/userns-layers/4/fs', 'workdir=/x/userns-layers/4/work', 'userxattr',
  ]);
  assert.deepEqual(throughView([`lowerdir=${from}-other/1/fs`], from, '/v'), [`lowerdir=${from}-other/1/fs`]);
});
