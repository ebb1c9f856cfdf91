// Loader conformance: cases from compose-spec/compose-go's own loader tests
// (at e70e961c3a3acebf0800b882f1afb3dbf1fb74a2), re-expressed as data — the
// files they load and what they assert — and run through berth's loadProject.
// Each case names the Go test (and testdata file) it comes from.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadProject } from '../../src/compose/load/index.ts';
import type { Project } from '../../src/compose/model.ts';

interface Case {
  source: string;
  files: Record<string, string>;
  /** -f files in order; default: the lookup of compose.yaml. */
  load?: string[];
  /** Checks on the loaded project; `dir` is the project directory. */
  expect?: (p: Project, dir: string) => void;
  error?: RegExp;
}

const CASES: Case[] = [
  {
    source: 'loader/loader_test.go TestLoadExtends',
    files: { 'compose.yaml': 'name: load-extends\nservices:\n  foo:\n    image: busybox\n    extends: bar\n  bar:\n    image: alpine\n    command: echo\n' },
    expect: (p) => {
      assert.equal(Object.keys(p.services).length, 2);
      assert.equal(p.services.foo.image, 'busybox');
      assert.deepEqual(p.services.foo.command, ['echo']);
    },
  },
  {
    source: 'loader/loader_test.go TestLoadExtendsOverrideCommand',
    files: { 'compose.yaml': 'name: override-command\nservices:\n  foo:\n    image: busybox\n    extends:\n      service: bar\n    command: "/bin/ash -c \\"rm -rf /tmp/might-not-exist\\""\n  bar:\n    image: alpine\n    command: "/bin/ash -c \\"echo Oh no...\\""\n' },
    expect: (p) => {
      assert.equal(p.services.foo.image, 'busybox');
      assert.deepEqual(p.services.foo.command, ['/bin/ash', '-c', 'rm -rf /tmp/might-not-exist']);
    },
  },
  {
    source: 'loader/loader_test.go TestLoadExtendsMultipleFiles',
    files: {
      'a/compose.yaml': 'services:\n  a:\n    build: .\n',
      'b/compose.yaml': 'services:\n  b:\n    build:\n      target: fake\n',
      'compose.yaml': 'services:\n  a:\n    extends:\n      file: ./a/compose.yaml\n      service: a\n  b:\n    extends:\n      file: ./b/compose.yaml\n      service: b\n',
    },
    expect: (p, dir) => {
      assert.equal(p.services.a.build?.context, join(dir, 'a'));
      assert.equal(p.services.b.build?.context, dir);
    },
  },
  {
    source: 'loader/loader_test.go TestLoadExtendsWihReset',
    files: { 'compose.yaml': 'name: load-extends\nservices:\n  foo:\n    extends:\n      service: bar\n    volumes: !reset []\n  bar:\n    image: alpine\n    command: echo\n    volumes:\n       - .:/src\n' },
    expect: (p) => {
      assert.equal(p.services.foo.volumes.length, 0);
      assert.equal(p.services.bar.volumes.length, 1);
    },
  },
  { source: 'loader/loader_test.go TestInvalidTopLevelObjectType (1)', files: { 'compose.yaml': '1\n' }, error: /top-level object must be a mapping/ },
  { source: 'loader/loader_test.go TestInvalidTopLevelObjectType ("hello")', files: { 'compose.yaml': '"hello"\n' }, error: /top-level object must be a mapping/ },
  { source: 'loader/loader_test.go TestInvalidTopLevelObjectType (["hello"])', files: { 'compose.yaml': '["hello"]\n' }, error: /top-level object must be a mapping/ },
  {
    source: 'loader/loader_test.go, testdata/compose-depends-on-cycle.yaml',
    files: { 'compose.yaml': 'name : depends-on-cycle\nservices:\n  service1:\n    image: service1\n    depends_on:\n      - service2\n  service2:\n    image: service2\n    depends_on:\n      - service3\n  service3:\n    image: service3\n    depends_on:\n      - service1\n' },
    error: /dependency cycle detected: service1 -> service2 -> service3 -> service1$/,
  },
  {
    source: 'loader/loader_test.go, testdata/compose-depends-on-self.yaml',
    files: { 'compose.yaml': 'name : depends-on-cycle\nservices:\n  service1:\n    image: service1\n    depends_on:\n      - service1\n' },
    error: /dependency cycle detected: service1 -> service1$/,
  },
  {
    source: 'loader/loader_test.go, testdata/compose-include-cycle.yaml',
    files: { 'compose-include-cycle.yaml': 'include:\n  - compose-include-cycle.yaml\n\nname: project\nservices:\n  foo:\n    image: foo\n' },
    load: ['compose-include-cycle.yaml'],
    error: /^include cycle detected/,
  },
  {
    source: 'loader/extends_test.go TestLoadExtendsSameFile',
    files: {
      'sub/compose.yaml': 'services:\n  base:\n    build:\n      context: ..\n  service:\n    extends: base\n    build:\n      target: target\n',
      'compose.yaml': 'services:\n  out-base:\n    extends:\n      file: sub/compose.yaml\n      service: base\n  out-service:\n    extends:\n      file: sub/compose.yaml\n      service: service\n',
    },
    expect: (p, dir) => {
      assert.equal(Object.keys(p.services).length, 2);
      assert.equal(p.services['out-base'].build?.context, dir);
      assert.equal(p.services['out-service'].build?.context, dir);
      assert.equal(p.services['out-service'].build?.target, 'target');
    },
  },
  ...(['with_depends_on', 'with_volumes_from', 'with_ipc', 'with_network_mode'].flatMap((svc): Case[] => {
    // loader/extends_test.go TestExtendsWithServiceRef over testdata/extends/depends_on.yaml:
    // an extended service's reference to another service is not imported with it.
    const refs = 'services:\n  with_depends_on:\n    image: foo\n    depends_on:\n      - zot\n\n  with_volumes_from:\n    image: foo\n    volumes_from:\n      - zot\n\n  with_ipc:\n    image: foo\n    ipc: "service:zot"\n\n  with_network_mode:\n    image: foo\n    network_mode: "service:zot"\n\n  zot:\n    image: hidden\n';
    const main = `name: test-extends\nservices:\n  bar:\n    extends:\n      file: ./testdata/extends/depends_on.yaml\n      service: ${svc}\n`;
    return [
      { source: `loader/extends_test.go TestExtendsWithServiceRef (${svc})`, files: { 'testdata/extends/depends_on.yaml': refs, 'compose.yaml': main }, error: /service "bar" depends on undefined service "zot"/ },
      {
        source: `loader/extends_test.go TestExtendsWithServiceRef (${svc}, with a local zot)`,
        files: { 'testdata/extends/depends_on.yaml': refs, 'compose.yaml': main + '  zot:\n    image: zot\n' },
        expect: (p) => assert.equal(p.services.bar.depends_on.zot.condition, 'service_started'),
      },
    ];
  })),
  {
    source: 'loader/extends_test.go TestLoadExtendsDependsOn',
    files: { 'compose.yaml': 'name: extends-depends_on\nservices:\n  service_a:\n    image: a\n    depends_on:\n      - service_c\n  \n  service_b:\n    extends: service_a\n    depends_on: !override\n      - service_a\n\n  service_c:\n    image: c' },
    expect: (p) => assert.deepEqual(p.services.service_b.depends_on, { service_a: { condition: 'service_started', required: true } }),
  },
  {
    source: 'loader/override_test.go TestOverrideNetworks',
    files: {
      'base': 'name: test-override-networks\nservices:\n  test:\n    image: test\n    networks:\n      - test_network\n\nnetworks:\n  test_network: {}\n',
      'override': 'services:\n  test:\n    image: test\n    networks:\n      test_network: \n        aliases:\n          - alias1\n          - alias2\n',
    },
    load: ['base', 'override'],
    expect: (p) => assert.deepEqual(p.services.test.networks.test_network?.aliases, ['alias1', 'alias2']),
  },
  {
    source: 'loader/override_test.go TestOverrideBuildContext',
    files: { 'base': 'name: test-override-networks\nservices:\n  test:\n    build: .\n', 'override': 'services:\n  test:\n    build:\n      context: src\n' },
    load: ['base', 'override'],
    expect: (p, dir) => assert.equal(p.services.test.build?.context, join(dir, 'src')),
  },
  {
    source: 'loader/override_test.go TestOverrideDepends_on',
    files: {
      'base': 'name: test-override-networks\nservices:\n  test:\n    image: test\n    depends_on:\n      - foo\n  foo:\n    image: foo\n',
      'override': 'services:\n  test:\n    depends_on:\n      foo:\n        condition: service_healthy\n        required: false\n',
    },
    load: ['base', 'override'],
    expect: (p) => assert.equal(p.services.test.depends_on.foo.required, false),
  },
  {
    source: 'loader/override_test.go TestOverridePartial',
    files: {
      'base': 'name: test-override-networks\nservices:\n  test:\n    image: test\n    depends_on:\n      foo:\n        condition: service_healthy\n\n  foo: \n    image: foo\n',
      'override': 'services:\n  test:\n    depends_on:\n      foo:\n        # This is invalid according to json schema as condition is required\n        required: false\n',
    },
    load: ['base', 'override'],
    expect: (p) => assert.deepEqual(p.services.test.depends_on.foo, { condition: 'service_healthy', required: false }),
  },
  {
    source: 'loader/override_test.go TestOverrideVolume',
    files: { 'base': 'name: test-override-volume\nservices:\n  test:\n    image: test\n    volumes:\n      - ./src:/src\n', 'override': 'services:\n  test:\n    volumes:\n      - ./src:/src\n' },
    load: ['base', 'override'],
    expect: (p) => assert.equal(p.services.test.volumes.length, 1),
  },
  {
    source: 'loader/override_test.go TestOverrideMiddle',
    files: {
      'base.yaml': 'services:\n  base:\n    volumes:\n      - /foo:/foo\n    networks:\n      - foo\n',
      'override.yaml': 'services:\n  override:\n    extends:\n      file: ./base.yaml\n      service: base\n    volumes: !override\n      -  /bar:/bar\n    networks: !override\n      - bar\n',
      'compose.yaml': 'name: test\nservices:\n  test:\n    image: test\n    extends:\n      file: ./override.yaml\n      service: override\n    volumes:\n      - /zot:/zot\n    networks: !override\n      - zot\n\nnetworks:\n  zot: {}\n',
    },
    expect: (p) => {
      assert.deepEqual(p.services.test.volumes, [
        { type: 'bind', source: '/bar', target: '/bar', bind: { create_host_path: true } },
        { type: 'bind', source: '/zot', target: '/zot', bind: { create_host_path: true } },
      ]);
      assert.deepEqual(p.services.test.networks, { zot: null });
    },
  },
  {
    source: 'loader/override_test.go TestOverrideSelfExtends',
    files: { 'compose.yaml': 'name: test-override-extends\nservices:\n  depend_base:\n    image: nginx\n    ports:\n      - "8092:80"\n  depend_one:\n    image: nginx\n    ports:\n      - "8091:80"\n  depend_two:\n    extends:\n      service: depend_one\n  main_one:\n    image: nginx\n    depends_on:\n      - depend_one\n    ports:\n      - "8090:80"\n  main_two:\n    extends: main_one\n    depends_on: !override\n      - depend_two\n  main:\n    extends:\n      service: main_two\n    depends_on:\n      - depend_base\n' },
    expect: (p) => assert.deepEqual(p.services.main.depends_on, {
      depend_two: { condition: 'service_started', required: true },
      depend_base: { condition: 'service_started', required: true },
    }),
  },
  {
    source: 'loader/merge_reset_test.go Test_LoadWithReset',
    files: {
      'base.yml': ' name: test\n services:\n   foo:\n     build:\n       context: .\n       dockerfile: foo.Dockerfile\n     environment:\n       FOO: BAR',
      'override.yml': ' services:\n   foo:\n     image: foo\n     build: !reset  \n     environment:\n       FOO: !reset\n',
    },
    load: ['base.yml', 'override.yml'],
    expect: (p) => {
      assert.equal(p.services.foo.image, 'foo');
      assert.equal(p.services.foo.build, undefined);
      assert.deepEqual(p.services.foo.environment, {});
    },
  },
  {
    source: 'loader/merge_reset_test.go Test_DuplicateReset',
    files: { 'duplicate.yml': ' name: test\n services:\n   foo:\n     command: hello\n     command: !reset hello world\n' },
    load: ['duplicate.yml'],
    error: /line 5: Map keys must be unique/,
  },
  {
    source: 'loader/reset_test.go TestResetRemove',
    files: { 'a.yaml': 'name: test-reset\nnetworks:\n  test:\n    name: test\n    external: true\n', 'b.yaml': 'networks:\n  test: !reset {}\n' },
    load: ['a.yaml', 'b.yaml'],
    expect: (p) => assert.equal(p.networks.test, undefined),
  },
  {
    source: 'loader/reset_test.go TestOverrideReplace',
    files: { 'a.yaml': 'name: test-override\nnetworks:\n  test:\n    name: test\n    external: true\n', 'b.yaml': 'networks:\n  test: !override {}\n' },
    load: ['a.yaml', 'b.yaml'],
    expect: (p) => {
      assert.equal(p.networks.test.external, undefined);
      assert.equal(p.networks.test.name, 'test-override_test');
    },
  },
];

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

describe('compose-go loader cases', () => {
  for (const c of CASES) {
    test(c.source, async () => {
      const root = mkdtempSync(join(tmpdir(), 'berth-cconf-'));
      roots.push(root);
      const dir = join(root, 'project');
      for (const [p, text] of Object.entries(c.files)) {
        mkdirSync(dirname(join(dir, p)), { recursive: true });
        writeFileSync(join(dir, p), text);
      }
      const opts = { files: c.load ?? [], profiles: [], envFiles: [], env: {}, cwd: dir, warn: () => {} };
      if (c.error) {
        await assert.rejects(loadProject(opts), (err: Error) => {
          assert.match(err.message, c.error as RegExp);
          return true;
        });
      } else {
        c.expect?.(await loadProject(opts), dir);
      }
    });
  }
});
