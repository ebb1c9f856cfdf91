// Detaching from a tty container: the detach sequence (ctrl-p ctrl-q, or
// --detach-keys, or config.json's detachKeys) ends the client, which exits 0,
// and the container runs on. The clients run on a pseudo-terminal made here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

/** Runs argv on a pty, types a command, then `keys`; answers whether the client exited (and how) and what it showed. */
const PTY = `
import os, pty, sys, time, select
keys = bytes.fromhex(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try: out += os.read(fd, 4096)
            except OSError: return
pump(2.0)
os.write(fd, b'echo typed-here\\r'); pump(1.0)
os.write(fd, keys)
end = time.time() + 10
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done: break
    pump(0.2)
print('exit=%s' % (os.waitstatus_to_exitcode(status) if done else 'none'))
print(out.decode('utf8', 'replace'))
if not done: os.kill(pid, 9)
`;

describe('detach keys', () => {
  let d: TestDaemon;
  let cfg: string;
  before(async () => {
    d = await startSeededDaemon();
    cfg = mkdtempSync('/tmp/berth-detach-');
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ detachKeys: 'ctrl-a,a' }));
  });
  after(async () => {
    rmSync(cfg, { recursive: true, force: true });
    await d.destroy();
  });

  const onPty = (keys: string, argv: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync('python3', ['-c', PTY, Buffer.from(keys, 'latin1').toString('hex'), ...argv], { encoding: 'utf8', env: { ...d.env, ...env }, timeout: 60_000 }).stdout;
  const running = (name: string) => d.berth(['inspect', '-f', '{{.State.Running}}', name]).stdout.trim();

  test('ctrl-p ctrl-q detaches berth run -it (status 0) and berth attach (status 1, as docker\'s); the container runs on', () => {
    const out = onPty('\x10\x11', [BERTH, 'run', '-it', '--name', 'tty1', 'busybox', 'sh']);
    assert.match(out, /^exit=0\n/, out);
    assert.match(out, /typed-here/);
    assert.equal(running('tty1'), 'true');
    // As the docker CLI's attach: the detach is reported, with status 1.
    const again = onPty('\x10\x11', [BERTH, 'attach', 'tty1']);
    assert.match(again, /^exit=1\n[^]*read escape sequence/, again);
    assert.equal(running('tty1'), 'true');
  });

  test('--detach-keys, and config.json\'s detachKeys when the flag is absent', () => {
    const flag = onPty('\x18y', [BERTH, 'run', '-it', '--detach-keys', 'ctrl-x,y', '--name', 'tty2', 'busybox', 'sh']);
    assert.match(flag, /^exit=0\n/, flag);
    const conf = onPty('\x01a', [BERTH, 'run', '-it', '--name', 'tty3', 'busybox', 'sh'], { DOCKER_CONFIG: cfg });
    assert.match(conf, /^exit=0\n/, conf);
    assert.equal(running('tty2') + running('tty3'), 'truetrue');
  });

  test('the docker CLI detaches the same way', { skip: !DOCKER && 'no docker CLI' }, () => {
    const out = onPty('\x10\x11', [DOCKER as string, 'run', '-it', '--name', 'tty4', 'busybox', 'sh']);
    assert.match(out, /^exit=0\n/, out);
    assert.equal(running('tty4'), 'true');
  });
});
