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
  env?: Record<string, string>;
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
    source: 'loader/loader_test.go TestProjectNameInterpolation (simple)',
    files: { 'compose.yaml': 'name: interpolated\nservices:\n  web:\n    image: web\n    container_name: ${COMPOSE_PROJECT_NAME}-web\n' },
    expect: (p) => assert.equal(p.services.web.container_name, 'interpolated-web'),
  },
  {
    source: 'loader/loader_test.go TestProjectNameInterpolation (with override)',
    files: {
      'one.yaml': 'name: interpolated\nservices:\n  web:\n    image: web\n    container_name: ${COMPOSE_PROJECT_NAME}-web\n',
      'two.yaml': 'name: overrided\nservices:\n  db:\n    image: db\n    container_name: ${COMPOSE_PROJECT_NAME}-db\n',
      'three.yaml': 'services:\n  proxy:\n    image: proxy\n    container_name: ${COMPOSE_PROJECT_NAME}-proxy\n',
    },
    load: ['one.yaml', 'two.yaml', 'three.yaml'],
    expect: (p) => assert.deepEqual(['web', 'db', 'proxy'].map((s) => p.services[s].container_name), ['overrided-web', 'overrided-db', 'overrided-proxy']),
  },
  {
    source: 'loader/loader_test.go TestInterpolateInt',
    files: { 'compose.yaml': 'name: interpolate-int\nservices:\n  foo:\n    image: foo\n    scale: ${FOO_SCALE}\n' },
    env: { FOO_SCALE: '2' },
    expect: (p) => assert.equal(p.services.foo.scale, 2),
  },
  { source: 'loader/loader_test.go TestInvalidProjectNameType', files: { 'compose.yaml': 'name: 123\n' }, error: /validating .*compose\.yaml: name must be a string$/ },
  { source: 'loader/loader_test.go TestNonMappingObject (services list)', files: { 'compose.yaml': 'name: non-mapping-object\nservices:\n  - foo:\n      image: busybox\n' }, error: /services must be a mapping/ },
  { source: 'loader/loader_test.go TestNonMappingObject (service string)', files: { 'compose.yaml': 'name: non-mapping-object\nservices:\n  foo: busybox\n' }, error: /services\.foo must be a mapping/ },
  { source: 'loader/loader_test.go TestNonMappingObject (networks list)', files: { 'compose.yaml': 'name: non-mapping-object\nnetworks:\n  - default:\n      driver: bridge\n' }, error: /networks must be a mapping/ },
  { source: 'loader/loader_test.go TestNonMappingObject (network string)', files: { 'compose.yaml': 'name: non-mapping-object\nnetworks:\n  default: bridge\n' }, error: /networks\.default must be a mapping/ },
  { source: 'loader/loader_test.go TestNonMappingObject (volumes list)', files: { 'compose.yaml': 'name: non-mapping-object\nvolumes:\n  - data:\n      driver: local\n' }, error: /volumes must be a mapping/ },
  { source: 'loader/loader_test.go TestNonMappingObject (volume string)', files: { 'compose.yaml': 'name: non-mapping-object\nvolumes:\n  data: local\n' }, error: /volumes\.data must be a mapping/ },
  { source: 'loader/loader_test.go TestNonStringImage', files: { 'compose.yaml': 'name: non-mapping-object\nservices:\n  foo:\n    image: ["busybox", "latest"]\n' }, error: /services\.foo\.image must be a string/ },
  { source: 'loader/loader_test.go TestInvalidExternalAndDirverOptsCombination', files: { 'compose.yaml': 'volumes:\n  external_volume:\n    external: true\n    driver_opts:\n      beep: boop\n' }, error: /volumes\.external_volume: conflicting parameters "external" and "driver_opts" specified/ },
  { source: 'loader/loader_test.go TestInvalidExternalAndLabelsCombination', files: { 'compose.yaml': 'volumes:\n  external_volume:\n    external: true\n    labels:\n      - beep=boop\n' }, error: /volumes\.external_volume: conflicting parameters "external" and "labels" specified/ },
  { source: 'loader/loader_test.go TestLoadTmpfsVolumeAdditionalPropertyNotAllowed', files: { 'compose.yaml': 'services:\n  tmpfs:\n    image: nginx:latest\n    volumes:\n      - type: tmpfs\n        target: /app\n        foo:\n          bar: zot\n' }, error: /services\.tmpfs\.volumes\.0 additional properties 'foo' not allowed/ },
  { source: 'loader/loader_test.go TestLoadBindMountSourceMustNotBeEmpty', files: { 'compose.yaml': 'services:\n  tmpfs:\n    image: nginx:latest\n    volumes:\n      - type: bind\n        target: /app\n' }, error: /invalid mount config for type "bind": field Source must not be empty$/ },
  { source: 'loader/loader_test.go TestLoadTmpfsVolumeSizeMustBeGTEQZero', files: { 'compose.yaml': 'services:\n  tmpfs:\n    image: nginx:latest\n    volumes:\n      - type: tmpfs\n        target: /app\n        tmpfs:\n          size: -1\n' }, error: /services\.tmpfs\.volumes\.0\.tmpfs\.size must be greater than or equal to 0/ },
  { source: 'loader/loader_test.go TestEmptyFile (testdata/empty.yaml)', files: { 'compose.yaml': '' }, error: /^empty compose file$/ },
  { source: 'loader/loader_test.go TestEmptyList', files: { 'compose.yaml': 'name: empty-list\nservices:\n  test:\n    image: nginx:latest\n    ports: []\n' }, expect: (p) => assert.deepEqual(p.services.test.ports, []) },
  {
    source: 'loader/loader_test.go TestXService',
    files: { 'compose.yaml': "name: 'test-x-service'\nservices:\n  x-foo:\n    image: busybox\n    volumes:\n      - x-volume:/dev/null\n    configs:\n      - x-config\n    secrets:\n      - x-secret\n    networks:\n      - x-network\nvolumes:\n  x-volume:\nsecrets:\n  x-secret:\n    external: true\nnetworks:\n  x-network:\nconfigs:\n  x-config:\n    external: true\n" },
    expect: (p) => {
      assert.deepEqual(Object.keys(p.services), ['x-foo']);
      assert.deepEqual([Object.keys(p.secrets), Object.keys(p.volumes), Object.keys(p.configs), Object.keys(p.networks)], [['x-secret'], ['x-volume'], ['x-config'], ['x-network']]);
    },
  },
  {
    source: 'loader/include_test.go TestLoadIncludeExtendsCombined (testdata/combined)',
    files: {
      'compose.yaml': 'include:\n  - path:\n      - dir/included.yaml\n',
      'dir/extended.yaml': 'services:\n  service:\n    build: .\n',
      'dir/included.yaml': 'services:\n  service:\n    extends:\n      file: extended.yaml\n      service: service\n',
    },
    expect: (p, dir) => assert.equal(p.services.service.build?.context, join(dir, 'dir')),
  },
  {
    source: 'loader/include_test.go TestLoadWithMultipleInclude (testdata/subdir, testdata/compose-include.yaml)',
    files: {
      'compose.yaml': "name: 'test-multi-include'\n\ninclude:\n  - path: ./testdata/subdir/compose-test-extends-imported.yaml\n    env_file: ./testdata/subdir/extra.env\n  - path: ./testdata/compose-include.yaml\n\nservices:\n  foo:\n    image: busybox\n    depends_on:\n      - imported\n",
      'testdata/subdir/compose-test-extends-imported.yaml': 'services:\n  imported:\n    image: nginx\n    container_name: ${SOURCE:-imported}\n    env_file:\n      - ./extra.env # expected to be loaded relative to this file, not the extending one\n    volumes:\n      - /opt/data:/var/lib/mysql\n',
      'testdata/subdir/extra.env': 'SOURCE=extends\n',
      'testdata/compose-include.yaml': 'include:\n    - path: ./subdir/compose-test-extends-imported.yaml\n\nservices:\n  bar:\n    image: bar\n    environment:\n      - FOO=BAR\n',
    },
    env: { SOURCE: 'override' },
    expect: (p, dir) => {
      assert.equal(p.services.imported.container_name, 'override');
      assert.equal(p.services.imported.environment.SOURCE, 'extends');
      assert.deepEqual(p.services.foo.depends_on, { imported: { condition: 'service_started', required: true } });
      assert.ok(dir);
    },
  },
  {
    source: 'loader/include_test.go TestLoadWithMultipleIncludeConflict',
    files: {
      'compose.yaml': "name: 'test-multi-include'\n\ninclude:\n  - path: ./testdata/subdir/compose-test-extends-imported.yaml\n    env_file: ./testdata/subdir/extra.env\n  - path: ./testdata/compose-include.yaml\n    env_file: ./testdata/subdir/extra.env\n\n\nservices:\n  bar:\n    image: busybox\n    environment: !override\n      - ZOT=QIX\n",
      'testdata/subdir/compose-test-extends-imported.yaml': 'services:\n  imported:\n    image: nginx\n    container_name: ${SOURCE:-imported}\n    env_file:\n      - ./extra.env\n    volumes:\n      - /opt/data:/var/lib/mysql\n',
      'testdata/subdir/extra.env': 'SOURCE=extends\n',
      'testdata/compose-include.yaml': 'include:\n    - path: ./subdir/compose-test-extends-imported.yaml\n\nservices:\n  bar:\n    image: bar\n    environment:\n      - FOO=BAR\n',
    },
    env: { SOURCE: 'override' },
    expect: (p) => {
      assert.equal(p.services.bar.image, 'busybox');
      assert.deepEqual(p.services.bar.environment, { ZOT: 'QIX' });
    },
  },
  {
    source: 'loader/include_test.go TestIncludeRelative (testdata/include; paths resolved, as compose config prints them)',
    files: {
      'compose.yaml': 'include:\n  - path: included.yaml\n',
      'included.yaml': 'services:\n  included:\n    build: .\n    volumes:\n      - ./:/mnt\n',
    },
    expect: (p, dir) => {
      assert.equal(p.services.included.build?.context, dir);
      const v = p.services.included.volumes[0];
      assert.equal(v.type === 'bind' && v.source, dir);
    },
  },
  {
    source: 'loader/include_test.go TestLoadWithIncludeEnv',
    files: {
      'compose.yml': 'include:\n  - path:\n    - ./module/compose.yml\n    env_file:\n      - ./custom.env\nservices:\n  a:\n    image: alpine\n    environment:\n      - VAR_NAME',
      'custom.env': 'VAR_NAME=value',
      'module/compose.yml': 'services:\n  b:\n    image: alpine\n    environment:\n      - VAR_NAME\n  c:\n    image: alpine\n    environment:\n      - VAR_NAME',
    },
    expect: (p) => {
      assert.equal(p.services.a.environment.VAR_NAME, null);
      assert.equal(p.services.b.environment.VAR_NAME, 'value');
      assert.equal(p.services.c.environment.VAR_NAME, 'value');
    },
  },
  {
    source: 'loader/include_test.go TestIncludeWithProjectDirectory (testdata/include/project-directory.yaml)',
    files: {
      'include/project-directory.yaml': 'include:\n  - project_directory: ../subdir\n    path: ./dir/compose.yaml',
      'include/dir/compose.yaml': 'services:\n  service:\n    build:\n      dockerfile_inline: |\n        FROM busybox\n        COPY compose-test-extends-imported.yaml compose.yaml\n    volumes:\n      - type: bind\n        source: compose-test-extends-imported.yaml\n        target: /mnt/bind/compose.yaml\n    env_file:\n      - extra.env\n',
      'subdir/extra.env': 'FROM_EXTRA=1\n',
    },
    load: ['include/project-directory.yaml'],
    expect: (p, dir) => {
      assert.equal(p.services.service.build?.context, join(dir, 'subdir'));
      const v = p.services.service.volumes[0];
      assert.equal(v.type === 'bind' && v.source, join(dir, 'subdir/compose-test-extends-imported.yaml'));
      assert.equal(p.services.service.environment.FROM_EXTRA, '1');
    },
  },
  {
    source: 'loader/include_test.go TestNestedIncludeAndExtends',
    files: {
      'compose.yml': 'include:\n  - project_directory: .\n    path: dir/included.yaml\n',
      'dir/included.yaml': 'services:\n  included:\n    extends:\n      file: dir/extended.yaml\n      service: extended\n',
      'dir/extended.yaml': 'services:\n  extended:\n    image: alpine\n',
    },
    expect: (p) => assert.equal(p.services.included.image, 'alpine'),
  },
  {
    source: 'loader/loader_test.go TestLoadWithInterpolationCastFull',
    files: { 'compose.yaml': 'name: load-with-interpolation-cast-full\nservices:\n  web:\n    image: x\n    configs:\n      - source: appconfig\n        mode: "$theint"\n    secrets:\n      - source: super\n        mode: "$theint"\n    healthcheck:\n      retries: ${theint}\n      disable: $thebool\n    deploy:\n      replicas: $theint\n      update_config:\n        parallelism: $theint\n        max_failure_ratio: $thefloat\n      rollback_config:\n        parallelism: $theint\n        max_failure_ratio: $thefloat\n      restart_policy:\n        max_attempts: $theint\n      placement:\n        max_replicas_per_node: $theint\n    ports:\n      - $theint\n      - "34567"\n      - target: $theint\n        published: "$theint"\n        x-foo-bar: true\n    ulimits:\n      nproc: $theint\n      nofile:\n        hard: $theint\n        soft: $theint\n    privileged: $thebool\n    read_only: $thebool\n    shm_size: ${thesize}\n    stop_grace_period: ${theduration}\n    stdin_open: ${thebool}\n    tty: $thebool\n    volumes:\n      - source: data\n        type: volume\n        target: /data\n        read_only: $thebool\n        volume:\n          nocopy: $thebool\n\nconfigs:\n  appconfig:\n    external: $thebool\nsecrets:\n  super:\n    external: $thebool\nvolumes:\n  data:\n    external: $thebool\nnetworks:\n  front:\n    external: $thebool\n    internal: $thebool\n    attachable: $thebool\n  back:\n' },
    env: { theint: '555', thefloat: '3.14', thebool: 'true', theduration: '60s', thesize: '2gb' },
    expect: (p) => {
      const w = p.services.web;
      assert.deepEqual(w.configs, [{ source: 'appconfig', mode: 0o555 }]);
      assert.deepEqual(w.secrets, [{ source: 'super', target: '/run/secrets/super', mode: 0o555 }]);
      assert.deepEqual(w.healthcheck, { retries: 555, disable: true });
      assert.deepEqual(w.deploy, {
        replicas: 555, update_config: { parallelism: 555, max_failure_ratio: 3.14 }, rollback_config: { parallelism: 555, max_failure_ratio: 3.14 },
        restart_policy: { max_attempts: 555 }, placement: { max_replicas_per_node: 555 },
      });
      assert.deepEqual(w.ports, [
        { mode: 'ingress', target: 555, protocol: 'tcp' },
        { mode: 'ingress', target: 34567, protocol: 'tcp' },
        { mode: 'ingress', target: 555, published: '555', protocol: 'tcp', 'x-foo-bar': true },
      ]);
      assert.deepEqual(w.ulimits, { nproc: { soft: 555, hard: 555 }, nofile: { soft: 555, hard: 555 } });
      assert.deepEqual([w.privileged, w.read_only, w.stdin_open, w.tty, w.shm_size, w.stop_grace_period], [true, true, true, true, 2 * 1024 ** 3, '1m0s']);
      assert.deepEqual(w.volumes, [{ type: 'volume', source: 'data', target: '/data', read_only: true, volume: { nocopy: true } }]);
      assert.deepEqual([p.configs.appconfig.external, p.secrets.super.external, p.volumes.data.external], [true, true, true]);
      assert.deepEqual([p.networks.front.external, p.networks.front.internal, p.networks.front.attachable], [true, true, true]);
    },
  },
  {
    source: 'loader/loader_test.go TestLoadLegacyBoolean',
    files: { 'compose.yaml': 'name: load-legacy-boolean\nservices:\n  test:\n    image: x\n    init: yes # used to be a valid YAML bool, removed in YAML 1.2\n' },
    expect: (p) => assert.equal(p.services.test.init, true),
  },
  {
    source: 'loader/loader_test.go TestLoadExpandedPortFormat (samplePortsConfig)',
    files: { 'compose.yaml': 'name: load-expanded-port-format\nservices:\n  web:\n    image: busybox\n    ports:\n      - "80-82:8080-8082"\n      - "90-92:8090-8092/udp"\n      - "85:8500"\n      - 8600\n      - protocol: udp\n        target: 53\n        published: 10053\n      - mode: host\n        target: 22\n        published: 10022\n' },
    expect: (p) => assert.deepEqual(p.services.web.ports, [
      { mode: 'ingress', target: 8080, published: '80', protocol: 'tcp' },
      { mode: 'ingress', target: 8081, published: '81', protocol: 'tcp' },
      { mode: 'ingress', target: 8082, published: '82', protocol: 'tcp' },
      { mode: 'ingress', target: 8090, published: '90', protocol: 'udp' },
      { mode: 'ingress', target: 8091, published: '91', protocol: 'udp' },
      { mode: 'ingress', target: 8092, published: '92', protocol: 'udp' },
      { mode: 'ingress', target: 8500, published: '85', protocol: 'tcp' },
      { mode: 'ingress', target: 8600, protocol: 'tcp' },
      { mode: 'ingress', target: 53, published: '10053', protocol: 'udp' },
      { mode: 'host', target: 22, published: '10022', protocol: 'tcp' },
    ]),
  },
  {
    source: 'loader/loader_test.go TestLoadWithBindMountVolume',
    files: { 'compose.yaml': "name: load-with-bind-mount-volume\nservices:\n  web:\n    image: web\n    volumes:\n     - data:/data\nvolumes:\n  data:\n    driver: local\n    driver_opts:\n      type: 'none'\n      o: 'bind'\n      device: './data'\n" },
    expect: (p, dir) => assert.equal(p.volumes.data.driver_opts?.device, join(dir, 'data')),
  },
  {
    source: 'loader/loader_test.go TestNumericIDs',
    files: { 'compose.yaml': "name: 'test-numeric-ids'\nservices:\n  foo:\n    image: busybox\n    volumes:\n      - 0:/foo\n\nvolumes:\n  '0': {}\n" },
    expect: (p) => assert.deepEqual(p.services.foo.volumes, [{ type: 'volume', source: '0', target: '/foo', volume: {} }]),
  },
  {
    source: 'loader/loader_test.go TestLoadWithEnvironmentInterpolation',
    files: { 'compose.yaml': '# This is a comment, so using variable syntax here ${SHOULD_NOT_BREAK} parsing\nname: load-with-environment-interpolation\nservices:\n  test:\n    image: busybox\n    labels:\n      - home1=$HOME\n      - home2=${HOME}\n      - nonexistent=$NONEXISTENT\n      - default=${NONEXISTENT-default}\nnetworks:\n  test:\n    driver: $HOME\nvolumes:\n  test:\n    driver: $HOME\n' },
    env: { HOME: '/home/foo', FOO: 'foo' },
    expect: (p) => {
      assert.deepEqual(p.services.test.labels, { home1: '/home/foo', home2: '/home/foo', nonexistent: '', default: 'default' });
      assert.equal(p.networks.test.driver, '/home/foo');
      assert.equal(p.volumes.test.driver, '/home/foo');
    },
  },
  {
    source: 'loader/loader_test.go TestLoadNetworkWithName',
    files: { 'compose.yaml': 'name: load-network-with-name\nservices:\n  hello-world:\n    image: redis:alpine\n    networks:\n      - network1\n      - network3\n\nnetworks:\n  network1:\n    name: network2\n  network3:\n' },
    expect: (p) => {
      assert.deepEqual(p.services['hello-world'].networks, { network1: null, network3: null });
      assert.deepEqual(p.networks, { network1: { name: 'network2' }, network3: { name: 'load-network-with-name_network3' } });
    },
  },
  {
    source: 'loader/loader_test.go TestLoadServiceExtension / TestLoadExtensions',
    files: { 'compose.yaml': 'name: load-extensions\nx-project: project\n\nconfigs:\n  x-config-name:\n    external: true\n    x-config-ext: config\nservices:\n  another:\n    image: busybox\n    depends_on:\n      foo:\n        condition: service_started\n        x-depends-on: depends\n  foo:\n    image: busybox\n    x-foo: bar\n    healthcheck:\n      x-healthcheck: health\n    develop:\n      x-dev: dev\n  extension:\n    image: web\n    x-foo: bar\n' },
    expect: (p) => {
      assert.deepEqual(p.extensions, { 'x-project': 'project' });
      assert.equal(p.services.foo['x-foo'], 'bar');
      assert.equal(p.services.extension['x-foo'], 'bar');
      assert.equal((p.configs['x-config-name'] as unknown as Record<string, unknown>)['x-config-ext'], 'config');
      assert.equal((p.services.foo.develop as unknown as Record<string, unknown>)['x-dev'], 'dev');
      assert.equal((p.services.foo.healthcheck as unknown as Record<string, unknown>)['x-healthcheck'], 'health');
      assert.equal((p.services.another.depends_on.foo as unknown as Record<string, unknown>)['x-depends-on'], 'depends');
    },
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
      const opts = { files: c.load ?? [], profiles: [], envFiles: [], env: c.env ?? {}, cwd: dir, warn: () => {} };
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
