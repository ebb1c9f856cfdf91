// berth as the docker CLI's compose plugin: the unmodified docker CLI finds
// `docker-compose` (a link to dist/berth) in a plugin directory given by a
// temporary DOCKER_CONFIG's cliPluginsExtraDirs, asks it for its metadata and
// runs `docker compose …` through it, against the daemon the docker CLI was
// pointed at (DOCKER_HOST, -H, --context, `docker context use`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('compose as a docker CLI plugin', { skip: !DOCKER }, () => {
  let d: TestDaemon;
  let dir: string;
  let config: string;
  // The docker CLI with only our config: no DOCKER_HOST unless a test gives one.
  const docker = (args: string[], env: Record<string, string> = {}) => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DOCKER_HOST' && k !== 'DOCKER_CONTEXT')) as Record<string, string>;
    return run(DOCKER as string, args, { env: { ...base, DOCKER_CONFIG: config, ...env }, timeout: 120_000 });
  };

  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bt-cplugin-');
    config = join(dir, 'config');
    mkdirSync(join(dir, 'plugins'));
    mkdirSync(config);
    symlinkSync(BERTH, join(dir, 'plugins', 'docker-compose'));
    writeFileSync(join(config, 'config.json'), JSON.stringify({ cliPluginsExtraDirs: [join(dir, 'plugins')] }));
    // A project of two labelled containers, made with the plain CLI.
    for (const [svc, n] of [['web', '1'], ['db', '1']]) {
      const r = d.berth(['run', '-d', '--name', `plug-${svc}-${n}`, '-l', 'com.docker.compose.project=plug', '-l', `com.docker.compose.service=${svc}`,
        '-l', `com.docker.compose.container-number=${n}`, '-l', 'com.docker.compose.oneoff=False', '-l', 'com.docker.compose.config-hash=h',
        '-l', 'com.docker.compose.project.config_files=/srv/plug/compose.yaml', 'busybox', 'sh', '-c', `echo ${svc} is up; exec sleep 600`]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('docker-cli-plugin-metadata: the JSON object the docker CLI requires, and nothing else', () => {
    const r = run(BERTH, ['docker-cli-plugin-metadata']);
    assert.equal(r.code, 0);
    const meta = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(meta.SchemaVersion, '0.1.0');
    assert.equal(meta.Vendor, 'berth');
    assert.equal(meta.Version, d.berth(['compose', 'version', '--format', 'json']).stdout.match(/"version":"([^"]+)"/)?.[1]);
    assert.equal(typeof meta.ShortDescription, 'string');
    assert.equal(r.stdout.trim().split('\n').length, 1);
  });

  test('the docker CLI lists berth as its compose plugin', () => {
    const r = docker(['compose', '--help']);
    assert.equal(r.code, 0, r.stderr);
    // Usage as the user typed it.
    assert.match(r.stdout, /^Usage: docker compose \[options\] \[command\]$/m);
    assert.match(run(BERTH, ['compose', '--help']).stdout, /^Usage: berth compose /m);
    const info = docker(['info', '--format', '{{json .ClientInfo.Plugins}}'], { DOCKER_HOST: d.host });
    const plugins = JSON.parse(info.stdout) as Array<{ Name: string; Vendor: string; Path: string }>;
    const compose = plugins.find((p) => p.Name === 'compose');
    assert.equal(compose?.Vendor, 'berth');
    assert.equal(compose?.Path, join(dir, 'plugins', 'docker-compose'));
  });

  test('DOCKER_HOST: docker compose version, ps and logs reach the daemon docker was pointed at', () => {
    const v = docker(['compose', 'version'], { DOCKER_HOST: d.host });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Docker Compose version v\d+\.\d+\.\d+\S*\n$/);
    const ps = docker(['compose', '-p', 'plug', 'ps', '--format', '{{.Name}} {{.Service}} {{.State}}'], { DOCKER_HOST: d.host });
    assert.equal(ps.code, 0, ps.stderr);
    assert.equal(ps.stdout, 'plug-db-1 db running\nplug-web-1 web running\n');
    assert.equal(docker(['compose', '-p', 'plug', 'logs', 'web'], { DOCKER_HOST: d.host }).stdout, 'web-1  | web is up\n');
  });

  test('an interrupt of the docker CLI reaches berth through the plugin socket: logs -f ends', async () => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DOCKER_CONTEXT')) as Record<string, string>;
    const p = spawn(DOCKER as string, ['compose', '-p', 'plug', 'logs', '-f', 'web'], { env: { ...base, DOCKER_CONFIG: config, DOCKER_HOST: d.host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => { out += c; });
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 100 && !out.includes('web is up'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(out, 'web-1  | web is up\n');
    // Only the docker CLI is signalled, as a process manager would; it does not pass signals on.
    p.kill('SIGINT');
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 130);
  });

  test('docker -H, --context and `docker context use` choose the daemon as they do for docker itself', () => {
    assert.equal(docker(['-H', d.host, 'compose', 'ls', '-q']).stdout, 'plug\n');
    const created = docker(['context', 'create', 'berthtest', '--docker', `host=${d.host}`]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(docker(['--context', 'berthtest', 'compose', 'ls']).stdout, [
      'NAME                STATUS              CONFIG FILES',
      'plug                running(2)          /srv/plug/compose.yaml',
      '',
    ].join('\n'));
    assert.equal(docker(['context', 'use', 'berthtest']).code, 0);
    assert.equal(docker(['compose', 'ls', '-q']).stdout, 'plug\n');
    // berth itself follows the same context, and -H with --context is the docker CLI's conflict.
    assert.equal(run(BERTH, ['compose', 'ls', '-q'], { env: { ...process.env, DOCKER_HOST: '', DOCKER_CONFIG: config } }).stdout, 'plug\n');
    const both = run(BERTH, ['-H', d.host, '--context', 'berthtest', 'compose', 'ls'], { env: { ...process.env, DOCKER_CONFIG: config } });
    assert.equal(both.code, 1);
    assert.equal(both.stderr, 'conflicting options: cannot specify both --host and --context\n');
    assert.equal(docker(['context', 'use', 'default']).code, 0);
  });

  const systemPlugin = ['/usr/local/lib/docker/cli-plugins', '/usr/local/libexec/docker/cli-plugins', '/usr/lib/docker/cli-plugins', '/usr/libexec/docker/cli-plugins']
    .some((p) => existsSync(join(p, 'docker-compose')));
  test('the plugin the install script puts machine-wide answers docker compose; without it the docker CLI has no compose', () => {
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'config.json'), '{}');
    const r = spawnSync(DOCKER as string, ['compose', 'version'], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: bare, DOCKER_HOST: d.host } });
    if (systemPlugin) {
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Docker Compose version v\S+-berth\n$/);
    } else {
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /unknown command|is not a docker command/);
    }
  });
});
