// berth's layering rules (.dependency-cruiser.cjs): the real tree has no
// violation, and each kind of back edge the Layers issue listed is caught,
// shown on a small tree of files that make exactly that edge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from '../helpers/daemon.ts';

const NODE = join(ROOT, 'node_modules/.bin/node');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

function cruise(cwd: string): { code: number; out: string } {
  const r = spawnSync(NODE, [DEPCRUISE, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

test('the source tree has no layering violation', () => {
  const r = cruise(ROOT);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /no dependency violations found \((\d+) modules/);
  // Sanity: it really read the tree (a parser that cannot read TypeScript cruises 0 modules).
  const modules = Number(/\((\d+) modules/.exec(r.out)?.[1]);
  assert.ok(modules > 100, r.out);
});

// Each case: the files of a tiny tree, and the rule that must report it.
const CASES: { edge: string; files: Record<string, string>; rule: string }[] = [
  { edge: 'a service takes typed errors from the daemon', rule: 'no-domain-imports-cli-or-daemon',
    files: { 'src/images/store.ts': "import { x } from '../daemon/routes/errors.ts';\nexport const y = x;\n", 'src/daemon/routes/errors.ts': 'export const x = 1;\n' } },
  { edge: 'a service takes DaemonConfig', rule: 'no-domain-imports-cli-or-daemon',
    files: { 'src/network/service.ts': "import type { C } from '../daemon/config.ts';\nexport type D = C;\n", 'src/daemon/config.ts': 'export interface C { a: number }\n' } },
  { edge: 'containers import the CLI', rule: 'no-domain-imports-cli-or-daemon',
    files: { 'src/containers/service.ts': "import { u } from '../cli/format/units.ts';\nexport const v = u;\n", 'src/cli/format/units.ts': 'export const u = 1;\n' } },
  { edge: 'images import containers', rule: 'layer-images',
    files: { 'src/images/prune.ts': "import { s } from '../containers/service.ts';\nexport const p = s;\n", 'src/containers/service.ts': 'export const s = 1;\n' } },
  { edge: 'the runtime imports containers', rule: 'layer-runtime',
    files: { 'src/runtime/spec.ts': "import { m } from '../containers/model.ts';\nexport const n = m;\n", 'src/containers/model.ts': 'export const m = 1;\n' } },
  { edge: 'the network imports containers', rule: 'layer-network',
    files: { 'src/network/service.ts': "import { m } from '../containers/model.ts';\nexport const n = m;\n", 'src/containers/model.ts': 'export const m = 1;\n' } },
  { edge: 'image search imports the registry server', rule: 'layer-images',
    files: { 'src/images/distribution/search.ts': "import { r } from '../../registry/search.ts';\nexport const s = r;\n", 'src/registry/search.ts': 'export const r = 1;\n' } },
  { edge: 'the CLI imports a service', rule: 'layer-cli',
    files: { 'src/cli/commands/run.ts': "import { p } from '../../network/port-spec.ts';\nexport const q = p;\n", 'src/network/port-spec.ts': 'export const p = 1;\n' } },
  { edge: 'berth machine imports the engine client', rule: 'layer-machine',
    files: { 'src/machine/provision.ts': "import { c } from '../client/engine-client.ts';\nexport const d = c;\n", 'src/client/engine-client.ts': 'export const c = 1;\n' } },
  { edge: 'berth machine imports the daemon', rule: 'no-domain-imports-cli-or-daemon',
    files: { 'src/machine/remote.ts': "import { c } from '../daemon/config.ts';\nexport const d = c;\n", 'src/daemon/config.ts': 'export const c = 1;\n' } },
  { edge: 'CLI command modules import each other', rule: 'cli-commands-independent',
    files: { 'src/cli/commands/network.ts': "import { confirm } from './containers.ts';\nexport const n = confirm;\n", 'src/cli/commands/containers.ts': 'export const confirm = 1;\n' } },
  { edge: 'a circle of files', rule: 'no-circular',
    files: { 'src/cli/program.ts': "import { a } from './commands/x.ts';\nexport const collect = a;\n", 'src/cli/commands/x.ts': "import { collect } from '../program.ts';\nexport const a = 1;\nexport const b = collect;\n" } },
  { edge: 'the daemon imports the dashboard', rule: 'nothing-imports-ui',
    files: { 'src/daemon/server.ts': "import { q } from '../ui/run-request.ts';\nexport const s = q;\n", 'src/ui/run-request.ts': 'export const q = 1;\n' } },
  { edge: 'a service imports the dashboard', rule: 'nothing-imports-ui',
    files: { 'src/containers/create.ts': "import { q } from '../ui/run-request.ts';\nexport const s = q;\n", 'src/ui/run-request.ts': 'export const q = 1;\n' } },
  { edge: 'the dashboard imports a service', rule: 'ui-imports-only-api',
    files: { 'src/ui/pages/run.ts': "import { m } from '../../containers/mount-spec.ts';\nexport const n = m;\n", 'src/containers/mount-spec.ts': 'export const m = 1;\n' } },
  { edge: 'the dashboard imports the daemon', rule: 'ui-imports-only-api',
    files: { 'src/ui/api.ts': "import { e } from '../daemon/routes/errors.ts';\nexport const f = e;\n", 'src/daemon/routes/errors.ts': 'export const e = 1;\n' } },
  { edge: 'the dashboard runs the client\'s code', rule: 'ui-imports-client-types-only',
    files: { 'src/ui/api.ts': "import { E } from '../client/engine-client.ts';\nexport const f = E;\n", 'src/client/engine-client.ts': 'export const E = 1;\n' } },
  { edge: 'the dashboard imports a Node built-in', rule: 'ui-no-node-builtins',
    files: { 'src/ui/api.ts': "import { connect } from 'node:net';\nexport const f = connect;\n" } },
  { edge: 'the cluster imports the container service (it must go through LocalEngine)', rule: 'layer-cluster',
    files: { 'src/cluster/agent.ts': "import { s } from '../containers/service.ts';\nexport const a = s;\n", 'src/containers/service.ts': 'export const s = 1;\n' } },
  { edge: 'containers import the cluster', rule: 'layer-containers',
    files: { 'src/containers/service.ts': "import { a } from '../cluster/agent.ts';\nexport const s = a;\n", 'src/cluster/agent.ts': 'export const a = 1;\n' } },
  { edge: 'the stack converter imports the CLI', rule: 'layer-stack',
    files: { 'src/stack/convert.ts': "import { f } from '../cli/swarm-flags.ts';\nexport const g = f;\n", 'src/cli/swarm-flags.ts': 'export const f = 1;\n' } },
  { edge: 'compose imports the stack converter', rule: 'layer-compose',
    files: { 'src/compose/plan.ts': "import { s } from '../stack/convert.ts';\nexport const p = s;\n", 'src/stack/convert.ts': 'export const s = 1;\n' } },
  { edge: 'the ground imports a layer above it', rule: 'ground-imports-only-ground',
    files: { 'src/api/container.ts': "import { t } from '../images/types.ts';\nexport const c = t;\n", 'src/images/types.ts': 'export const t = 1;\n' } },
];

for (const c of CASES) {
  test(`the rules catch it when ${c.edge}`, () => {
    const dir = mkdtempSync('/tmp/berth-layers-');
    try {
      for (const [path, text] of Object.entries(c.files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
      const r = cruise(dir);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`error ${c.rule}:`), r.out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
