// Attribute conformance: the cases of compose-spec/compose-go's per-attribute
// loader tests (loader/tests/*_test.go at e70e961c3a3acebf0800b882f1afb3dbf1fb74a2),
// re-expressed as data — the compose file, the environment, and what the
// loaded service must hold — and run through berth's loadProject. compose-go
// runs these without its consistency check; where a case refers to an
// undefined secret or config, the definition is added here (marked "+").
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProject, ComposeError } from '../../src/compose/load/index.ts';
import type { Project } from '../../src/compose/model.ts';

interface Case {
  source: string;
  yaml: string;
  env?: Record<string, string>;
  profiles?: string[];
  expect?: (p: Project, dir: string) => void;
  error?: RegExp;
}

const CASES: Case[] = [
  {
    source: 'ports_test.go TestPortsShortSyntax',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    ports:\n      - "80:8080"\n      - "90:8090/udp"\n      - 8600\n',
    expect: (p) => {
      const ports = p.services.foo.ports;
      assert.equal(ports.length, 3);
      assert.deepEqual([ports[0].target, ports[0].published], [8080, '80']);
      assert.deepEqual([ports[1].target, ports[1].protocol], [8090, 'udp']);
      assert.equal(ports[2].target, 8600);
    },
  },
  {
    source: 'ports_test.go TestPortsLongSyntax',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    ports:\n      - target: 80\n        published: 8080\n        protocol: tcp\n        mode: host\n',
    expect: (p) => assert.deepEqual(p.services.foo.ports, [{ mode: 'host', target: 80, published: '8080', protocol: 'tcp' }]),
  },
  {
    source: 'ports_test.go TestPortsRange',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    ports:\n      - "80-82:8080-8082"\n',
    expect: (p) => assert.deepEqual(p.services.foo.ports.map((x) => [x.target, x.published]), [[8080, '80'], [8081, '81'], [8082, '82']]),
  },
  {
    source: 'ports_test.go TestNamedPort',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    ports:\n      - name: http\n        published: 8080\n        target: 80\n',
    expect: (p) => assert.equal(p.services.foo.ports[0].name, 'http'),
  },
  {
    source: 'ports_test.go TestAppProtocol',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    ports:\n      - published: 8080\n        target: 80\n        protocol: tcp\n        app_protocol: http\n',
    expect: (p) => assert.equal(p.services.foo.ports[0].app_protocol, 'http'),
  },
  {
    source: 'volumes_test.go TestTopLevelVolumes',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\nvolumes:\n  some-volume:\n  other-volume:\n    driver: flocker\n    driver_opts:\n      foo: "bar"\n      baz: 1\n    labels:\n      foo: bar\n  another-volume:\n    name: "user_specified_name"\n    driver: vsphere\n    driver_opts:\n      foo: "bar"\n      baz: 1\n  external-volume:\n    external: true\n  other-external-volume:\n    external:\n      name: my-cool-volume\n  external-volume3:\n    name: this-is-volume3\n    external: true\n    x-bar: baz\n    x-foo: bar\n',
    expect: (p) => {
      assert.equal(p.volumes['some-volume'].driver, undefined);
      assert.equal(p.volumes['other-volume'].driver, 'flocker');
      assert.deepEqual(p.volumes['other-volume'].driver_opts, { foo: 'bar', baz: '1' });
      assert.deepEqual(p.volumes['other-volume'].labels, { foo: 'bar' });
      assert.equal(p.volumes['another-volume'].name, 'user_specified_name');
      assert.equal(p.volumes['another-volume'].driver, 'vsphere');
      assert.equal(p.volumes['external-volume'].external, true);
      assert.equal(p.volumes['other-external-volume'].name, 'my-cool-volume');
      assert.equal(p.volumes['other-external-volume'].external, true);
      assert.equal(p.volumes['external-volume3'].name, 'this-is-volume3');
      assert.equal(p.volumes['external-volume3'].external, true);
      assert.equal((p.volumes['external-volume3'] as unknown as Record<string, unknown>)['x-bar'], 'baz');
    },
  },
  {
    source: 'volumes_test.go TestImageVolume',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    volumes:\n      - type: image\n        source: app/image\n        target: /mnt/image\n        image:\n          subpath: /foo\n',
    expect: (p) => assert.deepEqual(p.services.foo.volumes[0], { type: 'image', source: 'app/image', target: '/mnt/image', image: { subpath: '/foo' } }),
  },
  {
    source: 'volume_bind_test.go TestVolumeBindPropagation',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    volumes:\n      - type: bind\n        source: /host\n        target: /container\n        bind:\n          propagation: rslave\n',
    expect: (p) => assert.deepEqual(p.services.foo.volumes[0], { type: 'bind', source: '/host', target: '/container', bind: { create_host_path: true, propagation: 'rslave' } }),
  },
  {
    source: 'volume_bind_test.go TestVolumeBindSELinux',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    volumes:\n      - type: bind\n        source: /host\n        target: /container\n        bind:\n          selinux: z\n',
    expect: (p) => { const v = p.services.foo.volumes[0]; assert.equal(v.type === 'bind' && v.bind?.selinux, 'z'); },
  },
  {
    source: 'volume_bind_test.go TestVolumeNoCopy',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    volumes:\n      - type: volume\n        source: mydata\n        target: /data\n        volume:\n          nocopy: true\nvolumes:\n  mydata:\n',
    expect: (p) => { const v = p.services.foo.volumes[0]; assert.equal(v.type === 'volume' && v.volume?.nocopy, true); },
  },
  {
    source: 'volume_bind_test.go TestVolumeBindCreateHostPathDefault',
    yaml: 'name: test\nservices:\n  short:\n    image: alpine\n    volumes:\n      - /host:/container\n  long:\n    image: alpine\n    volumes:\n      - type: bind\n        source: /host\n        target: /container\n        bind: {}\n',
    expect: (p) => {
      for (const s of ['short', 'long']) { const v = p.services[s].volumes[0]; assert.equal(v.type === 'bind' && v.bind?.create_host_path, true); }
    },
  },
  {
    source: 'environment_test.go TestEnvironmentMap',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    environment:\n      FOO: "1"\n      BAR: 2\n      GA: 2.5\n      BU: ""\n      ZO:\n      MEU:\n',
    env: { MEU: 'Shadoks' },
    expect: (p) => assert.deepEqual(p.services.foo.environment, { FOO: '1', BAR: '2', GA: '2.5', BU: '', ZO: null, MEU: 'Shadoks' }),
  },
  {
    source: 'environment_test.go TestEnvironmentList',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    environment:\n      - FOO=1\n      - BAR=2\n      - BU=\n      - ZO\n      - MEU\n',
    env: { MEU: 'Shadoks' },
    expect: (p) => assert.deepEqual(p.services.foo.environment, { FOO: '1', BAR: '2', BU: '', ZO: null, MEU: 'Shadoks' }),
  },
  {
    source: 'environment_test.go TestEnvironmentBoolean',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    environment:\n      FOO: true\n      BAR: false\n',
    expect: (p) => assert.deepEqual(p.services.foo.environment, { FOO: 'true', BAR: 'false' }),
  },
  {
    source: 'environment_test.go TestEnvironmentInvalidValue',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    environment:\n      FOO: ["1"]\n',
    error: /services\.foo\.environment\.FOO must be a boolean, null, number or string/,
  },
  {
    source: 'environment_test.go TestEnvironmentInvalidObject',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    environment: "FOO=1"\n',
    error: /services\.foo\.environment must be a mapping/,
  },
  {
    source: 'environment_test.go TestEnvironmentWhitespace',
    yaml: 'name: test\nservices:\n  test:\n    image: x\n    environment:\n      - DEBUG = true\n',
    error: /environment variable DEBUG {2}is declared with a trailing space/,
  },
  {
    source: 'env_file_test.go TestEnvFileString / TestEnvFileList / TestEnvFileLongSyntax (files absent, not required)',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    env_file:\n      - path: .env\n        required: false\n      - path: .env.local\n        required: false\n        format: raw\n',
    expect: (p) => assert.deepEqual(p.services.foo.environment, {}),
  },
  {
    source: 'depends_on_test.go TestDependsOnList',
    yaml: 'name: test\nservices:\n  web:\n    image: alpine\n    depends_on:\n      - db\n      - redis\n  db:\n    image: postgres\n  redis:\n    image: redis\n',
    expect: (p) => assert.deepEqual(p.services.web.depends_on, { db: { condition: 'service_started', required: true }, redis: { condition: 'service_started', required: true } }),
  },
  {
    source: 'depends_on_test.go TestDependsOnObject',
    yaml: 'name: test\nservices:\n  web:\n    image: alpine\n    depends_on:\n      db:\n        condition: service_healthy\n        restart: true\n      redis:\n        condition: service_started\n  db:\n    image: postgres\n  redis:\n    image: redis\n',
    expect: (p) => {
      assert.deepEqual(p.services.web.depends_on.db, { condition: 'service_healthy', restart: true, required: true });
      assert.equal(p.services.web.depends_on.redis.condition, 'service_started');
    },
  },
  {
    source: 'depends_on_test.go TestDependsOnXService',
    yaml: 'name: test\nservices:\n  test:\n    image: test\n    depends_on:\n      - x-foo\n  x-foo:\n    image: foo\n',
    expect: (p) => assert.deepEqual(p.services.test.depends_on, { 'x-foo': { condition: 'service_started', required: true } }),
  },
  {
    source: 'networks_test.go TestServiceNetworks',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    networks:\n      some-network:\n        aliases:\n          - alias1\n          - alias3\n      other-network:\n        ipv4_address: 172.16.238.10\n        ipv6_address: "2001:3984:3989::10"\n        mac_address: "02:42:72:98:65:08"\n      other-other-network:\nnetworks:\n  some-network:\n  other-network:\n  other-other-network:\n',
    expect: (p) => {
      const n = p.services.foo.networks;
      assert.deepEqual(n['some-network']?.aliases, ['alias1', 'alias3']);
      assert.deepEqual(n['other-network'], { ipv4_address: '172.16.238.10', ipv6_address: '2001:3984:3989::10', mac_address: '02:42:72:98:65:08' });
      assert.equal(n['other-other-network'], null);
    },
  },
  {
    source: 'networks_test.go TestTopLevelNetworks',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\nnetworks:\n  some-network:\n  other-network:\n    driver: overlay\n    driver_opts:\n      foo: "bar"\n      baz: 1\n    ipam:\n      driver: overlay\n      config:\n        - subnet: 172.28.0.0/16\n          ip_range: 172.28.5.0/24\n          gateway: 172.28.5.254\n          aux_addresses:\n            host1: 172.28.1.5\n            host2: 172.28.1.6\n            host3: 172.28.1.7\n        - subnet: "2001:3984:3989::/64"\n          gateway: "2001:3984:3989::1"\n    labels:\n      foo: bar\n  external-network:\n    external: true\n  other-external-network:\n    external:\n      name: my-cool-network\n    x-bar: baz\n    x-foo: bar\n',
    expect: (p) => {
      assert.equal(p.networks['some-network'].driver, undefined);
      const o = p.networks['other-network'];
      assert.equal(o.driver, 'overlay');
      assert.deepEqual(o.driver_opts, { foo: 'bar', baz: '1' });
      assert.equal(o.ipam?.driver, 'overlay');
      assert.equal(o.ipam?.config?.length, 2);
      assert.deepEqual(o.ipam?.config?.[0], { subnet: '172.28.0.0/16', ip_range: '172.28.5.0/24', gateway: '172.28.5.254', aux_addresses: { host1: '172.28.1.5', host2: '172.28.1.6', host3: '172.28.1.7' } });
      assert.equal(o.ipam?.config?.[1].subnet, '2001:3984:3989::/64');
      assert.deepEqual(o.labels, { foo: 'bar' });
      assert.equal(p.networks['external-network'].external, true);
      assert.equal(p.networks['other-external-network'].external, true);
      assert.equal(p.networks['other-external-network'].name, 'my-cool-network');
    },
  },
  {
    source: 'healthcheck_test.go TestHealthcheck',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    healthcheck:\n      test: echo "hello world"\n      interval: 10s\n      timeout: 1s\n      retries: 5\n      start_period: 15s\n      start_interval: 5s\n',
    expect: (p) => assert.deepEqual(p.services.foo.healthcheck, { test: ['CMD-SHELL', 'echo "hello world"'], interval: '10s', timeout: '1s', retries: 5, start_period: '15s', start_interval: '5s' }),
  },
  {
    source: 'command_test.go TestCommandString',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    command: bundle exec thin -p 3000\n',
    expect: (p) => assert.deepEqual(p.services.foo.command, ['bundle', 'exec', 'thin', '-p', '3000']),
  },
  {
    source: 'command_test.go TestCommandList',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    command: ["bundle", "exec", "thin", "-p", "3000"]\n',
    expect: (p) => assert.deepEqual(p.services.foo.command, ['bundle', 'exec', 'thin', '-p', '3000']),
  },
  {
    source: 'entrypoint_test.go TestEntrypointList / TestEntrypointString',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    entrypoint: ["/code/entrypoint.sh", "-p", "3000"]\n  bar:\n    image: alpine\n    entrypoint: /code/entrypoint.sh -p 3000\n',
    expect: (p) => {
      assert.deepEqual(p.services.foo.entrypoint, ['/code/entrypoint.sh', '-p', '3000']);
      assert.deepEqual(p.services.bar.entrypoint, ['/code/entrypoint.sh', '-p', '3000']);
    },
  },
  {
    source: 'extra_hosts_test.go TestExtraHostsMap',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    extra_hosts:\n      alpha: "50.31.209.229"\n      zulu: "162.242.195.82"\n',
    expect: (p) => assert.deepEqual(p.services.foo.extra_hosts, ['alpha=50.31.209.229', 'zulu=162.242.195.82']),
  },
  {
    source: 'extra_hosts_test.go TestExtraHostsList',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    extra_hosts:\n      - "alpha:50.31.209.229"\n      - "zulu:127.0.0.2"\n      - "zulu:ff02::1"\n',
    expect: (p) => assert.deepEqual(p.services.foo.extra_hosts, ['alpha=50.31.209.229', 'zulu=127.0.0.2', 'zulu=ff02::1']),
  },
  {
    source: 'extra_hosts_test.go TestExtraHostsRepeated',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    extra_hosts:\n      - "myhost=0.0.0.1,0.0.0.2"\n',
    expect: (p) => assert.deepEqual(p.services.foo.extra_hosts, ['myhost=0.0.0.1', 'myhost=0.0.0.2']),
  },
  {
    source: 'extra_hosts_test.go TestExtraHostsLongSyntax',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    extra_hosts:\n      myhost:\n        - "0.0.0.1"\n        - "0.0.0.2"\n',
    expect: (p) => assert.deepEqual(p.services.foo.extra_hosts, ['myhost=0.0.0.1', 'myhost=0.0.0.2']),
  },
  {
    source: 'ulimits_test.go TestUlimits',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    ulimits:\n      nproc: 65535\n      nofile:\n        soft: 20000\n        hard: 40000\n',
    expect: (p) => assert.deepEqual(p.services.foo.ulimits, { nproc: { soft: 65535, hard: 65535 }, nofile: { soft: 20000, hard: 40000 } }),
  },
  {
    source: 'tmpfs_test.go TestTmpfs',
    yaml: 'name: test\nservices:\n  list:\n    image: alpine\n    tmpfs:\n      - /run\n      - /tmp\n  string:\n    image: alpine\n    tmpfs: /run\n',
    expect: (p) => { assert.deepEqual(p.services.list.tmpfs, ['/run', '/tmp']); assert.deepEqual(p.services.string.tmpfs, ['/run']); },
  },
  {
    source: 'dns_test.go TestDNS / TestDNSSearch',
    yaml: 'name: test\nservices:\n  list:\n    image: alpine\n    dns:\n      - 8.8.8.8\n      - 9.9.9.9\n    dns_search:\n      - dc1.example.com\n      - dc2.example.com\n  string:\n    image: alpine\n    dns: 8.8.8.8\n    dns_search: example.com\n',
    expect: (p) => {
      assert.deepEqual(p.services.list.dns, ['8.8.8.8', '9.9.9.9']);
      assert.deepEqual(p.services.string.dns, ['8.8.8.8']);
      assert.deepEqual(p.services.list.dns_search, ['dc1.example.com', 'dc2.example.com']);
      assert.deepEqual(p.services.string.dns_search, ['example.com']);
    },
  },
  {
    source: 'dns_test.go TestDNSOmitEmpty',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    dns: ${UNSET_VAR}\n',
    expect: (p) => assert.equal(p.services.foo.dns?.length ?? 0, 0),
  },
  {
    source: 'expose_test.go TestExpose',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    expose:\n      - "3000"\n      - 8000\n',
    expect: (p) => assert.deepEqual(p.services.foo.expose, ['3000', '8000']),
  },
  {
    source: 'secrets_test.go TestServiceSecrets',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    secrets:\n      - source: secret1\n        target: /run/secrets/secret1\n      - source: secret2\n        target: my_secret\n        uid: \'103\'\n        gid: \'103\'\n        mode: 0440\nsecrets:\n  secret1:\n    file: ./secret_data\n  secret2:\n    external: true\n',
    expect: (p) => assert.deepEqual(p.services.foo.secrets, [
      { source: 'secret1', target: '/run/secrets/secret1' },
      { source: 'secret2', target: 'my_secret', uid: '103', gid: '103', mode: 0o440 },
    ]),
  },
  {
    source: 'secrets_test.go TestTopLevelSecrets',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\nsecrets:\n  secret1:\n    file: ./secret_data\n    labels:\n      foo: bar\n  secret2:\n    external:\n      name: my_secret\n  secret3:\n    external: true\n  secret4:\n    name: bar\n    environment: BAR\n    x-bar: baz\n    x-foo: bar\n  secret5:\n    file: /abs/secret_data\n',
    env: { BAR: 'this is a secret' },
    expect: (p, dir) => {
      assert.deepEqual(p.secrets.secret1.labels, { foo: 'bar' });
      assert.equal(p.secrets.secret1.file, join(dir, 'secret_data'));
      assert.deepEqual([p.secrets.secret2.name, p.secrets.secret2.external], ['my_secret', true]);
      assert.equal(p.secrets.secret3.external, true);
      assert.deepEqual([p.secrets.secret4.name, p.secrets.secret4.environment, p.secrets.secret4.content], ['bar', 'BAR', 'this is a secret']);
      assert.equal((p.secrets.secret4 as unknown as Record<string, unknown>)['x-foo'], 'bar');
      assert.equal(p.secrets.secret5.file, '/abs/secret_data');
    },
  },
  {
    source: 'secrets_test.go TestSecretEnvironmentResolution',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\nconfigs:\n  config:\n    environment: GA\nsecrets:\n  secret:\n    environment: MEU\n',
    env: { GA: 'BU', MEU: 'Shadoks' },
    expect: (p) => {
      assert.deepEqual([p.configs.config.environment, p.configs.config.content], ['GA', 'BU']);
      assert.deepEqual([p.secrets.secret.environment, p.secrets.secret.content], ['MEU', 'Shadoks']);
    },
  },
  {
    source: 'secrets_test.go TestSecretFileModeNumber / TestSecretFileModeString (+ secrets)',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    secrets:\n      - source: server-certificate\n        target: server.cert\n        mode: 0o440\n      - source: other\n        target: other.cert\n        mode: "0440"\nsecrets:\n  server-certificate: {file: ./c}\n  other: {file: ./o}\n',
    expect: (p) => assert.deepEqual(p.services.foo.secrets?.map((s) => s.mode), [0o440, 0o440]),
  },
  {
    source: 'configs_test.go TestServiceConfigs',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    configs:\n      - config1\n      - source: config2\n        target: /my_config\n        uid: \'103\'\n        gid: \'103\'\n        mode: 0440\nconfigs:\n  config1:\n    file: ./config_data\n  config2:\n    external: true\n',
    expect: (p) => assert.deepEqual(p.services.foo.configs, [{ source: 'config1' }, { source: 'config2', target: '/my_config', uid: '103', gid: '103', mode: 0o440 }]),
  },
  {
    source: 'configs_test.go TestTopLevelConfigs',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\nconfigs:\n  config1:\n    file: ./config_data\n    labels:\n      foo: bar\n  config2:\n    external:\n      name: my_config\n  config3:\n    external: true\n  config4:\n    name: foo\n    file: ./config_data\n    x-bar: baz\n    x-foo: bar\n',
    expect: (p) => {
      assert.deepEqual([p.configs.config2.name, p.configs.config2.external], ['my_config', true]);
      assert.equal(p.configs.config3.external, true);
      assert.equal(p.configs.config4.name, 'foo');
      assert.deepEqual(p.configs.config1.labels, { foo: 'bar' });
      assert.equal(p.configs.config1.name, 'test_config1');
    },
  },
  {
    source: 'scale_test.go TestScale',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    scale: 3\n',
    expect: (p) => assert.equal(p.services.foo.scale, 3),
  },
  {
    source: 'labels_test.go TestServiceLabels / TestServiceLabelsListSyntax',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    labels:\n      com.example.description: "Accounting webapp"\n      com.example.number: 42\n      com.example.empty-label:\n  bar:\n    image: alpine\n    labels:\n      - "com.example.description=Accounting webapp"\n      - "com.example.number=42"\n      - "com.example.empty-label"\n',
    expect: (p) => {
      const want = { 'com.example.description': 'Accounting webapp', 'com.example.number': '42', 'com.example.empty-label': '' };
      assert.deepEqual(p.services.foo.labels, want);
      assert.deepEqual(p.services.bar.labels, want);
    },
  },
  {
    source: 'logging_test.go TestLogging',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    logging:\n      driver: syslog\n      options:\n        syslog-address: "tcp://192.168.0.42:123"\n',
    expect: (p) => assert.deepEqual(p.services.foo.logging, { driver: 'syslog', options: { 'syslog-address': 'tcp://192.168.0.42:123' } }),
  },
  {
    source: 'links_test.go TestLinks',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    links:\n      - db\n      - db:database\n      - redis\n  db:\n    image: postgres\n  redis:\n    image: redis\n',
    expect: (p) => assert.deepEqual(p.services.foo.links, ['db', 'db:database', 'redis']),
  },
  {
    source: 'volumes_from_test.go TestVolumesFrom',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    volumes_from:\n      - bar\n      - bar:ro\n  bar:\n    image: alpine\n',
    expect: (p) => assert.deepEqual(p.services.foo.volumes_from, ['bar', 'bar:ro']),
  },
  {
    source: 'profiles_test.go TestProfiles (no profile)',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    profiles:\n      - debug\n      - dev\n  bar:\n    image: alpine\n',
    expect: (p) => { assert.equal(p.services.foo, undefined); assert.equal(p.services.bar.image, 'alpine'); },
  },
  {
    source: 'profiles_test.go TestProfiles (profile debug)',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    profiles:\n      - debug\n      - dev\n  bar:\n    image: alpine\n',
    profiles: ['debug'],
    expect: (p) => { assert.equal(p.services.foo.image, 'alpine'); assert.deepEqual(p.services.foo.profiles, ['debug', 'dev']); },
  },
  {
    source: 'pull_policy_test.go TestPullPolicy / TestPullRefreshAfter',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    pull_policy: always\n  test:\n    image: alpine\n    pull_policy: every_2d\n',
    expect: (p) => { assert.equal(p.services.foo.pull_policy, 'always'); assert.equal(p.services.test.pull_policy, 'every_2d'); },
  },
  {
    source: 'stop_test.go TestStopGracePeriod / TestStopSignal',
    yaml: 'name: test\nservices:\n  foo:\n    image: alpine\n    stop_grace_period: 20s\n    stop_signal: SIGUSR1\n',
    expect: (p) => { assert.equal(p.services.foo.stop_grace_period, '20s'); assert.equal(p.services.foo.stop_signal, 'SIGUSR1'); },
  },
  {
    source: 'sysctls_test.go TestSysctls',
    yaml: 'name: test\nservices:\n  list:\n    image: busybox\n    sysctls:\n      - net.core.somaxconn=1024\n      - net.ipv4.tcp_syncookies=0\n      - testing.one.one=\n      - testing.one.two\n  map:\n    image: busybox\n    sysctls:\n      net.core.somaxconn: 1024\n      net.ipv4.tcp_syncookies: 0\n      testing.one.one: ""\n      testing.one.two:\n',
    expect: (p) => {
      const want = { 'net.core.somaxconn': '1024', 'net.ipv4.tcp_syncookies': '0', 'testing.one.one': '', 'testing.one.two': '' };
      assert.deepEqual(p.services.list.sysctls, want);
      assert.deepEqual(p.services.map.sysctls, want);
    },
  },
];

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

describe('compose-go per-attribute loader cases', () => {
  for (const c of CASES) {
    test(c.source, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'berth-cattr-'));
      roots.push(dir);
      writeFileSync(join(dir, 'compose.yml'), c.yaml);
      const opts = { files: [], profiles: c.profiles ?? [], envFiles: [], env: c.env ?? {}, cwd: dir, warn: () => {} };
      if (c.error) {
        await assert.rejects(loadProject(opts), (err: Error) => err instanceof ComposeError && (c.error as RegExp).test(err.message));
      } else {
        c.expect?.(await loadProject(opts), dir);
      }
    });
  }
});
