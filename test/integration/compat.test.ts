// Compatibility with real clients: the docker CLI, docker-py (python3-docker)
// and dockerode talk to berth's socket unchanged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { DOCKER, busyboxTarPath, run, startSeededDaemon, waitForNextSecond, type TestDaemon } from '../helpers/daemon.ts';

describe('docker CLI against berth', { skip: DOCKER ? false : 'no docker CLI on this machine' }, () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('version and info', () => {
    const v = d.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.Version}}']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, '1.51 0.1.0\n');
    const i = d.docker(['info', '--format', '{{.Driver}} {{.Images}} {{.CgroupDriver}}']);
    assert.equal(i.stdout, 'overlay2 1 cgroupfs\n');
  });

  test('run --rm, exit codes, stdin, env', () => {
    assert.equal(d.docker(['run', '--rm', 'busybox', 'echo', 'hello']).stdout, 'hello\n');
    assert.equal(d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']).code, 3);
    assert.equal(d.docker(['run', '--rm', '-i', 'busybox', 'wc', '-l'], { input: 'a\nb\nc\n' }).stdout.trim(), '3');
    assert.equal(d.docker(['run', '--rm', '-e', 'K=v', 'busybox', 'sh', '-c', 'echo $K']).stdout, 'v\n');
    const missing = d.docker(['run', '--rm', 'busybox', 'nope-bin']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /executable file not found/);
    assert.equal(d.docker(['ps', '-aq']).stdout, '');
  });

  test('run -t through a real pty', () => {
    const r = run('script', ['-qec', `${DOCKER} run --rm -t busybox tty`, '/dev/null'], { env: { ...process.env, DOCKER_HOST: d.host } });
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  test('detached lifecycle: ps, logs, exec, inspect, stop, start, restart, rename, rm', () => {
    const id = d.docker(['run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo started; exec sleep 300']).stdout.trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const ps = d.docker(['ps']).stdout.split('\n');
    assert.match(ps[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.match(ps[1], new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'echo started…"\\s+.+\\s+Up .+\\s+web$`));
    assert.equal(d.docker(['logs', 'web']).stdout, 'started\n');
    const ex = d.docker(['exec', 'web', 'sh', '-c', 'echo in-exec; exit 6']);
    assert.equal(ex.stdout, 'in-exec\n');
    assert.equal(ex.code, 6);
    assert.equal(d.docker(['exec', '-i', 'web', 'cat'], { input: 'piped' }).stdout, 'piped');
    assert.equal(d.docker(['inspect', '-f', '{{.State.Running}} {{.Config.Image}}', 'web']).stdout, 'true busybox\n');
    assert.equal(d.docker(['stop', '-t', '1', 'web']).stdout, 'web\n');
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'web']).stdout, '137\n');
    assert.equal(d.docker(['start', 'web']).stdout, 'web\n');
    assert.equal(d.docker(['restart', '-t', '0', 'web']).code, 0);
    assert.equal(d.docker(['rename', 'web', 'web2']).code, 0);
    assert.equal(d.docker(['kill', 'web2']).stdout, 'web2\n');
    assert.equal(d.docker(['wait', 'web2']).stdout, '137\n');
    assert.equal(d.docker(['rm', 'web2']).stdout, 'web2\n');
    const rmMissing = d.docker(['rm', 'web2']);
    assert.equal(rmMissing.code, 1);
    assert.match(rmMissing.stderr, /No such container: web2/);
  });

  test('create + start -a, attach-before-start ordering never loses early output', () => {
    for (let i = 0; i < 5; i++) {
      d.docker(['create', '--name', `early${i}`, 'busybox', 'echo', `first-line-${i}`]);
      assert.equal(d.docker(['start', '-a', `early${i}`]).stdout, `first-line-${i}\n`);
      d.docker(['rm', `early${i}`]);
    }
  });

  test('images, import, tag, rmi, history, export, container prune', () => {
    assert.match(d.docker(['images']).stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\nbusybox\s+latest\s+[a-f0-9]{12}\s+/);
    const imp = d.docker(['import', '-c', 'CMD ["echo","imported"]', busyboxTarPath(), 'imported:v2']);
    assert.equal(imp.code, 0, imp.stderr);
    assert.equal(d.docker(['run', '--rm', 'imported:v2']).stdout, 'imported\n');
    assert.equal(d.docker(['tag', 'imported:v2', 'imported:alias']).code, 0);
    assert.equal(d.docker(['rmi', 'imported:alias']).stdout, 'Untagged: imported:alias\n');
    assert.match(d.docker(['history', 'imported:v2']).stdout, /Imported from/);
    d.docker(['run', '--name', 'ex', 'busybox', 'touch', '/exported-file']);
    const tarOut = run(DOCKER as string, ['export', 'ex'], { env: { ...process.env, DOCKER_HOST: d.host } });
    assert.ok(tarOut.stdout.includes('exported-file'));
    const pr = d.docker(['container', 'prune', '-f']);
    assert.match(pr.stdout, /Deleted Containers:/);
    assert.equal(d.docker(['rmi', 'imported:v2']).code, 0);
  });

  test('events --since/--until replays what happened', () => {
    d.docker(['run', '--rm', '--name', 'evts', 'busybox', 'true']);
    waitForNextSecond();
    const r = d.docker(['events', '--since', '30s', '--until', '0s', '--filter', 'container=evts', '--format', '{{.Action}}']);
    assert.deepEqual(r.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die', 'destroy']);
  });
});

describe('SDKs against berth', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('docker-py (python3-docker) runs a container and reads its logs', () => {
    const script = `
import docker
c = docker.DockerClient(base_url='${d.host}')
out = c.containers.run('busybox', ['sh', '-c', 'echo from-py'], remove=True)
print(out.decode().strip())
ct = c.containers.run('busybox', ['sleep', '60'], detach=True, name='pyc')
print(c.containers.get('pyc').status)
r = ct.exec_run(['sh', '-c', 'echo exec-py; exit 2'])
print(r.exit_code, r.output.decode().strip())
ct.kill()
print(ct.wait()['StatusCode'])
ct.remove()
print(len(c.containers.list(all=True)))
`;
    const r = run('/usr/bin/python3', ['-c', script]); // Debian's python3-docker
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from-py\nrunning\n2 exec-py\n137\n0\n');
  });

  test('dockerode runs a container, lists it, inspects and removes it', async () => {
    const docker = new Docker({ socketPath: d.socket });
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => { text += c; });
    const [result, container] = await docker.run('busybox', ['echo', 'from-node'], out) as [{ StatusCode: number }, Docker.Container];
    assert.equal(result.StatusCode, 0);
    assert.equal(text, 'from-node\r\n', "dockerode's run() allocates a tty, whose line discipline turns \\n into \\r\\n");
    const list = await docker.listContainers({ all: true });
    assert.equal(list.length, 1);
    assert.equal(list[0].Image, 'busybox');
    const info = await container.inspect();
    assert.equal(info.State.ExitCode, 0);
    await container.remove();
    assert.equal((await docker.listContainers({ all: true })).length, 0);
    const images = await docker.listImages();
    assert.deepEqual(images.map((i) => i.RepoTags), [['busybox:latest']]);
  });
});
