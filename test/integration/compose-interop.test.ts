// The same compose file run by docker-compose 1.29 (docker-py over the
// Engine API) and by `berth compose`, against one berth daemon: both reach
// the same end state, and each tool takes down the project the other made.
// 1.29 names containers with underscores (p_web_1) where compose v2 uses
// dashes (p-web-1): names are compared through the labels, not as strings.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';

const DC = '/usr/bin/docker-compose';

const FILE = `version: "3.8"
services:
  web:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    volumes: [data:/data]
    networks: [front]
    environment:
      MODE: web
  db:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    networks:
      back:
        aliases: [database]
      front: {}
  worker:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    depends_on: [db]
    networks: [back]
networks:
  front: {}
  back: {}
volumes:
  data: {}
`;

interface State {
  containers: string[];
  networks: string[];
  volumes: string[];
}

describe('docker-compose 1.29 and berth compose', { skip: !existsSync(DC) && 'no /usr/bin/docker-compose' }, () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startSeededDaemon();
    dir = mkdtempSync('/tmp/bci-');
    writeFileSync(join(dir, 'docker-compose.yml'), FILE);
  });
  after(async () => { await d.destroy(); });

  const dc = (args: string[]) => spawnSync(DC, args, { cwd: dir, env: { ...process.env, DOCKER_HOST: d.host }, encoding: 'utf8', timeout: 120_000 });
  const berth = (args: string[]) => d.berth(['compose', '--project-directory', dir, '-f', join(dir, 'docker-compose.yml'), ...args]);

  /** What a project has in the engine, in terms both tools share: labels, aliases, mounts; the project name replaced by P. */
  function state(p: string): State {
    const json = <T>(args: string[]): T => JSON.parse(d.berth(args).stdout) as T;
    const ids = d.berth(['ps', '-aq', '--filter', `label=com.docker.compose.project=${p}`]).stdout.split('\n').filter(Boolean);
    const containers = ids.map((id) => {
      const c = json<Array<{ Config: { Labels: Record<string, string>; Env: string[] }; State: { Status: string }; Mounts: Array<{ Name?: string; Destination: string }>; NetworkSettings: { Networks: Record<string, { Aliases: string[] | null }> } }>>(['inspect', id])[0];
      const l = c.Config.Labels;
      const nets = Object.entries(c.NetworkSettings.Networks).map(([n, e]) => `${n.replace(p, 'P')}[${(e.Aliases ?? []).filter((a) => !/^[0-9a-f]{12}$/.test(a) && !a.includes(p)).sort().join(',')}]`).sort();
      return [l['com.docker.compose.project'].replace(p, 'P'), l['com.docker.compose.service'], l['com.docker.compose.container-number'], l['com.docker.compose.oneoff'], c.State.Status,
        c.Config.Env.filter((e) => e.startsWith('MODE=')).join(), c.Mounts.map((m) => `${(m.Name ?? '').replace(p, 'P')}:${m.Destination}`).join(), nets.join(' ')].join(' ');
    }).sort();
    const netIds = d.berth(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${p}`]).stdout.split('\n').filter(Boolean);
    const networks = (netIds.length ? json<Array<{ Name: string; Labels: Record<string, string> }>>(['network', 'inspect', ...netIds]) : [])
      .map((n) => `${n.Name.replace(p, 'P')} ${n.Labels['com.docker.compose.project'].replace(p, 'P')} ${n.Labels['com.docker.compose.network']}`).sort();
    const volumes = d.berth(['volume', 'ls', '--filter', `label=com.docker.compose.project=${p}`, '--format', '{{.Name}} {{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.volume"}}']).stdout
      .split('\n').filter(Boolean).map((v) => v.replaceAll(p, 'P')).sort();
    return { containers, networks, volumes };
  }

  test('both reach the same end state, and each takes down the other\'s project', () => {
    const a = dc(['-p', 'viadc', 'up', '-d']);
    assert.equal(a.status, 0, a.stderr);
    const b = berth(['-p', 'viaberth', 'up', '-d']);
    assert.equal(b.code, 0, b.stderr);
    const fromDc = state('viadc');
    const fromBerth = state('viaberth');
    assert.equal(fromDc.containers.length, 3);
    assert.deepEqual(fromBerth, fromDc);
    assert.deepEqual(fromBerth.networks, ['P_back P back', 'P_front P front']);
    assert.deepEqual(fromBerth.volumes, ['P_data P data']);

    // berth compose sees docker-compose's project as its own: ps by label, and down removes it all.
    const down = berth(['-p', 'viadc', 'down', '-v', '-t', '0']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, / Container viadc_web_1 {2}Removed\n/);
    assert.deepEqual(state('viadc'), { containers: [], networks: [], volumes: [] });
    // And docker-compose takes down berth's.
    const dcDown = dc(['-p', 'viaberth', 'down', '-v', '-t', '0']);
    assert.equal(dcDown.status, 0, dcDown.stderr);
    assert.match(dcDown.stderr, /Removing viaberth-web-1 +\.\.\. done/);
    assert.deepEqual(state('viaberth'), { containers: [], networks: [], volumes: [] });
  });
});
