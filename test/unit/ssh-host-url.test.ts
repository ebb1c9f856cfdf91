// ssh:// hosts as the CLI reads them, and the ssh command line they become:
// nothing from the URL can reach ssh as an option.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHost } from '../../src/client/engine-client.ts';
import { sshArgs } from '../../src/client/ssh-conn.ts';

describe('ssh:// host URLs', () => {
  test('user, port and a remote socket path go where the docker CLI puts them', () => {
    assert.deepEqual(sshArgs(parseHost('ssh://root@10.0.0.2').ssh!), ['-o', 'ConnectTimeout=30', '-T', '-l', 'root', '--', '10.0.0.2', 'berth', 'system', 'dial-stdio']);
    assert.deepEqual(sshArgs(parseHost('ssh://me@host.example:2222/run/b.sock').ssh!),
      ['-o', 'ConnectTimeout=30', '-T', '-l', 'me', '-p', '2222', '--', 'host.example', 'berth', '--host', 'unix:///run/b.sock', 'system', 'dial-stdio']);
    assert.deepEqual(sshArgs(parseHost('ssh://[fd00::2]').ssh!), ['-o', 'ConnectTimeout=30', '-T', '--', 'fd00::2', 'berth', 'system', 'dial-stdio']);
  });

  test('a host or user that looks like an option is refused (and the host follows -- anyway); passwords are refused', () => {
    assert.throws(() => parseHost('ssh://-oProxyCommand=touch%20x'), /invalid SSH host: -oProxyCommand/);
    assert.throws(() => parseHost('ssh://-oProxyCommand=x@host'), /invalid SSH user/);
    assert.throws(() => parseHost('ssh://root:pw@host'), /plain-text password is not supported/);
    assert.throws(() => parseHost('ssh://host?x=1'), /extra path after the host/);
    assert.throws(() => parseHost('ssh://'), /invalid SSH URL|no host specified/);
  });
});
