// `top`: the container's processes as the host's ps shows them, as dockerd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ socketPath, path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    }).on('error', reject).end();
  });
}

describe('top', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', 'sleep 301 & sleep 302 & wait']);
    d.berth(['create', '--name', 'idle', 'busybox', 'true']);
  });
  after(async () => { await d.destroy(); });

  test('lists exactly the container\'s processes with ps -ef\'s columns, the command with its spaces', async () => {
    const r = await get(d.socket, '/containers/busy/top');
    assert.equal(r.status, 200, r.body);
    const top = JSON.parse(r.body) as { Titles: string[]; Processes: string[][] };
    assert.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    const cmds = top.Processes.map((p) => p[7]).sort();
    assert.deepEqual(cmds, ['sh -c sleep 301 & sleep 302 & wait', 'sleep 301', 'sleep 302']);
    const pid = d.berth(['inspect', '-f', '{{.State.Pid}}', 'busy']).stdout.trim();
    assert.ok(top.Processes.some((p) => p[1] === pid), 'the container\'s init is listed by its host pid');
  });

  test('ps_args are passed to ps; a field renamed to PID is refused, a stopped container is a conflict', async () => {
    const aux = JSON.parse((await get(d.socket, '/containers/busy/top?ps_args=aux')).body) as { Titles: string[]; Processes: string[][] };
    assert.equal(aux.Titles[0], 'USER');
    assert.equal(aux.Processes.length, 3);
    const bad = await get(d.socket, `/containers/busy/top?ps_args=${encodeURIComponent('-o user=PID')}`);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /specifying \\"user=PID\\" is not allowed/);
    const stopped = await get(d.socket, '/containers/idle/top');
    assert.equal(stopped.status, 409);
    assert.match(stopped.body, /is not running/);
  });

  test('the docker CLI\'s top shows them', { skip: !DOCKER && 'no docker CLI' }, () => {
    const r = d.docker(['top', 'busy']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^UID\s+PID\s+PPID/);
    assert.match(r.stdout, /sleep 301/);
  });
});

describe('top through the berth CLI', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startSeededDaemon();
    d.berth(['run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', 'sleep 301 & wait']);
  });
  after(async () => { await d.destroy(); });

  test('prints the docker CLI\'s table, passes ps options through, and says when the container is unknown', { skip: !DOCKER && 'no docker CLI' }, () => {
    // The two runs are a moment apart: times and %CPU (and so column widths) may differ; compare cells.
    const mask = (s: string) => s.replace(/\d\d:\d\d(:\d\d)?/g, 'T').replace(/^(\S+\s+\S+\s+\S+\s+)\d+/gm, '$1C').split('\n').map((l) => l.trim().split(/\s{2,}/).join('|'));
    const berth = d.berth(['top', 'busy']);
    assert.equal(berth.code, 0, berth.stderr);
    assert.deepEqual(mask(berth.stdout), mask(d.docker(['top', 'busy']).stdout));
    const o = d.berth(['container', 'top', 'busy', '-o', 'pid,args']);
    assert.match(o.stdout, /^PID {17}COMMAND\n\d+ +sh -c sleep 301 & wait\n\d+ +sleep 301\n$/);
    const missing = d.berth(['top', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such container: nope/);
  });
});
