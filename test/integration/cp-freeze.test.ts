// A running container is frozen (its cgroup freezer) while `cp` reads or
// writes its filesystem, as dockerd pauses it: none of its processes can swap
// a directory for a symlink between the daemon's resolving a path and using
// it (CVE-2018-15664). It is thawed after, however the copy ends (done, a bad
// tar, a client gone), and a container the user paused stays paused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar } from '../helpers/tar.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cp freezes a running container for its duration', () => {
  let d: TestDaemon;
  let out: string;

  before(async () => {
    d = await startSeededDaemon();
    out = mkdtempSync('/tmp/berth-cp-freeze-');
    // A counter the container advances every 20 ms, seen from the host through a bind.
    const r = d.berth(['run', '-d', '--name', 'ticker', '-v', `${out}:/out`, 'busybox', 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /out/n.new; mv /out/n.new /out/n; usleep 20000; done']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await d.destroy();
    rmSync(out, { recursive: true, force: true });
  });

  /** The container's freezer state as the kernel has it: FROZEN or THAWED. */
  const freezer = (): string => {
    const pid = d.berth(['inspect', '-f', '{{.State.Pid}}', 'ticker']).stdout.trim();
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('freezer'));
    if (v1) return readFileSync(join('/sys/fs/cgroup/freezer', v1.split(':')[2], 'freezer.state'), 'utf8').trim();
    const v2 = lines.find((l) => l.startsWith('0::')) as string;
    return readFileSync(join('/sys/fs/cgroup', v2.slice(3), 'cgroup.freeze'), 'utf8').trim() === '1' ? 'FROZEN' : 'THAWED';
  };
  const counter = () => Number(readFileSync(join(out, 'n'), 'utf8'));
  const status = () => d.berth(['inspect', '-f', '{{.State.Status}}', 'ticker']).stdout.trim();

  async function until(what: string, ok: () => boolean): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (ok()) return;
      await sleep(20);
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  /** The counter does not move for 300 ms (frozen) or does (running). */
  async function advances(): Promise<boolean> {
    const a = counter();
    await sleep(300);
    return counter() !== a;
  }

  function send(method: string, path: string): { req: ClientRequest; res: Promise<IncomingMessage> } {
    const req = request({ socketPath: d.socket, method, path, headers: { 'Content-Type': 'application/x-tar' } });
    const res = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    res.catch(() => {});
    return { req, res };
  }

  async function body(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  }

  test('a tar sent slowly: frozen while it is read, running after, the files there', async () => {
    assert.equal(freezer(), 'THAWED');
    assert.equal(await advances(), true, 'the counter runs before the copy');
    const tar = await makeTar([{ name: 'slow', type: 'directory' }, { name: 'slow/a', content: 'a'.repeat(100_000) }, { name: 'slow/b', content: 'b\n' }]);
    const { req, res } = send('PUT', '/containers/ticker/archive?path=/tmp');
    req.write(tar.subarray(0, 50_000));
    await until('the freeze', () => freezer() === 'FROZEN');
    assert.equal(await advances(), false, 'nothing in the container runs during the copy');
    assert.equal(status(), 'running', 'inspect shows no pause');
    req.end(tar.subarray(50_000));
    const r = await res;
    assert.equal(r.statusCode, 200, await body(r));
    await body(r);
    assert.equal(freezer(), 'THAWED');
    assert.equal(await advances(), true, 'the counter runs again');
    assert.equal(d.berth(['exec', 'ticker', 'cat', '/tmp/slow/b']).stdout, 'b\n');
  });

  test('a client gone half-way through its tar: thawed', async () => {
    const tar = await makeTar([{ name: 'gone', content: 'x'.repeat(200_000) }]);
    const { req, res } = send('PUT', '/containers/ticker/archive?path=/tmp');
    req.write(tar.subarray(0, 60_000));
    await until('the freeze', () => freezer() === 'FROZEN');
    req.destroy();
    await res.catch(() => {});
    await until('the thaw', () => freezer() === 'THAWED');
    assert.equal(await advances(), true);
    assert.equal(status(), 'running');
  });

  test('a hostile tar: a 400, and thawed', async () => {
    const tar = await makeTar([{ name: '../../escape', content: 'no\n' }]);
    const { req, res } = send('PUT', '/containers/ticker/archive?path=/tmp');
    req.end(tar);
    const r = await res;
    assert.equal(r.statusCode, 400);
    await body(r);
    assert.equal(freezer(), 'THAWED');
    assert.equal(await advances(), true);
  });

  test('a tar out that the client does not read: frozen until it is read, then thawed', async () => {
    writeFileSync(join(out, 'big'), Buffer.alloc(32 << 20, 1));
    const { req, res } = send('GET', '/containers/ticker/archive?path=/out/big');
    req.end();
    const r = await res;
    assert.equal(r.statusCode, 200);
    r.pause();
    await until('the freeze', () => freezer() === 'FROZEN');
    assert.equal(await advances(), false);
    let bytes = 0;
    for await (const c of r) bytes += (c as Buffer).length;
    assert.ok(bytes > 32 << 20, `the whole tar (${bytes} bytes)`);
    await until('the thaw', () => freezer() === 'THAWED');
    assert.equal(await advances(), true);
  });

  test('a tar out whose client goes away: thawed', async () => {
    const { req, res } = send('GET', '/containers/ticker/archive?path=/out/big');
    req.end();
    const r = await res;
    r.pause();
    await until('the freeze', () => freezer() === 'FROZEN');
    req.destroy();
    await until('the thaw', () => freezer() === 'THAWED');
    assert.equal(status(), 'running');
  });

  test('a paused container stays paused through a copy, and one unpaused during it runs after', async () => {
    assert.equal(d.berth(['pause', 'ticker']).code, 0);
    const tar = await makeTar([{ name: 'p1', content: 'p1\n' }]);
    let put = send('PUT', '/containers/ticker/archive?path=/tmp');
    put.req.end(tar);
    let r = await put.res;
    assert.equal(r.statusCode, 200, await body(r));
    assert.equal(freezer(), 'FROZEN');
    assert.equal(status(), 'paused');
    assert.equal(d.berth(['cp', 'ticker:/tmp/p1', join(out, 'p1')]).code, 0);
    assert.equal(freezer(), 'FROZEN', 'a copy out leaves it paused too');
    assert.equal(await advances(), false);

    // Unpaused while a copy holds it: it runs again once the copy is done.
    const slow = await makeTar([{ name: 'p2', content: 'p'.repeat(100_000) }]);
    put = send('PUT', '/containers/ticker/archive?path=/tmp');
    put.req.write(slow.subarray(0, 50_000));
    await sleep(200);
    assert.equal(d.berth(['unpause', 'ticker']).code, 0);
    assert.equal(status(), 'running');
    assert.equal(freezer(), 'FROZEN', 'the copy still holds it');
    put.req.end(slow.subarray(50_000));
    r = await put.res;
    assert.equal(r.statusCode, 200, await body(r));
    await until('the thaw', () => freezer() === 'THAWED');
    assert.equal(await advances(), true);
  });

  test('a stopped container: cp works and there is nothing to freeze', async () => {
    assert.equal(d.berth(['run', '--name', 'stopped', 'busybox', 'true']).code, 0);
    const tar = await makeTar([{ name: 's', content: 's\n' }]);
    const put = send('PUT', '/containers/stopped/archive?path=/');
    put.req.end(tar);
    const r = await put.res;
    assert.equal(r.statusCode, 200, await body(r));
    assert.equal(d.berth(['cp', 'stopped:/s', join(out, 's')]).code, 0);
    assert.equal(readFileSync(join(out, 's'), 'utf8'), 's\n');
  });
});
