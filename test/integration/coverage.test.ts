// Lifecycle details the other files leave out, each checked through berth's
// CLI and the real docker CLI against the same daemon: ps sizes, filters and
// JSON, logs options, signals, restart/wait/rename, inspect templates,
// start -a -i, detach keys, exec flags, run flags, prune filters, events,
// version/info.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, busyboxTarPath, run, startSeededDaemon, waitForNextSecond, type RunResult, type TestDaemon } from '../helpers/daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hasDocker = DOCKER !== undefined;

describe('lifecycle coverage (berth CLI and docker CLI)', () => {
  let d: TestDaemon;
  let work: string;
  // Both clients, or berth alone where no docker binary exists.
  const both = (args: string[], opts: { input?: string } = {}): [string, RunResult][] => [
    ['berth', d.berth(args, opts)],
    ...(hasDocker ? [['docker', d.docker(args, opts)] as [string, RunResult]] : []),
  ];
  /** A command line in a pty of its own (script), fed `input` after a pause. */
  const inPty = (cmdline: string, input: string, env: NodeJS.ProcessEnv): RunResult =>
    run('bash', ['-c', `(sleep 1; printf '${input}'; sleep 2) | script -qec "${cmdline}; echo rc=\\$?" /dev/null`], { env, timeout: 20_000 });

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-cov-');
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('ps -s shows the writable layer and the virtual size; {{json .}} has the size too', () => {
    d.berth(['run', '-d', '--name', 'sized', '--label', 'k=v', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/blob bs=1k count=200 2>/dev/null; exec sleep 300']);
    for (let i = 0; i < 50 && d.berth(['exec', 'sized', 'test', '-f', '/blob']).code !== 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    for (const [who, r] of both(['ps', '-s'])) {
      const [head, row] = r.stdout.split('\n');
      assert.match(head, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\s+SIZE$/, who);
      assert.match(row, /\s+sized\s+2\d\dkB \(virtual \d+(\.\d+)?MB\)$/, `${who}: ${row}`);
    }
    for (const [who, r] of both(['ps', '--format', '{{json .}}'])) {
      const row = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(row), Object.keys(row).slice().sort(), `${who}: Go marshals the row's map with sorted keys`);
      for (const k of ['Command', 'CreatedAt', 'ID', 'Image', 'Labels', 'LocalVolumes', 'Mounts', 'Names', 'Networks', 'Ports', 'RunningFor', 'Size', 'State', 'Status']) assert.ok(k in row, `${who}: ${k}`);
      assert.equal(row.Names, 'sized');
      assert.equal(row.Labels, 'k=v');
      assert.equal(row.State, 'running');
      assert.match(row.ID as string, /^[a-f0-9]{12}$/);
      assert.match(row.Size as string, /^2\d\dkB \(virtual .+B\)$/, `${who}: a template using every field asks for the size`);
    }
    if (hasDocker) {
      const b = Object.keys(JSON.parse(d.berth(['ps', '--format', '{{json .}}']).stdout) as object);
      const k = Object.keys(JSON.parse(d.docker(['ps', '--format', '{{json .}}']).stdout) as object);
      assert.deepEqual(b, k, 'the same fields as the docker CLI');
    }
  });

  test('ps --no-trunc: full ID and full command', () => {
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'sized']).stdout.trim();
    for (const [who, r] of both(['ps', '--no-trunc', '-f', 'name=sized'])) {
      const row = r.stdout.split('\n')[1];
      assert.ok(row.startsWith(id + '   busybox   "sh -c \'dd if=/dev/zero of=/blob bs=1k count=200 2>/dev/null; exec sleep 300\'"'), `${who}: ${row}`);
    }
  });

  test('ps -f: status, name (a regular expression, with or without the slash), label, id, ancestor, before/since, exited', () => {
    d.berth(['create', '--name', 'fresh', 'busybox', 'true']);
    d.berth(['run', '--name', 'three', 'busybox', 'sh', '-c', 'exit 3']);
    const cases: [string[], string][] = [
      [['-f', 'status=created'], 'fresh\n'],
      [['-f', 'status=running'], 'sized\n'],
      [['-f', 'status=exited'], 'three\n'],
      [['-f', 'status=running', '-f', 'status=created'], 'fresh\nsized\n'],
      [['-f', 'name=^/three$'], 'three\n'],
      [['-f', 'name=^three$'], 'three\n'],
      [['-f', 'name=e$'], 'three\n'],
      [['-f', 'name=['], ''],
      [['-f', 'label=k'], 'sized\n'],
      [['-f', 'label=k=v'], 'sized\n'],
      [['-f', 'label=k=w'], ''],
      [['-f', 'ancestor=busybox:latest'], 'three\nfresh\nsized\n'],
      [['-f', 'before=fresh'], 'sized\n'],
      [['-f', 'since=sized'], 'three\nfresh\n'],
      [['-f', 'exited=3'], 'three\n'],
      [['-f', 'exited=0'], ''],
    ];
    for (const [args, want] of cases) {
      for (const [who, r] of both(['ps', '-a', ...args, '--format', '{{.Names}}'])) {
        assert.equal(r.stdout, want, `${who} ps ${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.code, 0);
      }
    }
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'three']).stdout.trim();
    assert.equal(d.berth(['ps', '-a', '-f', `id=${id.slice(0, 6)}`, '--format', '{{.Names}}']).stdout, 'three\n');
    for (const [who, r] of both(['ps', '-a', '-f', 'status=sleeping'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, "Error response from daemon: invalid filter 'status=sleeping'\n", who);
    }
    d.berth(['rm', 'fresh', 'three']);
  });

  test('logs --details, --until, -t with --since', () => {
    d.berth(['run', '--name', 'lg', 'busybox', 'sh', '-c', 'echo one; sleep 1.1; echo two; echo warn >&2']);
    const stamped = d.berth(['logs', '-t', 'lg']).stdout.split('\n').filter(Boolean);
    assert.equal(stamped.length, 2);
    for (const l of stamped) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (one|two)$/);
    const firstTime = stamped[0].split(' ')[0];
    const secondTime = stamped[1].split(' ')[0];
    for (const [who, r] of both(['logs', '--details', 'lg'])) {
      assert.equal(r.stdout, ' one\n two\n', `${who}: without attributes, details is a lone space`);
      assert.equal(r.stderr, ' warn\n', who);
    }
    for (const [who, r] of both(['logs', '--until', firstTime, 'lg'])) assert.equal(r.stdout, 'one\n', `${who}: until is inclusive`);
    for (const [who, r] of both(['logs', '--until', '2000-01-01T00:00:00Z', 'lg'])) {
      assert.equal(r.stdout, '', who);
      assert.equal(r.code, 0);
    }
    for (const [who, r] of both(['logs', '-t', '--since', secondTime, 'lg'])) assert.equal(r.stdout, `${secondTime} two\n`, who);
    for (const [who, r] of both(['logs', '--until', 'bogus', 'lg'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, 'invalid value for "until": failed to parse value as time or duration: "bogus"\n', who);
    }
    for (const [who, r] of both(['logs', '--since', 'bogus', 'lg'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, 'invalid value for "since": failed to parse value as time or duration: "bogus"\n', who);
    }
    for (const [who, r] of both(['logs', 'nosuch'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n', who);
    }
    d.berth(['rm', 'lg']);
  });

  test('log-opt labels/env become attributes that logs --details shows', () => {
    const r = d.berth(['run', '--name', 'la', '--label', 'team=core', '--label', 'other=x', '-e', 'REGION=eu', '-e', 'SECRET=no',
      '--log-opt', 'labels=team', '--log-opt', 'env-regex=^REG', 'busybox', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    for (const [who, l] of both(['logs', '--details', 'la'])) assert.equal(l.stdout, 'REGION=eu,team=core hi\n', who);
    const logPath = d.berth(['inspect', '-f', '{{.LogPath}}', 'la']).stdout.trim();
    const entry = JSON.parse(readFileSync(logPath, 'utf8').trim()) as { attrs: Record<string, string> };
    assert.deepEqual(entry.attrs, { team: 'core', REGION: 'eu' }, 'json-file keeps them as dockerd does');
    d.berth(['rm', 'la']);
  });

  test('kill -s delivers the signal to a trap; names and numbers; bad signals', async () => {
    d.berth(['run', '-d', '--name', 'trapper', 'busybox', 'sh', '-c', 'trap "echo got-usr1" USR1; while true; do sleep 0.1; done']);
    await sleep(300);
    const sends: [string, string[]][] = [['berth', ['kill', '-s', 'SIGUSR1', 'trapper']], ['berth', ['kill', '-s', 'USR1', 'trapper']], ['berth', ['kill', '--signal', '10', 'trapper']]];
    if (hasDocker) sends.push(['docker', ['kill', '-s', 'usr1', 'trapper']]);
    for (const [who, args] of sends) {
      const r = who === 'berth' ? d.berth(args) : d.docker(args);
      assert.equal(r.stdout, 'trapper\n', who);
      await sleep(400); // the shell runs the trap between sleeps; signals sent together would merge
    }
    assert.equal(d.berth(['logs', 'trapper']).stdout, 'got-usr1\n'.repeat(sends.length));
    assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', 'trapper']).stdout, 'true\n');
    for (const sig of ['NOPE', '0']) {
      for (const [who, r] of both(['kill', '-s', sig, 'trapper'])) {
        assert.equal(r.code, 1, who);
        assert.equal(r.stderr, `Error response from daemon: Invalid signal: ${sig}\n`, who);
      }
    }
    const mixed = d.berth(['kill', 'trapper', 'nosuch']);
    assert.equal(mixed.code, 1);
    assert.equal(mixed.stdout, 'trapper\n', 'the others are still killed');
    assert.equal(mixed.stderr, 'Error response from daemon: No such container: nosuch\n');
    assert.equal(d.berth(['wait', 'trapper']).stdout, '137\n');
    d.berth(['rm', 'trapper']);
  });

  test('restart starts a stopped container (and an exited one) again; RestartCount stays 0', () => {
    d.berth(['run', '-d', '--name', 'rs', 'busybox', 'sleep', '300']);
    d.berth(['stop', '-t', '0', 'rs']);
    d.berth(['run', '--name', 'done', 'busybox', 'sh', '-c', 'echo ran; sleep 0.2; exit 4']);
    for (const [who, r] of both(['restart', '-t', '0', 'rs'])) {
      assert.equal(r.code, 0, `${who}: ${r.stderr}`);
      assert.equal(r.stdout, 'rs\n');
      assert.equal(d.berth(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'rs']).stdout, 'running 0\n', who);
    }
    for (const [who, r] of both(['restart', 'done'])) {
      assert.equal(r.stdout, 'done\n', who);
      assert.equal(d.berth(['wait', 'done']).stdout, '4\n');
    }
    assert.equal(d.berth(['logs', 'done']).stdout, 'ran\n'.repeat(hasDocker ? 3 : 2), 'each run appends to the same log');
    for (const [who, r] of both(['restart', 'nosuch'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n', who);
    }
    d.berth(['rm', '-f', 'rs', 'done']);
  });

  test('wait on several containers prints each exit code in order; a missing one fails at the end', () => {
    for (const [who, r] of ([['berth', 'b'], ['docker', 'd']] as const).filter(([w]) => w === 'berth' || hasDocker).map(([w, p]) => {
      d.berth(['run', '-d', '--name', `${p}slow`, 'busybox', 'sh', '-c', 'sleep 0.8; exit 4']);
      d.berth(['run', '-d', '--name', `${p}fast`, 'busybox', 'sh', '-c', 'sleep 0.2; exit 5']);
      d.berth(['run', '--name', `${p}gone`, 'busybox', 'sh', '-c', 'exit 6']);
      const args = ['wait', `${p}slow`, `${p}fast`, 'nosuch', `${p}gone`];
      return [w, w === 'berth' ? d.berth(args) : d.docker(args)] as const;
    })) {
      assert.equal(r.stdout, '4\n5\n6\n', who);
      assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n', who);
      assert.equal(r.code, 1, who);
    }
    d.berth(['rm', 'bslow', 'bfast', 'bgone']);
    if (hasDocker) d.berth(['rm', 'dslow', 'dfast', 'dgone']);
  });

  test('rename: the new name reaches the container (exec, logs, ps); bad renames get docker\'s wording', () => {
    d.berth(['run', '-d', '--name', 'before', 'busybox', 'sh', '-c', 'echo hi; exec sleep 300']);
    assert.equal(d.berth(['rename', 'before', 'after']).stdout, '');
    assert.equal(d.berth(['exec', 'after', 'echo', 'by-new-name']).stdout, 'by-new-name\n');
    assert.equal(d.berth(['logs', 'after']).stdout, 'hi\n');
    assert.equal(d.berth(['ps', '--format', '{{.Names}}', '-f', 'name=after']).stdout, 'after\n');
    const old = d.berth(['inspect', 'before']);
    assert.equal(old.code, 1);
    assert.equal(old.stderr, 'Error: No such object: before\n');
    if (hasDocker) {
      assert.equal(d.docker(['rename', 'after', 'again']).code, 0);
      assert.equal(d.docker(['exec', 'again', 'echo', 'ok']).stdout, 'ok\n');
      d.berth(['rename', 'again', 'after']);
    }
    const bad: [string[], string][] = [
      [['after', 'bad name'], 'Error response from daemon: Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\nError: failed to rename container named after\n'],
      [['after', 'after'], 'Error response from daemon: Renaming a container with the same name as its current name\nError: failed to rename container named after\n'],
      [['nosuch', 'x1'], 'Error response from daemon: No such container: nosuch\nError: failed to rename container named nosuch\n'],
      [['after', ''], 'Error: Neither old nor new names may be empty\n'],
    ];
    for (const [args, want] of bad) {
      for (const [who, r] of both(['rename', ...args])) {
        assert.equal(r.code, 1, who);
        assert.equal(r.stderr, want, `${who} rename ${args.join(' ')}`);
      }
    }
    d.berth(['rm', '-f', 'after']);
  });

  test('inspect --format on containers and images, with docker\'s template functions', () => {
    d.berth(['create', '--name', 'tpl', '-l', 'tier=web', '-e', 'A=1', 'busybox', 'sh', '-c', 'echo a > /dev/null && echo b']);
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'tpl']).stdout.trim();
    const img = d.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim();
    assert.match(img, /^sha256:[a-f0-9]{64}$/);
    const cases: [string[], string][] = [
      [['inspect', '-f', '{{.Name}} {{.State.Status}} {{index .Config.Labels "tier"}}', 'tpl'], '/tpl created web\n'],
      [['inspect', '-f', '{{json .Config.Cmd}}', 'tpl'], '["sh","-c","echo a > /dev/null && echo b"]\n'],
      [['inspect', '-f', '{{.Config.Cmd}}', 'tpl'], '[sh -c echo a > /dev/null && echo b]\n'],
      [['inspect', '-f', '{{join .Args "|"}}', 'tpl'], '-c|echo a > /dev/null && echo b\n'],
      [['inspect', '-f', '{{range .Config.Env}}{{if eq . "A=1"}}{{.}}{{end}}{{end}}', 'tpl'], 'A=1\n'],
      [['inspect', '-f', '{{upper .State.Status}} {{len .Args}} {{truncate .Id 12}}', 'tpl'], `CREATED 2 ${id.slice(0, 12)}\n`],
      [['inspect', '-f', '{{.Config.Labels}}', 'tpl'], 'map[tier:web]\n'],
      [['inspect', '--type', 'image', '-f', '{{.Id}} {{index .RepoTags 0}}', 'busybox'], `${img} busybox:latest\n`],
      [['image', 'inspect', '-f', '{{json .Config.Cmd}} {{.Os}}/{{.Architecture}}', 'busybox'], '["sh"] linux/amd64\n'],
      [['image', 'inspect', '-f', '{{len .RootFS.Layers}} {{.RootFS.Type}}', 'busybox'], '1 layers\n'],
    ];
    for (const [args, want] of cases) {
      for (const [who, r] of both(args)) {
        assert.equal(r.stdout, want, `${who} ${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.code, 0, who);
      }
    }
    for (const [who, r] of both(['inspect', '--format', 'json', 'tpl', 'busybox'])) {
      assert.equal(r.stdout.split('\n').length, 2, `${who}: one line`);
      const arr = JSON.parse(r.stdout) as { Id: string }[];
      assert.deepEqual(arr.map((o) => o.Id), [id, img], who);
      assert.ok(r.stdout.includes('> /dev/null && echo b'), `${who}: json is not HTML-escaped`);
    }
    for (const [who, r] of both(['inspect', '-f', '{{.Id}}', 'tpl', 'nosuch'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stdout, `${id}\n`, who);
      assert.equal(r.stderr, 'Error: No such object: nosuch\n', who);
    }
    for (const [who, r] of both(['image', 'inspect', 'nosuch'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stdout, '[]\n', who);
      assert.equal(r.stderr, 'Error response from daemon: No such image: nosuch:latest\n', who);
    }
    d.berth(['rm', 'tpl']);
  });

  test('start -a -i feeds stdin and returns the exit code; start -a of two is refused', () => {
    d.berth(['create', '-i', '--name', 'reader', 'busybox', 'sh', '-c', 'read x; echo "got $x"; echo to-err >&2; exit 2']);
    let n = 0;
    for (const [who, r] of both(['start', '-a', '-i', 'reader'], { input: 'hello\n' })) {
      n++;
      assert.equal(r.stdout, 'got hello\n', who);
      assert.equal(r.stderr, 'to-err\n', who);
      assert.equal(r.code, 2, who);
    }
    assert.equal(d.berth(['logs', 'reader']).stdout, 'got hello\n'.repeat(n));
    for (const [who, r] of both(['start', '-a', 'reader', 'sized'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, 'you cannot start and attach multiple containers at once\n', who);
    }
    for (const [who, r] of both(['start', 'nosuch'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\nError: failed to start containers: nosuch\n', who);
    }
    d.berth(['rm', 'reader']);
  });

  test('ctrl-p ctrl-q detaches attach and run -it, leaving the container running', () => {
    d.berth(['run', '-dit', '--name', 'detachable', 'busybox', 'sh']);
    const clients: [string, string][] = [['berth', `${BERTH} -H ${d.host}`]];
    if (hasDocker) clients.push(['docker', DOCKER as string]);
    for (const [who, cli] of clients) {
      const r = inPty(`${cli} attach detachable`, '\\020\\021', d.env);
      assert.match(r.stdout, /read escape sequence\r\nrc=1\r\n$/, `${who}: ${JSON.stringify(r.stdout)}`);
      assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', 'detachable']).stdout, 'true\n', who);
    }
    for (const [who, cli] of clients) {
      const r = inPty(`${cli} run -it --name ${who}-it busybox sh`, '\\020\\021', d.env);
      assert.match(r.stdout, /rc=0\r\n$/, `${who}: run -it returns at the detach: ${JSON.stringify(r.stdout)}`);
      assert.equal(d.berth(['inspect', '-f', '{{.State.Running}}', `${who}-it`]).stdout, 'true\n', who);
    }
    d.berth(['rm', '-f', 'detachable', 'berth-it', ...(hasDocker ? ['docker-it'] : [])]);
  });

  test('exec -d returns at once and the process runs on', async () => {
    for (const [who, r] of both(['exec', '-d', 'sized', 'sh', '-c', 'sleep 0.3; echo later >> /tmp/detached'])) {
      assert.equal(r.code, 0, who);
      assert.equal(r.stdout, '', who);
    }
    await sleep(800);
    assert.equal(d.berth(['exec', 'sized', 'cat', '/tmp/detached']).stdout, 'later\n'.repeat(hasDocker ? 2 : 1));
  });

  test('exec -u: uid:gid, names; an unknown user fails with 126', () => {
    for (const [who, r] of both(['exec', '-u', '1000:1000', 'sized', 'id'])) assert.equal(r.stdout, 'uid=1000 gid=1000\n', who);
    for (const [who, r] of both(['exec', '-u', 'nobody', 'sized', 'id', '-un'])) assert.equal(r.stdout, 'nobody\n', who);
    for (const [who, r] of both(['exec', '-u', 'nosuch', 'sized', 'id'])) {
      assert.match(r.stdout + r.stderr, /unable to find user nosuch: no matching entries in passwd file/, who);
      assert.equal(r.code, 126, who);
    }
  });

  test('exec --privileged gets every capability; a plain exec gets Docker\'s default set', () => {
    for (const [who, r] of both(['exec', 'sized', 'grep', 'CapEff', '/proc/self/status'])) assert.match(r.stdout, /CapEff:\s+00000000a80425fb/, who);
    // Every capability the host can grant: its own bounding set (moby's GetAllCapabilities).
    const hostBnd = (/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8')) as RegExpExecArray)[1];
    for (const [who, r] of both(['exec', '--privileged', 'sized', 'grep', 'CapEff', '/proc/self/status'])) assert.match(r.stdout, new RegExp(`CapEff:\\s+${hostBnd}`), `${who}: ${r.stdout}${r.stderr}`);
    for (const [who, r] of both(['run', '--rm', '--privileged', 'busybox', 'grep', 'CapEff', '/proc/self/status'])) assert.match(r.stdout, new RegExp(`CapEff:\\s+${hostBnd}`), `${who}: ${r.stdout}${r.stderr}`);
    const net = d.berth(['exec', 'sized', 'ip', 'link', 'set', 'lo', 'mtu', '1400']);
    assert.notEqual(net.code, 0, 'no CAP_NET_ADMIN without --privileged');
    assert.equal(d.berth(['exec', '--privileged', 'sized', 'ip', 'link', 'set', 'lo', 'mtu', '1400']).code, 0);
  });

  test('execs that fail to start, many in a row, leave the daemon serving', () => {
    for (let i = 0; i < 12; i++) {
      const r = d.berth(['exec', 'sized', 'no-such-binary']);
      assert.equal(r.code, 126, `exec ${i}: ${r.stderr}`);
      assert.match(r.stdout + r.stderr, /executable file not found in \$PATH/);
    }
    assert.equal(d.berth(['exec', 'sized', 'echo', 'alive']).stdout, 'alive\n');
  });

  test('run --entrypoint \'\' clears the image\'s entrypoint; without a command it is refused with 125', () => {
    assert.equal(d.berth(['import', '-c', 'ENTRYPOINT ["echo","from-entrypoint"]', busyboxTarPath(), 'withep:1']).code, 0);
    for (const [who, r] of both(['run', '--rm', 'withep:1', 'arg'])) assert.equal(r.stdout, 'from-entrypoint arg\n', who);
    for (const [who, r] of both(['run', '--rm', '--entrypoint', '', 'withep:1', 'echo', 'plain'])) assert.equal(r.stdout, 'plain\n', who);
    for (const [who, r] of both(['run', '--rm', '--entrypoint', '', 'withep:1'])) {
      assert.equal(r.code, 125, who);
      assert.match(r.stderr, /^(berth|docker): Error response from daemon: No command specified\n/, who);
    }
    assert.equal(d.berth(['ps', '-a', '-f', 'ancestor=withep:1', '--format', '{{.Names}}']).stdout, '', 'a refused create leaves no container');
  });

  test('run -w creates a missing workdir; a relative one is refused at create', () => {
    for (const [who, r] of both(['run', '--rm', '-w', `/made/by/${'x'}`, 'busybox', 'sh', '-c', 'pwd; stat -c %U:%a .'])) {
      assert.equal(r.stdout, '/made/by/x\nroot:755\n', `${who}: ${r.stderr}`);
    }
    for (const [who, r] of both(['run', '--rm', '-w', 'relative', 'busybox', 'pwd'])) {
      assert.equal(r.code, 125, who);
      assert.match(r.stderr, /Error response from daemon: the working directory 'relative' is invalid, it needs to be an absolute path/, who);
    }
  });

  test('--cidfile refuses an existing file before creating anything', () => {
    const cid = join(work, 'cid');
    writeFileSync(cid, 'stale');
    const before = d.berth(['ps', '-aq']).stdout;
    for (const [who, r] of both(['run', '--cidfile', cid, 'busybox', 'true'])) {
      assert.equal(r.code, 125, who);
      // docker 28 writes "container ID file found", berth (as older docker) "Container ID file found".
      assert.match(r.stderr, new RegExp(`^((berth|docker): )?[Cc]ontainer ID file found, make sure the other container isn't running or delete ${cid}\n`), who);
    }
    assert.equal(d.berth(['ps', '-aq']).stdout, before);
    rmSync(cid);
    assert.equal(d.berth(['create', '--cidfile', cid, '--name', 'cidc', 'busybox', 'true']).code, 0);
    assert.equal(d.berth(['inspect', '-f', '{{.Id}}', 'cidc']).stdout.trim(), (existsSync(cid) ? run('cat', [cid]).stdout : ''));
    d.berth(['rm', 'cidc']);
  });

  test('create --name with an invalid or taken name: docker\'s message, exit 1 (run: 125)', () => {
    for (const name of ['bad name', '-lead', 'a', 'x/y']) {
      for (const [who, r] of both(['create', '--name', name, 'busybox'])) {
        assert.equal(r.code, 1, who);
        assert.equal(r.stderr, `Error response from daemon: Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n`, `${who} ${name}`);
      }
    }
    for (const [who, r] of both(['run', '--name', 'bad name', 'busybox'])) {
      assert.equal(r.code, 125, who);
      assert.match(r.stderr, /Invalid container name \(bad name\)/, who);
    }
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'sized']).stdout.trim();
    for (const [who, r] of both(['create', '--name', 'sized', 'busybox'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, `Error response from daemon: Conflict. The container name "/sized" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.\n`, who);
    }
  });

  test('container prune --filter label / label! / until', () => {
    d.berth(['run', '--name', 'pk', '-l', 'keep=yes', 'busybox', 'true']);
    d.berth(['run', '--name', 'pd', '-l', 'keep=no', 'busybox', 'true']);
    d.berth(['run', '--name', 'pn', 'busybox', 'true']);
    const pd = d.berth(['inspect', '-f', '{{.Id}}', 'pd']).stdout.trim();
    const pn = d.berth(['inspect', '-f', '{{.Id}}', 'pn']).stdout.trim();
    assert.equal(d.berth(['container', 'prune', '-f', '--filter', 'label=keep=no']).stdout, `Deleted Containers:\n${pd}\n\nTotal reclaimed space: 0B\n`);
    assert.equal(d.berth(['ps', '-a', '-f', 'status=exited', '--format', '{{.Names}}']).stdout, 'pn\npk\n', 'only these are stopped');
    const notLabelled = hasDocker ? d.docker(['container', 'prune', '-f', '--filter', 'label!=keep']) : d.berth(['container', 'prune', '-f', '--filter', 'label!=keep']);
    assert.equal(notLabelled.stdout, `Deleted Containers:\n${pn}\n\nTotal reclaimed space: 0B\n`);
    for (const [who, r] of both(['container', 'prune', '-f', '--filter', 'until=1h'])) assert.equal(r.stdout, 'Total reclaimed space: 0B\n', `${who}: pk is younger than an hour`);
    for (const [who, r] of both(['container', 'prune', '-f', '--filter', 'bogus=1'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, "Error response from daemon: invalid filter 'bogus'\n", who);
    }
    assert.equal(d.berth(['ps', '-a', '--format', '{{.Names}}', '-f', 'name=^p']).stdout, 'pk\n');
    d.berth(['rm', 'pk']);
  });

  test('export through the docker CLI: a tar of the container filesystem', { skip: !hasDocker }, () => {
    d.berth(['run', '--name', 'exp', 'busybox', 'sh', '-c', 'mkdir /out && echo payload > /out/file']);
    const file = join(work, 'exp.tar');
    const r = d.docker(['export', '-o', file, 'exp']);
    assert.equal(r.code, 0, r.stderr);
    const list = run('tar', ['-tf', file]).stdout.split('\n');
    assert.ok(list.includes('out/file'), 'the new file');
    assert.ok(list.includes('bin/busybox'), 'the image layer below');
    assert.equal(run('tar', ['-xOf', file, 'out/file']).stdout, 'payload\n');
    const tty = d.docker(['export', 'nosuch']);
    assert.equal(tty.code, 1);
    assert.match(tty.stderr, /No such container: nosuch/);
    d.berth(['rm', 'exp']);
  });

  test('events --filter type= and event= through the docker CLI; --format json', () => {
    waitForNextSecond();
    const since = String(Math.floor(Date.now() / 1000));
    d.berth(['tag', 'busybox', 'evtag:1']);
    d.berth(['rmi', 'evtag:1']);
    d.berth(['run', '--rm', '--name', 'evc', 'busybox', 'true']);
    waitForNextSecond();
    const img = d.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox']).stdout.trim();
    for (const [who, r] of both(['events', '--since', since, '--until', '0s', '--filter', 'type=image', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}'])) {
      assert.equal(r.stdout, `image tag ${img} evtag:1\nimage untag ${img} evtag:1\n`, `${who}: ${r.stderr}`);
    }
    for (const [who, r] of both(['events', '--since', since, '--until', '0s', '--filter', 'type=container', '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}'])) {
      assert.equal(r.stdout, 'evc 0\n', who);
    }
    for (const [who, r] of both(['events', '--since', since, '--until', '0s', '--filter', 'container=evc', '--filter', 'event=destroy', '--format', 'json'])) {
      const e = JSON.parse(r.stdout) as { Type: string; Action: string; status: string; from: string; scope: string; Actor: { Attributes: Record<string, string> } };
      assert.equal(e.Type, 'container', who);
      assert.equal(e.Action, 'destroy', who);
      assert.equal(e.status, 'destroy', who);
      assert.equal(e.from, 'busybox', who);
      assert.equal(e.scope, 'local', who);
      assert.equal(e.Actor.Attributes.name, 'evc', who);
    }
    for (const [who, r] of both(['events', '--since', since, '--until', '0s', '--filter', 'bogus=1'])) {
      assert.equal(r.code, 1, who);
      assert.equal(r.stderr, "Error response from daemon: invalid filter 'bogus'\n", who);
    }
  });

  test('version and info through the docker CLI: the server\'s fields', { skip: !hasDocker }, () => {
    const v = d.docker(['version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Server: berth\n Engine:\n  Version:\s+0\.1\.0\n  API version:\s+1\.51 \(minimum version 1\.24\)\n/m);
    assert.match(v.stdout, /^  OS\/Arch:\s+linux\/amd64$/m);
    const f = d.docker(['version', '--format', '{{.Server.Os}} {{.Server.Arch}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}']);
    assert.match(f.stdout, /^linux amd64 1\.24 1\.\d+\n$/);
    const info = d.docker(['info']);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(info.stderr, '', 'no warnings');
    for (const re of [/^ Server Version: 0\.1\.0$/m, /^ Storage Driver: overlay2$/m, /^ Logging Driver: json-file$/m, /^ Cgroup Driver: cgroupfs$/m, /^ Default Runtime: runc$/m, /^ Init Binary: docker-init$/m, new RegExp(`^ Docker Root Dir: ${d.dataRoot}$`, 'm')]) {
      assert.match(info.stdout, re);
    }
    const running = d.berth(['ps', '-q']).stdout.split('\n').filter(Boolean).length;
    const total = d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length;
    const images = d.berth(['images', '-q']).stdout.split('\n').filter(Boolean).length;
    const fmt = '{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}} {{.Images}} {{.OSType}} {{.NCPU}}';
    const want = `${total} ${running} ${total - running} ${images} linux ${d.berth(['info', '-f', '{{.NCPU}}']).stdout.trim()}\n`;
    assert.equal(d.docker(['info', '--format', fmt]).stdout, want);
    assert.equal(d.berth(['info', '--format', fmt]).stdout, want);
  });
});
