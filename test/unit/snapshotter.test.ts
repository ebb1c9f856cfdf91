// The Snapshotter contract, as a suite any implementation must pass (after
// containerd's snapshots/testsuite). Mounts are real overlay mounts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { OverlaySnapshotter } from '../../src/storage/overlay.ts';
import { type Mount, type Snapshotter, SnapshotExistsError, SnapshotNotFoundError } from '../../src/storage/snapshotter.ts';

function mountAt(m: Mount[], target: string): void {
  mkdirSync(target, { recursive: true });
  const opts = m[0].type === 'bind' ? ['--bind', m[0].source, target] : ['-t', 'overlay', 'overlay', '-o', m[0].options.join(','), target];
  const r = spawnSync('mount', opts, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

function unmount(target: string): void {
  spawnSync('umount', [target]);
}

export function snapshotterSuite(name: string, make: (root: string) => Promise<Snapshotter>): void {
  describe(`Snapshotter: ${name}`, () => {
    const dirs: string[] = [];
    const fresh = async () => {
      const root = mkdtempSync('/tmp/berth-snap-');
      dirs.push(root);
      return { root, s: await make(root) };
    };
    after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

    test('prepare, write, commit, and a child sees its parent through overlay', async () => {
      const { root, s } = await fresh();
      await s.prepare('active-1');
      writeFileSync(join(await s.dir('active-1'), 'base.txt'), 'base');
      await s.commit('layer-1', 'active-1');
      await assert.rejects(s.stat('active-1'), SnapshotNotFoundError);
      assert.equal((await s.stat('layer-1')).kind, 'committed');
      const mounts = await s.prepare('ctr', 'layer-1');
      const mnt = join(root, 'mnt');
      mountAt(mounts, mnt);
      try {
        assert.equal(readFileSync(join(mnt, 'base.txt'), 'utf8'), 'base');
        writeFileSync(join(mnt, 'new.txt'), 'new');
        rmSync(join(mnt, 'base.txt'));
      } finally {
        unmount(mnt);
      }
      assert.ok(existsSync(join(await s.dir('layer-1'), 'base.txt')), 'the committed layer is unchanged');
      assert.deepEqual(readdirSync(await s.dir('ctr')).sort(), ['base.txt', 'new.txt'], 'the upper dir holds the change and a whiteout');
    });

    test('keys are unique, parents must be committed, parents with children stay', async () => {
      const { s } = await fresh();
      await s.prepare('a');
      await assert.rejects(s.prepare('a'), SnapshotExistsError);
      await assert.rejects(s.prepare('b', 'a'), /not committed/);
      await s.commit('A', 'a');
      await s.prepare('child', 'A');
      await assert.rejects(s.remove('A'), /has children/);
      await s.remove('child');
      await s.remove('A');
      await assert.rejects(s.stat('A'), SnapshotNotFoundError);
      await assert.rejects(s.prepare('../escape'), /invalid snapshot key/);
    });

    test('views are read-only looks at a committed chain; labels update; walk and usage', async () => {
      const { s } = await fresh();
      await s.prepare('x', undefined, { kept: 'yes' });
      writeFileSync(join(await s.dir('x'), 'f'), '12345');
      await s.commit('X', 'x', { added: 'at commit' });
      assert.deepEqual((await s.stat('X')).labels, { kept: 'yes', added: 'at commit' });
      const v = await s.view('v', 'X');
      assert.ok(v[0].options.includes('ro'));
      await s.update({ key: 'X', labels: { a: 'b' } });
      assert.deepEqual((await s.stat('X')).labels, { a: 'b' });
      const seen: string[] = [];
      await s.walk((i) => { seen.push(`${i.key}:${i.kind}`); });
      assert.deepEqual(seen.sort(), ['X:committed', 'v:view']);
      assert.equal((await s.usage('X')).size, 5);
    });

    test('state survives a new instance; orphan directories are collected', async () => {
      const { root, s } = await fresh();
      await s.prepare('p');
      await s.commit('P', 'p');
      await s.close();
      mkdirSync(join(root, 'snapshots', 'orphan', 'fs'), { recursive: true });
      const again = await make(root);
      assert.equal((await again.stat('P')).kind, 'committed');
      assert.equal(existsSync(join(root, 'snapshots', 'orphan')), false);
    });
  });
}

snapshotterSuite('overlay2', async (root) => {
  const s = new OverlaySnapshotter(root);
  await s.init();
  return s;
});
