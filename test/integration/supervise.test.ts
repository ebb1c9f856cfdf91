// Keeping the daemon alive: `berth daemon install` writes the systemd units,
// a socket-activated daemon serves the listening socket systemd passes it
// (driven here by systemd-socket-activate, as no systemd runs as PID 1), and
// without systemd the CLI's auto-start brings a killed daemon back.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, ROOT, TestDaemon, busyboxTarPath, run } from '../helpers/daemon.ts';
import { alive } from '../helpers/store-checks.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SOCKET_ACTIVATE = ['/usr/bin/systemd-socket-activate', '/bin/systemd-socket-activate'].find((p) => existsSync(p));


async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 400 && alive(pid); i++) await sleep(25);
  assert.ok(!alive(pid), `pid ${pid} still alive`);
}

/** Socket inodes a process holds open. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (l.startsWith('socket:')) out.add(l);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

describe('berth daemon install / uninstall', () => {
  const dir = mkdtempSync('/tmp/berth-units-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('writes a Restart=always service with the flags given, says how to enable it without systemd, and uninstall removes it', () => {
    const r = run(BERTH, ['daemon', 'install', '--unit-dir', dir, '--data-root', '/srv/berth data', '--log-level', 'debug']);
    assert.equal(r.code, 0, r.stderr);
    const unit = readFileSync(join(dir, 'berth.service'), 'utf8');
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^KillMode=process$/m);
    assert.match(unit, /^WantedBy=multi-user.target$/m);
    assert.equal(unit.match(/^ExecStart=(.*)$/m)?.[1], `${join(ROOT, 'dist/berth')} daemon --data-root "/srv/berth data" --log-level debug`);
    assert.ok(!existsSync(join(dir, 'berth.socket')));
    assert.match(r.stdout, /nothing was enabled/);
    assert.match(r.stdout, /systemctl daemon-reload && systemctl enable --now berth.service/);

    const u = run(BERTH, ['daemon', 'uninstall', '--unit-dir', dir]);
    assert.equal(u.code, 0, u.stderr);
    assert.deepEqual(readdirSync(dir), []);
    assert.match(run(BERTH, ['daemon', 'uninstall', '--unit-dir', dir]).stdout, /no berth units/);
  });

  test('--socket-activation adds berth.socket on the default socket and -H fd:// to the service', () => {
    const r = run(BERTH, ['daemon', 'install', '--socket-activation', '--unit-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const unit = readFileSync(join(dir, 'berth.service'), 'utf8');
    assert.equal(unit.match(/^ExecStart=(.*)$/m)?.[1], `${join(ROOT, 'dist/berth')} daemon -H fd://`);
    assert.match(unit, /^Requires=berth.socket$/m);
    const sock = readFileSync(join(dir, 'berth.socket'), 'utf8');
    assert.match(sock, /^ListenStream=\/run\/berth.sock$/m);
    assert.match(sock, /^WantedBy=sockets.target$/m);
    assert.match(r.stdout, /systemctl enable --now berth.service berth.socket/);
    assert.equal(run(BERTH, ['daemon', 'uninstall', '--unit-dir', dir]).code, 0);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a flag the daemon would refuse is refused at install, and nothing is written', () => {
    const r = run(BERTH, ['daemon', 'install', '--unit-dir', dir, '--no-such-flag']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^berth daemon install: .*--no-such-flag/);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('socket activation (-H fd://)', { skip: !SOCKET_ACTIVATE && 'systemd-socket-activate is not installed' }, () => {
  const d = new TestDaemon();
  let proc: ChildProcess | undefined;
  after(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc?.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    }
    await d.destroy();
  });

  test('the installed unit\'s command serves the socket systemd passes as fd 3, and containers run under it', async () => {
    const units = mkdtempSync('/tmp/berth-units-');
    const flags = ['--data-root', d.dataRoot, '--exec-root', d.execRoot, '--pidfile', join(d.dir, 'berth.pid')];
    assert.equal(run(BERTH, ['daemon', 'install', '--socket-activation', '--unit-dir', units, ...flags]).code, 0);
    const execStart = readFileSync(join(units, 'berth.service'), 'utf8').match(/^ExecStart=(.*)$/m)?.[1].split(' ') ?? [];
    rmSync(units, { recursive: true });
    // systemd-socket-activate binds the socket, waits for the first client, and
    // execs the command with LISTEN_FDS=1, LISTEN_PID=its pid and the socket as fd 3.
    proc = spawn(SOCKET_ACTIVATE!, ['-l', d.socket, '-E', 'PATH', '--', ...execStart], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr?.on('data', (c: Buffer) => { log += c; });
    for (let i = 0; i < 200 && !existsSync(d.socket); i++) await sleep(25);

    const v = d.berth(['version', '--format', '{{.Server.Os}}']);
    assert.equal(v.stdout, 'linux\n', v.stderr + log);
    const pid = Number(readFileSync(join(d.dir, 'berth.pid'), 'utf8'));
    assert.equal(pid, proc.pid, 'the daemon is the process systemd-socket-activate exec\'d');
    // The pipe is read between the (synchronous) CLI runs.
    for (let i = 0; i < 200 && !log.includes('API listen on fd 3'); i++) await sleep(25);
    assert.match(log, /API listen on fd 3 \(socket activation\)/);
    const listener = readlinkSync(`/proc/${pid}/fd/3`);

    d.seedBusybox();
    assert.equal(d.berth(['run', '-d', '--name', 'activated', 'busybox', 'sleep', '300']).code, 0);
    assert.equal(d.berth(['exec', 'activated', 'echo', 'hi']).stdout, 'hi\n');
    // The monitor must not inherit the listening socket: it would keep
    // accepting into the backlog after the daemon died.
    const shim = spawnSync('pgrep', ['-f', `berth-shim --id ${d.berth(['inspect', '-f', '{{.Id}}', 'activated']).stdout.trim()}`], { encoding: 'utf8' }).stdout.trim();
    assert.ok(shim, 'the container\'s shim runs');
    assert.ok(!socketInodes(Number(shim)).has(listener), 'the shim holds the daemon\'s listening socket');
  });

  test('-H fd:// without sockets from systemd fails at once with dockerd\'s message', () => {
    const r = run(BERTH, ['daemon', '-H', 'fd://', '--data-root', join(d.dir, 'other'), '--exec-root', join(d.dir, 'ox'), '--pidfile', join(d.dir, 'other.pid')], { timeout: 60_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no sockets found via socket activation: make sure the service was started by systemd/);
  });
});

describe('auto-start of the default daemon without systemd', () => {
  // A default daemon of its own: socket, config and log moved by the CLI's
  // BERTH_DEFAULT_SOCKET / BERTH_DAEMON_CONFIG / BERTH_DAEMON_LOG.
  const d = new TestDaemon();
  const pidfile = join(d.dir, 'berth.pid');
  const config = join(d.dir, 'daemon.json');
  writeFileSync(config, JSON.stringify({ 'data-root': d.dataRoot, 'exec-root': d.execRoot, pidfile }));
  // A warm CLI pool of its own (XDG_RUNTIME_DIR), so that the first command is served warm, by a resident process.
  const xdg = join(d.dir, 'xdg');
  mkdirSync(xdg, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_DEFAULT_SOCKET: d.socket, BERTH_DAEMON_CONFIG: config, BERTH_DAEMON_LOG: d.logFile, XDG_RUNTIME_DIR: xdg, BERTH_CLI_WARM_IDLE: '60' };
  delete env.DOCKER_HOST;
  delete env.BERTH_CLI_WARM;
  const cli = (args: string[]) => run(BERTH, args, { env, timeout: 120_000 });
  const daemonPid = () => Number(readFileSync(pidfile, 'utf8'));

  after(async () => {
    if (existsSync(pidfile) && alive(daemonPid())) {
      const pid = daemonPid();
      process.kill(pid, 'SIGTERM');
      await waitGone(pid);
    }
    await d.destroy();
  });

  test('the first command starts the daemon; after kill -9 the next one starts it again and it finds the running container', async () => {
    assert.ok(!existsSync(d.socket));
    // A key's second cold command starts its pool: two commands that need no daemon, then the pool's socket.
    cli(['--version']);
    cli(['--version']);
    const pool = join(xdg, 'berth-cli');
    for (let i = 0; i < 400 && !(existsSync(pool) && readdirSync(pool).some((n) => n.endsWith('.sock'))); i++) await sleep(25);
    const v = cli(['version', '--format', '{{.Server.Os}}']);
    assert.equal(v.stdout, 'linux\n', v.stderr + d.log());
    const first = daemonPid();
    assert.ok(alive(first));
    // The CLI process that started it does not stay its parent (a resident one would reap it only between commands).
    const parentIsCli = () => {
      const ppid = readFileSync(`/proc/${first}/status`, 'utf8').match(/^PPid:\s+(\d+)/m)?.[1];
      try { return readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes('cli.blob'); } catch { return false; }
    };
    for (let i = 0; i < 80 && parentIsCli(); i++) await sleep(25);
    assert.ok(!parentIsCli(), 'the daemon is still the child of the CLI process that started it');
    assert.equal(cli(['import', '--change', 'CMD ["sh"]', busyboxTarPath(), 'busybox:latest']).code, 0);
    assert.equal(cli(['run', '-d', '--name', 'survivor', 'busybox', 'sleep', '300']).code, 0);
    const cpid = cli(['inspect', '-f', '{{.State.Pid}}', 'survivor']).stdout.trim();

    process.kill(first, 'SIGKILL');
    await waitGone(first);
    // What a crash leaves: the socket file (refusing connections) and the pidfile.
    assert.ok(existsSync(d.socket) && existsSync(pidfile));

    const ps = cli(['ps', '--format', '{{.Names}} {{.State}}']);
    assert.equal(ps.stdout, 'survivor running\n', ps.stderr + d.log().slice(-2000));
    const second = daemonPid();
    assert.notEqual(second, first);
    assert.ok(alive(second));
    assert.equal(cli(['inspect', '-f', '{{.State.Pid}}', 'survivor']).stdout.trim(), cpid);
    assert.equal(cli(['exec', 'survivor', 'echo', 'still here']).stdout, 'still here\n');
    assert.equal(cli(['rm', '-f', 'survivor']).code, 0);
  });

  test('commands racing to start a dead daemon start exactly one', async () => {
    const before = daemonPid();
    process.kill(before, 'SIGKILL');
    await waitGone(before);
    const runs = await Promise.all(Array.from({ length: 4 }, () => new Promise<number>((resolve) => {
      const p = spawn(BERTH, ['version', '--format', '{{.Server.Os}}'], { env, stdio: 'ignore' });
      p.on('exit', (code) => resolve(code ?? -1));
    })));
    assert.deepEqual(runs, [0, 0, 0, 0]);
    // The losers give up on the lock, once they have started far enough to try.
    let daemons: string[] = [];
    for (let i = 0; i < 200; i++) {
      daemons = spawnSync('pgrep', ['-f', '--', `--config-file ${config}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
      if (daemons.length <= 1) break;
      await sleep(50);
    }
    assert.equal(daemons.length, 1, `daemons running: ${daemons.join(' ')}\n${d.log().slice(-2000)}`);
    assert.equal(Number(daemons[0]), daemonPid());
  });
});
