// ScopedRoot (files/rootpath.ts): a root with mounts, resolved as a process
// chrooted there sees it. Real directories and symlinks on disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PathEscapeError, ScopedRoot } from '../../src/files/rootpath.ts';

describe('ScopedRoot', () => {
  let base: string;
  let root: string;
  let vol: string;
  let nested: string;
  let file: string;
  let scope: ScopedRoot;

  before(() => {
    base = mkdtempSync('/tmp/berth-scope-');
    root = join(base, 'root');
    vol = join(base, 'vol');
    nested = join(base, 'nested');
    file = join(base, 'file');
    for (const d of [root, vol, nested, join(root, 'data'), join(root, 'etc'), join(vol, 'inner'), join(root, 'loop')]) mkdirSync(d, { recursive: true });
    writeFileSync(file, 'bound file');
    writeFileSync(join(root, 'etc', 'hostname'), '');
    symlinkSync('/', join(root, 'to-root'));
    symlinkSync(base, join(root, 'to-host'));
    symlinkSync('../../../../..', join(root, 'up'));
    symlinkSync('/etc', join(vol, 'etc-link'));
    symlinkSync('a', join(root, 'loop', 'b'));
    symlinkSync('b', join(root, 'loop', 'a'));
    scope = new ScopedRoot(root, [
      { destination: '/data', source: vol },
      { destination: '/data/inner', source: nested },
      { destination: '/etc/hostname', source: file },
    ]);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('paths under a destination are in its source; the deepest mount wins', () => {
    assert.equal(scope.host('/data/x'), join(vol, 'x'));
    assert.equal(scope.host('/data/inner/y'), join(nested, 'y'));
    assert.equal(scope.host('/etc/hostname'), file);
    assert.equal(scope.host('/etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(scope.mountHolding('/data/inner/y')?.source, nested);
    assert.equal(scope.mountHolding('/etc/passwd'), undefined);
  });

  test('symlinks to / and to host paths, and .. above the root, stay in the container', () => {
    assert.equal(scope.host('/to-root/etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(scope.host('/to-root/data/z'), join(vol, 'z'));
    assert.equal(scope.host('/to-host/file'), join(root, base.slice(1), 'file'));
    assert.equal(scope.host('/up/etc'), join(root, 'etc'));
    assert.equal(scope.host('/../../../etc'), join(root, 'etc'));
    // A symlink inside a mount resolves in the container's root, not the host's.
    assert.equal(scope.host('/data/etc-link/passwd'), join(root, 'etc/passwd'));
    assert.equal(scope.resolve('/to-root', false), '/to-root');
    assert.equal(scope.resolve('/to-root/', true), '/');
    assert.throws(() => scope.host('/loop/a/x'), PathEscapeError);
  });

  test('mount points: what each mount hides, and which lie below a directory', () => {
    assert.equal(scope.mountOver(join(root, 'data'))?.source, vol);
    assert.equal(scope.mountOver(join(vol, 'inner'))?.source, nested);
    assert.equal(scope.mountOver(join(root, 'etc/hostname'))?.source, file);
    assert.equal(scope.mountOver(join(root, 'etc')), undefined);
    assert.deepEqual(scope.mountsBelow(root).map((m) => m.destination).sort(), ['/data', '/data/inner', '/etc/hostname']);
    assert.deepEqual(scope.mountsBelow(join(root, 'etc')).map((m) => m.destination), ['/etc/hostname']);
    assert.ok(scope.contains(join(nested, 'q')));
    assert.ok(!scope.contains(join(base, 'elsewhere')));
  });
});
