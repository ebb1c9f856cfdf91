// The CLI's answers to command lines it cannot run, worded as the docker CLI's.
// No daemon is needed: these fail before any request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BERTH } from '../helpers/daemon.ts';

function berth(...args: string[]) {
  const r = spawnSync(BERTH, args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/berth.sock' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('an unknown command is named, with where to look, and exits 1', () => {
  // (`ui` was the example here until `berth ui` existed.)
  const r = berth('frobnicate');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, "berth: 'frobnicate' is not a berth command.\nSee 'berth --help'\n");
});

test('an unknown subcommand names its group', () => {
  const r = berth('image', 'frob');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "berth: 'frob' is not a berth image command.\nSee 'berth image --help'\n");
});

test('an unknown flag still exits 125 with the command\'s help hint', () => {
  const r = berth('run', '--frob', 'busybox');
  assert.equal(r.code, 125);
  assert.equal(r.stderr, "berth: unknown flag: --frob\nSee 'berth run --help'.\n");
});

test('volume: an unknown subcommand names the group; wrong argument counts fail before any request', () => {
  assert.equal(berth('volume', 'frob').stderr, "berth: 'frob' is not a berth volume command.\nSee 'berth volume --help'\n");
  for (const args of [['volume', 'rm'], ['volume', 'inspect'], ['volume', 'create', 'a', 'b'], ['volume', 'ls', 'extra'], ['volume', 'prune', 'extra']]) {
    const r = berth(...args);
    assert.equal(r.code, 125, args.join(' '));
    assert.match(r.stderr, new RegExp(`^berth: .*\\nSee 'berth volume ${args[1]} --help'\\.\\n$`), args.join(' '));
  }
  // Flag conflicts the docker CLI refuses itself, worded as it words them.
  const both = berth('volume', 'create', '--name', 'a1', 'a2');
  assert.deepEqual([both.code, both.stderr], [1, 'conflicting options: cannot specify a volume-name through both --name and as a positional arg\n']);
  const all = berth('volume', 'prune', '-a', '-f', '--filter', 'all=1');
  assert.deepEqual([all.code, all.stderr], [1, 'conflicting options: cannot specify both --all and --filter all=1\n']);
});
