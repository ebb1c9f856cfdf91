// Container start-up benchmark, berth's CLI beside the docker CLI against the
// same berth daemon, and bare `runc run` as the floor. Prints medians.
//   node_modules/.bin/node bench/run.ts [iterations]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';
import { median, time } from './measure.ts';

const N = Number(process.argv[2] ?? 20);

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

/** 50 containers started 10 at a time, then removed 10 at a time. */
async function batch(cli: string, prefix: string[], env: NodeJS.ProcessEnv): Promise<[number, number]> {
  const names = Array.from({ length: 50 }, (_, i) => `bench${i}`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 50; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => exec(cli, [...prefix, 'run', '-d', '--name', n, 'busybox', 'sleep', '600'], env)));
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < 50; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => exec(cli, [...prefix, 'rm', '-f', n], env)));
  const t2 = process.hrtime.bigint();
  return [Number(t1 - t0) / 1e6, Number(t2 - t1) / 1e6];
}

function runcFloor(): number[] {
  const dir = mkdtempSync('/tmp/berth-bench-runc-');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  spawnSync('cp', ['/bin/busybox', join(rootfs, 'bin/busybox')]);
  spawnSync('ln', ['-s', 'busybox', join(rootfs, 'bin/true')]);
  spawnSync('runc', ['spec'], { cwd: dir });
  const spec = JSON.parse(spawnSync('cat', [join(dir, 'config.json')], { encoding: 'utf8' }).stdout) as { process: { terminal: boolean; args: string[] } };
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    spawnSync('runc', ['--root', join(dir, 'state'), 'run', '--bundle', dir, `b${i}`], { stdio: 'ignore' });
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  rmSync(dir, { recursive: true, force: true });
  return out;
}

const d = await startSeededDaemon();
try {
  const env = { ...process.env };
  const dockerEnv = { ...process.env, DOCKER_HOST: d.host };
  const clients: [string, string, string[], NodeJS.ProcessEnv][] = [['berth', BERTH, ['-H', d.host], env]];
  if (DOCKER && existsSync(DOCKER)) clients.push(['docker CLI → berthd', DOCKER, [], dockerEnv]);
  const rows: string[] = [];
  rows.push(`| runc run (floor) | run true | ${median(runcFloor()).toFixed(1)} ms |`);
  for (const [label, cli, prefix, e] of clients) {
    time(cli, [...prefix, 'run', '--rm', 'busybox', 'true'], e); // warm caches
    const runs = Array.from({ length: N }, () => time(cli, [...prefix, 'run', '--rm', 'busybox', 'true'], e));
    rows.push(`| ${label} | run --rm busybox true | ${median(runs).toFixed(1)} ms |`);
    d.berth(['run', '-d', '--name', 'execbox', 'busybox', 'sleep', '600']);
    const execs = Array.from({ length: N }, () => time(cli, [...prefix, 'exec', 'execbox', 'true'], e));
    d.berth(['rm', '-f', 'execbox']);
    rows.push(`| ${label} | exec CONTAINER true | ${median(execs).toFixed(1)} ms |`);
    const starts: number[] = [];
    const removals: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [s, r] = await batch(cli, prefix, e);
      starts.push(s);
      removals.push(r);
    }
    rows.push(`| ${label} | 50 containers started, 10 at a time | ${median(starts).toFixed(0)} ms |`);
    rows.push(`| ${label} | 50 containers removed, 10 at a time | ${median(removals).toFixed(0)} ms |`);
  }
  process.stdout.write(`medians of ${N} runs (batches: of 3)\n| client | operation | median |\n|---|---|---|\n${rows.join('\n')}\n`);
} finally {
  await d.destroy();
}
