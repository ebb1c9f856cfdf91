// The Run dialog's checks and its command line (src/ui/run-request.ts), held
// against the real things: the command line is split by a real sh, and a bad
// port gets the words berth's CLI uses for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, ROOT } from '../helpers/daemon.ts';
import { buildRun, checkLimits, checkVolume, shellQuote, shellWords, type RunForm } from '../../src/ui/run-request.ts';

const FORM: RunForm = { image: 'busybox', name: '', command: '', ports: '', env: '', volumes: '', restart: 'no', network: 'default', memory: '', cpus: '', pids: '' };

/** The words a real sh makes of a command line. */
function shSplit(line: string): string[] {
  const r = spawnSync('sh', ['-c', `set -- ${line}; for w in "$@"; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

test('the command field is split as sh splits it', () => {
  for (const line of [`sh -c 'echo "a b"; exit 3'`, `echo "x \\"y\\" \\$HOME" z\\ w ''`, `printf '%s\\n' it's`.replace("it's", `"it's"`), '  a   b  ']) {
    assert.deepEqual(shellWords(line), shSplit(line), line);
  }
  assert.throws(() => shellWords(`echo 'open`), /unterminated ' quote/);
});

test('the command line shown survives a real shell word for word', () => {
  const words = ['berth', 'run', '-e', 'A=hello world', '-e', `B=it's`, 'busybox', 'sh', '-c', 'echo "$A" && exit 3', '', '*'];
  assert.deepEqual(shSplit(words.map(shellQuote).join(' ')), words);
});

test('a bad port is reported with the CLI\'s words, before anything is sent', () => {
  const r = buildRun({ ...FORM, ports: '80:abc' });
  assert.ok(r.errors?.ports);
  const cli = spawnSync(BERTH, ['-H', 'unix:///nonexistent.sock', 'create', '-p', '80:abc', 'busybox'], { encoding: 'utf8' });
  assert.equal(cli.status, 125);
  assert.equal(r.errors.ports, cli.stderr.trim().replace(/^berth: /, '').split('\n')[0]);
  for (const bad of ['1:2:3:4', '70000', '80-70', '80/xyz']) {
    assert.ok(buildRun({ ...FORM, ports: bad }).errors?.ports, bad);
  }
});

test('volume specs: absolute container paths, named volumes, modes', () => {
  assert.deepEqual(checkVolume('/data'), { anonymous: true });
  assert.deepEqual(checkVolume('myvol:/data:ro'), { anonymous: false });
  assert.deepEqual(checkVolume('/srv/x:/data:ro,z'), { anonymous: false });
  assert.throws(() => checkVolume('data'), /mount path must be absolute: data/);
  assert.throws(() => checkVolume('v:data'), /mount path must be absolute: data/);
  assert.throws(() => checkVolume('./here:/data'), /must be absolute/);
  assert.throws(() => checkVolume('v::/data'), /empty section between colons/);
  assert.throws(() => checkVolume('a:/b:ro:x'), /too many colons/);
  assert.throws(() => checkVolume('v:/data:rw,bogus'), /invalid mode: rw,bogus/);
  assert.throws(() => checkVolume('my vol:/data'), /invalid characters for a local volume name/);
});

test('a valid form gives the create body and the equivalent command line', () => {
  const r = buildRun({ image: 'busybox:latest', name: 'web', command: `sh -c 'sleep 1'`, ports: '127.0.0.1:8080:80\n53/udp', env: 'A=1\nB=two words', volumes: 'v:/data\n/anon', restart: 'on-failure:3', network: 'default', memory: '', cpus: '', pids: '' });
  assert.equal(r.errors, undefined);
  if (r.errors) return;
  assert.equal(r.commandLine, `berth run -d --name web -p 127.0.0.1:8080:80 -p 53/udp -e A=1 -e 'B=two words' -v v:/data -v /anon --restart on-failure:3 busybox:latest sh -c 'sleep 1'`);
  const b = r.request.body as { Cmd: string[]; Env: string[]; ExposedPorts: object; Volumes: object; HostConfig: { Binds: string[]; PortBindings: object; RestartPolicy: object } };
  assert.deepEqual(b.Cmd, ['sh', '-c', 'sleep 1']);
  assert.deepEqual(b.Env, ['A=1', 'B=two words']);
  assert.deepEqual(b.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(b.Volumes, { '/anon': {} });
  assert.deepEqual(b.HostConfig.Binds, ['v:/data']);
  assert.deepEqual(b.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostIp: '', HostPort: '' }] });
  assert.deepEqual(b.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  for (const [field, value, msg] of [['image', '', /required/], ['image', 'Busybox', /must be lowercase/], ['name', '-x', /Invalid container name/], ['env', 'NOEQUALS', /KEY=VALUE/], ['restart', 'always:3', /maximum retry count/]] as const) {
    const bad = buildRun({ ...FORM, [field]: value });
    assert.match(bad.errors?.[field] ?? '', msg, `${field}=${value}`);
  }
});

test('network and resource limits: the create body\'s fields and the flags, bad values in the CLI\'s words', () => {
  const r = buildRun({ ...FORM, network: 'backend', memory: '64m', cpus: '1.5', pids: '100' });
  assert.equal(r.errors, undefined);
  if (r.errors) return;
  assert.equal(r.commandLine, 'berth run -d --network backend --memory 64m --cpus 1.5 --pids-limit 100 busybox');
  const h = (r.request.body as { HostConfig: Record<string, unknown> }).HostConfig;
  assert.deepEqual([h.NetworkMode, h.Memory, h.NanoCpus, h.PidsLimit], ['backend', 64 * 1024 * 1024, 1_500_000_000, 100]);
  const none = buildRun(FORM);
  assert.ok(!none.errors);
  if (!none.errors) {
    const d = (none.request.body as { HostConfig: Record<string, unknown> }).HostConfig;
    assert.deepEqual([d.NetworkMode, d.Memory, d.NanoCpus, d.PidsLimit], ['default', 0, 0, null], 'what berth run sends without the flags');
  }
  // The berth CLI's own refusal for the same memory value, word for word.
  const cli = spawnSync(BERTH, ['-H', 'unix:///nonexistent.sock', 'create', '-m', '12x', 'busybox'], { encoding: 'utf8' });
  assert.equal(checkLimits({ memory: '12x', cpus: '', pids: '' }).errors.memory, 'invalid argument "12x" for "-m, --memory" flag: invalid size: \'12x\'');
  assert.match(cli.stderr, /invalid size: '12x'/);
  assert.match(checkLimits({ memory: '', cpus: 'two', pids: '' }).errors.cpus ?? '', /failed to parse two as a rational number/);
  assert.match(checkLimits({ memory: '', cpus: '0.0000000001', pids: '' }).errors.cpus ?? '', /too precise/);
  assert.match(checkLimits({ memory: '', cpus: '', pids: '1.5' }).errors.pids ?? '', /strconv\.ParseInt: parsing "1\.5": invalid syntax/);
  assert.equal(checkLimits({ memory: '', cpus: '', pids: '-1' }).pids, -1);
});

test('the CLI\'s startup snapshot carries none of the dashboard or its server', () => {
  const snapshot = readFileSync(join(ROOT, 'dist/cli-snapshot.cjs'), 'utf8');
  assert.ok(snapshot.includes('Serve the web dashboard'), 'the ui command is registered');
  for (const marker of ['WebSocketServer', 'serveDashboard(', 'berth-ui-token', 'Content-Security-Policy']) {
    assert.ok(!snapshot.includes(marker), `${marker} is in the snapshot`);
  }
  assert.ok(readFileSync(join(ROOT, 'dist/ui-server.cjs'), 'utf8').includes('berth-ui-token'));
});
