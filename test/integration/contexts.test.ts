// `berth context …` on the docker CLI's store: each test works in its own
// DOCKER_CONFIG and HOME, and the unmodified docker CLI reads what berth
// writes and the reverse (create, use, export/import), against a TestDaemon.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BERTH, DOCKER, run, TestDaemon } from '../helpers/daemon.ts';

describe('contexts', () => {
  let d: TestDaemon;
  let dir: string;
  let config: string;
  let certs: string;
  let n = 0;
  // A clean environment: no DOCKER_HOST/DOCKER_CONTEXT of the caller's, a config and HOME of the test's.
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))) as Record<string, string>;
    return { ...base, HOME: dir, DOCKER_CONFIG: config, ...extra };
  };
  const berth = (args: string[], extra: Record<string, string> = {}, input?: string | Buffer) => run(BERTH, args, { env: env(extra), input });
  const docker = (args: string[], extra: Record<string, string> = {}, input?: string | Buffer) => run(DOCKER as string, args, { env: env(extra), input });
  const metaFile = (name: string) => join(config, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'), 'meta.json');

  before(async () => {
    d = new TestDaemon();
    await d.start();
    dir = mkdtempSync('/tmp/bt-contexts-');
    certs = join(dir, 'certs');
    mkdirSync(certs);
    const ssl = (args: string[]) => assert.equal(spawnSync('openssl', args, { cwd: certs }).status, 0, `openssl ${args.join(' ')}`);
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ca']);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'c.csr', '-subj', '/CN=client']);
    ssl(['x509', '-req', '-in', 'c.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'cert.pem', '-days', '1']);
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    config = join(dir, `config${n++}`);
  });

  test('create writes the docker CLI layout; ls marks the current one; use and -c select the daemon', () => {
    const c = berth(['context', 'create', 'here', '--description', 'the test daemon', '--docker', `host=${d.host}`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, 'here\n');
    assert.equal(c.stderr, 'Successfully created context "here"\n');
    assert.deepEqual(JSON.parse(readFileSync(metaFile('here'), 'utf8')), {
      Name: 'here', Metadata: { Description: 'the test daemon' }, Endpoints: { docker: { Host: d.host, SkipTLSVerify: false } },
    });
    // berth's default context stands for its own socket.
    const ls = berth(['context', 'ls'], { BERTH_DEFAULT_SOCKET: '/run/nowhere.sock' });
    const lines = ls.stdout.split('\n');
    assert.deepEqual(lines.map((l) => l.trimEnd().split(/ {3,}/)), [
      ['NAME', 'DESCRIPTION', 'DOCKER ENDPOINT', 'ERROR'],
      ['default *', 'Current DOCKER_HOST based configuration', 'unix:///run/nowhere.sock'],
      ['here', 'the test daemon', d.host],
      [''],
    ]);
    // Columns aligned as the docker CLI's tabwriter aligns them.
    assert.equal(lines[0].indexOf('DOCKER ENDPOINT'), lines[2].indexOf(d.host));
    // The daemon is reached through -c, DOCKER_CONTEXT and `context use`, and DOCKER_HOST wins over a used one.
    assert.equal(berth(['-c', 'here', 'info', '--format', '{{.Name}}']).code, 0);
    assert.equal(berth(['-c', 'nope', 'ps']).code, 1);
    const used = berth(['context', 'use', 'here']);
    assert.deepEqual([used.code, used.stdout, used.stderr], [0, 'here\n', 'Current context is now "here"\n']);
    assert.equal(JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')).currentContext, 'here');
    assert.equal(berth(['context', 'show']).stdout, 'here\n');
    assert.equal(berth(['ps', '-q']).code, 0);
    assert.match(berth(['context', 'ls']).stdout, /\nhere \*  /);
    const over = berth(['context', 'ls', '--format', '{{.Name}} {{.Current}}'], { DOCKER_HOST: 'unix:///run/elsewhere.sock' });
    assert.equal(over.stdout, 'default true\nhere false\n');
    assert.match(over.stderr, /^Warning: DOCKER_HOST environment variable overrides the active context/);
    assert.equal(berth(['ps'], { DOCKER_HOST: 'unix:///run/elsewhere.sock' }).code, 1);
    assert.equal(berth(['context', 'ls', '--format', 'json']).stdout.split('\n')[1],
      JSON.stringify({ Current: true, Description: 'the test daemon', DockerEndpoint: d.host, Error: '', Name: 'here' }));
    assert.equal(berth(['context', 'ls', '-q']).stdout, 'default\nhere\n');
    // The docker CLI reads berth's store: same current context, same inspect.
    if (DOCKER) {
      assert.equal(docker(['context', 'show']).stdout, 'here\n');
      const bi = berth(['context', 'inspect']);
      assert.equal(bi.stdout, docker(['context', 'inspect', 'here']).stdout);
      assert.equal(docker(['ps', '-q']).code, 0, 'the docker CLI reaches the daemon of the context berth made current');
    }
    const back = berth(['context', 'use', 'default']);
    assert.equal(back.code, 0);
    assert.equal('currentContext' in JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')), false);
  });

  test('bad names, a taken name, bad --docker options and missing contexts fail with the docker CLI wording', () => {
    assert.equal(berth(['context', 'create', 'one', '--docker', `host=${d.host}`]).code, 0);
    const cases: Array<[string[], string]> = [
      [['context', 'create', 'one'], 'context "one" already exists\n'],
      [['context', 'create', 'x'], 'context name "x" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"\n'],
      [['context', 'create', '../up'], 'context name "../up" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"\n'],
      [['context', 'create', 'default'], '"default" is a reserved context name\n'],
      [['context', 'create', 'two', '--docker', 'foo=bar'], 'unable to create docker endpoint config: unrecognized config key: foo\n'],
      [['context', 'create', 'two', '--docker', `host=tcp://127.0.0.1:1,ca=${join(certs, 'c.csr')}`], 'unable to create docker endpoint config: invalid docker endpoint options: failed to retrieve context tls info: ca.pem seems invalid\n'],
      [['context', 'use', 'nope'], `context "nope": context not found: open ${metaFile('nope')}: no such file or directory\n`],
      [['context', 'rm', 'nope'], 'context "nope" does not exist\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = berth(args);
      assert.deepEqual([r.code, r.stderr], [1, stderr], args.join(' '));
    }
    assert.equal(existsSync(metaFile('two')), false, 'a failed create leaves nothing');
    // The current context is not removed without -f; with it, config.json forgets it.
    assert.equal(berth(['context', 'use', 'one']).code, 0);
    const rm = berth(['context', 'rm', 'one']);
    assert.deepEqual([rm.code, rm.stderr], [1, 'context "one" is in use, set -f flag to force remove\n']);
    const forced = berth(['context', 'rm', '-f', 'one']);
    assert.deepEqual([forced.code, forced.stdout], [0, 'one\n']);
    assert.equal(existsSync(metaFile('one')), false);
    assert.equal(berth(['context', 'show']).stdout, 'default\n');
    const inspect = berth(['context', 'inspect', 'nope', 'default', '--format', '{{.Name}} {{.Storage.MetadataPath}}']);
    assert.deepEqual([inspect.code, inspect.stdout], [1, 'default <IN MEMORY>\n']);
  });

  test('TLS material: create copies it under tls/, update replaces it, --from copies it', () => {
    const c = berth(['context', 'create', 'secure', '--docker', `host=tcp://127.0.0.1:2376,ca=${certs}/ca.pem,cert=${certs}/cert.pem,key=${certs}/key.pem`]);
    assert.equal(c.code, 0, c.stderr);
    const tls = join(config, 'contexts', 'tls', createHash('sha256').update('secure').digest('hex'), 'docker');
    assert.deepEqual(readFileSync(join(tls, 'cert.pem')), readFileSync(join(certs, 'cert.pem')));
    assert.equal(statSync(join(tls, 'key.pem')).mode & 0o777, 0o600);
    const i = JSON.parse(berth(['context', 'inspect', 'secure']).stdout) as Array<{ TLSMaterial: Record<string, string[]> }>;
    assert.deepEqual(i[0].TLSMaterial, { docker: ['ca.pem', 'cert.pem', 'key.pem'] });
    assert.equal(berth(['context', 'create', 'copy', '--from', 'secure', '--description', 'copied']).code, 0);
    assert.equal(berth(['context', 'inspect', 'copy', '--format', '{{.Endpoints.docker.Host}} {{.Metadata.Description}} {{.TLSMaterial}}']).stdout,
      'tcp://127.0.0.1:2376 copied map[docker:[ca.pem cert.pem key.pem]]\n');
    const u = berth(['context', 'update', 'copy', '--docker', `host=${d.host}`]);
    assert.deepEqual([u.code, u.stdout, u.stderr], [0, 'copy\n', 'Successfully updated context "copy"\n']);
    assert.equal(berth(['context', 'inspect', 'copy', '--format', '{{.Endpoints.docker.Host}} {{.Metadata.Description}} {{.TLSMaterial}}']).stdout,
      `${d.host} copied map[]\n`);
    assert.equal(berth(['-c', 'copy', 'ps', '-q']).code, 0);
  });

  test('export and import round-trip with the docker CLI, both ways, files and stdio', { skip: !DOCKER }, () => {
    const ep = `host=${d.host},ca=${certs}/ca.pem,cert=${certs}/cert.pem,key=${certs}/key.pem`;
    assert.equal(berth(['context', 'create', 'mine', '--description', 'from berth', '--docker', ep]).code, 0);
    assert.equal(docker(['context', 'create', 'theirs', '--description', 'from docker', '--docker', ep]).code, 0);
    const file = join(dir, `mine-${n}.tar`);
    const ex = berth(['context', 'export', 'mine', file]);
    assert.deepEqual([ex.code, ex.stderr], [0, `Written file "${file}"\n`]);
    assert.equal(berth(['context', 'export', 'mine', file]).stderr, `open ${file}: file exists\n`);
    assert.equal(docker(['context', 'import', 'mine-in-docker', file]).code, 0);
    const theirs = docker(['context', 'export', 'theirs', '-'], {}, undefined);
    assert.equal(theirs.code, 0);
    const im = run(BERTH, ['context', 'import', 'theirs-in-berth', '-'], { env: env(), input: Buffer.from(theirs.stdout, 'latin1') });
    assert.deepEqual([im.code, im.stdout, im.stderr], [0, 'theirs-in-berth\n', 'Successfully imported context "theirs-in-berth"\n']);
    const seen = (r: { stdout: string }) => {
      const [c] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
      return { Name: c.Name, Metadata: c.Metadata, Endpoints: c.Endpoints, TLSMaterial: c.TLSMaterial };
    };
    const expected = (name: string, description: string) => ({
      Name: name, Metadata: { Description: description }, Endpoints: { docker: { Host: d.host, SkipTLSVerify: false } }, TLSMaterial: { docker: ['ca.pem', 'cert.pem', 'key.pem'] },
    });
    assert.deepEqual(seen(docker(['context', 'inspect', 'mine-in-docker'])), expected('mine-in-docker', 'from berth'));
    assert.deepEqual(seen(berth(['context', 'inspect', 'theirs-in-berth'])), expected('theirs-in-berth', 'from docker'));
    const key = (name: string) => readFileSync(join(config, 'contexts', 'tls', createHash('sha256').update(name).digest('hex'), 'docker', 'key.pem'));
    assert.deepEqual(key('mine-in-docker'), readFileSync(join(certs, 'key.pem')));
    assert.deepEqual(key('theirs-in-berth'), readFileSync(join(certs, 'key.pem')));
    // Each tool's ls lists what the other made, and berth runs through docker's.
    assert.equal(docker(['context', 'ls', '-q']).stdout, 'default\nmine\nmine-in-docker\ntheirs\ntheirs-in-berth\n');
    assert.equal(berth(['context', 'ls', '-q']).stdout, 'default\nmine\nmine-in-docker\ntheirs\ntheirs-in-berth\n');
    assert.equal(berth(['--context', 'theirs', 'ps', '-q']).code, 0);
    assert.equal(docker(['--context', 'mine', 'context', 'show']).stdout, 'mine\n');
  });

  test('import takes only meta.json and tls/<endpoint>/<file>: a hostile tar writes nothing', () => {
    mkdirSync(config, { recursive: true });
    const tarDir = join(dir, `hostile-${n}`);
    mkdirSync(join(tarDir, 'tls', 'docker'), { recursive: true });
    writeFileSync(join(tarDir, 'meta.json'), JSON.stringify({ Name: 'x', Metadata: {}, Endpoints: { docker: { Host: d.host } } }));
    writeFileSync(join(tarDir, 'evil'), 'x');
    const tar = spawnSync('tar', ['-C', tarDir, '-cf', '-', 'meta.json', '-P', `${tarDir}/evil`, '--transform', 's,.*evil,../../evil,']);
    assert.equal(tar.status, 0);
    const r = berth(['context', 'import', 'hostile', '-'], {}, tar.stdout);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^invalid context: unexpected entry/);
    assert.equal(existsSync(metaFile('hostile')), false);
    assert.equal(existsSync(join(config, '..', 'evil')), false);
    assert.equal(berth(['context', 'import', 'empty', '-'], {}, '').stderr, 'invalid context: no metadata found\n');
    assert.equal(berth(['context', 'import', 'junk', '-'], {}, 'hi\n').stderr, 'unexpected EOF\n');
  });
});
