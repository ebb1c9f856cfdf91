// `berth daemon --ui ADDR`: the daemon serves the dashboard itself, reaching
// its own API through its unix socket as any client does, behind the same
// guard as `berth ui` (a token the daemon logs, loopback only). No browser
// here: dashboard.test.ts drives the pages; this checks the daemon's side.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { BERTH, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('berth daemon --ui', () => {
  let d: TestDaemon;
  let url: URL;

  before(async () => {
    d = await startSeededDaemon(['--ui', '127.0.0.1:0']);
    const logged = /dashboard on (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)/.exec(d.log());
    assert.ok(logged, `the daemon logs the dashboard's address:\n${d.log().slice(-2000)}`);
    url = new URL(logged[1]);
  });

  after(async () => {
    await d?.destroy();
  });

  test('the logged address opens the dashboard, whose API is the daemon\'s own', async () => {
    const open = await get(url.href);
    assert.equal(open.status, 303, open.body);
    const cookie = String(open.headers['set-cookie']).split(';')[0];
    assert.match(cookie, /^berth-ui-token=/);
    const page = await get(`${url.origin}/`, { Cookie: cookie });
    assert.equal(page.status, 200);
    assert.match(page.body, /<script/);
    d.berth(['create', '--name', 'seen-by-ui', 'busybox', 'true']);
    const list = await get(`${url.origin}/api/v1.51/containers/json?all=1`, { Cookie: cookie });
    assert.equal(list.status, 200);
    assert.deepEqual((JSON.parse(list.body) as Array<{ Names: string[] }>).map((c) => c.Names[0]), ['/seen-by-ui']);
  });

  test('without the token nothing is served', async () => {
    const r = await get(`${url.origin}/api/v1.51/containers/json`);
    assert.equal(r.status, 403);
    assert.match(r.body, /missing or wrong token/);
    assert.equal((await get(`${url.origin}/`)).status, 403);
  });

  test('a non-loopback --ui address stops the daemon at start with a clear error', () => {
    const scratch = mkdtempSync('/tmp/bt-');
    try {
      const r = run(BERTH, ['daemon', '-H', `unix://${join(scratch, 's.sock')}`, '--ui', '0.0.0.0:0', '--data-root', join(scratch, 'd'), '--exec-root', join(scratch, 'x'), '--pidfile', join(scratch, 'pid')], { timeout: 60_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /cannot serve the dashboard on 0\.0\.0\.0:0: .*loopback/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
