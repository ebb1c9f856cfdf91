// Which endpoints the daemon tries for a registry host, which hosts count as
// insecure, how /info reports them, and the keys credentials are kept under.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryHosts } from '../../src/images/distribution/hosts.ts';
import { loginDomain } from '../../src/images/distribution/login.ts';
import { DEFAULT_SERVER, eraseCredential, getCredential, registryAuthHeader, serverKey, storeCredential } from '../../src/cli/credentials.ts';

test('loopback is plain HTTP; insecure hosts and CIDRs try TLS then HTTP; others TLS only', () => {
  const h = new RegistryHosts({ insecureRegistries: ['reg.local:5000', '10.1.0.0/16'], certsDirs: [] });
  const bases = (d: string) => h.endpoints(d).map((e) => e.base);
  assert.deepEqual(bases('localhost:5000'), ['http://localhost:5000']);
  assert.deepEqual(bases('127.0.0.5:80'), ['http://127.0.0.5:80']);
  assert.deepEqual(bases('reg.local:5000'), ['https://reg.local:5000', 'http://reg.local:5000']);
  assert.deepEqual(bases('10.1.200.3:5000'), ['https://10.1.200.3:5000', 'http://10.1.200.3:5000']);
  assert.deepEqual(bases('10.2.0.1:5000'), ['https://10.2.0.1:5000']);
  assert.deepEqual(bases('reg.local:6000'), ['https://reg.local:6000'], 'the port is part of the name');
  assert.deepEqual(bases('docker.io'), ['https://registry-1.docker.io']);
});

test('mirrors come first for docker.io only; /info lists CIDRs by network and hosts as insecure index configs', () => {
  const h = new RegistryHosts({ insecureRegistries: ['10.1.2.3/16', 'reg.local:5000'], registryMirrors: ['https://mirror.example/'], certsDirs: [] });
  assert.deepEqual(h.endpoints('docker.io').map((e) => [e.base, e.mirror]), [['https://mirror.example', true], ['https://registry-1.docker.io', false]]);
  assert.deepEqual(h.endpoints('quay.io').map((e) => e.base), ['https://quay.io']);
  const info = h.registryConfig() as { InsecureRegistryCIDRs: string[]; Mirrors: string[]; IndexConfigs: Record<string, { Secure: boolean }> };
  assert.deepEqual(info.InsecureRegistryCIDRs, ['127.0.0.0/8', '10.1.0.0/16']);
  assert.deepEqual(info.Mirrors, ['https://mirror.example/']);
  assert.equal(info.IndexConfigs['reg.local:5000'].Secure, false);
  assert.equal(info.IndexConfigs['docker.io'].Secure, true);
});

test('server addresses: Docker Hub under its v1 URL, others by host[:port]', () => {
  for (const s of [undefined, '', 'docker.io', 'index.docker.io', 'https://index.docker.io/v1/']) assert.equal(serverKey(s), DEFAULT_SERVER);
  assert.equal(serverKey('https://reg.local:5000/v2/'), 'reg.local:5000');
  assert.equal(loginDomain('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(loginDomain('http://reg.local:5000'), 'reg.local:5000');
});

test('config.json: stored as base64 user:password, found under any spelling of the server, other keys kept', () => {
  const dir = mkdtempSync('/tmp/berth-cred-');
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'https://old.example': { auth: Buffer.from('u:p').toString('base64') } }, detachKeys: 'ctrl-x' }));
    storeCredential(dir, 'reg.local:5000', { username: 'alice', password: 'p:w' });
    const file = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }>; detachKeys: string };
    assert.equal(Buffer.from(file.auths['reg.local:5000'].auth, 'base64').toString(), 'alice:p:w');
    assert.equal(file.detachKeys, 'ctrl-x');
    assert.deepEqual(getCredential(dir, 'https://reg.local:5000'), { username: 'alice', password: 'p:w', identitytoken: undefined });
    assert.deepEqual(getCredential(dir, 'old.example'), { username: 'u', password: 'p', identitytoken: undefined });
    const header = JSON.parse(Buffer.from(registryAuthHeader('reg.local:5000', dir) as string, 'base64url').toString()) as Record<string, string>;
    assert.deepEqual(header, { username: 'alice', password: 'p:w', serveraddress: 'reg.local:5000' });
    assert.equal(eraseCredential(dir, 'reg.local:5000'), true);
    assert.equal(eraseCredential(dir, 'reg.local:5000'), false);
    assert.equal(getCredential(dir, 'reg.local:5000'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loopback addresses: localhost, 127/8 and ::1 in every spelling, with or without a port; nothing else', async () => {
  const { isLoopbackAddress, hostOfAddress } = await import('../../src/api/address.ts');
  for (const a of ['localhost', 'localhost:5000', '127.0.0.1', '127.9.8.7:80', '[::1]', '[::1]:5000', '::1', '0:0:0:0:0:0:0:1'])
    assert.equal(isLoopbackAddress(a), true, a);
  for (const a of ['128.0.0.1', '127.0.0.256', '127.example.com', 'localhost.example.com', '::2', '[::]:5000', '10.0.0.1:5000', '[fe80::1]:80', ''])
    assert.equal(isLoopbackAddress(a), false, a);
  assert.equal(hostOfAddress('[fe80::1]:80'), 'fe80::1');
  assert.equal(hostOfAddress('fe80::1'), 'fe80::1', 'a bare IPv6 address has no port');
  assert.equal(hostOfAddress('reg.local:5000'), 'reg.local');
});
