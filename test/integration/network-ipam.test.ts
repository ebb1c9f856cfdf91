// network create --aux-address (addresses the IPAM never hands out, shown in
// IPAM.Config[].AuxiliaryAddresses, with libnetwork's errors) and network ls
// --filter dangling (networks no container is attached to; bridge, host and
// none never are), through berth's CLI and the real docker CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

function createNetwork(socket: string, body: unknown): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'POST', path: '/v1.51/networks/create', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, message: (JSON.parse(text) as { message?: string }).message ?? '' }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('network IPAM and listing', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('--aux-address: shown in inspect, never given to a container, refused when outside the subnet or taken', async () => {
    const c = d.berth(['network', 'create', '--subnet', '10.231.0.0/24', '--ip-range', '10.231.0.0/29', '--aux-address', 'router=10.231.0.2', '--aux-address', 'far=10.231.0.100', 'auxnet']);
    assert.equal(c.code, 0, c.stderr);
    const config = JSON.parse(d.berth(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'auxnet']).stdout) as unknown;
    assert.deepEqual(config, [{ Subnet: '10.231.0.0/24', IPRange: '10.231.0.0/29', Gateway: '10.231.0.1', AuxiliaryAddresses: { router: '10.231.0.2', far: '10.231.0.100' } }]);
    if (DOCKER) assert.equal(d.docker(['network', 'inspect', '-f', '{{.IPAM.Config}}', 'auxnet']).stdout, '[{10.231.0.0/24 10.231.0.0/29 10.231.0.1 map[far:10.231.0.100 router:10.231.0.2]}]\n');
    // The range is .0 to .7; .0 is the subnet's own, .1 the gateway's: containers get .3 to .7, never .2.
    const ids: string[] = [];
    const addrs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = d.berth(['run', '-d', '--network', 'auxnet', 'busybox', 'sleep', '60']);
      assert.equal(r.code, 0, r.stderr);
      ids.push(r.stdout.trim());
      addrs.push(d.berth(['inspect', '-f', '{{.NetworkSettings.Networks.auxnet.IPAddress}}', ids[i]]).stdout.trim());
    }
    assert.deepEqual([...addrs].sort(), ['10.231.0.3', '10.231.0.4', '10.231.0.5', '10.231.0.6', '10.231.0.7']);
    const full = d.berth(['run', '--rm', '--network', 'auxnet', 'busybox', 'true']);
    assert.notEqual(full.code, 0, 'the pool is exhausted without the auxiliary address');
    assert.match(full.stderr, /no available IPv4 addresses on this network's address pools: auxnet/);
    d.berth(['rm', '-f', ...ids]);
    const asked = d.berth(['run', '--rm', '--network', 'auxnet', '--ip', '10.231.0.2', 'busybox', 'true']);
    assert.equal(asked.code, 125);
    assert.match(asked.stderr, /Address already in use: 10\.231\.0\.2/);
    assert.equal(d.berth(['run', '--rm', '--network', 'auxnet', '--ip', '10.231.0.100', 'busybox', 'true']).code, 0, 'one outside the range is not reserved, as in libnetwork');

    const noSubnet = d.berth(['network', 'create', '--aux-address', 'a=10.232.0.5', 'nosub']);
    assert.equal(noSubnet.code, 1);
    assert.equal(noSubnet.stderr, 'no matching subnet for aux-address 10.232.0.5\n');
    const gw = d.berth(['network', 'create', '--subnet', '10.232.0.0/24', '--aux-address', 'a=10.232.0.1', 'gwaux']);
    assert.equal(gw.code, 1);
    assert.match(gw.stderr, /failed to allocate secondary ip address \(a:10\.232\.0\.1\): Address already in use/);
    const outside = await createNetwork(d.socket, { Name: 'outside', IPAM: { Config: [{ Subnet: '10.232.0.0/24', AuxiliaryAddresses: { a: '10.233.0.5' } }] } });
    assert.deepEqual(outside, { status: 403, message: 'auxiliary address: (a:10.233.0.5) must belong to the master pool: 10.232.0.0/24' });
    const garbage = await createNetwork(d.socket, { Name: 'garbage', IPAM: { Config: [{ Subnet: '10.232.0.0/24', AuxiliaryAddresses: { a: 'zz' } }] } });
    assert.deepEqual(garbage, { status: 400, message: 'non parsable secondary ip address (a:zz) passed for network garbage' });
    assert.equal(d.berth(['network', 'ls', '-q', '--filter', 'name=gwaux']).stdout, '', 'a refused network leaves nothing');
    assert.equal(d.berth(['network', 'rm', 'auxnet']).code, 0);
  });

  test('network ls --filter dangling: networks without containers; the predefined ones are always in use', () => {
    assert.equal(d.berth(['network', 'create', 'idle']).code, 0);
    assert.equal(d.berth(['network', 'create', 'busy']).code, 0);
    assert.equal(d.berth(['run', '-d', '--name', 'occupant', '--network', 'busy', 'busybox', 'sleep', '60']).code, 0);
    const names = (args: string[]) => d.berth(['network', 'ls', '--format', '{{.Name}}', ...args]).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(names(['--filter', 'dangling=true']), ['idle']);
    assert.deepEqual(names(['--filter', 'dangling=1']), ['idle']);
    assert.deepEqual(names(['--filter', 'dangling=false']), ['bridge', 'busy', 'host', 'none']);
    assert.deepEqual(names(['--filter', 'dangling=0', '--filter', 'name=bu']), ['busy']);
    if (DOCKER) {
      const dk = d.docker(['network', 'ls', '--format', '{{.Name}}', '--filter', 'dangling=true']);
      assert.equal(dk.stdout, 'idle\n', dk.stderr);
    }
    const bad = d.berth(['network', 'ls', '--filter', 'dangling=maybe']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error response from daemon: invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")\n');
    const twice = d.berth(['network', 'ls', '--filter', 'dangling=true', '--filter', 'dangling=false']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /got more than one value for filter key "dangling"/);
    // A stopped container holds no endpoint: its network is dangling again.
    d.berth(['stop', '-t', '0', 'occupant']);
    assert.deepEqual(names(['--filter', 'dangling=true']), ['busy', 'idle']);
    d.berth(['rm', '-f', 'occupant']);
  });
});
