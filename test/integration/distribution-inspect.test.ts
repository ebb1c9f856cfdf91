// GET /distribution/{name}/json (docker-py's get_registry_data): the
// registry's descriptor and platforms for a reference, without a pull.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { type CncfRegistry, startCncfRegistry } from '../helpers/registries.ts';

describe('distribution inspect', () => {
  let d: TestDaemon;
  let reg: CncfRegistry;
  before(async () => {
    d = await startSeededDaemon();
    reg = await startCncfRegistry();
    d.berth(['tag', 'busybox', `${reg.host}/lib/bb:v1`]);
    const push = d.berth(['push', `${reg.host}/lib/bb:v1`], { timeout: 120_000 });
    assert.equal(push.code, 0, push.stderr);
  });
  after(async () => {
    await reg.stop();
    await d.destroy();
  });

  test('a pushed tag answers its manifest descriptor and platform; the digest is the one push recorded', async () => {
    const r = await callApi(d.socket, 'GET', `/distribution/${reg.host}/lib/bb:v1/json`);
    assert.equal(r.status, 200, r.body);
    const body = JSON.parse(r.body) as { Descriptor: { mediaType: string; digest: string; size: number }; Platforms: { architecture: string; os: string }[] };
    const repoDigest = d.berth(['inspect', '-f', '{{index .RepoDigests 0}}', `${reg.host}/lib/bb:v1`]).stdout.trim();
    assert.equal(`${reg.host}/lib/bb@${body.Descriptor.digest}`, repoDigest);
    assert.match(body.Descriptor.mediaType, /manifest/);
    assert.ok(body.Descriptor.size > 0);
    assert.deepEqual(body.Platforms, [{ architecture: 'amd64', os: 'linux' }]);
    const missing = await callApi(d.socket, 'GET', `/distribution/${reg.host}/lib/nope:v1/json`);
    assert.equal(missing.status, 404, missing.body);
  });

  test('python docker\'s get_registry_data reads it', () => {
    const py = spawnSync('python3', ['-c', `import docker; r = docker.DockerClient(base_url="unix://${d.socket}").images.get_registry_data("${reg.host}/lib/bb:v1"); print(r.id.startswith("sha256:"), r.has_platform("linux/amd64"))`], { encoding: 'utf8' });
    assert.equal(py.stdout, 'True True\n', py.stderr);
  });
});
