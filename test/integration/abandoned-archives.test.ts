// A client that asks for a container's tar (export) and goes away
// without reading it must not leave the daemon holding the files it was
// reading: a file handle left to the garbage collector ends the daemon
// (Node throws on it), as dockerode's test suite found.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Files under `dir` the process holds open. */
function openUnder(pid: number, dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (l.startsWith(dir)) out.push(l);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** Sends a GET, reads the first bytes of the answer, then drops the connection. */
async function abandon(socket: string, path: string): Promise<void> {
  const s = connect(socket);
  s.write(`GET ${path} HTTP/1.1\r\nHost: berth\r\n\r\n`);
  await new Promise<void>((resolve) => s.once('data', () => resolve()));
  s.pause();
  await sleep(300); // the daemon fills the socket and waits for it to drain
  s.destroy();
}

describe('abandoned archive downloads', () => {
  let d: TestDaemon;
  let pid: number;
  before(async () => {
    d = await startSeededDaemon();
    // Files big enough that the tar cannot fit the socket buffers at once.
    d.berth(['run', '-d', '--name', 'big', 'busybox', 'sh', '-c', 'for i in 1 2 3 4; do head -c 8000000 /dev/urandom > /big$i; done; sleep 600']);
    for (let i = 0; i < 100 && d.berth(['exec', 'big', 'ls', '/big4']).code !== 0; i++) await sleep(100);
    await sleep(1500); // /big4 exists; let it be written in full
    pid = Number(readFileSync(join(d.dir, 'berth.pid'), 'utf8'));
  });
  after(async () => { await d.destroy(); });

  for (const path of ['/containers/big/export']) {
    test(`GET ${path} dropped half-way closes every file it opened, and the daemon carries on`, async () => {
      await abandon(d.socket, path);
      let open: string[] = [];
      for (let i = 0; i < 50; i++) {
        open = openUnder(pid, d.execRoot).concat(openUnder(pid, d.dataRoot)).filter((f) => !f.endsWith('-json.log'));
        if (!open.length) break;
        await sleep(100);
      }
      assert.deepEqual(open, []);
      assert.equal(d.berth(['exec', 'big', 'echo', 'alive']).stdout, 'alive\n');
    });
  }
});
