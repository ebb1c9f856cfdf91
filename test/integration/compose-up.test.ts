// `berth compose` up/down and the lifecycle commands on real applications:
// a real daemon, real containers, the CLI from dist/berth; what is asserted
// is what a user sees (output, exit codes) and what the engine then has.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type RunResult, type TestDaemon } from '../helpers/daemon.ts';

function project(files: Record<string, string>): string {
  const dir = mkdtempSync('/tmp/bc-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('berth compose up/down', () => {
  let d: TestDaemon;
  const compose = (dir: string, name: string, args: string[], timeout = 120_000): RunResult =>
    d.berth(['compose', '--project-directory', dir, '-f', join(dir, 'compose.yaml'), '-p', name, ...args], { timeout });
  const ids = (filter: string) => d.berth(['ps', '-aq', '--no-trunc', '--filter', filter]).stdout.split('\n').filter(Boolean).sort();
  const names = (project: string) => d.berth(['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean).sort();

  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('a web service and a client that waits for it to be healthy; down -v leaves nothing of the project behind', () => {
    const dir = project({
      'compose.yaml': `
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 300ms
      retries: 20
  client:
    image: busybox
    command: ["wget", "-q", "-O", "-", "http://web/"]
    depends_on:
      web:
        condition: service_healthy
volumes:
  unused: {}
`,
    });
    const r = compose(dir, 'hc', ['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter(Boolean);
    for (const l of [' Network hc_default  Created', ' Volume "hc_unused"  Created', ' Container hc-web-1  Created', ' Container hc-client-1  Created', ' Container hc-web-1  Healthy', ' Container hc-client-1  Started']) {
      assert.ok(lines.includes(l), `${l} in:\n${r.stderr}`);
    }
    assert.ok(lines.indexOf(' Container hc-web-1  Healthy') < lines.indexOf(' Container hc-client-1  Starting'), 'the client starts once web is healthy');
    const wait = d.berth(['wait', 'hc-client-1']);
    assert.equal(wait.stdout, '0\n');
    assert.equal(d.berth(['logs', 'hc-client-1']).stdout, 'hello from web\n');
    const labels = JSON.parse(d.berth(['inspect', '-f', '{{json .Config.Labels}}', 'hc-web-1']).stdout) as Record<string, string>;
    assert.equal(labels['com.docker.compose.project'], 'hc');
    assert.equal(labels['com.docker.compose.service'], 'web');
    assert.equal(labels['com.docker.compose.oneoff'], 'False');
    assert.equal(labels['com.docker.compose.container-number'], '1');
    assert.equal(labels['com.docker.compose.project.working_dir'], dir);
    assert.match(labels['com.docker.compose.config-hash'], /^[0-9a-f]{64}$/);
    const netId = d.berth(['network', 'inspect', '-f', '{{.Id}}', 'hc_default']).stdout.trim();
    assert.match(netId, /^[0-9a-f]{64}$/);
    const bridge = `br-${netId.slice(0, 12)}`;
    assert.match(spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout, new RegExp(bridge), 'the network has rules while up');

    const down = compose(dir, 'hc', ['down', '-v', '-t', '1']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, / Container hc-client-1 {2}Removed\n/);
    assert.match(down.stderr, / Network hc_default {2}Removed\n/);
    assert.match(down.stderr, / Volume "?hc_unused"? {2}Removed\n/);
    assert.deepEqual(names('hc'), []);
    assert.doesNotMatch(d.berth(['network', 'ls', '--format', '{{.Name}}']).stdout, /hc_/);
    assert.doesNotMatch(d.berth(['volume', 'ls', '--format', '{{.Name}}']).stdout, /hc_/);
    assert.doesNotMatch(spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout, new RegExp(bridge), 'no iptables rule of the project is left');
    assert.notEqual(spawnSync('ip', ['link', 'show', bridge]).status, 0, 'the bridge is gone');

    const again = compose(dir, 'hc', ['down']);
    assert.equal(again.code, 0, 'down of a project that does not exist is a no-op');
  });

  test('a volume shared between two services; two networks keep db away from the frontend', () => {
    const dir = project({
      'compose.yaml': `
services:
  writer:
    image: busybox
    command: ["sh", "-c", "echo shared > /data/note && sleep 600"]
    volumes: [data:/data]
    networks: [front]
  reader:
    image: busybox
    command: ["sleep", "600"]
    volumes: ["data:/shared:ro"]
    networks:
      back:
        aliases: [store-reader]
  api:
    image: busybox
    command: ["sleep", "600"]
    networks: [front, back]
networks:
  front: {}
  back: {}
volumes:
  data: {}
`,
    });
    const r = compose(dir, 'nets', ['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    const note = d.berth(['exec', 'nets-reader-1', 'sh', '-c', 'for i in $(seq 50); do [ -s /shared/note ] && break; sleep 0.1; done; cat /shared/note']);
    assert.equal(note.stdout, 'shared\n');
    assert.match(d.berth(['exec', 'nets-reader-1', 'sh', '-c', 'touch /shared/x 2>&1; echo $?']).stdout, /Read-only file system\n1\n/);
    // api shares a network with each: it resolves both, by name and alias.
    for (const host of ['writer', 'reader', 'store-reader']) {
      assert.equal(d.berth(['exec', 'nets-api-1', 'ping', '-c1', '-W2', host]).code, 0, `api reaches ${host}`);
    }
    // writer (front only) cannot resolve reader (back only), nor reach it.
    const miss = d.berth(['exec', 'nets-writer-1', 'ping', '-c1', '-W2', 'reader']);
    assert.notEqual(miss.code, 0);
    assert.match(miss.stderr + miss.stdout, /bad address 'reader'/);
    assert.equal(compose(dir, 'nets', ['down', '-v', '-t', '0']).code, 0);
    assert.deepEqual(names('nets'), []);
  });

  test('--scale web=3 runs three replicas that DNS answers for; scaling down removes the highest', () => {
    const dir = project({
      'compose.yaml': `
services:
  web:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  probe:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`,
    });
    const r = compose(dir, 'sc', ['up', '-d', '--scale', 'web=3']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(names('sc'), ['sc-probe-1', 'sc-web-1', 'sc-web-2', 'sc-web-3']);
    const ips = ['sc-web-1', 'sc-web-2', 'sc-web-3'].map((n) => d.berth(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', n]).stdout.trim()).sort();
    const ns = d.berth(['exec', 'sc-probe-1', 'nslookup', 'web']).stdout;
    const answered = [...ns.matchAll(/Address: (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(answered, ips, ns);
    const down1 = compose(dir, 'sc', ['up', '-d', '--scale', 'web=1']);
    assert.equal(down1.code, 0, down1.stderr);
    assert.deepEqual(names('sc'), ['sc-probe-1', 'sc-web-1']);
    assert.equal(compose(dir, 'sc', ['down', '-t', '0']).code, 0);
  });

  test('an edit of one service recreates only it; --force-recreate all; --no-recreate none', () => {
    const file = (greeting: string) => `
services:
  a:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    environment:
      GREETING: ${greeting}
  b:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`;
    const dir = project({ 'compose.yaml': file('hi') });
    assert.equal(compose(dir, 'ed', ['up', '-d']).code, 0);
    const before = { a: ids('name=ed-a-1'), b: ids('name=ed-b-1') };
    writeFileSync(join(dir, 'compose.yaml'), file('hello'));
    const r = compose(dir, 'ed', ['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, / Container ed-a-1 {2}Recreated\n/);
    assert.match(r.stderr, / Container ed-b-1 {2}Running\n/);
    assert.notDeepEqual(ids('name=ed-a-1'), before.a);
    assert.deepEqual(ids('name=ed-b-1'), before.b);
    assert.equal(d.berth(['exec', 'ed-a-1', 'sh', '-c', 'echo $GREETING']).stdout, 'hello\n');
    const mid = ids('label=com.docker.compose.project=ed');
    writeFileSync(join(dir, 'compose.yaml'), file('bye'));
    assert.equal(compose(dir, 'ed', ['up', '-d', '--no-recreate']).code, 0);
    assert.deepEqual(ids('label=com.docker.compose.project=ed'), mid);
    assert.equal(compose(dir, 'ed', ['up', '-d', '--force-recreate']).code, 0);
    assert.equal(ids('label=com.docker.compose.project=ed').filter((id) => mid.includes(id)).length, 0);
    assert.equal(compose(dir, 'ed', ['down', '-t', '0']).code, 0);
  });

  test('a recreated container keeps its anonymous volume; -V gives it a new one', () => {
    const file = (word: string) => `services:\n  s:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n    volumes: ["/data"]\n    environment:\n      WORD: ${word}\n`;
    const dir = project({ 'compose.yaml': file('one') });
    assert.equal(compose(dir, 'anon', ['up', '-d']).code, 0);
    assert.equal(d.berth(['exec', 'anon-s-1', 'sh', '-c', 'echo kept > /data/f']).code, 0);
    const volume = () => d.berth(['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', 'anon-s-1']).stdout.trim();
    const first = volume();
    assert.match(first, /^[0-9a-f]{64}$/);
    writeFileSync(join(dir, 'compose.yaml'), file('two'));
    const r = compose(dir, 'anon', ['up', '-d']);
    assert.match(r.stderr, / Container anon-s-1 {2}Recreated\n/);
    assert.equal(volume(), first);
    assert.equal(d.berth(['exec', 'anon-s-1', 'cat', '/data/f']).stdout, 'kept\n');
    assert.equal(compose(dir, 'anon', ['down', '-v', '-t', '0']).code, 0);
    assert.notEqual(d.berth(['volume', 'inspect', first]).code, 0, 'down -v removes an anonymous volume carried over by a recreate');
    assert.equal(compose(dir, 'anon', ['up', '-d']).code, 0);
    const second = volume();
    writeFileSync(join(dir, 'compose.yaml'), file('three'));
    assert.equal(compose(dir, 'anon', ['up', '-d', '-V']).code, 0);
    assert.notEqual(volume(), second);
    assert.equal(d.berth(['exec', 'anon-s-1', 'ls', '/data']).stdout, '');
    const last = volume();
    assert.equal(compose(dir, 'anon', ['down', '-v', '-t', '0']).code, 0);
    assert.notEqual(d.berth(['volume', 'inspect', last]).code, 0, 'down -v removes anonymous volumes');
  });

  test('stop, start, restart, pause, unpause, kill and rm act on the project\'s containers', () => {
    const dir = project({ 'compose.yaml': 'services:\n  s:\n    image: busybox\n    command: ["sleep", "600"]\n    stop_signal: SIGKILL\n' });
    assert.equal(compose(dir, 'lc', ['create']).code, 0);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'lc-s-1']).stdout, 'created\n');
    const state = () => d.berth(['inspect', '-f', '{{.State.Status}}', 'lc-s-1']).stdout.trim();
    let r = compose(dir, 'lc', ['start']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, / Container lc-s-1 {2}Started\n/);
    assert.equal(state(), 'running');
    assert.equal(compose(dir, 'lc', ['pause']).code, 0);
    assert.equal(state(), 'paused');
    assert.equal(compose(dir, 'lc', ['unpause']).code, 0);
    assert.equal(state(), 'running');
    r = compose(dir, 'lc', ['stop', '-t', '0']);
    assert.match(r.stderr, / Container lc-s-1 {2}Stopped\n/);
    assert.equal(state(), 'exited');
    assert.equal(compose(dir, 'lc', ['restart']).code, 0);
    assert.equal(state(), 'running');
    r = compose(dir, 'lc', ['kill', '-s', 'SIGTERM']);
    assert.equal(r.code, 0, r.stderr);
    r = compose(dir, 'lc', ['rm', '-f', '-s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, / Container lc-s-1 {2}Removed\n/);
    assert.deepEqual(names('lc'), []);
    assert.equal(compose(dir, 'lc', ['down']).code, 0);
  });

  test('two services publishing one host port: the second fails as the engine says, and up names it', () => {
    const dir = project({
      'compose.yaml': `
services:
  one:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    ports: ["127.0.0.1:18931:80"]
  two:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: [one]
    ports: ["127.0.0.1:18931:80"]
`,
    });
    const r = compose(dir, 'pc', ['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, / Container pc-two-1 {2}Error\n/);
    // dockerd's wording, naming the container whose port clashed.
    assert.match(r.stderr, /Error response from daemon: driver failed programming external connectivity on endpoint pc-two-1 \([0-9a-f]{64}\): Bind for 127\.0\.0\.1:18931 failed: port is already allocated\n/);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'pc-one-1']).stdout, 'running\n');
    assert.equal(compose(dir, 'pc', ['down', '-t', '0']).code, 0);
  });

  test('up without -d shows each container\'s output behind its prefix and ends with --exit-code-from\'s status', () => {
    const dir = project({
      'compose.yaml': `
services:
  talker:
    image: busybox
    command: ["sh", "-c", "echo one; echo two; exit 3"]
  sleeper:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
`,
    });
    const r = compose(dir, 'at', ['up', '--exit-code-from', 'talker']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^talker-1 {3}\| one\ntalker-1 {3}\| two\n/m);
    assert.match(r.stdout, /talker-1 exited with code 3\n/);
    assert.match(r.stdout, /Aborting on container exit\.\.\.\n/);
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'at-sleeper-1']).stdout, 'exited\n');
    const bare = compose(dir, 'at', ['up', '--no-log-prefix', '--timestamps', 'talker']);
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z one\n\d{4}-\d\d-\d\dT[\d:.]+Z two\n/m, 'no prefix; each line stamped');
    assert.doesNotMatch(bare.stdout, /sleeper/, 'only the service named is attached');
    const some = compose(dir, 'at', ['up', '--no-attach', 'sleeper', '--abort-on-container-exit']);
    assert.equal(some.code, 3, some.stderr);
    assert.match(some.stdout, /^Attaching to talker-1\n/);
    assert.doesNotMatch(some.stdout, /sleeper-1 +\|/);
    assert.equal(compose(dir, 'at', ['down']).code, 0);
  });
});
