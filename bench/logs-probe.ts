// Where a `logs` read's time goes (issue #17): one berthd, a finished container
// that wrote MiB of 100-byte lines, then per repetition a raw HTTP read of the
// endpoint (the daemon alone, with the daemon's CPU time for it), `berth logs
// | wc -c`, `berth logs > /dev/null` and `docker logs | wc -c`.
//   node_modules/.bin/node bench/logs-probe.ts [MiB] [reps]
// DAEMON_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" profiles the daemon;
// CLI_PROF=<a berth CLI wrapper> times three more reads through it (one with
// --cpu-prof, say); KEEP=<seconds> keeps the daemon and prints its socket and
// the container's id. bench/speed.ts's `logs` set is the row to report.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { BERTH, DOCKER, startSeededDaemon } from '../test/helpers/daemon.ts';

const MIB = Number(process.argv[2] ?? 64);
const REPS = Number(process.argv[3] ?? 5);
if (process.env.DAEMON_NODE_OPTIONS) process.env.NODE_OPTIONS = process.env.DAEMON_NODE_OPTIONS;
const d = await startSeededDaemon(process.env.DAEMON_ARGS ? process.env.DAEMON_ARGS.split(' ') : []);
delete process.env.NODE_OPTIONS;
const sh = (cmd: string, env: NodeJS.ProcessEnv = process.env) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', cmd], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return { ms, out: r.stdout.trim() };
};
function raw(path: string): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request({ socketPath: d.socket, path, method: 'GET' }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes }));
    });
    req.on('error', reject);
    req.end();
  });
}
try {
  const line = 'x'.repeat(99);
  const B = `${BERTH} -H ${d.host}`;
  sh(`${B} run -d --name lg busybox sh -c 'yes ${line} | head -c ${MIB * 1048576}'`);
  sh(`${B} wait lg`);
  for (let k = 0; k < 3; k++) sh(`${B} version`);
  await new Promise((r) => setTimeout(r, 2000));
  const id = sh(`${B} inspect -f '{{.Id}}' lg`).out;
  const rows: Record<string, number[]> = { 'raw http': [], 'berth | wc': [], 'berth > null': [], 'docker | wc': [] };
  const { readFileSync } = await import('node:fs');
  const cpu = () => { const f = readFileSync(`/proc/${d.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
  const cpus: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const c0 = cpu();
    const r = await raw(`/containers/${id}/logs?stdout=1&stderr=1`);
    cpus.push(cpu() - c0);
    rows['raw http'].push(MIB / (r.ms / 1000));
    const b = sh(`${B} logs lg | wc -c`);
    if (Number(b.out) !== MIB * 1048576) throw new Error(`berth gave ${b.out}`);
    rows['berth | wc'].push(MIB / (b.ms / 1000));
    rows['berth > null'].push(MIB / (sh(`${B} logs lg > /dev/null`).ms / 1000));
    const dk = sh(`${DOCKER} logs lg | wc -c`, { ...process.env, DOCKER_HOST: d.host });
    if (Number(dk.out) !== MIB * 1048576) throw new Error(`docker gave ${dk.out}`);
    rows['docker | wc'].push(MIB / (dk.ms / 1000));
  }
  console.log('daemon CPU ms per raw read:', cpus.join(' '));
  for (const [k, v] of Object.entries(rows)) console.log(k.padEnd(14), v.map((x) => x.toFixed(0)).join(' '), 'MiB/s');
  if (process.env.CLI_PROF) for (let i = 0; i < 3; i++) console.log('cli prof run', MIB / (sh(`${process.env.CLI_PROF} -H ${d.host} logs lg | wc -c`).ms / 1000));
  if (process.env.KEEP) { console.log(d.host, id); await new Promise((r) => setTimeout(r, Number(process.env.KEEP) * 1000)); }
} finally {
  await d.destroy();
}
