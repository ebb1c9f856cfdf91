// Bridge networking with real containers: the default bridge, user-defined
// networks with the embedded DNS, isolation, published ports from the host,
// -P with EXPOSE, container: mode, connect/disconnect, outbound NAT to a test
// host in a namespace of the test's own, and the network CLI and API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { busyboxTarPath, startSeededDaemon, type TestDaemon, DOCKER } from '../helpers/daemon.ts';
import { chainTag, hostAddress, httpGet, httpd, ruleLines, until } from '../helpers/network.ts';

describe('bridge networking', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  const inspect = (ref: string, fmt: string) => d.berth(['inspect', '-f', fmt, ref]).stdout.trim();

  test('a container on the default bridge has eth0, an address, a default route and Docker\'s NetworkSettings', () => {
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0 | awk \'{print $4}\'; ip route | grep default']);
    assert.equal(r.code, 0, r.stderr);
    const [addr, route] = r.stdout.trim().split('\n');
    assert.match(addr, /^\d+\.\d+\.\d+\.\d+\/16$/);
    const gw = d.berth(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', 'bridge']).stdout.trim();
    assert.match(route, new RegExp(`^default via ${gw.replace(/\./g, '\\.')} dev eth0`));
    d.berth(['run', '-d', '--name', 'shape', 'busybox', 'sleep', '60']);
    const ns = JSON.parse(inspect('shape', '{{json .NetworkSettings}}'));
    assert.equal(ns.Networks.bridge.IPAddress, ns.IPAddress);
    assert.equal(ns.Networks.bridge.Gateway, gw);
    assert.equal(ns.IPPrefixLen, 16);
    assert.match(ns.MacAddress, /^02:42(:[0-9a-f]{2}){4}$/);
    assert.match(ns.Networks.bridge.NetworkID, /^[0-9a-f]{64}$/);
    assert.match(ns.SandboxKey, /netns/);
    const net = JSON.parse(d.berth(['network', 'inspect', 'bridge']).stdout)[0];
    const id = inspect('shape', '{{.Id}}');
    assert.equal(net.Containers[id].IPv4Address, `${ns.IPAddress}/16`);
    assert.equal(net.Containers[id].Name, 'shape');
    d.berth(['rm', '-f', 'shape']);
    const after = JSON.parse(d.berth(['network', 'inspect', 'bridge']).stdout)[0];
    assert.deepEqual(after.Containers, {});
  });

  test('httpd on the default bridge is reachable by IP from another container', async () => {
    httpd(d, 'bweb', 'on-the-bridge');
    const ip = inspect('bweb', '{{.NetworkSettings.IPAddress}}');
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://${ip}/ && exit 0; sleep 0.2; done; exit 1`]);
    assert.equal(r.stdout, 'on-the-bridge\n', r.stderr);
    d.berth(['rm', '-f', 'bweb']);
  });

  test('containers on a user-defined network reach each other by name and alias through 127.0.0.11', () => {
    assert.equal(d.berth(['network', 'create', 'front']).code, 0);
    httpd(d, 'named', 'by-name', ['--network', 'front', '--network-alias', 'web-alias']);
    const r = d.berth(['run', '--rm', '--network', 'front', 'busybox', 'sh', '-c',
      'grep nameserver /etc/resolv.conf; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://named/ && break; sleep 0.2; done; wget -qO- http://web-alias/']);
    assert.equal(r.stdout, 'nameserver 127.0.0.11\nby-name\nby-name\n', r.stderr);
    // Names the network does not know go to the host's resolvers; an unknown one fails cleanly.
    const miss = d.berth(['run', '--rm', '--network', 'front', 'busybox', 'nslookup', 'no-such-container.invalid', '127.0.0.11']);
    assert.notEqual(miss.code, 0);
    const net = JSON.parse(d.berth(['network', 'inspect', 'front']).stdout)[0];
    assert.deepEqual(Object.values(net.Containers).map((c) => (c as { Name: string }).Name), ['named']);
  });

  test('two user-defined networks are isolated from each other', () => {
    assert.equal(d.berth(['network', 'create', 'back']).code, 0);
    const ip = inspect('named', '{{.NetworkSettings.Networks.front.IPAddress}}');
    const r = d.berth(['run', '--rm', '--network', 'back', 'busybox', 'sh', '-c', `timeout 3 wget -qO- http://${ip}/; echo rc=$?; nslookup named 127.0.0.11 >/dev/null 2>&1; echo dns=$?`]);
    assert.match(r.stdout, /^rc=(143|1)\n/, 'no route across networks');
    assert.match(r.stdout, /dns=1/, 'names of other networks are not resolved');
    const bridgeIp = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `timeout 3 wget -qO- http://${ip}/; echo rc=$?`]);
    assert.match(bridgeIp.stdout, /^rc=(143|1)\n/, 'nor from the default bridge');
  });

  test('connect and disconnect on a running container change what it can reach', () => {
    d.berth(['run', '-d', '--name', 'roamer', '--network', 'back', 'busybox', 'sleep', '300']);
    const fetch = () => d.berth(['exec', 'roamer', 'sh', '-c', 'timeout 3 wget -qO- http://named/; echo rc=$?']).stdout;
    assert.match(fetch(), /rc=(1|143)/);
    assert.equal(d.berth(['network', 'connect', '--alias', 'roams', 'front', 'roamer']).code, 0);
    assert.equal(fetch(), 'by-name\nrc=0\n');
    assert.match(d.berth(['exec', 'roamer', 'ip', '-o', 'link']).stdout, /eth1/);
    const eps = JSON.parse(inspect('roamer', '{{json .NetworkSettings.Networks}}'));
    assert.deepEqual(Object.keys(eps).sort(), ['back', 'front']);
    assert.deepEqual(eps.front.Aliases, ['roams']);
    // The alias resolves for the others on the network.
    assert.match(d.berth(['exec', 'named', 'nslookup', 'roams', '127.0.0.11']).stdout, new RegExp(eps.front.IPAddress.replace(/\./g, '\\.')));
    assert.equal(d.berth(['network', 'connect', 'front', 'roamer']).stderr.trim(), 'Error response from daemon: endpoint with name roamer already exists in network front');
    assert.equal(d.berth(['network', 'disconnect', 'front', 'roamer']).code, 0);
    assert.match(fetch(), /rc=(1|143)/);
    assert.doesNotMatch(d.berth(['exec', 'roamer', 'ip', '-o', 'link']).stdout, /eth1/);
    d.berth(['rm', '-f', 'roamer']);
    // A container of the default bridge gets the embedded DNS with its first user-defined network.
    d.berth(['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '300']);
    assert.equal(d.berth(['network', 'connect', 'front', 'joiner']).code, 0);
    assert.equal(d.berth(['exec', 'joiner', 'wget', '-qO-', 'http://named/']).stdout, 'by-name\n');
    d.berth(['rm', '-f', 'joiner']);
  });

  test('a published port answers on 127.0.0.1 and on the host\'s address, and its rules leave with the container', async () => {
    const tag = chainTag(d);
    httpd(d, 'pub', 'published', ['-p', '18781:80', '-p', '127.0.0.1:18782:80']);
    assert.equal(await httpGet('127.0.0.1', 18781), 'published\n');
    assert.equal(await httpGet(hostAddress(), 18781), 'published\n');
    assert.equal(await httpGet('127.0.0.1', 18782), 'published\n');
    // From containers through the host's address: another one, and the server itself (hairpin).
    for (const from of [['run', '--rm', 'busybox'], ['exec', 'pub']]) {
      const r = d.berth([...from, 'wget', '-qO-', `http://${hostAddress()}:18781/`]);
      assert.equal(r.stdout, 'published\n', `${from.join(' ')}: ${r.stderr}`);
    }
    assert.equal(d.berth(['port', 'pub']).stdout, '80/tcp -> 0.0.0.0:18781\n80/tcp -> 127.0.0.1:18782\n');
    assert.equal(d.berth(['port', 'pub', '80']).stdout, '0.0.0.0:18781\n127.0.0.1:18782\n');
    assert.match(d.berth(['ps', '--format', '{{.Ports}}', '-f', 'name=pub']).stdout, /0\.0\.0\.0:18781->80\/tcp/);
    // A second container cannot take the same host port.
    const clash = d.berth(['run', '-d', '--name', 'clash', '-p', '18781:80', 'busybox', 'true']);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /driver failed programming external connectivity on endpoint clash \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:18781 failed: port is already allocated/);
    d.berth(['rm', '-f', 'clash']);
    assert.equal(ruleLines(tag).filter((l) => /--dport 18781 -j DNAT/.test(l)).length, 1, 'one DNAT rule for the port');
    d.berth(['stop', '-t', '1', 'pub']);
    assert.deepEqual(ruleLines(tag).filter((l) => l.includes('18781') || l.includes('18782')), []);
    assert.equal(d.berth(['port', 'pub']).stdout, '');
    d.berth(['start', 'pub']);
    await until(async () => (await httpGet('127.0.0.1', 18781).catch(() => '')) === 'published\n');
    d.berth(['rm', '-f', 'pub']);
    assert.deepEqual(ruleLines(tag).filter((l) => l.includes('18781')), []);
  });

  test('-P publishes every EXPOSEd port of the image on an ephemeral port; -p containerPort too', async () => {
    assert.equal(d.berth(['import', '--change', 'EXPOSE 80', '--change', 'CMD ["sh"]', busyboxTarPath(), 'exposing:latest']).code, 0);
    httpd(d, 'allpub', 'all-published', ['-P'], 'exposing');
    const line = d.berth(['port', 'allpub', '80/tcp']).stdout.trim();
    const m = /^0\.0\.0\.0:(\d+)$/.exec(line);
    assert.ok(m, line);
    assert.ok(Number(m[1]) >= 1024);
    assert.equal(await httpGet('127.0.0.1', Number(m[1])), 'all-published\n');
    httpd(d, 'ephemeral', 'ephemeral', ['-p', '80']);
    const eph = Number(d.berth(['port', 'ephemeral', '80']).stdout.trim().split(':')[1]);
    assert.equal(await httpGet('127.0.0.1', eph), 'ephemeral\n');
    d.berth(['rm', '-f', 'allpub', 'ephemeral']);
  });

  test('--network container:<name> shares the other container\'s network namespace', () => {
    httpd(d, 'owner', 'shared-netns');
    const ip = inspect('owner', '{{.NetworkSettings.IPAddress}}');
    const r = d.berth(['run', '--rm', '--network', 'container:owner', 'busybox', 'sh', '-c',
      'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1/ && break; sleep 0.2; done; ip -o -4 addr show eth0 | awk \'{print $4}\'']);
    assert.equal(r.stdout, `shared-netns\n${ip}/16\n`, r.stderr);
    d.berth(['rm', '-f', 'owner']);
    const stopped = d.berth(['run', '--rm', '--network', 'container:nonexistent', 'busybox', 'true']);
    assert.match(stopped.stderr, /No such container: nonexistent/);
  });

  test('--network host and none', () => {
    const host = d.berth(['run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link']);
    assert.match(host.stdout, new RegExp(`berth-${chainTag(d).slice('BERTH-'.length)}`), 'the host\'s own links, our bridge among them');
    assert.equal(d.berth(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ip -o link | cut -d: -f2']).stdout, ' lo\n');
  });

  test('outbound traffic is NATed to the host\'s address (a test host in a namespace of our own)', () => {
    const ns = `bt-nat-${randomBytes(3).toString('hex')}`;
    const third = 1 + (randomBytes(1)[0] % 250);
    const hostIf = `vn${randomBytes(3).toString('hex')}`;
    const dir = mkdtempSync('/tmp/bt-nat-');
    const sh = (c: string) => spawnSync('sh', ['-c', c], { encoding: 'utf8' });
    try {
      mkdirSync(join(dir, 'cgi-bin'));
      writeFileSync(join(dir, 'cgi-bin', 'who'), '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$REMOTE_ADDR"\n');
      chmodSync(join(dir, 'cgi-bin', 'who'), 0o755);
      for (const c of [
        `ip netns add ${ns}`,
        `ip link add ${hostIf} type veth peer name eth0 netns ${ns}`,
        `ip addr add 198.18.${third}.1/24 dev ${hostIf}`, `ip link set ${hostIf} up`,
        `ip -n ${ns} addr add 198.18.${third}.2/24 dev eth0`, `ip -n ${ns} link set eth0 up`, `ip -n ${ns} link set lo up`,
      ]) assert.equal(sh(c).status, 0, c);
      // The test host has no route back to the container subnet: only NAT makes a reply possible.
      const server = sh(`ip netns exec ${ns} busybox httpd -p 8000 -h ${dir}`);
      assert.equal(server.status, 0, server.stderr);
      const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `for i in 1 2 3 4 5; do wget -qO- http://198.18.${third}.2:8000/cgi-bin/who && exit 0; sleep 0.3; done; exit 1`]);
      // busybox httpd shows an IPv4 peer v4-mapped: [::ffff:a.b.c.d].
      assert.equal(r.stdout.replace(/^\[::ffff:(.*)\]/, '$1'), `198.18.${third}.1\n`, r.stderr);
    } finally {
      sh(`ip netns pids ${ns} | xargs -r kill`);
      sh(`ip link del ${hostIf}`);
      sh(`ip netns del ${ns}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an address stays with its container across restarts; --ip is honoured', () => {
    assert.equal(d.berth(['network', 'create', '--subnet', '10.213.7.0/24', 'fixed']).code, 0);
    d.berth(['run', '-d', '--name', 'keeper', '--network', 'fixed', 'busybox', 'sleep', '300']);
    const first = inspect('keeper', '{{.NetworkSettings.Networks.fixed.IPAddress}}');
    d.berth(['stop', '-t', '0', 'keeper']);
    // Docker would hand the freed lowest address to this newcomer.
    d.berth(['run', '-d', '--name', 'newcomer', '--network', 'fixed', 'busybox', 'sleep', '300']);
    assert.notEqual(inspect('newcomer', '{{.NetworkSettings.Networks.fixed.IPAddress}}'), first);
    d.berth(['start', 'keeper']);
    assert.equal(inspect('keeper', '{{.NetworkSettings.Networks.fixed.IPAddress}}'), first);
    const pinned = d.berth(['run', '--rm', '--network', 'fixed', '--ip', '10.213.7.77', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(pinned.stdout, /10\.213\.7\.77\/24/);
    const taken = d.berth(['run', '--rm', '--network', 'fixed', '--ip', first, 'busybox', 'true']);
    assert.match(taken.stderr, /Address already in use/);
    const onBridge = d.berth(['run', '--rm', '--ip', '172.17.0.99', 'busybox', 'true']);
    assert.match(onBridge.stderr, /user specified IP address is supported on user defined networks only/);
    d.berth(['rm', '-f', 'keeper', 'newcomer']);
  });

  test('faults: pool exhaustion, overlapping subnets, removing a network in use', () => {
    assert.equal(d.berth(['network', 'create', '--subnet', '10.213.9.0/30', 'tiny']).code, 0);
    assert.equal(d.berth(['run', '-d', '--name', 'only', '--network', 'tiny', 'busybox', 'sleep', '300']).code, 0);
    const full = d.berth(['run', '-d', '--name', 'toomany', '--network', 'tiny', 'busybox', 'sleep', '300']);
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /no available IPv4 addresses on this network's address pools: tiny/);
    assert.equal(inspect('toomany', '{{.State.Running}}'), 'false');
    const overlap = d.berth(['network', 'create', '--subnet', '10.213.9.0/24', 'wide']);
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, /Pool overlaps with other one on this address space/);
    const inUse = d.berth(['network', 'rm', 'tiny']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /network tiny has active endpoints \(name:"only"/);
    assert.match(d.berth(['network', 'rm', 'bridge']).stderr, /bridge is a pre-defined network and cannot be removed/);
    assert.match(d.berth(['network', 'create', 'tiny']).stderr, /network with name tiny already exists/);
    d.berth(['rm', '-f', 'only', 'toomany']);
    assert.equal(d.berth(['network', 'rm', 'tiny']).stdout, 'tiny\n');
    assert.match(d.berth(['network', 'inspect', 'tiny']).stderr, /network tiny not found/);
  });

  test('--add-host host-gateway, --hostname, --dns, --mac-address and legacy --link', () => {
    const gw = d.berth(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', 'bridge']).stdout.trim();
    const r = d.berth(['run', '--rm', '--add-host', 'outside:host-gateway', '--hostname', 'box1', '--dns', '10.9.9.9', '--mac-address', '92:d0:c6:0a:29:33',
      'busybox', 'sh', '-c', 'grep outside /etc/hosts; grep box1 /etc/hosts | cut -f2; hostname; grep nameserver /etc/resolv.conf; cat /sys/class/net/eth0/address']);
    assert.equal(r.stdout, `${gw}\toutside\nbox1\nbox1\nnameserver 10.9.9.9\n92:d0:c6:0a:29:33\n`, r.stderr);
    d.berth(['run', '-d', '--name', 'db', '--expose', '5432', '-e', 'DB_USER=me', 'busybox', 'sleep', '300']);
    const ip = inspect('db', '{{.NetworkSettings.IPAddress}}');
    const l = d.berth(['run', '--rm', '--name', 'app', '--link', 'db:database', 'busybox', 'sh', '-c', 'grep database /etc/hosts; env | grep ^DATABASE_ | sort']);
    assert.match(l.stdout, new RegExp(`^${ip.replace(/\./g, '\\.')}\tdatabase `));
    assert.match(l.stdout, new RegExp(`DATABASE_PORT_5432_TCP=tcp://${ip.replace(/\./g, '\\.')}:5432`));
    assert.match(l.stdout, /DATABASE_NAME=\/app\/database/);
    assert.match(l.stdout, /DATABASE_ENV_DB_USER=me/);
    d.berth(['rm', '-f', 'db']);
  });

  test('--ipv6 with an IPv6 subnet gives containers an IPv6 address that reaches the gateway', () => {
    const created = d.berth(['network', 'create', '--ipv6', '--subnet', '10.213.13.0/24', '--subnet', 'fd42:be27:13::/64', 'six']);
    assert.equal(created.code, 0, created.stderr);
    const cfg = JSON.parse(d.berth(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'six']).stdout);
    assert.deepEqual(cfg[1], { Subnet: 'fd42:be27:13::/64', Gateway: 'fd42:be27:13::1' });
    d.berth(['run', '-d', '--name', 'v6box', '--network', 'six', 'busybox', 'sleep', '300']);
    const ep = JSON.parse(inspect('v6box', '{{json .NetworkSettings.Networks.six}}'));
    assert.equal(ep.GlobalIPv6Address, 'fd42:be27:13::2');
    assert.equal(ep.GlobalIPv6PrefixLen, 64);
    assert.equal(ep.IPv6Gateway, 'fd42:be27:13::1');
    const ping = d.berth(['exec', 'v6box', 'ping', '-6', '-c', '1', '-W', '3', 'fd42:be27:13::1']);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    d.berth(['rm', '-f', 'v6box']);
    assert.equal(d.berth(['network', 'rm', 'six']).code, 0);
  });

  test('network ls, filters, --format, -q, --no-trunc, prune', () => {
    assert.equal(d.berth(['network', 'create', '--label', 'team=a', '--internal', 'labelled']).code, 0);
    const ls = d.berth(['network', 'ls']).stdout.split('\n');
    assert.equal(ls[0].replace(/\s+/g, ' ').trim(), 'NETWORK ID NAME DRIVER SCOPE');
    assert.ok(ls.some((l) => /^[0-9a-f]{12}\s+labelled\s+bridge\s+local$/.test(l)));
    assert.equal(d.berth(['network', 'ls', '-f', 'label=team=a', '--format', '{{.Name}} {{.Internal}}']).stdout, 'labelled true\n');
    assert.match(d.berth(['network', 'ls', '-q', '--no-trunc', '-f', 'name=labelled']).stdout, /^[0-9a-f]{64}\n$/);
    assert.equal(d.berth(['network', 'ls', '-f', 'type=builtin', '--format', '{{.Name}}']).stdout, 'bridge\nhost\nnone\n');
    const internal = d.berth(['run', '--rm', '--network', 'labelled', 'busybox', 'sh', '-c', 'ip route | grep -c default']);
    assert.equal(internal.stdout, '0\n', 'an internal network has no way out');
    const pruned = d.berth(['network', 'prune', '-f']);
    assert.match(pruned.stdout, /Deleted Networks:\n/);
    assert.match(pruned.stdout, /labelled/);
    assert.doesNotMatch(pruned.stdout, /front/, 'a network a container uses stays');
  });

  test('the docker CLI: network create/ls/inspect/rm, run -p, port', { skip: !DOCKER }, async () => {
    assert.equal(d.docker(['network', 'create', '--subnet', '10.213.11.0/24', 'dk']).code, 0);
    assert.match(d.docker(['network', 'ls']).stdout, /dk\s+bridge\s+local/);
    const ins = JSON.parse(d.docker(['network', 'inspect', 'dk']).stdout)[0];
    assert.equal(ins.IPAM.Config[0].Subnet, '10.213.11.0/24');
    assert.equal(ins.IPAM.Config[0].Gateway, '10.213.11.1');
    const run = d.docker(['run', '-d', '--name', 'dkweb', '--network', 'dk', '-p', '18791:80', 'busybox', 'sh', '-c', 'mkdir -p /w && echo via-docker > /w/index.html && exec httpd -f -p 80 -h /w']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(d.docker(['port', 'dkweb']).stdout.split('\n')[0], '80/tcp -> 0.0.0.0:18791');
    await until(async () => (await httpGet('127.0.0.1', 18791).catch(() => '')) === 'via-docker\n');
    const ps = d.docker(['ps', '--format', '{{.Ports}}', '-f', 'name=dkweb']).stdout;
    assert.match(ps, /0\.0\.0\.0:18791->80\/tcp/);
    const busy = d.docker(['network', 'rm', 'dk']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /has active endpoints/);
    d.docker(['rm', '-f', 'dkweb']);
    assert.equal(d.docker(['network', 'rm', 'dk']).stdout, 'dk\n');
  });

  test('docker-compose: a project network, service names through DNS, a published port, down removes the network', { skip: !existsSync('/usr/bin/docker-compose') }, async () => {
    const dir = mkdtempSync('/tmp/bt-compose-');
    try {
      writeFileSync(join(dir, 'docker-compose.yml'), [
        'version: "3"',
        'services:',
        '  web:',
        '    image: busybox',
        "    command: sh -c 'mkdir -p /w && echo from-compose > /w/index.html && exec httpd -f -p 80 -h /w'",
        '    ports: ["18796:80"]',
        '  client:',
        '    image: busybox',
        "    command: sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web/ && exit 0; sleep 0.3; done; exit 1'",
        '    depends_on: [web]',
        '',
      ].join('\n'));
      const compose = (args: string[]) => spawnSync('docker-compose', ['-p', 'btc', ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DOCKER_HOST: d.host } });
      const up = compose(['up', '-d']);
      assert.equal(up.status, 0, up.stderr);
      assert.match(d.berth(['network', 'ls', '--format', '{{.Name}}']).stdout, /^btc_default$/m);
      await until(() => d.berth(['inspect', '-f', '{{.State.Status}}', 'btc_client_1']).stdout.trim() === 'exited');
      assert.equal(d.berth(['logs', 'btc_client_1']).stdout, 'from-compose\n');
      assert.equal(await httpGet('127.0.0.1', 18796), 'from-compose\n');
      const down = compose(['down']);
      assert.equal(down.status, 0, down.stderr);
      assert.doesNotMatch(d.berth(['network', 'ls', '--format', '{{.Name}}']).stdout, /btc_default/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('python3-docker: networks.create with IPAM, run with ports and a network, name resolution, remove', () => {
    const script = [
      'import docker',
      'c = docker.from_env()',
      "n = c.networks.create('pynet', driver='bridge', ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet='10.217.0.0/24')]))",
      "w = c.containers.run('busybox', ['sh', '-c', 'echo py > /index.html; exec httpd -f -p 80'], detach=True, name='pyweb', network='pynet', ports={'80/tcp': 18797})",
      'w.reload()',
      "print(w.attrs['NetworkSettings']['Ports']['80/tcp'][0]['HostPort'], w.attrs['NetworkSettings']['Networks']['pynet']['IPAddress'])",
      "print(c.containers.run('busybox', ['sh', '-c', 'for i in 1 2 3 4 5; do wget -qO- http://pyweb/ && exit 0; sleep 0.3; done; exit 1'], network='pynet', remove=True).decode().strip())",
      'n.reload()',
      "print([v['Name'] for v in n.attrs['Containers'].values()])",
      'w.remove(force=True)',
      'n.remove()',
      "print(sorted(x.name for x in c.networks.list()) == sorted(['bridge', 'host', 'none'] + [x for x in [y.name for y in c.networks.list()] if x not in ('bridge', 'host', 'none', 'pynet')]))",
    ].join('\n');
    const r = spawnSync('python3', ['-c', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, DOCKER_HOST: d.host } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "18797 10.217.0.2\npy\n['pyweb']\nTrue\n");
  });
});
