// A daemon stopped while it is still starting: the bridge and chains its start
// made go with it (SIGTERM before the API listens used to end the process with
// them left behind, one leaked bridge per test run), also for daemons starting
// side by side; while a daemon killed with kill -9 leaves them, with its
// running containers, to its next start.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { TestDaemon, startSeededDaemon } from '../helpers/daemon.ts';
import { chainTag, httpd, ruleLines, until } from '../helpers/network.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bridgeOf(d: TestDaemon): string {
  return `berth-${chainTag(d).slice('BERTH-'.length)}`;
}

/** Polls every few ms until `fn` holds; false if the process exits or time runs out first. */
async function whileAlive(p: ChildProcess, fn: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (p.exitCode === null && p.signalCode === null && Date.now() < deadline) {
    if (fn()) return true;
    await sleep(3);
  }
  return false;
}

function exitOf(p: ChildProcess): Promise<string> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(`${p.exitCode ?? p.signalCode}`);
  return new Promise((r) => p.once('exit', (code, sig) => r(`${code ?? sig}`)));
}

/** Starts a daemon, sends SIGTERM once `when` holds during its start, and checks it left nothing behind. */
async function stopDuringStart(when: (d: TestDaemon) => boolean, what: string): Promise<void> {
  const d = new TestDaemon();
  try {
    const p = d.launch();
    const exited = exitOf(p);
    assert.ok(await whileAlive(p, () => when(d)), `${what} during the start: ${d.log()}`);
    const listening = existsSync(d.socket);
    p.kill('SIGTERM');
    assert.equal(await exited, '0', `a SIGTERM ends the start cleanly (socket up: ${listening}): ${d.log()}`);
    assert.equal(existsSync(`/sys/class/net/${bridgeOf(d)}`), false, `no bridge left (signal at: ${what}, socket up: ${listening})`);
    assert.deepEqual(ruleLines(chainTag(d)), [], 'no chain or jump left');
    assert.equal(existsSync(join(d.dir, 'berth.pid')), false, 'no pidfile left');
  } finally {
    await d.stop();
    await d.destroy();
  }
}

const hasBridge = (d: TestDaemon) => existsSync(`/sys/class/net/${bridgeOf(d)}`);
const hasChains = (d: TestDaemon) => ruleLines(chainTag(d)).some((l) => l.startsWith(':'));

describe('a daemon stopped during its start-up', () => {
  test('SIGTERM once its bridge exists: bridge, chains and pidfile are gone after it exits', async () => {
    await stopDuringStart(hasBridge, 'bridge made');
  });

  test('SIGTERM once its chains exist', async () => {
    await stopDuringStart(hasChains, 'chains made');
  });

  test('three daemons starting at once, each stopped at a different point of its start', async () => {
    await Promise.all([
      stopDuringStart(hasBridge, 'bridge made'),
      stopDuringStart(hasChains, 'chains made'),
      stopDuringStart((d) => existsSync(d.socket), 'socket made'),
    ]);
  });

  test('kill -9 leaves the bridge to the running container; a restart stopped during its start keeps it too', async () => {
    const d = await startSeededDaemon();
    try {
      httpd(d, 'keeper', 'kept');
      const ip = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'keeper']).stdout.trim();
      await d.crash();
      assert.ok(existsSync(`/sys/class/net/${bridgeOf(d)}`), 'kill -9 leaves the bridge, by design');
      // The restart is stopped as soon as it handles SIGTERM, while it restores.
      const p = d.launch();
      const exited = exitOf(p);
      const caught = () => {
        try {
          const m = /SigCgt:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
          return m !== null && (BigInt(`0x${m[1]}`) & (1n << 14n)) !== 0n;
        } catch {
          return false;
        }
      };
      await whileAlive(p, caught);
      p.kill('SIGTERM');
      await exited;
      assert.ok(existsSync(`/sys/class/net/${bridgeOf(d)}`), 'a running container keeps its bridge');
      await d.start();
      const r = d.berth(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${ip}/`]);
      assert.equal(r.stdout, 'kept\n', r.stderr);
      d.berth(['rm', '-f', 'keeper']);
      await d.stop();
      await until(() => !existsSync(`/sys/class/net/${bridgeOf(d)}`));
      assert.deepEqual(ruleLines(chainTag(d)), [], 'a clean stop with nothing running removes its chains');
    } finally {
      await d.destroy();
    }
  });
});
