// `berth compose watch`: develop.watch's sync, sync+restart and rebuild acted
// on as files change, on a real daemon with real containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Stops at once on SIGTERM, so a restart or a recreate takes no grace period.
const LOOP = 'trap "exit 0" TERM; while :; do sleep 1; done';

describe('compose watch', () => {
  let d: TestDaemon;
  let dir: string;
  let watcher: ChildProcess;
  let out = '';
  const exec = (svc: string, script: string) => d.berth(['compose', '--project-directory', dir, '-p', 'wt', 'exec', '-T', svc, 'sh', '-c', script]).stdout;

  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bt-cwatch-');
    for (const sub of ['src', 'conf', 'ctx', 'hooks', 'seed']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'seed', 'start.txt'), 'there from the start\n');
    writeFileSync(join(dir, 'seed', 'left.skip'), 'ignored\n');
    mkdirSync(join(dir, 'seed', 'cache'));
    writeFileSync(join(dir, 'seed', 'cache', 'big'), 'ignored with its directory\n');
    writeFileSync(join(dir, 'ctx', 'msg'), 'v1\n');
    writeFileSync(join(dir, 'ctx', 'Dockerfile'), `FROM busybox\nCOPY msg /msg\nCMD ["sh", "-c", ${JSON.stringify(LOOP)}]\n`);
    writeFileSync(join(dir, 'compose.yaml'), [
      'services:',
      '  web:',
      '    image: busybox',
      `    command: ["sh", "-c", ${JSON.stringify(LOOP)}]`,
      '    develop:',
      '      watch:',
      '        - { path: ./src, action: sync, target: /app, ignore: ["*.tmp"] }',
      '        - { path: ./conf, action: sync+restart, target: /etc/app }',
      '        - path: ./hooks',
      '          action: sync+exec',
      '          target: /hooks',
      '          exec: { command: "sh -c \'cat /hooks/* > /tmp/ran; echo $$MARK >> /tmp/ran\'", environment: { MARK: hooked } }',
      '        - { path: ./seed, action: sync, target: /seed, initial_sync: true, ignore: ["*.skip", cache] }',
      '  built:',
      '    build: ./ctx',
      '    develop:',
      '      watch:',
      '        - { path: ./ctx, action: rebuild }',
      '',
    ].join('\n'));
    watcher = spawn(BERTH, ['-H', d.host, 'compose', '-p', 'wt', 'watch', '--quiet'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    watcher.stdout?.on('data', (c: Buffer) => { out += c; });
    watcher.stderr?.on('data', () => {});
    await until('Watch enabled', () => out.includes('Watch enabled\n'), 120_000);
  });
  after(async () => {
    if (watcher.exitCode === null) watcher.kill('SIGKILL');
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('watch first brings the services up, the watched build built', () => {
    assert.equal(out, 'Watch enabled\n');
    assert.equal(exec('built', 'cat /msg'), 'v1\n');
    assert.equal(d.berth(['inspect', '-f', '{{.State.Status}}', 'wt-web-1']).stdout, 'running\n');
  });

  test('sync: new files and directories are copied to the target, ignored ones are not, deleted ones are deleted', async () => {
    writeFileSync(join(dir, 'src', 'hello.txt'), 'hello\n');
    mkdirSync(join(dir, 'src', 'sub'));
    writeFileSync(join(dir, 'src', 'sub', 'deep.txt'), 'deep\n');
    writeFileSync(join(dir, 'src', 'scratch.tmp'), 'no\n');
    await until('the files in the container', () => exec('web', 'cat /app/hello.txt /app/sub/deep.txt 2>/dev/null') === 'hello\ndeep\n');
    assert.equal(exec('web', 'ls /app'), 'hello.txt\nsub\n');
    await until('the sync line', () => /^Syncing service "web" after \d+ changes were detected$/m.test(out));
    unlinkSync(join(dir, 'src', 'hello.txt'));
    await until('the deletion in the container', () => exec('web', 'ls /app') === 'sub\n');
  });

  test('sync+restart: the file is synced and the service restarted', async () => {
    const started = d.berth(['inspect', '-f', '{{.State.StartedAt}}', 'wt-web-1']).stdout;
    // Written beside and renamed in: one whole file appears at once, so a loaded machine cannot split the
    // create and the write into two batches (two restarts, an exec landing between them).
    writeFileSync(join(dir, 'app.conf.new'), 'level=debug\n');
    renameSync(join(dir, 'app.conf.new'), join(dir, 'conf', 'app.conf'));
    await until('the restart', () => out.includes('service(s) ["web"] restarted\n'));
    await until('a new start', () => d.berth(['inspect', '-f', '{{.State.StartedAt}}', 'wt-web-1']).stdout !== started);
    await until('the container running again', () => d.berth(['inspect', '-f', '{{.State.Status}}', 'wt-web-1']).stdout === 'running\n');
    assert.equal(exec('web', 'cat /etc/app/app.conf'), 'level=debug\n');
    // Files synced before the restart are still there: it is the same container.
    const deep = d.berth(['compose', '--project-directory', dir, '-p', 'wt', 'exec', '-T', 'web', 'cat', '/app/sub/deep.txt']);
    assert.equal(deep.stdout, 'deep\n', `${deep.stderr}\nwatch said:\n${out}`);
  });

  test('initial_sync copies the path once at the start, less what its ignore names; sync+exec runs the hook after the sync', async () => {
    assert.equal(exec('web', 'cat /seed/start.txt'), 'there from the start\n');
    assert.equal(exec('web', 'ls -A /seed'), 'start.txt\n');
    writeFileSync(join(dir, 'hooks', 'a'), 'hook input\n');
    await until('the hook\'s output', () => exec('web', 'cat /tmp/ran 2>/dev/null') === 'hook input\nhooked\n');
  });

  test('rebuild: the image is built again, the service\'s container replaced by one of it, and the old image pruned', async () => {
    const before = d.berth(['inspect', '-f', '{{.Id}}', 'wt-built-1']).stdout;
    const oldImage = d.berth(['inspect', '-f', '{{.Image}}', 'wt-built-1']).stdout.trim();
    writeFileSync(join(dir, 'ctx', 'msg'), 'v2\n');
    await until('the rebuild', () => out.includes('service(s) ["built"] successfully built\n'));
    assert.match(out, /^Rebuilding service\(s\) \["built"\] after changes were detected\.\.\.$/m);
    await until('the new container', () => {
      const now = d.berth(['inspect', '-f', '{{.Id}} {{.State.Status}}', 'wt-built-1']).stdout;
      return now !== '' && !now.startsWith(before.trim()) && now.endsWith('running\n');
    });
    assert.equal(exec('built', 'cat /msg'), 'v2\n');
    // --prune is on by default: the image the service ran before, now untagged, is gone.
    assert.match(oldImage, /^sha256:[0-9a-f]{64}$/);
    await until('the old image pruned', () => d.berth(['image', 'inspect', oldImage]).code !== 0);
  });

  test('an interrupt ends the watch', async () => {
    const exited = new Promise<number | null>((resolve) => watcher.on('close', (code) => resolve(code)));
    watcher.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /Watch disabled\n$/);
  });

  test('a project without develop.watch cannot be watched', () => {
    const plain = mkdtempSync('/tmp/bt-cwatch-plain-');
    try {
      writeFileSync(join(plain, 'compose.yaml'), 'services:\n  a:\n    image: busybox\n');
      const r = d.berth(['compose', '--project-directory', plain, 'watch']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "none of the selected services is configured for watch, consider setting a 'develop' section\n");
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });
});
