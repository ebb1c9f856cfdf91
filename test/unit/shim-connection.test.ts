// The daemon's side of the shim protocol for an exec's shim: a shim that says
// it can (frame 10) is asked to start it (frame 9, the arguments
// NUL-separated); an older shim, which says nothing, is not. Healthcheck
// probes (frame 11) and their answers by id (frame 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { ShimConnection, shimArgs } from '../../src/runtime/shim.ts';

function frame(type: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** A fake shim: sends `features` (if any) to each client and answers frame 9 with `reply`, recording what it got. */
async function fakeShim(dir: string, features: string | undefined, reply: string): Promise<{ server: Server; got: { type: number; payload: string }[] }> {
  const got: { type: number; payload: string }[] = [];
  const server = createServer((s: Socket) => {
    if (features !== undefined) s.write(frame(10, features));
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const len = buf.readUInt32BE(1);
        got.push({ type: buf[0], payload: buf.subarray(5, 5 + len).toString() });
        if (buf[0] === 9) s.write(frame(4, reply));
        buf = buf.subarray(5 + len);
      }
    });
  });
  server.listen(join(dir, 'shim.sock'));
  await once(server, 'listening');
  return { server, got };
}

const opts = { id: 'c1', stateDir: '/run/x/e1', runtime: 'runc', runtimeArgs: ['--debug'], runtimeRoot: '/run/runtime', execProcess: '/run/x/e1/process.json', tty: false, stdin: true, removeStateDir: true };

test('a shim that says spawn-exec starts an exec shim on request', async () => {
  const dir = mkdtempSync('/tmp/berth-shimconn-');
  const { server, got } = await fakeShim(dir, 'spawn-exec', 'ok 0');
  try {
    const conn = await ShimConnection.connect(join(dir, 'shim.sock'));
    for (let i = 0; i < 100 && !conn.spawnsExecShims; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(conn.spawnsExecShims, true);
    assert.equal(await conn.spawnExecShim(opts), 0);
    assert.deepEqual(got, [{ type: 9, payload: shimArgs(opts).join('\0') }]);
    assert.deepEqual(shimArgs(opts), ['--id', 'c1', '--state-dir', '/run/x/e1', '--runtime', 'runc', '--runtime-root', '/run/runtime', '--runtime-arg', '--debug',
      '--exec-process', '/run/x/e1/process.json', '--remove-state-dir', '--stdin']);
    conn.close();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start-up error of the spawned shim rejects; an older shim is never asked', async () => {
  const dir = mkdtempSync('/tmp/berth-shimconn-');
  const failing = await fakeShim(dir, 'spawn-exec', 'error bad argument --x');
  try {
    const conn = await ShimConnection.connect(join(dir, 'shim.sock'));
    await assert.rejects(conn.spawnExecShim(opts), /^ShimError: bad argument --x$/);
    conn.close();
  } finally {
    failing.server.close();
  }
  const old = await fakeShim(dir, undefined, 'ok 0');
  try {
    const conn = await ShimConnection.connect(join(dir, 'shim.sock'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(conn.spawnsExecShims, false);
    conn.close();
  } finally {
    old.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probes (frame 11) are answered by id (frame 12), in any order; a lost shim answers the rest with an error', async () => {
  const dir = mkdtempSync('/tmp/berth-shimconn-');
  const got: string[] = [];
  const server = createServer((s: Socket) => {
    s.write(frame(10, 'spawn-exec probe'));
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        got.push(buf.subarray(5, 5 + buf.readUInt32BE(1)).toString());
        buf = buf.subarray(5 + buf.readUInt32BE(1));
      }
      if (got.length === 3) {
        // The second first, an id nobody asked for, then the first; the third never: the shim goes.
        s.write(Buffer.concat([frame(12, '2 timeout\n'), frame(12, '9 exit 0 0\n'), frame(12, '1 exit 3 1\nout\nerr\n')]));
        setTimeout(() => s.destroy(), 50);
      }
    });
  });
  server.listen(join(dir, 'shim.sock'));
  await once(server, 'listening');
  try {
    const conn = await ShimConnection.connect(join(dir, 'shim.sock'));
    for (let i = 0; i < 100 && !conn.runsProbes; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(conn.runsProbes, true);
    const spec = Buffer.from('{"args":["true"]}');
    const [a, b, c] = await Promise.all([conn.probe(spec, 1500), conn.probe(spec, 300.4), conn.probe(spec, 1000)]);
    assert.deepEqual(got, ['1 1500\n{"args":["true"]}', '2 300\n{"args":["true"]}', '3 1000\n{"args":["true"]}']);
    assert.deepEqual(a, { kind: 'exit', exitCode: 3, output: Buffer.from('out\nerr\n'), truncated: true });
    assert.deepEqual(b, { kind: 'timeout' });
    assert.deepEqual(c, { kind: 'error', message: 'shim connection closed' });
    conn.close();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
