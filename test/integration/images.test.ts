// Images, minimal for now: import (with --change), images, inspect, tag, rmi,
// history; and hostile tars that must not write outside their layer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxTarPath, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { makeTar } from '../helpers/tar.ts';


describe('images', () => {
  let d: TestDaemon;
  let work: string;
  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-img-');
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('the image ID is the sha256 of its config, and identical imports give identical layers', () => {
    const [img] = JSON.parse(d.berth(['image', 'inspect', 'busybox']).stdout) as { Id: string; RootFS: { Layers: string[] }; RepoTags: string[]; Config: { Cmd: string[] } }[];
    assert.deepEqual(img.RepoTags, ['busybox:latest']);
    assert.deepEqual(img.Config.Cmd, ['sh']);
    const diffId = 'sha256:' + createHash('sha256').update(readFileSync(busyboxTarPath())).digest('hex');
    assert.deepEqual(img.RootFS.Layers, [diffId]);
    const configBlob = readFileSync(join(d.dataRoot, 'image/blobs/sha256', img.Id.slice(7)));
    assert.equal('sha256:' + createHash('sha256').update(configBlob).digest('hex'), img.Id);
    const snapshotsBefore = readdirSync(join(d.dataRoot, 'overlay2/snapshots')).length;
    d.berth(['import', busyboxTarPath(), 'busybox2:v1']);
    assert.equal(readdirSync(join(d.dataRoot, 'overlay2/snapshots')).length, snapshotsBefore, 'the same layer is unpacked once');
  });

  test('import from stdin and gzip, with --change and -m', () => {
    const gz = gzipSync(readFileSync(busyboxTarPath()));
    const r = d.berth(['import', '-c', 'ENV GREETING="hi there"', '-c', 'WORKDIR /tmp', '-c', 'ENTRYPOINT ["sh","-c"]', '-c', 'CMD ["echo $GREETING; pwd"]', '-m', 'from stdin', '-', 'custom:1'], { input: gz });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.equal(d.berth(['run', '--rm', 'custom:1']).stdout, 'hi there\n/tmp\n');
    assert.equal(d.berth(['image', 'inspect', '-f', '{{.Comment}}', 'custom:1']).stdout, 'from stdin\n');
    const bad = d.berth(['import', '-c', 'RUN echo no', busyboxTarPath(), 'nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /run is not a valid change command/);
    assert.equal(d.berth(['image', 'inspect', 'nope']).code, 1, 'a failed import leaves no image');
  });

  test('images lists tags; tag adds one; rmi untags, then deletes', () => {
    const t = d.berth(['tag', 'busybox', 'localhost:5000/team/bb:prod']);
    assert.equal(t.code, 0, t.stderr);
    const table = d.berth(['images']).stdout.split('\n');
    assert.match(table[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.ok(table.some((l) => /^localhost:5000\/team\/bb\s+prod\s+[a-f0-9]{12}\s+/.test(l)));
    const id = d.berth(['images', '-q', 'busybox']).stdout.trim();
    const conflict = d.berth(['rmi', id]);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /unable to delete [a-f0-9]{12} \(must be forced\) - image is referenced in multiple repositories/);
    assert.equal(d.berth(['rmi', 'localhost:5000/team/bb:prod']).stdout, 'Untagged: localhost:5000/team/bb:prod\n');
    // busybox2:v1 (its own config, the same layer) goes; the layer stays for busybox.
    assert.match(d.berth(['rmi', 'busybox2:v1']).stdout, /^Untagged: busybox2:v1\nDeleted: sha256:[a-f0-9]{64}\n$/);
    assert.equal(d.berth(['run', '--rm', 'busybox', 'echo', 'still here']).stdout, 'still here\n');
  });

  test('rmi refuses an image a container uses, and deletes an unused one', () => {
    d.berth(['tag', 'busybox', 'victim:1']);
    d.berth(['create', '--name', 'user', 'victim:1', 'true']);
    d.berth(['rmi', 'busybox']);
    const r = d.berth(['rmi', 'victim:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /conflict: unable to remove repository reference "victim:1" \(must force\) - container [a-f0-9]{12} is using its referenced image [a-f0-9]{12}/);
    d.berth(['rm', 'user']);
    const ok = d.berth(['rmi', 'victim:1']);
    assert.match(ok.stdout, /^Untagged: victim:1\nDeleted: sha256:[a-f0-9]{64}\n$/);
    d.seedBusybox();
  });

  test('history shows the import', () => {
    const r = d.berth(['history', 'busybox']);
    assert.match(r.stdout.split('\n')[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.match(r.stdout, /Imported from/);
  });

  test('a hostile tar cannot write outside its layer', async () => {
    const hostile = await makeTar([
      { name: 'bin/', type: 'directory' },
      { name: '../../../../../../tmp/berth-escape-dotdot', content: 'x' },
      { name: 'escape', type: 'symlink', linkname: '/tmp' },
      { name: 'escape/berth-escape-symlink', content: 'x' },
      { name: 'rel', type: 'symlink', linkname: '../../../../../../../tmp' },
      { name: 'rel/berth-escape-relative', content: 'x' },
      { name: 'hard', type: 'link', linkname: '../../../../../../etc/hostname' },
    ]);
    const file = join(work, 'hostile.tar');
    writeFileSync(file, hostile);
    const r = d.berth(['import', file, 'hostile:1']);
    for (const leak of ['/tmp/berth-escape-dotdot', '/tmp/berth-escape-symlink', '/tmp/berth-escape-relative']) {
      assert.equal(existsSync(leak), false, `${leak} must not exist`);
    }
    if (r.code === 0) {
      // Contained: what the tar wrote is inside the image, under its own root.
      const ls = d.berth(['run', '--rm', '--entrypoint', '', 'hostile:1', '/escape/berth-escape-symlink']);
      assert.notEqual(ls.code, 0); // no shell in this image; what matters is the host
    } else {
      assert.match(r.stderr, /Error response from daemon/);
      assert.equal(d.berth(['image', 'inspect', 'hostile:1']).code, 1);
    }
  });

  test('inspect of an unknown image, and invalid references', () => {
    const r = d.berth(['image', 'inspect', 'nosuch:latest']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such image: nosuch:latest/);
    const bad = d.berth(['tag', 'busybox', 'UPPER:case']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid reference format: repository name \(library\/UPPER\) must be lowercase|repository name \(UPPER\) must be lowercase/);
    const run = d.berth(['run', '--rm', 'nosuch', 'true']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Unable to find image 'nosuch:latest' locally/);
  });
});
