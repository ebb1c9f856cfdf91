// The loops' watched view of the swarm's state (src/cluster/state-view.ts),
// against a real etcd (Debian's, on loopback, its own data dir): it answers
// from memory once read, follows another client's puts and deletes through
// its watch, reads again after a write of its own client (so a pass sees what
// it wrote), and comes back after etcd restarts under its watch.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Etcd3, type IKeyValue } from 'etcd3';
import { StateView } from '../../src/cluster/state-view.ts';

const ETCD = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let etcd: ChildProcess | undefined;
let dir = '';
let url = '';

let ports: [number, number] = [0, 0];

async function startEtcd(): Promise<void> {
  const peer = ports[1];
  etcd = spawn(ETCD!, ['--name', 'v', '--data-dir', join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `v=http://127.0.0.1:${peer}`], { stdio: 'ignore' });
  const probe = new Etcd3({ hosts: url });
  for (let i = 0; ; i++) {
    try {
      await probe.put('probe').value('1');
      break;
    } catch (err) {
      if (i > 300) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.close();
}

before(async () => {
  if (!ETCD) return;
  dir = mkdtempSync('/tmp/bt-state-view-');
  ports = [await freePort(), await freePort()];
  url = `http://127.0.0.1:${ports[0]}`;
  await startEtcd();
});

after(() => {
  etcd?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A view of /v/a/ and /v/b/ on its own client, with range calls counted. */
async function viewOf(prefix: string): Promise<{ view: StateView; client: Etcd3; ranges: () => number; changes: string[]; close: () => Promise<void> }> {
  const client = new Etcd3({ hosts: url });
  let ranges = 0;
  const range = client.kv.range.bind(client.kv);
  client.kv.range = (...a) => { ranges++; return range(...a); };
  const view = new StateView(client, [`${prefix}a/`, `${prefix}b/`], { resyncMs: 3_600_000, log: () => {} });
  const changes: string[] = [];
  view.onChange((k) => changes.push(k));
  await view.start();
  return { view, client, ranges: () => ranges, changes, close: async () => { await view.stop(); client.close(); } };
}

const values = (kvs: IKeyValue[] | undefined) => kvs?.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`);

/** Waits for the view to report a change of key (the watch's event), not for a time. */
async function changed(changes: string[], key: string): Promise<void> {
  for (let i = 0; !changes.includes(key); i++) {
    if (i > 500) throw new Error(`no change of ${key} seen: ${changes.join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('once read, the view answers from memory: no range request reaches etcd for any number of reads', { skip: !ETCD && 'no etcd' }, async () => {
  const other = new Etcd3({ hosts: url });
  await other.put('/v1/a/x').value('1');
  await other.put('/v1/b/y').value('2');
  const v = await viewOf('/v1/');
  try {
    const before = v.ranges();
    for (let i = 0; i < 50; i++) {
      assert.deepEqual(values(await v.view.prefix('/v1/a/')), ['/v1/a/x=1']);
      assert.equal((await v.view.key('/v1/b/y'))?.value.toString(), '2');
      assert.equal(await v.view.key('/v1/b/none'), null);
    }
    assert.equal(v.ranges(), before);
    // A key no prefix covers is not the view's: the store reads it from etcd.
    assert.equal(await v.view.key('/v1/c/z'), undefined);
  } finally {
    await v.close();
    other.close();
  }
});

test("another client's puts and deletes reach the view through its watch, in order, and wake its listeners", { skip: !ETCD && 'no etcd' }, async () => {
  const other = new Etcd3({ hosts: url });
  const v = await viewOf('/v2/');
  try {
    const before = v.ranges();
    await other.put('/v2/a/k').value('one');
    await changed(v.changes, '/v2/a/k');
    assert.deepEqual(values(await v.view.prefix('/v2/a/')), ['/v2/a/k=one']);
    v.changes.length = 0;
    await other.put('/v2/a/k').value('two');
    await other.put('/v2/a/j').value('three');
    await other.delete().key('/v2/a/k');
    await changed(v.changes, '/v2/a/j');
    for (let i = 0; v.changes.filter((k) => k === '/v2/a/k').length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(values(await v.view.prefix('/v2/a/')), ['/v2/a/j=three']);
    // mod_revision is what the loops write back with (Version.Index): it matches etcd's.
    const kv = await v.view.key('/v2/a/j');
    assert.equal(kv?.mod_revision, (await other.get('/v2/a/j').exec()).kvs[0].mod_revision);
    assert.equal(v.ranges(), before, 'followed by the watch alone');
  } finally {
    await v.close();
    other.close();
  }
});

test('after a write of its own client the next read goes to etcd, so a pass sees what it wrote before the event arrives', { skip: !ETCD && 'no etcd' }, async () => {
  const v = await viewOf('/v3/');
  try {
    const before = v.ranges();
    await v.client.put('/v3/a/mine').value('written');
    // Read at once: the view reads the prefix again rather than answer without the write.
    assert.deepEqual(values(await v.view.prefix('/v3/a/')), ['/v3/a/mine=written']);
    assert.equal(v.ranges(), before + 1);
    // Then memory again.
    await v.view.prefix('/v3/a/');
    assert.equal(v.ranges(), before + 1);
    // A failed compare counts too: someone else wrote, and a retry must see it.
    const res = await v.client.if('/v3/b/none', 'Mod', '==', 12345).then(v.client.put('/v3/b/none').value('x')).commit();
    assert.equal(res.succeeded, false);
    assert.equal(await v.view.key('/v3/b/none'), null);
    assert.equal(v.ranges(), before + 2);
  } finally {
    await v.close();
  }
});

test('a watch cut by etcd restarting: reads go to etcd meanwhile, and once it reattaches the view reads again and follows changes', { skip: !ETCD && 'no etcd' }, async () => {
  const other = new Etcd3({ hosts: url });
  await other.put('/v4/a/before').value('1');
  const v = await viewOf('/v4/');
  try {
    const dead = etcd!;
    await new Promise((r) => { dead.once('exit', r); dead.kill('SIGKILL'); });
    await startEtcd();
    // Written once etcd is back: the view has it by its reattached watch or by reading etcd, either way.
    await other.put('/v4/a/after').value('2');
    for (let i = 0; ; i++) {
      const now = values(await v.view.prefix('/v4/a/'));
      if (now?.includes('/v4/a/after=2')) break;
      if (i > 600) throw new Error(`the view never showed the write: ${now?.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(values(await v.view.prefix('/v4/a/')), ['/v4/a/after=2', '/v4/a/before=1']);
    // And it follows the watch again: a delete arrives as an event.
    await other.delete().key('/v4/a/before');
    await changed(v.changes, '/v4/a/before');
    assert.deepEqual(values(await v.view.prefix('/v4/a/')), ['/v4/a/after=2']);
  } finally {
    await v.close();
    other.close();
  }
});
