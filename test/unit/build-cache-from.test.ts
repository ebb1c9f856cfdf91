// --cache-from's matching rule: a source continues a parent when the parent's
// history entries and diff IDs are a prefix of the source's (Docker's
// isValidParent), whatever the key order of the entries' JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { continuesParent } from '../../src/build/cache-from.ts';
import type { Image } from '../../src/images/store.ts';
import type { HistoryEntry } from '../../src/images/types.ts';

const L1 = 'sha256:' + '1'.repeat(64);
const L2 = 'sha256:' + '2'.repeat(64);

function img(history: HistoryEntry[], diffIds: string[]): Image {
  return {
    record: { id: 'sha256:' + 'f'.repeat(64), topLayer: '' },
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history },
  };
}

const base = img([{ created: '2026-01-01T00:00:00Z', created_by: 'import' }], [L1]);
const built = img([
  { created_by: 'import', created: '2026-01-01T00:00:00Z' },
  { created: '2026-01-02T00:00:00Z', created_by: '/bin/sh -c #(nop)  ENV A=1', empty_layer: true },
  { created: '2026-01-02T00:00:01Z', created_by: '/bin/sh -c echo hi > /x' },
], [L1, L2]);

test('a source continues its own base and the empty image, not an unrelated parent', () => {
  assert.equal(continuesParent(built, base), true);
  assert.equal(continuesParent(built, undefined), true);
  assert.equal(continuesParent(built, img([], [])), true);
  // Same layers, another history (a base imported at another time): no match.
  assert.equal(continuesParent(built, img([{ created: '2026-03-01T00:00:00Z', created_by: 'import' }], [L1])), false);
  // Same history, another layer.
  assert.equal(continuesParent(built, img(base.config.history ?? [], [L2])), false);
});

test('a parent as long as the source, or a source without history, matches nothing', () => {
  assert.equal(continuesParent(built, built), false);
  assert.equal(continuesParent(img([], [L1]), base), false);
});
