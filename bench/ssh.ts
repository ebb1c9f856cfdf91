// `-H ssh://` round trips: berth's CLI beside the docker CLI, both over the
// same OpenSSH to the same berth host (test/helpers/ssh-host.ts: an sshd in a
// namespace of its own whose `berth`/`docker` is this worktree's berth), and
// a bare `ssh host true` as the floor. Prints medians in ms.
//   node_modules/.bin/node bench/ssh.ts [iterations]
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { startSshHost } from '../test/helpers/ssh-host.ts';
import { spawnSync } from 'node:child_process';
import { median } from './measure.ts';

const N = Number(process.argv[2] ?? 20);

/**
 * Milliseconds of one command. On a loaded machine OpenSSH 9.2's client now
 * and then ends a finished session with "client_loop: send disconnect: Broken
 * pipe" (status 255, the server closed first): that run is timed but counted
 * as such; any other failure throws.
 */
let brokenPipes = 0;
function time(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    if (!/send disconnect: Broken pipe/.test(r.stderr)) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    brokenPipes++;
  }
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const d = await startSeededDaemon();
const host = await startSshHost(d);
try {
  const env = host.clientEnv();
  const inNs = (cmd: string, args: string[]) => () => time('ip', ['netns', 'exec', host.ns, cmd, ...args], env);
  const url = `ssh://root@${host.addr}`;
  const cases: Array<[string, () => number]> = [
    ['ssh host true (floor)', inNs('ssh', [`root@${host.addr}`, 'true'])],
    ['berth -H ssh:// ps', inNs(BERTH, ['-H', url, 'ps'])],
    ['berth -H ssh:// run --rm busybox true', inNs(BERTH, ['-H', url, 'run', '--rm', 'busybox', 'true'])],
  ];
  if (DOCKER) {
    cases.push(['docker -H ssh:// ps', inNs(DOCKER, ['-H', url, 'ps'])]);
    cases.push(['docker -H ssh:// run --rm busybox true', inNs(DOCKER, ['-H', url, 'run', '--rm', 'busybox', 'true'])]);
  }
  // Interleaved rounds, so a busy moment of the machine weighs on every case alike.
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (const [, fn] of cases) fn(); // warm-up
  for (let i = 0; i < N; i++) for (const [name, fn] of cases) times.get(name)!.push(fn());
  for (const [name, xs] of times) console.log(`${name.padEnd(42)} median ${median(xs).toFixed(0)} ms (n=${xs.length})`);
  console.log(`runs that ended in ssh's "send disconnect: Broken pipe": ${brokenPipes}`);
  const ratio = (a: string, b: string) => median(times.get(a)!) / median(times.get(b)!);
  if (DOCKER) {
    console.log(`ps: berth/docker ${ratio('berth -H ssh:// ps', 'docker -H ssh:// ps').toFixed(2)}`);
    console.log(`run: berth/docker ${ratio('berth -H ssh:// run --rm busybox true', 'docker -H ssh:// run --rm busybox true').toFixed(2)}`);
  }
} finally {
  await host.stop();
  await d.destroy();
}
