// berth build against a real daemon: RUN steps in runc containers on
// overlayfs, the layer cache, multi-stage builds, history, run mounts and
// secrets, and the errors for bad input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestDirs, steps } from '../helpers/build.ts';
import { serveDir } from '../helpers/serve-dir.ts';

function inspect<T>(d: TestDaemon, ref: string): T {
  const r = d.berth(['image', 'inspect', ref]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as T[])[0];
}

/** Every file below `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: Buffer): string[] {
  const hits: string[] = [];
  const walk = (p: string) => {
    let st;
    try {
      st = statSync(p, { throwIfNoEntry: false });
    } catch {
      return;
    }
    if (!st) return;
    if (st.isDirectory()) {
      for (const n of readdirSync(p)) walk(join(p, n));
    } else if (st.isFile() && st.size < 64 << 20) {
      if (readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

describe('build', () => {
  let d: TestDaemon;
  const dirs = new TestDirs();
  const ctx = dirs.context;
  before(async () => {
    d = await startSeededDaemon();
  });
  after(async () => {
    await d.destroy();
    dirs.removeAll();
  });

  test('requirements installed before the source: editing the source reuses the install step', () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox',
        'WORKDIR /code',
        'COPY requirements.txt /code/requirements.txt',
        'RUN while read p; do mkdir -p /deps/$p && echo "installing $p"; done < /code/requirements.txt',
        'COPY ./app /code/app',
        'CMD ["sh", "-c", "ls /deps; cat /code/app/main.py"]',
        '',
      ].join('\n'),
      'requirements.txt': 'fastapi\nuvicorn\n',
      'app/main.py': 'print("v1")\n',
      'app/__init__.py': '',
    });
    const first = d.berth(['build', '-t', 'fastapi-demo', dir], { timeout: 120_000 });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /installing fastapi\ninstalling uvicorn\n/);
    assert.match(first.stdout, / ---> Running in [a-f0-9]{12}\n/);
    assert.match(first.stdout, /Successfully built [a-f0-9]{12}\nSuccessfully tagged fastapi-demo:latest\n/);
    assert.deepEqual(steps(first.stdout).map((s) => s.cached), [false, false, false, false, false, false]);
    assert.equal(d.berth(['run', '--rm', 'fastapi-demo']).stdout, 'fastapi\nuvicorn\nprint("v1")\n');

    // Nothing changed: every step after FROM is a cache hit, and the ID is the same.
    const again = d.berth(['build', '-t', 'fastapi-demo', dir], { timeout: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(steps(again.stdout).map((s) => s.cached), [false, true, true, true, true, true]);
    assert.doesNotMatch(again.stdout, /installing fastapi/);
    assert.equal(/Successfully built (\w+)/.exec(again.stdout)?.[1], /Successfully built (\w+)/.exec(first.stdout)?.[1]);

    // Editing the source redoes only the steps from its COPY on.
    writeFileSync(join(dir, 'app/main.py'), 'print("v2")\n');
    const edited = d.berth(['build', '-t', 'fastapi-demo', dir], { timeout: 120_000 });
    assert.equal(edited.code, 0, edited.stderr);
    assert.deepEqual(steps(edited.stdout).map((s) => s.cached), [false, true, true, true, false, false]);
    assert.doesNotMatch(edited.stdout, /installing fastapi/);
    assert.equal(d.berth(['run', '--rm', 'fastapi-demo']).stdout, 'fastapi\nuvicorn\nprint("v2")\n');

    // A mode change is a change too; --no-cache redoes everything.
    const nocache = d.berth(['build', '--no-cache', '-t', 'fastapi-demo', dir], { timeout: 120_000 });
    assert.equal(nocache.code, 0, nocache.stderr);
    assert.deepEqual(steps(nocache.stdout).map((s) => s.cached), [false, false, false, false, false, false]);
    assert.match(nocache.stdout, /installing fastapi/);
  });

  test('history lists what the Dockerfile did, metadata steps as #(nop) without a layer', () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox',
        'LABEL org.example.team=build',
        'ENV APP_HOME=/srv/app',
        'WORKDIR $APP_HOME',
        'COPY hello.txt .',
        'RUN echo built > built.txt',
        'EXPOSE 8080/tcp 53/udp',
        'USER nobody',
        'ENTRYPOINT ["cat"]',
        'CMD ["hello.txt"]',
        '',
      ].join('\n'),
      'hello.txt': 'hello from the context\n',
    });
    const r = d.berth(['build', '-t', 'hist', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const hist = d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'hist']).stdout.trim().split('\n').slice(0, 9).reverse();
    assert.equal(hist[0], '/bin/sh -c #(nop)  LABEL org.example.team=build');
    assert.equal(hist[1], '/bin/sh -c #(nop)  ENV APP_HOME=/srv/app');
    assert.equal(hist[2], '/bin/sh -c #(nop) WORKDIR /srv/app');
    assert.match(hist[3], /^\/bin\/sh -c #\(nop\) COPY file:[a-f0-9]{64} in \/srv\/app\/ $/);
    assert.equal(hist[4], '/bin/sh -c echo built > built.txt');
    assert.equal(hist[5], '/bin/sh -c #(nop)  EXPOSE 8080/tcp 53/udp');
    assert.equal(hist[6], '/bin/sh -c #(nop)  USER nobody');
    assert.equal(hist[7], '/bin/sh -c #(nop)  ENTRYPOINT ["cat"]');
    assert.equal(hist[8], '/bin/sh -c #(nop)  CMD ["hello.txt"]');
    // Layer sizes: the RUN wrote 6 bytes, the COPY 23; metadata steps and WORKDIR's directory none.
    const sizes = d.berth(['history', '--format', '{{.Size}}', 'hist']).stdout.trim().split('\n').slice(0, 9).reverse();
    assert.deepEqual(sizes, ['0B', '0B', '0B', '23B', '6B', '0B', '0B', '0B', '0B']);
    const img = inspect<{ Config: { Labels: Record<string, string>; ExposedPorts: Record<string, unknown>; User: string; WorkingDir: string; Env: string[] }; RootFS: { Layers: string[] } }>(d, 'hist');
    const base = inspect<{ RootFS: { Layers: string[] } }>(d, 'busybox');
    // WORKDIR (creating /srv/app), COPY and RUN added layers.
    assert.equal(img.RootFS.Layers.length, base.RootFS.Layers.length + 3);
    assert.equal(img.Config.Labels['org.example.team'], 'build');
    assert.deepEqual(Object.keys(img.Config.ExposedPorts).sort(), ['53/udp', '8080/tcp']);
    assert.equal(img.Config.User, 'nobody');
    assert.equal(img.Config.WorkingDir, '/srv/app');
    assert.ok(img.Config.Env.includes('APP_HOME=/srv/app'));
    // The image runs as built: ENTRYPOINT + CMD, in WORKDIR, as nobody.
    assert.equal(d.berth(['run', '--rm', 'hist']).stdout, 'hello from the context\n');
    assert.equal(d.berth(['run', '--rm', '--entrypoint', 'sh', 'hist', '-c', 'id -u; cat built.txt']).stdout, '65534\nbuilt\n');
  });

  test('multi-stage: COPY --from gives the small image; unneeded stages are skipped; --target', () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox AS builder',
        'RUN mkdir /out && echo "the artifact" > /out/artifact && dd if=/dev/zero of=/out/junk bs=1M count=8 2>/dev/null',
        '',
        'FROM busybox AS broken',
        'RUN echo "this stage must not run" && exit 1',
        '',
        'FROM scratch',
        'COPY --from=builder /out/artifact /artifact',
        'COPY --from=0 /bin/busybox /bin/cat',
        'ENTRYPOINT ["/bin/cat", "/artifact"]',
        '',
      ].join('\n'),
    });
    const r = d.berth(['build', '-t', 'small', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.doesNotMatch(r.stdout, /must not run/);
    assert.equal(d.berth(['run', '--rm', 'small']).stdout, 'the artifact\n');
    const sizes = d.berth(['images', '--format', '{{.Repository}} {{.Size}}']).stdout;
    const small = inspect<{ Size: number; RootFS: { Layers: string[] } }>(d, 'small');
    assert.equal(small.RootFS.Layers.length, 2, sizes);
    assert.ok(small.Size < 3 * 1024 * 1024, `the final image holds no junk (${small.Size} bytes)`);

    const t = d.berth(['build', '--target', 'builder', '-t', 'big', dir], { timeout: 120_000 });
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /Step 2\/2 : RUN mkdir/);
    assert.match(t.stdout, / ---> Using cache/);
    assert.ok(inspect<{ Size: number }>(d, 'big').Size > 8 * 1024 * 1024);

    const broken = d.berth(['build', '--target', 'broken', dir], { timeout: 120_000 });
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /this stage must not run/);
    assert.match(broken.stderr, /The command '\/bin\/sh -c echo "this stage must not run" && exit 1' returned a non-zero code: 1/);
  });

  test('a failing step keeps the image of the last good one and names it; --rm=false keeps containers', () => {
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nRUN echo good > /good\nRUN echo about to fail; exit 7\n' });
    const r = d.berth(['build', dir], { timeout: 120_000 });
    assert.equal(r.code, 7);
    // The error itself names the image of the last good step, after Docker's wording.
    const named = /^The command '\/bin\/sh -c echo about to fail; exit 7' returned a non-zero code: 7 \(the last successful step's image is ([a-f0-9]{12}): run it to debug/m.exec(r.stderr);
    assert.ok(named, r.stderr);
    const last = named[1];
    assert.match(r.stdout, new RegExp(`Step 2/3 : RUN echo good > /good\n ---> Running in [a-f0-9]{12}\n(?: ---> Removed intermediate container [a-f0-9]{12}\n)? ---> ${last}\n`));
    assert.equal(d.berth(['run', '--rm', last, 'cat', '/good']).stdout, 'good\n');
    // The failed step's container is removed only with --force-rm; --rm=false keeps the good one's.
    const before = d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length;
    const kept = d.berth(['build', '--rm=false', '--no-cache', dir], { timeout: 120_000 });
    assert.equal(kept.code, 7);
    assert.equal(d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length, before + 2, 'both RUN containers are kept');
    const forced = d.berth(['build', '--force-rm', '--no-cache', dir], { timeout: 120_000 });
    assert.equal(forced.code, 7);
    assert.equal(d.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length, before + 2, 'none is kept');
  });

  test('ARG before FROM, --build-arg, ARG/ENV scoping, SHELL, heredocs, ONBUILD, HEALTHCHECK, --label', () => {
    const dir = ctx({
      'Dockerfile': [
        'ARG BASE=busybox',
        'FROM ${BASE}',
        'ARG WHO=world',
        'ARG BASE',
        'ENV FROM_ENV=env-value',
        'RUN echo "hello $WHO from $BASE" > /greeting',
        'SHELL ["/bin/sh", "-ec"]',
        'RUN <<EOF',
        'echo "heredoc line 1" > /heredoc',
        'echo "heredoc $FROM_ENV" >> /heredoc',
        'EOF',
        'COPY <<EOT /copied.txt',
        'copied ${FROM_ENV}',
        'EOT',
        'ONBUILD RUN echo triggered > /triggered',
        'HEALTHCHECK --interval=5s --retries=2 CMD cat /greeting',
        'STOPSIGNAL SIGINT',
        'VOLUME ["/data"]',
        '',
      ].join('\n'),
    });
    const r = d.berth(['build', '--build-arg', 'WHO=builder', '--build-arg', 'UNUSED=1', '--label', 'from.flag=yes', '-t', 'args', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
    assert.equal(d.berth(['run', '--rm', 'args', 'cat', '/greeting', '/heredoc', '/copied.txt']).stdout, 'hello builder from busybox\nheredoc line 1\nheredoc env-value\ncopied env-value\n');
    // Build args are not in the image's environment; ENV is.
    const env = d.berth(['run', '--rm', 'args', 'sh', '-c', 'echo "${WHO:-unset} $FROM_ENV"']).stdout;
    assert.equal(env, 'unset env-value\n');
    const img = inspect<{ Config: { Healthcheck: { Test: string[]; Interval: number; Retries: number }; OnBuild: string[]; StopSignal: string; Volumes: Record<string, unknown>; Labels: Record<string, string>; Shell: string[] } }>(d, 'args');
    assert.deepEqual(img.Config.Healthcheck, { Test: ['CMD-SHELL', 'cat /greeting'], Interval: 5e9, Retries: 2 });
    assert.deepEqual(img.Config.OnBuild, ['RUN echo triggered > /triggered']);
    assert.equal(img.Config.StopSignal, 'SIGINT');
    assert.deepEqual(Object.keys(img.Config.Volumes), ['/data']);
    assert.equal(img.Config.Labels['from.flag'], 'yes');
    assert.deepEqual(img.Config.Shell, ['/bin/sh', '-ec']);
    // The history of RUN names the build args it saw, as Docker's does.
    const hist = d.berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args']).stdout;
    assert.match(hist, /\|2 BASE=busybox WHO=builder \/bin\/sh -c echo "hello \$WHO from \$BASE" > \/greeting/);

    const child = ctx({ 'Dockerfile': 'FROM args\nRUN cat /triggered\n' });
    const c = d.berth(['build', '-t', 'args-child', child], { timeout: 120_000 });
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.match(c.stdout, /# Executing 1 build trigger/);
    assert.match(c.stdout, /triggered\n/);
    assert.equal(inspect<{ Config: { OnBuild: string[] | null } }>(d, 'args-child').Config.OnBuild?.length ?? 0, 0);
  });

  test('.dockerignore and <Dockerfile>.dockerignore exclude files from COPY; ! re-includes', () => {
    const dir = ctx({
      'Dockerfile': 'FROM busybox\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n',
      '.dockerignore': '# comment\n*.log\nsecret/\n!keep.log\n**/*.tmp\n',
      'a.log': 'x',
      'keep.log': 'x',
      'secret/key': 'x',
      'src/main.c': 'x',
      'src/deep/x.tmp': 'x',
      'other.Dockerfile': 'FROM busybox\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n',
      'other.Dockerfile.dockerignore': 'src\n',
    });
    const r = d.berth(['build', '--progress=plain', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const listed = r.stdout.split('\n').filter((l) => l.startsWith('/ctx/'));
    assert.deepEqual(listed, ['/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/keep.log', '/ctx/other.Dockerfile', '/ctx/other.Dockerfile.dockerignore', '/ctx/src/main.c']);
    const missing = ctx({ 'Dockerfile': 'FROM busybox\nCOPY a.log /\n', '.dockerignore': '*.log\n', 'a.log': 'x' });
    const m = d.berth(['build', missing], { timeout: 60_000 });
    assert.equal(m.code, 1);
    assert.match(m.stderr, /COPY failed: file not found in build context or excluded by \.dockerignore: stat a\.log: file does not exist/);
    const other = d.berth(['build', '-f', join(dir, 'other.Dockerfile'), dir], { timeout: 120_000 });
    assert.equal(other.code, 0, other.stderr);
    const otherListed = other.stdout.split('\n').filter((l) => l.startsWith('/ctx/'));
    assert.ok(otherListed.includes('/ctx/a.log') && !otherListed.some((l) => l.startsWith('/ctx/src')), otherListed.join(','));
  });

  test('COPY globs, --chown, --chmod, directories, and ADD of a local tar and of a URL with --checksum', async () => {
    const payload = 'downloaded body\n';
    const served = ctx({ 'file.txt': payload });
    const { port, stop } = await serveDir(served);
    try {
      const dir = ctx({ 'a1.txt': 'a1', 'a2.txt': 'a2', 'b.md': 'b', 'tree/x/y.txt': 'y' });
      const { execFileSync } = await import('node:child_process');
      execFileSync('tar', ['-C', join(dir, 'tree'), '-czf', join(dir, 'tree.tgz'), '.']);
      const sum = 'sha256:' + createHash('sha256').update(payload).digest('hex');
      writeFileSync(join(dir, 'Dockerfile'), [
        'FROM busybox',
        'COPY a*.txt /globbed/',
        'COPY --chown=nobody:nogroup --chmod=0640 b.md /owned.md',
        'COPY tree /tree',
        'ADD tree.tgz /unpacked/',
        `ADD --checksum=${sum} http://127.0.0.1:${port}/file.txt /dl/`,
        'RUN ls /globbed && stat -c "%U:%G %a" /owned.md && cat /tree/x/y.txt /unpacked/x/y.txt /dl/file.txt && stat -c "%a %Y" /dl/file.txt',
        '',
      ].join('\n'));
      const r = d.berth(['build', '--progress=plain', dir], { timeout: 120_000 });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /a1\.txt\na2\.txt\nnobody:nogroup 640\nyydownloaded body\n600 1893456000\n/);

      // --exclude drops matches of a glob and paths below a copied directory; --unpack decides about archives.
      writeFileSync(join(served, 'remote.tgz'), readFileSync(join(dir, 'tree.tgz')));
      writeFileSync(join(dir, 'Dockerfile'), [
        'FROM busybox',
        'COPY --exclude=a2.txt a*.txt /ex/',
        'COPY --exclude=x/*.txt tree /extree',
        'ADD --unpack=false tree.tgz /packed/',
        `ADD --unpack=true http://127.0.0.1:${port}/remote.tgz /remote/`,
        'RUN ls /ex; ls -R /extree | tr "\\n" " "; echo; ls /packed; cat /remote/x/y.txt',
        '',
      ].join('\n'));
      const ex = d.berth(['build', '--progress=plain', dir], { timeout: 120_000 });
      assert.equal(ex.code, 0, ex.stderr + ex.stdout);
      assert.match(ex.stdout, /\na1\.txt\n\/extree: x\s+\/extree\/x: \ntree\.tgz\ny ---> /);

      writeFileSync(join(dir, 'Dockerfile'), `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/file.txt /dl/\n`);
      const bad = d.berth(['build', dir], { timeout: 60_000 });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /digest mismatch/);

      writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY a1.txt a2.txt /notadir\n');
      const many = d.berth(['build', dir], { timeout: 60_000 });
      assert.equal(many.code, 1);
      assert.match(many.stderr, /When using COPY with more than one source file, the destination must be a directory and end with a \//);
    } finally {
      stop();
    }
  });

  test('ADD of a local tar keeps the tar\'s owners; with --chown every unpacked entry takes the owner, as BuildKit\'s', async () => {
    const dir = ctx({ 'tree/x/y.txt': 'y' });
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-C', join(dir, 'tree'), '--owner=1234', '--group=4321', '--numeric-owner', '-czf', join(dir, 'owned.tgz'), '.']);
    // Without a `./` entry the destination directory is berth's to create: root's, or the --chown owner's.
    execFileSync('tar', ['-C', join(dir, 'tree'), '--owner=1234', '--group=4321', '--numeric-owner', '-cf', join(dir, 'flat.tar'), 'x']);
    writeFileSync(join(dir, 'Dockerfile'), [
      'FROM busybox',
      'ADD owned.tgz /plain/',
      'ADD --chown=nobody:nogroup owned.tgz /chowned/',
      'ADD --chown=7 owned.tgz /byid',
      'ADD flat.tar /flat/',
      'ADD --chown=8:9 flat.tar /flatown/',
      'RUN stat -c "%n %u:%g" /flat /flat/x/y.txt /flatown /flatown/x /flatown/x/y.txt',
      'RUN stat -c "%n %u:%g" /plain /plain/x /plain/x/y.txt /byid /byid/x/y.txt && stat -c "%n %U:%G" /chowned /chowned/x /chowned/x/y.txt',
      '',
    ].join('\n'));
    const r = d.berth(['build', '--progress=plain', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\/flat 0:0\n\/flat\/x\/y.txt 1234:4321\n\/flatown 8:9\n\/flatown\/x 8:9\n\/flatown\/x\/y.txt 8:9\n/);
    assert.match(r.stdout, new RegExp([
      // The tar's `./` entry applies to the destination, as with `tar -x`.
      '/plain 1234:4321', '/plain/x 1234:4321', '/plain/x/y.txt 1234:4321', '/byid 7:7', '/byid/x/y.txt 7:7',
      '/chowned nobody:nogroup', '/chowned/x nobody:nogroup', '/chowned/x/y.txt nobody:nogroup',
    ].join('\n')));
  });

  test('RUN --mount: cache persists across builds, tmpfs and binds leave nothing; --network=none', () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox AS tools',
        'RUN echo tool-bytes > /tool',
        'FROM busybox',
        'RUN --mount=type=cache,target=/var/cache/pkgs sh -c \'echo run >> /var/cache/pkgs/runs; echo "runs: $(wc -l < /var/cache/pkgs/runs)"\'',
        'RUN --mount=type=tmpfs,target=/scratch sh -c \'echo t > /scratch/f && cat /scratch/f\'',
        'RUN --mount=type=bind,from=tools,source=/tool,target=/mnt/tool cat /mnt/tool',
        'RUN --mount=type=bind,source=input.txt,target=/input.txt cat /input.txt',
        // Writes to a rw bind are discarded (as BuildKit): the context and the stage stay as they were.
        'RUN --mount=type=bind,rw,target=/ctx sh -c \'echo scribbled > /ctx/input.txt && touch /ctx/new && cat /ctx/input.txt\'',
        'RUN --mount=type=bind,rw,source=input.txt,target=/one.txt sh -c \'echo scribbled-file > /one.txt && cat /one.txt\'',
        'RUN --mount=type=bind,rw,from=tools,target=/t sh -c \'echo x > /t/tool && rm -f /t/bin/sh\'',
        'RUN --mount=type=bind,target=/ctx --mount=type=bind,from=tools,target=/t sh -c \'cat /ctx/input.txt /t/tool; ls /ctx/new 2>&1; ls /t/bin/sh\'',
        'COPY input.txt /copied.txt',
        'RUN cat /copied.txt',
        'RUN --network=none sh -c \'ls /sys/class/net\'',
        'RUN ls -d /var/cache/pkgs /scratch /mnt/tool /input.txt 2>&1 || true',
        '',
      ].join('\n'),
      'input.txt': 'bound input\n',
    });
    const first = d.berth(['build', '--progress=plain', dir], { timeout: 120_000 });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /runs: 1\n/);
    assert.match(first.stdout, /\nt\n/);
    assert.match(first.stdout, /tool-bytes\n/);
    assert.match(first.stdout, /bound input\n/);
    assert.match(first.stdout, /scribbled\n/);
    assert.match(first.stdout, /scribbled-file\n/);
    assert.match(first.stdout, /bound input\ntool-bytes\nls: \/ctx\/new: No such file or directory\n\/t\/bin\/sh\n/);
    assert.match(first.stdout, /Step \d+\/\d+ : RUN cat \/copied.txt\n ---> Running in \w+\nbound input\n/);
    assert.equal(readFileSync(join(dir, 'input.txt'), 'utf8'), 'bound input\n');
    assert.match(first.stdout, /\nlo\n/);
    assert.match(first.stdout, /ls: \/var\/cache\/pkgs: No such file or directory/);
    assert.match(first.stdout, /ls: \/input\.txt: No such file or directory/);
    const second = d.berth(['build', '--no-cache', '--progress=plain', dir], { timeout: 120_000 });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /runs: 2\n/);
    // Changing a bound context file invalidates the step that binds it.
    writeFileSync(join(dir, 'input.txt'), 'changed input\n');
    const third = d.berth(['build', '--progress=plain', dir], { timeout: 120_000 });
    assert.match(third.stdout, /changed input\n/);
  });

  test('a secret is usable by RUN and never stored in a layer, the history or the store', () => {
    const secret = `s3cr3t-${Date.now()}-value`;
    const secretFile = join(mkdtempSync('/tmp/berth-secret-'), 'token');
    dirs.track(dirname(secretFile));
    writeFileSync(secretFile, secret);
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox',
        `RUN --mount=type=secret,id=token test "$(md5sum < /run/secrets/token | cut -c1-32)" = "${createHash('md5').update(secret).digest('hex')}" && echo secret-seen`,
        'RUN --mount=type=secret,id=token,target=/etc/tok sh -c \'wc -c < /etc/tok\'',
        'RUN ls -la /run /etc/tok 2>&1 || true',
        '',
      ].join('\n'),
    });
    const r = d.berth(['build', '--secret', `id=token,src=${secretFile}`, '-t', 'with-secret', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /secret-seen/);
    assert.match(r.stdout, new RegExp(`\\n${secret.length}\\n`));
    assert.match(r.stdout, /ls: \/run: No such file or directory/);
    // No layer (unpacked or as a blob), config, history or metadata holds it.
    assert.deepEqual(filesContaining(d.dataRoot, Buffer.from(secret)), []);
    const hist = d.berth(['history', '--no-trunc', 'with-secret']).stdout;
    assert.doesNotMatch(hist, new RegExp(secret.replace(/[-]/g, '\\-').slice(0, 12)));
    // A missing required secret is an error.
    const req = ctx({ 'Dockerfile': 'FROM busybox\nRUN --mount=type=secret,id=nope,required cat /run/secrets/nope\n' });
    const missing = d.berth(['build', req], { timeout: 60_000 });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /secret nope: not found/);
  });

  test('bad input: paths outside the context, symlinks out of it, unknown --from, stage cycles, syntax errors', () => {
    const outside = join(mkdtempSync('/tmp/berth-outside-'), 'host-only.txt');
    dirs.track(dirname(outside));
    writeFileSync(outside, 'HOST-FILE-CONTENT');
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY ../host-only.txt /x\n' });
    const r1 = d.berth(['build', dir], { timeout: 60_000 });
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /forbidden path outside the build context: \.\.\/host-only\.txt/);

    // A context symlink to a host file is resolved inside the context: the host file is never read.
    symlinkSync(outside, join(dir, 'link-out'));
    symlinkSync(dirname(outside), join(dir, 'dir-out'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY link-out /x\n');
    const r2 = d.berth(['build', dir], { timeout: 60_000 });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /file not found in build context/);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY dir-out/ /d/\n');
    const r3 = d.berth(['build', dir], { timeout: 60_000 });
    assert.equal(r3.code, 1);
    // Copied as part of a directory, the link stays a link (its target is not followed).
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\nRUN readlink /ctx/link-out && cat /ctx/link-out 2>&1 || true\n');
    const r4 = d.berth(['build', '--progress=plain', dir], { timeout: 60_000 });
    assert.equal(r4.code, 0, r4.stderr);
    assert.doesNotMatch(r4.stdout, /HOST-FILE-CONTENT/);

    const cases: [string, RegExp][] = [
      ['FROM busybox\nCOPY --from=nosuchstage /x /x\n', /invalid from flag value nosuchstage/],
      ['FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n', /circular dependency detected on stage: [ab]/],
      ['FROM busybox AS a\nCOPY --from=a /x /x\n', /circular dependency detected on stage: a/],
      ['FROM busybox\nCOPY --from=5 /x /x\n', /invalid from flag value 5/],
      ['FROM busybox\nRUN echo ok\nFROBNICATE now\n', /dockerfile parse error on line 3: unknown instruction: FROBNICATE/i],
      ['RUN echo no stage\n', /no build stage in current context/],
      ['FROM busybox\nSHELL /bin/bash\n', /SHELL requires the arguments to be in JSON form/],
    ];
    for (const [text, want] of cases) {
      writeFileSync(join(dir, 'Dockerfile'), text);
      const r = d.berth(['build', dir], { timeout: 60_000 });
      assert.notEqual(r.code, 0, text);
      assert.match(r.stderr, want, text);
    }
    const nodf = ctx({ 'a': 'x' });
    const r5 = d.berth(['build', nodf], { timeout: 60_000 });
    assert.notEqual(r5.code, 0);
    assert.match(r5.stderr, /Cannot locate specified Dockerfile: Dockerfile/);
    const badTag = d.berth(['build', '-t', 'UPPER:case', dir], { timeout: 60_000 });
    assert.notEqual(badTag.code, 0);
    assert.match(badTag.stderr, /invalid reference format/);
    assert.ok(existsSync(outside));
  });

  test('flags: --add-host, --network, --platform, -q, --iidfile, --label; independent stages both built', () => {
    const dir = ctx({
      'Dockerfile': [
        'FROM busybox AS one',
        'RUN echo one > /one',
        'FROM busybox AS two',
        'RUN echo two > /two',
        'FROM busybox',
        'COPY --from=one /one /one',
        'COPY --from=two /two /two',
        'RUN grep -w buildhost.example /etc/hosts && cat /one /two',
        '',
      ].join('\n'),
    });
    const iid = join(dir, 'iid.txt');
    const r = d.berth(['build', '--add-host', 'buildhost.example:10.1.2.3', '--network', 'none', '--platform', 'linux/amd64', '--iidfile', iid, '--label', 'a=b', '--progress=plain', dir], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /10\.1\.2\.3\s+buildhost\.example\none\ntwo\n/);
    const id = readFileSync(iid, 'utf8');
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    assert.equal(inspect<{ Id: string; Config: { Labels: Record<string, string> } }>(d, id).Config.Labels.a, 'b');
    // The same build again, quiet: all cached, only the ID is printed.
    const q = d.berth(['build', '-q', '--add-host', 'buildhost.example:10.1.2.3', '--label', 'a=b', dir], { timeout: 120_000 });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, id + '\n');
    const arm = d.berth(['build', '--platform', 'linux/arm64', dir], { timeout: 60_000 });
    assert.notEqual(arm.code, 0);
    assert.match(arm.stderr, /not a supported platform/);
    const net = d.berth(['build', '--network', 'nosuchnet', dir], { timeout: 60_000 });
    assert.notEqual(net.code, 0);
  });

  test('the same context file copied by two steps, and an unchanged context rebuilt, give the same files', () => {
    const dir = ctx({ 'Dockerfile': 'FROM busybox\nCOPY data /one/\nCOPY data /two/\nRUN cat /one/a /two/a\n', 'data/a': 'same\n' });
    for (let i = 0; i < 3; i++) {
      const r = d.berth(['build', '--progress=plain', ...(i === 2 ? ['--no-cache'] : []), dir], { timeout: 120_000 });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      if (i !== 1) assert.match(r.stdout, /same\nsame\n/);
    }
  });
});
