// `logs` gives back the bytes a container wrote, through the daemon's frame
// encoder (src/containers/log-encode.ts): escapes, unicode, control and
// binary bytes, lines longer than 16 KiB (split into partial entries), a
// last line with no newline, stdout and stderr apart; --tail, --since and
// -t over the same log; a TTY container's raw stream; one frame per entry
// for docker-py's logs(stream=True). Checked through berth's CLI and the
// docker CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

/** A command's stdout and stderr as bytes. */
function bytes(cmd: string, args: string[], env: NodeJS.ProcessEnv): { out: Buffer; err: Buffer; code: number | null } {
  const r = spawnSync(cmd, args, { env, maxBuffer: 1 << 28 });
  return { out: r.stdout, err: r.stderr, code: r.status };
}

describe('logs: the bytes written, through the fast path', () => {
  let d: TestDaemon;
  let dir: string;
  const clients: [string, (args: string[]) => ReturnType<typeof bytes>][] = [];
  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/berth-logs-bytes-');
    clients.push(['berth', (args) => bytes(BERTH, ['-H', d.host, ...args], process.env)]);
    if (DOCKER) clients.push(['docker', (args) => bytes(DOCKER as string, args, { ...process.env, DOCKER_HOST: d.host })]);
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  // What the container writes: every byte the shim escapes, multi-byte UTF-8, a 40000-byte line.
  const lines: Buffer[] = [
    Buffer.from('plain line\n'),
    Buffer.from('quotes " and \\ backslashes \\" and /slashes/\n'),
    Buffer.from('tab\there, <html> & ampersand, CR\r\n'),
    Buffer.from('é ж 中 😀 and U+2028 \u2028 U+2029 \u2029 U+FFFD \ufffd\n'),
    Buffer.from([0x63, 0x74, 0x6c, 0x01, 0x02, 0x1b, 0x5b, 0x31, 0x6d, 0x7f, 0x00, 0x0a]),
    Buffer.concat([Buffer.from('long:'), Buffer.alloc(40_000, 'L'), Buffer.from('\n')]),
    Buffer.from('\n'),
    Buffer.from('second to last\n'),
    Buffer.from('no newline at the end'),
  ];
  const out = Buffer.concat(lines);
  const err = Buffer.from('to stderr: ü\nand again\n');

  test('stdout and stderr come back byte for byte, apart, through both CLIs', () => {
    mkdirSync(join(dir, 'p'));
    writeFileSync(join(dir, 'p', 'out'), out);
    writeFileSync(join(dir, 'p', 'err'), err);
    assert.equal(d.berth(['create', '--name', 'lb', 'busybox', 'sh', '-c', 'cat /p/out; cat /p/err >&2']).code, 0);
    assert.equal(d.berth(['cp', join(dir, 'p'), 'lb:/p']).code, 0);
    assert.equal(d.berth(['start', '-a', 'lb']).code, 0);
    for (const [name, logs] of clients) {
      const r = logs(['logs', 'lb']);
      assert.equal(r.code, 0, `${name}: ${r.err}`);
      assert.ok(r.out.equals(out), `${name} stdout: ${JSON.stringify(r.out.toString('latin1').slice(0, 300))}`);
      assert.ok(r.err.equals(err), `${name} stderr: ${JSON.stringify(r.err.toString())}`);
    }
  });

  test('--tail counts entries (a 40000-byte line is three); -t prefixes each entry; --since from an entry\'s own time', () => {
    for (const [name, logs] of clients) {
      // The last four entries: stdout's last two and stderr's two (the unfinished line is written at the end, whichever came first).
      const tail = logs(['logs', '--tail', '4', 'lb']);
      assert.equal(tail.out.toString(), 'second to last\nno newline at the end', name);
      assert.ok(tail.err.equals(err), name);
      assert.equal(logs(['logs', '--tail', '0', 'lb']).out.length, 0, name);
    }
    const stamped = clients[0][1](['logs', '-t', 'lb']).out.toString('latin1');
    // Each entry: the RFC3339NanoFixed time and a space, then the entry (partial entries of the long line included).
    const entries = stamped.split(/(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z )/);
    assert.equal(entries.length, lines.length + 2, 'nine lines, the long one in three entries');
    assert.equal(entries.map((e) => e.slice(31)).join(''), out.toString('latin1'));
    for (const [name, logs] of clients) {
      assert.equal(logs(['logs', '-t', 'lb']).out.toString('latin1'), stamped, name);
      // Since is inclusive: from the entry whose time it is on.
      const k = 6;
      const since = entries[k].slice(0, 30);
      const from = logs(['logs', '--since', since, 'lb']).out.toString('latin1');
      const want = entries.filter((e) => e.slice(0, 30) >= since).map((e) => e.slice(31)).join('');
      assert.equal(from, want, name);
      assert.equal(logs(['logs', '--since', '2099-01-01T00:00:00Z', 'lb']).out.length, 0, name);
      assert.equal(logs(['logs', '--until', '2000-01-01T00:00:00Z', 'lb']).out.length, 0, name);
    }
  });

  test('bytes that are not UTF-8 come back as U+FFFD, as from dockerd', () => {
    assert.equal(d.berth(['run', '--name', 'bin', 'busybox', 'printf', 'a\\377\\376b\\n']).code, 0);
    for (const [name, logs] of clients) assert.ok(logs(['logs', 'bin']).out.equals(Buffer.from('a\ufffd\ufffdb\n')), name);
  });

  test('a TTY container\'s log is its raw stream, no frames', () => {
    assert.equal(d.berth(['run', '-t', '--name', 'tt', 'busybox', 'sh', '-c', 'printf "one\\ntwo é\\n"']).code, 0);
    for (const [name, logs] of clients) assert.equal(logs(['logs', 'tt']).out.toString(), 'one\r\ntwo é\r\n', name);
  });

  test('docker-py\'s logs(stream=True) yields one chunk per entry, and the same bytes', () => {
    assert.equal(d.berth(['run', '--name', 'seq', 'busybox', 'sh', '-c', 'seq 1 500; echo err >&2']).code, 0);
    const script = `
import docker, sys
c = docker.DockerClient(base_url='${d.host}')
chunks = list(c.containers.get('seq').logs(stream=True))
print(len(chunks), sum(len(x) for x in chunks))
print(repr(chunks[0]), repr(chunks[499]), repr(chunks[500]))
print(len(c.containers.get('lb').logs(stdout=True, stderr=False)))
`;
    const r = run('/usr/bin/python3', ['-c', script]);
    assert.equal(r.code, 0, r.stderr);
    let total = 0;
    for (let i = 1; i <= 500; i++) total += String(i).length + 1;
    assert.equal(r.stdout, `501 ${total + 4}\nb'1\\n' b'500\\n' b'err\\n'\n${out.length}\n`);
  });
});
