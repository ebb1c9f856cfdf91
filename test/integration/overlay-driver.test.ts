// The overlay driver's kernel plumbing (network/overlay-links.ts) between two
// "hosts": two network namespaces joined by a veth pair, each with its own
// address, each running the driver as a node's daemon does, each with a
// "container" namespace on its overlay bridge. Traffic between the two
// containers crosses the hosts' link inside VXLAN, and only to the endpoints
// the FDB names.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, run } from '../helpers/daemon.ts';

const NODE = join(ROOT, 'node_modules/.bin/node');
const tag = randomBytes(3).toString('hex');
const hostA = `bovt-a-${tag}`;
const hostB = `bovt-b-${tag}`;
const ctrA = `bovt-ca-${tag}`;
const ctrB = `bovt-cb-${tag}`;
const VTEP_A = '192.168.251.1';
const VTEP_B = '192.168.251.2';
const BRIDGE = 'br-ovtest';
const VXLAN = 'vx-ovtest';
const MAC = { ctrA: '02:42:0a:09:00:0a', ctrB: '02:42:0a:09:00:14', lbA: '02:42:0a:09:00:02', lbB: '02:42:0a:09:00:03' };

function sh(args: string[]): string {
  const r = run(args[0], args.slice(1));
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The driver, run in a host's namespace as its daemon would run it. */
function driver(host: string, vtep: string, lb: string, lbMac: string, peers: { ip: string; mac: string; vtep: string }[]): void {
  const arg = { bridge: BRIDGE, addresses: ['10.9.0.1/24', `${lb}/32`], mac: lbMac, vxlan: { bridge: BRIDGE, vxlan: VXLAN, vni: 4097, port: 4789, local: vtep }, peers };
  sh(['ip', 'netns', 'exec', host, NODE, join(ROOT, 'test/helpers/overlay-node.ts'), JSON.stringify(arg)]);
}

function ping(from: string, to: string): boolean {
  return run('ip', ['netns', 'exec', from, 'busybox', 'ping', '-c', '1', '-W', '2', to]).code === 0;
}

const peersOfA = [{ ip: '10.9.0.20', mac: MAC.ctrB, vtep: VTEP_B }, { ip: '10.9.0.3', mac: MAC.lbB, vtep: VTEP_B }];
const peersOfB = [{ ip: '10.9.0.10', mac: MAC.ctrA, vtep: VTEP_A }, { ip: '10.9.0.2', mac: MAC.lbA, vtep: VTEP_A }];

describe('overlay driver between two hosts (network namespaces)', { skip: process.getuid?.() !== 0 }, () => {
  before(() => {
    for (const ns of [hostA, hostB, ctrA, ctrB]) sh(['ip', 'netns', 'add', ns]);
    sh(['ip', 'link', 'add', 'eth0', 'netns', hostA, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostB]);
    for (const [ns, addr] of [[hostA, VTEP_A], [hostB, VTEP_B]]) {
      sh(['ip', '-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    driver(hostA, VTEP_A, '10.9.0.2', MAC.lbA, peersOfA);
    driver(hostB, VTEP_B, '10.9.0.3', MAC.lbB, peersOfB);
    // A container on each host's overlay bridge, as endpoints.ts plumbs one.
    for (const [ctr, host, ip, mac] of [[ctrA, hostA, '10.9.0.10', MAC.ctrA], [ctrB, hostB, '10.9.0.20', MAC.ctrB]]) {
      sh(['ip', 'link', 'add', 'eth0', 'netns', ctr, 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'vethc', 'netns', host]);
      sh(['ip', '-n', host, 'link', 'set', 'vethc', 'master', BRIDGE, 'up']);
      sh(['ip', '-n', ctr, 'link', 'set', 'eth0', 'address', mac]);
      sh(['ip', '-n', ctr, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', ctr, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', ctr, 'link', 'set', 'lo', 'up']);
    }
  });
  after(() => {
    for (const ns of [ctrA, ctrB, hostA, hostB]) run('ip', ['netns', 'del', ns]);
  });

  test('a container on host A reaches the one on host B over the VXLAN, and back', () => {
    assert.ok(ping(ctrA, '10.9.0.20'), 'A → B');
    assert.ok(ping(ctrB, '10.9.0.10'), 'B → A');
    // The traffic went through the VXLAN: the hosts' link carried UDP to 4789 (its counters moved).
    const stats = JSON.parse(sh(['ip', '-n', hostA, '-j', '-s', 'link', 'show', VXLAN])) as { stats64: { tx: { packets: number } } }[];
    assert.ok(stats[0].stats64.tx.packets > 0, 'the VXLAN sent packets');
  });

  test('20 kB over TCP cross too (MTU 1450 on both ends: full-size frames fit in the VXLAN)', () => {
    const server = run('ip', ['netns', 'exec', ctrB, 'sh', '-c', '(head -c 20000 /dev/zero | tr "\\0" x | busybox nc -l -p 7777) >/dev/null 2>&1 </dev/null & sleep 0.3; echo started']);
    assert.equal(server.code, 0, server.stderr);
    // The client's stdin stays open while the reply comes (busybox nc stops reading at its input's end).
    const client = run('ip', ['netns', 'exec', ctrA, 'sh', '-c', 'sleep 2 | busybox nc -w 5 10.9.0.20 7777'], { timeout: 15_000 });
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.length, 20000, 'the whole reply came over the overlay');
  });

  test('each host answers the gateway address itself: ARP does not cross the VXLAN (proxy)', () => {
    assert.ok(ping(ctrA, '10.9.0.1'));
    const neigh = sh(['ip', '-n', ctrA, 'neigh', 'show', '10.9.0.1']);
    assert.match(neigh, new RegExp(MAC.lbA), `A's gateway is A's own bridge: ${neigh}`);
    // Each host's own overlay address is reached from the other host's container (balanced traffic's source).
    assert.ok(ping(ctrB, '10.9.0.2'), 'B\'s container reaches host A\'s overlay address');
  });

  test('an endpoint dropped from the peers is no longer reached; re-added, it is again; no peer at all leaves no VXLAN', () => {
    driver(hostA, VTEP_A, '10.9.0.2', MAC.lbA, peersOfA.filter((p) => p.ip !== '10.9.0.20'));
    run('ip', ['-n', ctrA, 'neigh', 'flush', 'dev', 'eth0']);
    assert.equal(ping(ctrA, '10.9.0.20'), false, 'B is unknown to A now');
    const fdb = sh(['ip', 'netns', 'exec', hostA, 'bridge', 'fdb', 'show', 'dev', VXLAN]);
    assert.doesNotMatch(fdb, new RegExp(`${MAC.ctrB} dst`), "no VXLAN entry for B's container");
    driver(hostA, VTEP_A, '10.9.0.2', MAC.lbA, peersOfA);
    const again = sh(['ip', 'netns', 'exec', hostA, 'bridge', 'fdb', 'show', 'dev', VXLAN]);
    run('ip', ['-n', ctrA, 'neigh', 'flush', 'dev', 'eth0']);
    assert.ok(ping(ctrA, '10.9.0.20'), `A → B again (${again})`);
    driver(hostA, VTEP_A, '10.9.0.2', MAC.lbA, []);
    assert.notEqual(run('ip', ['-n', hostA, 'link', 'show', VXLAN]).code, 0, 'no VXLAN without peers');
  });
});
