// ssh:// hosts as the CLI reads them, and the ssh command line they become:
// nothing from the URL can reach ssh as an option.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHost } from '../../src/client/engine-client.ts';
import { sshArgs } from '../../src/client/ssh-conn.ts';

describe('ssh:// host URLs', () => {
  test('user, port and a remote socket path go where the docker CLI puts them', () => {
    process.env.BERTH_SSH_MUX = '0'; // connection sharing: the next test
    assert.deepEqual(sshArgs(parseHost('ssh://root@10.0.0.2').ssh!), ['-o', 'ConnectTimeout=30', '-T', '-l', 'root', '--', '10.0.0.2', 'berth', 'system', 'dial-stdio']);
    assert.deepEqual(sshArgs(parseHost('ssh://me@host.example:2222/run/b.sock').ssh!),
      ['-o', 'ConnectTimeout=30', '-T', '-l', 'me', '-p', '2222', '--', 'host.example', 'berth', '--host', 'unix:///run/b.sock', 'system', 'dial-stdio']);
    assert.deepEqual(sshArgs(parseHost('ssh://[fd00::2]').ssh!), ['-o', 'ConnectTimeout=30', '-T', '--', 'fd00::2', 'berth', 'system', 'dial-stdio']);
  });

  test('berth shares one OpenSSH connection per destination, its socket in a 0700 directory of berth\'s', () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-mux-'));
    const saved = process.env.HOME;
    process.env.HOME = home;
    delete process.env.BERTH_SSH_MUX;
    try {
      const args = sshArgs(parseHost('ssh://mux@10.0.0.3').ssh!);
      const at = args.indexOf('ControlMaster=auto');
      assert.ok(at > 0 && args[at - 1] === '-o', args.join(' '));
      const path = args.find((a) => a.startsWith('ControlPath='))?.slice('ControlPath='.length) ?? '';
      assert.equal(join(path, '..'), join(home, '.berth', 'ssh'));
      assert.equal(statSync(join(home, '.berth', 'ssh')).mode & 0o777, 0o700);
      assert.ok(args.includes('ControlPersist=10m'));
      assert.deepEqual(args.slice(-5), ['mux', '--', '10.0.0.3', 'berth', 'system', 'dial-stdio'].slice(-5));
    } finally {
      process.env.HOME = saved;
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a host or user that looks like an option is refused (and the host follows -- anyway); passwords are refused', () => {
    assert.throws(() => parseHost('ssh://-oProxyCommand=touch%20x'), /invalid SSH host: -oProxyCommand/);
    assert.throws(() => parseHost('ssh://-oProxyCommand=x@host'), /invalid SSH user/);
    assert.throws(() => parseHost('ssh://root:pw@host'), /plain-text password is not supported/);
    assert.throws(() => parseHost('ssh://host?x=1'), /extra path after the host/);
    assert.throws(() => parseHost('ssh://'), /invalid SSH URL|no host specified/);
  });
});
