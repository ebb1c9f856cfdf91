// `berth compose config` as a user runs it: the built CLI on compose files in
// a temp directory — the normalised output, its lists, and for each kind of
// bad input one error naming the file and key, exit status 1, nothing on
// stdout and no daemon contacted.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH } from '../helpers/daemon.ts';

let root: string;
let daemonDir: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-cconfig-'));
  daemonDir = mkdtempSync(join(tmpdir(), 'berth-cconfig-d-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(daemonDir, { recursive: true, force: true });
});

interface Result { code: number; stdout: string; stderr: string }

/** Runs dist/berth in `cwd` with a private default daemon location, so an attempt to reach one would show. */
function berth(cwd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Result {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/home/tester',
    BERTH_DEFAULT_SOCKET: join(daemonDir, 'berth.sock'), BERTH_DAEMON_LOG: join(daemonDir, 'berth.log'),
    ...opts.env,
  };
  const r = spawnSync(BERTH, args, { cwd, env, input: opts.input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let n = 0;
function projectDir(files: Record<string, string>, name?: string): string {
  const dir = join(root, name ?? `p${++n}`);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

const APP = `
x-base: &base
  restart: unless-stopped
services:
  web:
    <<: *base
    image: "busybox:\${TAG:-latest}"
    command: httpd -f -p 80
    environment:
      - GREETING=hello
      - PRICE=$$5
    ports: ["8080:80"]
    volumes: ["./site:/var/www:ro", "data:/data"]
    depends_on: [db]
    healthcheck:
      test: wget -q -O- localhost
      interval: 90s
  db:
    image: postgres
    networks: [back]
  debug:
    image: busybox
    profiles: [debug]
volumes:
  data: {}
networks:
  back: {}
`;

const EXPECTED_YAML = (dir: string) => `name: shop
services:
  db:
    image: postgres
    networks:
      back: null
  web:
    command:
      - httpd
      - -f
      - -p
      - "80"
    depends_on:
      db:
        condition: service_started
        required: true
    environment:
      GREETING: hello
      PRICE: $$5
    healthcheck:
      test:
        - CMD-SHELL
        - wget -q -O- localhost
      interval: 1m30s
    image: busybox:1.36
    networks:
      default: null
    ports:
      - mode: ingress
        target: 80
        published: "8080"
        protocol: tcp
    restart: unless-stopped
    volumes:
      - type: bind
        source: ${dir}/site
        target: /var/www
        read_only: true
        bind:
          create_host_path: true
      - type: volume
        source: data
        target: /data
        volume: {}
networks:
  back:
    name: shop_back
  default:
    name: shop_default
volumes:
  data:
    name: shop_data
x-base:
  restart: unless-stopped
`;

describe('compose config on a valid project', () => {
  let dir: string;
  before(() => {
    dir = projectDir({ 'compose.yaml': APP, '.env': 'TAG=1.36\n', 'sub/deeper/.keep': '' }, 'Shop');
  });

  test('prints the normalised project as YAML, found from a subdirectory', () => {
    const r = berth(join(dir, 'sub/deeper'), ['compose', 'config']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, EXPECTED_YAML(dir));
  });

  test('--format json prints the same document', () => {
    const r = berth(dir, ['compose', 'config', '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { name: string; services: Record<string, { image?: string; ports?: unknown[] }> };
    assert.equal(doc.name, 'shop');
    assert.deepEqual(Object.keys(doc.services), ['db', 'web']);
    assert.deepEqual(doc.services.web.ports, [{ mode: 'ingress', target: 80, published: '8080', protocol: 'tcp' }]);
    // compose-go marshals a map at the top: keys sorted, and no newline after the document.
    assert.deepEqual(Object.keys(JSON.parse(r.stdout) as object), ['name', 'networks', 'services', 'volumes', 'x-base']);
    assert.match(r.stdout, /^\{\n {2}"name": "shop",\n[\s\S]*\n\}$/);
  });

  test('--services (dependencies first), --volumes, --networks, --profiles, --images, -q', () => {
    assert.deepEqual(berth(dir, ['compose', 'config', '--services']), { code: 0, stdout: 'db\nweb\n', stderr: '' });
    assert.equal(berth(dir, ['compose', '--profile', 'debug', 'config', '--services']).stdout, 'db\ndebug\nweb\n');
    assert.equal(berth(dir, ['compose', 'config', '--volumes']).stdout, 'data\n');
    assert.equal(berth(dir, ['compose', 'config', '--networks']).stdout, 'back\ndefault\n');
    assert.equal(berth(dir, ['compose', 'config', '--profiles']).stdout, 'debug\n');
    assert.equal(berth(dir, ['compose', 'config', '--images']).stdout, 'postgres\nbusybox:1.36\n');
    assert.deepEqual(berth(dir, ['compose', 'config', '-q']), { code: 0, stdout: '', stderr: '' });
  });

  test('project flags before or after the subcommand; a service argument narrows the output', () => {
    assert.match(berth(dir, ['compose', '-p', 'other', 'config']).stdout, /^name: other\n/);
    assert.match(berth(dir, ['compose', 'config', '-p', 'other2']).stdout, /^name: other2\n/);
    const r = berth(dir, ['compose', 'config', 'db']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^ {2}web:/m);
    assert.match(r.stdout, /^ {2}db:/m);
  });

  test('--no-interpolate keeps variables as written; -f - reads stdin; an unset variable warns', () => {
    const raw = berth(dir, ['compose', 'config', '--no-interpolate']);
    assert.equal(raw.code, 0, raw.stderr);
    assert.match(raw.stdout, /image: busybox:\$\{TAG:-latest\}/);
    const stdin = berth(root, ['compose', '-p', 'piped', '-f', '-', 'config'], { input: 'services:\n  a:\n    image: "x:${UNSET_TAG}"\n' });
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.match(stdin.stdout, /^name: piped\nservices:\n {2}a:\n {4}image: "x:"\n/);
    // Not a terminal: logrus' text format, as docker compose prints it in a pipe.
    assert.match(stdin.stderr, /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)" level=warning msg="The \\"UNSET_TAG\\" variable is not set\. Defaulting to a blank string\."\n$/);
  });

  test('several -f files merged by the spec\'s rules', () => {
    const d = projectDir({
      'a.yaml': 'name: merged\nservices:\n  s:\n    image: a\n    command: [echo, a]\n    environment: {A: "1"}\n    ports: ["1000:1000"]\n',
      'b.yaml': 'services:\n  s:\n    command: [echo, b]\n    environment: {B: "2"}\n    ports: ["2000:2000"]\n',
    });
    const r = berth(d, ['compose', '-f', 'a.yaml', '-f', 'b.yaml', 'config', '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const s = (JSON.parse(r.stdout) as { services: { s: { command: string[]; environment: object; ports: Array<{ target: number }> } } }).services.s;
    assert.deepEqual(s.command, ['echo', 'b']);
    assert.deepEqual(s.environment, { A: '1', B: '2' });
    assert.deepEqual(s.ports.map((p) => p.target), [1000, 2000]);
  });

  test('--variables, as docker compose e2e (pkg/e2e/config_test.go) expects it', () => {
    const d = projectDir({ 'compose.yaml': 'services:\n  test:\n    image: x\n    ports:\n      - ${PORT:-8080}:80\n' });
    const json = berth(d, ['compose', 'config', '--variables', '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stdout, '{\n    "PORT": {\n        "Name": "PORT",\n        "DefaultValue": "8080",\n        "PresenceValue": "",\n        "Required": false\n    }\n}\n\n');
    const yaml = berth(d, ['compose', 'config', '--variables', '--format', 'yaml']);
    assert.equal(yaml.stdout, 'PORT:\n    name: PORT\n    defaultvalue: "8080"\n    presencevalue: ""\n    required: false\n');
    const table = berth(d, ['compose', 'config', '--variables']);
    assert.equal(table.stdout, `NAME${' '.repeat(16)}REQUIRED${' '.repeat(12)}DEFAULT VALUE${' '.repeat(7)}ALTERNATE VALUE\nPORT${' '.repeat(16)}false${' '.repeat(15)}8080${' '.repeat(16)}\n`);
    const raw = berth(d, ['compose', 'config', '--no-interpolate', 'test']);
    assert.match(raw.stdout, /- \$\{PORT:-8080\}:80/);
    assert.match(raw.stderr, /service filtering is not applied when --no-interpolate is set/);
  });

  test('--no-consistency lists what a model that fails its checks declares', () => {
    const d = projectDir({ 'compose.yaml': 'services:\n  incomplete:\n    depends_on: [nowhere]\nvolumes:\n  data: {}\n' });
    assert.equal(berth(d, ['compose', 'config', '--services']).code, 1);
    assert.deepEqual(berth(d, ['compose', 'config', '--no-consistency', '--services']), { code: 0, stdout: 'incomplete\n', stderr: '' });
    assert.equal(berth(d, ['compose', 'config', '--no-consistency', '--volumes']).stdout, 'data\n');
  });

  test('.env gives COMPOSE_FILE, COMPOSE_PROFILES and variables; --env-file and --project-directory replace them', () => {
    const d = projectDir({
      '.env': 'COMPOSE_FILE=base.yaml:extra.yaml\nCOMPOSE_PROFILES=tools\nTAG=dotenv\n',
      'alt.env': 'TAG=alt\n',
      'base.yaml': 'name: envs\nservices:\n  app:\n    image: "app:${TAG}"\n',
      'extra.yaml': 'services:\n  tool:\n    image: tool\n    profiles: [tools]\n',
      'elsewhere/.keep': '',
    });
    assert.equal(berth(d, ['compose', 'config', '--services']).stdout, 'app\ntool\n');
    assert.equal(berth(d, ['compose', 'config', '--images']).stdout, 'app:dotenv\ntool\n');
    assert.match(berth(d, ['compose', '--env-file', 'alt.env', '-f', 'base.yaml', 'config']).stdout, /image: app:alt/);
    const fromElsewhere = berth(join(d, 'elsewhere'), ['compose', '--project-directory', '..', 'config', '--services']);
    assert.deepEqual([fromElsewhere.code, fromElsewhere.stdout], [0, 'app\ntool\n']);
    const missing = berth(d, ['compose', '--env-file', 'nope.env', 'config']);
    assert.deepEqual([missing.code, missing.stderr], [1, `couldn't find env file: ${join(d, 'nope.env')}\n`]);
  });

  test('--no-path-resolution prints host paths as written', () => {
    const r = berth(dir, ['compose', 'config', '--no-path-resolution']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n {8}source: \.\/site\n/);
  });

  test('unsupported options are refused clearly', () => {
    const r = berth(dir, ['compose', 'config', '--resolve-image-digests']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--resolve-image-digests .* not supported/);
    const f = berth(dir, ['compose', 'config', '--format', 'toml']);
    assert.deepEqual([f.code, f.stderr], [1, 'unsupported format "toml"\n']);
  });
});

describe('compose config on bad input: one error naming the file and key, nothing started', () => {
  const cases: Array<[string, string, (file: string) => string]> = [
    ['an unknown key', 'services:\n  web:\n    image: x\n    bogus: 1\n', (f) => `validating ${f}: services.web additional properties 'bogus' not allowed`],
    ['a wrong type', 'services:\n  web:\n    image: x\n    privileged: [yes]\n', (f) => `validating ${f}: services.web.privileged must be a boolean or string`],
    ['a cycle in depends_on', 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n', (f) => `${f}: dependency cycle detected: a -> b -> c -> a`],
    ['depends_on an undefined service', 'services:\n  a:\n    image: x\n    depends_on: [nope]\n', (f) => `${f}: service "a" depends on undefined service "nope": invalid compose project`],
    ['an undefined network', 'services:\n  a:\n    image: x\n    networks: [front]\n', (f) => `${f}: service "a" refers to undefined network front: invalid compose project`],
    ['an undefined volume', 'services:\n  a:\n    image: x\n    volumes: ["store:/s"]\n', (f) => `${f}: service "a" refers to undefined volume store: invalid compose project`],
    ['an undefined secret', 'services:\n  a:\n    image: x\n    secrets: [pw]\n', (f) => `${f}: service "a" refers to undefined secret pw: invalid compose project`],
    ['an undefined config', 'services:\n  a:\n    image: x\n    configs: [cf]\n', (f) => `${f}: service "a" refers to undefined config cf: invalid compose project`],
    ['a bad interpolation', 'services:\n  a:\n    image: "${VAR:?must be set}"\n', (f) => `${f}: error while interpolating services.a.image: required variable VAR is missing a value: must be set`],
    ['a port out of range', 'services:\n  a:\n    image: x\n    ports: ["8080:99999"]\n', (f) => `${f}: services.a.ports: invalid containerPort: 99999`],
    ['a YAML syntax error', 'services:\n  a:\n    image: x\n   bad: indent\n', (f) => `failed to parse ${f}: yaml: line 4: All mapping items must start at the same column`],
  ];
  for (const [what, text, message] of cases) {
    test(what, () => {
      const dir = projectDir({ 'compose.yaml': text });
      const r = berth(dir, ['compose', 'config']);
      assert.equal(r.stderr, message(join(dir, 'compose.yaml')) + '\n');
      assert.equal(r.stdout, '');
      assert.equal(r.code, 1);
      // Loading happens before any API call: no daemon was reached or started.
      assert.equal(existsSync(join(daemonDir, 'berth.log')), false);
      assert.equal(existsSync(join(daemonDir, 'berth.sock')), false);
    });
  }
  test('no compose file from here upward', () => {
    const dir = projectDir({ '.keep': '' });
    assert.deepEqual(berth(dir, ['compose', 'config']), { code: 1, stdout: '', stderr: 'no configuration file provided: not found\n' });
  });
  test('an invalid project name', () => {
    const dir = projectDir({ 'compose.yaml': 'services:\n  a:\n    image: x\n' });
    const r = berth(dir, ['compose', '-p', 'Has Space', 'config']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'invalid project name "Has Space": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number\n');
  });
});

describe('compose config --no-env-resolution', () => {
  test('env_file entries are listed in their long form, not read; a bare key is not looked up', () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  a:\n    image: busybox\n    env_file: [a.env, {path: opt.env, required: false}]\n    environment:\n      X: "1"\n      FROM_SHELL:\n',
      'a.env': 'FROM_FILE=yes\n',
    });
    const resolved = berth(dir, ['compose', 'config'], { env: { FROM_SHELL: 'sh' } });
    assert.equal(resolved.code, 0, resolved.stderr);
    assert.match(resolved.stdout, /^ {6}FROM_FILE: "yes"\n {6}FROM_SHELL: sh\n {6}X: "1"\n/m);
    assert.doesNotMatch(resolved.stdout, /env_file/);
    const r = berth(dir, ['compose', 'config', '--no-env-resolution'], { env: { FROM_SHELL: 'sh' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp([
      '    environment:', '      FROM_SHELL: null', '      X: "1"', '    env_file:',
      `      - path: ${join(dir, 'a.env')}`, '        required: true', `      - path: ${join(dir, 'opt.env')}`, '        required: false', '    image: busybox', '',
    ].join('\n').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const json = JSON.parse(berth(dir, ['compose', 'config', '--no-env-resolution', '--format', 'json']).stdout) as { services: { a: { env_file: unknown } } };
    assert.deepEqual(json.services.a.env_file, [{ path: join(dir, 'a.env'), required: true }, { path: join(dir, 'opt.env'), required: false }]);
  });
});

describe('compose config --no-normalize', () => {
  test('no implicit default network, Dockerfile, dependencies from links, or names from keys; what the file says stays', () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  a:\n    image: busybox\n    links: [b]\n    volumes: [data:/d]\n  b:\n    build: ./ctx\nvolumes:\n  data: {}\n  named: {name: explicit}\n',
    });
    mkdirSync(join(dir, 'ctx'));
    const normal = berth(dir, ['compose', '-p', 'nn', 'config']);
    assert.equal(normal.code, 0, normal.stderr);
    for (const s of ['depends_on:', 'networks:\n      default: null', 'dockerfile: Dockerfile', 'name: nn_default', 'name: nn_data']) assert.ok(normal.stdout.includes(s), `${s} in:\n${normal.stdout}`);
    const r = berth(dir, ['compose', '-p', 'nn', 'config', '--no-normalize']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      'name: nn', 'services:', '  a:', '    image: busybox', '    links:', '      - b', '    volumes:', '      - type: volume', '        source: data', '        target: /d',
      '        volume: {}', '  b:', '    build:', `      context: ${join(dir, 'ctx')}`, 'volumes:', '  data: {}', '  named:', '    name: explicit', '',
    ].join('\n'));
  });
});
