// VolumeService over the real local driver (a temp data root): the API's
// rules — references from containers, the 409 of a volume in use, prune and
// list filters, dockerd's errors and events. Containers reach it through
// VolumeMounts; these tests take that side's part directly.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventBus, type EngineEvent } from '../../src/events/bus.ts';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../src/errors.ts';
import { isMountPoint } from '../../src/runtime/mountinfo.ts';
import { VolumeService } from '../../src/volumes/service.ts';
import type { VolumeMounts } from '../../src/volumes/types.ts';

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

async function fresh(root = mkdtempSync('/tmp/berth-volsvc-')): Promise<{ s: VolumeService; events: EngineEvent[]; root: string }> {
  roots.push(root);
  const bus = new EventBus();
  const events: EngineEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const s = new VolumeService(root, bus);
  await s.init();
  return { s, events, root };
}

const fail = async (p: Promise<unknown>): Promise<Error> => {
  try { await p; } catch (err) { return err as Error; }
  throw new Error('did not fail');
};

test('a volume referenced by a container cannot be removed, force or not: 409 with dockerd\'s wording', async () => {
  const { s } = await fresh();
  const mounts: VolumeMounts = s;
  await mounts.ensure({ Name: 'shared' }, 'c1aaaaaaaaaa');
  await mounts.ensure({ Name: 'shared' }, 'c2bbbbbbbbbb');
  const err = await fail(s.remove('shared'));
  assert.ok(err instanceof ConflictError);
  assert.equal(err.message, 'remove shared: volume is in use - [c1aaaaaaaaaa, c2bbbbbbbbbb]');
  assert.ok((await fail(s.remove('shared', { force: true }))) instanceof ConflictError);
  await mounts.release('shared', 'c1aaaaaaaaaa');
  await mounts.release('shared', 'c1aaaaaaaaaa');
  assert.equal((await fail(s.remove('shared'))).message, 'remove shared: volume is in use - [c2bbbbbbbbbb]');
  await mounts.release('shared', 'c2bbbbbbbbbb');
  await s.remove('shared');
  assert.ok((await fail(Promise.resolve().then(() => s.inspect('shared')))) instanceof NotFoundError);
});

test('missing volumes: 404 "get NAME: no such volume"; rm -f of one succeeds', async () => {
  const { s } = await fresh();
  const err = await fail(s.remove('nosuch'));
  assert.ok(err instanceof NotFoundError);
  assert.equal(err.message, 'get nosuch: no such volume');
  await s.remove('nosuch', { force: true });
  assert.throws(() => s.inspect('nosuch'), { message: 'get nosuch: no such volume' });
  await assert.rejects(s.mount('nosuch', 'c1'), NotFoundError);
});

test('ensure without a name makes an anonymous volume: 64 hex, labelled, referenced', async () => {
  const { s } = await fresh();
  const v = await s.ensure({ Labels: { mine: 'x' } }, 'c1');
  assert.match(v.Name, /^[0-9a-f]{64}$/);
  assert.deepEqual(v.Labels, { mine: 'x', 'com.docker.volume.anonymous': '' });
  assert.deepEqual(s.references(v.Name), ['c1']);
});

test('create: dockerd\'s errors for names, options and drivers, each with the "create NAME: " prefix, nothing left', async () => {
  const { s, root } = await fresh();
  const cases: [Parameters<VolumeService['create']>[0], typeof NotFoundError | typeof InvalidArgumentError, string][] = [
    [{ Name: 'x' }, InvalidArgumentError, 'create x: volume name is too short, names should be at least two alphanumeric characters'],
    [{ Name: '../etc' }, InvalidArgumentError, 'create ../etc: "../etc" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
    [{ Name: 'ok', DriverOpts: { bogus: '1' } }, InvalidArgumentError, 'create ok: invalid option: "bogus"'],
    [{ Name: 'ok', Driver: 'rexray' }, NotFoundError, 'create ok: error looking up volume plugin rexray: plugin "rexray" not found'],
  ];
  for (const [req, Kind, message] of cases) {
    const err = await fail(s.create(req));
    assert.ok(err instanceof Kind, `${message}: ${err.name}`);
    assert.equal(err.message, message);
  }
  assert.deepEqual(s.list(), []);
  assert.equal(existsSync(join(root, 'etc')), false);
});

test('create of an existing name returns it unchanged, with one create event; another driver is the missing plugin', async () => {
  const { s, events } = await fresh();
  const a = await s.create({ Name: 'dup', Labels: { v: '1' } });
  const b = await s.create({ Name: 'dup', Labels: { v: '2' }, Driver: 'local' });
  assert.deepEqual(b, a);
  assert.equal(events.filter((e) => e.Action === 'create').length, 1);
  assert.match((await fail(s.create({ Name: 'dup', Driver: 'other' }))).message, /^create dup: error looking up volume plugin other: plugin "other" not found$/);
});

test('list filters: dangling, driver, label, name (exact or a pattern); bad filters are 400s with dockerd\'s words', async () => {
  const { s } = await fresh();
  await s.create({ Name: 'web-data', Labels: { app: 'web', tier: 'front' } });
  await s.create({ Name: 'db-data', Labels: { app: 'db' } });
  await s.ensure({ Name: 'cache' }, 'c1');
  const names = (f: Record<string, string[]>) => s.list(f).map((v) => v.Name);
  assert.deepEqual(names({}), ['cache', 'db-data', 'web-data']);
  assert.deepEqual(names({ dangling: ['true'] }), ['db-data', 'web-data']);
  assert.deepEqual(names({ dangling: ['0'] }), ['cache']);
  assert.deepEqual(names({ driver: ['local'] }).length, 3);
  assert.deepEqual(names({ driver: ['nfs-plugin'] }), []);
  assert.deepEqual(names({ label: ['app'] }), ['db-data', 'web-data']);
  assert.deepEqual(names({ label: ['app=web'] }), ['web-data']);
  assert.deepEqual(names({ label: ['app', 'tier=front'] }), ['web-data']);
  assert.deepEqual(names({ name: ['data'] }), ['db-data', 'web-data']);
  assert.deepEqual(names({ name: ['^db'] }), ['db-data']);
  assert.deepEqual(names({ name: ['cache', 'db-data'] }), ['cache', 'db-data']);
  assert.throws(() => s.list({ dangling: ['maybe'] }), { name: 'InvalidArgumentError', message: "invalid filter 'dangling=maybe'" });
  assert.throws(() => s.list({ dangling: ['true', 'false'] }), { message: "invalid filter 'dangling=true,false'" });
  assert.throws(() => s.list({ until: ['1h'] }), { message: "invalid filter 'until'" });
  assert.throws(() => s.list({ 'label!': ['a'] }), { message: "invalid filter 'label!'" });
});

test('prune: unreferenced anonymous volumes only, named ones too with all=true; label and label! filters; mounts-by-option volumes kept', async () => {
  const { s, events } = await fresh();
  const anon = await s.ensure({}, 'c1');
  await s.release(anon.Name, 'c1');
  writeFileSync(join(anon.Mountpoint, 'f'), Buffer.alloc(3000));
  const held = await s.ensure({}, 'c2');
  await s.create({ Name: 'named', Labels: { keep: 'no' } });
  await s.create({ Name: 'named-keep', Labels: { keep: 'yes' } });
  await s.create({ Name: 'opts', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } });
  const r1 = await s.prune({});
  assert.deepEqual(r1, { VolumesDeleted: [anon.Name], SpaceReclaimed: 3000 });
  const prune = events.find((e) => e.Action === 'prune');
  assert.deepEqual(prune?.Actor, { ID: '', Attributes: { reclaimed: '3000' } });
  assert.deepEqual(await s.prune({ all: ['1'], 'label!': ['keep=yes'] }), { VolumesDeleted: ['named'], SpaceReclaimed: 0 });
  assert.deepEqual(await s.prune({ all: ['true'], label: ['nothing-has-this'] }), { VolumesDeleted: [], SpaceReclaimed: 0 });
  assert.deepEqual((await s.prune({ all: ['true'] })).VolumesDeleted, ['named-keep']);
  assert.deepEqual(s.list().map((v) => v.Name).sort(), [held.Name, 'opts'].sort());
  await assert.rejects(s.prune({ all: ['yes'] }), { name: 'InvalidArgumentError', message: 'invalid filter \'all\': strconv.ParseBool: parsing "yes": invalid syntax' });
  await assert.rejects(s.prune({ all: ['1', '0'] }), { message: "invalid filter 'all=1,0': only one value is expected" });
  await assert.rejects(s.prune({ dangling: ['true'] }), { message: "invalid filter 'dangling'" });
});

test('events as dockerd emits them: create and destroy with the driver, mount with where, unmount', async () => {
  const { s, events } = await fresh();
  await s.ensure({ Name: 'ev' }, 'cid');
  await s.mount('ev', 'cid', { destination: '/data', rw: false, propagation: '' });
  await s.unmount('ev', 'cid');
  await s.unmount('ev', 'cid');
  await s.release('ev', 'cid');
  await s.remove('ev');
  assert.deepEqual(events.map((e) => [e.Type, e.Action, e.Actor.ID, e.Actor.Attributes]), [
    ['volume', 'create', 'ev', { driver: 'local' }],
    ['volume', 'mount', 'ev', { driver: 'local', container: 'cid', destination: '/data', 'read/write': 'false', propagation: '' }],
    ['volume', 'unmount', 'ev', { driver: 'local', container: 'cid' }],
    ['volume', 'destroy', 'ev', { driver: 'local' }],
  ]);
});

test('a volume being removed is not handed to a container: ensure waits for the remove and gets a new volume', async () => {
  const { s } = await fresh();
  const v = await s.create({ Name: 'racy' });
  writeFileSync(join(v.Mountpoint, 'old'), 'x');
  const [, got] = await Promise.all([s.remove('racy'), s.ensure({ Name: 'racy' }, 'c1')]);
  assert.equal(got.Name, 'racy');
  assert.equal(existsSync(join(got.Mountpoint, 'old')), false);
  assert.deepEqual(s.references('racy'), ['c1']);
});

test('after a restart: references come back from the containers, a running one\'s tmpfs is reused; usage has sizes and counts', async () => {
  const first = await fresh();
  await first.s.ensure({ Name: 'tmp', DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } }, 'run1');
  const path = await first.s.mount('tmp', 'run1');
  writeFileSync(join(path, 'live'), 'x');
  const plain = await first.s.ensure({ Name: 'plain' }, 'stopped1');
  writeFileSync(join(plain.Mountpoint, 'f'), Buffer.alloc(1234));
  // The daemon dies; a new service on the same root.
  const { s } = await fresh(first.root);
  assert.deepEqual(s.references('tmp'), []);
  s.restoreReference('tmp', 'run1');
  s.restoreReference('plain', 'stopped1');
  s.restoreReference('gone', 'x');
  assert.equal(await s.mount('tmp', 'run1'), path);
  assert.equal(existsSync(join(path, 'live')), true, 'the same tmpfs, not a new one');
  assert.equal((await fail(s.remove('tmp'))).message, 'remove tmp: volume is in use - [run1]');
  assert.deepEqual((await s.usage()).map((v) => [v.Name, v.UsageData]), [['plain', { Size: 1234, RefCount: 1 }]]);
  await s.unmount('tmp', 'run1');
  assert.equal(isMountPoint(path), false);
});
