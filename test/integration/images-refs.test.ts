// Images named every way Docker allows: registry digests (`name@sha256:…`)
// and IDs for inspect, tag, run and rmi; and images made by import from a
// URL or stdin, and by export → import.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { DOCKER, busyboxTarPath, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { callApi } from '../helpers/api-call.ts';
import { hasBinary, skopeo, startRegistry, type Registry } from '../registry/helpers.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('image references and import sources', () => {
  let d: TestDaemon;
  let reg: Registry;
  let host: string;
  let work: string;
  let bb: string;
  let web: ChildProcess | undefined;
  const inspect = (ref: string, f: string) => d.berth(['image', 'inspect', '-f', f, ref]);

  before(async () => {
    d = await startSeededDaemon();
    reg = await startRegistry({ log: { level: 'warn' } });
    host = `localhost:${new URL(reg.url).port}`;
    work = mkdtempSync('/tmp/berth-refs-');
    bb = inspect('busybox', '{{.Id}}').stdout.trim();
  });
  after(async () => {
    web?.kill('SIGKILL');
    await d.destroy();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a pulled image by its registry digest: inspect, images --digests, tag, run, rmi', { skip: !hasBinary('skopeo') }, async () => {
    const file = join(work, 'bb.tar');
    assert.equal(d.berth(['save', '-o', file, 'busybox']).code, 0);
    const cp = await skopeo(['copy', '--dest-tls-verify=false', `docker-archive:${file}`, `docker://${reg.host}/team/bb:1`]);
    assert.equal(cp.status, 0, cp.stderr);
    const pull = d.berth(['pull', `${host}/team/bb:1`]);
    assert.equal(pull.code, 0, pull.stderr);
    const [digestRef] = JSON.parse(inspect(`${host}/team/bb:1`, '{{json .RepoDigests}}').stdout) as string[];
    assert.match(digestRef, new RegExp(`^${host}/team/bb@sha256:[a-f0-9]{64}$`));
    const digest = digestRef.slice(digestRef.indexOf('@') + 1);
    assert.equal(inspect(digestRef, '{{.Id}}').stdout.trim(), bb, 'the same config: the same image as busybox');
    assert.match(d.berth(['images', '--digests', `${host}/team/bb`]).stdout, new RegExp(`\\n${host}/team/bb\\s+1\\s+${digest}\\s+${bb.slice(7, 19)}\\s`));
    assert.equal(d.berth(['run', '--rm', digestRef, 'echo', 'by digest']).stdout, 'by digest\n');
    assert.equal(d.berth(['tag', digestRef, 'fromdigest:1']).code, 0);
    assert.equal(inspect('fromdigest:1', '{{.Id}}').stdout.trim(), bb);
    const refuse = d.berth(['tag', 'busybox', `${host}/team/bb@${digest}`]);
    assert.equal(refuse.code, 1);
    assert.match(refuse.stderr, /refusing to create a tag with a digest reference|invalid reference format/);
    // rmi of the digest reference drops just that name.
    assert.equal(d.berth(['rmi', digestRef]).stdout, `Untagged: ${digestRef}\n`);
    assert.equal(inspect(`${host}/team/bb:1`, '{{json .RepoDigests}}').stdout.trim(), '[]');
    assert.equal(d.berth(['image', 'inspect', digestRef]).code, 1);
    // Pulled again: removing the last tag of the repository takes its digest along.
    assert.equal(d.berth(['pull', '-q', `${host}/team/bb:1`]).code, 0);
    if (DOCKER) {
      assert.equal(d.docker(['rmi', `${host}/team/bb:1`]).stdout, `Untagged: ${host}/team/bb:1\nUntagged: ${digestRef}\n`);
    } else {
      assert.equal(d.berth(['rmi', `${host}/team/bb:1`]).stdout, `Untagged: ${host}/team/bb:1\nUntagged: ${digestRef}\n`);
    }
    assert.equal(inspect('busybox', '{{.Id}}').stdout.trim(), bb, 'busybox still names it');
    // Pulled by digest only: a row with no tag, as the docker CLI shows it.
    assert.equal(d.berth(['pull', '-q', digestRef]).code, 0);
    assert.match(d.berth(['images', '--digests', `${host}/team/bb`]).stdout, new RegExp(`\\n${host}/team/bb\\s+<none>\\s+${digest}\\s+${bb.slice(7, 19)}\\s`));
    if (DOCKER) assert.match(d.docker(['images', '--digests', `${host}/team/bb`]).stdout, new RegExp(`\\n${host}/team/bb\\s+<none>\\s+${digest}\\s+${bb.slice(7, 19)}\\s`));
    assert.equal(d.berth(['rmi', digestRef]).stdout, `Untagged: ${digestRef}\n`);
    d.berth(['rmi', 'fromdigest:1']);
  });

  test('short and long IDs, with and without sha256:, for inspect, tag, run and rmi', () => {
    const hex = bb.slice(7);
    for (const ref of [hex.slice(0, 12), hex, bb, `sha256:${hex.slice(0, 12)}`, hex.slice(0, 4)]) {
      assert.equal(inspect(ref, '{{.Id}}').stdout.trim(), bb, ref);
    }
    assert.equal(d.berth(['tag', hex.slice(0, 12), 'byid:1']).code, 0);
    assert.equal(d.berth(['run', '--rm', hex.slice(0, 12), 'echo', 'by id']).stdout, 'by id\n');
    // Every name in one repository: rmi by ID untags them and deletes.
    assert.equal(d.berth(['rmi', 'busybox']).code, 0);
    assert.match(d.berth(['rmi', hex.slice(0, 12)]).stdout, new RegExp(`^Untagged: byid:1\\nDeleted: ${bb}\\nDeleted: sha256:[a-f0-9]{64}\\n$`));
    d.seedBusybox();
    bb = inspect('busybox', '{{.Id}}').stdout.trim();
  });

  test('import from a URL (berth and docker), with --change and -m; from stdin with --platform', async () => {
    const port = await freePort();
    copyFileSync(busyboxTarPath(), join(work, 'rootfs.tar'));
    web = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', String(port)], { cwd: work, stdio: 'ignore' });
    for (let i = 0; i < 50 && spawnSync('curl', ['-sf', '-o', '/dev/null', `http://127.0.0.1:${port}/rootfs.tar`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    const url = `http://127.0.0.1:${port}/rootfs.tar`;
    const r = d.berth(['import', '-c', 'CMD ["echo", "from the web"]', '-m', 'fetched', url, 'web:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.equal(d.berth(['run', '--rm', 'web:1']).stdout, 'from the web\n');
    assert.equal(inspect('web:1', '{{.Comment}}').stdout, 'fetched\n');
    const missing = d.berth(['import', `http://127.0.0.1:${port}/nope.tar`, 'web:2']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404/);
    if (DOCKER) {
      const dr = d.docker(['import', '--change', 'ENV FROM=docker', url, 'web:3']);
      assert.equal(dr.code, 0, dr.stderr);
      assert.equal(inspect('web:3', '{{json .Config.Env}}').stdout.trim(), '["FROM=docker"]');
      assert.equal(inspect('web:3', '{{.Comment}}').stdout, `Imported from ${url}\n`);
    }
    const stdin = d.berth(['import', '--platform', 'linux/amd64', '-', 'stdin:1'], { input: readFileSync(busyboxTarPath()) });
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal(inspect('stdin:1', '{{.Os}}/{{.Architecture}} {{.Comment}}').stdout, 'linux/amd64 Imported from -\n');
    const arm = d.berth(['import', '--platform', 'linux/s390x', busyboxTarPath(), 'nope:1']);
    assert.equal(arm.code, 1);
    assert.equal(d.berth(['image', 'inspect', 'nope:1']).code, 1);
  });

  test('export then import gives back the container\'s files (berth and docker)', () => {
    assert.equal(d.berth(['run', '--name', 'exp', 'busybox', 'sh', '-c', 'echo exported > /greeting']).code, 0);
    const file = join(work, 'exp.tar');
    assert.equal(d.berth(['export', '-o', file, 'exp']).code, 0);
    assert.equal(d.berth(['import', file, 'exported:1']).code, 0);
    assert.equal(d.berth(['run', '--rm', 'exported:1', 'cat', '/greeting']).stdout, 'exported\n');
    if (DOCKER) {
      const piped = spawnSync('bash', ['-c', `set -o pipefail; ${DOCKER} export exp | ${DOCKER} import - exported:2`], { env: d.env, encoding: 'utf8' });
      assert.equal(piped.status, 0, piped.stderr);
      assert.equal(d.docker(['run', '--rm', 'exported:2', 'cat', '/greeting']).stdout, 'exported\n');
    }
    d.berth(['rm', 'exp']);
  });

  test('import of something that is no tar is refused as the client\'s mistake (400), and leaves no image', async () => {
    const before = d.berth(['images', '-q', '-a']).stdout;
    const r = await callApi(d.socket, 'POST', '/images/create?fromSrc=-&repo=notatar', '['.repeat(100));
    assert.equal(r.status, 400, r.body);
    assert.match(JSON.parse(r.body).message, /^invalid layer archive: /);
    assert.equal(d.berth(['images', '-q', '-a']).stdout, before);
  });
});
