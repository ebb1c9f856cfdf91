// The daemon's network settings: --bip, default-address-pools and --icc=false
// from daemon.json (with the exception --link makes for the linked pair's
// exposed ports), and --iptables=false leaving the firewall alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { chainTag, httpd, ruleLines, until } from '../helpers/network.ts';

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

  test('--icc=false with --link: the linking container reaches the target\'s exposed port, nothing else passes; a restart keeps it', async () => {
    // Port 80 is exposed, 8080 is served but not exposed.
    const serve = 'mkdir -p /www && echo linked > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 80 -h /www';
    assert.equal(d.berth(['run', '-d', '--name', 'lt', '--expose', '80', 'busybox', 'sh', '-c', serve]).code, 0);
    await until(() => d.berth(['exec', 'lt', 'wget', '-qO-', 'http://127.0.0.1/']).code === 0);
    const target = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'lt']).stdout.trim();
    const linkRules = () => ruleLines(chainTag(d)).filter((l) => l.includes(`${target}/32`) && / --[ds]port 80 -j ACCEPT/.test(l));

    const child = d.berth(['run', '--rm', '--link', 'lt:web', 'busybox', 'sh', '-c', 'wget -qO- http://web/; timeout 3 wget -qO- http://web:8080/; echo rc=$?']);
    assert.match(child.stdout, /^linked\nrc=(1|143)\n$/, child.stderr);
    assert.deepEqual(linkRules(), [], 'the exception goes with the linking container');
    const stranger = d.berth(['run', '--rm', 'busybox', 'sh', '-c', `timeout 3 wget -qO- http://${target}/; echo rc=$?`]);
    assert.match(stranger.stdout, /rc=(1|143)/, 'a container without the link is still dropped');
    if (DOCKER) {
      const dk = d.docker(['run', '--rm', '--link', 'lt:web', 'busybox', 'wget', '-qO-', 'http://web/']);
      assert.equal(dk.stdout, 'linked\n', dk.stderr);
    }

    // The target cannot open connections to the linking container, and the rules survive a kill -9.
    assert.equal(d.berth(['run', '-d', '--name', 'lc', '--link', 'lt:web', 'busybox', 'sh', '-c', 'mkdir -p /w && echo child > /w/index.html && exec httpd -f -p 80 -h /w']).code, 0);
    assert.equal(linkRules().length, 2);
    const childIp = d.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'lc']).stdout.trim();
    assert.match(d.berth(['exec', 'lt', 'sh', '-c', `timeout 3 wget -qO- http://${childIp}/; echo rc=$?`]).stdout, /rc=(1|143)/);
    const before = linkRules();
    await d.crash();
    await d.start();
    assert.deepEqual(linkRules(), before, 'rebuilt exactly once after a restart');
    assert.equal(d.berth(['exec', 'lc', 'wget', '-qO-', 'http://web/']).stdout, 'linked\n');
    d.berth(['rm', '-f', 'lc', 'lt']);
    assert.deepEqual(linkRules(), []);
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
