// The local image store through berth's CLI and the real docker CLI: tag and
// rmi semantics and errors, images filters and formats, inspect's shape,
// history, image prune and system df.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { sha256, tar } from '../registry/helpers.ts';
import { makeTar } from '../helpers/tar.ts';

/** A docker-archive of one image with two layers and a history with an empty layer between them. */
async function historyArchive(tag: string, labels: Record<string, string> = {}, created = '2024-01-02T03:04:05Z'): Promise<Buffer> {
  const l1 = tar({ 'base.txt': 'x'.repeat(3000) });
  const l2 = tar({ 'app.txt': 'y'.repeat(5000) });
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created, config: { Env: ['PATH=/bin'], Labels: labels },
    rootfs: { type: 'layers', diff_ids: [sha256(l1), sha256(l2)] },
    history: [
      { created, created_by: '/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ' },
      { created, created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
      { created, created_by: '/bin/sh -c echo a long command that goes on\tand on', comment: 'built' },
    ],
  }));
  return makeTar([
    { name: 'c.json', content: config }, { name: 'l1/layer.tar', content: l1 }, { name: 'l2/layer.tar', content: l2 },
    { name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: [tag], Layers: ['l1/layer.tar', 'l2/layer.tar'] }]) },
  ]);
}

describe('local images', () => {
  let d: TestDaemon;
  let work: string;
  let bb: string;
  const id = (ref: string) => d.berth(['image', 'inspect', '-f', '{{.Id}}', ref]).stdout.trim();

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-manage-');
    bb = id('busybox');
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('tag, and images with --digests, --no-trunc, -q and json format', () => {
    assert.equal(d.berth(['tag', 'busybox', 'localhost:5000/app:1']).code, 0);
    assert.equal(d.berth(['tag', bb.slice(7, 19), 'docker.io/library/busybox:second']).code, 0, 'by short ID, full name');
    assert.equal(d.berth(['tag', bb, 'index.docker.io/library/busybox:third']).code, 0, 'by full ID, legacy domain');
    const table = d.berth(['images', 'busybox']).stdout.split('\n').filter(Boolean);
    assert.match(table[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.deepEqual(table.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 3).join(' ')).sort(),
      ['busybox latest ' + bb.slice(7, 19), 'busybox second ' + bb.slice(7, 19), 'busybox third ' + bb.slice(7, 19)]);
    assert.equal(d.berth(['images', '-q', 'busybox']).stdout, bb.slice(7, 19) + '\n', '-q shows each image once');
    assert.equal(d.berth(['images', '-q', '--no-trunc', 'localhost:5000/app']).stdout, bb + '\n');
    assert.match(d.berth(['images', '--digests', 'localhost:5000/app']).stdout, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE\nlocalhost:5000\/app\s+1\s+<none>\s+[a-f0-9]{12}\s+/);
    const json = d.berth(['images', '--format', 'json', 'localhost:5000/app']).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    assert.equal(json.length, 1);
    assert.equal(json[0].Repository, 'localhost:5000/app');
    assert.equal(json[0].Tag, '1');
    assert.equal(json[0].ID, bb.slice(7, 19));
    assert.equal(d.berth(['images', '--format', '{{.Repository}}:{{.Tag}}', 'localhost:5000/*']).stdout, 'localhost:5000/app:1\n');
    if (DOCKER) {
      const dj = d.docker(['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}}', 'busybox']).stdout.split('\n').filter(Boolean).sort();
      assert.deepEqual(dj, ['busybox latest', 'busybox second', 'busybox third'].map((s) => `${s} ${bb.slice(7, 19)}`));
      assert.equal(d.docker(['images', '-q', '--no-trunc', 'localhost:5000/app']).stdout, bb + '\n');
    }
  });

  test('invalid references get Docker\'s errors', () => {
    const cases: [string[], RegExp][] = [
      [['tag', 'busybox', 'Busybox'], /invalid reference format: repository name \(library\/Busybox\) must be lowercase/],
      [['tag', 'busybox', 'bad:tag:x'], /invalid reference format/],
      [['tag', 'busybox', 'a'.repeat(64)], /invalid repository name \(a{64}\), cannot specify 64-byte hexadecimal strings/],
      [['image', 'inspect', 'nosuch'], /No such image: nosuch:latest/],
      [['rmi', 'nosuch:1'], /No such image: nosuch:1/],
      [['tag', 'nosuch', 'x:1'], /No such image: nosuch:latest/],
    ];
    for (const [args, re] of cases) {
      const r = d.berth(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
      if (DOCKER) {
        const dr = d.docker(args);
        assert.equal(dr.code, 1, `docker ${args.join(' ')}`);
        assert.match(dr.stderr, re, `docker ${args.join(' ')}`);
      }
    }
  });

  test('rmi: conflicts by ID, untag by name, -f, a container that uses the image', () => {
    const byId = d.berth(['rmi', bb.slice(7, 19)]);
    assert.equal(byId.code, 1);
    assert.match(byId.stderr, new RegExp(`Error response from daemon: conflict: unable to delete ${bb.slice(7, 19)} \\(must be forced\\) - image is referenced in multiple repositories`));
    assert.equal(d.berth(['rmi', 'busybox:second', 'busybox:third']).stdout, 'Untagged: busybox:second\nUntagged: busybox:third\n');
    if (DOCKER) assert.equal(d.docker(['rmi', 'localhost:5000/app:1']).stdout, 'Untagged: localhost:5000/app:1\n');
    // Running container: cannot be forced. Stopped container: must be forced.
    d.berth(['tag', 'busybox', 'used:1']);
    assert.equal(d.berth(['rmi', 'busybox']).code, 0);
    const run = d.berth(['run', '-d', '--name', 'runner', 'used:1', 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const cid = run.stdout.trim().slice(0, 12);
    const byName = d.berth(['rmi', 'used:1']);
    assert.match(byName.stderr, new RegExp(`conflict: unable to remove repository reference "used:1" \\(must force\\) - container ${cid} is using its referenced image ${bb.slice(7, 19)}`));
    const hard = d.berth(['rmi', '-f', bb.slice(7, 19)]);
    assert.equal(hard.code, 1);
    assert.match(hard.stderr, new RegExp(`conflict: unable to delete ${bb.slice(7, 19)} \\(cannot be forced\\) - image is being used by running container ${cid}`));
    d.berth(['rm', '-f', 'runner']);
    d.berth(['create', '--name', 'stopped', 'used:1', 'true']);
    const sid = d.berth(['inspect', '-f', '{{.Id}}', 'stopped']).stdout.trim().slice(0, 12);
    const soft = d.berth(['rmi', bb]);
    assert.match(soft.stderr, new RegExp(`conflict: unable to delete ${bb.slice(7, 19)} \\(must be forced\\) - image is being used by stopped container ${sid}`));
    if (DOCKER) assert.match(d.docker(['rmi', bb]).stderr, /\(must be forced\) - image is being used by stopped container/);
    d.berth(['rm', 'stopped']);
    const del = d.berth(['rmi', 'used:1']);
    assert.match(del.stdout, new RegExp(`^Untagged: used:1\\nDeleted: ${bb}\\nDeleted: sha256:[a-f0-9]{64}\\n$`), 'the image and its layer');
    assert.equal(d.berth(['images', '-aq']).stdout, '');
    d.seedBusybox();
    bb = id('busybox');
  });

  test('rmi -f by ID removes every name, then the image', () => {
    d.berth(['tag', 'busybox', 'm1:1']);
    d.berth(['tag', 'busybox', 'example.com/m2:1']);
    const r = DOCKER ? d.docker(['rmi', '-f', bb.slice(7, 19)]) : d.berth(['rmi', '-f', bb.slice(7, 19)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Untagged: busybox:latest\nUntagged: m1:1\nUntagged: example.com/m2:1\nDeleted: ${bb}\nDeleted: sha256:[a-f0-9]{64}\n$`));
    assert.equal(d.berth(['images', '-aq']).stdout, '');
    d.seedBusybox();
    bb = id('busybox');
  });

  test('history: one row per entry, <missing> below the image, sizes, -H=false, --no-trunc, -q, --format', async () => {
    const r = d.berth(['load'], { input: await historyArchive('hist:1') });
    assert.equal(r.stdout, 'Loaded image: hist:1\n', r.stderr);
    const hid = id('hist:1');
    const rows = d.berth(['history', 'hist:1']).stdout.split('\n').filter(Boolean);
    assert.match(rows[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.equal(rows.length, 4);
    assert.match(rows[1], new RegExp(`^${hid.slice(7, 19)}\\s+\\S.* ago\\s+/bin/sh -c echo a long command that goes on …\\s+5kB\\s+built$`));
    assert.match(rows[2], /^<missing>\s+.* ago\s+\/bin\/sh -c #\(nop\)  CMD \["sh"\]\s+0B\s*$/);
    assert.match(rows[3], /^<missing>\s+.* ago\s+\/bin\/sh -c #\(nop\) ADD file:0123456789abcdef0…\s+3kB\s*$/);
    const raw = d.berth(['history', '--human=false', '--no-trunc', '--format', '{{.ID}}|{{.CreatedSince}}|{{.Size}}|{{.CreatedBy}}', 'hist:1']).stdout.split('\n').filter(Boolean);
    assert.deepEqual(raw, [
      `${hid}|2024-01-02T03:04:05Z|5000|/bin/sh -c echo a long command that goes on and on`,
      '<missing>|2024-01-02T03:04:05Z|0|/bin/sh -c #(nop)  CMD ["sh"]',
      '<missing>|2024-01-02T03:04:05Z|3000|/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ',
    ]);
    assert.equal(d.berth(['history', '-q', 'hist:1']).stdout, `${hid.slice(7, 19)}\n<missing>\n<missing>\n`);
    const api = JSON.parse(run(['curl', '-s', '--unix-socket', d.socket, 'http://x/v1.51/images/hist:1/history'])) as Record<string, unknown>[];
    assert.deepEqual(api[0], { Id: hid, Created: 1704164645, CreatedBy: '/bin/sh -c echo a long command that goes on\tand on', Tags: ['hist:1'], Size: 5000, Comment: 'built' });
    assert.deepEqual(api[2], { Id: '<missing>', Created: 1704164645, CreatedBy: '/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ', Tags: null, Size: 3000, Comment: '' });
    if (DOCKER) {
      const dh = d.docker(['history', '--format', '{{.ID}} {{.Size}}', 'hist:1']).stdout;
      assert.equal(dh, `${hid.slice(7, 19)} 5kB\n<missing> 0B\n<missing> 3kB\n`);
    }
  });

  test('image inspect has Docker\'s shape, with overlay2 dirs that exist', () => {
    const [img] = JSON.parse(d.berth(['image', 'inspect', 'hist:1']).stdout) as Record<string, any>[];
    for (const k of ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Config', 'Architecture', 'Os', 'Size', 'GraphDriver', 'RootFS', 'Metadata']) assert.ok(k in img, k);
    assert.deepEqual(img.RepoTags, ['hist:1']);
    assert.deepEqual(img.RepoDigests, []);
    assert.equal(img.Parent, '');
    assert.equal(img.Size, 8000);
    assert.equal(img.Created, '2024-01-02T03:04:05Z');
    assert.equal(img.GraphDriver.Name, 'overlay2');
    assert.deepEqual(Object.keys(img.GraphDriver.Data).sort(), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
    assert.equal(run(['cat', join(img.GraphDriver.Data.UpperDir, 'app.txt')]).length, 5000);
    assert.equal(run(['cat', join(img.GraphDriver.Data.LowerDir, 'base.txt')]).length, 3000);
    assert.equal(img.RootFS.Type, 'layers');
    assert.equal(img.RootFS.Layers.length, 2);
    assert.match(img.Metadata.LastTagTime, /^\d{4}-\d\d-\d\dT/);
    if (DOCKER) {
      const f = d.docker(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}} {{.GraphDriver.Name}} {{len .RootFS.Layers}} {{.Size}}', 'hist:1']);
      assert.equal(f.stdout, 'linux/amd64 overlay2 2 8000\n');
    }
  });

  test('images --filter dangling, reference, before, since, label; and label filters go through docker', async () => {
    await loadArchive(await historyArchive('old:1', { tier: 'base' }, '2020-01-01T00:00:00Z'));
    await loadArchive(await historyArchive('new:1', { tier: 'app', team: 'x' }, '2025-01-01T00:00:00Z'));
    d.berth(['tag', 'old:1', 'dangle:1']);
    await loadArchive(await historyArchive('dangle:1', {}, '2022-06-01T00:00:00Z'));
    const fmt = (args: string[]) => d.berth(['images', '--format', '{{.Repository}}:{{.Tag}}', ...args]).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(fmt(['--filter', 'dangling=true']), [], 'retagging old:1 made no dangling image: old:1 keeps its tag');
    assert.deepEqual(fmt(['--filter', 'label=tier']), ['new:1', 'old:1']);
    assert.deepEqual(fmt(['--filter', 'label=tier=app']), ['new:1']);
    assert.deepEqual(fmt(['--filter', 'before=dangle:1']), ['old:1']);
    assert.deepEqual(fmt(['--filter', 'since=dangle:1']).filter((t) => t !== 'busybox:latest' && t !== 'hist:1'), ['new:1']);
    assert.deepEqual(fmt(['--filter', 'reference=*ld:*']), ['old:1']);
    assert.deepEqual(fmt(['--filter', 'reference=new']), ['new:1']);
    const bad = d.berth(['images', '--filter', 'dangling=maybe']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid filter 'dangling=maybe'/);
    if (DOCKER) {
      assert.deepEqual(d.docker(['images', '--format', '{{.Repository}}', '--filter', 'label=tier=base']).stdout, 'old\n');
      assert.deepEqual(d.docker(['images', '--format', '{{.Repository}}', '--filter', 'before=dangle:1', '--filter', 'reference=old']).stdout, 'old\n');
    }
  });

  test('image prune: dangling by default, -a for unused, label and until filters, reclaimed space', async () => {
    // A dangling image: its only tag moved to another image.
    await loadArchive(await historyArchive('pr:1', { p: 'yes' }, '2021-01-01T00:00:00Z'));
    const first = id('pr:1');
    await loadArchive(await historyArchive('pr:1', { p: 'yes', v: '2' }, '2021-01-02T00:00:00Z'));
    assert.equal(d.berth(['images', '-q', '--no-trunc', '--filter', 'dangling=true']).stdout, first + '\n');
    const r = d.berth(['image', 'prune', '-f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Deleted Images:\ndeleted: ${first}\n\nTotal reclaimed space: 0B\n`, 'its layers are shared with pr:1');
    assert.equal(d.berth(['image', 'prune', '-f']).stdout, 'Total reclaimed space: 0B\n');
    // -a with a label filter: only unused images with that label.
    const all = d.berth(['image', 'prune', '-a', '-f', '--filter', 'label=tier=base']);
    assert.match(all.stdout, /^Deleted Images:\nuntagged: old:1\ndeleted: sha256:[a-f0-9]{64}\n\nTotal reclaimed space: 0B\n$/, 'its layers stay for the others');
    assert.equal(d.berth(['image', 'inspect', 'old:1']).code, 1);
    assert.equal(d.berth(['image', 'inspect', 'new:1']).code, 0);
    // until: only images created before it.
    const until = d.berth(['image', 'prune', '-a', '-f', '--filter', 'until=2024-06-01T00:00:00Z']);
    assert.match(until.stdout, /untagged: dangle:1\n/);
    assert.match(until.stdout, /untagged: hist:1\n/);
    assert.doesNotMatch(until.stdout, /new:1|busybox/);
    if (DOCKER) {
      const dp = d.docker(['image', 'prune', '-a', '-f', '--filter', 'label=team=x']);
      assert.match(dp.stdout, /^Deleted Images:\nuntagged: new:1\n(deleted: sha256:[a-f0-9]{64}\n){3}\nTotal reclaimed space: 8kB\n$/, 'the image and the two layers only it had');
    }
    // A used image stays with -a.
    d.berth(['create', '--name', 'keeper', 'busybox', 'true']);
    const keep = d.berth(['image', 'prune', '-a', '-f']);
    assert.doesNotMatch(keep.stdout, new RegExp(bb));
    assert.equal(d.berth(['image', 'inspect', 'busybox']).code, 0);
    d.berth(['rm', 'keeper']);
  });

  test('system df: totals, -v, --format, and the API shape', () => {
    d.berth(['create', '--name', 'dfuser', 'busybox', 'true']);
    const table = d.berth(['system', 'df']).stdout.split('\n').filter(Boolean);
    assert.match(table[0], /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    assert.match(table[1], /^Images\s+\d+\s+1\s+\S+B\s+\S+B \(\d+%\)$/);
    assert.match(table[2], /^Containers\s+1\s+0\s+0B\s+0B$/);
    assert.match(table[3], /^Local Volumes\s+0\s+0\s+0B\s+0B$/);
    assert.match(table[4], /^Build Cache\s+0\s+0\s+0B\s+0B$/);
    assert.equal(d.berth(['system', 'df', '--format', '{{.Type}}={{.TotalCount}}']).stdout.split('\n')[1], 'Containers=1');
    const v = d.berth(['system', 'df', '-v']).stdout;
    assert.match(v, /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\n/);
    assert.match(v, /\nbusybox\s+latest\s+[a-f0-9]{12}\s+.*\s+1\n/);
    assert.match(v, /Containers space usage:\n\nCONTAINER ID\s+IMAGE\s+COMMAND\s+LOCAL VOLUMES\s+SIZE\s+CREATED\s+STATUS\s+NAMES\n[a-f0-9]{12}\s+busybox\s+"true"\s+0\s+0B\s+.*dfuser\n/); // the docker CLI shows no virtual size here
    const api = JSON.parse(run(['curl', '-s', '--unix-socket', d.socket, 'http://x/v1.51/system/df'])) as Record<string, any>;
    assert.deepEqual(Object.keys(api).sort(), ['BuildCache', 'Containers', 'Images', 'LayersSize', 'Volumes']);
    assert.deepEqual(api.Volumes, []);
    assert.deepEqual(api.BuildCache, []);
    const bbRow = api.Images.find((i: { RepoTags: string[] }) => i.RepoTags.includes('busybox:latest'));
    assert.equal(bbRow.Containers, 1);
    assert.equal(api.Containers[0].Names[0], '/dfuser');
    assert.equal(api.Containers[0].SizeRw, 0);
    if (DOCKER) {
      const dd = d.docker(['system', 'df']).stdout.split('\n');
      assert.match(dd[0], /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
      assert.match(dd[1], /^Images\s+\d+\s+1\s+/);
      assert.match(dd[2], /^Containers\s+1\s+0\s+0B\s+0B$/);
      assert.match(d.docker(['system', 'df', '-v']).stdout, /dfuser/);
    }
    d.berth(['rm', 'dfuser']);
  });

  async function loadArchive(buf: Buffer): Promise<void> {
    const r = d.berth(['load'], { input: buf });
    assert.equal(r.code, 0, r.stderr);
  }
});

function run(args: string[]): string {
  return spawnSync(args[0], args.slice(1), { encoding: 'utf8' }).stdout;
}
