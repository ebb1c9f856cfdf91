// Logging drivers: local (its own file and rotation), none (nothing kept,
// logs refused), syslog (each line to a syslog server, in dockerd's formats,
// and cached so `logs` still works), journald (refused at start where the host
// has none); options checked at create with dockerd's words.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';

describe('logging drivers', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('local keeps the entries in its own file, rotated by max-size and max-file, and logs reads them', () => {
    const r = d.berth(['run', '--name', 'loc', '--log-driver', 'local', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', 'seq 1 3000; echo last-line']);
    assert.equal(r.code, 0, r.stderr);
    const path = d.berth(['inspect', '-f', '{{.LogPath}}', 'loc']).stdout.trim();
    assert.match(path, /\/local-logs\/container\.log$/);
    assert.ok(readdirSync(dirname(path)).length <= 2, readdirSync(dirname(path)).join(','));
    const logs = d.berth(['logs', '--tail', '1', 'loc']);
    assert.equal(logs.stdout, 'last-line\n');
  });

  test('none keeps nothing: logs answers dockerd\'s error', () => {
    d.berth(['run', '--name', 'silent', '--log-driver', 'none', 'busybox', 'echo', 'gone']);
    const r = d.berth(['logs', 'silent']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /configured logging driver does not support reading/);
    assert.equal(d.berth(['inspect', '-f', '{{.LogPath}}', 'silent']).stdout.trim(), '');
  });

  test('syslog over udp: each line at info (stdout) or err (stderr) with the tag; logs still reads the cache', async () => {
    const server = createSocket('udp4');
    const got: string[] = [];
    server.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = d.berth(['run', '--name', 'sys', '--log-driver', 'syslog', '--log-opt', `syslog-address=udp://127.0.0.1:${port}`, '--log-opt', 'tag={{.Name}}/{{.ID}}',
        'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2']);
      assert.equal(r.code, 0, r.stderr);
      const deadline = Date.now() + 5000;
      while (got.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      const id = d.berth(['inspect', '-f', '{{.Id}}', 'sys']).stdout.trim().slice(0, 12);
      assert.deepEqual(got.map((m) => m.replace(/^(<\d+>)\w{3} [ \d]\d \d\d:\d\d:\d\d /, '$1TIME ').replace(/\[\d+\]/, '[PID]')).sort(),
        [`<27>TIME sys/${id}[PID]: to-err`, `<30>TIME sys/${id}[PID]: to-out`]);
      assert.equal(d.berth(['logs', 'sys']).stdout, 'to-out\n');
    } finally {
      server.close();
    }
  });

  test('syslog over tcp in RFC 5424, octet-counted; cache-disabled leaves nothing to read', async () => {
    let data = '';
    const server = createServer((s) => s.on('data', (c: Buffer) => { data += c; }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      d.berth(['run', '--name', 'sys5424', '--log-driver', 'syslog', '--log-opt', `syslog-address=tcp://127.0.0.1:${port}`, '--log-opt', 'syslog-format=rfc5424',
        '--log-opt', 'syslog-facility=local3', '--log-opt', 'cache-disabled=true', 'busybox', 'echo', 'framed']);
      const deadline = Date.now() + 5000;
      while (!data.includes('framed') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      const m = /^(\d+) (<(\d+)>1 \S+ \S+ (\S+) \d+ \S+ - framed)$/.exec(data);
      assert.ok(m, data);
      assert.equal(Number(m[1]), Buffer.byteLength(m[2]));
      assert.equal(Number(m[3]), 19 * 8 + 6, 'local3.info');
      const r = d.berth(['logs', 'sys5424']);
      assert.match(r.stderr, /configured logging driver does not support reading/);
    } finally {
      server.close();
    }
  });

  test('journald where the host has none, and a syslog with no local socket, fail the start as dockerd\'s', { skip: existsSync('/run/systemd/journal/socket') && 'this host has journald' }, () => {
    const r = d.berth(['run', '--rm', '--log-driver', 'journald', 'busybox', 'true']);
    assert.match(r.stderr, /failed to initialize logging driver: journald is not enabled on this host/);
    if (!existsSync('/dev/log')) {
      assert.match(d.berth(['run', '--rm', '--log-driver', 'syslog', 'busybox', 'true']).stderr, /failed to initialize logging driver: Unix syslog delivery error/);
    }
  });

  test('bad drivers and options are refused at create with dockerd\'s words', async () => {
    const before = d.berth(['ps', '-aq']).stdout;
    for (const [log, message] of [
      [{ Type: 'bogus', Config: {} }, "logger: no log driver named 'bogus' is registered"],
      [{ Type: 'local', Config: { labels: 'a' } }, "unknown log opt 'labels' for local log driver"],
      [{ Type: 'syslog', Config: { 'syslog-address': 'ftp://x' } }, "unsupported scheme: 'ftp'"],
      [{ Type: 'syslog', Config: { 'syslog-address': 'udp://127.0.0.1:1', 'syslog-facility': 'nope' } }, 'invalid syslog facility'],
      [{ Type: 'syslog', Config: { 'syslog-address': 'udp://127.0.0.1:1', 'syslog-format': 'xml' } }, 'Invalid syslog format'],
      [{ Type: 'json-file', Config: { 'max-file': '0', 'max-size': '1m' } }, 'max-file cannot be less than 1'],
      [{ Type: 'json-file', Config: { mode: 'sometimes' } }, 'logger: logging mode not supported: sometimes'],
    ] as [unknown, string][]) {
      const r = await callApi(d.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: log } });
      assert.deepEqual([r.status, JSON.parse(r.body)], [400, { message }]);
    }
    assert.equal(d.berth(['ps', '-aq']).stdout, before);
  });

  test('the docker CLI reads a local and a syslog container\'s logs', { skip: !DOCKER && 'no docker CLI' }, () => {
    assert.equal(d.docker(['logs', '--tail', '1', 'loc']).stdout, 'last-line\n');
    assert.equal(d.docker(['logs', 'sys']).stdout, 'to-out\n');
  });
});
