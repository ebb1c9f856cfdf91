// The VolumeDriver contract, as a suite any driver must pass (after
// containerd's core/snapshots/testsuite). Every case runs on a real
// filesystem under a fresh root; mount options are real mounts (a tmpfs).
import { after, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/errors.ts';
import { isMountPoint, mountTable } from '../../src/runtime/mountinfo.ts';
import type { VolumeDriver } from '../../src/volumes/driver.ts';

/** A driver over `root`; called again on the same root, it is the driver after a daemon restart. */
export type DriverFactory = (root: string) => Promise<VolumeDriver>;

export interface DriverCase {
  name: string;
  run(make: () => Promise<VolumeDriver>, root: string): Promise<void>;
}

const MiB = 1024 * 1024;

export const volumeDriverCases: DriverCase[] = [
  {
    name: 'create makes an empty data directory that get and list show, with its options and labels',
    async run(make) {
      const d = await make();
      const v = await d.create('data1', { labels: { team: 'a', empty: '' } });
      assert.equal(v.name, 'data1');
      assert.deepEqual(readdirSync(v.mountpoint), []);
      assert.deepEqual(v.labels, { team: 'a', empty: '' });
      assert.deepEqual(v.options, {});
      assert.ok(Math.abs(v.createdAt.getTime() - Date.now()) < 60_000);
      assert.deepEqual(d.get('data1'), v);
      assert.deepEqual(d.list().map((x) => x.name), ['data1']);
      assert.equal(d.get('other'), undefined);
    },
  },
  {
    name: 'create of an existing name returns the volume as it is, its data and first options kept',
    async run(make) {
      const d = await make();
      const v = await d.create('same', { labels: { first: '1' } });
      writeFileSync(join(v.mountpoint, 'f'), 'kept');
      const again = await d.create('same', { labels: { second: '2' } });
      assert.deepEqual(again.labels, { first: '1' });
      assert.equal(readFileSync(join(again.mountpoint, 'f'), 'utf8'), 'kept');
      const both = await Promise.all([d.create('race'), d.create('race'), d.create('race')]);
      assert.equal(new Set(both.map((x) => x.mountpoint)).size, 1);
      assert.equal(d.list().length, 2);
    },
  },
  {
    name: 'names that are not one path component of the allowed characters are refused, and nothing is made',
    async run(make, root) {
      const d = await make();
      const before = readdirSync(root, { recursive: true }).sort();
      for (const bad of ['a', '..', '.', '../x', 'a/b', '/abs', '-lead', '_lead', 'sp ace', 'nul\0x', 'ü-name', '', 'a'.repeat(256)]) {
        await assert.rejects(d.create(bad), InvalidArgumentError, `name ${JSON.stringify(bad)}`);
      }
      assert.deepEqual(readdirSync(root, { recursive: true }).sort(), before);
      assert.equal(d.list().length, 0);
      await d.create('ok.name_-2');
      assert.ok(d.get('ok.name_-2'));
      await d.create('b'.repeat(255));
      assert.ok(d.get('b'.repeat(255)), 'the longest name a directory can have');
    },
  },
  {
    name: 'bad options are refused before anything is made',
    async run(make) {
      const d = await make();
      const bad: Record<string, string>[] = [{ foo: 'x' }, { type: 'tmpfs' }, { device: 'tmpfs' }, { o: 'size=1m' }, { size: 'huge' }];
      for (const opts of bad) {
        await assert.rejects(d.create('badopts', { options: opts }), InvalidArgumentError, JSON.stringify(opts));
      }
      assert.equal(d.get('badopts'), undefined);
    },
  },
  {
    name: 'remove deletes the volume and its data; removing a missing one is a no-op',
    async run(make) {
      const d = await make();
      const v = await d.create('gone');
      writeFileSync(join(v.mountpoint, 'f'), 'x');
      await d.remove('gone');
      assert.equal(d.get('gone'), undefined);
      assert.equal(existsSync(v.mountpoint), false);
      await d.remove('gone');
      await d.remove('never');
    },
  },
  {
    name: 'a plain volume mounts as its directory; mounts are counted per reference, idempotently',
    async run(make) {
      const d = await make();
      const v = await d.create('plain');
      assert.equal(await d.mount('plain', 'c1'), v.mountpoint);
      assert.equal(await d.mount('plain', 'c1'), v.mountpoint);
      await d.mount('plain', 'c2');
      assert.equal(isMountPoint(v.mountpoint), false);
      assert.deepEqual(d.mounts('plain').sort(), ['c1', 'c2']);
      await d.unmount('plain', 'c1');
      await d.unmount('plain', 'c1');
      assert.deepEqual(d.mounts('plain'), ['c2']);
      await assert.rejects(d.remove('plain'));
      assert.ok(d.get('plain'), 'a mounted volume stays');
      await d.unmount('plain', 'c2');
      await d.remove('plain');
    },
  },
  {
    name: 'type=tmpfs is a tmpfs of the asked size from the first mount to the last unmount',
    async run(make) {
      const d = await make();
      const v = await d.create('scratch', { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=4m,mode=1770' } });
      assert.deepEqual(v.options, { type: 'tmpfs', device: 'tmpfs', o: 'size=4m,mode=1770' });
      assert.equal(isMountPoint(v.mountpoint), false, 'not mounted before a reference needs it');
      await d.mount('scratch', 'c1');
      const m = mountTable().find((e) => e.point === v.mountpoint);
      assert.equal(m?.fstype, 'tmpfs');
      const fs = statfsSync(v.mountpoint);
      assert.equal(fs.blocks * fs.bsize, 4 * MiB);
      writeFileSync(join(v.mountpoint, 'in-tmpfs'), 'x');
      await d.mount('scratch', 'c2');
      await d.unmount('scratch', 'c1');
      assert.equal(isMountPoint(v.mountpoint), true, 'still mounted for c2');
      assert.equal(readFileSync(join(v.mountpoint, 'in-tmpfs'), 'utf8'), 'x');
      await d.unmount('scratch', 'c2');
      assert.equal(isMountPoint(v.mountpoint), false, 'unmounted with the last reference');
      assert.equal(existsSync(join(v.mountpoint, 'in-tmpfs')), false);
      await d.remove('scratch');
    },
  },
  {
    name: 'a mount that fails leaves the volume unmounted and unreferenced',
    async run(make) {
      const d = await make();
      await d.create('badmount', { options: { type: 'nosuchfs', device: 'none' } });
      await assert.rejects(d.mount('badmount', 'c1'));
      assert.deepEqual(d.mounts('badmount'), []);
      await d.remove('badmount');
      assert.equal(d.get('badmount'), undefined);
    },
  },
  {
    name: 'removing a mounted-on-disk volume unmounts it first; data of a tmpfs never reaches the root',
    async run(make, root) {
      const d = await make();
      const v = await d.create('rmmounted', { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
      await d.mount('rmmounted', 'c1');
      await d.unmount('rmmounted', 'c1');
      await d.remove('rmmounted');
      assert.equal(isMountPoint(v.mountpoint), false);
      assert.equal(mountTable().some((e) => e.point.startsWith(root)), false);
    },
  },
  {
    name: 'usage counts the bytes of the data, a hard-linked file once',
    async run(make) {
      const d = await make();
      const v = await d.create('sized');
      assert.equal(await d.usage('sized'), 0);
      writeFileSync(join(v.mountpoint, 'a'), Buffer.alloc(10_000));
      linkSync(join(v.mountpoint, 'a'), join(v.mountpoint, 'a-link'));
      writeFileSync(join(v.mountpoint, 'b'), Buffer.alloc(5));
      assert.equal(await d.usage('sized'), 10_005);
      assert.equal(await d.usage('missing'), -1);
    },
  },
  {
    name: 'a driver started again on the same root has every volume, its options, labels, time and data',
    async run(make) {
      const d1 = await make();
      const a = await d1.create('keep1', { labels: { l: 'v' } });
      await d1.create('keep2', { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=2m' } });
      writeFileSync(join(a.mountpoint, 'data'), 'survives');
      await d1.create('dropped');
      await d1.remove('dropped');
      const d2 = await make();
      assert.deepEqual(d2.list().map((x) => x.name).sort(), ['keep1', 'keep2']);
      assert.deepEqual(d2.get('keep1'), a);
      assert.deepEqual(d2.get('keep2')?.options, { type: 'tmpfs', device: 'tmpfs', o: 'size=2m' });
      assert.equal(readFileSync(join(d2.get('keep1')!.mountpoint, 'data'), 'utf8'), 'survives');
    },
  },
  {
    name: 'a mount the previous driver left in place is reused, not made twice, and goes with the last unmount',
    async run(make) {
      const d1 = await make();
      const v = await d1.create('left', { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
      await d1.mount('left', 'c1');
      writeFileSync(join(v.mountpoint, 'f'), 'x');
      // d1 is forgotten as a killed daemon is: its mount stays.
      const d2 = await make();
      await d2.mount('left', 'c1');
      assert.equal(readFileSync(join(v.mountpoint, 'f'), 'utf8'), 'x', 'the same tmpfs');
      assert.equal(mountTable().filter((e) => e.point === v.mountpoint).length, 1);
      await d2.unmount('left', 'c1');
      assert.equal(isMountPoint(v.mountpoint), false);
      await d2.remove('left');
    },
  },
];

/** Registers the suite for one driver. */
export function volumeDriverSuite(name: string, factory: DriverFactory): void {
  describe(`VolumeDriver: ${name}`, () => {
    const roots: string[] = [];
    after(() => {
      for (const r of roots) {
        for (const m of mountTable().filter((e) => e.point.startsWith(r + '/')).reverse()) spawnUmount(m.point);
        rmSync(r, { recursive: true, force: true });
      }
    });
    for (const c of volumeDriverCases) {
      test(c.name, async () => {
        const root = mkdtempSync('/tmp/berth-voldrv-');
        roots.push(root);
        await c.run(() => factory(root), root);
      });
    }
  });
}

function spawnUmount(point: string): void {
  spawnSync('umount', ['-l', point]);
}
