// The daemon's network settings: --bip, default-address-pools and --icc=false
// from daemon.json, and --iptables=false leaving the firewall alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { chainTag, httpd, ruleLines } from '../helpers/network.ts';

describe('daemon network configuration', () => {
  let d: TestDaemon;
  const dir = mkdtempSync('/tmp/bt-netcfg-');
  before(async () => {
    const file = join(dir, 'daemon.json');
    writeFileSync(file, JSON.stringify({ bip: '10.215.3.1/24', icc: false, 'default-address-pools': [{ base: '10.216.0.0/16', size: 24 }] }));
    d = await startSeededDaemon(['--config-file', file]);
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('bip sets the default bridge; user networks come from default-address-pools', () => {
    const cfg = JSON.parse(d.berth(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge']).stdout);
    assert.deepEqual(cfg, [{ Subnet: '10.215.3.0/24', Gateway: '10.215.3.1' }]);
    assert.equal(d.berth(['network', 'create', 'pooled']).code, 0);
    assert.equal(d.berth(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'pooled']).stdout, '10.216.0.0/24\n');
    const r = d.berth(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(r.stdout, /inet 10\.215\.3\.\d+\/24/);
  });

  test('--icc=false: containers on the default bridge cannot talk; on a user network they can', () => {
    httpd(d, 'iccweb', 'icc');
    const ip = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'iccweb']).stdout.trim();
    const r = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `timeout 3 wget -qO- http://${ip}/; echo rc=$?`]);
    assert.match(r.stdout, /rc=(1|143)/);
    assert.ok(ruleLines(chainTag(d)).some((l) => /-i (\S+) -o \1 -j DROP/.test(l)));
    httpd(d, 'iccweb2', 'icc-user', ['--network', 'pooled']);
    assert.equal(d.berth(['run', '--rm', '--network', 'pooled', 'busybox', 'wget', '-qO-', 'http://iccweb2/']).stdout, 'icc-user\n');
    d.berth(['rm', '-f', 'iccweb', 'iccweb2']);
  });

  test('--iptables=false writes no rules, and containers still get addresses', async () => {
    const other = await startSeededDaemon(['--iptables=false']);
    try {
      assert.deepEqual(ruleLines(chainTag(other)), []);
      const r = other.berth(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
      assert.match(r.stdout, /inet \d+\.\d+\.\d+\.\d+\/16/, r.stderr);
      assert.deepEqual(ruleLines(chainTag(other)), []);
    } finally {
      await other.destroy();
    }
  });
});
