// Events for every action of every object type a client can cause, as dockerd
// names them, read back with `events --since/--until` and filtered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('events of every object type', () => {
  let d: TestDaemon;
  let tmp: string;
  before(async () => {
    d = await startSeededDaemon();
    tmp = mkdtempSync('/tmp/berth-events-');
  });
  after(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await d.destroy();
  });

  test('containers, images, networks and volumes each report what was done to them', async () => {
    const since = String(Date.now() / 1000 - 1);
    const ok = (args: string[]) => assert.equal(d.berth(args).code, 0, args.join(' '));
    ok(['volume', 'create', 'ev-vol']);
    ok(['network', 'create', 'ev-net']);
    ok(['run', '-d', '-t', '--name', 'ev', '-v', 'ev-vol:/data', 'busybox', 'sleep', '600']);
    ok(['network', 'connect', 'ev-net', 'ev']);
    ok(['network', 'disconnect', 'ev-net', 'ev']);
    ok(['top', 'ev']);
    ok(['update', '--cpu-shares', '512', 'ev']);
    assert.equal((await callApi(d.socket, 'POST', '/containers/ev/resize?h=30&w=100')).status, 200);
    ok(['pause', 'ev']);
    ok(['unpause', 'ev']);
    ok(['exec', 'ev', 'true']);
    ok(['rename', 'ev', 'ev2']);
    ok(['commit', 'ev2', 'ev-image']);
    ok(['export', '-o', join(tmp, 'c.tar'), 'ev2']);
    ok(['kill', 'ev2']);
    ok(['rm', 'ev2']);
    ok(['tag', 'ev-image', 'ev-image:two']);
    ok(['save', '-o', join(tmp, 'i.tar'), 'ev-image:two']);
    ok(['rmi', 'ev-image:two']);
    ok(['load', '-i', join(tmp, 'i.tar')]);
    ok(['import', join(tmp, 'c.tar'), 'ev-imported']);
    ok(['rmi', 'ev-image', 'ev-image:two', 'ev-imported']);
    ok(['network', 'rm', 'ev-net']);
    ok(['volume', 'rm', 'ev-vol']);
    const until = String(Date.now() / 1000 + 1);
    const seen = new Set(d.berth(['events', '--since', since, '--until', until, '--format', '{{.Type}} {{.Action}}']).stdout.trim().split('\n')
      .map((l) => l.replace(/^(container exec_\w+):.*$/, '$1')));
    for (const e of [
      'volume create', 'volume mount', 'volume unmount', 'volume destroy',
      'network create', 'network connect', 'network disconnect', 'network destroy',
      'container create', 'container start', 'container top', 'container update', 'container resize', 'container pause', 'container unpause',
      'container exec_create', 'container exec_start', 'container exec_die', 'container rename', 'container commit', 'container export',
      'container kill', 'container die', 'container destroy',
      'image tag', 'image save', 'image untag', 'image load', 'image import', 'image delete',
    ]) assert.ok(seen.has(e), `no "${e}" event in: ${[...seen].join(', ')}`);
    const onlyVolumes = d.berth(['events', '--since', since, '--until', until, '--filter', 'type=volume', '--format', '{{.Type}}']).stdout.trim().split('\n');
    assert.deepEqual([...new Set(onlyVolumes)], ['volume']);
  });
});
