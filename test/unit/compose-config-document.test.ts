// The shape `compose config` prints: compose-go's field order, empty and
// false fields left out, maps sorted, and the nulls that carry meaning kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectDocument, renderYaml } from '../../src/compose/config-document.ts';
import type { Project } from '../../src/compose/model.ts';

test('field order, omitted empties, kept nulls', () => {
  const p: Project = {
    name: 'p', workingDir: '/w', configFiles: [], disabledServices: {}, environment: {},
    services: {
      zeta: {
        name: 'zeta', image: 'z', environment: { B: '2', A: null }, ports: [], volumes: [], networks: { default: null },
        depends_on: {}, labels: {}, privileged: false, read_only: true,
        healthcheck: { interval: '5s', test: ['CMD', 'true'], timeout: '1s' },
        'x-ext': 1, mem_limit: 536870912, shm_size: 0,
      },
      alpha: {
        name: 'alpha', image: 'a', environment: {}, command: ['redis-server', '--appendonly', 'yes'], ports: [{ protocol: 'udp', target: 53, mode: 'ingress', published: '53' }],
        volumes: [{ type: 'volume', target: '/v', volume: {} }], networks: {}, network_mode: 'host', depends_on: {}, labels: {},
      },
    },
    networks: { default: { name: 'p_default' } }, volumes: {}, secrets: {}, configs: {},
  };
  assert.equal(renderYaml(projectDocument(p)), `name: p
services:
  alpha:
    command:
      - redis-server
      - --appendonly
      - "yes"
    image: a
    network_mode: host
    ports:
      - mode: ingress
        target: 53
        published: "53"
        protocol: udp
    volumes:
      - type: volume
        target: /v
        volume: {}
  zeta:
    environment:
      A: null
      B: "2"
    healthcheck:
      test:
        - CMD
        - "true"
      timeout: 1s
      interval: 5s
    image: z
    mem_limit: "536870912"
    networks:
      default: null
    read_only: true
    x-ext: 1
networks:
  default:
    name: p_default
`);
});

test('warnings in logrus text format: WARN[0000] on a terminal, key=value otherwise', async () => {
  const { warningLine } = await import('../../src/compose/warn.ts');
  assert.equal(warningLine('The "X" variable is not set.', true), 'WARN[0000] The "X" variable is not set.\n');
  const line = warningLine('The "X" variable is not set.', false, new Date(2026, 0, 2, 3, 4, 5));
  assert.match(line, /^time="2026-01-02T03:04:05(Z|[+-]\d\d:\d\d)" level=warning msg="The \\"X\\" variable is not set\."\n$/);
});
