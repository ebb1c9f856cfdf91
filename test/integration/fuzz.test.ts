// A short fuzz of every route of the Engine API reference spec against a real
// daemon: answers in time, no 5xx for a client's mistake, the daemon lives,
// and what it lists is unchanged (test/helpers/fuzz.ts says how, and why the
// state property holds). bench/fuzz.ts is the long run.
// Replay a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> FUZZ_ROUTE='<METHOD /path>'
// (FUZZ_RUNS sets the cases per route).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { cliState, fuzzParams, fuzzRoute, loadRoutes, makeFixtures, type Fixtures } from '../helpers/fuzz.ts';

// 45 cases per route (about 5000 in all) keeps the file near a minute on an idle machine.
const params = fuzzParams(45);
const { routes, definitions } = loadRoutes();
const chosen = routes.filter((r) => !params.route || r.key === params.route || r.key.includes(params.route));

describe(`Engine API fuzz (seed ${params.seed}, ${params.runs} cases per route)`, () => {
  let d: TestDaemon;
  let fx: Fixtures;
  let listed: string;
  let pid: number | undefined;
  before(async () => {
    d = await startSeededDaemon([], { ownNetns: true });
    fx = await makeFixtures(d);
    listed = cliState(d);
    pid = d.pid;
  });
  after(async () => { await d?.destroy(); });

  test('the spec has the routes berth serves', () => {
    assert.ok(chosen.length > (params.route ? 0 : 100), `only ${chosen.length} routes in the spec`);
  });

  for (const route of chosen) {
    test(route.key, async () => {
      // The other helper's stream-abort bug (FileHandle closed during GC) keeps clients that
      // go away off export/archive/logs/get here; bench/fuzz.ts runs them.
      const res = await fuzzRoute(d, route, definitions, fx, { ...params, streamAborts: false });
      assert.ok(!res.failed, `seed ${params.seed}: ${res.report}`);
      assert.ok(res.cases >= params.runs);
    });
  }

  test('the daemon is the one that started, and ps -a, images, network ls and volume ls list what they did before', () => {
    assert.equal(d.pid, pid);
    assert.equal(readFileSync(d.pidFile, 'utf8').trim(), String(pid));
    assert.equal(cliState(d), listed);
  });
});
