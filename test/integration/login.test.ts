// login/logout (CLI and POST /auth) against the CNCF registry with htpasswd
// Basic auth: credentials land in config.json in Docker's `auths` format, or
// in a docker-credential-* helper (credsStore / credHelpers) spoken to over
// stdin/stdout; push and pull then use them. The real docker CLI logs in and
// pushes through berth's socket.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { BERTH, DOCKER, TestDaemon, startSeededDaemon } from '../helpers/daemon.ts';
import { type CncfRegistry, runAsync, startCncfRegistry } from '../helpers/registries.ts';
import { hasBinary } from '../registry/helpers.ts';

const SKIP = hasBinary('docker-registry') ? false : 'no docker-registry';
const PASS = { alice: 'alice-pw-1', bob: 'bob-pw-2' };

/** POST /auth on the daemon socket. */
function auth(socket: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'POST', path: '/v1.51/auth', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * A docker-credential helper in shell, keeping secrets in files under $dir:
 * store reads {"ServerURL","Username","Secret"}, get/erase read a server URL,
 * list prints {url: username}. It logs each action, so the test sees it ran.
 */
function writeHelper(binDir: string, name: string, dir: string): void {
  mkdirSync(binDir, { recursive: true });
  mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh
dir='${dir}'
echo "$1" >> "$dir/actions"
case "$1" in
store) input=$(cat); url=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/'); key=$(printf '%s' "$url" | tr '/:' '__'); printf '%s' "$input" > "$dir/$key" ;;
get) url=$(cat); key=$(printf '%s' "$url" | tr '/:' '__'); if [ -f "$dir/$key" ]; then cat "$dir/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) url=$(cat); key=$(printf '%s' "$url" | tr '/:' '__'); if [ -f "$dir/$key" ]; then rm "$dir/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
list) echo '{}' ;;
esac
`;
  writeFileSync(join(binDir, `docker-credential-${name}`), script);
  chmodSync(join(binDir, `docker-credential-${name}`), 0o755);
}

describe('login and logout against the CNCF registry with htpasswd', { skip: SKIP }, () => {
  let d: TestDaemon;
  let d2: TestDaemon;
  let reg: CncfRegistry;
  let work: string;
  const cfgDir = (name: string) => join(work, name);
  const berthIn = (daemon: TestDaemon, cfg: string, args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}) =>
    runAsync(BERTH, ['-H', daemon.host, ...args], { env: { ...process.env, DOCKER_CONFIG: cfg, ...extraEnv }, input });

  before(async () => {
    d = await startSeededDaemon();
    d2 = new TestDaemon();
    await d2.start();
    reg = await startCncfRegistry({ users: PASS });
    work = mkdtempSync('/tmp/berth-login-');
  });
  after(async () => {
    await d.destroy();
    await d2.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('POST /auth says Login Succeeded for good credentials and 401 with dockerd\'s wording for bad ones', async () => {
    const ok = await auth(d.socket, { username: 'alice', password: PASS.alice, serveraddress: reg.host });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as { Status: string }).Status, 'Login Succeeded');
    const bad = await auth(d.socket, { username: 'alice', password: 'nope', serveraddress: reg.host });
    assert.equal(bad.status, 401, bad.body);
    assert.equal((JSON.parse(bad.body) as { message: string }).message, `login attempt to http://${reg.host}/v2/ failed with status: 401 Unauthorized`);
  });

  test('berth login stores base64 user:password under the host; push and pull use it; logout removes it', async () => {
    const cfg = cfgDir('plain');
    const denied = await berthIn(d, cfg, ['push', `${reg.host}/nobody/x:1`]);
    assert.equal(denied.code, 1);

    const wrong = await berthIn(d, cfg, ['login', '-u', 'alice', '-p', 'wrong', reg.host]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /WARNING! Using --password via the CLI is insecure\. Use --password-stdin\./);
    assert.match(wrong.stderr, /Error response from daemon: login attempt to .* failed with status: 401 Unauthorized/);
    assert.equal(existsSync(join(cfg, 'config.json')), false, 'a refused login stores nothing');

    const ok = await berthIn(d, cfg, ['login', '--username', 'alice', '--password-stdin', reg.host], `${PASS.alice}\n`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Login Succeeded\n');
    const file = JSON.parse(readFileSync(join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(file.auths[reg.host].auth, 'base64').toString(), `alice:${PASS.alice}`);

    assert.equal((await berthIn(d, cfg, ['tag', 'busybox', `${reg.host}/alice/bb:1`])).code, 0);
    const push = await berthIn(d, cfg, ['push', `${reg.host}/alice/bb:1`]);
    assert.equal(push.code, 0, push.stderr);
    const pull = await berthIn(d2, cfg, ['pull', `${reg.host}/alice/bb:1`]);
    assert.equal(pull.code, 0, pull.stderr);

    // Without flags, the stored credentials are used again.
    const again = await berthIn(d, cfg, ['login', reg.host]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'Login Succeeded\n');

    const out = await berthIn(d, cfg, ['logout', reg.host]);
    assert.equal(out.stdout, `Removing login credentials for ${reg.host}\n`);
    const after = JSON.parse(readFileSync(join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    assert.deepEqual(after.auths, {});
    const twice = await berthIn(d, cfg, ['logout', reg.host]);
    assert.equal(twice.stdout, `Not logged in to ${reg.host}\n`);
    const noTty = await berthIn(d, cfg, ['login', reg.host]);
    assert.equal(noTty.code, 1);
    assert.match(noTty.stderr, /Cannot perform an interactive login from a non TTY device/);
  });

  test('flag errors: --password with --password-stdin, --password-stdin without --username', async () => {
    const cfg = cfgDir('flags');
    const both = await berthIn(d, cfg, ['login', '-u', 'a', '-p', 'x', '--password-stdin', reg.host], 'x');
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--password and --password-stdin are mutually exclusive/);
    const noUser = await berthIn(d, cfg, ['login', '--password-stdin', reg.host], 'x');
    assert.equal(noUser.code, 1);
    assert.match(noUser.stderr, /Must provide --username with --password-stdin/);
  });

  test('credsStore and credHelpers: the secret goes to the docker-credential helper, not config.json', async () => {
    const bin = join(work, 'bin');
    const secrets = join(work, 'secrets');
    writeHelper(bin, 'berthtest', secrets);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    for (const [name, content] of [
      ['store', { credsStore: 'berthtest' }],
      ['helpers', { credHelpers: { [reg.host]: 'berthtest' } }],
    ] as const) {
      const cfg = cfgDir(`helper-${name}`);
      mkdirSync(cfg, { recursive: true });
      writeFileSync(join(cfg, 'config.json'), JSON.stringify(content));
      rmSync(join(secrets, 'actions'), { force: true });
      const ok = await berthIn(d, cfg, ['login', '-u', 'bob', '--password-stdin', reg.host], PASS.bob, env);
      assert.equal(ok.code, 0, ok.stderr);
      const file = readFileSync(join(cfg, 'config.json'), 'utf8');
      assert.doesNotMatch(file, new RegExp(Buffer.from(`bob:${PASS.bob}`).toString('base64')));
      assert.doesNotMatch(file, new RegExp(PASS.bob));
      const stored = JSON.parse(readFileSync(join(secrets, reg.host.replace(/[/:]/g, '_')), 'utf8')) as { ServerURL: string; Username: string; Secret: string };
      assert.deepEqual(stored, { ServerURL: reg.host, Username: 'bob', Secret: PASS.bob });

      assert.equal((await berthIn(d, cfg, ['tag', 'busybox', `${reg.host}/bob/${name}:1`])).code, 0);
      const push = await berthIn(d, cfg, ['push', `${reg.host}/bob/${name}:1`], undefined, env);
      assert.equal(push.code, 0, push.stderr);
      const out = await berthIn(d, cfg, ['logout', reg.host], undefined, env);
      assert.equal(out.stdout, `Removing login credentials for ${reg.host}\n`);
      assert.deepEqual(readFileSync(join(secrets, 'actions'), 'utf8').trim().split('\n'), ['store', 'get', 'erase']);
      assert.equal(existsSync(join(secrets, reg.host.replace(/[/:]/g, '_'))), false);
    }
  });

  test('the global --config DIR: login stores in DIR/config.json, and push, pull and run\'s pull use it', async () => {
    const cfg = cfgDir('flag');
    const elsewhere = cfgDir('flag-env'); // $DOCKER_CONFIG, which --config overrides
    const withFlag = (daemon: TestDaemon, args: string[], input?: string) => berthIn(daemon, elsewhere, ['--config', cfg, ...args], input);
    const login = await withFlag(d, ['login', '-u', 'alice', '--password-stdin', reg.host], PASS.alice);
    assert.equal(login.code, 0, login.stderr);
    assert.ok(existsSync(join(cfg, 'config.json')), 'stored under --config');
    assert.equal(existsSync(join(elsewhere, 'config.json')), false, 'not under $DOCKER_CONFIG');
    assert.equal((await withFlag(d, ['tag', 'busybox', `${reg.host}/alice/cf:1`])).code, 0);
    assert.equal((await withFlag(d, ['tag', 'busybox', `${reg.host}/alice/cf:2`])).code, 0);
    for (const tag of ['1', '2']) {
      const push = await withFlag(d, ['push', `${reg.host}/alice/cf:${tag}`]);
      assert.equal(push.code, 0, push.stderr);
    }
    // The registry wants credentials for a pull too: without --config there are none.
    const anonymous = await berthIn(d2, elsewhere, ['pull', `${reg.host}/alice/cf:1`]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /no basic auth credentials|unauthorized/);
    const pull = await withFlag(d2, ['pull', `${reg.host}/alice/cf:1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/alice/cf:1`));
    const run = await withFlag(d2, ['run', '--rm', `${reg.host}/alice/cf:2`, 'echo', 'pulled by run']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'pulled by run\n');
    if (DOCKER) {
      // The docker CLI's own --config, against berth, for the same behaviour.
      assert.equal((await runAsync(BERTH, ['-H', d2.host, 'rmi', `${reg.host}/alice/cf:1`])).code, 0);
      const dk = await runAsync(DOCKER, ['--config', cfg, 'pull', `${reg.host}/alice/cf:1`], { env: { ...process.env, DOCKER_HOST: d2.host, DOCKER_CONFIG: elsewhere } });
      assert.equal(dk.code, 0, dk.stderr);
    }
  });

  test('the real docker CLI logs in, pushes and pulls through berth', { skip: DOCKER ? false : 'no docker CLI' }, async () => {
    const env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: cfgDir('docker') };
    const login = await runAsync(DOCKER as string, ['login', '-u', 'alice', '--password-stdin', reg.host], { env, input: PASS.alice });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const bad = await runAsync(DOCKER as string, ['login', '-u', 'alice', '--password-stdin', reg.host], { env: { ...env, DOCKER_CONFIG: cfgDir('docker-bad') }, input: 'wrong' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /401 Unauthorized/);
    assert.equal((await runAsync(DOCKER as string, ['tag', 'busybox', `${reg.host}/alice/dk:1`], { env })).code, 0);
    const push = await runAsync(DOCKER as string, ['push', `${reg.host}/alice/dk:1`], { env });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    const pull = await runAsync(DOCKER as string, ['pull', `${reg.host}/alice/dk:1`], { env: { ...env, DOCKER_HOST: d2.host } });
    assert.equal(pull.code, 0, pull.stderr);
    const logout = await runAsync(DOCKER as string, ['logout', reg.host], { env });
    assert.equal(logout.code, 0, logout.stderr);
  });
});
