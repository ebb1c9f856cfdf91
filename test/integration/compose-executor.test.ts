// The planner and executor on a project model built here (no compose file):
// real daemon, real containers; what the engine ends up with is checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { EngineClient, parseHost } from '../../src/client/engine-client.ts';
import type { Project, Service } from '../../src/compose/model.ts';
import { observe, planUp } from '../../src/compose/plan.ts';
import { converge, createResources, type ExecContext } from '../../src/compose/execute.ts';
import { down } from '../../src/compose/lifecycle.ts';
import { Progress } from '../../src/compose/progress.ts';

function service(name: string, s: Partial<Service> = {}): Service {
  return { name, image: 'busybox', environment: {}, ports: [], volumes: [], networks: { default: null }, depends_on: {}, labels: {}, command: ['sleep', '600'], ...s };
}

function project(name: string, services: Service[]): Project {
  return {
    name, workingDir: '/tmp', configFiles: ['/tmp/compose.yaml'],
    services: Object.fromEntries(services.map((s) => [s.name, s])), disabledServices: {},
    networks: { default: { name: `${name}_default` } }, volumes: {}, secrets: {}, configs: {}, environment: {},
  };
}

class Lines {
  text = '';
  isTTY = false;
  write(s: string): boolean { this.text += s; return true; }
}

async function up(d: TestDaemon, p: Project, o: Parameters<typeof planUp>[2] = {}): Promise<string> {
  const out = new Lines();
  const ctx: ExecContext = { client: new EngineClient(parseHost(d.host)), project: p, progress: new Progress('plain', out as unknown as NodeJS.WriteStream) };
  const observed = await observe(ctx.client, p.name);
  const plan = planUp(p, observed, o);
  await createResources(ctx, plan);
  await converge(ctx, plan, { start: true }, observed.containers);
  return out.text;
}

describe('compose executor', () => {
  let d: TestDaemon;
  before(async () => { d = await startSeededDaemon(); });
  after(async () => { await d.destroy(); });

  test('up creates the network and containers in dependency order, waits for health, and a second up changes nothing', async () => {
    const p = project('ex', [
      service('db', { healthcheck: { test: ['CMD-SHELL', 'true'], interval: '200ms' } }),
      service('web', { depends_on: { db: { condition: 'service_healthy', required: true } } }),
    ]);
    const out = (await up(d, p)).split('\n').filter(Boolean);
    const at = (line: string) => {
      const i = out.indexOf(line);
      assert.ok(i >= 0, `${line} in\n${out.join('\n')}`);
      return i;
    };
    assert.deepEqual(out.slice(0, 2), [' Network ex_default  Creating', ' Network ex_default  Created']);
    assert.equal(out.length, 12);
    assert.ok(at(' Container ex-db-1  Created') < at(' Container ex-web-1  Creating'), 'web is created after db');
    assert.ok(at(' Container ex-db-1  Started') < at(' Container ex-db-1  Waiting'));
    assert.ok(at(' Container ex-db-1  Healthy') < at(' Container ex-web-1  Starting'), 'web starts once db is healthy');
    assert.ok(at(' Container ex-web-1  Created') < at(' Container ex-web-1  Starting'));
    assert.ok(at(' Container ex-web-1  Started') === out.length - 1);
    const ps = d.berth(['ps', '--format', '{{.Names}} {{.Label "com.docker.compose.service"}} {{.Label "com.docker.compose.container-number"}}']).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(ps, ['ex-db-1 db 1', 'ex-web-1 web 1']);
    const again = await up(d, p);
    assert.equal(again, ' Container ex-db-1  Running\n Container ex-db-1  Waiting\n Container ex-db-1  Healthy\n Container ex-web-1  Running\n');
    const out2 = new Lines();
    await down({ client: new EngineClient(parseHost(d.host)), project: p, progress: new Progress('plain', out2 as unknown as NodeJS.WriteStream) }, { haveModel: true, timeout: 1 });
    assert.match(out2.text, / Container ex-web-1  Removed\n[^]* Network ex_default  Removed\n$/);
    assert.equal(d.berth(['ps', '-aq']).stdout, '');
    assert.doesNotMatch(d.berth(['network', 'ls']).stdout, /ex_default/);
  });
});
