// Push through the fault proxy in front of the CNCF registry: a failed
// upload is started over ("Retrying in N seconds"), a lasting 5xx and a 401
// are clear errors, and a daemon killed -9 mid-push pushes fine after restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { type CncfRegistry, type FaultProxy, runAsync, startCncfRegistry, startFaultProxy } from '../helpers/registries.ts';
import { hasBinary, http } from '../registry/helpers.ts';

const SKIP = hasBinary('docker-registry') ? false : 'no docker-registry';

describe('push through a faulty connection', { skip: SKIP }, () => {
  let d: TestDaemon;
  let reg: CncfRegistry;
  let proxy: FaultProxy;
  let work: string;
  const berth = (args: string[]) => runAsync(BERTH, ['-H', d.host, ...args]);
  /** A fresh one-layer image (random content, so no registry has it yet) tagged for the proxy. */
  const local = async (repo: string, mb = 2) => {
    const dir = join(work, repo);
    const r = await runAsync('sh', ['-c', `mkdir -p ${dir}/r && head -c ${mb * 1000000} /dev/urandom > ${dir}/r/f.bin && tar -C ${dir}/r -cf ${dir}/l.tar .`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await berth(['import', join(dir, 'l.tar'), `${proxy.host}/${repo}:1`])).code, 0);
  };

  before(async () => {
    d = await startSeededDaemon();
    reg = await startCncfRegistry();
    proxy = await startFaultProxy(reg.url);
    work = mkdtempSync('/tmp/berth-push-faults-');
  });
  after(async () => {
    await d.destroy();
    await proxy.stop();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('an upload answered 503 is started over and the push succeeds', async () => {
    await local('retry');
    proxy.seen.length = 0;
    let failed = 0;
    proxy.rule = (s) => (s.method === 'PATCH' && failed++ === 0 ? { status: 503 } : undefined);
    const r = await berth(['push', `${proxy.host}/retry:1`]);
    proxy.rule = () => undefined;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: Retrying in 1 second\n/);
    assert.match(r.stdout, /: Pushed\n/);
    assert.equal(proxy.seen.filter((s) => s.method === 'POST').length, 3, 'two layer uploads (one failed) and the config');
    const m = await http('GET', `${reg.url}/v2/retry/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(m.status, 200);
  });

  test('a lasting 500 and a 401 are reported in dockerd\'s words', async () => {
    await local('down');
    proxy.rule = (s) => (s.method === 'PATCH' ? { status: 500 } : undefined);
    const down = await berth(['push', `${proxy.host}/down:1`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /received unexpected HTTP status: 500 Internal Server Error/);
    proxy.rule = (s) => (s.method === 'PUT' && s.url.includes('/manifests/') ? { status: 401 } : undefined);
    const denied = await berth(['push', `${proxy.host}/down:1`]);
    proxy.rule = () => undefined;
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthorized/);
  });

  test('kill -9 of the daemon in the middle of a push: after a restart the image is intact and pushes', async () => {
    await local('crash', 8);
    proxy.seen.length = 0;
    proxy.rule = (s) => (s.method === 'PATCH' ? { delayMs: 4000 } : undefined);
    const pushing = berth(['push', `${proxy.host}/crash:1`]);
    for (let i = 0; i < 200 && !proxy.seen.some((s) => s.method === 'PATCH'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(proxy.seen.some((s) => s.method === 'PATCH'), 'the upload started');
    await d.crash();
    assert.notEqual((await pushing).code, 0);
    proxy.rule = () => undefined;
    await d.start();
    const again = await berth(['push', `${proxy.host}/crash:1`]);
    assert.equal(again.code, 0, again.stderr);
    const digest = (/1: digest: (sha256:[a-f0-9]{64})/.exec(again.stdout) ?? [])[1];
    const info = JSON.parse((await berth(['image', 'inspect', `${proxy.host}/crash:1`])).stdout) as Array<{ RepoDigests: string[] }>;
    assert.deepEqual(info[0].RepoDigests, [`${proxy.host}/crash@${digest}`]);
  });
});
