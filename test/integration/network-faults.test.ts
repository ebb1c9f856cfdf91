// Networking under faults: a daemon kill -9 and restart with published ports
// (rules restored exactly once, iptables-save the same before and after), and
// many containers joining and leaving a network at once (IPAM, veths,
// namespaces and rules consistent afterwards). Also that two daemons side by
// side get bridges, subnets and chains of their own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, TestDaemon } from '../helpers/daemon.ts';
import { chainTag, httpGet, httpd, ruleLines, until } from '../helpers/network.ts';

function bridgePorts(bridge: string): string[] {
  const out = spawnSync('ip', ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' }).stdout;
  return (JSON.parse(out || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

/** Runs berth commands in parallel, `width` at a time; resolves with their exit codes and stderr. */
async function parallel(d: TestDaemon, commands: string[][], width: number): Promise<{ code: number; stderr: string }[]> {
  const results: { code: number; stderr: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < commands.length) {
      const i = next++;
      const p = d.spawnBerth(commands[i], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr?.on('data', (b: Buffer) => (stderr += b));
      const code = await new Promise<number>((r) => p.once('close', (c) => r(c ?? -1)));
      results[i] = { code, stderr };
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

describe('networking under faults', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('kill -9 and restart with published ports: the rules are restored exactly once', async () => {
    const tag = chainTag(d);
    assert.equal(d.berth(['network', 'create', 'crashnet']).code, 0);
    httpd(d, 'survivor', 'still-here', ['-p', '18801:80']);
    httpd(d, 'survivor2', 'also-here', ['--network', 'crashnet', '-p', '18802:80']);
    const before = ruleLines(tag);
    assert.equal(before.filter((l) => /--dport 1880[12] -j DNAT/.test(l)).length, 2);
    await d.crash();
    await d.start();
    assert.deepEqual(ruleLines(tag), before, 'iptables-save of this daemon unchanged by crash and restart');
    assert.equal(await httpGet('127.0.0.1', 18801), 'still-here\n');
    assert.equal(await httpGet('127.0.0.1', 18802), 'also-here\n');
    // The restarted daemon holds the ports again and knows the addresses are taken.
    assert.match(d.berth(['run', '--rm', '-p', '18801:80', 'busybox', 'true']).stderr, /port is already allocated/);
    const taken = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'survivor']).stdout.trim();
    const fresh = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0']).stdout;
    assert.doesNotMatch(fresh, new RegExp(`inet ${taken.replace(/\./g, '\\.')}/`));
    // Embedded DNS answers again after the restart.
    const r = d.berth(['run', '--rm', '--network', 'crashnet', 'busybox', 'wget', '-qO-', 'http://survivor2/']);
    assert.equal(r.stdout, 'also-here\n', r.stderr);
    // A second restart without a crash changes nothing either.
    await d.crash();
    await d.start();
    assert.deepEqual(ruleLines(tag), before);
    d.berth(['rm', '-f', 'survivor', 'survivor2']);
    assert.deepEqual(ruleLines(tag).filter((l) => /1880[12]/.test(l)), []);
  });

  test('a container that exits while the daemon is down has its rules and namespace gone after the restart', async () => {
    const tag = chainTag(d);
    d.berth(['run', '-d', '--name', 'brief', '-p', '18803:80', 'busybox', 'sleep', '2']);
    assert.equal(ruleLines(tag).filter((l) => l.includes('--dport 18803')).length, 1);
    await d.crash();
    await new Promise((r) => setTimeout(r, 2500));
    await d.start();
    await until(() => d.berth(['inspect', '-f', '{{.State.Running}}', 'brief']).stdout.trim() === 'false');
    assert.deepEqual(ruleLines(tag).filter((l) => l.includes('18803')), []);
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'brief']).stdout.trim();
    assert.ok(!readdirSync(join(d.execRoot, 'netns')).includes(id), 'its namespace is gone');
    d.berth(['rm', 'brief']);
  });

  test('100 containers joining and leaving a network concurrently leave IPAM, veths and rules consistent', async () => {
    const tag = chainTag(d);
    assert.equal(d.berth(['network', 'create', '--subnet', '10.214.0.0/24', 'crowd']).code, 0);
    const bridge = `br-${d.berth(['network', 'inspect', '-f', '{{.Id}}', 'crowd']).stdout.trim().slice(0, 12)}`;
    const N = 100;
    // Every tenth container also publishes an ephemeral port.
    const runs = await parallel(d, Array.from({ length: N }, (_, i) => ['run', '-d', '--name', `crowd${i}`, '--network', 'crowd', ...(i % 10 === 0 ? ['-p', '80'] : []), 'busybox', 'sleep', '600']), 6);
    assert.deepEqual(runs.filter((r) => r.code !== 0), []);
    const net = JSON.parse(d.berth(['network', 'inspect', 'crowd']).stdout)[0];
    const addrs = Object.values(net.Containers).map((c) => (c as { IPv4Address: string }).IPv4Address);
    assert.equal(addrs.length, N);
    assert.equal(new Set(addrs).size, N, 'no address handed out twice');
    assert.equal(bridgePorts(bridge).length, N);
    const crowdDnat = () => ruleLines(tag).filter((l) => l.includes('-j DNAT --to-destination 10.214.0.'));
    assert.equal(crowdDnat().length, N / 10);
    // Half leave by stop, half by rm -f, while ten new ones join.
    const leave = Array.from({ length: N }, (_, i) => (i % 2 ? ['rm', '-f', `crowd${i}`] : ['stop', '-t', '0', `crowd${i}`]));
    const joiners = Array.from({ length: 10 }, (_, i) => ['run', '-d', '--name', `late${i}`, '--network', 'crowd', 'busybox', 'sleep', '600']);
    const mixed = await parallel(d, [...leave, ...joiners].sort(() => Math.random() - 0.5), 6);
    assert.deepEqual(mixed.filter((r) => r.code !== 0), []);
    const after = JSON.parse(d.berth(['network', 'inspect', 'crowd']).stdout)[0];
    assert.deepEqual(Object.values(after.Containers).map((c) => (c as { Name: string }).Name).sort(), joiners.map((j) => j[3]).sort());
    assert.equal(bridgePorts(bridge).length, 10);
    assert.deepEqual(crowdDnat(), []);
    const running = d.berth(['ps', '-q']).stdout.split('\n').filter(Boolean).length;
    assert.equal(readdirSync(join(d.execRoot, 'netns')).length, running, 'one namespace per running container');
    // The stopped half starts again, on addresses nobody else holds.
    const restart = await parallel(d, Array.from({ length: N / 2 }, (_, i) => ['start', `crowd${i * 2}`]), 6);
    assert.deepEqual(restart.filter((r) => r.code !== 0), []);
    const again = JSON.parse(d.berth(['network', 'inspect', 'crowd']).stdout)[0];
    const ips = Object.values(again.Containers).map((c) => (c as { IPv4Address: string }).IPv4Address);
    assert.equal(ips.length, N / 2 + 10);
    assert.equal(new Set(ips).size, ips.length);
    const ids = d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    await parallel(d, ids.map((id) => ['rm', '-f', id]), 6);
    assert.equal(bridgePorts(bridge).length, 0);
    assert.deepEqual(readdirSync(join(d.execRoot, 'netns')), []);
    assert.equal(d.berth(['network', 'rm', 'crowd']).code, 0);
    assert.equal(existsSync(`/sys/class/net/${bridge}`), false, 'the bridge goes with its network');
  });

  test('two daemons side by side get their own bridge, subnet and chains; a clean stop removes them', async () => {
    const other = await startSeededDaemon();
    try {
      const sub = (x: TestDaemon) => x.berth(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'bridge']).stdout.trim();
      assert.notEqual(sub(other), sub(d));
      assert.notEqual(chainTag(other), chainTag(d));
      httpd(other, 'neighbour', 'next-door', ['-p', '18804:80']);
      assert.equal(await httpGet('127.0.0.1', 18804), 'next-door\n');
      // Ours is untouched by the other's rules, and containers of the two bridges cannot talk.
      const ip = other.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'neighbour']).stdout.trim();
      const cross = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `timeout 3 wget -qO- http://${ip}/; echo rc=$?`]);
      assert.match(cross.stdout, /rc=(1|143)/);
      other.berth(['rm', '-f', 'neighbour']);
    } finally {
      const tag = chainTag(other);
      const bridge = `berth-${tag.slice('BERTH-'.length)}`;
      await other.destroy();
      assert.deepEqual(ruleLines(tag), [], 'a daemon stopped with nothing running leaves no rules');
      assert.equal(existsSync(`/sys/class/net/${bridge}`), false);
    }
  });
});
