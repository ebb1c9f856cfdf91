// `machine env`'s lines for each shell, as docker-machine's env.go prints
// them (its templates' prefix, delimiter and suffix per shell, and the usage
// comment), and the first look at a host (remote.ts's probe output).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectShell, envLines, unsetLines } from '../../src/machine/env.ts';
import { parseProbe } from '../../src/machine/remote.ts';

const V = { DOCKER_TLS_VERIFY: '1', DOCKER_HOST: 'tcp://10.0.0.2:2376', DOCKER_CERT_PATH: '/h/.berth/machine/machines/m', DOCKER_MACHINE_NAME: 'm' };

test('env lines per shell', () => {
  const first2 = (shell: Parameters<typeof envLines>[0]): string[] => envLines(shell, V, 'berth machine env m').split('\n').slice(0, 2);
  assert.deepEqual(first2('bash'), ['export DOCKER_TLS_VERIFY="1"', 'export DOCKER_HOST="tcp://10.0.0.2:2376"']);
  assert.deepEqual(first2('fish'), ['set -gx DOCKER_TLS_VERIFY "1";', 'set -gx DOCKER_HOST "tcp://10.0.0.2:2376";']);
  assert.deepEqual(first2('powershell'), ['$Env:DOCKER_TLS_VERIFY = "1"', '$Env:DOCKER_HOST = "tcp://10.0.0.2:2376"']);
  assert.deepEqual(first2('cmd'), ['SET DOCKER_TLS_VERIFY=1', 'SET DOCKER_HOST=tcp://10.0.0.2:2376']);
  assert.deepEqual(first2('tcsh'), ['setenv DOCKER_TLS_VERIFY "1";', 'setenv DOCKER_HOST "tcp://10.0.0.2:2376";']);
  assert.deepEqual(first2('emacs'), ['(setenv "DOCKER_TLS_VERIFY" "1")', '(setenv "DOCKER_HOST" "tcp://10.0.0.2:2376")']);
  assert.match(envLines('fish', V, 'berth machine env m'), /# Run this command to configure your shell: \n# eval \(berth machine env m\)\n$/);
  assert.match(envLines('powershell', V, 'berth machine env m'), /# & berth machine env m \| Invoke-Expression\n$/);
  assert.match(envLines('cmd', V, 'berth machine env m'), /REM \t@FOR \/f "tokens=\*" %i IN \('berth machine env m'\) DO @%i\n$/);
  assert.match(envLines('tcsh', V, 'berth machine env m'), /: eval `berth machine env m`\n$/);
});

test('unset lines per shell', () => {
  const first = (shell: Parameters<typeof unsetLines>[0]): string => unsetLines(shell, 'berth machine env --unset').split('\n')[0];
  assert.equal(first('bash'), 'unset DOCKER_TLS_VERIFY');
  assert.equal(first('fish'), 'set -e DOCKER_TLS_VERIFY;');
  assert.equal(first('powershell'), 'Remove-Item Env:\\\\DOCKER_TLS_VERIFY');
  assert.equal(first('cmd'), 'SET DOCKER_TLS_VERIFY=');
  assert.equal(first('tcsh'), 'unsetenv DOCKER_TLS_VERIFY;');
  assert.equal(first('emacs'), '(setenv "DOCKER_TLS_VERIFY" nil)');
});

test('the shell comes from --shell, else $SHELL; none means sh/bash, said so', () => {
  assert.deepEqual(detectShell(undefined, '/usr/bin/fish'), { shell: 'fish', guessed: false });
  assert.deepEqual(detectShell('tcsh', '/usr/bin/fish'), { shell: 'tcsh', guessed: false });
  assert.deepEqual(detectShell(undefined, '/bin/zsh'), { shell: 'bash', guessed: false });
  assert.deepEqual(detectShell(undefined, undefined), { shell: 'bash', guessed: true });
});

test('the probe of a host reads its facts and its os-release', () => {
  const f = parseProbe('@uid 0\n@arch x86_64\n@missing tini\n@missing zstd\n@build abc\n@os-release\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
  assert.deepEqual(f, { uid: 0, sudo: false, arch: 'x86_64', systemd: false, build: 'abc', missing: ['tini', 'zstd'], hasOsRelease: true, osRelease: { PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)', ID: 'debian', VERSION_ID: '12' } });
  const none = parseProbe('@uid 1000\n@sudo\n@arch aarch64\n@systemd\n@os-release\n');
  assert.deepEqual([none.uid, none.sudo, none.arch, none.systemd, none.hasOsRelease], [1000, true, 'aarch64', true, false]);
});
