// What `machine create` makes of the host's reachability lines (printed by
// reach.ts's script, run on real hosts in machine.test.ts): which method auto
// takes and the words it gives for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProbe } from '../../src/machine/remote.ts';
import { parseReach, unreachedPhrase } from '../../src/machine/reach.ts';

const probe = (reach: string): string => `${reach}@uid 0\n@arch x86_64\n@os-release\nID=debian\n`;

test('a host reaching both over trusted HTTPS has nothing to say against the script', () => {
  const f = parseProbe(probe('@reach apt deb.debian.org ok\n@reach npm registry.npmjs.org ok\n'));
  assert.deepEqual(f.apt, { host: 'deb.debian.org', state: 'ok', why: '' });
  assert.deepEqual(f.npm, { host: 'registry.npmjs.org', state: 'ok', why: '' });
  assert.equal(unreachedPhrase('10.0.0.2', [f.apt, f.npm]), '');
  assert.equal(f.uid, 0);
});

test('an untrusted certificate is told apart from no route, each with its reason', () => {
  const f = parseProbe(probe('@reach apt deb.debian.org unreachable Temporary failure in name resolution\n' +
    '@reach npm registry.npmjs.org untrusted Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.\n'));
  assert.equal(f.apt?.state, 'unreachable');
  assert.equal(f.npm?.state, 'untrusted');
  assert.equal(unreachedPhrase('10.0.0.2', [f.apt, f.npm]),
    '10.0.0.2 does not reach deb.debian.org (Temporary failure in name resolution), and does not trust the certificate of registry.npmjs.org ' +
    '(Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.); ' +
    'behind a proxy that re-signs HTTPS, the host needs its CA (in /usr/local/share/ca-certificates, then update-ca-certificates)');
});

test('both out of reach read as one list; a host without an apt source says so', () => {
  const f = parseProbe(probe("@reach apt - unreachable no http(s) apt source\n@reach npm registry.npmjs.org unreachable Temporary failure resolving 'registry.npmjs.org'\n"));
  assert.equal(unreachedPhrase('h', [f.apt, f.npm]), "h does not reach its apt mirror (no http(s) apt source) or registry.npmjs.org (Temporary failure resolving 'registry.npmjs.org')");
});

test('a host not asked (copy) or a line that is not one is no answer, never a pass', () => {
  assert.equal(parseReach(['npm', 'registry.npmjs.org', 'maybe']), undefined);
  assert.equal(parseReach(['pip', 'pypi.org', 'ok']), undefined);
  const f = parseProbe(probe('@reach npm registry.npmjs.org bogus\n'));
  assert.equal(f.npm, undefined);
  assert.match(unreachedPhrase('h', [f.apt, f.npm]), /^h does not reach its apt mirror \(not checked\) or registry\.npmjs\.org \(not checked\)$/);
});
