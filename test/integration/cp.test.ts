// `cp` both ways (issue #14): the berth CLI and the docker CLI run the same
// command lines against berthd and must print the same and leave the same
// files, into running and stopped containers; python3-docker's
// put_archive/get_archive; the HEAD/GET/PUT answers dockerd gives.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { DOCKER, type RunResult, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const HAVE_PY_DOCKER = spawnSync('python3', ['-c', 'import docker'], { stdio: 'ignore' }).status === 0;

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function api(d: TestDaemon, method: string, path: string, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path, headers: body ? { 'Content-Type': 'application/x-tar' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function tarList(buf: Buffer): string[] {
  const r = spawnSync('tar', ['-t'], { input: buf, encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

describe('cp', () => {
  let d: TestDaemon;
  let work: string;
  /** The local tree every case copies: dir/{a, sub/b, link -> a}, and a lone file. */
  let src: string;

  before(async () => {
    d = await startSeededDaemon();
    work = mkdtempSync('/tmp/berth-cp-');
    src = join(work, 'src');
    mkdirSync(join(src, 'dir', 'sub'), { recursive: true });
    writeFileSync(join(src, 'dir', 'a'), 'alpha\n');
    writeFileSync(join(src, 'dir', 'sub', 'b'), 'beta\n');
    symlinkSync('a', join(src, 'dir', 'link'));
    writeFileSync(join(src, 'other'), 'other\n');
    chownSync(join(src, 'other'), 1234, 4321);
    writeFileSync(join(work, 'afile'), '');
    for (const cli of ['berth', 'docker']) {
      assert.equal(d.berth(['run', '-d', '--name', `run-${cli}`, 'busybox', 'sleep', '1000']).code, 0);
      assert.equal(d.berth(['create', '--name', `stop-${cli}`, 'busybox', 'true']).code, 0);
    }
  });
  after(async () => {
    await d.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  /** The same cp command line through both CLIs (each on its own containers and output dirs). */
  function both(args: (cli: string) => string[], opts: { input?: Buffer } = {}): { berth: RunResult; docker?: RunResult } {
    const berth = d.berth(['cp', ...args('berth')], { input: opts.input });
    if (!DOCKER) return { berth };
    const docker = d.docker(['cp', ...args('docker')], { input: opts.input });
    // The docker CLI sometimes logs its own tar goroutine's race ("read/write on closed pipe") after an early error: not output of cp's.
    const dockerErr = docker.stderr.split('\n').filter((l) => !/^time=".*" level=/.test(l)).join('\n');
    assert.equal(berth.stderr, dockerErr, `stderr of cp ${args('docker').join(' ')}`);
    assert.equal(berth.code, docker.code, `exit code of cp ${args('docker').join(' ')}`);
    return { berth, docker };
  }
  const clis = () => (DOCKER ? ['berth', 'docker'] : ['berth']);

  /** A file's content in a container, running or not (cp out through the API). */
  async function catIn(container: string, path: string): Promise<string> {
    const r = await api(d, 'GET', `/containers/${container}/archive?path=${encodeURIComponent(path)}`);
    assert.equal(r.status, 200, r.body.toString());
    return spawnSync('tar', ['-xO'], { input: r.body, encoding: 'utf8' }).stdout;
  }

  async function listIn(container: string, path: string): Promise<string[]> {
    const r = await api(d, 'GET', `/containers/${container}/archive?path=${encodeURIComponent(path)}`);
    assert.equal(r.status, 200, r.body.toString());
    return tarList(r.body).sort();
  }

  for (const state of ['run', 'stop']) {
    test(`into a ${state === 'run' ? 'running' : 'stopped'} container: a directory, a rename, dir/. , a file onto a directory, - from stdin`, async () => {
      let r = both((cli) => [join(src, 'dir'), `${state}-${cli}:/tmp/`]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [join(src, 'dir', 'a'), `${state}-${cli}:/tmp/renamed`]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [join(src, 'dir') + '/.', `${state}-${cli}:/tmp/into`]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [join(src, 'other'), `${state}-${cli}:/tmp/dir`]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      const tar = spawnSync('tar', ['-C', src, '-c', 'other'], { maxBuffer: 1 << 20 }).stdout;
      r = both((cli) => ['-', `${state}-${cli}:/tmp/into/`], { input: tar });
      assert.equal(r.berth.code, 0, r.berth.stderr);
      for (const cli of clis()) {
        const c = `${state}-${cli}`;
        assert.deepEqual(await listIn(c, '/tmp/dir'), ['dir/', 'dir/a', 'dir/link', 'dir/other', 'dir/sub/', 'dir/sub/b'], cli);
        assert.equal(await catIn(c, '/tmp/renamed'), 'alpha\n');
        assert.deepEqual(await listIn(c, '/tmp/into'), ['into/', 'into/a', 'into/link', 'into/other', 'into/sub/', 'into/sub/b'], cli);
        assert.equal(await catIn(c, '/tmp/dir/sub/b'), 'beta\n');
        // A symlink is copied as a symlink; without -a the tar's owner is kept (dockerd's default).
        const link = await api(d, 'HEAD', `/containers/${c}/archive?path=/tmp/dir/link`);
        const stat = JSON.parse(Buffer.from(String(link.headers['x-docker-container-path-stat']), 'base64').toString()) as { mode: number; linkTarget: string };
        assert.equal(stat.linkTarget, '/tmp/dir/a');
        assert.ok(stat.mode >= 2 ** 27 && Math.floor(stat.mode / 2 ** 27) % 2 === 1, 'ModeSymlink');
        const other = spawnSync('tar', ['-tv', '--numeric-owner'], { input: (await api(d, 'GET', `/containers/${c}/archive?path=/tmp/dir/other`)).body, encoding: 'utf8' }).stdout;
        assert.match(other, /1234\/4321/);
      }
    });
  }

  test('out of running and stopped containers: a directory, dir/., a rename, a symlink with and without -L, - to stdout', () => {
    for (const state of ['run', 'stop']) {
      const out = join(work, `out-${state}`);
      for (const cli of clis()) mkdirSync(join(out, cli), { recursive: true });
      // The tree was put there by the test above; put it again so this test stands alone.
      for (const cli of clis()) assert.equal(d.berth(['cp', join(src, 'dir'), `${state}-${cli}:/srv`]).code, 0);
      let r = both((cli) => [`${state}-${cli}:/srv`, join(out, cli) + '/']);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [`${state}-${cli}:/srv/.`, join(out, cli, 'flat')]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [`${state}-${cli}:/srv/a`, join(out, cli, 'renamed')]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [`${state}-${cli}:/srv/link`, join(out, cli, 'l')]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => ['-L', `${state}-${cli}:/srv/link`, join(out, cli, 'followed')]);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      r = both((cli) => [`${state}-${cli}:/srv/sub`, '-']);
      assert.equal(r.berth.code, 0, r.berth.stderr);
      for (const cli of clis()) {
        const o = join(out, cli);
        assert.deepEqual(readdirSync(join(o, 'srv')).sort(), ['a', 'link', 'sub']);
        assert.deepEqual(readdirSync(join(o, 'flat')).sort(), ['a', 'link', 'sub']);
        assert.equal(readFileSync(join(o, 'renamed'), 'utf8'), 'alpha\n');
        assert.equal(readlinkSync(join(o, 'l')), 'a');
        assert.ok(lstatSync(join(o, 'followed')).isFile());
        assert.equal(readFileSync(join(o, 'followed'), 'utf8'), 'alpha\n');
      }
      assert.deepEqual(tarList(Buffer.from(r.berth.stdout, 'latin1')), ['sub/', 'sub/b']);
    }
  });

  test('the docker CLI\'s errors, word for word', () => {
    const cases: Array<[string[], RegExp]> = [
      [['a', 'b'], /^must specify at least one container source\n$/],
      [['run-berth:/a', 'stop-berth:/b'], /^copying between containers is not supported\n$/],
      [['run-berth:/nope', work + '/'], /^Error response from daemon: Could not find the file \/nope in container run-berth\n$/],
      [[join(src, 'other'), 'run-berth:/nodir/'], /^no such directory\n$/],
      [['run-berth:/etc', join(work, 'afile')], /^cannot copy directory\n$/],
      [['run-berth:/etc/passwd', join(work, 'afile', 'sub')], /^stat .*\/afile\/sub: not a directory\n$/],
      [['run-berth:/etc/passwd', join(work, 'nodir', 'sub')], /^invalid output path: directory ".*\/nodir" does not exist\n$/],
      [[join(work, 'nope'), 'run-berth:/tmp/'], /^lstat .*\/nope: no such file or directory\n$/],
      [['-', 'run-berth:/etc/hostname'], /^destination "run-berth:\/etc\/hostname" must be a directory\n$/],
      [['run-berth:/etc/hostname/', work], /^Error response from daemon: lstat \/etc\/hostname\/: not a directory\n$/],
    ];
    for (const [args, want] of cases) {
      const r = both(() => args);
      assert.equal(r.berth.code, 1, args.join(' '));
      assert.match(r.berth.stderr, want, args.join(' '));
    }
  });

  test('-a: the container\'s user owns what is copied in; without it the files keep their owner', async () => {
    assert.equal(d.berth(['create', '--name', 'as-nobody', '-u', 'nobody', 'busybox', 'true']).code, 0);
    assert.equal(d.berth(['cp', '-a', join(src, 'other'), 'as-nobody:/tmp/owned']).code, 0);
    assert.equal(d.berth(['cp', join(src, 'other'), 'as-nobody:/tmp/kept']).code, 0);
    const owner = async (p: string) => spawnSync('tar', ['-tv', '--numeric-owner'], { input: (await api(d, 'GET', `/containers/as-nobody/archive?path=${p}`)).body, encoding: 'utf8' }).stdout;
    assert.match(await owner('/tmp/owned'), /65534\/65534/);
    assert.match(await owner('/tmp/kept'), /1234\/4321/);
  });

  test('the API: the stat header, dockerd\'s statuses and words', async () => {
    let r = await api(d, 'HEAD', '/containers/run-berth/archive?path=/etc/');
    assert.equal(r.status, 200);
    const stat = JSON.parse(Buffer.from(String(r.headers['x-docker-container-path-stat']), 'base64').toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stat).sort(), ['linkTarget', 'mode', 'mtime', 'name', 'size']);
    assert.equal(stat.name, 'etc');
    assert.equal(stat.mode, 2 ** 31 + 0o755);
    assert.match(String(stat.mtime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    r = await api(d, 'GET', '/containers/run-berth/archive?path=/');
    assert.equal(r.status, 200);
    assert.ok(tarList(r.body).includes('/etc/passwd'), 'the root is archived as /…, as dockerd names it');
    for (const [method, path, status, message] of [
      ['HEAD', '/containers/run-berth/archive', 400, ''],
      ['GET', '/containers/run-berth/archive', 400, 'bad parameter: pathcannot be empty'],
      ['GET', '/containers/nosuch/archive?path=/', 404, 'No such container: nosuch'],
      ['GET', '/containers/run-berth/archive?path=/nope', 404, 'Could not find the file /nope in container run-berth'],
      ['PUT', '/containers/run-berth/archive?path=/etc/passwd', 400, 'extraction point is not a directory'],
      ['PUT', '/containers/run-berth/archive?path=/nope', 404, 'Could not find the file /nope in container run-berth'],
    ] as const) {
      r = await api(d, method, path, method === 'PUT' ? Buffer.alloc(1024) : undefined);
      assert.equal(r.status, status, `${method} ${path}: ${r.body}`);
      if (message) assert.equal(JSON.parse(r.body.toString()).message, message);
    }
    assert.equal(d.berth(['create', '--name', 'ro', '--read-only', 'busybox', 'true']).code, 0);
    r = await api(d, 'PUT', '/containers/ro/archive?path=/tmp', Buffer.alloc(1024));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body.toString()).message, 'container rootfs is marked read-only');
    // noOverwriteDirNonDir: a file where a directory is, and the reverse.
    const { makeTar } = await import('../helpers/tar.ts');
    r = await api(d, 'PUT', '/containers/run-berth/archive?path=/&noOverwriteDirNonDir=1', await makeTar([{ name: 'tmp', content: 'x' }]));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body.toString()).message, 'cannot overwrite directory "/tmp" with non-directory in "/"');
    r = await api(d, 'PUT', '/containers/run-berth/archive?path=/etc&noOverwriteDirNonDir=1', await makeTar([{ name: 'passwd', type: 'directory' }]));
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body.toString()).message, 'cannot overwrite non-directory "/etc/passwd" with directory in "/etc"');
    assert.match(await catIn('run-berth', '/etc/passwd'), /^root:/);
  });

  test('a gzip\'d tar goes in as a plain one; the copies are events (extract-to-dir, archive-path), as dockerd publishes them', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const gz = spawnSync('sh', ['-c', `tar -C ${src} -c other | gzip`], { maxBuffer: 1 << 20 }).stdout;
    const r = await api(d, 'PUT', '/containers/run-berth/archive?path=/tmp', gz);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(await catIn('run-berth', '/tmp/other'), 'other\n');
    const ev = d.berth(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=run-berth', '--format', '{{.Action}}']);
    assert.equal(ev.code, 0, ev.stderr);
    const actions = ev.stdout.split('\n').filter(Boolean);
    assert.ok(actions.includes('extract-to-dir') && actions.includes('archive-path'), actions.join(','));
  });

  test('what ustar cannot hold (long and non-ASCII names, a long link target, ids past 0o7777777, a file of several MiB) goes both ways intact', async () => {
    const odd = join(work, 'odd');
    const longDir = join(odd, 'd'.repeat(120));
    mkdirSync(longDir, { recursive: true });
    const longName = join(longDir, 'f'.repeat(110));
    writeFileSync(longName, 'long\n');
    writeFileSync(join(odd, 'ünï'), 'utf8\n');
    chownSync(join(odd, 'ünï'), 300000, 3000000);
    symlinkSync('t'.repeat(150), join(odd, 'longlink'));
    // Bigger than a slab and than the size read in one synchronous call; not a multiple of 512.
    const big = Buffer.alloc((3 << 20) + 77);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    writeFileSync(join(odd, 'big'), big);
    writeFileSync(join(odd, 'empty'), '');
    assert.equal(d.berth(['cp', odd, 'run-berth:/tmp/odd']).code, 0);
    const listing = spawnSync('tar', ['-tv', '--numeric-owner'], { input: (await api(d, 'GET', '/containers/run-berth/archive?path=/tmp/odd')).body, encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    assert.match(listing, /300000\/3000000 .* odd\/ünï/);
    assert.match(listing, new RegExp(`odd/longlink -> ${'t'.repeat(150)}`));
    assert.match(listing, new RegExp(`odd/${'d'.repeat(120)}/${'f'.repeat(110)}`));
    for (const cli of clis()) {
      const out = join(work, `odd-out-${cli}`);
      const r = cli === 'berth' ? d.berth(['cp', 'run-berth:/tmp/odd', out]) : d.docker(['cp', 'run-berth:/tmp/odd', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(out, 'd'.repeat(120), 'f'.repeat(110)), 'utf8'), 'long\n', cli);
      assert.equal(readFileSync(join(out, 'ünï'), 'utf8'), 'utf8\n', cli);
      assert.equal(readlinkSync(join(out, 'longlink')), 't'.repeat(150), cli);
      assert.ok(readFileSync(join(out, 'big')).equals(big), `${cli}: the big file's bytes`);
      assert.equal(readFileSync(join(out, 'empty')).length, 0, cli);
    }
  });

  test('python3-docker: put_archive and get_archive', { skip: !HAVE_PY_DOCKER && 'no python3-docker' }, () => {
    const script = `
import docker, io, tarfile, sys
c = docker.DockerClient(base_url=sys.argv[1]).containers.get('run-berth')
b = io.BytesIO()
with tarfile.open(fileobj=b, mode='w') as t:
    data = b'from python\\n'
    ti = tarfile.TarInfo('py/hello.txt'); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
assert c.put_archive('/tmp', b.getvalue()) is True
stream, stat = c.get_archive('/tmp/py/hello.txt')
raw = b''.join(stream)
with tarfile.open(fileobj=io.BytesIO(raw)) as t:
    m = t.getmembers()[0]
    print(m.name, t.extractfile(m).read().decode().strip(), stat['name'], stat['size'])
try:
    c.get_archive('/nope')
except docker.errors.NotFound as e:
    print('NotFound', e.explanation)
`;
    const r = spawnSync('python3', ['-c', script, d.host], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // The SDK names the container by its ID in the request, so dockerd's message does too.
    const id = d.berth(['inspect', '-f', '{{.Id}}', 'run-berth']).stdout.trim();
    assert.equal(r.stdout, `hello.txt from python hello.txt 12\nNotFound Could not find the file /nope in container ${id}\n`);
  });
});
