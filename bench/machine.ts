// `berth machine create` of a fresh Debian host (test/helpers/machine-host.ts:
// a privileged berth container from the debootstrapped image, reached over
// ssh), from the command's start to its daemon answering over mutual TLS,
// then `machine rm` (which removes the package again, so each round copies
// it). There is no peer: docker-machine is not packaged for Debian 12 and
// cannot provision berth. The target: under 2 minutes.
//   node_modules/.bin/node bench/machine.ts [rounds]
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BERTH, TestDaemon } from '../test/helpers/daemon.ts';
import { startMachineHost } from '../test/helpers/machine-host.ts';
import { median } from './measure.ts';

const N = Number(process.argv[2] ?? 3);
const home = mkdtempSync('/tmp/bt-mbench-');
mkdirSync(join(home, '.ssh'), { mode: 0o700 });
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))), HOME: home };

function timed(args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(BERTH, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const d = new TestDaemon();
await d.start();
const host = await startMachineHost(d, `bt-mbench-${process.pid}`);
try {
  const creates: number[] = [];
  const removes: number[] = [];
  for (let i = 0; i < N; i++) {
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    creates.push(timed(['machine', 'create', '--ssh-host', host.addr, '--ssh-key', host.key, 'bench']));
    removes.push(timed(['machine', 'rm', '-y', 'bench']));
    console.log(`round ${i + 1}: create ${creates[i].toFixed(0)} ms, rm ${removes[i].toFixed(0)} ms (load ${load})`);
  }
  console.log(`machine create median ${median(creates).toFixed(0)} ms, rm median ${median(removes).toFixed(0)} ms (n=${N})`);
} finally {
  await host.stop();
  await d.destroy();
  rmSync(home, { recursive: true, force: true });
}
