// commit, pause and unpause against a real daemon: files a container wrote
// appear in the committed image, -c changes the config, -p freezes the container.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('commit', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
  });
  after(async () => {
    await d.destroy();
  });

  test('a file created in a container appears in the committed image; a deleted one is gone', () => {
    const r = d.berth(['run', '--name', 'c1', 'busybox', 'sh', '-c', 'echo made-here > /hello.txt && rm /bin/vi']);
    assert.equal(r.code, 0, r.stderr);
    const c = d.berth(['commit', '-a', 'Ann <ann@example.com>', '-m', 'my message', 'c1', 'committed:v1']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
    const out = d.berth(['run', '--rm', 'committed:v1', 'sh', '-c', 'cat /hello.txt; ls /bin/vi 2>&1 || echo no-vi']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /made-here/);
    assert.match(out.stdout, /no-vi/);
    const [img] = JSON.parse(d.berth(['image', 'inspect', 'committed:v1']).stdout) as { Id: string; Author: string; Comment: string; Parent: string; RootFS: { Layers: string[] }; Config: { Cmd: string[] } }[];
    assert.equal(img.Id, c.stdout.trim());
    assert.equal(img.Author, 'Ann <ann@example.com>');
    assert.equal(img.Comment, 'my message');
    assert.equal(img.RootFS.Layers.length, 2);
    const [base] = JSON.parse(d.berth(['image', 'inspect', 'busybox']).stdout) as { Id: string }[];
    assert.equal(img.Parent, base.Id);
    // The container's own command stays the image's command without -c.
    assert.deepEqual(img.Config.Cmd, ['sh', '-c', 'echo made-here > /hello.txt && rm /bin/vi']);
    const hist = d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'committed:v1']).stdout.split('\n');
    assert.equal(hist[0], 'sh -c echo made-here > /hello.txt && rm /bin/vi|my message');
  });

  test('a stopped container commits with pause=true (the docker CLI\'s default): dockerd ignores pause for it', { skip: !DOCKER && 'no docker CLI' }, () => {
    assert.equal(d.berth(['create', '--name', 'made', 'busybox', 'true']).code, 0);
    assert.equal(d.berth(['run', '--name', 'ran', 'busybox', 'sh', '-c', 'echo kept > /kept']).code, 0);
    for (const name of ['made', 'ran']) {
      const r = d.docker(['commit', name, `stopped-${name}:1`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    }
    assert.equal(d.berth(['run', '--rm', 'stopped-ran:1', 'cat', '/kept']).stdout, 'kept\n');
    assert.equal(JSON.parse(d.berth(['inspect', 'ran']).stdout)[0].State.Status, 'exited');
  });

  test("-c 'CMD …' and ENV change the config of the new image", () => {
    assert.equal(d.berth(['run', '--name', 'c2', 'busybox', 'true']).code, 0);
    const c = d.berth(['commit', '-c', 'CMD ["echo", "from-cmd"]', '-c', 'ENV GREETING=hi', 'c2', 'committed:v2']);
    assert.equal(c.code, 0, c.stderr);
    const out = d.berth(['run', '--rm', 'committed:v2']);
    assert.equal(out.stdout, 'from-cmd\n');
    const env = d.berth(['run', '--rm', 'committed:v2', 'sh', '-c', 'echo $GREETING']);
    assert.equal(env.stdout, 'hi\n');
  });

  test('commit pauses a running container by default, --pause=false does not; pause/unpause', async () => {
    assert.equal(d.berth(['run', '-d', '--name', 'c3', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tick.new && mv /tick.new /tick; sleep 0.05; done']).code, 0);
    // The daemon's events show the pause and unpause around the commit.
    const since = Math.floor(Date.now() / 1000) - 1;
    const c = d.berth(['commit', 'c3', 'committed:v3']);
    assert.equal(c.code, 0, c.stderr);
    const np = d.berth(['commit', '--pause=false', 'c3', 'committed:v4']);
    assert.equal(np.code, 0, np.stderr);
    const until = Math.floor(Date.now() / 1000) + 1;
    const ev = d.berth(['events', '--since', String(since), '--until', String(until), '--filter', 'container=c3', '--format', '{{.Action}}']);
    const actions = ev.stdout.split('\n').filter(Boolean);
    assert.deepEqual(actions.filter((a) => ['pause', 'unpause', 'commit'].includes(a)), ['pause', 'unpause', 'commit', 'commit']);
    const tick = d.berth(['run', '--rm', 'committed:v3', 'cat', '/tick']);
    assert.match(tick.stdout, /^\d+\n$/);

    assert.equal(d.berth(['pause', 'c3']).stdout, 'c3\n');
    const st = JSON.parse(d.berth(['inspect', 'c3']).stdout) as { State: { Status: string; Paused: boolean } }[];
    assert.equal(st[0].State.Status, 'paused');
    assert.equal(st[0].State.Paused, true);
    const a = d.berth(['exec', 'c3', 'cat', '/tick']).stdout;
    await new Promise((r) => setTimeout(r, 300));
    const b = d.berth(['exec', 'c3', 'cat', '/tick']).stdout;
    assert.equal(a, b, 'a paused container does not run');
    const again = d.berth(['pause', 'c3']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is already paused/);
    assert.equal(d.berth(['unpause', 'c3']).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.notEqual(d.berth(['exec', 'c3', 'cat', '/tick']).stdout, b);
    const not = d.berth(['unpause', 'c3']);
    assert.equal(not.code, 1);
    assert.match(not.stderr, /is not paused/);
    // A paused container can still be removed with -f.
    assert.equal(d.berth(['pause', 'c3']).code, 0);
    const rm = d.berth(['rm', '-f', 'c3'], { timeout: 30_000 });
    assert.equal(rm.code, 0, rm.stderr);
  });

  test('through the docker CLI: commit prints the ID, errors for a missing container', () => {
    if (!d.docker) return;
    assert.equal(d.berth(['run', '--name', 'c4', 'busybox', 'touch', '/x']).code, 0);
    const c = d.docker(['commit', '-c', 'CMD ["ls", "/x"]', 'c4', 'dcommitted']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
    assert.equal(d.docker(['run', '--rm', 'dcommitted']).stdout, '/x\n');
    const bad = d.docker(['commit', 'nosuch']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /No such container: nosuch/);
  });
});
