// The local volume driver: the shared driver suite, then what is its own —
// dockerd's layout on disk, what a crash leaves and init collects, and the
// option rules (dockerd's messages, network addresses resolved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LocalDriver } from '../../src/volumes/local.ts';
import { resolveMount, validateLocalOptions } from '../../src/volumes/local-options.ts';
import { volumeDriverSuite } from './volume-driver-suite.ts';

volumeDriverSuite('local', async (root) => {
  const d = new LocalDriver(join(root, 'volumes'));
  await d.init();
  return d;
});

async function fresh(): Promise<{ root: string; make: () => Promise<LocalDriver> }> {
  const root = mkdtempSync('/tmp/berth-vollocal-');
  return {
    root,
    make: async () => {
      const d = new LocalDriver(join(root, 'volumes'));
      await d.init();
      return d;
    },
  };
}

test('dockerd\'s layout: <root>/volumes/<name>/_data, metadata beside it readable by root only', async () => {
  const { root, make } = await fresh();
  const d = await make();
  const v = await d.create('laid-out', { options: {}, labels: { a: 'b' } });
  assert.equal(v.mountpoint, join(root, 'volumes', 'laid-out', '_data'));
  assert.equal(statSync(join(root, 'volumes')).mode & 0o777, 0o701);
  assert.equal(statSync(join(root, 'volumes', 'laid-out')).mode & 0o777, 0o701);
  assert.equal(statSync(v.mountpoint).mode & 0o777, 0o755);
  assert.equal(statSync(join(root, 'volumes', 'laid-out', 'volume.json')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(root, 'volumes', 'laid-out')).sort(), ['_data', 'volume.json']);
  rmSync(root, { recursive: true, force: true });
});

test('init collects what a crash cut short: a volume without metadata (half created or half removed) and temp files', async () => {
  const { root, make } = await fresh();
  const d1 = await make();
  await d1.create('whole');
  writeFileSync(join(root, 'volumes', 'whole', '_data', 'f'), 'kept');
  // Half created: the directories, no metadata yet.
  mkdirSync(join(root, 'volumes', 'half', '_data'), { recursive: true });
  // Half removed: metadata already gone, some data left.
  mkdirSync(join(root, 'volumes', 'halfgone', '_data', 'sub'), { recursive: true });
  writeFileSync(join(root, 'volumes', 'halfgone', '_data', 'sub', 'x'), 'x');
  // An atomic write's temp file.
  writeFileSync(join(root, 'volumes', 'whole', '.volume.json.0123456789ab.tmp'), '{"Na');
  // Not a volume directory name of ours: left alone.
  mkdirSync(join(root, 'volumes', '.hidden'));
  const d2 = await make();
  assert.deepEqual(d2.list().map((v) => v.name), ['whole']);
  assert.deepEqual(readdirSync(join(root, 'volumes')).sort(), ['.hidden', 'whole']);
  assert.deepEqual(readdirSync(join(root, 'volumes', 'whole')).sort(), ['_data', 'volume.json']);
  assert.equal(existsSync(join(root, 'volumes', 'whole', '_data', 'f')), true);
  // The name of a collected volume is free again.
  await d2.create('half');
  assert.ok(d2.get('half'));
  rmSync(root, { recursive: true, force: true });
});

test('options: dockerd\'s keys, required companions and messages; size is a quota berth does not have', () => {
  const msg = (o: Record<string, string>) => { try { validateLocalOptions(o); return 'ok'; } catch (err) { return (err as Error).message; } };
  assert.equal(msg({}), 'ok');
  assert.equal(msg({ type: 'tmpfs', device: 'tmpfs', o: 'size=10m' }), 'ok');
  assert.equal(msg({ type: 'none', device: '/srv', o: 'bind' }), 'ok');
  assert.equal(msg({ foo: '1' }), 'invalid option: "foo"');
  assert.equal(msg({ type: 'tmpfs' }), 'missing required option: "device"');
  assert.equal(msg({ device: 'x' }), 'missing required option: "type"');
  assert.equal(msg({ o: 'size=1m', type: 'tmpfs' }), 'missing required option: "device"');
  assert.equal(msg({ size: '10m' }), 'quota size requested but no quota support');
  assert.equal(msg({ size: '0' }), 'ok');
  assert.match(msg({ size: 'lots' }), /invalid size: 'lots'/);
  assert.equal(msg({ type: 'cifs', device: '//host:445/share' }), "port not allowed in CIFS device URL, include 'port' in 'o='");
});

test('an nfs volume\'s addr= host name is resolved before mount, as dockerd does; an address is left as it is', async () => {
  const r = await resolveMount({ type: 'nfs', device: ':/export', o: 'rw,addr=localhost,vers=4' });
  assert.match(r.options, /^rw,addr=(127\.0\.0\.1|::1),vers=4$/);
  assert.equal(r.device, ':/export');
  const ip = await resolveMount({ type: 'nfs', device: ':/export', o: 'addr=10.0.0.1' });
  assert.equal(ip.options, 'addr=10.0.0.1');
  const tmpfs = await resolveMount({ type: 'tmpfs', device: 'tmpfs', o: 'addr=localhost' });
  assert.equal(tmpfs.options, 'addr=localhost', 'only nfs and cifs');
  const cifs = await resolveMount({ type: 'cifs', device: '//localhost/share', o: 'username=u,password=p' });
  assert.match(cifs.device, /^\/\/(127\.0\.0\.1|\[::1\])\/share$/);
  assert.equal(cifs.options, 'username=u,password=p');
  await assert.rejects(resolveMount({ type: 'nfs', device: ':/x', o: 'addr=no-such-host.invalid' }), /^Error: error resolving passed in network volume address: lookup no-such-host\.invalid: no such host$/);
});

test('a data root below a symlink: volumes are removed all the same (the root check compares real paths)', async () => {
  const real = mkdtempSync('/tmp/berth-vollocal-real-');
  const link = `${real}-link`;
  symlinkSync(real, link);
  const d = new LocalDriver(join(link, 'volumes'));
  await d.init();
  const v = await d.create('linked');
  writeFileSync(join(v.mountpoint, 'f'), 'x');
  await d.remove('linked');
  assert.equal(existsSync(join(real, 'volumes', 'linked')), false);
  rmSync(link);
  rmSync(real, { recursive: true, force: true });
});
