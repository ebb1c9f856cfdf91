// Garbage collection through `berth registry gc`, dry-run and real, and its
// safety while pushes are running.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { utimesSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, http, layer, image, pushImage, runCli, errorCode, sha256, OCI_INDEX, OCI_MANIFEST, type Image, type Registry } from './helpers.ts';

function blobFile(root: string, digest: string): string {
  const hex = digest.slice(7);
  return join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** Pretends every blob in the store was last used `hours` ago, so the grace period does not protect it. */
function ageAllBlobs(root: string, hours: number): void {
  const t = new Date(Date.now() - hours * 3_600_000);
  const dir = join(root, 'blobs', 'sha256');
  for (const shard of readdirSync(dir)) for (const f of readdirSync(join(dir, shard))) utimesSync(join(dir, shard, f), t, t);
}

async function pullable(reg: Registry, repo: string, ref: string, img: Image): Promise<boolean> {
  const m = await http('GET', `${reg.url}/v2/${repo}/manifests/${ref}`);
  if (m.status !== 200 || !m.body.equals(img.manifest)) return false;
  for (const b of [img.config, ...img.layers]) {
    const r = await http('GET', `${reg.url}/v2/${repo}/blobs/${b.digest}`);
    if (r.status !== 200 || !r.body.equals(b.bytes)) return false;
  }
  return true;
}

describe('garbage collection', () => {
  it('dry-run lists unreferenced blobs; a real run deletes exactly those', async () => {
    const reg = await startRegistry();
    try {
      const shared = layer({ 'shared.bin': randomBytes(10_000) });
      const a = image([shared, layer({ 'a.bin': randomBytes(5000) })], 'a');
      const b = image([shared, layer({ 'b.bin': randomBytes(5000) })], 'b');
      assert.equal((await pushImage(reg.url, 'gc/a', a, 'v1')).status, 201);
      assert.equal((await pushImage(reg.url, 'gc/b', b, 'v1')).status, 201);
      assert.equal((await http('DELETE', `${reg.url}/v2/gc/b/manifests/${b.manifestDigest}`)).status, 202);
      const garbage = [b.manifestDigest, b.config.digest, b.layers[1].digest].sort();

      // Fresh blobs are protected by the grace period.
      const fresh = await runCli(['gc', '--dry-run', reg.configPath]);
      assert.equal(fresh.status, 0, fresh.stderr);
      assert.match(fresh.stdout, /would delete 0 blobs/);

      ageAllBlobs(reg.root, 2);
      const dry = await runCli(['gc', '--dry-run', reg.configPath]);
      assert.equal(dry.status, 0, dry.stderr);
      const listed = [...dry.stdout.matchAll(/eligible for deletion: (sha256:[a-f0-9]{64})/g)].map((m) => m[1]).sort();
      assert.deepEqual(listed, garbage);
      assert.match(dry.stdout, /would delete 3 blobs/);
      for (const d of garbage) assert.ok(existsSync(blobFile(reg.root, d)), 'dry run deletes nothing');

      const real = await runCli(['gc', reg.configPath]);
      assert.equal(real.status, 0, real.stderr);
      assert.match(real.stdout, /deleted 3 blobs/);
      for (const d of garbage) assert.ok(!existsSync(blobFile(reg.root, d)));
      assert.ok(await pullable(reg, 'gc/a', 'v1', a), 'image a is intact, shared layer included');
      const gone = await http('HEAD', `${reg.url}/v2/gc/b/blobs/${b.layers[1].digest}`);
      assert.equal(gone.status, 404);
      assert.equal((await http('HEAD', `${reg.url}/v2/gc/b/blobs/${shared.blob.digest}`)).status, 200, 'still linked and referenced by a');

      const again = await runCli(['gc', reg.configPath]);
      assert.match(again.stdout, /deleted 0 blobs/);
    } finally {
      await reg.stop();
    }
  });

  it('keeps untagged child manifests of an index and their blobs; collects them once the index is gone', async () => {
    const reg = await startRegistry();
    try {
      const amd = image([layer({ 'amd.bin': randomBytes(3000) })], 'amd64');
      const arm = image([layer({ 'arm.bin': randomBytes(3000) })], 'arm64');
      // Children pushed by digest only, as multi-platform pushes do.
      for (const img of [amd, arm]) assert.equal((await pushImage(reg.url, 'gc/multi', img, img.manifestDigest)).status, 201);
      const index = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [amd, arm].map((img) => ({ mediaType: OCI_MANIFEST, digest: img.manifestDigest, size: img.manifest.length })),
      }));
      assert.equal((await http('PUT', `${reg.url}/v2/gc/multi/manifests/latest`, { body: index, headers: { 'Content-Type': OCI_INDEX } })).status, 201);
      ageAllBlobs(reg.root, 2);
      const r = await runCli(['gc', reg.configPath]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /deleted 0 blobs/);
      for (const img of [amd, arm]) assert.ok(await pullable(reg, 'gc/multi', img.manifestDigest, img));

      for (const d of [sha256(index), amd.manifestDigest, arm.manifestDigest]) {
        assert.equal((await http('DELETE', `${reg.url}/v2/gc/multi/manifests/${d}`)).status, 202);
      }
      const after = await runCli(['gc', reg.configPath]);
      assert.match(after.stdout, /deleted 7 blobs/, after.stdout);
      for (const img of [amd, arm]) for (const b of [img.config, ...img.layers]) assert.ok(!existsSync(blobFile(reg.root, b.digest)));
    } finally {
      await reg.stop();
    }
  });

  it('runs one collection at a time and takes over the lock of a dead one', async () => {
    const reg = await startRegistry();
    try {
      const lockPath = join(reg.root, 'gc.lock');
      writeFileSync(lockPath, String(reg.proc.pid));
      const busy = await runCli(['gc', reg.configPath]);
      assert.equal(busy.status, 1);
      assert.match(busy.stderr, /another garbage collection is running/);
      assert.equal((await runCli(['gc', '--dry-run', reg.configPath])).status, 0, 'a dry run needs no lock');
      writeFileSync(lockPath, '999999999');
      const stale = await runCli(['gc', reg.configPath]);
      assert.equal(stale.status, 0, stale.stderr);
      assert.ok(!existsSync(lockPath), 'lock released');
    } finally {
      await reg.stop();
    }
  });

  it('a GC running during pushes never deletes anything a stored manifest references', async () => {
    const reg = await startRegistry();
    try {
      const base = layer({ 'base.bin': randomBytes(50_000) });
      // Old garbage so each GC has real work to do.
      for (let i = 0; i < 5; i++) {
        const junk = randomBytes(20_000);
        await http('POST', `${reg.url}/v2/gc/junk/blobs/uploads/?digest=sha256:${(await import('node:crypto')).createHash('sha256').update(junk).digest('hex')}`, { body: junk });
      }
      ageAllBlobs(reg.root, 2);

      const pushed: Array<{ repo: string; tag: string; img: Image }> = [];
      let refused = 0;
      let stop = false;
      const pusher = async (n: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const img = image([base, layer({ [`p${n}-${i}.bin`]: randomBytes(20_000) })], `${n}-${i}`);
          const repo = `gc/push${n}`;
          const r = await pushImage(reg.url, repo, img, `t${i}`);
          if (r.status === 201) pushed.push({ repo, tag: `t${i}`, img });
          else {
            // With a zero grace period a blob can be collected between its upload
            // and its manifest; the push must then fail cleanly, never half-succeed.
            assert.equal(r.status, 400, r.text);
            assert.equal(errorCode(r), 'MANIFEST_BLOB_UNKNOWN');
            refused++;
          }
        }
      };
      const gcLoop = async (): Promise<number> => {
        let runs = 0;
        for (let i = 0; i < 6; i++) {
          // Zero grace is the worst case for the sweep protocol; alternate with the default.
          const r = await runCli(['gc', '--grace-period', i % 2 ? '1h' : '0s', reg.configPath]);
          assert.equal(r.status, 0, r.stderr);
          runs++;
        }
        return runs;
      };
      const pushers = [pusher(1), pusher(2), pusher(3)];
      const runs = await gcLoop();
      stop = true;
      await Promise.all(pushers);
      assert.equal(runs, 6);
      assert.ok(pushed.length >= 10, `pushes succeeded: ${pushed.length} (refused ${refused})`);
      for (const p of pushed) assert.ok(await pullable(reg, p.repo, p.tag, p.img), `${p.repo}:${p.tag} lost content`);
      // And after a final full collection everything referenced is still there.
      assert.equal((await runCli(['gc', '--grace-period', '0s', reg.configPath])).status, 0);
      for (const p of pushed) assert.ok(await pullable(reg, p.repo, p.tag, p.img), `${p.repo}:${p.tag} lost content after final gc`);
      assert.deepEqual(readdirSync(join(reg.root, 'trash')), []);
    } finally {
      await reg.stop();
    }
  });
});
