// Swarm services on three hosts on this machine (test/helpers/swarm-hosts.ts:
// A inits, B joins as a manager, C as a worker). Measured per round, rounds
// in sequence, medians:
//  - `service scale` of a 30-replica service to 60, until `service ls` shows 60/60;
//  - a rolling update of the 30 with parallelism 5 (`service update -d
//    --update-parallelism 5 --env-add …`), until every running task is of the
//    new spec (converged), and until UpdateStatus is `completed` (that adds
//    the update's 5 s monitor period, as dockerd's does).
// Tasks are `sleep` with a 1 s stop grace period (sleep ignores SIGTERM as
// pid 1, so the grace period is what a stop costs). No peer: dockerd's swarm
// needs a dockerd on each host, which these test hosts do not have. The
// issue's targets: scale to 60 under 10 s; the update under 30 s.
//   node_modules/.bin/node bench/swarm-update.ts [rounds]
import { TestDaemon } from '../test/helpers/daemon.ts';
import { startSwarmHost, type SwarmHost } from '../test/helpers/swarm-hosts.ts';
import { median } from './measure.ts';
import { load, must, until } from './swarm-steps.ts';

const N = Number(process.argv[2] ?? 3);

const d = new TestDaemon();
await d.start();
const hosts: SwarmHost[] = [];
try {
  hosts.push(...(await Promise.all(['a', 'b', 'c'].map((n) => startSwarmHost(d, `bt-swupd${n}-${process.pid}`)))));
  const [a, b, c] = hosts;
  must(a, ['swarm', 'init', '--advertise-addr', a.addr]);
  must(b, ['swarm', 'join', '--token', must(a, ['swarm', 'join-token', '-q', 'manager']).trim(), `${a.addr}:2377`]);
  must(c, ['swarm', 'join', '--token', must(a, ['swarm', 'join-token', '-q', 'worker']).trim(), `${a.addr}:2377`]);
  await until('three ready nodes', () => must(a, ['node', 'ls', '--format', '{{.Status}}']).split('\n').filter((l) => l === 'Ready').length === 3);

  const replicas = () => must(a, ['service', 'ls', '--filter', 'name=bench', '--format', '{{.Replicas}}']).trim();
  const running = () => must(a, ['service', 'ps', 'bench', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']).split('\n').filter((l) => l.startsWith('Running')).length;
  const scale: number[] = [];
  const converged: number[] = [];
  const completed: number[] = [];
  for (let i = 0; i < N; i++) {
    must(a, ['service', 'create', '-d', '--name', 'bench', '--replicas', '30', '--stop-grace-period', '1s', 'busybox', 'sleep', '3600']);
    await until('30/30', () => replicas() === '30/30');
    const l = load();
    let t = Date.now();
    must(a, ['service', 'scale', '-d', 'bench=60']);
    await until('60/60', () => replicas() === '60/60');
    scale.push(Date.now() - t);
    must(a, ['service', 'scale', '-d', 'bench=30']);
    await until('30/30 again', () => replicas() === '30/30' && running() === 30);
    const l2 = load();
    t = Date.now();
    must(a, ['service', 'update', '-d', '--update-parallelism', '5', '--env-add', `ROUND=${i}`, 'bench']);
    await until('the update completed', () => must(a, ['service', 'inspect', 'bench', '--format', '{{.UpdateStatus.State}}']).trim() === 'completed', 600_000);
    completed.push(Date.now() - t);
    // Converged: when the last task of the new spec began running (its status time, as the agent wrote it).
    const ids = must(a, ['service', 'ps', 'bench', '--filter', 'desired-state=running', '-q', '--no-trunc']).split('\n').filter(Boolean);
    const started = ids.map((id) => Date.parse(must(a, ['inspect', '--type', 'task', id, '--format', '{{.Status.Timestamp}}']).trim()));
    converged.push(Math.max(...started) - t);
    must(a, ['service', 'rm', 'bench']);
    await until('no task container left', () => hosts.every((h) => h.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=bench']).stdout.trim() === ''));
    console.log(`round ${i + 1}: scale 30→60 in ${scale[i]} ms (load ${l}); update of 30, parallelism 5: converged ${converged[i]} ms, completed ${completed[i]} ms (load ${l2})`);
  }
  console.log(`service scale to 60: median ${median(scale)} ms; rolling update of 30 (parallelism 5): converged median ${median(converged)} ms, completed median ${median(completed)} ms (n=${N})`);
} finally {
  for (const h of [...hosts].reverse()) h.docker(['swarm', 'leave', '--force']);
  await Promise.all(hosts.map((h) => h.stop()));
  await d.destroy();
}
