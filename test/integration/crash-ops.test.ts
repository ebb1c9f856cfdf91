// kill -9 of the daemon at random moments of the operations crash.test.ts
// does not cover — pull, build, commit, network create/connect/disconnect/rm —
// next to run and rm, all under way at once. After each restart: no
// half-written image or container is visible, no layer or blob is lost (every
// image inspects, has its content and runs), no temp file or mount is left,
// and every interrupted operation succeeds when repeated.
// The kill moments come from a seed printed as a diagnostic; CRASH_SEED=<n> replays them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { chainIds, checkAfterRestart, checkImages } from '../helpers/store-checks.ts';
import { startRegistry, type Registry } from '../registry/helpers.ts';
import { runAsync } from '../helpers/registries.ts';
import { prng } from '../helpers/seeded.ts';

const ROUNDS = 20;
/** Rounds stop starting after this much time, so the file stays within a few minutes. */
const BUDGET_MS = 240_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 during pull, build, commit, network operations, run and rm', () => {
  let d: TestDaemon;
  let reg: Registry;
  let work: string;
  let app: string;
  const INNER = 'trap "exit 3" TERM; sleep 300 & wait';
  const LONG = `sh -c '${INNER}'`;

  before(async () => {
    d = await startSeededDaemon();
    reg = await startRegistry();
    work = mkdtempSync('/tmp/berth-crashops-');
    // The image to pull: two layers of a few MB on busybox, pushed from this daemon.
    app = `${reg.host}/crash/app:1`;
    mkdirSync(join(work, 'app'));
    writeFileSync(join(work, 'app', 'Dockerfile'), 'FROM busybox\nRUN head -c 3000000 /dev/urandom > /big1\nRUN head -c 3000000 /dev/urandom > /big2\n');
    let r = d.berth(['build', '-q', '-t', app, join(work, 'app')], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    r = d.berth(['push', app], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(d.berth(['rmi', app]).code, 0);
    // The context built each round: a COPY and a RUN that writes a layer.
    mkdirSync(join(work, 'ctx'));
    writeFileSync(join(work, 'ctx', 'f'), 'from the context\n');
    writeFileSync(join(work, 'ctx', 'Dockerfile'), 'FROM busybox\nCOPY f /f\nRUN head -c 1000000 /dev/urandom > /big && date > /when\nCMD ["cat", "/f"]\n');
  });
  after(async () => {
    // The registry goes even when destroy reports a leak, or it would keep the test process alive.
    try {
      await d?.destroy();
    } finally {
      await reg?.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  /** One client per operation, each a bounded loop in its own process group, its output kept. */
  function startClients(round: number, commitSrc: string, netC: string): ChildProcess[] {
    const b = `${BERTH} -H ${d.host}`;
    const scripts: Record<string, string> = {
      run: `for i in $(seq 1 20); do ${b} run -d busybox ${LONG}; ${b} run --rm busybox echo hi; done`,
      rm: `for i in $(seq 1 20); do id=$(${b} create busybox ${LONG}) && ${b} start "$id" && ${b} rm -f "$id"; done`,
      pull: `for i in $(seq 1 10); do ${b} rmi -f ${app}; ${b} pull -q ${app}; done`,
      build: `for i in $(seq 1 5); do ${b} build -q --no-cache -t built:r${round}i$i ${join(work, 'ctx')}; done`,
      commit: `for i in $(seq 1 10); do ${b} commit ${commitSrc} committed:r${round}i$i; sleep 0.2; done`,
      network: `for i in $(seq 1 10); do n=n${round}-$i; ${b} network create $n && ${b} network connect $n ${netC} && ${b} network disconnect $n ${netC} && ${b} network rm $n; done`,
    };
    return Object.entries(scripts).map(([name, s]) => spawn('bash', ['-c', `${s} >${join(work, `${name}-${round}.out`)} 2>&1`], { detached: true, stdio: 'ignore' }));
  }

  async function killClients(clients: ChildProcess[]): Promise<void> {
    await Promise.all(clients.map(async (c) => {
      const gone = c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
      try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* already gone */ }
      await gone;
    }));
  }

  function ok(args: string[], what: string, timeout = 120_000): string {
    const r = d.berth(args, { timeout });
    assert.equal(r.code, 0, `${what}: berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  function bridgesOf(ids: string[]): string[] {
    return ids.map((id) => `br-${id.slice(0, 12)}`).filter((b) => existsSync(`/sys/class/net/${b}`));
  }

  async function checkRound(round: number): Promise<string> {
    assert.equal(d.berth(['version']).code, 0, 'the daemon answers');
    // Images: none half-written, none missing content, each one runs.
    const imgs = checkImages(d, round);
    const runs = await Promise.all(imgs.map((img) => runAsync(BERTH, ['-H', d.host, 'run', '--rm', img.Id, 'true'], { timeoutMs: 60_000 })));
    runs.forEach((r, i) => assert.equal(r.code, 0, `image ${imgs[i].Id} ${imgs[i].RepoTags} runs: ${r.stderr}`));
    // Networks: every listed one inspects.
    const nets = ok(['network', 'ls', '-q', '--no-trunc'], 'network ls').split('\n').filter(Boolean);
    ok(['network', 'inspect', ...nets], 'inspect of every listed network');
    const commitSrc = `commitsrc-${round}`;
    const netC = `netc-${round}`;
    // The commit source is left as it was: running, not paused.
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', commitSrc], 'commit source'), 'running\n', 'the commit source runs, unpaused');

    // Every interrupted operation succeeds again.
    assert.equal(ok(['run', '--rm', 'busybox', 'echo', 'again'], 'run'), 'again\n');
    const id = ok(['create', 'busybox', 'true'], 'create').trim();
    ok(['rm', '-f', id], 'rm');
    ok(['pull', '-q', app], 'pull');
    assert.equal(ok(['run', '--rm', app, 'sh', '-c', 'wc -c < /big1; wc -c < /big2'], 'run the pulled image'), '3000000\n3000000\n');
    ok(['build', '-q', '--no-cache', '-t', 'built:again', join(work, 'ctx')], 'build');
    assert.equal(ok(['run', '--rm', 'built:again'], 'run the built image'), 'from the context\n');
    ok(['commit', commitSrc, 'committed:again'], 'commit');
    assert.equal(ok(['run', '--rm', 'committed:again', 'cat', '/changed'], 'run the committed image'), 'changed\n');
    const n = `again-${round}`;
    ok(['network', 'create', n], 'network create');
    ok(['network', 'connect', n, netC], 'network connect');
    ok(['network', 'disconnect', n, netC], 'network disconnect');
    ok(['network', 'rm', n], 'network rm');

    // Everything goes, and then nothing is left: containers, mounts, temp files (crash.test.ts's checks)…
    const summary = await checkAfterRestart(d, round);
    // …networks and their bridges…
    const created = [...nets, ...readFileSync(join(work, `network-${round}.out`), 'utf8').split('\n').filter((l) => /^[a-f0-9]{64}$/.test(l))];
    const mine = ok(['network', 'ls', '-q', '--no-trunc', '--filter', 'type=custom'], 'network ls').split('\n').filter(Boolean);
    if (mine.length) ok(['network', 'rm', ...mine], 'network rm of all');
    assert.deepEqual(bridgesOf(created), [], 'no bridge of a removed network is left');
    // …and images: once all but busybox are removed, only busybox's layers stay.
    // Children before parents: each pass removes what nothing depends on.
    for (let pass = 0; pass < 10; pass++) {
      const others = checkImages(d, round).filter((i) => !i.RepoTags.includes('busybox:latest')).map((i) => i.Id);
      if (!others.length) break;
      for (const id of others) d.berth(['rmi', '-f', id]);
    }
    const left = checkImages(d, round);
    assert.deepEqual(left.map((i) => i.RepoTags), [['busybox:latest']], 'only busybox is left');
    const metaDir = join(d.dataRoot, 'overlay2', 'metadata');
    const keys = readdirSync(metaDir).filter((f) => f.endsWith('.json')).map((f) => (JSON.parse(readFileSync(join(metaDir, f), 'utf8')) as { key: string }).key);
    assert.deepEqual(keys.sort(), chainIds(left[0].RootFS.Layers ?? []).sort(), 'only busybox\'s layers are left');
    return `${imgs.length} images, ${nets.length} networks after restart; ${summary}`;
  }

  test('the store stays consistent across kill -9 at random moments of each operation', async (t) => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    t.diagnostic(`seed ${seed} (CRASH_SEED=${seed} replays these kill moments)`);
    const rand = prng(seed);
    const t0 = Date.now();
    let rounds = 0;
    for (let round = 1; round <= ROUNDS && Date.now() - t0 < BUDGET_MS; round++) {
      const delay = 100 + Math.floor(rand() * 2400);
      ok(['run', '-d', '--name', `commitsrc-${round}`, 'busybox', 'sh', '-c', `echo changed > /changed; ${INNER}`], 'commit source');
      ok(['run', '-d', '--name', `netc-${round}`, 'busybox', 'sh', '-c', INNER], 'network container');
      const clients = startClients(round, `commitsrc-${round}`, `netc-${round}`);
      await sleep(delay);
      await d.crash();
      await killClients(clients);
      await d.start();
      try {
        t.diagnostic(`round ${round}: crash after ${delay} ms; ${await checkRound(round)}`);
      } catch (err) {
        const outs = readdirSync(work).filter((f) => f.endsWith(`-${round}.out`)).map((f) => `--- ${f}: ${readFileSync(join(work, f), 'utf8').slice(-600)}`).join('\n');
        (err as Error).message = `round ${round} (seed ${seed}, crash after ${delay} ms): ${(err as Error).message}\n${outs}\n--- daemon log tail ---\n${d.log().slice(-3000)}`;
        throw err;
      }
      rounds++;
    }
    assert.ok(rounds >= 1);
  });
  // Two windows too short to hit reliably at random; made by hand, then a restart.
  test('a pause the runtime made but no record names (kill -9 inside pause or commit) is undone at restart', async () => {
    const id = ok(['run', '-d', 'busybox', 'sh', '-c', INNER], 'run').trim();
    const runc = (args: string[]) => spawnSync('runc', ['--root', join(d.execRoot, 'runtime', 'runc'), ...args], { encoding: 'utf8' });
    assert.equal(runc(['pause', id]).status, 0);
    await d.crash();
    await d.start();
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', id], 'inspect'), 'running\n');
    assert.equal(JSON.parse(runc(['state', id]).stdout).status, 'running', 'the runtime resumed it');
    assert.equal(ok(['exec', id, 'echo', 'ok'], 'exec'), 'ok\n');
    ok(['commit', id, 'paused:again'], 'commit');
    // A user's pause stays a pause.
    ok(['pause', id], 'pause');
    await d.crash();
    await d.start();
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', id], 'inspect'), 'paused\n');
    ok(['unpause', id], 'unpause');
    ok(['rm', '-f', id], 'rm');
    ok(['rmi', 'paused:again'], 'rmi');
  });

  test('an interface a connect plumbed before its record was saved is removed at restart', async () => {
    const id = ok(['run', '-d', 'busybox', 'sh', '-c', INNER], 'run').trim();
    const netns = join(d.execRoot, 'netns', id);
    assert.ok(existsSync(netns));
    const add = spawnSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'strayp'], { encoding: 'utf8' });
    assert.equal(add.status, 0, add.stderr);
    await d.crash();
    await d.start();
    ok(['network', 'create', 'stray'], 'network create');
    ok(['network', 'connect', 'stray', id], 'network connect');
    assert.match(ok(['exec', id, 'ip', '-o', 'addr', 'show', 'eth1'], 'exec'), /inet /, 'eth1 is the new endpoint');
    ok(['rm', '-f', id], 'rm');
    ok(['network', 'rm', 'stray'], 'network rm');
  });
});
