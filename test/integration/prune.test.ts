// system prune and builder prune: every prune route in turn, reported as the
// docker CLI reports them, and the build cache (RUN --mount=type=cache
// directories, unpacked contexts) removed by POST /build/prune.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { context } from '../helpers/build.ts';

const CACHED_RUN = 'FROM busybox\nRUN --mount=type=cache,target=/c sh -c "dd if=/dev/zero of=/c/blob bs=1k count=200 2>/dev/null; ls /c"\n';

describe('prune', () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startSeededDaemon();
    dir = context({ Dockerfile: CACHED_RUN });
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await d.destroy();
  });

  test('system prune removes stopped containers, unused networks, dangling images and build cache, and says so', () => {
    assert.equal(d.berth(['build', '-q', '-t', 'withcache', dir], { timeout: 120_000 }).code, 0);
    const id = d.berth(['create', 'busybox', 'true']).stdout.trim();
    d.berth(['network', 'create', 'idle-net']);
    d.berth(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '600']);
    const r = d.berth(['system', 'prune', '-f']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Deleted Containers:\\n${id}\\n\\nDeleted Networks:\\nidle-net\\n\\nDeleted build cache objects:\\n[0-9a-f]{32}\\n(?:[0-9a-f]{64}\\n)?\\nTotal reclaimed space: 20\\d(\\.\\d+)?kB\\n$`));
    assert.equal(d.berth(['ps', '-q', '--filter', 'name=keeper']).stdout.length > 0, true, 'a running container stays');
    const again = d.berth(['system', 'prune', '-f']);
    assert.equal(again.stdout, 'Total reclaimed space: 0B\n');
  });

  test('builder prune removes the cache a build left; --filter until spares what is newer', async () => {
    assert.equal(d.berth(['build', '-q', '--no-cache', '-t', 'withcache', dir], { timeout: 120_000 }).code, 0);
    // system df lists the cache mount and the kept context, as BuildKit's records.
    const df = JSON.parse((await callApi(d.socket, 'GET', '/system/df')).body) as { BuildCache: { Type: string; Size: number; InUse: boolean }[] };
    assert.deepEqual(df.BuildCache.map((c) => c.Type).sort(), ['exec.cachemount', 'source.local']);
    assert.ok(df.BuildCache.every((c) => !c.InUse && c.Size > 0));
    assert.match(d.berth(['system', 'df']).stdout, /^Build Cache\s+2\s+0\s+20\d(\.\d+)?kB\s+20\d(\.\d+)?kB$/m);
    // The two runs are a moment apart: ages and the column widths they set may differ.
    const cells = (out: string) => out.replace(/(Less than a second|\d+ seconds?|About a minute) ago/g, 'T ago').replace(/Up (Less than a second|\d+ seconds?|About a minute)/g, 'Up T').split('\n').map((l) => l.trim().split(/\s{2,}/).join('|'));
    if (DOCKER) assert.deepEqual(cells(d.berth(['system', 'df', '-v']).stdout), cells(d.docker(['system', 'df', '-v']).stdout));
    const kept = await callApi(d.socket, 'POST', '/build/prune?filters=' + encodeURIComponent('{"until":["1h"]}'));
    assert.deepEqual(JSON.parse(kept.body), { CachesDeleted: [], SpaceReclaimed: 0 });
    const r = d.berth(['builder', 'prune', '-f']);
    assert.match(r.stdout, /^Deleted build cache objects:\n[0-9a-f]{32}\n/);
    const bad = await callApi(d.socket, 'POST', '/build/prune?filters=' + encodeURIComponent('{"colour":["red"]}'));
    assert.equal(bad.status, 400);
  });

  test('the docker CLI\'s system prune and builder prune talk to the same routes', { skip: !DOCKER && 'no docker CLI' }, () => {
    assert.equal(d.berth(['build', '-q', '--no-cache', '-t', 'withcache', dir], { timeout: 120_000 }).code, 0);
    const b = d.docker(['builder', 'prune', '-f']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /Deleted build cache objects:\n[0-9a-f]{32}\n/);
    d.berth(['create', '--name', 'leftover', 'busybox', 'true']);
    const s = d.docker(['system', 'prune', '-f']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\n/);
    assert.match(s.stdout, /Total reclaimed space: /);
  });
});
