// Autolock on one manager: `swarm init --autolock` seals the node's private
// keys with the unlock key; after a daemon restart the node is locked (the
// swarm routes answer dockerd's 503, docker info says "locked") while its
// task keeps running; `swarm unlock` with a wrong key is refused with
// dockerd's words, with the right one the swarm is back as it was. Rotation
// and turning autolock off, with the docker CLI and berth's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY_RE = /^SWMKEY-1-[A-Za-z0-9+/]{43}$/;
const LOCKED = 'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.';

describe('swarm autolock on one manager', { skip: !DOCKER && 'no docker CLI' }, () => {
  let d: TestDaemon;
  let key = '';
  const swarmFile = (name: string) => readFileSync(join(d.dataRoot, 'swarm', name), 'utf8');
  const state = () => d.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim();
  const restart = async () => {
    await d.stop();
    await d.start();
  };

  before(async () => { d = await startSeededDaemon([], { ownNetns: true }); });
  after(async () => {
    d.docker(['swarm', 'leave', '--force']);
    await d.destroy();
  });

  test('init --autolock prints the unlock key; the keys at rest are sealed; unlock-key shows it as the docker CLI does', async () => {
    const init = d.docker(['swarm', 'init', '--autolock', '--advertise-addr', '127.0.0.1']);
    assert.equal(init.code, 0, init.stderr);
    key = /^ {4}(SWMKEY-1-\S+)$/m.exec(init.stdout)?.[1] ?? '';
    assert.match(key, KEY_RE, init.stdout);
    assert.ok(init.stdout.endsWith(`To unlock a swarm manager after it restarts, run the \`docker swarm unlock\`\ncommand and provide the following key:\n\n    ${key}\n\n`
      + 'Remember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n'), init.stdout);
    assert.equal(d.docker(['swarm', 'unlock-key', '-q']).stdout.trim(), key);
    assert.equal(d.berth(['swarm', 'unlock-key', '-q']).stdout.trim(), key);
    const berthShow = d.berth(['swarm', 'unlock-key']);
    assert.equal(berthShow.stdout, d.docker(['swarm', 'unlock-key']).stdout.replace(/docker swarm/g, 'berth swarm'));
    const sw = JSON.parse((await callApi(d.socket, 'GET', '/swarm')).body) as { Spec: { EncryptionConfig: { AutoLockManagers: boolean } } };
    assert.equal(sw.Spec.EncryptionConfig.AutoLockManagers, true);
    // No private key in the clear: the node's TLS key, the CA key, the secrets' data key.
    for (const f of ['certificates/swarm-node.key', 'certificates/swarm-root-ca.key', 'secrets.key']) {
      const text = swarmFile(f);
      assert.match(text, /^-----BEGIN BERTH SWARM SEALED KEY-----\n/, f);
      assert.doesNotMatch(text, /PRIVATE KEY/, f);
    }
    assert.match(swarmFile('certificates/swarm-node.crt'), /BEGIN CERTIFICATE/);
  });

  test('after a restart the manager is locked: 503 with dockerd\'s words, info says locked, the task runs on', async () => {
    assert.equal(d.docker(['secret', 'create', 'pw', '-'], { input: 'hunter2' }).code, 0);
    const create = d.docker(['service', 'create', '--detach', '--name', 'sleeper', '--secret', 'pw', 'busybox', 'sleep', '3600']);
    assert.equal(create.code, 0, create.stderr);
    const container = await waitFor('the task running', () => {
      const id = d.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=sleeper']).stdout.trim();
      return id || undefined;
    }, 60_000);
    await restart();
    assert.equal(state(), 'locked');
    assert.equal(d.docker(['info', '--format', '{{.Swarm.Error}}']).stdout.trim(), LOCKED);
    for (const path of ['/swarm', '/nodes', '/services', '/secrets', '/swarm/unlockkey']) {
      const r = await callApi(d.socket, 'GET', path);
      assert.deepEqual([r.status, JSON.parse(r.body)], [503, { message: LOCKED }], path);
    }
    const ls = d.docker(['node', 'ls']);
    assert.equal(ls.code, 1);
    assert.equal(ls.stderr.trim(), `Error response from daemon: ${LOCKED}`);
    // Running containers keep running while the node is locked.
    assert.equal(d.docker(['inspect', '--format', '{{.State.Running}}', container]).stdout.trim(), 'true');
    // A leave without --force is refused as dockerd refuses it; init and join see a node still in a swarm.
    const leave = await callApi(d.socket, 'POST', '/swarm/leave');
    assert.deepEqual([leave.status, JSON.parse(leave.body)], [503, { message: 'Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.' }]);
    assert.match(d.docker(['swarm', 'init']).stderr, /This node is already part of a swarm/);
  });

  test('unlock with a wrong or malformed key is refused with dockerd\'s words; the right key (berth\'s CLI, from stdin) brings the swarm back', async () => {
    const wrong = d.docker(['swarm', 'unlock'], { input: 'SWMKEY-1-' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '') + '\n' });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr.trim(), 'Error response from daemon: swarm could not be unlocked: invalid key provided');
    const api = await callApi(d.socket, 'POST', '/swarm/unlock', { UnlockKey: 'SWMKEY-1-' + Buffer.alloc(32, 9).toString('base64').replace(/=+$/, '') });
    assert.deepEqual([api.status, JSON.parse(api.body)], [401, { message: 'swarm could not be unlocked: invalid key provided' }]);
    const malformed = await callApi(d.socket, 'POST', '/swarm/unlock', { UnlockKey: 'not-a-key' });
    assert.deepEqual([malformed.status, JSON.parse(malformed.body)], [400, { message: 'invalid key string' }]);
    assert.equal(state(), 'locked');

    const berthWrong = d.berth(['swarm', 'unlock'], { input: 'SWMKEY-1-AAAA\n' });
    assert.equal(berthWrong.code, 1);
    const ok = d.berth(['swarm', 'unlock'], { input: `${key}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, '');
    assert.equal(state(), 'active');
    await waitFor('the service listed 1/1 again', () => (d.docker(['service', 'ls', '--format', '{{.Name}} {{.Replicas}}']).stdout.trim() === 'sleeper 1/1' ? true : undefined), 60_000);
    // The secret opens again: its data key was sealed too.
    const cid = d.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=sleeper']).stdout.trim();
    assert.equal(d.docker(['exec', cid, 'cat', '/run/secrets/pw']).stdout, 'hunter2');
    // A node that is not locked says so: the docker CLI from docker info, the API with dockerd's 409.
    const again = d.docker(['swarm', 'unlock'], { input: `${key}\n` });
    assert.deepEqual([again.code, again.stderr.trim()], [1, 'Error: swarm is not locked']);
    const api409 = await callApi(d.socket, 'POST', '/swarm/unlock', { UnlockKey: key });
    assert.deepEqual([api409.status, JSON.parse(api409.body)], [409, { message: 'swarm is not locked' }]);
  });

  test('unlock-key --rotate: a new key, the old one no longer opens the restarted manager', async () => {
    const rot = d.berth(['swarm', 'unlock-key', '--rotate']);
    assert.equal(rot.code, 0, rot.stderr);
    const next = /^ {4}(SWMKEY-1-\S+)$/m.exec(rot.stdout)?.[1] ?? '';
    assert.match(next, KEY_RE);
    assert.notEqual(next, key);
    assert.ok(rot.stdout.startsWith('Successfully rotated manager unlock key.\n'), rot.stdout);
    assert.equal(d.docker(['swarm', 'unlock-key', '-q']).stdout.trim(), next);
    await restart();
    assert.equal(state(), 'locked');
    const old = d.docker(['swarm', 'unlock'], { input: `${key}\n` });
    assert.equal(old.stderr.trim(), 'Error response from daemon: swarm could not be unlocked: invalid key provided');
    const ok = d.docker(['swarm', 'unlock'], { input: `${next}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    key = next;
  });

  test('update --autolock=false: the keys are plain again, a restart needs no unlock; unlock-key then has none', async () => {
    const upd = d.docker(['swarm', 'update', '--autolock=false']);
    assert.equal(upd.code, 0, upd.stderr);
    assert.equal(upd.stdout, 'Swarm updated.\n');
    assert.match(swarmFile('certificates/swarm-node.key'), /^-----BEGIN PRIVATE KEY-----/);
    const none = d.docker(['swarm', 'unlock-key']);
    assert.deepEqual([none.code, none.stderr.trim()], [1, 'no unlock key is set']);
    assert.equal(d.berth(['swarm', 'unlock-key']).stderr.trim(), 'no unlock key is set');
    const rotNone = d.berth(['swarm', 'unlock-key', '--rotate']);
    assert.deepEqual([rotNone.code, rotNone.stderr.trim()], [1, 'cannot rotate because autolock is not turned on']);
    await restart();
    await waitFor('the manager active after its restart', () => (state() === 'active' ? true : undefined), 30_000);
    // On again through berth's CLI: it prints the new key as the docker CLI does.
    const on = d.berth(['swarm', 'update', '--autolock=true']);
    assert.equal(on.code, 0, on.stderr);
    const k = /^ {4}(SWMKEY-1-\S+)$/m.exec(on.stdout)?.[1] ?? '';
    assert.match(k, KEY_RE, on.stdout);
    assert.ok(on.stdout.startsWith('Swarm updated.\nTo unlock a swarm manager after it restarts, run the `berth swarm unlock`\n'), on.stdout);
    assert.match(swarmFile('certificates/swarm-node.key'), /SEALED/);
  });

  test('a locked manager can leave with --force; it is then in no swarm and its task containers are gone', async () => {
    await restart();
    assert.equal(state(), 'locked');
    const left = d.docker(['swarm', 'leave', '--force']);
    assert.equal(left.code, 0, left.stderr);
    assert.equal(state(), 'inactive');
    assert.equal(d.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=sleeper']).stdout.trim(), '');
  });
});
