// --security-opt: a seccomp profile read from the client's file and enforced,
// unconfined, no-new-privileges, apparmor and label accepted as dockerd
// accepts them; a bad option or profile refused at create. The daemon never
// opens a path a client names as a profile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('security options', () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/berth-secopt-');
    writeFileSync(join(dir, 'no-mkdir.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }, null, 2));
    writeFileSync(join(dir, 'broken.json'), '{broken');
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await d.destroy();
  });

  test('a seccomp profile file is enforced; unconfined turns filtering off; the default filters', () => {
    const r = d.berth(['run', '--rm', '--security-opt', `seccomp=${join(dir, 'no-mkdir.json')}`, 'busybox', 'sh', '-c', 'mkdir /tmp/x || echo refused; touch /tmp/y && echo touched']);
    assert.equal(r.stdout, 'refused\ntouched\n', r.stderr);
    const mode = (args: string[]) => d.berth(['run', '--rm', ...args, 'busybox', 'grep', 'Seccomp:', '/proc/self/status']).stdout.trim();
    assert.equal(mode(['--security-opt', 'seccomp=unconfined']), 'Seccomp:\t0');
    assert.equal(mode([]), 'Seccomp:\t2');
    assert.equal(mode(['--privileged']), 'Seccomp:\t0');
  });

  test('no-new-privileges, apparmor and label are accepted as dockerd accepts them', () => {
    const r = d.berth(['run', '--rm', '--security-opt', 'no-new-privileges', 'busybox', 'grep', 'NoNewPrivs:', '/proc/self/status']);
    assert.equal(r.stdout.trim(), 'NoNewPrivs:\t1');
    d.berth(['create', '--name', 'labelled', '--security-opt', 'apparmor=unconfined', '--security-opt', 'label=disable', 'busybox', 'true']);
    assert.equal(d.berth(['inspect', '-f', '{{.AppArmorProfile}}', 'labelled']).stdout.trim(), 'unconfined');
  });

  test('bad options and profiles are refused; a path sent to the daemon is not opened there', async () => {
    const cli = d.berth(['run', '--rm', '--security-opt', `seccomp=${join(dir, 'broken.json')}`, 'busybox', 'true']);
    assert.equal(cli.code, 125);
    assert.match(cli.stderr, /compacting json for seccomp profile \(.*broken\.json\) failed/);
    const missing = d.berth(['run', '--rm', '--security-opt', 'seccomp=/nonexistent.json', 'busybox', 'true']);
    assert.match(missing.stderr, /opening seccomp profile \(\/nonexistent\.json\) failed: open \/nonexistent\.json: no such file or directory/);
    const before = d.berth(['ps', '-aq']).stdout;
    for (const [opt, message] of [
      ['bogus=1', 'invalid --security-opt 2: "bogus=1"'],
      ['nonsense', 'invalid --security-opt 1: "nonsense"'],
      ['no-new-privileges=maybe', 'invalid --security-opt 2: "no-new-privileges=maybe"'],
      ['seccomp=/etc/shadow', "Decoding seccomp profile failed: invalid character '/' looking for beginning of value"],
      ['seccomp={"syscalls":[]}', 'Decoding seccomp profile failed: unrecognized seccomp action: '],
    ]) {
      const r = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { SecurityOpt: [opt] } });
      assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message }]);
    }
    assert.equal(d.berth(['ps', '-aq']).stdout, before);
  });

  test('the docker CLI sends its profile file the same way', { skip: !DOCKER && 'no docker CLI' }, () => {
    const r = d.docker(['run', '--rm', '--security-opt', `seccomp=${join(dir, 'no-mkdir.json')}`, 'busybox', 'sh', '-c', 'mkdir /tmp/x || echo refused']);
    assert.equal(r.stdout, 'refused\n', r.stderr);
  });
});
