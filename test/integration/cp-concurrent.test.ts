// `cp` into a container writes the files of a new directory several at a time
// off the daemon's main thread (files/file-writes.ts). What a user sees must
// be what the tar says, in its order: a hard link to a file still being
// written, a name given twice, a file replaced by a directory and the reverse,
// a directory swapped for a symlink between its files (followed inside the
// container, never on the host), and a process racing for the same names (in
// another container sharing the bind mount: the container copied into is
// frozen for the copy, cp-freeze.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar, type TarEntry } from '../helpers/tar.ts';

interface Answer { status: number; body: Buffer }

function put(d: TestDaemon, path: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method: 'PUT', path: `/containers/box/archive?path=${encodeURIComponent(path)}`, headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A file's content: its name on the first line, then enough bytes that several are in flight at once. */
const body = (first: string, kb = 150) => `${first}\n${'x'.repeat(kb * 1024)}\n`;

function files(dir: string, n: number): TarEntry[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${dir}/f${i}`, content: body(`f${i}`) }));
}

describe('cp into a container: files written concurrently keep the tar\'s order and scope', () => {
  let d: TestDaemon;
  let host: string;
  let shared: string;

  before(async () => {
    d = await startSeededDaemon();
    host = mkdtempSync('/tmp/berth-cp-conc-');
    shared = mkdtempSync('/tmp/berth-cp-shared-');
    assert.equal(d.berth(['run', '-d', '--name', 'box', '-v', `${shared}:/shared`, 'busybox', 'sleep', '1000']).code, 0);
    assert.equal(d.berth(['run', '-d', '--name', 'racer', '-v', `${shared}:/shared`, 'busybox', 'sleep', '1000']).code, 0);
  });
  after(async () => {
    await d.destroy();
    rmSync(host, { recursive: true, force: true });
    rmSync(shared, { recursive: true, force: true });
  });

  const sh = (script: string) => {
    const r = d.berth(['exec', 'box', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  test('hard links, repeated names, and files and directories replacing each other', async () => {
    const r = await put(d, '/tmp', await makeTar([
      { name: 't', type: 'directory' },
      ...files('t', 40),
      // A hard link to a file that was handed to the thread pool just before.
      { name: 't/h', type: 'link', linkname: 't/f39' },
      { name: 't/f3', content: body('second f3') },
      { name: 't/x', content: body('x as a file') },
      { name: 't/x', type: 'directory' },
      { name: 't/x/y', content: body('y') },
      { name: 't/z', type: 'directory' },
      { name: 't/z/w', content: body('w') },
      { name: 't/z', content: body('z replaced the directory') },
      { name: 't/s', type: 'symlink', linkname: 'f5' },
      { name: 't/s2', type: 'symlink', linkname: 'f6' },
      { name: 't/s2', content: body('s2 replaced the symlink') },
    ]));
    assert.equal(r.status, 200, r.body.toString());
    // Each file whole (150 KiB and its first line), f3 as its second entry says.
    const expected = Array.from({ length: 40 }, (_, i) => `f${i} ${i === 3 ? 'second f3' : `f${i}`} 150`);
    const got = sh('cd /tmp/t && for i in $(seq 0 39); do echo "f$i $(head -1 f$i) $(($(wc -c < f$i) / 1024))"; done').trim().split('\n');
    assert.deepEqual(got, expected);
    assert.equal(sh('head -1 /tmp/t/h'), 'f39\n');
    assert.equal(sh('stat -c %i /tmp/t/h'), sh('stat -c %i /tmp/t/f39'));
    assert.equal(sh('stat -c %h /tmp/t/f39'), '2\n');
    assert.equal(sh('head -1 /tmp/t/x/y'), 'y\n');
    assert.equal(sh('[ -d /tmp/t/x ] && echo dir'), 'dir\n');
    assert.equal(sh('[ -f /tmp/t/z ] && head -1 /tmp/t/z'), 'z replaced the directory\n');
    assert.equal(sh('readlink /tmp/t/s && head -1 /tmp/t/s'), 'f5\nf5\n');
    assert.equal(sh('[ -L /tmp/t/s2 ] || head -1 /tmp/t/s2'), 's2 replaced the symlink\n');
    // Metadata is the tar's (makeTar's 0644 files, 0755 directories).
    assert.equal(sh('stat -c %a /tmp/t/f0 /tmp/t/f39 /tmp/t/x/y /tmp/t /tmp/t/x'), '644\n644\n644\n755\n755\n');
  });

  test('a directory swapped for a symlink between its files: what follows goes through the link inside the container', async () => {
    const r = await put(d, '/tmp', await makeTar([
      { name: 'w', type: 'directory' },
      { name: 'w/a', type: 'directory' },
      ...files('w/a', 30),
      { name: 'w/a', type: 'symlink', linkname: host },
      { name: 'w/a/pwned', content: 'through the link\n' },
      { name: 'w/b', type: 'directory' },
      ...files('w/b', 30),
      { name: 'w/b', type: 'symlink', linkname: '../../../../../../..' + host },
      { name: 'w/b/pwned2', content: 'through the relative link\n' },
    ]));
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(readdirSync(host), [], 'nothing reached the host directory');
    assert.equal(sh(`cat ${host}/pwned ${host}/pwned2`), 'through the link\nthrough the relative link\n');
    assert.equal(sh('readlink /tmp/w/a; [ -e /tmp/w/a/f0 ] || echo gone'), `${host}\ngone\n`);
  });

  test('a hostile entry after many files in flight: a 400, and the daemon stops writing', async () => {
    const r = await put(d, '/tmp', await makeTar([
      { name: 'v', type: 'directory' },
      ...files('v', 30),
      { name: '../../../../escape', content: 'no\n' },
      ...files('v2', 5),
    ]));
    assert.equal(r.status, 400, r.body.toString());
    assert.match(JSON.parse(r.body.toString()).message as string, /is outside of "\/tmp"$/);
    assert.equal(sh('[ -e /escape ] || [ -e /tmp/v2 ] || echo none'), 'none\n');
    // Whatever came before the bad entry was written whole (dockerd leaves it too), never cut short.
    const sizes = sh('cd /tmp/v && for f in *; do wc -c < $f; done').trim().split('\n');
    assert.ok(sizes.length > 0 && sizes.every((s) => Number(s) > 150 * 1024), sizes.join(','));
  });

  test('a process of another container making the same names meanwhile: the tar\'s files win, whole', async () => {
    for (let round = 0; round < 3; round++) {
      // The process makes a directory at each of the tar's file names once, as soon as their directory is there.
      // From the last name down, so that it is ahead of the tar for most of them.
      const racer = d.spawnBerth(['exec', 'racer', 'sh', '-c', 'touch /shared/ready; until [ -d /shared/r/d ]; do :; done; for i in $(seq 59 -1 0); do mkdir /shared/r/d/f$i 2>/dev/null; done; true']);
      const raced = new Promise((resolve) => racer.once('exit', resolve));
      while (d.berth(['exec', 'racer', 'test', '-e', '/shared/ready']).code !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
      sh('rm /shared/ready');
      const r = await put(d, '/shared', await makeTar([{ name: 'r', type: 'directory' }, { name: 'r/d', type: 'directory' }, ...files('r/d', 60)]));
      await raced;
      assert.equal(r.status, 200, r.body.toString());
      // Names the process took after the tar's file was there stay the tar's; ones it took first are replaced.
      const got = sh('cd /shared/r/d && for i in $(seq 0 59); do [ -f f$i ] && head -1 f$i; done').trim().split('\n');
      assert.deepEqual(got, Array.from({ length: 60 }, (_, i) => `f${i}`));
      sh('rm -rf /shared/r');
    }
  });
});
