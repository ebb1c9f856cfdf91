// cp benchmark (issue #14): a 1 GiB tree of 10,000 files copied into and out
// of a running container with `berth cp` (and the docker CLI's cp against the
// same daemon), beside the host doing the same bytes with
// `tar -C src -c . | tar -C dst -x` and the docker CLI against a private
// dockerd (bench/peer-dockerd.ts) in the same run, interleaved; and the
// diff (GET /containers/{id}/changes) of the container holding those 10,000
// added files. Each copy goes to a fresh destination and starts after a
// `sync`; nothing is removed until every round is done. A removal before a
// copy made that copy pay for it: ext4 will not reuse an inode number for 60 s
// after its file is deleted (300 s while its table block is dirty), and
// creating a file then scans past each recently deleted one (in a profile of
// a copy made right after a round's trees were removed, 40% of the daemon's
// CPU was ext4_create's recently_deleted); whichever copier came first after
// the removal paid several seconds. Needs disk for 9 GiB a round (default size).
//   node_modules/.bin/node bench/cp.ts [runs] [MiB] [files]
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { median } from './measure.ts';
import { startPeerDockerd, type PeerDockerd } from './peer-dockerd.ts';

const RUNS = Number(process.argv[2] ?? 5);
const MIB = Number(process.argv[3] ?? 1024);
const FILES = Number(process.argv[4] ?? 10_000);

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  // Each copy starts with no dirty pages of the one before it to write back.
  spawnSync('sync');
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function timedChanges(socket: string, container: string): Promise<{ s: number; n: number }> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    request({ socketPath: socket, path: `/containers/${container}/changes` }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve({ s: Number(process.hrtime.bigint() - t) / 1e9, n: (JSON.parse(text) as unknown[]).length }));
    }).on('error', reject).end();
  });
}

/** FILES files of random bytes, MIB MiB in all, 100 to a directory. */
function writeTree(dir: string): void {
  const size = Math.floor((MIB << 20) / FILES);
  const buf = Buffer.alloc(size);
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}`), randomFillSync(buf));
  }
}

const d = await startSeededDaemon();
const work = mkdtempSync('/tmp/berth-bench-cp-');
let peer: PeerDockerd | undefined;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
try {
  const src = join(work, 'src');
  writeTree(src);
  spawnSync('sync');
  const berth = (args: string[]): [string, string[]] => [BERTH, ['-H', d.host, ...args]];
  const dockerEnv = { ...process.env, DOCKER_HOST: d.host };
  const started = spawnSync(BERTH, ['-H', d.host, 'run', '-d', '--name', 'cpbench', 'busybox', 'sleep', '100000'], { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(`run failed: ${started.stderr}`);
  // dockerd with the same busybox, its container running the same way.
  peer = DOCKER ? await startPeerDockerd() : undefined;
  const peerEnv = { ...process.env, DOCKER_HOST: peer?.host };
  if (peer && DOCKER) {
    const saved = spawnSync(BERTH, ['-H', d.host, 'save', 'busybox'], { maxBuffer: 1 << 28 });
    if (peer.docker(['load'], { input: saved.stdout }).code !== 0) throw new Error('docker load into the peer failed');
    const r = peer.docker(['run', '-d', '--name', 'cpbench', 'busybox', 'sleep', '100000']);
    if (r.code !== 0) throw new Error(`peer run failed: ${r.stderr}`);
  }
  const t: Record<string, number[]> = { host: [], berthIn: [], berthOut: [], coldIn: [], coldOut: [], dockerIn: [], dockerOut: [], peerIn: [], peerOut: [] };
  // The berth CLI also on its cold path (BERTH_CLI_WARM=0): a command the warm launcher hands to a waiting process (ADR 0010) ran slower than the same command started cold.
  const coldEnv = { ...process.env, BERTH_CLI_WARM: '0' };
  const clean = (p: string) => rmSync(p, { recursive: true, force: true });
  const cleanIn = (p: string) => spawnSync(BERTH, ['-H', d.host, 'exec', 'cpbench', 'rm', '-rf', p]);
  const settle = () => {
    spawnSync('sync');
    spawnSync('sleep', ['3']);
  };
  const at = (name: string, i: number) => join(work, `${name}${i}`);
  for (let i = 0; i < RUNS; i++) {
    const dst = at('dst', i);
    mkdirSync(dst);
    const loadBefore = load();
    // Each round starts with a different copier, so that none always follows the host's copy (or any other).
    const steps: (() => void)[] = [
      () => { t.host.push(timed('sh', ['-c', `tar -C ${src} -c . | tar -C ${dst} -x`])); },
      () => {
        t.berthIn.push(timed(...berth(['cp', src, `cpbench:/in${i}`])));
        t.berthOut.push(timed(...berth(['cp', `cpbench:/in${i}`, at('out', i)])));
      },
      () => {
        t.coldIn.push(timed(...berth(['cp', src, `cpbench:/in4-${i}`]), coldEnv));
        t.coldOut.push(timed(...berth(['cp', `cpbench:/in4-${i}`, at('out4-', i)]), coldEnv));
      },
    ];
    if (DOCKER) {
      const docker = DOCKER;
      steps.push(() => {
        t.dockerIn.push(timed(docker, ['cp', src, `cpbench:/in2-${i}`], dockerEnv));
        t.dockerOut.push(timed(docker, ['cp', `cpbench:/in2-${i}`, at('out2-', i)], dockerEnv));
      });
      if (peer) {
        steps.push(() => {
          t.peerIn.push(timed(docker, ['cp', src, `cpbench:/in${i}`], peerEnv));
          t.peerOut.push(timed(docker, ['cp', `cpbench:/in${i}`, at('out3-', i)], peerEnv));
        });
      }
    }
    for (let k = 0; k < steps.length; k++) steps[(i + k) % steps.length]();
    const f = (xs: number[]) => (xs.length > i ? xs[i].toFixed(2) : '-');
    console.log(`round ${i + 1} (load ${loadBefore} → ${load()}): host ${f(t.host)} s; in: berth ${f(t.berthIn)} (cold ${f(t.coldIn)}), docker CLI→berthd ${f(t.dockerIn)}, dockerd ${f(t.peerIn)} s; out: berth ${f(t.berthOut)} (cold ${f(t.coldOut)}), docker CLI→berthd ${f(t.dockerOut)}, dockerd ${f(t.peerOut)} s`);
    settle();
  }
  for (let i = 0; i < RUNS; i++) {
    for (const p of [at('dst', i), at('out', i), at('out2-', i), at('out3-', i), at('out4-', i)]) clean(p);
    cleanIn(`/in${i}`);
    cleanIn(`/in2-${i}`);
    cleanIn(`/in4-${i}`);
    peer?.docker(['exec', 'cpbench', 'rm', '-rf', `/in${i}`]);
  }
  // The diff of the container with FILES added files (and their directories).
  spawnSync(BERTH, ['-H', d.host, 'cp', src, 'cpbench:/in']);
  const diffs: number[] = [];
  let entries = 0;
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    const r = await timedChanges(d.socket, 'cpbench');
    diffs.push(r.s);
    entries = r.n;
  }
  const h = median(t.host);
  const row = (name: string, xs: number[], peerXs: number[]) => (xs.length
    ? `| ${name} | ${median(xs).toFixed(2)} s | ${(median(xs) / h).toFixed(2)}× | ${peerXs.length ? `${(median(xs) / median(peerXs)).toFixed(2)}×` : '-'} |`
    : '');
  console.log(`cp of ${FILES} files, ${MIB} MiB, medians of ${RUNS}:`);
  console.log('| copy | median | vs host tar pipe | vs dockerd |');
  console.log('|---|---:|---:|---:|');
  console.log(`| host \`tar -C src -c . \\| tar -C dst -x\` | ${h.toFixed(2)} s | 1.00× | - |`);
  for (const line of [
    row('`berth cp SRC cpbench:/in`', t.berthIn, t.peerIn), row('`berth cp SRC cpbench:/in`, cold CLI', t.coldIn, t.peerIn), row('`docker cp SRC cpbench:/in` → berthd', t.dockerIn, t.peerIn), row('`docker cp SRC cpbench:/in` → dockerd', t.peerIn, t.peerIn),
    row('`berth cp cpbench:/in DST`', t.berthOut, t.peerOut), row('`berth cp cpbench:/in DST`, cold CLI', t.coldOut, t.peerOut), row('`docker cp cpbench:/in DST` → berthd', t.dockerOut, t.peerOut), row('`docker cp cpbench:/in DST` → dockerd', t.peerOut, t.peerOut),
  ]) if (line) console.log(line);
  console.log(`diff of the container (${entries} changes), median of ${diffs.length}: ${(median(diffs) * 1000).toFixed(0)} ms`);
} finally {
  rmSync(work, { recursive: true, force: true });
  await peer?.stop().catch((e: Error) => console.error(e.message));
  await d.destroy();
}
