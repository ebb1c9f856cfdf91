// The compose group's project flags: before or after the subcommand, lists
// joined, and a pass-through subcommand's operands left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { addProjectFlags, projectFlags, projectLoadOptions } from '../../src/cli/compose-project.ts';

function group(): { program: Command; seen: { flags?: ReturnType<typeof projectFlags>; args?: string[] } } {
  const seen: { flags?: ReturnType<typeof projectFlags>; args?: string[] } = {};
  const program = new Command('berth').enablePositionalOptions().exitOverride();
  const compose = addProjectFlags(program.command('compose'));
  compose.command('config').argument('[service...]').action((_s: string[], _o: unknown, cmd: Command) => { seen.flags = projectFlags(cmd); });
  compose.command('exec').passThroughOptions().argument('<service>').argument('[cmd...]')
    .action((service: string, cmd: string[], _o: unknown, c: Command) => { seen.flags = projectFlags(c); seen.args = [service, ...cmd]; });
  return { program, seen };
}

test('flags before the subcommand, after it, or both (lists joined)', async () => {
  const { program, seen } = group();
  await program.parseAsync(['compose', '-f', 'a.yaml', '--profile', 'x', 'config', '-f', 'b.yaml', '-p', 'proj', '--env-file', 'e'], { from: 'user' });
  assert.deepEqual(seen.flags, { file: ['a.yaml', 'b.yaml'], profile: ['x'], projectName: 'proj', envFile: ['e'] });
  const o = projectLoadOptions(seen.flags ?? {}, { A: '1' }, '/w');
  assert.deepEqual(o, { files: ['a.yaml', 'b.yaml'], projectName: 'proj', projectDirectory: undefined, profiles: ['x'], envFiles: ['e'], env: { A: '1' }, cwd: '/w' });
});

test('a pass-through subcommand keeps -f and -p after its service as operands', async () => {
  const { program, seen } = group();
  await program.parseAsync(['compose', '-p', 'proj', 'exec', 'web', 'tail', '-f', '/var/log/x', '-p'], { from: 'user' });
  assert.deepEqual(seen.args, ['web', 'tail', '-f', '/var/log/x', '-p']);
  assert.deepEqual(seen.flags, { projectName: 'proj' });
});

test('--profile a,b is two profiles', () => {
  assert.deepEqual(projectLoadOptions({ profile: ['a,b', 'c'] }, {}, '/').profiles, ['a', 'b', 'c']);
});
