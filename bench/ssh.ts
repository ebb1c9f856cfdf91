// `-H ssh://` round trips: berth's CLI beside the docker CLI, both over the
// same OpenSSH to the same berth host (test/helpers/ssh-host.ts: an sshd in a
// namespace of its own whose `berth`/`docker` is this worktree's berth), and
// a bare `ssh host true` as the floor; berth shares one OpenSSH connection
// per host (ControlMaster), so the docker CLI is also timed with the same
// sharing set in its ssh config. Prints medians in ms and the load average.
//   node_modules/.bin/node bench/ssh.ts [iterations]
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { startSshHost } from '../test/helpers/ssh-host.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
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
  // The same OpenSSH with connection sharing in the user's ssh config (what berth sets up on its
  // own): the docker CLI's fair peer, since it shares nothing unless the config says so.
  const muxDir = join(host.dir, 'docker-mux');
  mkdirSync(muxDir, { mode: 0o700 });
  const muxConfig = join(host.dir, 'ssh_config.mux');
  writeFileSync(muxConfig, readFileSync(env.BT_SSH_CONFIG!, 'utf8') + `  ControlMaster auto\n  ControlPath ${muxDir}/%C\n  ControlPersist 10m\n`);
  const muxEnv = { ...env, BT_SSH_CONFIG: muxConfig };
  // The resident CLI (ADR 0010, opt-in): here by the environment; on the host through the
  // session's environment (the test sshd accepts BERTH_CLI_RESIDENT), so its dial-stdio's
  // warm process serves the next session instead of a new Node starting after each.
  const residentEnv = { ...env, BERTH_CLI_RESIDENT: '1' };
  const bothConfig = join(host.dir, 'ssh_config.resident');
  writeFileSync(bothConfig, readFileSync(env.BT_SSH_CONFIG!, 'utf8') + '  SetEnv BERTH_CLI_RESIDENT=1\n');
  const bothEnv = { ...residentEnv, BT_SSH_CONFIG: bothConfig };
  const noMuxEnv = { ...env, BERTH_SSH_MUX: '0' };
  // nsenter joins only the host's network namespace. `ip netns exec` also unshares a mount
  // namespace of its own per call, and the launcher keys warm pools by namespace: each berth
  // command then ran cold and started a pool of its own (two Node starts) besides.
  const inNs = (cmd: string, args: string[], e = env) => () => time('nsenter', [`--net=/run/netns/${host.ns}`, cmd, ...args], e);
  const url = `ssh://root@${host.addr}`;
  const cases: Array<[string, () => number]> = [
    ['ssh host true (floor, no sharing)', inNs('ssh', [`root@${host.addr}`, 'true'])],
    ['ssh host true (shared connection)', inNs('ssh', [`root@${host.addr}`, 'true'], muxEnv)],
    ['berth -H ssh:// ps', inNs(BERTH, ['-H', url, 'ps'])],
    ['berth -H ssh:// ps (BERTH_SSH_MUX=0)', inNs(BERTH, ['-H', url, 'ps'], noMuxEnv)],
    ['berth -H ssh:// ps (resident CLI here)', inNs(BERTH, ['-H', url, 'ps'], residentEnv)],
    ['berth -H ssh:// ps (resident here and on the host)', inNs(BERTH, ['-H', url, 'ps'], bothEnv)],
    ['berth -H ssh:// run --rm busybox true', inNs(BERTH, ['-H', url, 'run', '--rm', 'busybox', 'true'])],
    ['berth -H ssh:// run (resident here and on the host)', inNs(BERTH, ['-H', url, 'run', '--rm', 'busybox', 'true'], bothEnv)],
  ];
  if (DOCKER) {
    cases.push(['docker -H ssh:// ps', inNs(DOCKER, ['-H', url, 'ps'])]);
    cases.push(['docker -H ssh:// ps (sharing in ssh config)', inNs(DOCKER, ['-H', url, 'ps'], muxEnv)]);
    cases.push(['docker -H ssh:// run --rm busybox true', inNs(DOCKER, ['-H', url, 'run', '--rm', 'busybox', 'true'])]);
    cases.push(['docker -H ssh:// run (sharing in ssh config)', inNs(DOCKER, ['-H', url, 'run', '--rm', 'busybox', 'true'], muxEnv)]);
  }
  // Interleaved rounds, so a busy moment of the machine weighs on every case alike.
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (const [, fn] of cases) fn(); // warm-up
  const loads: number[] = [];
  for (let i = 0; i < N; i++) {
    loads.push(loadavg()[0]);
    for (const [name, fn] of cases) times.get(name)!.push(fn());
  }
  console.log(`load average (1 min) over the rounds: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, median ${median(loads).toFixed(1)}`);
  for (const [name, xs] of times) console.log(`${name.padEnd(46)} median ${median(xs).toFixed(0)} ms (n=${xs.length})`);
  console.log(`runs that ended in ssh's "send disconnect: Broken pipe": ${brokenPipes}`);
  const ratio = (a: string, b: string) => median(times.get(a)!) / median(times.get(b)!);
  if (DOCKER) {
    console.log(`ps: berth/docker ${ratio('berth -H ssh:// ps', 'docker -H ssh:// ps').toFixed(2)}; berth/docker with sharing ${ratio('berth -H ssh:// ps', 'docker -H ssh:// ps (sharing in ssh config)').toFixed(2)}`);
    console.log(`ps, resident here and on the host: berth/docker ${ratio('berth -H ssh:// ps (resident here and on the host)', 'docker -H ssh:// ps').toFixed(2)}; with sharing ${ratio('berth -H ssh:// ps (resident here and on the host)', 'docker -H ssh:// ps (sharing in ssh config)').toFixed(2)}`);
    console.log(`run: berth/docker ${ratio('berth -H ssh:// run --rm busybox true', 'docker -H ssh:// run --rm busybox true').toFixed(2)}; with sharing ${ratio('berth -H ssh:// run --rm busybox true', 'docker -H ssh:// run (sharing in ssh config)').toFixed(2)}`);
  }
} finally {
  await host.stop();
  await d.destroy();
}
