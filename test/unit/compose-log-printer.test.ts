// The log printer's prefixes and the watch rules' path matching: pure, no daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { LogPrinter } from '../../src/compose/log-printer.ts';
import { shortName } from '../../src/compose/project-containers.ts';
import { matchRule, watchRules } from '../../src/compose/watch.ts';
import type { Project, Service } from '../../src/compose/model.ts';

function collector(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({ write(c: Buffer, _e, cb) { text += c; cb(); } });
  return { out, text: () => text };
}

test('prefixes are padded to the longest name registered so far plus one; a later longer name widens them all', async () => {
  const { out, text } = collector();
  const p = new LogPrinter(out, { color: false, prefix: true });
  p.line('web-1', 'a');
  p.register('database-1');
  p.line('web-1', 'b');
  p.line('database-1', 'c');
  p.status('web-1', 'exited with code 0');
  await new Promise((r) => setImmediate(r));
  assert.equal(text(), 'web-1  | a\nweb-1       | b\ndatabase-1  | c\nweb-1 exited with code 0\n');
});

test('colours: compose\'s rainbow in order of registration, wrapping after ten; no prefix with prefix off', async () => {
  const { out, text } = collector();
  const p = new LogPrinter(out, { color: true, prefix: true });
  for (let i = 1; i <= 11; i++) p.register(`s-${i}`);
  p.line('s-1', 'x');
  p.line('s-6', 'y');
  p.line('s-11', 'z');
  p.status('s-2', 'exited with code 1');
  const plain = collector();
  new LogPrinter(plain.out, { color: false, prefix: false }).line('web-1', 'bare');
  await new Promise((r) => setImmediate(r));
  // Width: the longest name (s-11) plus one.
  assert.equal(text(), '\x1b[36ms-1   | \x1b[0mx\n\x1b[36;1ms-6   | \x1b[0my\n\x1b[36ms-11  | \x1b[0mz\n\x1b[33m\r\x1b[Ks-2 exited with code 1\x1b[0m\n');
  assert.equal(plain.text(), 'bare\n');
});

test('short names: the project dropped from a default name, kept for container_name and for 1.x names', () => {
  const labels = (p: string, s: string, n: string) => ({ 'com.docker.compose.project': p, 'com.docker.compose.service': s, 'com.docker.compose.container-number': n });
  assert.equal(shortName({ Id: 'x', Names: ['/app-web-2'], Labels: labels('app', 'web', '2') }), 'web-2');
  assert.equal(shortName({ Id: 'x', Names: ['/my-db'], Labels: labels('app', 'db', '1') }), 'my-db');
  assert.equal(shortName({ Id: 'x', Names: ['/app_web_1'], Labels: labels('app', 'web', '1') }), 'app_web_1');
  // A legacy link alias is not the container's name.
  assert.equal(shortName({ Id: 'x', Names: ['/other/alias', '/app-web-1'], Labels: labels('app', 'web', '1') }), 'web-1');
});

function project(watch: NonNullable<NonNullable<Service['develop']>['watch']>, build = false): Project {
  const s: Service = { name: 'web', image: 'busybox', environment: {}, ports: [], volumes: [], networks: {}, depends_on: {}, labels: {}, develop: { watch }, ...(build ? { build: { context: '/src' } } : {}) };
  return { name: 'p', workingDir: '/src', configFiles: [], services: { web: s }, disabledServices: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, environment: {} };
}

test('watch rules: a path maps under the target; ignore and include are relative to the rule\'s path; outside paths do not match', () => {
  const [r] = watchRules(project([{ path: '/src/app', action: 'sync', target: '/srv', ignore: ['*.tmp', 'node_modules'], include: ['**/*.js', '*.js'] }]), []);
  assert.deepEqual(matchRule(r, '/src/app/a.js'), { host: '/src/app/a.js', container: '/srv/a.js' });
  assert.deepEqual(matchRule(r, '/src/app/lib/b.js'), { host: '/src/app/lib/b.js', container: '/srv/lib/b.js' });
  assert.equal(matchRule(r, '/src/app/x.tmp'), undefined);
  assert.equal(matchRule(r, '/src/app/node_modules/m.js'), undefined);
  assert.equal(matchRule(r, '/src/app/readme.md'), undefined);
  assert.equal(matchRule(r, '/src/application/a.js'), undefined);
  assert.equal(matchRule(r, '/src/other.js'), undefined);
});

test('watch rules: compose\'s errors for what cannot be watched', () => {
  assert.throws(() => watchRules(project([]), []), { message: "none of the selected services is configured for watch, consider setting a 'develop' section" });
  assert.throws(() => watchRules(project([{ path: '/src', action: 'rebuild' }]), []), { message: "service web doesn't have a build section, can't apply rebuild on watch" });
  assert.throws(() => watchRules(project([{ path: '/src', action: 'sync+exec', target: '/x' }]), []), { message: 'can\'t watch with action "sync+exec" on service web without a command' });
  assert.equal(watchRules(project([{ path: '/src', action: 'rebuild' }], true), [])[0].action, 'rebuild');
  assert.throws(() => watchRules(project([{ path: '/src', action: 'restart' }]), ['nope']), { message: 'no such service: nope' });
});
