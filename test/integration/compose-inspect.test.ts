// `berth compose` ps/ls/images/top/port/logs/events/wait/exec/cp/version on a
// project another tool made: docker-compose 1.29 (Debian's, through docker-py)
// creates it on a real berth daemon, berth compose finds it by compose's labels
// and prints what docker compose v2 prints (docs/reference/compose_*.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const COMPOSE_1 = '/usr/bin/docker-compose';

function spawnCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, ms: number, onStdout?: (chunk: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c; onStdout?.(c.toString()); });
    p.stderr.on('data', (c: Buffer) => { stderr += c; });
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/**
 * A command on a terminal (script's pty). script's stdin stays open until the
 * command has ended: at an EOF on it script types the terminal's EOF character
 * into the pty, and on a loaded machine that can land before the command turns
 * echo off, showing up in the output (`^@`) ahead of the command's own.
 */
function onTerminal(command: string, ms = 60_000): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn('script', ['-qc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c; });
    p.stderr.resume();
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('close', (code) => { clearTimeout(timer); p.stdin.destroy(); resolve({ code, stdout }); });
  });
}

describe('compose: looking at a running project', { skip: !existsSync(COMPOSE_1) }, () => {
  let d: TestDaemon;
  let dir: string;
  const compose1 = (args: string[]) => spawnSync(COMPOSE_1, ['-p', 'demo', ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000, env: { ...process.env, DOCKER_HOST: d.host } });
  const bc = (args: string[], input?: string) => d.berth(['compose', '-p', 'demo', ...args], { input });
  const ids: Record<string, string> = {};

  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bt-cinspect-');
    writeFileSync(join(dir, 'docker-compose.yml'), [
      'version: "2.4"',
      'services:',
      '  web:',
      '    image: busybox',
      "    command: sh -c 'echo hello from web; echo oops >&2; exec sleep 600'",
      '    ports: ["127.0.0.1::80", "127.0.0.1::53/udp"]',
      '    scale: 2',
      '  worker:',
      '    image: busybox',
      "    command: sh -c 'for i in 1 2 3; do echo tick $$i; done; exec sleep 600'",
      '  once:',
      '    image: busybox',
      "    command: sh -c 'echo done; exit 3'",
      '',
    ].join('\n'));
    const up = compose1(['up', '-d']);
    assert.equal(up.status, 0, up.stderr);
    for (const n of ['demo_web_1', 'demo_web_2', 'demo_worker_1', 'demo_once_1']) ids[n] = d.berth(['inspect', '-f', '{{.Id}}', n]).stdout.trim();
    // The one-shot service has exited before the tests look.
    for (let i = 0; i < 100 && d.berth(['inspect', '-f', '{{.State.Status}}', 'demo_once_1']).stdout.trim() !== 'exited'; i++) await new Promise((r) => setTimeout(r, 100));
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ps: compose v2 columns, running containers by name; -a adds the exited one; -q, --services, --status, --filter', () => {
    const r = bc(['ps']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NAME +IMAGE +COMMAND +SERVICE +CREATED +STATUS +PORTS$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/)[0]), ['demo_web_1', 'demo_web_2', 'demo_worker_1']);
    const web1 = lines[1];
    assert.match(web1, /^demo_web_1 +busybox +"sh -c 'echo hello f…" +web +(\d+ seconds?|Less than a second) ago +Up (\d+ seconds?|Less than a second) +127\.0\.0\.1:\d+->53\/udp, 127\.0\.0\.1:\d+->80\/tcp$/);
    // Columns line up under their headers.
    assert.equal(web1.indexOf('web '), lines[0].indexOf('SERVICE'));

    const all = bc(['ps', '-a']).stdout;
    assert.match(all, /^demo_once_1 +busybox +"sh -c 'echo done; e…" +once +.* Exited \(3\) /m);
    assert.deepEqual(bc(['ps', '-q']).stdout.trim().split('\n').sort(), [ids.demo_web_1, ids.demo_web_2, ids.demo_worker_1].sort());
    assert.equal(bc(['ps', '--services']).stdout, 'web\nworker\n');
    assert.equal(bc(['ps', '--status', 'exited', '--format', '{{.Name}} {{.State}} {{.ExitCode}}']).stdout, 'demo_once_1 exited 3\n');
    assert.equal(bc(['ps', '--filter', 'status=running', '-q', 'worker']).stdout, ids.demo_worker_1 + '\n');
    const bad = bc(['ps', '--filter', 'colour=red']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'unknown filter colour\n');
    assert.equal(bc(['ps', '--filter', 'status']).stderr, 'arguments to --filter should be in form KEY=VAL\n');
  });

  test('ps --format json: JSON Lines with the documented fields, full ID, publishers', () => {
    const rows = bc(['ps', '--format', 'json', 'web']).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, 2);
    const w = rows[0];
    assert.equal(w.ID, ids.demo_web_1);
    assert.equal(w.Name, 'demo_web_1');
    assert.equal(w.Project, 'demo');
    assert.equal(w.Service, 'web');
    assert.equal(w.State, 'running');
    assert.equal(w.Health, '');
    assert.equal(w.ExitCode, 0);
    assert.equal(w.Command, "sh -c 'echo hello from web; echo oops >&2; exec sleep 600'");
    const pubs = w.Publishers as Array<{ URL: string; TargetPort: number; PublishedPort: number; Protocol: string }>;
    assert.deepEqual(pubs.map((p) => [p.URL, p.TargetPort, p.Protocol]), [['127.0.0.1', 53, 'udp'], ['127.0.0.1', 80, 'tcp']]);
    assert.ok(pubs.every((p) => p.PublishedPort > 0));
  });

  test('logs: each line prefixed with the container name padded to the longest plus one, then " | "', () => {
    const r = bc(['logs', 'web', 'worker']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean).sort();
    // The longest name is demo_worker_1 (13): every prefix is 14 wide.
    assert.deepEqual(lines, [
      'demo_web_1     | hello from web', 'demo_web_1     | oops',
      'demo_web_2     | hello from web', 'demo_web_2     | oops',
      'demo_worker_1  | tick 1', 'demo_worker_1  | tick 2', 'demo_worker_1  | tick 3',
    ].sort());
    // Not a terminal: no colours, whatever --no-color says.
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    assert.equal(bc(['logs', '--no-log-prefix', 'worker']).stdout, 'tick 1\ntick 2\ntick 3\n');
    assert.equal(bc(['logs', '--tail', '1', 'worker']).stdout, 'demo_worker_1  | tick 3\n');
    assert.equal(bc(['logs', '--index', '2', 'web', '--no-log-prefix']).stdout.split('\n').filter(Boolean).sort().join(','), 'hello from web,oops');
    assert.match(bc(['logs', '-t', 'worker']).stdout, /^demo_worker_1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick 1$/m);
    assert.equal(bc(['logs', '--index', '2']).stderr, '--index requires one service to be selected\n');
    // --since/--until: relative and RFC 3339 times, resolved on this side as the docker client does.
    assert.equal(bc(['logs', '--since', '1h', '--no-log-prefix', 'worker']).stdout, 'tick 1\ntick 2\ntick 3\n');
    assert.equal(bc(['logs', '--until', '2000-01-01T00:00:00Z', 'worker']).stdout, '');
    assert.equal(bc(['logs', '--since', 'soon', 'worker']).stderr, 'failed to parse value as time or duration: "soon"\n');
  });

  test('logs in colour (--ansi always, or a terminal): one colour per container in compose\'s order; --no-color turns it off', async () => {
    const r = d.berth(['compose', '--ansi', 'always', '-p', 'demo', 'logs', 'web', 'worker']);
    const prefixes = new Map<string, string>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const m = /^\x1b\[([0-9;]+)m(demo_\w+_\d) +\| \x1b\[0m/.exec(line);
      assert.ok(m, `a coloured prefix: ${JSON.stringify(line)}`);
      prefixes.set(m[2], m[1]);
    }
    // compose's rainbow starts cyan, yellow, green; containers in name order.
    // (Lines of different containers arrive in any order.)
    assert.deepEqual([...prefixes].sort(), [['demo_web_1', '36'], ['demo_web_2', '33'], ['demo_worker_1', '32']]);
    assert.doesNotMatch(d.berth(['compose', '--ansi', 'always', '-p', 'demo', 'logs', '--no-color', 'worker']).stdout, /\x1b\[/);
    // On a terminal (script gives one), colour is the default.
    const tty = await onTerminal(`${BERTH} -H ${d.host} compose -p demo logs worker`);
    assert.match(tty.stdout, /^\x1b\[36mdemo_worker_1  \| \x1b\[0mtick 1\r\n/);
  });

  test('logs -f follows the running containers, reports an exit, and ends when none runs', async () => {
    const env = { ...process.env };
    let seen = '';
    const follower = spawnCollect(BERTH, ['-H', d.host, 'compose', '-p', 'demo', 'logs', '-f', '--tail', '1', 'worker'], env, 60_000, (c) => { seen += c; });
    try {
      // Stopped only once the follower shows the tail: it follows by then, however slow its start on a loaded machine.
      for (let i = 0; i < 300 && !seen.includes('tick 3\n'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(d.berth(['stop', '-t', '0', 'demo_worker_1']).code, 0);
      const r = await follower;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'demo_worker_1  | tick 3\ndemo_worker_1 exited with code 137\n');
    } finally {
      // The later tests need the worker running, whatever happened here.
      assert.equal(d.berth(['start', 'demo_worker_1']).code, 0);
    }
  });

  test('exec: runs in the service\'s first container, or --index; exit code, -e, -w, -u; a service with none running', () => {
    const r = bc(['exec', '-T', 'web', 'sh', '-c', 'echo $HOSTNAME; exit 4']);
    // A start that fails once the stream is upgraded is reported in-band, on stdout (as dockerd does): both, to say why.
    assert.equal(r.code, 4, `stderr: ${r.stderr}\nstdout: ${r.stdout}`);
    assert.equal(r.stdout, ids.demo_web_1.slice(0, 12) + '\n');
    assert.equal(bc(['exec', '-T', '--index', '2', 'web', 'hostname']).stdout, ids.demo_web_2.slice(0, 12) + '\n');
    assert.equal(bc(['exec', '-T', '-e', 'A=1', '-w', '/tmp', '-u', 'nobody', 'worker', 'sh', '-c', 'echo $A $(pwd) $(id -un)']).stdout, '1 /tmp nobody\n');
    assert.equal(bc(['exec', '-T', 'web', 'cat'], 'piped stdin\n').stdout, 'piped stdin\n');
    const none = bc(['exec', '-T', 'once', 'true']);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'service "once" is not running\n');
    assert.equal(bc(['exec', '-T', '--index', '3', 'web', 'true']).stderr, 'service "web" is not running container #3\n');
    const bad = bc(['exec', '-T', '--index', 'two', 'web', 'true']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'invalid argument "two" for "--index" flag: strconv.ParseInt: parsing "two": invalid syntax\n');
  });

  test('exec allocates a tty when this side has one, and -T turns it off', async () => {
    const tty = await onTerminal(`${BERTH} -H ${d.host} compose -p demo exec web tty`);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n/);
    const notty = await onTerminal(`${BERTH} -H ${d.host} compose -p demo exec -T web tty`);
    assert.match(notty.stdout, /^not a tty/);
  });

  test('top: one table, SERVICE and # first and CMD last', () => {
    const lines = bc(['top']).stdout.trimEnd().split('\n');
    assert.match(lines[0], /^SERVICE +# +UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/).slice(0, 3).join(' ')), ['web 1 root', 'web 2 root', 'worker 1 root']);
    for (const l of lines.slice(1)) assert.match(l, / sleep 600$/);
  });

  test('port: the published address of a container port; --protocol, --index; an unpublished port', () => {
    const want = d.berth(['port', 'demo_web_2', '80/tcp']).stdout.trim();
    assert.equal(bc(['port', '--index', '2', 'web', '80']).stdout, want + '\n');
    assert.match(bc(['port', 'web', '53', '--protocol', 'UDP']).stdout, /^127\.0\.0\.1:\d+\n$/);
    const r = bc(['port', 'web', '81']);
    assert.equal(r.code, 1);
    // The container's ports as the engine lists them.
    const listed = (JSON.parse(d.berth(['inspect', '--format', '{{json .NetworkSettings.Ports}}', 'demo_web_1']).stdout) as Record<string, unknown>);
    assert.equal(Object.keys(listed).length, 2);
    assert.match(r.stderr, /^no port 81\/tcp for container demo_web_1: (80\/tcp, 53\/udp|53\/udp, 80\/tcp)\n$/);
  });

  test('images: one row per container, the table compose prints; -q gives each image once', () => {
    const lines = bc(['images']).stdout.trimEnd().split('\n');
    assert.match(lines[0], /^CONTAINER +REPOSITORY +TAG +PLATFORM +IMAGE ID +SIZE +CREATED$/);
    const id = d.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim().replace('sha256:', '');
    assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/).slice(0, 5)), ['demo_once_1', 'demo_web_1', 'demo_web_2', 'demo_worker_1'].map((n) => [n, 'busybox', 'latest', 'linux/amd64', id.slice(0, 12)]));
    assert.equal(bc(['images', '-q']).stdout, id + '\n');
  });

  test('ls: projects by label with per-state counts and the config files label; -a, -q, --filter name=, --format json', () => {
    const other = d.berth(['run', '-d', '--name', 'lone', '-l', 'com.docker.compose.project=other', '-l', 'com.docker.compose.config-hash=x', '-l', 'com.docker.compose.project.config_files=/srv/a.yml,/srv/b.yml', 'busybox', 'sleep', '600']);
    assert.equal(other.code, 0, other.stderr);
    try {
      const r = d.berth(['compose', 'ls']);
      assert.equal(r.stdout, [
        'NAME                STATUS              CONFIG FILES',
        'demo                running(3)          docker-compose.yml',
        'other               running(1)          /srv/a.yml,/srv/b.yml',
        '',
      ].join('\n'));
      assert.match(d.berth(['compose', 'ls', '-a']).stdout, /^demo +exited\(1\), running\(3\) +docker-compose\.yml$/m);
      assert.equal(d.berth(['compose', 'ls', '-q']).stdout, 'demo\nother\n');
      assert.equal(d.berth(['compose', 'ls', '-q', '--filter', 'name=oth']).stdout, 'other\n');
      assert.deepEqual(JSON.parse(d.berth(['compose', 'ls', '--format', 'json', '--filter', 'name=demo']).stdout), [{ Name: 'demo', Status: 'running(3)', ConfigFiles: 'docker-compose.yml' }]);
      assert.equal(d.berth(['compose', 'ls', '--filter', 'label=x']).stderr, "invalid filter 'label'\n");
    } finally {
      d.berth(['rm', '-f', 'lone']);
    }
  });

  test('events --json: the project\'s container events with compose\'s labels left out of the attributes', async () => {
    const events = spawnCollect(BERTH, ['-H', d.host, 'compose', '-p', 'demo', 'events', '--json', 'worker'], process.env, 5000);
    const plain = spawnCollect(BERTH, ['-H', d.host, 'compose', '-p', 'demo', 'events', 'worker'], { ...process.env, TZ: 'UTC' }, 5000);
    await new Promise((r) => setTimeout(r, 1000));
    d.berth(['pause', 'demo_worker_1']);
    d.berth(['pause', 'demo_web_1']);
    d.berth(['unpause', 'demo_worker_1']);
    d.berth(['unpause', 'demo_web_1']);
    const r = await events;
    const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; id: string; service: string; type: string; attributes: Record<string, string>; time: string });
    assert.deepEqual(got.map((e) => [e.action, e.service, e.id, e.type]), [['pause', 'worker', ids.demo_worker_1, 'container'], ['unpause', 'worker', ids.demo_worker_1, 'container']]);
    assert.equal(got[0].attributes.name, 'demo_worker_1');
    assert.ok(!Object.keys(got[0].attributes).some((k) => k.startsWith('com.docker.compose.')));
    assert.match(got[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    // Without --json: compose's Event.String(), a blank line after each.
    const lines = (await plain).stdout.split('\n');
    assert.match(lines[0], new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} container pause ${ids.demo_worker_1} \\((.+=.+)(, .+=.+)*\\)$`));
    assert.match(lines[0], /[(, ]name=demo_worker_1[,)]/);
    assert.equal(lines[1], '');
    assert.match(lines[2], / container unpause /);
    // --since/--until (relative times resolved here): the past replayed, then the command ends.
    const replay = bc(['events', '--json', '--since', '1h', '--until', '0s', 'worker']);
    assert.equal(replay.code, 0, replay.stderr);
    const actions = replay.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action);
    assert.ok(actions.includes('create') && actions.indexOf('pause') < actions.indexOf('unpause'), actions.join(','));
    assert.equal(bc(['events', '--since', 'yesterday']).stderr, 'failed to parse value as time or duration: "yesterday"\n');
  });

  test('cp: into every container of a service, out of the first; between services refused', () => {
    const src = join(dir, 'note.txt');
    writeFileSync(src, 'copied in\n');
    const into = bc(['cp', src, 'web:/tmp/note.txt']);
    assert.equal(into.code, 0, into.stderr);
    for (const n of ['demo_web_1', 'demo_web_2']) assert.equal(d.berth(['exec', n, 'cat', '/tmp/note.txt']).stdout, 'copied in\n');
    d.berth(['exec', 'demo_web_1', 'sh', '-c', 'echo from one > /tmp/out.txt']);
    const out = join(dir, 'out.txt');
    assert.equal(bc(['cp', 'web:/tmp/out.txt', out]).code, 0);
    assert.equal(readFileSync(out, 'utf8'), 'from one\n');
    assert.equal(bc(['cp', 'web:/a', 'worker:/b']).stderr, 'copying between services is not supported\n');
    assert.equal(bc(['cp', 'nosuch:/a', out]).stderr, 'no container found for service "nosuch"\n');
  });

  test('wait: blocks until the service\'s running containers stop, and exits with the code; none running is an error', async () => {
    const waiting = spawnCollect(BERTH, ['-H', d.host, 'compose', '-p', 'demo', 'wait', 'worker'], process.env, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(d.berth(['kill', 'demo_worker_1']).code, 0);
    const r = await waiting;
    assert.equal(r.code, 137, r.stderr);
    assert.equal(r.stdout, `container "${ids.demo_worker_1}" exited with status code 137\n`);
    const none = bc(['wait', 'once']);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'no containers for project "demo"\n');
  });

  test('version: compose\'s three forms', () => {
    const v = d.berth(['compose', 'version']).stdout;
    assert.match(v, /^Docker Compose version v\d+\.\d+\.\d+\S*\n$/);
    const n = v.trim().split(' ').pop() as string;
    assert.equal(d.berth(['compose', 'version', '--short']).stdout, n.slice(1) + '\n');
    assert.deepEqual(JSON.parse(d.berth(['compose', 'version', '--format', 'json']).stdout), { version: n });
  });
});

describe('compose: looking at a project berth compose made', () => {
  let d: TestDaemon;
  let dir: string;
  const bc = (args: string[]) => d.berth(['compose', '--project-directory', dir, '-p', 'v2', ...args], { timeout: 120_000 });

  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bt-cinspect2-');
    writeFileSync(join(dir, 'compose.yaml'), [
      'services:',
      '  web:',
      '    image: busybox',
      "    command: sh -c 'echo web says hi; exec sleep 600'",
      '    deploy: { replicas: 2 }',
      '  longer-name:',
      '    image: busybox',
      "    command: sh -c 'echo long says hi; exec sleep 600'",
      '',
    ].join('\n'));
    const up = bc(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ps shows <project>-<service>-<n> names; logs prefixes drop the project, padded to the longest', () => {
    assert.equal(bc(['ps', '--format', '{{.Name}} {{.Service}}']).stdout, 'v2-longer-name-1 longer-name\nv2-web-1 web\nv2-web-2 web\n');
    const lines = bc(['logs']).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(lines, ['longer-name-1  | long says hi', 'web-1          | web says hi', 'web-2          | web says hi']);
    // Services named on the command line only; the compose file's services otherwise.
    assert.equal(bc(['logs', 'web', '--index', '2']).stdout, 'web-2  | web says hi\n');
    // With a compose file read, a service it does not define is an error; -p alone reads none (as compose).
    const viaFile = d.berth(['compose', '-f', join(dir, 'compose.yaml'), '-p', 'v2', 'ps', 'nosuch']);
    assert.equal(viaFile.code, 1);
    assert.equal(viaFile.stderr, 'no such service: nosuch\n');
    assert.equal(bc(['ps', '-q', 'nosuch']).stdout, '');
  });

  test('logs: a container whose logging driver cannot be read back is a warning, the others still print', () => {
    const labels = (svc: string) => ['-l', 'com.docker.compose.project=quiet', '-l', `com.docker.compose.service=${svc}`, '-l', 'com.docker.compose.container-number=1', '-l', 'com.docker.compose.oneoff=False', '-l', 'com.docker.compose.config-hash=h'];
    assert.equal(d.berth(['run', '-d', '--name', 'quiet-mute-1', '--log-driver', 'none', ...labels('mute'), 'busybox', 'sh', '-c', 'echo unseen; exec sleep 600']).code, 0);
    assert.equal(d.berth(['run', '-d', '--name', 'quiet-loud-1', ...labels('loud'), 'busybox', 'sh', '-c', 'echo seen; exec sleep 600']).code, 0);
    try {
      const r = d.berth(['compose', '-p', 'quiet', 'logs']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'loud-1  | seen\n');
      // logrus' text format off a terminal, as compose warns.
      assert.match(r.stderr, /^time="?[-0-9T:Z+]+"? level=warning msg="Can't retrieve logs for \\"quiet-mute-1\\": configured logging driver does not support reading"\n$/);
    } finally {
      d.berth(['rm', '-f', 'quiet-mute-1', 'quiet-loud-1']);
    }
  });

  test('logs -f: a container started meanwhile (a scale-up) joins with its first lines; each exit is reported; it ends with the last', async () => {
    const follower = spawnCollect(BERTH, ['-H', d.host, 'compose', '--project-directory', dir, '-p', 'v2', 'logs', '-f', 'web'], process.env, 90_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(bc(['up', '-d', '--scale', 'web=3', 'web']).code, 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(d.berth(['kill', 'v2-web-1', 'v2-web-2', 'v2-web-3']).code, 0);
    const r = await follower;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.deepEqual(lines.filter((l) => l.includes(' | ')).sort(), ['web-1  | web says hi', 'web-2  | web says hi', 'web-3  | web says hi']);
    assert.deepEqual(lines.filter((l) => !l.includes(' | ')).sort(), ['web-1 exited with code 137', 'web-2 exited with code 137', 'web-3 exited with code 137']);
  });
});
