// A node whose daemon was down past its certificate's end had no chance to
// renew it: at start it says so in dockerd's words (docker info's error, the
// swarm routes' 503), runs nothing of the swarm, and a leave lets it start
// over. The daemon runs with BERTH_SWARM_MIN_CERT_EXPIRY lowering swarm's
// one-hour minimum, so the certificate can end within the test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const EXPIRED = 'Swarm certificates have expired. To replace them, leave the swarm and join again.';

describe('a swarm node restarted after its certificate expired', { skip: !DOCKER && 'no docker CLI' }, () => {
  let d: TestDaemon;
  before(async () => {
    process.env.BERTH_SWARM_MIN_CERT_EXPIRY = '10';
    try {
      d = await startSeededDaemon([], { ownNetns: true });
    } finally {
      delete process.env.BERTH_SWARM_MIN_CERT_EXPIRY;
    }
  });
  after(async () => {
    d.docker(['swarm', 'leave', '--force']);
    await d.destroy();
  });

  test('info shows the error, the routes answer it with 503, leave ends the membership and init starts anew', async () => {
    const init = d.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--cert-expiry', '20s']);
    assert.equal(init.code, 0, init.stderr);
    const certFile = join(d.dataRoot, 'swarm/certificates/swarm-node.crt');
    const first = new X509Certificate(readFileSync(certFile));
    await d.stop();
    // Stopped before its first renewal (at 50-80% of its lifetime): the certificate on disk is the first one.
    assert.equal(new X509Certificate(readFileSync(certFile)).serialNumber, first.serialNumber);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(first.validTo) - Date.now()) + 1000));
    await d.start();
    assert.equal(d.docker(['info', '--format', '{{.Swarm.LocalNodeState}}|{{.Swarm.Error}}']).stdout.trim(), `error|${EXPIRED}`);
    const ls = d.docker(['node', 'ls']);
    assert.deepEqual([ls.code, ls.stderr.trim()], [1, `Error response from daemon: ${EXPIRED}`]);
    assert.match(d.docker(['swarm', 'init']).stderr, /This node is already part of a swarm/);
    const leave = d.docker(['swarm', 'leave']);
    assert.equal(leave.code, 0, leave.stderr);
    assert.equal(d.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim(), 'inactive');
    const again = d.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(d.docker(['node', 'ls', '--format', '{{.Status}}']).stdout.trim(), 'Ready');
  });
});
