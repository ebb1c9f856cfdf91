// The swarm's idle etcd traffic per node (issue 21: under 1 KiB/s), on three
// hosts on this machine (test/helpers/swarm-hosts.ts). A inits, B and C join
// as workers, a 6-replica service converges; then 30 s with nothing changing
// are counted. B and C are then promoted (three managers, three etcd
// members) and 30 s more are counted.
//
// Counted by iptables rules in each host (packet bytes, headers included):
// TCP to or from any manager's etcd client port, and its peer (raft) port,
// each way on eth0 (between hosts), and on lo (a manager's own loops with its
// own member, no network). eth0's whole traffic (/proc/net/dev) beside it.
// No peer: dockerd's swarm needs a dockerd in each host, which the test hosts
// do not have.
// BENCH_CAPTURE=1 also captures each host's eth0 (tcpdump in its netns,
// headers only) and prints per connection what carried the bytes
// (bench/pcap-conns.ts): kept-alive connections, and those opened in the window.
//   node_modules/.bin/node bench/swarm-idle.ts [seconds]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connections, describe } from './pcap-conns.ts';
import { raftTimes } from '../src/cluster/etcd-member.ts';
import { TestDaemon } from '../test/helpers/daemon.ts';
import { startSwarmHost, type SwarmHost } from '../test/helpers/swarm-hosts.ts';
import { load, must, sleep, until } from './swarm-steps.ts';

const SECONDS = Number(process.argv[2] ?? 30);
const CHAINS = ['QB_IN', 'QB_OUT'];
/** BERTH_ETCD_HEARTBEAT_MS and BERTH_ETCD_ELECTION_MS passed on to the hosts' daemons (etcd's raft timing), to compare settings. */
const DAEMON_ENV: Record<string, string> = Object.fromEntries(['BERTH_ETCD_HEARTBEAT_MS', 'BERTH_ETCD_ELECTION_MS'].flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));

function ethBytes(h: SwarmHost): { rx: number; tx: number } {
  const line = h.exec('cat /proc/net/dev').stdout.split('\n').find((l) => l.trim().startsWith('eth0:')) ?? '';
  const f = line.split(':')[1].trim().split(/\s+/).map(Number);
  return { rx: f[0], tx: f[8] };
}

/** A manager's etcd ports, from its recorded membership. */
function etcdPorts(h: SwarmHost): { client: number; peer: number } | undefined {
  const r = h.exec('cat /var/lib/berth/swarm/state.json');
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { ports?: { client: number; peer: number } }).ports;
}

/** Counting rules for the managers' ports, zeroed: each rule's bytes are read by its comment. */
function installCounters(h: SwarmHost, client: number[], peer: number[]): void {
  const rules: string[] = [];
  for (const [chain, dir] of [['QB_IN', '-i'], ['QB_OUT', '-o']] as const) {
    for (const dev of ['eth0', 'lo']) {
      if (dev === 'lo' && chain === 'QB_IN') continue; // loopback is seen both ways: counted once, going out
      for (const [kind, ports] of [['client', client], ['peer', peer]] as const) {
        rules.push(`iptables -w -A ${chain} ${dir} ${dev} -p tcp -m multiport --ports ${ports.join(',')} -m comment --comment ${kind}-${dev}-${chain === 'QB_IN' ? 'in' : 'out'}`);
      }
    }
  }
  // Connections opened (each a TLS handshake with both certificates), either way.
  for (const [chain, dir, flag] of [['QB_IN', '-i', '--dports'], ['QB_OUT', '-o', '--dports']] as const) {
    rules.push(`iptables -w -A ${chain} ${dir} eth0 -p tcp --syn -m multiport ${flag} ${[...client, ...peer].join(',')} -m comment --comment syn-${chain === 'QB_IN' ? 'in' : 'out'}`);
  }
  const script = [
    ...CHAINS.map((c, i) => `iptables -w -D ${i ? 'OUTPUT' : 'INPUT'} -j ${c} 2>/dev/null || true; iptables -w -F ${c} 2>/dev/null || true; iptables -w -X ${c} 2>/dev/null || true`),
    'set -e', ...CHAINS.map((c) => `iptables -w -N ${c}`),
    ...rules,
    'iptables -w -I INPUT -j QB_IN', 'iptables -w -I OUTPUT -j QB_OUT',
  ].join('\n');
  const r = h.exec(script);
  if (r.code !== 0) throw new Error(`iptables on ${h.name}: ${r.stderr}`);
}

/** Bytes per rule, and packets of the syn- rules (connections opened). */
function counters(h: SwarmHost): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of CHAINS) {
    for (const line of h.exec(`iptables -w -L ${c} -vnx`).stdout.split('\n')) {
      const m = /^\s*(\d+)\s+(\d+)\s.*\/\* (\S+) \*\//.exec(line);
      if (m) out[m[3]] = Number(m[3].startsWith('syn-') ? m[1] : m[2]);
    }
  }
  return out;
}

const kib = (bytes: number) => (bytes / SECONDS / 1024).toFixed(2);

const CAPTURE = process.env.BENCH_CAPTURE === '1';

/** tcpdump on a host's eth0, in its network namespace (the test host's PID from the outer daemon). */
function capture(d: TestDaemon, h: SwarmHost, file: string, ports: number[]): ChildProcess {
  const pid = d.berth(['inspect', '-f', '{{.State.Pid}}', h.name]).stdout.trim();
  const filter = ports.map((p) => `tcp port ${p}`).join(' or ');
  return spawn('nsenter', ['-t', pid, '-n', 'tcpdump', '-i', 'eth0', '-s', '128', '-U', '-w', file, filter], { stdio: 'ignore' });
}

async function measure(d: TestDaemon, hosts: SwarmHost[], roles: string[], what: string): Promise<void> {
  const ports = hosts.map(etcdPorts).filter((p) => p !== undefined);
  for (const h of hosts) installCounters(h, ports.map((p) => p.client), ports.map((p) => p.peer));
  const dir = CAPTURE ? mkdtempSync('/tmp/swarm-idle-pcap-') : '';
  const dumps = CAPTURE ? hosts.map((h) => capture(d, h, join(dir, `${h.name}.pcap`), ports.flatMap((p) => [p.client, p.peer]))) : [];
  if (CAPTURE) await sleep(1000);
  const eth0 = hosts.map(ethBytes);
  const l0 = load();
  await sleep(SECONDS * 1000);
  const l1 = load();
  await Promise.all(dumps.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGINT'); })));
  console.log(`${what} (etcd ${raftTimes(DAEMON_ENV).join(' ')}): ${SECONDS} s idle, load ${l0} → ${l1}; KiB/s, in/out`);
  hosts.forEach((h, i) => {
    const c = counters(h);
    const e = ethBytes(h);
    const net = (c['client-eth0-in'] ?? 0) + (c['client-eth0-out'] ?? 0) + (c['peer-eth0-in'] ?? 0) + (c['peer-eth0-out'] ?? 0);
    console.log(`  ${h.name.split('-')[1]} (${roles[i]}): etcd between hosts ${kib(net)} = client ${kib(c['client-eth0-in'] ?? 0)}/${kib(c['client-eth0-out'] ?? 0)}`
      + ` + peer ${kib(c['peer-eth0-in'] ?? 0)}/${kib(c['peer-eth0-out'] ?? 0)}; own member over lo: client ${kib(c['client-lo-out'] ?? 0)}, peer ${kib(c['peer-lo-out'] ?? 0)};`
      + ` eth0 all ${kib(e.rx - eth0[i].rx)}/${kib(e.tx - eth0[i].tx)}; etcd connections opened: ${c['syn-in'] ?? 0} in, ${c['syn-out'] ?? 0} out`);
    if (CAPTURE) {
      const names = new Map(hosts.map((x) => [x.addr, x.name.split('-')[1]]));
      // The capture ran a second longer each side than the counters: its own window is what it divides by.
      for (const l of describe(connections(join(dir, `${h.name}.pcap`), ports.flatMap((p) => [p.client, p.peer])), SECONDS + 1, names)) console.log(l);
    }
  });
  if (CAPTURE) rmSync(dir, { recursive: true, force: true });
}

const d = new TestDaemon();
await d.start();
const hosts: SwarmHost[] = [];
try {
  hosts.push(...(await Promise.all(['a', 'b', 'c'].map((n) => startSwarmHost(d, `bt-swidle${n}-${process.pid}`, { daemonEnv: DAEMON_ENV })))));
  const [a, b, c] = hosts;
  // init waits for its lone member to elect itself: a heartbeat to an election timeout (etcd-member.ts raftTimes).
  const t0 = Date.now();
  must(a, ['swarm', 'init', '--advertise-addr', a.addr]);
  console.log(`swarm init: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const token = must(a, ['swarm', 'join-token', '-q', 'worker']).trim();
  for (const h of [b, c]) must(h, ['swarm', 'join', '--token', token, `${a.addr}:2377`]);
  must(a, ['service', 'create', '-d', '--name', 'idle', '--replicas', '6', '--stop-grace-period', '1s', 'busybox', 'sleep', '3600']);
  await until('6/6', () => must(a, ['service', 'ls', '--filter', 'name=idle', '--format', '{{.Replicas}}']).trim() === '6/6');
  await sleep(5000);
  await measure(d, hosts, ['manager, leader', 'worker', 'worker'], 'one manager, two workers, 6 replicas');

  for (const h of [b, c]) must(a, ['node', 'promote', h.name]);
  // A's member restarts once on the swarm's raft timing when the first new one votes (etcd-member.ts retime): its store is away a moment.
  const out = (h: SwarmHost, args: string[]) => h.docker(args).stdout;
  await until('three ready managers', () => out(a, ['node', 'ls', '--format', '{{.Status}} {{.ManagerStatus}}']).split('\n').filter((l) => /^Ready (Leader|Reachable)$/.test(l)).length === 3);
  await until('6/6 after the promotions', () => out(a, ['service', 'ls', '--filter', 'name=idle', '--format', '{{.Replicas}}']).trim() === '6/6');
  await sleep(10_000);
  const leader = must(a, ['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}']).split('\n').find((l) => l.endsWith(' Leader'))?.split(' ')[0];
  await measure(d, hosts, hosts.map((h) => (h.name === leader ? 'manager, leader' : 'manager')), 'three managers, 6 replicas');
} finally {
  for (const h of hosts) h.exec(CHAINS.map((c, i) => `iptables -w -D ${i ? 'OUTPUT' : 'INPUT'} -j ${c}; iptables -w -F ${c}; iptables -w -X ${c}`).join('; '));
  for (const h of [...hosts].reverse()) h.docker(['swarm', 'leave', '--force']);
  await Promise.all(hosts.map((h) => h.stop()));
  await d.destroy();
}
