// `diff` (GET /containers/{id}/changes): the writable layer's changes, as dockerd lists them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('container changes', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('a fresh container has none; added, modified and deleted paths come sorted with their kinds', async () => {
    d.berth(['create', '--name', 'fresh', 'busybox', 'true']);
    const none = await fetchChanges(d, 'fresh');
    assert.deepEqual(none, []);

    const r = d.berth(['run', '--name', 'changed', 'busybox', 'sh', '-c', 'mkdir -p /new/sub && echo x > /new/sub/f && echo y >> /etc/group && rm /bin/vi']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await fetchChanges(d, 'changed'), [
      { Path: '/bin', Kind: 0 }, { Path: '/bin/vi', Kind: 2 },
      { Path: '/etc', Kind: 0 }, { Path: '/etc/group', Kind: 0 },
      { Path: '/new', Kind: 1 }, { Path: '/new/sub', Kind: 1 }, { Path: '/new/sub/f', Kind: 1 },
    ]);
  });

  test('the files the daemon mounts (hosts, hostname, resolv.conf) are no change of the container\'s, as in dockerd', async () => {
    const r = d.berth(['run', '--name', 'quiet', 'busybox', 'touch', '/tmp/x']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await fetchChanges(d, 'quiet'), [{ Path: '/tmp', Kind: 0 }, { Path: '/tmp/x', Kind: 1 }]);
  });

  test('the docker CLI\'s diff prints them', { skip: !DOCKER && 'no docker CLI' }, () => {
    const r = d.docker(['diff', 'changed']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'C /bin\nD /bin/vi\nC /etc\nC /etc/group\nA /new\nA /new/sub\nA /new/sub/f\n');
  });
});

async function fetchChanges(d: TestDaemon, name: string): Promise<unknown> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    request({ socketPath: d.socket, path: `/containers/${name}/changes` }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject).end();
  });
}
