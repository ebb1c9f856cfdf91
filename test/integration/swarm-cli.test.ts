// berth's own swarm commands (swarm, node, service, secret, config, stack)
// against a real daemon in swarm mode, each compared with what the docker
// CLI prints and sends for the same command on the same daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, DOCKER, startSeededDaemon, type RunResult, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

/** What a user reads, with what must differ between two runs made equal: the program's name, ages, IDs given. */
function same(r: RunResult, ids: Record<string, string> = {}): string {
  let s = `${r.stdout}\n--stderr--\n${r.stderr}\n--exit ${r.code}`;
  for (const [from, to] of Object.entries(ids)) s = s.split(from).join(to);
  return s.replace(/\bdocker (swarm|service|node|stack)\b/g, 'berth $1')
    // berth's CLI does not repeat a command's usage after a flag error (none of its commands does).
    .replace(/\n\nUsage: {2}berth [^\n]*\n\nRun 'berth [^']*' for more information\n/g, '\n')
    .replace(/(Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago/g, 'N ago')
    // Ports a routing mesh assigned (from 30000 on) differ between two services made alike.
    .replace(/PublishedPort = 3\d{4}\b/g, 'PublishedPort = P').replace(/\*:3\d{4}->/g, '*:P->')
    // A column's width follows its longest cell, and ages differ between two runs.
    .replace(/ {2,}/g, '  ');
}

/** A spec with its keys sorted, the service's own name replaced. */
function specOf(d: TestDaemon, name: string, as: string): unknown {
  const r = d.docker(['service', 'inspect', name, '--format', '{{json .Spec}}']);
  assert.equal(r.code, 0, r.stderr);
  // The docker CLI's update keeps Env in a Go map: its order is random, so it is compared as a set.
  const sort = (v: unknown, k = ''): unknown => (Array.isArray(v) ? (k === 'Env' ? [...v].sort() : v.map((x) => sort(x))) : v && typeof v === 'object'
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, x]) => [key, sort(x, key)])) : v);
  const spec = JSON.parse(r.stdout.split(name).join(as)) as { EndpointSpec?: { Ports?: { PublishMode?: string; PublishedPort?: number }[] } };
  // A port the daemon picked from the ingress range is not what the CLI sent (dockerd keeps it out of the
  // spec; s18-swarm-net's daemon writes it there): the two services' picks differ.
  for (const p of spec.EndpointSpec?.Ports ?? []) if (p.PublishMode === 'ingress' && (p.PublishedPort ?? 0) >= 30000) delete p.PublishedPort;
  return sort(spec);
}

describe('berth swarm, node, service, secret, config and stack against the docker CLI', { skip: !DOCKER }, () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    // Its own network namespace: a swarm binds its port (2377) and must meet no other test's.
    d = await startSeededDaemon([], { ownNetns: true });
    dir = mkdtempSync('/tmp/berth-swarm-cli-');
  });
  after(async () => {
    d.berth(['swarm', 'leave', '--force']);
    // Stacks of bridge networks: the networks outlive a failed `stack rm`.
    for (const n of d.docker(['network', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace']).stdout.trim().split('\n').filter(Boolean)) d.docker(['network', 'rm', n]);
    await d.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('swarm init makes this node the leader and prints the join command; join-token, unlock-key and ca answer as the docker CLI', () => {
    const notYet = d.berth(['node', 'ls']);
    assert.equal(same(notYet), same(d.docker(['node', 'ls'])));
    assert.equal(notYet.code, 1);
    const bad = d.berth(['swarm', 'init', '--availability', 'sometimes']);
    assert.equal(same(bad), same(d.docker(['swarm', 'init', '--availability', 'sometimes'])));

    const init = d.berth(['swarm', 'init']);
    assert.equal(init.code, 0, init.stderr);
    const id = /^Swarm initialized: current node \(([a-z0-9]{25})\) is now a manager\.\n\n/.exec(init.stdout)?.[1];
    assert.ok(id, init.stdout);
    const worker = d.docker(['swarm', 'join-token', '-q', 'worker']).stdout.trim();
    const addr = d.docker(['node', 'inspect', 'self', '--format', '{{.ManagerStatus.Addr}}']).stdout.trim();
    assert.match(addr, /:2377$/);
    assert.equal(init.stdout, `Swarm initialized: current node (${id}) is now a manager.\n\nTo add a worker to this swarm, run the following command:\n\n    berth swarm join --token ${worker} ${addr}\n\n`
      + "To add a manager to this swarm, run 'berth swarm join-token manager' and follow the instructions.\n");
    const again = d.berth(['swarm', 'init']);
    assert.equal(same(again), same(d.docker(['swarm', 'init'])));
    assert.equal(again.code, 1);

    for (const args of [['join-token', 'worker'], ['join-token', 'manager'], ['join-token', '-q', 'manager'], ['join-token', 'nobody'], ['unlock-key'], ['unlock-key', '--rotate'], ['ca'], ['ca', '--cert-expiry', '1h']]) {
      assert.equal(same(d.berth(['swarm', ...args])), same(d.docker(['swarm', ...args])), args.join(' '));
    }
  });

  test('node ls, inspect (JSON, --format, --pretty), ps and update print what the docker CLI prints', () => {
    for (const args of [['ls'], ['ls', '-q'], ['ls', '--format', 'json'], ['ls', '--format', '{{.Hostname}} {{.Self}} {{.TLSStatus}}'], ['ls', '--filter', 'role=worker'],
      ['inspect', 'self'], ['inspect', '--format', '{{json .}}', 'self'], ['inspect', 'self', '--pretty'], ['inspect', 'self', '--format', '{{.Spec.Role}} {{.Status.State}}'], ['inspect', 'nosuchnode'], ['inspect', '--pretty', 'self', 'nosuchnode'],
      ['ps'], ['ps', 'nosuchnode'], ['update', '--label-rm', 'absent', 'self']]) {
      assert.equal(same(d.berth(['node', ...args])), same(d.docker(['node', ...args])), args.join(' '));
    }
  });

  // The flags of the brief's list, each one of them: both CLIs must send the same spec.
  const CREATE = ['--replicas', '2', '--env', 'A=1', '--env', 'B', '--label', 'l1=v1', '--container-label', 'c=1', '--constraint', 'node.role==manager',
    '--placement-pref', 'spread=node.labels.zone', '--reserve-cpu', '0.01', '--reserve-memory', '4m', '--limit-cpu', '0.5', '--limit-memory', '64m', '--limit-pids', '100',
    '--update-parallelism', '2', '--update-delay', '1s', '--update-order', 'start-first', '--update-failure-action', 'continue', '--update-monitor', '1s',
    '--rollback-parallelism', '3', '--rollback-monitor', '2s', '--restart-condition', 'on-failure', '--restart-delay', '2s', '--restart-max-attempts', '3', '--restart-window', '10s',
    // Target ports only: with a routing mesh two services may not publish the same port.
    '--publish', '80', '--publish', 'target=90,protocol=udp,mode=host', '--mount', 'type=tmpfs,target=/t', '--mount', 'type=volume,source=v1,target=/v',
    '--health-cmd', 'true', '--health-interval', '5s', '--health-retries', '2', '--health-timeout', '3s', '--entrypoint', 'sh -c', '--workdir', '/tmp', '--user', '0',
    '--hostname', 'h1', '--stop-grace-period', '3s', '--stop-signal', 'SIGINT', '--init', '--read-only',
    '--dns', '1.1.1.1', '--dns-search', 'example.com', '--dns-option', 'ndots:2', '--sysctl', 'net.core.somaxconn=1024', '--cap-add', 'net_admin', '--cap-drop', 'mknod',
    '--ulimit', 'nofile=1024:2048', '--oom-score-adj', '100', '--group', '100', '--host', 'h1:10.0.0.1', '--env-file', '/dev/null'];

  test('service create sends the docker CLI\'s spec for every flag, prints the ID and the registry warning, and follows convergence without -d', () => {
    // pflag's `--flag=true` form of a boolean flag, as docker users write it.
    const mine = d.berth(['service', 'create', '--detach=true', '--name', 'b1', ...CREATE, 'busybox', 'sleep 1000']);
    const theirs = d.docker(['service', 'create', '-d', '--name', 'd1', ...CREATE, 'busybox', 'sleep 1000']);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, /^[a-z0-9]{25}\n$/);
    assert.equal(mine.stderr, theirs.stderr);
    assert.deepEqual(specOf(d, 'b1', 'X'), specOf(d, 'd1', 'X'));

    // Without -d: the same progress lines (non-terminal output) up to "converged".
    const follow = d.berth(['service', 'create', '--name', 'web', '--replicas', '2', '--no-resolve-image', 'busybox', 'sleep', '1000'], { timeout: 120_000 });
    assert.equal(follow.code, 0, follow.stderr);
    assert.equal(follow.stderr, '');
    const lines = follow.stdout.trim().split('\n');
    const sid = lines[0];
    assert.match(sid, /^[a-z0-9]{25}$/);
    assert.deepEqual(lines.slice(1, 4), ['overall progress: 0 out of 2 tasks', '1/2:  ', '2/2:  ']);
    assert.ok(lines.includes('overall progress: 2 out of 2 tasks'), follow.stdout);
    assert.ok(lines.some((l) => /^verify: Waiting [1-5] seconds to verify that tasks are stable\.\.\.$/.test(l)), follow.stdout);
    assert.equal(lines[lines.length - 1], `verify: Service ${sid} converged`);
    assert.ok(lines.every((l, i) => i === 0 || /^(overall progress: [0-2] out of 2 tasks|[12]\/2: {2}|verify: .*)$/.test(l)), follow.stdout);
    const running = d.docker(['ps', '--filter', 'label=com.docker.swarm.service.name=web', '-q']).stdout.trim().split('\n').filter(Boolean);
    assert.equal(running.length, 2);

    // On a terminal (150 columns): each line redrawn in place, the task's bar full once it runs, as jsonmessage draws them.
    const tty = spawnSync('script', ['-qfec', `stty cols 150; ${BERTH} -H ${d.host} service create --name ttysvc --no-resolve-image busybox sleep 1000`, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(tty.status, 0, tty.stdout);
    const ttyId = tty.stdout.split('\r\n')[0];
    assert.match(ttyId, /^[a-z0-9]{25}$/);
    assert.ok(tty.stdout.includes('\x1b[1A\x1b[2K\roverall progress: 0 out of 1 tasks \r\x1b[1B'), JSON.stringify(tty.stdout));
    assert.ok(tty.stdout.includes(`\x1b[1A\x1b[2K\r1/1: running   [${'='.repeat(50)}>] \r\x1b[1B`), JSON.stringify(tty.stdout));
    assert.ok(tty.stdout.includes('\x1b[2A\x1b[2K\roverall progress: 1 out of 1 tasks \r\x1b[2B'), JSON.stringify(tty.stdout));
    assert.ok(tty.stdout.endsWith(`\x1b[1A\x1b[2K\rverify: Service ${ttyId} converged \r\x1b[1B`), JSON.stringify(tty.stdout.slice(-200)));
    assert.equal(d.berth(['service', 'rm', 'ttysvc']).code, 0);

    // Flag errors worded and numbered as the docker CLI's.
    for (const args of [['--mode', 'global', '--replicas', '2'], ['--mode', 'weird'], ['--replicas', 'x'], ['--no-healthcheck', '--health-cmd', 'true'], ['--secret', 'nosuchsecret'], ['--network', 'nosuchnet'], ['--publish', '80:80:80'],
      ['--dns', 'x'], ['--ulimit', 'bad=1'], ['--ulimit', 'nofile=2:1'], ['--oom-score-adj', 'q'], ['--env-file', '/nonexistent'], ['--mount', 'type=bind'], ['--placement-pref', 'pack=x']]) {
      assert.equal(same(d.berth(['service', 'create', '-d', ...args, 'busybox'])), same(d.docker(['service', 'create', '-d', ...args, 'busybox'])), args.join(' '));
    }
  });

  test('service ls, ps, inspect (raw, --format, --pretty) print what the docker CLI prints', async () => {
    await waitFor('web 2/2 in service ls', () => (d.berth(['service', 'ls', '--filter', 'name=web', '--format', '{{.Replicas}}']).stdout.trim() === '2/2' ? true : undefined), 60_000);
    const ids = { b1: 'X1', d1: 'X1' };
    for (const args of [['ls'], ['ls', '-q'], ['ls', '--format', 'json'], ['ls', '--format', 'raw'], ['ls', '--filter', 'name=web'],
      ['ps', 'web'], ['ps', '-q', 'web'], ['ps', '--no-trunc', 'web'], ['ps', '--format', 'json', 'web'], ['ps', 'web', 'nosuchservice'], ['ps', 'nosuchservice'], ['ps', '--filter', 'node=self', 'web'],
      // d1 was made by the docker CLI, web by berth's: both print them as the docker CLI's Go structs do.
      ['inspect', 'web'], ['inspect', 'd1', 'b1'], ['inspect', '--format', '{{json .}}', 'd1'], ['inspect', '--format', '{{json .Spec.Labels}} {{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}', 'web'], ['inspect', 'web', 'nosuchservice'], ['inspect', '--pretty', 'web'],
      ['inspect', '--pretty', 'web', 'nosuchservice'], ['inspect', '--pretty', '--format', '{{.ID}}', 'web']]) {
      assert.equal(same(d.berth(['service', ...args]), ids), same(d.docker(['service', ...args]), ids), args.join(' '));
    }
    // Two services made from the same flags print the same human-friendly page, but for their IDs and names.
    const b1 = d.berth(['service', 'inspect', '--pretty', 'b1']);
    const d1 = d.docker(['service', 'inspect', '--pretty', 'd1']);
    const idOf = (n: string) => d.docker(['service', 'inspect', n, '--format', '{{.ID}}']).stdout.trim();
    assert.equal(same(b1, { [idOf('b1')]: 'ID', b1: 'N' }), same(d1, { [idOf('d1')]: 'ID', d1: 'N' }));
    assert.match(b1.stdout, /\n Healthcheck:\n {2}Interval = 5s\n/);
  });

  test('service update builds the docker CLI\'s spec from -add/-rm flags; scale, rollback and rm answer as it does', async () => {
    const UPDATE = ['--env-add', 'C=3', '--env-rm', 'A', '--label-add', 'l2=v2', '--label-rm', 'l1', '--container-label-rm', 'c', '--constraint-rm', 'node.role==manager',
      '--constraint-add', 'node.role!=worker', '--publish-rm', '80', '--publish-add', '70', '--publish-add', '50/udp', '--mount-rm', '/t',
      '--mount-add', 'type=tmpfs,target=/u', '--update-failure-action', 'pause', '--restart-window', '20s', '--limit-cpu', '1', '--health-timeout', '2s',
      '--args', 'sleep 2', '--force', '--replicas', '1', '--placement-pref-add', 'spread=node.labels.rack', '--host-add', 'h:10.0.0.1', '-d',
      '--dns-add', '9.9.9.9', '--dns-rm', '1.1.1.1', '--dns-search-rm', 'example.com', '--sysctl-add', 'a=b', '--cap-add', 'sys_admin', '--cap-drop', 'net_admin',
      '--ulimit-add', 'nproc=10', '--ulimit-rm', 'nofile', '--oom-score-adj', '5', '--group-add', '200', '--group-rm', '100', '--host-rm', 'h1:10.0.0.1'];
    const mine = d.berth(['service', 'update', ...UPDATE, 'b1']);
    const theirs = d.docker(['service', 'update', ...UPDATE, 'd1']);
    assert.equal(mine.code, 0, mine.stderr);
    assert.equal(mine.stdout, 'b1\n');
    assert.equal(mine.stderr, theirs.stderr);
    assert.deepEqual(specOf(d, 'b1', 'X'), specOf(d, 'd1', 'X'));

    for (const args of [['update', '--rollback', '--env-add', 'X=1', 'b1'], ['update', '--label-rm', 'x', 'nosuchservice'], ['scale', 'b1'], ['scale', 'b1=x', 'nosuchservice=2'],
      ['rollback', 'nosuchservice'], ['rm', 'nosuchservice'], ['logs', 'nosuchservice']]) {
      assert.equal(same(d.berth(['service', ...args])), same(d.docker(['service', ...args])), args.join(' '));
    }
    const scaled = d.berth(['service', 'scale', '-d', 'b1=0', 'd1=0']);
    assert.equal(scaled.stdout, 'b1 scaled to 0\nd1 scaled to 0\n', scaled.stderr);
    assert.equal(d.docker(['service', 'inspect', 'b1', '--format', '{{.Spec.Mode.Replicated.Replicas}}']).stdout.trim(), '0');

    // A rollback sends the docker CLI's request: the same spec results on twin services, whatever the daemon makes of it.
    const twin = d.docker(['service', 'create', '-d', '--name', 'twin', '--replicas', '0', '--no-resolve-image', 'busybox', 'sleep', '1000']);
    assert.equal(twin.code, 0, twin.stderr);
    assert.equal(d.berth(['service', 'create', '-d', '--name', 'twin2', '--replicas', '0', '--no-resolve-image', 'busybox', 'sleep', '1000']).code, 0);
    assert.equal(d.berth(['service', 'update', '-d', '--env-add', 'NEW=1', 'twin2']).code, 0);
    assert.equal(d.docker(['service', 'update', '-d', '--env-add', 'NEW=1', 'twin']).code, 0);
    // The updates' end is written to each service (UpdateStatus, a new version), as swarmkit's updater
    // does: a rollback sent meanwhile is "update out of sequence" on dockerd too.
    for (const svc of ['twin', 'twin2']) {
      await waitFor(`${svc}'s update completed`, () => (d.docker(['service', 'inspect', svc, '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}']).stdout.trim() === 'completed' ? true : undefined));
    }
    const back = d.berth(['service', 'rollback', '-d', 'twin2']);
    const backTheirs = d.docker(['service', 'rollback', '-d', 'twin']);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdout, 'twin2\n');
    assert.equal(back.stderr, backTheirs.stderr);
    assert.deepEqual(specOf(d, 'twin2', 'X'), specOf(d, 'twin', 'X'));
    assert.equal(d.berth(['service', 'rm', 'twin', 'twin2']).stdout, 'twin\ntwin2\n');

    const rm = d.berth(['service', 'rm', 'b1', 'nosuchservice', 'd1']);
    assert.equal(same(rm), same({ code: 1, stdout: 'b1\nd1\n', stderr: 'Error response from daemon: service nosuchservice not found\n' }));
    assert.equal(d.docker(['service', 'ls', '-q', '--filter', 'name=b1']).stdout.trim(), '');
  });

  test('secret and config commands send the docker CLI\'s requests and report as it does (the daemon\'s answer, or the CLI\'s own check)', () => {
    const file = join(dir, 'payload.txt');
    writeFileSync(file, 'shh\n');
    writeFileSync(join(dir, 'empty.txt'), '');
    // Each CLI makes objects of its own (b…, d…): once the daemon keeps them, both lists hold both, and IDs, times and versions differ.
    const loose = (r: RunResult) => same(r).replace(/\b[bd](secret|config)(\d)\b/g, 'X$1$2').replace(/\b[a-z0-9]{25}\b/g, 'ID')
      .replace(/\d{4}-\d\d-\d\d[T ][\d:.]+(Z| \+0000 utc)/g, 'TIME').replace(/"Index": \d+/g, '"Index": N');
    for (const kind of ['secret', 'config']) {
      for (const args of [['create', '@1', file], ['create', '@2', '-'], ['create', '@3', join(dir, 'empty.txt')], ['create', '@4', join(dir, 'missing.txt')],
        ['ls'], ['ls', '-q'], ['ls', '--format', '{{.Name}}'], ['inspect', '@1'], ['inspect', '--pretty', '@1'], ['rm', '@1'], ['rm', 'nosuch']]) {
        const input = args[2] === '-' ? '' : undefined;
        const as = (p: string) => args.map((a) => a.replace('@', p + kind));
        assert.equal(loose(d.berth([kind, ...as('b')], { input })), loose(d.docker([kind, ...as('d')], { input })), `${kind} ${args.join(' ')}`);
      }
    }
    assert.equal(same(d.berth(['secret', 'create', '--driver', 'x', 's', file])), same(d.docker(['secret', 'create', '--driver', 'x', 's', file])));
  });

  test('stack deploy converts a compose file as the docker CLI does; ls, services, ps and rm answer as it does', () => {
    // Overlay networks (the stack's default) where the daemon has the driver; bridge ones where it has not yet.
    const probe = d.docker(['network', 'create', '--driver', 'overlay', 'overlay-probe']);
    if (probe.code === 0) d.docker(['network', 'rm', 'overlay-probe']);
    const netDriver = probe.code === 0 ? '{}' : '{ driver: bridge }';
    const compose = join(dir, 'stack.yaml');
    writeFileSync(compose, [
      'services:',
      '  web:',
      '    image: busybox',
      '    command: sleep 1000',
      '    environment: { B: "2", A: "1" }',
      '    deploy:',
      '      replicas: 2',
      '      labels: { tier: front }',
      '      update_config: { parallelism: 2, delay: 1s, order: start-first }',
      '      restart_policy: { condition: on-failure, max_attempts: 3 }',
      '      placement: { constraints: [node.role == manager] }',
      '      resources: { limits: { cpus: "0.5", memory: 64M } }',
      '    healthcheck: { test: ["CMD", "true"], interval: 5s, retries: 2 }',
      '    ports: ["80"]',
      '    volumes: [data:/data]',
      '    networks: [front]',
      '  worker:',
      '    image: busybox',
      '    command: ["sleep", "1000"]',
      '    stop_grace_period: 2s',
      'networks:',
      `  default: ${netDriver}`,
      `  front: ${netDriver}`,
      'volumes:',
      '  data: {}',
      '',
    ].join('\n'));
    const mine = d.berth(['stack', 'deploy', '-c', compose, 'bs']);
    const theirs = d.docker(['stack', 'deploy', '-c', compose, 'ds']);
    // The order of creation follows Go's map order in the docker CLI: compare the lines as sets.
    const lines = (r: RunResult, ns: string) => r.stdout.split(ns).join('X').trim().split('\n').sort();
    assert.equal(mine.code, theirs.code, mine.stderr);
    assert.equal(mine.code, 0, mine.stderr);
    assert.deepEqual(lines(mine, 'bs'), lines(theirs, 'ds'));
    assert.equal(mine.stderr, theirs.stderr);
    for (const svc of ['web', 'worker']) {
      // Each stack has networks of its own: their IDs, as the services name them, are replaced by what the networks are called in the file.
      const nets = (ns: string) => ['front', 'default'].map((n) => [d.docker(['network', 'inspect', `${ns}_${n}`, '--format', '{{.ID}}']).stdout.trim(), `NET-${n}`]);
      const norm = (ns: string) => {
        let j = JSON.stringify(specOf(d, `${ns}_${svc}`, `X_${svc}`)).split(`"${ns}_`).join('"X_').split(`"${ns}"`).join('"X"');
        for (const [id, name] of nets(ns)) if (id) j = j.split(id).join(name);
        return j;
      };
      assert.equal(norm('bs'), norm('ds'), svc);
    }
    // Deployed again: every service updated in place.
    const again = d.berth(['stack', 'deploy', '--detach=true', '-c', compose, 'bs']);
    const againTheirs = d.docker(['stack', 'deploy', '--detach=true', '-c', compose, 'ds']);
    assert.equal(again.code, 0, again.stderr);
    const ids = (ns: string) => Object.fromEntries(['web', 'worker'].flatMap((s) => {
      const id = d.docker(['service', 'inspect', `${ns}_${s}`, '--format', '{{.ID}}']).stdout.trim();
      return [[id, `ID-${s}`], [id.slice(0, 12), `ID-${s}`]];
    }));
    assert.deepEqual(same(again, { ...ids('bs'), bs: 'X' }).split('\n').sort(), same(againTheirs, { ...ids('ds'), ds: 'X' }).split('\n').sort());

    assert.equal(same(d.berth(['stack', 'ls'])), same(d.docker(['stack', 'ls'])));
    assert.equal(d.berth(['stack', 'ls']).stdout, 'NAME      SERVICES\nbs        2\nds        2\n');
    // A stack's tasks are found by the services' namespace label (swarm filters tasks by their service's labels).
    const taskNames = (cli: 'berth' | 'docker', ns: string) =>
      d[cli](['stack', 'ps', '--format', '{{.Name}} {{.DesiredState}}', ns]).stdout.replaceAll(`${ns}_`, 'X_').trim().split('\n').sort();
    assert.ok(taskNames('berth', 'bs').includes('X_web.1 Running'), taskNames('berth', 'bs').join('\n'));
    assert.deepEqual(taskNames('berth', 'bs'), taskNames('docker', 'ds'));
    for (const args of [['services', 'bs'], ['services', '-q', 'bs'], ['services', 'nosuchstack'], ['ps', 'nosuchstack'], ['deploy', 'x'], ['deploy', '-c', compose, '--resolve-image', 'sometimes', 'x']]) {
      const their = args.map((a) => (a === 'bs' ? 'ds' : a));
      const ids2 = { ...ids('bs'), ...ids('ds'), bs: 'X', ds: 'X' };
      assert.equal(same(d.berth(['stack', ...args]), ids2), same(d.docker(['stack', ...their]), ids2), args.join(' '));
    }
    // What stack rm removes comes in the daemon's list order: compared as sets of lines.
    // What the stack loader refuses or ignores, with the docker CLI's words.
    const forbidden = join(dir, 'forbidden.yaml');
    writeFileSync(forbidden, 'services:\n  web:\n    image: busybox\n    mem_limit: 10m\n    cpu_shares: 2\n');
    assert.equal(same(d.berth(['stack', 'deploy', '-c', forbidden, 'fs'])), same(d.docker(['stack', 'deploy', '-c', forbidden, 'fs'])));
    const ignored = join(dir, 'ignored.yaml');
    writeFileSync(ignored, `services:\n  web:\n    image: busybox\n    build: .\n    restart: always\n    privileged: true\n    container_name: cname\n    expose: ["80"]\nnetworks:\n  default: ${netDriver}\n`);
    const ig = d.berth(['stack', 'deploy', '-c', ignored, 'is']);
    const igTheirs = d.docker(['stack', 'deploy', '-c', ignored, 'id']);
    assert.equal(ig.code, 0, ig.stderr);
    assert.equal(same(ig, { is_: 'X_' }), same(igTheirs, { id_: 'X_' }));
    assert.match(ig.stderr, /^Ignoring unsupported options: build, privileged, restart\n\nIgnoring deprecated options:\n\ncontainer_name: /);
    assert.equal(d.docker(['service', 'inspect', 'is_web', '--format', '{{json .Spec.TaskTemplate.RestartPolicy}}']).stdout.trim(), '{"Condition":"any"}');

    const rm = d.berth(['stack', 'rm', 'bs']);
    const rmTheirs = d.docker(['stack', 'rm', 'ds']);
    assert.deepEqual(same(rm, { bs: 'X' }).split('\n').sort(), same(rmTheirs, { ds: 'X' }).split('\n').sort());
    assert.equal(same(d.berth(['stack', 'rm', 'nosuchstack'])), same(d.docker(['stack', 'rm', 'nosuchstack'])));
  });

  test('swarm leave: the same refusal for the last manager without --force, then the node leaves', () => {
    assert.equal(same(d.berth(['swarm', 'leave'])), same(d.docker(['swarm', 'leave'])));
    const left = d.berth(['swarm', 'leave', '--force']);
    assert.equal(left.code, 0, left.stderr);
    assert.equal(left.stdout, 'Node left the swarm.\n');
    assert.equal(same(d.berth(['swarm', 'leave'])), same(d.docker(['swarm', 'leave'])));
    assert.equal(d.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']).stdout.trim(), 'inactive');
  });
});
