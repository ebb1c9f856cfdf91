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
        'x-ext': 1,
      },
      alpha: {
        name: 'alpha', image: 'a', environment: {}, ports: [{ protocol: 'udp', target: 53, mode: 'ingress', published: '53' }],
        volumes: [{ type: 'volume', target: '/v', volume: {} }], networks: {}, network_mode: 'host', depends_on: {}, labels: {},
      },
    },
    networks: { default: { name: 'p_default' } }, volumes: {}, secrets: {}, configs: {},
  };
  assert.equal(renderYaml(projectDocument(p)), `name: p
services:
  alpha:
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
    networks:
      default: null
    read_only: true
    x-ext: 1
networks:
  default:
    name: p_default
`);
});
