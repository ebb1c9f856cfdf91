// The pure parts of networking: IPAM's cursor, -p parsing as the docker CLI
// does it, addresses, and the firewall rules a state renders to.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool, PoolExhaustedError } from '../../src/network/ipam.ts';
import { formatIPv4, formatIPv6, macFor, overlaps, parseCidr, parseIPv4, parseIPv6 } from '../../src/api/address.ts';
import { parseExpose, parsePortSpecs, PortSpecError } from '../../src/api/port-spec.ts';
import { portRequests } from '../../src/network/ports.ts';
import { Firewall } from '../../src/network/iptables.ts';

const ip = (s: string) => parseIPv4(s)!;
const pool = (cidr: string, gw: string, range?: string) => {
  const s = parseCidr(cidr);
  return new AddressPool(s, range ? parseCidr(range) : s, ip(gw));
};
const opts = { networkName: 'n', networkId: 'id' };

describe('IPAM', () => {
  test('addresses come after a cursor: a released one is not handed out again until the pool cycles', () => {
    const p = pool('10.0.0.0/29', '10.0.0.1');
    const a = p.allocate('a', opts);
    const b = p.allocate('b', opts);
    assert.deepEqual([formatIPv4(a), formatIPv4(b)], ['10.0.0.2', '10.0.0.3']);
    p.release(a, 'a');
    assert.equal(formatIPv4(p.allocate('c', opts)), '10.0.0.4', 'not the freed .2');
    assert.equal(formatIPv4(p.allocate('a', { ...opts, previous: a })), '10.0.0.2', 'a gets its own back');
    for (const x of ['d', 'e']) p.allocate(x, opts);
    assert.throws(() => p.allocate('f', opts), (e: unknown) => e instanceof PoolExhaustedError && /no available IPv4 addresses on this network's address pools: n \(id\)/.test(e.message));
    p.release(ip('10.0.0.3'), 'b');
    assert.equal(formatIPv4(p.allocate('f', opts)), '10.0.0.3', 'after the cycle the freed address is used');
  });

  test('--ip is honoured, refused when taken or outside the subnet; the gateway, network and broadcast are never handed out', () => {
    const p = pool('10.0.1.0/24', '10.0.1.1', '10.0.1.128/25');
    assert.equal(formatIPv4(p.allocate('a', { ...opts, requested: ip('10.0.1.5') })), '10.0.1.5');
    assert.throws(() => p.allocate('b', { ...opts, requested: ip('10.0.1.5') }), /Address already in use/);
    assert.throws(() => p.allocate('b', { ...opts, requested: ip('10.0.2.5') }), /no configured subnet/);
    assert.throws(() => p.allocate('b', { ...opts, requested: ip('10.0.1.1') }), /Address already in use/);
    assert.equal(formatIPv4(p.allocate('c', opts)), '10.0.1.128', 'dynamic ones from --ip-range');
    const q = pool('10.0.3.0/30', '10.0.3.1');
    assert.equal(formatIPv4(q.allocate('x', opts)), '10.0.3.2');
    assert.throws(() => q.allocate('y', opts), PoolExhaustedError);
  });

  test('claim restores a held address after a restart', () => {
    const p = pool('10.0.4.0/24', '10.0.4.1');
    p.claim(ip('10.0.4.2'), 'a');
    assert.equal(formatIPv4(p.allocate('b', opts)), '10.0.4.3');
    assert.throws(() => p.claim(ip('10.0.4.3'), 'c'), /Address already in use/);
  });
});

describe('addresses', () => {
  test('CIDRs, overlap, MACs, IPv6', () => {
    assert.throws(() => parseCidr('10.0.0.1/24'), /it should be 10\.0\.0\.0\/24/);
    assert.throws(() => parseCidr('10.0.0.0/33'), /invalid CIDR/);
    assert.ok(overlaps(parseCidr('10.0.0.0/16'), parseCidr('10.0.5.0/24')));
    assert.ok(!overlaps(parseCidr('10.1.0.0/16'), parseCidr('10.0.5.0/24')));
    assert.equal(macFor(ip('172.17.0.2')), '02:42:ac:11:00:02');
    assert.equal(formatIPv6(parseIPv6('fd42:0:0::1')!), 'fd42::1');
    assert.equal(formatIPv6(parseIPv6('2001:db8:1:2:3:4:5:6')!), '2001:db8:1:2:3:4:5:6');
    assert.equal(parseIPv6('1::2::3'), undefined);
  });
});

describe('-p and --expose', () => {
  test('the forms the docker CLI accepts', () => {
    assert.deepEqual(parsePortSpecs(['80']).bindings, { '80/tcp': [{ HostIp: '', HostPort: '' }] });
    assert.deepEqual(parsePortSpecs(['8080:80/udp']).bindings, { '80/udp': [{ HostIp: '', HostPort: '8080' }] });
    assert.deepEqual(parsePortSpecs(['127.0.0.1:8080:80']).bindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] });
    assert.deepEqual(parsePortSpecs(['127.0.0.1::80']).bindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    assert.deepEqual(parsePortSpecs(['[::1]:8080:80']).bindings, { '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] });
    assert.deepEqual(parsePortSpecs(['8000-8001:80-81']).bindings, { '80/tcp': [{ HostIp: '', HostPort: '8000' }], '81/tcp': [{ HostIp: '', HostPort: '8001' }] });
    assert.deepEqual(parsePortSpecs(['8000-8010:80']).bindings, { '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }] });
    assert.throws(() => parsePortSpecs(['8000-8002:80-81']), PortSpecError);
    assert.throws(() => parsePortSpecs(['80/xyz']), /invalid proto/);
    assert.throws(() => parsePortSpecs(['a:b:c:d']), /invalid port format/);
    assert.deepEqual(Object.keys(parseExpose(['7000-7002/udp'])), ['7000/udp', '7001/udp', '7002/udp']);
  });

  test('-P adds every exposed port that has no binding, with an ephemeral host port', () => {
    const reqs = portRequests({ PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, PublishAllPorts: true }, { '80/tcp': {}, '443/tcp': {} });
    assert.deepEqual(reqs, [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPorts: [8080, 8080] },
      { proto: 'tcp', containerPort: 443, hostIp: '', hostPorts: [0, 0] },
    ]);
  });
});

describe('firewall rules', () => {
  test('a state renders to chains of the daemon\'s own, the same every time', () => {
    const state = {
      bridges: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, icc: true }, { bridge: 'br-0123456789ab', subnet: '10.9.0.0/24', internal: true, icc: false }],
      ports: [{ bridge: 'berth0', proto: 'tcp' as const, hostIp: '', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 }],
    };
    const fw = new Firewall('BERTH-t', () => state);
    const text = fw.render(state);
    assert.equal(text, fw.render(state));
    const lines = text.split('\n');
    assert.ok(lines.every((l) => !l.startsWith('-A') || /^-A BERTH-t-/.test(l)), 'rules only in our chains');
    assert.ok(lines.includes('-A BERTH-t-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80'));
    assert.ok(lines.includes('-A BERTH-t-POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE'));
    assert.ok(lines.includes('-A BERTH-t-FORWARD -i br-0123456789ab -o br-0123456789ab -j DROP'), 'icc off');
    assert.ok(lines.includes('-A BERTH-t-FORWARD -i br-0123456789ab -j DROP'), 'internal: no way out');
    assert.ok(!lines.some((l) => l.includes('-s 10.9.0.0/24 ! -o')), 'and no NAT out');
    assert.ok(lines.includes('-A BERTH-t-FORWARD -i berth0 -o br-+ -j DROP'), 'bridges isolated from each other');
  });

  test('a link under icc=false is accepted both ways for its port, before the bridge\'s DROP; with icc on it adds nothing', () => {
    const link = { bridge: 'berth0', from: '172.17.0.3', to: '172.17.0.2', proto: 'tcp' as const, port: 80 };
    const state = { bridges: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, icc: false }], ports: [], links: [link] };
    const lines = new Firewall('BERTH-t', () => state).render(state).split('\n');
    const there = lines.indexOf('-A BERTH-t-FORWARD -s 172.17.0.3/32 -d 172.17.0.2/32 -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT');
    const back = lines.indexOf('-A BERTH-t-FORWARD -s 172.17.0.2/32 -d 172.17.0.3/32 -i berth0 -o berth0 -p tcp -m tcp --sport 80 -j ACCEPT');
    const drop = lines.indexOf('-A BERTH-t-FORWARD -i berth0 -o berth0 -j DROP');
    assert.ok(there >= 0 && back >= 0 && drop > there && drop > back, lines.join('\n'));
    const open = { ...state, bridges: [{ ...state.bridges[0], icc: true }] };
    assert.ok(!new Firewall('BERTH-t', () => open).render(open).includes('172.17.0.3/32'));
  });

  test('a swarm VIP goes round robin over its tasks (nth), balanced traffic leaves with the node\'s own overlay address, before any masquerade', () => {
    const state = {
      bridges: [{ bridge: 'br-ov', subnet: '10.0.1.0/24', internal: false, icc: true, acceptDnat: true }], ports: [],
      balancers: [
        { match: ['-d', '10.0.1.2/32'], targets: ['10.0.1.5', '10.0.1.6', '10.0.1.7'] },
        { match: ['-p', 'tcp', '-m', 'tcp', '--dport', '8080'], targets: ['10.0.0.5:80'] },
      ],
      snat: [{ bridge: 'br-ov', subnet: '10.0.1.0/24', source: '10.0.1.3' }],
    };
    const lines = new Firewall('BERTH-t', () => state).render(state).split('\n');
    const vip = lines.filter((l) => l.includes('-d 10.0.1.2/32'));
    assert.deepEqual(vip, [
      '-A BERTH-t-DNAT -d 10.0.1.2/32 -m statistic --mode nth --every 3 --packet 0 -j DNAT --to-destination 10.0.1.5',
      '-A BERTH-t-DNAT -d 10.0.1.2/32 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.0.1.6',
      '-A BERTH-t-DNAT -d 10.0.1.2/32 -j DNAT --to-destination 10.0.1.7',
    ]);
    assert.ok(lines.includes('-A BERTH-t-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.5:80'), 'one task: no statistic');
    const snat = lines.indexOf('-A BERTH-t-POSTROUTING -d 10.0.1.0/24 -o br-ov -m conntrack --ctstate DNAT -j SNAT --to-source 10.0.1.3');
    const masq = lines.findIndex((l) => l.startsWith('-A BERTH-t-POSTROUTING') && l.includes('MASQUERADE'));
    assert.ok(snat >= 0 && snat < masq, lines.join('\n'));
    const accept = lines.indexOf('-A BERTH-t-FORWARD -o br-ov -m conntrack --ctstate DNAT -j ACCEPT');
    assert.ok(accept >= 0 && accept < lines.indexOf('-A BERTH-t-FORWARD -o br-ov -j DROP'), 'the routing mesh is let in before the bridge\'s DROP');
  });
});
